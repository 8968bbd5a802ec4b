"""Live Quality of Experience for `reelhouse monitor`, the Spark half: pure transforms (no IO).

Valid events (parsed exactly as for bronze; malformed ones are bronze's quarantine's business)
are summed in 1-minute event-time windows per region, CDN and device (`live_windows`, a
streaming aggregation with a watermark). What happens to a micro-batch's few hundred updated
windows (ratios, roll-up, alerts) is in `ingestion.alerting`.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ingestion.qoe_rules import STARTUP_BUCKETS, STARTUP_EDGES_MS, WINDOW_SUMS

WINDOW_MINUTES = 1
UNKNOWN = "unknown"  # seed-format events carry no CDN or device
OTHER = "other"
# The monitor keeps state per region x CDN x device: values outside these sets share `other`, so
# a client sending a new CDN name per event cannot grow the state without bound (regions are
# two-letter codes, bounded by bronze's validation). Silver keeps the values as sent.
KNOWN_DEVICES = ("tv", "mobile", "desktop", "tablet")
KNOWN_CDNS = ("akamai", "cloudfront", "fastly", "cloudflare", "google", "azure", "edgio", "limelight", "lumen",
              "bunny", "cdn77", "stackpath", "tencent", "alibaba", "own")
# a failed view without its own category is a business refusal with these codes (dbt's var business_error_codes)
BUSINESS_ERROR_CODES = ("GEO_BLOCKED", "ENTITLEMENT_REQUIRED", "CONCURRENT_STREAM_LIMIT", "PARENTAL_CONTROL")
# screen height of each device class, as dbt's var device_display_heights (the Video Quality Score's upscale)
DISPLAY_HEIGHTS = {"mobile": 720, "tablet": 1080, "desktop": 1440, "tv": 2160}


def bounded_category(column: str, known: tuple[str, ...]) -> Column:
    """Trimmed, lower case; `unknown` when absent, `other` when not one of `known`."""
    value = F.lower(F.trim(F.col(column)))
    absent = value.isNull() | (value == "")
    return F.when(absent, F.lit(UNKNOWN)).when(value.isin(*known), value).otherwise(F.lit(OTHER))


def viewer_experience_score(started: Column, failed: Column, startup_ms: Column, buffering: Column,
                            rebuffer: Column, watch: Column, device: Column, height: Column) -> Column:
    """Mux's Overall Viewer Experience of one view (0-100), as gold.fct_views computes it.

    Playback Success (0 failed, 100 started, 50 left before the start, none when left within
    1 s) times the mean of the Startup Time, Smoothness and Video Quality scores the view has;
    fct_views.yml gives each formula and its source.
    """
    success = (F.when(failed, 0.0).when(started, 100.0).when(startup_ms < 1000, None).otherwise(50.0))
    startup = F.when(started, 800.0 / (8 + startup_ms / 1000.0))
    watched = watch + rebuffer + F.coalesce(startup_ms, F.lit(0)) / 1000.0
    smoothness = F.when(
        started & buffering.isNotNull() & rebuffer.isNotNull(),
        (100.0 / F.sqrt(1 + F.pow(buffering / 2.0, 2))
         + 100.0 * F.exp(-10 * F.coalesce(rebuffer / F.when(watched != 0, watched), F.lit(0.0)))) / 2,
    )
    display = F.coalesce(*[F.when(device == name, F.lit(h)) for name, h in DISPLAY_HEIGHTS.items()])
    # greatest() skips nulls: an unknown screen gives no quality score, not a perfect one
    quality = F.when(started & display.isNotNull(), 100.0 * F.exp(-0.33 * F.greatest(display / height - 1, F.lit(0.0))))
    components = [startup, smoothness, quality]
    present = sum(F.when(c.isNotNull(), 1).otherwise(0) for c in components)
    mean = sum(F.coalesce(c, F.lit(0.0)) for c in components) / F.when(present > 0, present)
    return F.round(success * F.coalesce(mean / 100, F.lit(1.0)), 4)


def is_business_error(code: Column, category: Column) -> Column:
    """The error's own category when it says technical or business; else business for the known codes (as silver)."""
    said = F.lower(F.trim(category))
    return (F.when(said.isin("technical", "business"), said == "business")
            .otherwise(F.upper(F.trim(code)).isin(*BUSINESS_ERROR_CODES)))


def resolution_height(resolution: Column) -> Column:
    """`1080p` -> 1080, `4k` -> 2160, `8k` -> 4320 (bronze accepts only these forms)."""
    value = F.lower(F.trim(resolution))
    return (F.when(value == "4k", 2160).when(value == "8k", 4320)
            .otherwise(F.regexp_extract(value, r"^([0-9]+)p$", 1).cast("int")))


