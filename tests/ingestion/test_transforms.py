import json
from datetime import datetime, timedelta

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from ingestion.io import KAFKA_SOURCE_SCHEMA
from ingestion.transforms import EventTimeBounds, parse_kafka_records, to_bronze, to_quarantine

FULL = {
    "event_id": "0b6a4c1e-2f7d-4c55-9a63-1e2b3c4d5e6f", "session_id": "s-1", "user_id": "user_00001",
    "video_id": "vid_0001", "watch_time_seconds": 221.5, "resolution": "720p", "bitrate_kbps": 2800,
    "buffering_events": 2, "paused": False, "skipped": False, "genre": "Drama", "region": "MX",
    "recommended": True, "device_type": "tv", "cdn": "akamai", "startup_time_ms": 950,
    "rebuffer_seconds": 3.5, "playback_started": True, "error_code": None,
    "timestamp": "2025-05-14T17:06:27.500Z",
}
SEED = {  # the seed project's message, as its producer sent it
    "user_id": "user_2242", "video_id": "vid_013", "watch_time_seconds": 221, "resolution": "720p",
    "bitrate_kbps": 5883, "buffering_events": 5, "paused": False, "skipped": False, "genre": "Sci-Fi",
    "region": "IN", "recommended": False, "timestamp": "05/14/2025",
}
KAFKA_TIME = datetime(2025, 5, 14, 18, 0, 0)


def kafka_rows(spark, values: list[bytes | None]):
    rows = [(b"k", value, "playback-events", 0, offset, KAFKA_TIME, 0) for offset, value in enumerate(values)]
    return spark.createDataFrame(rows, KAFKA_SOURCE_SCHEMA)


def encoded(event: dict) -> bytes:
    return json.dumps(event).encode()


def reasons(spark, values):
    parsed = parse_kafka_records(kafka_rows(spark, values))
    return [(r.reason, r.reason_detail) for r in parsed.orderBy("kafka_offset").collect()]


def test_full_event_lands_in_bronze_typed(spark):
    bronze = to_bronze(parse_kafka_records(kafka_rows(spark, [encoded(FULL)])), F.lit(KAFKA_TIME))
    row = bronze.collect()[0]
    assert (row.user_id, row.watch_time_seconds, row.bitrate_kbps, row.recommended) == (
        "user_00001", 221.5, 2800, True)
    assert row.event_at == datetime(2025, 5, 14, 17, 6, 27, 500000)
    assert str(row.event_date) == "2025-05-14"
    assert (row.kafka_topic, row.kafka_partition, row.kafka_offset, row.kafka_key) == ("playback-events", 0, 0, "k")


