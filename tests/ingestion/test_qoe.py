from datetime import datetime, timedelta

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ingestion import qoe

EVENT_SCHEMA = T.StructType([
    T.StructField("event_at", T.TimestampType()),
    T.StructField("region", T.StringType()),
    T.StructField("cdn", T.StringType()),
    T.StructField("device_type", T.StringType()),
    T.StructField("has_video_started", T.BooleanType()),
    T.StructField("has_playback_failure", T.BooleanType()),
    T.StructField("watch_time_seconds", T.DoubleType()),
    T.StructField("rebuffer_seconds", T.DoubleType()),
    T.StructField("startup_time_ms", T.LongType()),
    T.StructField("bitrate_kbps", T.IntegerType()),
])


def _at(minute: int, second: int = 0) -> datetime:
    return datetime(2026, 1, 1, 10) + timedelta(minutes=minute, seconds=second)


def _event(at, device="tv", started=True, failed=False, watch=0.0, rebuffer=0.0, startup=1000, bitrate=3000,
           region="US", cdn="akamai"):
    return (at, region, cdn, device, started, failed, watch, rebuffer, startup, bitrate)


def test_windows_sum_per_minute_region_cdn_device_and_measure_only_started_views(spark):
    events = spark.createDataFrame([
        _event(_at(0, 5), watch=90.0, rebuffer=10.0, startup=1000, bitrate=3000),
        _event(_at(0, 50), watch=200.0, rebuffer=None, startup=3000, bitrate=5000),  # stalls not measured
        _event(_at(0, 59), started=False, failed=True, startup=9000, bitrate=800),
        _event(_at(1, 0), watch=60.0),  # the next minute
        _event(_at(0, 30), device="mobile", watch=30.0),
    ], EVENT_SCHEMA)

    windows = qoe.live_windows(events, "2 minutes")
    live = windows.where((F.col("device_type") == "tv") & (F.col("window_start") == _at(0)))

    row = live.first()
    assert (row.views, row.playback_failures, row.started_views) == (3, 1, 2)
    assert row.window_end == _at(1)
    assert row.watch_time_seconds == 290.0 and row.rebuffer_seconds == 10.0 and row.stall_measured_seconds == 90.0
    assert row.stalled_time_ratio == pytest.approx(10 / 100)
    assert row.playback_failure_ratio == pytest.approx(1 / 3)
    assert row.mean_startup_time_ms == pytest.approx(2000)  # the failed start's 9 s is not a startup time
    assert row.avg_bitrate_kbps == pytest.approx(4000)
    assert windows.count() == 3


def test_events_of_seed_format_without_cdn_or_device_count_as_unknown(spark):
    from ingestion.io import KAFKA_SOURCE_SCHEMA
    from ingestion.transforms import parse_kafka_records

    value = (b'{"user_id":"u1","video_id":"v1","watch_time_seconds":10,"resolution":"720p","bitrate_kbps":2000,'
             b'"buffering_events":0,"paused":false,"skipped":false,"genre":"Drama","region":"US",'
             b'"recommended":false,"timestamp":"2026-01-01T10:00:00Z"}')
    records = spark.createDataFrame([(b"u1", value, "t", 0, 0, _at(0), 0), (b"u2", b"{", "t", 0, 1, _at(0), 0)],
                                    KAFKA_SOURCE_SCHEMA)

    events = qoe.valid_events(parse_kafka_records(records))

    assert [(r.region, r.cdn, r.device_type, r.has_video_started) for r in events.collect()] == [
        ("US", "unknown", "unknown", True)]


PAIR_SCHEMA = "window_start timestamp, window_end timestamp, region string, cdn string, " + ", ".join(
    f"{column} {'long' if column in ('views', 'playback_failures', 'started_views') else 'double'}"
    for column in qoe.SUMS)


def _pair(spark, rows):
    """(minute, views, failures, playing seconds, stalled seconds) per US/akamai window."""
    data = [(_at(m), _at(m + 1), region, "akamai", views, failures, views, float(playing), float(stalled),
             float(playing), 1000.0 * views, 3000.0 * views)
            for m, views, failures, playing, stalled, region in [(*r, "US") if len(r) == 5 else r for r in rows]]
    return qoe.with_ratios(spark.createDataFrame(data, PAIR_SCHEMA))