def valid_events(parsed: DataFrame) -> DataFrame:
    """Rows of `parse_kafka_records` that bronze accepts, with what the windows need."""
    started = F.coalesce(F.col("playback_started"), F.col("watch_time_seconds") > 0)
    failed = F.coalesce(F.trim(F.col("error_code")), F.lit("")) != ""
    device = bounded_category("device_type", KNOWN_DEVICES)
    return parsed.where(F.col("reason").isNull()).select(
        "event_at",
        F.upper(F.trim("region")).alias("region"),
        bounded_category("cdn", KNOWN_CDNS).alias("cdn"),
        device.alias("device_type"),
        started.alias("has_video_started"),
        failed.alias("has_playback_failure"),
        (failed & ~started).alias("has_video_start_failure"),
        (failed & is_business_error(F.col("error_code"), F.col("error_category"))).alias("is_business_failure"),
        "watch_time_seconds",
        "rebuffer_seconds",
        "startup_time_ms",
        "bitrate_kbps",
        viewer_experience_score(
            started, failed, F.col("startup_time_ms"), F.col("buffering_events"), F.col("rebuffer_seconds"),
            F.col("watch_time_seconds"), device, resolution_height(F.col("resolution")),
        ).alias("viewer_experience_score"),
    )


def _when_started(column: str) -> Column:
    return F.when(F.col("has_video_started"), F.col(column))


def _startup_histogram() -> list[Column]:
    """Started views per startup-time bucket (STARTUP_BUCKETS), as gold.fct_hourly_qoe counts them."""
    startup = _when_started("startup_time_ms")
    lowers = (0, *STARTUP_EDGES_MS)
    uppers = (*STARTUP_EDGES_MS, None)
    return [F.count_if((startup >= lower) & (startup < upper) if upper else startup >= lower).alias(name)
            for lower, upper, name in zip(lowers, uppers, STARTUP_BUCKETS, strict=True)]


def _window_sums(events: DataFrame, watermark: str, window: Column, *keys: str) -> DataFrame:
    """Additive columns (counts and sums) per window and keys, so windows can be rolled up and
    compared with hours. Measures follow gold.fct_hourly_qoe: startup, stalls and bitrate on
    views that started; `stall_measured_seconds` is the playing time and startup wait of the
    views that report stalls, so stalls / (it + stalls) is CTA-2066's stalled time over watched
    time. Events later than `watermark` are dropped."""
    measured = F.col("has_video_started") & F.col("rebuffer_seconds").isNotNull()
    # with the stalls, CTA-2066's watched time of the measured views (playing + startup wait)
    watched_without_stalls = F.col("watch_time_seconds") + F.coalesce(F.col("startup_time_ms"), F.lit(0)) / 1000.0
    sums = (
        events.withWatermark("event_at", watermark)
        .groupBy(window.alias("window"), *keys)
        .agg(
            F.count(F.lit(1)).alias("views"),
            F.count_if("has_playback_failure").alias("playback_failures"),
            F.count_if("has_video_started").alias("started_views"),
            F.coalesce(F.sum(_when_started("watch_time_seconds")), F.lit(0.0)).alias("watch_time_seconds"),
            F.coalesce(F.sum(F.when(measured, F.col("rebuffer_seconds"))), F.lit(0.0)).alias("rebuffer_seconds"),
            F.coalesce(F.sum(F.when(measured, watched_without_stalls)), F.lit(0.0)).alias("stall_measured_seconds"),
            F.coalesce(F.sum(_when_started("startup_time_ms")), F.lit(0)).cast("double").alias("startup_time_ms_sum"),
            F.coalesce(F.sum(_when_started("bitrate_kbps")), F.lit(0)).cast("double").alias("bitrate_kbps_sum"),
            F.count_if("has_video_start_failure").alias("video_start_failures"),
            F.count_if(F.col("has_playback_failure") & ~F.col("has_video_start_failure"))
            .alias("video_playback_failures"),
            F.count_if(F.col("has_video_start_failure") & F.col("is_business_failure"))
            .alias("video_start_failures_business"),
            F.count_if(F.col("has_playback_failure") & ~F.col("has_video_start_failure") & F.col("is_business_failure"))
            .alias("video_playback_failures_business"),
            *_startup_histogram(),
            F.coalesce(F.sum("viewer_experience_score"), F.lit(0.0)).alias("experience_score_sum"),
            F.count("viewer_experience_score").alias("experience_scored_views"),
        )
    )
    return sums.select(
        F.col("window.start").alias("window_start"), F.col("window.end").alias("window_end"), *keys, *WINDOW_SUMS,
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