def test_seed_format_event_lands_with_optional_fields_null(spark):
    parsed = parse_kafka_records(kafka_rows(spark, [encoded(SEED)]))
    actual = to_bronze(parsed).select("user_id", "watch_time_seconds", "event_at", "event_id", "cdn")
    expected = spark.createDataFrame(
        [("user_2242", 221.0, datetime(2025, 5, 14), None, None)],
        "user_id string, watch_time_seconds double, event_at timestamp, event_id string, cdn string",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_iso_timestamp_with_offset_is_converted_to_utc(spark):
    parsed = parse_kafka_records(kafka_rows(spark, [encoded({**FULL, "timestamp": "2025-05-14T10:00:00+02:00"})]))
    assert parsed.collect()[0].event_at == datetime(2025, 5, 14, 8, 0, 0)


# every bad input of the event contract, with its quarantine reason and detail
MALFORMED = [
    (b"", "empty", "empty message"),
    (None, "empty", "empty message"),
    (b'{"user_id": "\xff\xfe"}', "not_utf8", "value is not valid UTF-8"),
    (b'{"user_id": "user_1", "video_id', "not_json", "value is not valid JSON"),
    (b'{"user_id": NaN}', "not_json", "value is not valid JSON"),
    (b"[1, 2, 3]", "not_object", "JSON value is not an object"),
    (b"42", "not_object", "JSON value is not an object"),
    (json.dumps([FULL]).encode(), "not_object", "JSON value is not an object"),
    (encoded({**FULL, "watch_time_seconds": "221"}), "wrong_type",
     "watch_time_seconds: expected DOUBLE, got STRING"),
    (encoded({**FULL, "paused": "yes"}), "wrong_type", "paused: expected BOOLEAN, got STRING"),
    (encoded({**FULL, "buffering_events": 2.5}), "wrong_type", "buffering_events: expected INT, got DECIMAL(2,1)"),
    (encoded({k: v for k, v in FULL.items() if k != "video_id"}), "missing_field", "missing or null: video_id"),
    (encoded({**FULL, "genre": None}), "missing_field", "missing or null: genre"),
    (encoded({**FULL, "watch_time_seconds": -3.0}), "invalid_value", "watch_time_seconds is negative"),
    (encoded({**FULL, "rebuffer_seconds": -1}), "invalid_value", "rebuffer_seconds is negative"),
    (encoded({**FULL, "resolution": "potato"}), "invalid_value", "unknown resolution: potato"),
    (encoded(FULL).replace(b"221.5", b"1e400"), "invalid_value", "watch_time_seconds is not finite"),
    (encoded(FULL).replace(b"3.5", b"-1e400"), "invalid_value", "rebuffer_seconds is not finite"),
    (encoded({**FULL, "watch_time_seconds": 86_401.0}), "invalid_value", "watch_time_seconds is above 86,400"),
    (encoded({**FULL, "bitrate_kbps": 1_000_001}), "invalid_value", "bitrate_kbps is above 1,000,000"),
    (encoded({**FULL, "startup_time_ms": 3_600_001}), "invalid_value", "startup_time_ms is above 3,600,000"),
    (encoded({**FULL, "cdn": "c" * 257}), "invalid_value", "cdn is longer than 256 characters"),
    (encoded({**FULL, "region": "x" * 5000}), "invalid_value",
     "region is not a two-letter country code: " + "x" * 40),
    (encoded({**FULL, "region": "Mexico"}), "invalid_value", "region is not a two-letter country code: Mexico"),
    (encoded({**FULL, "timestamp": "2026-05-14T18:00:00Z"}), "implausible_event_time",
     "event time 2026-05-14 18:00:00 is more than 600 s ahead of its Kafka timestamp 2025-05-14 18:00:00"),
    (encoded({**FULL, "timestamp": "yesterday"}), "unparseable_timestamp", "cannot parse timestamp: yesterday"),
    (encoded({**FULL, "timestamp": "02/30/2025"}), "unparseable_timestamp", "cannot parse timestamp: 02/30/2025"),
    (encoded({**FULL, "timestamp": "2025-13-01T00:00:00Z"}), "unparseable_timestamp",
     "cannot parse timestamp: 2025-13-01T00:00:00Z"),
]


@pytest.mark.parametrize(("value", "reason", "detail"), MALFORMED)
def test_malformed_record_gets_its_reason(spark, value, reason, detail):
    assert reasons(spark, [value]) == [(reason, detail)]


def test_clock_skew_within_the_lead_passes_and_a_horizon_when_set_quarantines_old_events(spark):
    def at(delta: timedelta) -> bytes:
        return encoded({**FULL, "timestamp": (KAFKA_TIME + delta).isoformat() + "Z"})

    values = [at(timedelta(minutes=9)), at(timedelta(minutes=11)), at(-timedelta(days=400))]
    default = parse_kafka_records(kafka_rows(spark, values))
    assert [r.reason for r in default.orderBy("kafka_offset").collect()] == [None, "implausible_event_time", None]

    bounded = parse_kafka_records(kafka_rows(spark, values), EventTimeBounds(max_lead_seconds=60, max_age_days=365))
    assert [(r.reason, r.reason_detail) for r in bounded.orderBy("kafka_offset").collect()] == [
        ("implausible_event_time",
         "event time 2025-05-14 18:09:00 is more than 60 s ahead of its Kafka timestamp 2025-05-14 18:00:00"),
        ("implausible_event_time",
         "event time 2025-05-14 18:11:00 is more than 60 s ahead of its Kafka timestamp 2025-05-14 18:00:00"),
        ("implausible_event_time",
         "event time 2024-04-09 18:00:00 is more than 365 days behind its Kafka timestamp 2025-05-14 18:00:00"),
    ]


def test_enum_spelling_is_left_to_silver(spark):
    assert reasons(spark, [encoded({**FULL, "resolution": " 1080P "}), encoded({**FULL, "resolution": "4K"})]) == [
        (None, None), (None, None)]


def test_unknown_extra_fields_are_ignored(spark):
    assert reasons(spark, [encoded({**FULL, "new_field": {"nested": 1}})]) == [(None, None)]


def test_every_bad_input_beside_good_events_lands_once_in_bronze_or_quarantine(spark, fault_tally):
    values = [encoded(FULL), *(value for value, _, _ in MALFORMED), encoded(SEED)]
    parsed = parse_kafka_records(kafka_rows(spark, values))
    in_bronze = [r.kafka_offset for r in to_bronze(parsed).select("kafka_offset").collect()]
    landed = in_bronze + [r.kafka_offset for r in to_quarantine(parsed).select("kafka_offset").collect()]
    assert fault_tally(f"{len(MALFORMED)} bad inputs (non-finite and absurd numbers, oversized text, "
                       "far-future time...) beside good events", landed, range(len(values))).clean == (0, 0, 0)
    assert sorted(in_bronze) == [0, len(values) - 1]


def test_every_record_lands_exactly_once_and_quarantine_keeps_raw_bytes(spark):
    values = [encoded(FULL), b"not json", encoded(SEED), b"", encoded({**FULL, "paused": 1})]
    parsed = parse_kafka_records(kafka_rows(spark, values))
    bronze_offsets = [r.kafka_offset for r in to_bronze(parsed).collect()]
    quarantine = to_quarantine(parsed).orderBy("kafka_offset").collect()
    assert sorted(bronze_offsets) == [0, 2]
    assert [r.kafka_offset for r in quarantine] == [1, 3, 4]
    assert [bytes(r.raw_value) for r in quarantine] == [values[1], values[3], values[4]]
    assert [r.reason for r in quarantine] == ["not_json", "empty", "wrong_type"]
