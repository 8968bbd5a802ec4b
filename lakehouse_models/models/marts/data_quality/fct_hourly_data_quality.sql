{{
    config(
        materialized='incremental',
        incremental_strategy='insert_overwrite',
        partition_by=['ingested_date'],
        on_schema_change='fail',
    )
}}

{#- ingestion time only grows, so new records all fall on or after the newest day seen -#}
{%- set newest_ingested_at = incremental_watermark('last_ingested_at') %}

with

receipts as (

    select * from {{ ref('stg_playback__event_receipts') }}
    {%- if newest_ingested_at %}
    where ingested_at >= date_trunc('day', {{ newest_ingested_at }})
    {%- endif %}

),

events as (

    select * from {{ ref('stg_playback__events') }}
    {%- if newest_ingested_at %}
    where ingested_at >= date_trunc('day', {{ newest_ingested_at }})
    {%- endif %}

),

videos as (

    select * from {{ ref('stg_catalog__videos') }}

),

quarantined as (

    select * from {{ ref('stg_playback__quarantined_events') }}
    {%- if newest_ingested_at %}
    where ingested_at >= date_trunc('day', {{ newest_ingested_at }})
    {%- endif %}

),

received_hourly as (

    select
        date_trunc('hour', ingested_at) as ingested_hour,
        count(*) as valid_records,
        max(ingested_at) as last_ingested_at
    from receipts
    group by 1

),

kept_hourly as (

    -- silver keeps the first copy of each event, stamped with that copy's ingestion time
    select
        date_trunc('hour', events.ingested_at) as ingested_hour,
        count(*) as kept_events,
        count_if(events.is_late_arrival) as late_arrivals,
        count_if(videos.video_id is null) as unknown_title_events
    from events
    left join videos on events.video_id = videos.video_id
    group by 1

),

quarantined_hourly as (

    select
        date_trunc('hour', ingested_at) as ingested_hour,
        count(*) as quarantined_records,
        max(ingested_at) as last_ingested_at
    from quarantined
    group by 1

),

final as (

    select
        coalesce(received_hourly.valid_records, 0)
        + coalesce(quarantined_hourly.quarantined_records, 0) as received_records,
        coalesce(received_hourly.valid_records, 0) as valid_records,
        coalesce(quarantined_hourly.quarantined_records, 0) as quarantined_records,
        coalesce(received_hourly.valid_records, 0) - coalesce(kept_hourly.kept_events, 0)
            as duplicates_removed,
        coalesce(kept_hourly.late_arrivals, 0) as late_arrivals,
        coalesce(kept_hourly.unknown_title_events, 0) as unknown_title_events,
        coalesce(quarantined_hourly.quarantined_records, 0)
        / (
            coalesce(received_hourly.valid_records, 0)
            + coalesce(quarantined_hourly.quarantined_records, 0)
        ) as quarantine_ratio,
        cast(coalesce(received_hourly.ingested_hour, quarantined_hourly.ingested_hour) as date)
            as ingested_date,
        coalesce(received_hourly.ingested_hour, quarantined_hourly.ingested_hour) as ingested_hour,
        greatest(received_hourly.last_ingested_at, quarantined_hourly.last_ingested_at)
            as last_ingested_at
    from received_hourly
    full outer join quarantined_hourly
        on received_hourly.ingested_hour = quarantined_hourly.ingested_hour
    left join kept_hourly
        on
            coalesce(received_hourly.ingested_hour, quarantined_hourly.ingested_hour)
            = kept_hourly.ingested_hour

)

select * from final
