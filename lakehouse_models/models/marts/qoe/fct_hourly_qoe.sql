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
        -- CTA-2066 watched time: playing, stalled and the startup wait, without pauses
        case
            when has_video_started and rebuffer_seconds is not null
                then watch_time_seconds + rebuffer_seconds + coalesce(startup_time_ms, 0) / 1000D
        end as watched_time_seconds,
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
        sum(watched_time_seconds) as watched_time_seconds,
        sum(started_rebuffer_seconds) / nullif(sum(watched_time_seconds), 0) as stalled_time_ratio,
        sum(started_buffering_events) / nullif(sum(started_watch_time_seconds) / 60.0, 0)
            as rebuffers_per_minute,
        count_if(is_exit_before_video_start) / count(*) as exits_before_video_start_ratio,
        count_if(has_playback_failure) / count(*) as playback_failure_ratio,
        count_if(has_video_start_failure) as video_start_failures,
        count_if(has_video_start_failure and error_category = 'technical') as video_start_failures_technical,
        count_if(has_video_start_failure and error_category = 'business') as video_start_failures_business,
        count_if(has_video_playback_failure) as video_playback_failures,
        count_if(has_video_playback_failure and error_category = 'technical') as video_playback_failures_technical,
        count_if(has_video_playback_failure and error_category = 'business') as video_playback_failures_business,
        count_if(has_video_start_failure) / count(*) as video_start_failure_ratio,
        count_if(has_video_start_failure and error_category = 'technical') / count(*)
            as video_start_failure_technical_ratio,
        count_if(has_video_start_failure and error_category = 'business') / count(*)
            as video_start_failure_business_ratio,
        count_if(has_video_playback_failure) / nullif(count_if(has_video_started), 0) as video_playback_failure_ratio,
        count_if(has_video_playback_failure and error_category = 'technical') / nullif(count_if(has_video_started), 0)
            as video_playback_failure_technical_ratio,
        count_if(has_video_playback_failure and error_category = 'business') / nullif(count_if(has_video_started), 0)
            as video_playback_failure_business_ratio,
        {%- for score in ['playback_success', 'startup_time', 'smoothness', 'video_quality', 'viewer_experience'] %}
        sum({{ score }}_score) as {{ score }}_score_sum,
        count({{ score }}_score) as {{ score }}_scored_views,
        avg({{ score }}_score) as {{ score }}_score,
        {%- endfor %}
        {%- set edges = var('startup_histogram_edges_ms') %}
        {%- for upper in edges %}
        {%- set lower = edges[loop.index0 - 1] if not loop.first else 0 %}
        count_if(started_startup_time_ms >= {{ lower }} and started_startup_time_ms < {{ upper }})
            as startup_time_views_{{ lower }}_to_{{ upper }}_ms,
        {%- endfor %}
        count_if(started_startup_time_ms >= {{ edges[-1] }}) as startup_time_views_{{ edges[-1] }}_ms_plus,
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
