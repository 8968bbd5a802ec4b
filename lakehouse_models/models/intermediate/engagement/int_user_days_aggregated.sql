-- recomputes the days that received new views, and overwrites their partitions
{{ config(materialized='incremental', incremental_strategy='insert_overwrite', partition_by=['event_date']) }}

with

views as (

    {{ rows_on_changed_dates(ref('fct_views')) }}

),

user_days as (

    select
        user_id,
        max_by(region, event_at) as latest_region,
        max_by(device_type, event_at) as latest_device_type,
        count(*) as views,
        sum(watch_time_seconds) as watch_time_seconds,
        event_date,
        min(event_at) as first_view_at,
        max(event_at) as last_view_at,
        max(source_loaded_at) as source_loaded_at
    from views
    group by event_date, user_id

)

select * from user_days
