-- every valid record bronze received, duplicates included: the denominator of data quality
with

events as (

    select * from {{ source('playback', 'playback_events') }}

),

final as (

    select
        concat_ws('-', 'kafka', kafka_topic, kafka_partition, kafka_offset) as record_id,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        kafka_timestamp,
        ingested_at
    from events

)

select * from final
