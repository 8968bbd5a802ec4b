"""Live Quality of Experience for `reelhouse monitor`: pure transforms (no IO here).

Valid events (parsed exactly as for bronze; malformed ones are bronze's quarantine's business)
are counted in 1-minute event-time windows per region, CDN and device (`live_windows`, a
streaming aggregation with a watermark). For alerting, the windows are rolled up to
region × CDN, the grain at which an edge fails (`pair_windows`), and each updated window is
compared with absolute thresholds and with the same pair over the trailing hour (`alerts`).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ingestion.qoe_rules import AlertRules

WINDOW_MINUTES = 1
LIVE_KEYS = ("window_start", "region", "cdn", "device_type")
ALERT_KEYS = ("window_start", "region", "cdn", "metric", "rule")
METRICS = AlertRules.METRICS
UNKNOWN = "unknown"  # seed-format events carry no CDN or device
# additive columns of a window: roll-ups and the trailing hour sum these, never the ratios
SUMS = ("views", "playback_failures", "started_views", "watch_time_seconds", "rebuffer_seconds",
        "stall_measured_seconds", "startup_time_ms_sum", "bitrate_kbps_sum")


def valid_events(parsed: DataFrame) -> DataFrame:
    """Rows of `parse_kafka_records` that bronze accepts, with what the windows need."""
    started = F.coalesce(F.col("playback_started"), F.col("watch_time_seconds") > 0)
    return parsed.where(F.col("reason").isNull()).select(
        "event_at",
        "region",
        F.coalesce("cdn", F.lit(UNKNOWN)).alias("cdn"),
        F.coalesce("device_type", F.lit(UNKNOWN)).alias("device_type"),
        started.alias("has_video_started"),
        F.col("error_code").isNotNull().alias("has_playback_failure"),
        "watch_time_seconds",
        "rebuffer_seconds",
        "startup_time_ms",
        "bitrate_kbps",
    )


def _when_started(column: str) -> Column:
    return F.when(F.col("has_video_started"), F.col(column))


def live_windows(events: DataFrame, watermark: str) -> DataFrame:
    """1-minute windows per region, CDN and device; events later than `watermark` are dropped.

    Measures follow gold.fct_hourly_qoe: startup, stalls and bitrate on views that started.
    """
    window = F.window("event_at", f"{WINDOW_MINUTES} minute")
    measured = F.col("has_video_started") & F.col("rebuffer_seconds").isNotNull()
    sums = (
        events.withWatermark("event_at", watermark)
        .groupBy(window.alias("window"), "region", "cdn", "device_type")
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
    return with_ratios(sums.select(
        F.col("window.start").alias("window_start"), F.col("window.end").alias("window_end"),
        "region", "cdn", "device_type", *SUMS,
    ))


def with_ratios(sums: DataFrame) -> DataFrame:
    """The QoE ratios of windows (or roll-ups of them) from their additive columns."""
    def ratio(numerator: Column, denominator: Column) -> Column:
        return F.when(denominator > 0, numerator / denominator)

    return sums.select(
        "*",
        ratio(F.col("rebuffer_seconds"), F.col("stall_measured_seconds") + F.col("rebuffer_seconds"))
        .alias("stalled_time_ratio"),
        ratio(F.col("playback_failures").cast("double"), F.col("views")).alias("playback_failure_ratio"),
        ratio(F.col("startup_time_ms_sum"), F.col("started_views")).alias("mean_startup_time_ms"),
        ratio(F.col("bitrate_kbps_sum"), F.col("started_views")).alias("avg_bitrate_kbps"),
    )


def pair_windows(live: DataFrame) -> DataFrame:
    """Windows rolled up over devices to region × CDN, with their ratios."""
    return with_ratios(
        live.groupBy("window_start", "window_end", "region", "cdn")
        .agg(*[F.sum(column).alias(column) for column in SUMS])
    )


def trailing_baseline(current: DataFrame, history: DataFrame, minutes: int) -> DataFrame:
    """Each current pair window with its pair's ratios over the `minutes` before it.

    `current` and `history` are `pair_windows` rows; the baseline sums the history windows
    that started in [window_start - minutes, window_start), so the window never judges itself.
    """
    past = history.select(
        "region", "cdn", F.col("window_start").alias("past_start"), *[F.col(c).alias(f"past_{c}") for c in SUMS],
    )
    joined = current.alias("c").join(
        past,
        on=(F.col("c.region") == past.region) & (F.col("c.cdn") == past.cdn)
        & (past.past_start < F.col("c.window_start"))
        & (past.past_start >= F.col("c.window_start") - F.expr(f"interval {minutes} minutes")),
        how="left",
    )
    baseline = with_ratios(
        joined.groupBy("c.window_start", "c.region", "c.cdn")
        .agg(*[F.coalesce(F.sum(f"past_{c}"), F.lit(0)).alias(c) for c in SUMS])
    ).select(
        "window_start", "region", "cdn",
        F.col("views").alias("baseline_views"),
        *[F.col(metric).alias(f"baseline_{metric}") for metric in METRICS],
    )
    return current.join(baseline, ["window_start", "region", "cdn"])


def alerts(current: DataFrame, history: DataFrame, rules: AlertRules, raised_at: Column) -> DataFrame:
    """Alert rows for the `current` pair windows that break a rule.

    One row per (window, pair, metric, rule): `absolute` when the value exceeds the metric's
    threshold, `relative` when it exceeds `relative_factor` times the pair's trailing hour
    (with enough views in both, and above the floor, so a usually perfect pair does not
    alert on a couple of stalls).
    """
    judged = trailing_baseline(current.where(F.col("views") >= rules.min_views), history, rules.trailing_minutes)
    checks = []
    for metric in METRICS:
        value, baseline = F.col(metric), F.col(f"baseline_{metric}")
        absolute = F.lit(rules.absolute(metric))
        has_baseline = (F.col("baseline_views") >= rules.min_baseline_views) & baseline.isNotNull()
        relative = F.greatest(baseline * rules.relative_factor, absolute * rules.relative_floor_share)
        for rule, threshold, applies in (
            ("absolute", absolute, F.lit(True)),
            ("relative", relative, has_baseline),
        ):
            checks.append(judged.where(applies & (value > threshold)).select(
                F.concat_ws("|", F.date_format("window_start", "yyyy-MM-dd'T'HH:mm"), "region", "cdn",
                            F.lit(metric), F.lit(rule)).alias("alert_id"),
                "window_start", "window_end", "region", "cdn",
                F.lit(metric).alias("metric"), F.lit(rule).alias("rule"),
                value.alias("value"), threshold.cast("double").alias("threshold"),
                F.when(has_baseline, baseline).cast("double").alias("baseline"),
                "views",
                raised_at.alias("raised_at"), raised_at.alias("updated_at"),
            ))
    result = checks[0]
    for more in checks[1:]:
        result = result.unionByName(more)
    return result
