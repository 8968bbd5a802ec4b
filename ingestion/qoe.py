"""Live Quality of Experience for `reelhouse monitor`, the Spark half: pure transforms (no IO).

Valid events (parsed exactly as for bronze; malformed ones are bronze's quarantine's business)
are summed in 1-minute event-time windows per region, CDN and device (`live_windows`, a
streaming aggregation with a watermark). What happens to a micro-batch's few hundred updated
windows (ratios, roll-up, alerts) is in `ingestion.alerting`.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

WINDOW_MINUTES = 1
UNKNOWN = "unknown"  # seed-format events carry no CDN or device
OTHER = "other"
# The monitor keeps state per region x CDN x device: values outside these sets share `other`, so
# a client sending a new CDN name per event cannot grow the state without bound (regions are
# two-letter codes, bounded by bronze's validation). Silver keeps the values as sent.
KNOWN_DEVICES = ("tv", "mobile", "desktop", "tablet")
KNOWN_CDNS = ("akamai", "cloudfront", "fastly", "cloudflare", "google", "azure", "edgio", "limelight", "lumen",
              "bunny", "cdn77", "stackpath", "tencent", "alibaba", "own")
# additive columns of a window: roll-ups and the trailing hour sum these, never the ratios
SUMS = ("views", "playback_failures", "started_views", "watch_time_seconds", "rebuffer_seconds",
        "stall_measured_seconds", "startup_time_ms_sum", "bitrate_kbps_sum")


def bounded_category(column: str, known: tuple[str, ...]) -> Column:
    """Trimmed, lower case; `unknown` when absent, `other` when not one of `known`."""
    value = F.lower(F.trim(F.col(column)))
    absent = value.isNull() | (value == "")
    return F.when(absent, F.lit(UNKNOWN)).when(value.isin(*known), value).otherwise(F.lit(OTHER))


def valid_events(parsed: DataFrame) -> DataFrame:
    """Rows of `parse_kafka_records` that bronze accepts, with what the windows need."""
    started = F.coalesce(F.col("playback_started"), F.col("watch_time_seconds") > 0)
    return parsed.where(F.col("reason").isNull()).select(
        "event_at",
        F.upper(F.trim("region")).alias("region"),
        bounded_category("cdn", KNOWN_CDNS).alias("cdn"),
        bounded_category("device_type", KNOWN_DEVICES).alias("device_type"),
        started.alias("has_video_started"),
        F.col("error_code").isNotNull().alias("has_playback_failure"),
        "watch_time_seconds",
        "rebuffer_seconds",
        "startup_time_ms",
        "bitrate_kbps",
    )


def _when_started(column: str) -> Column:
    return F.when(F.col("has_video_started"), F.col(column))


def _window_sums(events: DataFrame, watermark: str, window: Column, *keys: str) -> DataFrame:
    """Additive columns (counts and sums) per window and keys, so windows can be rolled up and
    compared with hours. Measures follow gold.fct_hourly_qoe: startup, stalls and bitrate on
    views that started. Events later than `watermark` are dropped."""
    measured = F.col("has_video_started") & F.col("rebuffer_seconds").isNotNull()
    sums = (
        events.withWatermark("event_at", watermark)
        .groupBy(window.alias("window"), *keys)
        .agg(
            F.count(F.lit(1)).alias("views"),
            F.count_if("has_playback_failure").alias("playback_failures"),
            F.count_if("has_video_started").alias("started_views"),
            F.coalesce(F.sum(_when_started("watch_time_seconds")), F.lit(0.0)).alias("watch_time_seconds"),
            F.coalesce(F.sum(F.when(measured, F.col("rebuffer_seconds"))), F.lit(0.0)).alias("rebuffer_seconds"),
            F.coalesce(F.sum(F.when(measured, F.col("watch_time_seconds"))), F.lit(0.0))
            .alias("stall_measured_seconds"),
            F.coalesce(F.sum(_when_started("startup_time_ms")), F.lit(0)).cast("double").alias("startup_time_ms_sum"),
            F.coalesce(F.sum(_when_started("bitrate_kbps")), F.lit(0)).cast("double").alias("bitrate_kbps_sum"),
        )
    )
    return sums.select(
        F.col("window.start").alias("window_start"), F.col("window.end").alias("window_end"), *keys, *SUMS,
    )


def live_windows(events: DataFrame, watermark: str) -> DataFrame:
    """1-minute windows per region, CDN and device: the rows of gold.qoe_live."""
    return _window_sums(events, watermark, F.window("event_at", f"{WINDOW_MINUTES} minute"),
                        "region", "cdn", "device_type")


def sliding_pair_windows(events: DataFrame, watermark: str, slide_seconds: int) -> DataFrame:
    """1-minute windows per region × CDN starting every `slide_seconds`: what alerts judge.

    A tumbling minute that already holds normal views dilutes an incident that starts late in
    it; one of these windows always starts at most `slide_seconds` before the incident.
    """
    window = F.window("event_at", f"{WINDOW_MINUTES} minute", f"{slide_seconds} seconds")
    return _window_sums(events, watermark, window, "region", "cdn")
