{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key=['event_date', 'event_id'],
        merge_skip_matched=true,
        prune_target_on='event_date',
        partition_by=['event_date'],
        on_schema_change='fail',
    )
}}

{#- the bronze rows of the Delta commits after the previous run's bound up to this run's. The
    bound is bronze's version, not its ingested_at: a writer's clock may step back, or a second
    writer commit older stamps, and rows below a time bound already passed would never be read.
    Duplicates that silver drops move the bound on too, so they are read once. -#}
{%- set version_after = incremental_max('bronze_version_through') %}
{%- set version_through = delta_version(source('playback', 'playback_events')) %}
{%- set newest_event_at = incremental_watermark('event_at') %}
{%- set run_started = run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') %}

with

events as (

    {{ rows_inserted_between(source('playback', 'playback_events'), version_after, version_through) }}

),

cleaned as (

    select
        -- seed-format events carry no id: their Kafka coordinates identify them
        coalesce(
            nullif(lower(trim(event_id)), ''),
            concat_ws('-', 'kafka', kafka_topic, kafka_partition, kafka_offset)
        ) as event_id,
        nullif(trim(session_id), '') as session_id,
        trim(user_id) as user_id,
        trim(video_id) as video_id,
        trim(genre) as genre,
        upper(trim(region)) as region,
        case
            when nullif(trim(device_type), '') is null then 'unknown'
            when lower(trim(device_type)) in ('tv', 'mobile', 'desktop', 'tablet') then lower(trim(device_type))
            -- a device class new to us (a car, a watch) is kept as such in bronze, `other` here
            else 'other'
        end as device_type,
        coalesce(nullif(lower(trim(cdn)), ''), 'unknown') as cdn,
        case lower(trim(resolution))
            when '4k' then '2160p'
            when '8k' then '4320p'
            else lower(trim(resolution))
        end as resolution,
        nullif(upper(trim(error_code)), '') as error_code,
        case
            when nullif(trim(error_code), '') is null then null
            when lower(trim(error_category)) in ('technical', 'business') then lower(trim(error_category))
            {%- set business_codes = "'" ~ var('business_error_codes') | join("', '") ~ "'" %}
            when upper(trim(error_code)) in ({{ business_codes }}) then 'business'
            -- a fatal error we cannot place is counted as a fault: the view failed all the same
            else 'technical'
        end as error_category,
        kafka_topic,
        watch_time_seconds,
        bitrate_kbps,
        buffering_events,
        rebuffer_seconds,
        startup_time_ms,
        kafka_partition,
        kafka_offset,
        paused as is_paused,
        skipped as is_skipped,
        recommended as is_recommended,
        -- the seed's message has no start flag: a view with watch time has started
        coalesce(playback_started, watch_time_seconds > 0) as has_video_started,
        event_date,
        event_at,
        kafka_timestamp,
        ingested_at
    from events

),

ranked as (

    select
        *,
        row_number() over (
            partition by event_id
            order by kafka_timestamp, kafka_partition, kafka_offset
        ) as arrival_rank
    from cleaned

),

final as (

    select
        event_id,
        session_id,
        user_id,
        video_id,
        genre,
        region,
        device_type,
        cdn,
        resolution,
        error_code,
        error_category,
        kafka_topic,
        cast(regexp_extract(resolution, '^([0-9]+)p$', 1) as int) as resolution_height,
        watch_time_seconds,
        bitrate_kbps,
        buffering_events,
        rebuffer_seconds,
        startup_time_ms,
        kafka_partition,
        kafka_offset,
        is_paused,
        is_skipped,
        is_recommended,
        has_video_started,
        {% if newest_event_at -%}
            event_at < {{ newest_event_at }} - interval {{ var('late_arrival_minutes') }} minutes
        {%- else -%}
            false
        {%- endif %} as is_late_arrival,
        event_date,
        event_at,
        kafka_timestamp,
        ingested_at,
        cast('{{ run_started }}' as timestamp) as loaded_at,
        cast({{ version_through }} as bigint) as bronze_version_through
    from ranked
    where arrival_rank = 1

)

select * from final
