"""Pure transforms from Kafka records to bronze rows and quarantine rows (no IO here).

`parse_kafka_records` types every message and gives it a `reason` (null when valid);
`to_bronze` and `to_quarantine` then split the result. Every input row lands in exactly one
of the two, which is what makes the ingestion lossless.

Reasons, checked in this order (the first that applies is recorded):
empty, not_utf8, not_json, not_object, wrong_type, missing_field, invalid_value,
unparseable_timestamp, implausible_event_time. `reason_detail` names the field and the problem.

invalid_value covers, besides negative numbers and unknown resolutions, what would poison the
layers above: non-finite numbers (`1e400` parses as infinity), numbers beyond physical bounds,
text longer than `MAX_TEXT_CHARS` and a region that is not a two-letter code. An event time
too far ahead of the record's Kafka timestamp (or, when a horizon is set, too far behind it)
is implausible_event_time: kept out of bronze, it cannot drag watermarks or "the last 15
minutes" into the future.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

CORRUPT = "_corrupt_record"
REQUIRED_FIELDS = (  # the seed project's 12 fields
    "user_id", "video_id", "watch_time_seconds", "resolution", "bitrate_kbps", "buffering_events",
    "paused", "skipped", "genre", "region", "recommended", "timestamp",
)
EVENT_SCHEMA = T.StructType([
    T.StructField("event_id", T.StringType()),
    T.StructField("session_id", T.StringType()),
    T.StructField("user_id", T.StringType()),
    T.StructField("video_id", T.StringType()),
    T.StructField("watch_time_seconds", T.DoubleType()),
    T.StructField("resolution", T.StringType()),
    T.StructField("bitrate_kbps", T.IntegerType()),
    T.StructField("buffering_events", T.IntegerType()),
    T.StructField("paused", T.BooleanType()),
    T.StructField("skipped", T.BooleanType()),
    T.StructField("genre", T.StringType()),
    T.StructField("region", T.StringType()),
    T.StructField("recommended", T.BooleanType()),
    T.StructField("device_type", T.StringType()),
    T.StructField("cdn", T.StringType()),
    T.StructField("startup_time_ms", T.LongType()),
    T.StructField("rebuffer_seconds", T.DoubleType()),
    T.StructField("playback_started", T.BooleanType()),
    T.StructField("error_code", T.StringType()),
    T.StructField("error_category", T.StringType()),
    T.StructField("timestamp", T.StringType()),
])
# resolutions as sent (case and spaces are normalized in silver); anything else is quarantined
KNOWN_RESOLUTIONS = ("144p", "240p", "360p", "480p", "576p", "720p", "1080p", "1440p", "2160p", "4k", "8k")
NON_NEGATIVE = ("watch_time_seconds", "bitrate_kbps", "buffering_events", "startup_time_ms", "rebuffer_seconds")
FINITE = ("watch_time_seconds", "rebuffer_seconds")  # the floating-point fields
# physical bounds of one view, far above any real one: beyond them a value is a client's bug
UPPER_BOUNDS = {
    "watch_time_seconds": 86_400,  # a day
    "rebuffer_seconds": 86_400,
    "bitrate_kbps": 1_000_000,  # 1 Gbit/s
    "buffering_events": 100_000,
    "startup_time_ms": 3_600_000,  # an hour
}
MAX_TEXT_CHARS = 256
TEXT_FIELDS = ("event_id", "session_id", "user_id", "video_id", "genre", "device_type", "cdn", "error_code",
               "error_category")
REGION_CODE = r"^[A-Z]{2}$"  # ISO 3166-1 alpha-2, after trimming and upper-casing (as silver does)
ISO_8601 = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$"
SEED_DATE = r"^\d{2}/\d{2}/\d{4}$"
# variant types that a JSON value may have for each typed field (strings accept any scalar)
_VARIANT_TYPES = {
    T.DoubleType(): "^(TINYINT|SMALLINT|INT|BIGINT|FLOAT|DOUBLE|DECIMAL.*)$",
    T.IntegerType(): "^(TINYINT|SMALLINT|INT|BIGINT)$",
    T.LongType(): "^(TINYINT|SMALLINT|INT|BIGINT)$",
    T.BooleanType(): "^BOOLEAN$",
}

BRONZE_COLUMNS = (
    "event_id", "session_id", "user_id", "video_id", "watch_time_seconds", "resolution", "bitrate_kbps",
    "buffering_events", "paused", "skipped", "genre", "region", "recommended", "device_type", "cdn",
    "startup_time_ms", "rebuffer_seconds", "playback_started", "error_code", "error_category", "event_at",
    "event_date", "kafka_key", "kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp", "ingested_at",
)
# what `collect_rejected` gathers of each rejected row during the bronze write
QUARANTINE_COLUMNS = (
    "raw_key", "raw_value", "reason", "reason_detail", "kafka_topic", "kafka_partition", "kafka_offset",
    "kafka_timestamp", "ingested_at",
)


@dataclass(frozen=True)
class EventTimeBounds:
    """How far an event's time may be from its record's Kafka timestamp and still be believed."""

    max_lead_seconds: float = 600.0
    """Ahead of the Kafka timestamp: device clocks drift, but not by days."""
    max_age_days: float = 0.0
    """Behind it; 0 is no horizon (backfills and the generator's simulated past are legitimate)."""


def parse_event_time(text: Column) -> Column:
    """ISO-8601 (with or without zone, UTC if none) or the seed's `MM/dd/yyyy`; null otherwise."""
    trimmed = F.trim(text)
    iso = F.when(trimmed.rlike(ISO_8601), trimmed.try_cast("timestamp"))
    seed = F.when(trimmed.rlike(SEED_DATE), F.try_to_timestamp(trimmed, F.lit("MM/dd/yyyy")))
    return F.coalesce(iso, seed)


def _wrong_type_detail(variant: Column) -> Column:
    """The first typed field whose JSON value has the wrong type, e.g. `paused: expected BOOLEAN, got STRING`."""
    checks = []
    for field in EVENT_SCHEMA.fields:
        allowed = _VARIANT_TYPES.get(field.dataType)
        if allowed is None:
            continue
        actual = F.schema_of_variant(F.try_variant_get(variant, f"$.{field.name}", "variant"))
        expected = field.dataType.simpleString().upper()
        checks.append(F.when(
            (actual != "VOID") & ~actual.rlike(allowed),
            F.concat(F.lit(f"{field.name}: expected {expected}, got "), actual),
        ))
    return F.coalesce(*checks, F.lit("a field has a value of the wrong type"))


def _implausible_time(event_at: Column, kafka_timestamp: Column, bounds: EventTimeBounds) -> Column:
    """Why `event_at` is not believable next to the record's Kafka timestamp, or null."""
    lead = F.unix_micros(event_at) - F.unix_micros(kafka_timestamp)
    too_late = F.when(lead > int(bounds.max_lead_seconds * 1e6), F.concat(
        F.lit("event time "), event_at.cast("string"), F.lit(f" is more than {bounds.max_lead_seconds:g} s ahead "
                                                              "of its Kafka timestamp "),
        kafka_timestamp.cast("string")))
    if not bounds.max_age_days:
        return too_late
    too_old = F.when(-lead > int(bounds.max_age_days * 86_400e6), F.concat(
        F.lit("event time "), event_at.cast("string"), F.lit(f" is more than {bounds.max_age_days:g} days behind "
                                                              "its Kafka timestamp "),
        kafka_timestamp.cast("string")))
    return F.coalesce(too_late, too_old)


def parse_kafka_records(records: DataFrame, time_bounds: EventTimeBounds = EventTimeBounds()) -> DataFrame:
    """Kafka source rows -> typed event columns plus `reason` / `reason_detail` (null when valid)."""
    parsed = F.from_json(
        F.col("value").cast("string"),
        T.StructType([*EVENT_SCHEMA.fields, T.StructField(CORRUPT, T.StringType())]),
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT, "allowNonNumericNumbers": "false"},
    )
    staged = records.select(
        F.col("key").alias("raw_key"),
        F.col("value").alias("raw_value"),
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        # explode of a one-element array: a Generate node that the optimizer cannot inline,
        # so the JSON is parsed once per row even where a filter on `reason` is pushed down
        F.explode(F.array(parsed)).alias("e"),
    )
    text = F.col("raw_value").cast("string")
    event = {f.name: F.col(f"e.{f.name}") for f in EVENT_SCHEMA.fields}
    corrupt = F.col(f"e.{CORRUPT}")
    variant = F.try_parse_json(text)
    event_at = parse_event_time(event["timestamp"])
    implausible = _implausible_time(event_at, F.col("kafka_timestamp"), time_bounds)
    missing = F.coalesce(*[F.when(event[name].isNull(), F.lit(name)) for name in REQUIRED_FIELDS])
    # NaN cannot come from JSON text (non-numeric numbers are refused), infinity can: 1e400
    not_finite = F.coalesce(*[
        F.when(F.abs(event[name]) == float("inf"), F.lit(f"{name} is not finite")) for name in FINITE
    ])
    negative = F.coalesce(*[
        F.when(event[name] < 0, F.lit(f"{name} is negative")) for name in NON_NEGATIVE
    ])
    too_large = F.coalesce(*[
        F.when(event[name] > limit, F.lit(f"{name} is above {limit:,}")) for name, limit in UPPER_BOUNDS.items()
    ])
    too_long = F.coalesce(*[
        F.when(F.length(event[name]) > MAX_TEXT_CHARS, F.lit(f"{name} is longer than {MAX_TEXT_CHARS} characters"))
        for name in TEXT_FIELDS
    ])
    not_a_region = ~F.upper(F.trim(event["region"])).rlike(REGION_CODE)
    unknown_resolution = ~F.lower(F.trim(event["resolution"])).isin(*KNOWN_RESOLUTIONS)
    # only reached for valid JSON, where an object is exactly what starts with "{"
    is_object = F.ltrim(text, F.lit(" \t\r\n")).startswith("{")

    checks = [  # (reason, condition, detail), in order
        ("empty", F.col("raw_value").isNull() | (F.length("raw_value") == 0), F.lit("empty message")),
        ("not_utf8", ~F.is_valid_utf8(text), F.lit("value is not valid UTF-8")),
        # the variant is built only where Spark's parser failed: built for every row, it took a quarter of the parse
        ("not_json", F.when(F.col("e").isNull() | corrupt.isNotNull(), variant.isNull()).otherwise(False),
         F.lit("value is not valid JSON")),
        ("not_object", ~is_object, F.lit("JSON value is not an object")),
        ("wrong_type", corrupt.isNotNull(), _wrong_type_detail(variant)),
        ("missing_field", missing.isNotNull(), F.concat(F.lit("missing or null: "), missing)),
        ("invalid_value", not_finite.isNotNull(), not_finite),
        ("invalid_value", negative.isNotNull(), negative),
        ("invalid_value", too_large.isNotNull(), too_large),
        ("invalid_value", too_long.isNotNull(), too_long),
        ("invalid_value", not_a_region,
         F.concat(F.lit("region is not a two-letter country code: "), F.substring(event["region"], 1, 40))),
        ("invalid_value", unknown_resolution,
         F.concat(F.lit("unknown resolution: "), F.substring(event["resolution"], 1, 40))),
        ("unparseable_timestamp", event_at.isNull(),
         F.concat(F.lit("cannot parse timestamp: "), F.substring(event["timestamp"], 1, 80))),
        ("implausible_event_time", implausible.isNotNull(), implausible),
    ]
    # the number of the first failed check, each condition evaluated once per row (a valid row
    # passes them all); the reason and its detail are then looked up from that number alone
    failed_check = F.lit(None).cast("int")
    for number, (_, condition, _) in reversed(list(enumerate(checks))):
        failed_check = F.when(condition, F.lit(number)).otherwise(failed_check)
    reason = F.lit(None).cast("string")
    detail = F.lit(None).cast("string")
    for number, (code, _, why) in reversed(list(enumerate(checks))):  # CASE WHEN evaluates only the branch taken
        reason = F.when(F.col("_failed_check") == number, F.lit(code)).otherwise(reason)
        detail = F.when(F.col("_failed_check") == number, why).otherwise(detail)

    return staged.withColumn("_failed_check", failed_check).select(
        "*",
        *[event[f.name].alias(f.name) for f in EVENT_SCHEMA.fields if f.name != "timestamp"],
        event_at.alias("event_at"),
        reason.alias("reason"),
        detail.alias("reason_detail"),
    ).drop("e", "_failed_check")


def to_bronze(parsed: DataFrame, ingested_at: Column | None = None) -> DataFrame:
    """Valid rows in the bronze layout, partitioned by `event_date`."""
    return (
        parsed.where(F.col("reason").isNull())
        .withColumn("event_date", F.to_date("event_at"))
        .withColumn("kafka_key", F.col("raw_key").cast("string"))
        .withColumn("ingested_at", ingested_at if ingested_at is not None else F.current_timestamp())
        .select(*BRONZE_COLUMNS)
    )


def to_quarantine(parsed: DataFrame, ingested_at: Column | None = None) -> DataFrame:
    """Rejected rows with their raw bytes, the reason and their Kafka coordinates."""
    return (
        parsed.where(F.col("reason").isNotNull())
        .withColumn("ingested_at", ingested_at if ingested_at is not None else F.current_timestamp())
        .select(*QUARANTINE_COLUMNS)
    )


def count_rejected() -> Column:
    """The number of rejected rows, for `DataFrame.observe` during the bronze write: a batch
    without any needs no quarantine pass."""
    return F.count_if(F.col("reason").isNotNull()).alias("rejected")
