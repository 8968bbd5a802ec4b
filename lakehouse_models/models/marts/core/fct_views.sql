{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key=['event_date', 'view_id'],
        merge_skip_matched=true,
        prune_target_on='event_date',
        partition_by=['event_date'],
        on_schema_change='fail',
    )
}}

{%- set loaded_after = incremental_watermark('source_loaded_at') %}

with

events as (

    select * from {{ ref('stg_playback__events') }}
    {%- if loaded_after %}
    where loaded_at > {{ loaded_after }}
    {%- endif %}

),

videos as (

    select * from {{ ref('stg_catalog__videos') }}

),

joined as (

    select
        events.*,
        videos.genre as catalog_genre,
        videos.duration_seconds as video_duration_seconds
    from events
    left join videos on events.video_id = videos.video_id

),

final as (

    select
        event_id as view_id,
        session_id,
        user_id,
        video_id,
        coalesce(catalog_genre, genre) as genre,
        region,
        device_type,
        cdn,
        resolution,
        error_code,
        resolution_height,
        watch_time_seconds,
        video_duration_seconds,
        least(watch_time_seconds / video_duration_seconds, 1.0) as completion_ratio,
        bitrate_kbps,
        buffering_events,
        rebuffer_seconds,
        startup_time_ms,
        is_paused,
        is_skipped,
        is_recommended,
        has_video_started,
        -- CTA-2066: a start attempt that ended before the first frame without an error
        not has_video_started and error_code is null as is_exit_before_video_start,
        error_code is not null as has_playback_failure,
        is_late_arrival,
        event_date,
        date_trunc('hour', event_at) as event_hour,
        event_at,
        ingested_at,
        loaded_at as source_loaded_at
    from joined

)

select * from final
