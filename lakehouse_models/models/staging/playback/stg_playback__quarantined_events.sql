with

quarantine as (

    select * from {{ source('playback', 'playback_events_quarantine') }}

),

final as (

    select
        concat_ws('-', 'kafka', kafka_topic, kafka_partition, kafka_offset) as record_id,
        reason,
        reason_detail,
        kafka_topic,
        -- the bytes as text where they are UTF-8, so analysts can read most of them
        case when is_valid_utf8(raw_value) then cast(raw_value as string) end as raw_text,
        base64(raw_value) as raw_value_base64,
        length(raw_value) as raw_value_bytes,
        kafka_partition,
        kafka_offset,
        kafka_timestamp,
        ingested_at
    from quarantine

)

select * from final
