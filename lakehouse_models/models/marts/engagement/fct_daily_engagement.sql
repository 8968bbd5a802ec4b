-- recomputes the days that received new views, and overwrites their partitions
{{ config(materialized='incremental', incremental_strategy='insert_overwrite', partition_by=['event_date']) }}

with

views as (

    {{ rows_on_changed_dates(ref('fct_views')) }}

),

daily as (

    select
        video_id,
        -- the catalog's genre; for a title not in the catalog yet, players may disagree: one wins
        max(genre) as genre,
        region,
        device_type,
        count(*) as views,
        count(distinct user_id) as unique_viewers,
        sum(watch_time_seconds) as watch_time_seconds,
        sum(watch_time_seconds) / 3600.0 as watch_hours,
        avg(watch_time_seconds) as mean_watch_time_seconds,
        avg(completion_ratio) as completion_rate,
        avg(cast(is_skipped as int)) as skip_rate,
        avg(cast(is_paused as int)) as pause_rate,
        event_date,
        max(source_loaded_at) as source_loaded_at
    from views
    group by event_date, video_id, region, device_type

)

select * from daily
