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

-- the screen the view was shown on, which a lower rendition is upscaled to fill
displayed as (

    select
        *,
        case device_type
            {%- for device, height in var('device_display_heights').items() %}
                when '{{ device }}' then {{ height }}
            {%- endfor %}
        end as display_height
    from joined

),

-- the four Mux Viewer Experience component scores of each view, 0-100 (formulas and sources in the yml)
component_scores as (

    select
        *,
        case
            when error_code is not null then 0D
            when has_video_started then 100D
            -- an exit within a second of pressing play was no real attempt: no score
            when startup_time_ms < 1000 then null
            else 50D
        end as playback_success_score,
        case
            when has_video_started then 100D * 8 / (8 + startup_time_ms / 1000D)
        end as startup_time_score,
        case
            when has_video_started and buffering_events is not null and rebuffer_seconds is not null
                then (
                    100D / sqrt(1 + pow(buffering_events / 2D, 2))
                    + 100D * exp(-10 * coalesce(
                        rebuffer_seconds
                        / nullif(watch_time_seconds + rebuffer_seconds + coalesce(startup_time_ms, 0) / 1000D, 0),
                        0
                    ))
                ) / 2
        end as smoothness_score,
        case
            -- greatest() skips nulls: an unknown screen must give no score, not a perfect one
            when has_video_started and display_height is not null
                then 100D * exp(-0.33 * greatest(display_height / resolution_height - 1, 0))
        end as video_quality_score
    from displayed

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
        error_category,
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
        -- Conviva/Mux: a fatal error before the first frame, and one after playback began
        error_code is not null and not has_video_started as has_video_start_failure,
        error_code is not null and has_video_started as has_video_playback_failure,
        -- rounded to 4 decimals: Mux shows whole numbers, and equal views give equal scores
        playback_success_score,
        round(startup_time_score, 4) as startup_time_score,
        round(smoothness_score, 4) as smoothness_score,
        round(video_quality_score, 4) as video_quality_score,
        -- Mux: Playback Success multiplies the mean of the other scores the view has
        round(playback_success_score * coalesce(
            (coalesce(startup_time_score, 0) + coalesce(smoothness_score, 0) + coalesce(video_quality_score, 0))
            / nullif(
                cast(startup_time_score is not null as int) + cast(smoothness_score is not null as int)
                + cast(video_quality_score is not null as int),
                0
            ) / 100,
            1
        ), 4) as viewer_experience_score,
        is_late_arrival,
        event_date,
        date_trunc('hour', event_at) as event_hour,
        event_at,
        ingested_at,
        loaded_at as source_loaded_at
    from component_scores

)

select * from final