def test_pairs_roll_up_devices_from_sums_not_from_ratios(spark):
    live = _pair(spark, [(0, 100, 1, 1000, 0), (0, 10, 5, 10, 90)]).withColumn("device_type", F.lit("x"))
    pairs = qoe.pair_windows(live)
    row = pairs.first()
    assert pairs.count() == 1
    assert row.views == 110 and row.playback_failure_ratio == pytest.approx(6 / 110)
    assert row.stalled_time_ratio == pytest.approx(90 / 1100)


RULES = qoe.AlertRules(stalled_time_ratio=0.05, playback_failure_ratio=0.10, relative_factor=3.0,
                       relative_floor_share=0.2, min_views=100, min_baseline_views=500, trailing_minutes=60)


def _alerts(spark, history_rows, current_minute):
    history = _pair(spark, history_rows)
    current = history.where(F.col("window_start") == _at(current_minute))
    return qoe.alerts(current, history, RULES, F.lit(_at(100)).cast("timestamp"))


def test_an_absolute_alert_needs_the_threshold_crossed_and_enough_views(spark):
    over = _alerts(spark, [(0, 200, 21, 1000, 0)], 0)
    too_few = _alerts(spark, [(0, 99, 50, 1000, 0)], 0)
    at_threshold = _alerts(spark, [(0, 200, 20, 1000, 0)], 0)

    assert_df_equality(
        over.select("alert_id", "metric", "rule", "value", "threshold", "baseline", "views"),
        spark.createDataFrame(
            [("2026-01-01T10:00|US|akamai|playback_failure_ratio|absolute", "playback_failure_ratio", "absolute",
              21 / 200, 0.10, None, 200)],
            "alert_id string, metric string, rule string, value double, threshold double, baseline double, "
            "views long"),
        ignore_nullable=True,
    )
    assert too_few.count() == 0 and at_threshold.count() == 0


def test_a_relative_alert_compares_with_the_trailing_hour_of_the_same_pair_only(spark):
    # trailing hour: 1,000 views with 1 % failures; 4 % now is 4x that, under the 10 % absolute
    history = [(10, 500, 5, 1000, 0), (30, 500, 5, 1000, 0), (45, 200, 8, 1000, 0),
               (20, 5000, 2500, 1000, 0, "GB")]  # another pair's bad hour is not this pair's baseline
    raised = _alerts(spark, history, 45).collect()

    assert [(r.metric, r.rule) for r in raised] == [("playback_failure_ratio", "relative")]
    assert raised[0].baseline == pytest.approx(0.01)
    assert raised[0].threshold == pytest.approx(0.03)


def test_no_relative_alert_without_a_baseline_of_the_last_hour_or_under_the_floor(spark):
    within_the_hour = _alerts(spark, [(1, 600, 6, 1000, 0), (61, 200, 8, 1000, 0)], 61)
    too_old = _alerts(spark, [(0, 600, 6, 1000, 0), (61, 200, 8, 1000, 0)], 61)
    thin = _alerts(spark, [(1, 400, 4, 1000, 0), (61, 200, 8, 1000, 0)], 61)
    # a perfect hour: 3x of 0 is 0, but 1 % stays under the floor (20 % of 10 %)
    floor = _alerts(spark, [(1, 600, 0, 1000, 0), (61, 200, 2, 1000, 0)], 61)

    assert [r.rule for r in within_the_hour.collect()] == ["relative"]
    assert too_old.count() == 0 and thin.count() == 0 and floor.count() == 0


def test_stalled_time_alerts_like_failures(spark):
    raised = _alerts(spark, [(1, 600, 0, 1000, 10), (2, 200, 0, 900, 100)], 2).collect()

    assert sorted((r.metric, r.rule) for r in raised) == [
        ("stalled_time_ratio", "absolute"), ("stalled_time_ratio", "relative")]
    assert raised[0].value == pytest.approx(100 / 1000)
