{{
    config(
        materialized='incremental',
        incremental_strategy='insert_overwrite',
        partition_by=['ingested_date'],
        on_schema_change='fail',
    )
}}

{%- set newest_ingested_at = incremental_watermark('last_ingested_at') %}

with

quarantined as (

    select * from {{ ref('stg_playback__quarantined_events') }}
    {%- if newest_ingested_at %}
    where ingested_at >= date_trunc('day', {{ newest_ingested_at }})
    {%- endif %}

),

hourly as (

    select
        reason,
        count(*) as quarantined_records,
        cast(date_trunc('hour', ingested_at) as date) as ingested_date,
        date_trunc('hour', ingested_at) as ingested_hour,
        max(ingested_at) as last_ingested_at
    from quarantined
    group by date_trunc('hour', ingested_at), reason

)

select * from hourly
