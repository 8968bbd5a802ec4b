-- recomputes the days that received new views, and overwrites their partitions
{{ config(materialized='incremental', incremental_strategy='insert_overwrite', partition_by=['event_date']) }}

with

views as (

    {{ rows_on_changed_dates(ref('fct_views')) }}

),

-- startup time, stalls and bitrate are measured on views that reached the first frame
measured as (

    select
        *,
        case when has_video_started then startup_time_ms end as started_startup_time_ms,
        case when has_video_started then watch_time_seconds else 0 end as started_watch_time_seconds,
        case
            when has_video_started and rebuffer_seconds is not null then watch_time_seconds
        end as stall_measured_watch_time_seconds,
        case when has_video_started then rebuffer_seconds end as started_rebuffer_seconds,
        case when has_video_started then buffering_events else 0 end as started_buffering_events
    from views

),

hourly as (

    select
        region,
        cdn,
        device_type,
        resolution,
        count(*) as video_start_attempts,
        count_if(has_video_started) as video_starts,
        count_if(is_exit_before_video_start) as exits_before_video_start,
        count_if(has_playback_failure) as playback_failures,
        sum(started_watch_time_seconds) as watch_time_seconds,
        sum(started_rebuffer_seconds) as rebuffer_seconds,
        sum(started_buffering_events) as buffering_events,
        sum(bitrate_kbps * started_watch_time_seconds) as bitrate_kbps_watch_seconds,
        sum(case when resolution_height >= 1080 then started_watch_time_seconds else 0 end)
            as watch_time_seconds_1080p_plus,
        avg(started_startup_time_ms) as startup_time_mean_ms,
        -- nearest rank: a startup time some view really had
        percentile_disc(0.5) within group (order by started_startup_time_ms) as startup_time_p50_ms,  -- noqa
        percentile_disc(0.95) within group (order by started_startup_time_ms) as startup_time_p95_ms,  -- noqa
        sum(started_rebuffer_seconds)
        / nullif(sum(stall_measured_watch_time_seconds) + sum(started_rebuffer_seconds), 0)
            as stalled_time_ratio,
        sum(started_buffering_events) / nullif(sum(started_watch_time_seconds) / 60.0, 0)
            as rebuffers_per_minute,
        count_if(is_exit_before_video_start) / count(*) as exits_before_video_start_ratio,
        count_if(has_playback_failure) / count(*) as playback_failure_ratio,
        sum(bitrate_kbps * started_watch_time_seconds) / nullif(sum(started_watch_time_seconds), 0)
            as watch_weighted_bitrate_kbps,
        sum(case when resolution_height >= 1080 then started_watch_time_seconds else 0 end)
        / nullif(sum(started_watch_time_seconds), 0) as watch_time_share_1080p_plus,
        event_date,
        event_hour,
        max(source_loaded_at) as source_loaded_at
    from measured
    group by event_date, event_hour, region, cdn, device_type, resolution

)

select * from hourly
