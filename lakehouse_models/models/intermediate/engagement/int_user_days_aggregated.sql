{{
    config(
        materialized='incremental',
        incremental_strategy='insert_overwrite',
        partition_by=['event_date'],
        on_schema_change='fail',
    )
}}

{%- set changed_dates = changed_partitions(ref('fct_views'), 'event_date', 'source_loaded_at', 'source_loaded_at') %}

with

views as (

    select * from {{ ref('fct_views') }}
    {%- if changed_dates %}
    where event_date in {{ changed_dates }}
    {%- endif %}

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
