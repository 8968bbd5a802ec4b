import json
from datetime import datetime, timedelta

from pyspark.sql import functions as F
from pyspark.sql import types as T

from ingestion import qoe
from ingestion.qoe_rules import STARTUP_BUCKETS

EVENT_SCHEMA = T.StructType([
    T.StructField("event_at", T.TimestampType()),
    T.StructField("region", T.StringType()),
    T.StructField("cdn", T.StringType()),
    T.StructField("device_type", T.StringType()),
    T.StructField("has_video_started", T.BooleanType()),
    T.StructField("has_playback_failure", T.BooleanType()),
    T.StructField("has_video_start_failure", T.BooleanType()),
    T.StructField("is_business_failure", T.BooleanType()),
    T.StructField("watch_time_seconds", T.DoubleType()),
    T.StructField("rebuffer_seconds", T.DoubleType()),
    T.StructField("startup_time_ms", T.LongType()),
    T.StructField("bitrate_kbps", T.IntegerType()),
    T.StructField("viewer_experience_score", T.DoubleType()),
])


def _at(minute: int, second: int = 0) -> datetime:
    return datetime(2026, 1, 1, 10) + timedelta(minutes=minute, seconds=second)


def _event(at, device="tv", started=True, failed=False, watch=0.0, rebuffer=0.0, startup=1000, bitrate=3000,
           region="US", cdn="akamai"):
    score = 0.0 if failed else 90.0 if started else 50.0
    return (at, region, cdn, device, started, failed, failed and not started, False, watch, rebuffer, startup, bitrate,
            score)


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
    # CTA-2066 watched time without the stalls: 90 s playing + 1 s startup of the one view that reports stalls
    assert row.watch_time_seconds == 290.0 and row.rebuffer_seconds == 10.0 and row.stall_measured_seconds == 91.0
    assert (row.video_start_failures, row.video_playback_failures) == (1, 0)
    assert (row.experience_score_sum, row.experience_scored_views) == (180.0, 3)
    # the two started views' startups (1 s and 3 s) in gold's buckets; the failed start's wait is none
    assert [row[b] for b in STARTUP_BUCKETS] == [0, 1, 0, 1, 0, 0]
    assert row.startup_time_ms_sum == 4000  # the failed start's 9 s is not a startup time
    assert row.bitrate_kbps_sum == 8000
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


def test_cdn_and_device_outside_the_known_sets_share_other_so_the_state_stays_bounded(spark):
    from ingestion.io import KAFKA_SOURCE_SCHEMA
    from ingestion.transforms import parse_kafka_records

    def record(offset, region, cdn, device):
        value = (f'{{"user_id":"u1","video_id":"v1","watch_time_seconds":10,"resolution":"720p","bitrate_kbps":1,'
                 f'"buffering_events":0,"paused":false,"skipped":false,"genre":"Drama","region":"{region}",'
                 f'"recommended":false,"timestamp":"2026-01-01T10:00:00Z","cdn":"{cdn}","device_type":"{device}"}}')
        return (b"u1", value.encode(), "t", 0, offset, _at(0), 0)

    records = spark.createDataFrame([record(0, " gb", " Fastly", "TV"), record(1, "US", "cdn-4711", "car"),
                                     record(2, "US", "cdn-4712", "")], KAFKA_SOURCE_SCHEMA)

    events = qoe.valid_events(parse_kafka_records(records)).collect()

    assert [(r.region, r.cdn, r.device_type) for r in events] == [
        ("GB", "fastly", "tv"), ("US", "other", "other"), ("US", "other", "unknown")]


def test_sliding_pair_windows_start_every_slide_and_sum_over_devices(spark):
    events = spark.createDataFrame([
        _event(_at(0, 5), device="tv"),
        _event(_at(0, 25), device="mobile", failed=True, started=False),
        _event(_at(0, 25), region="GB"),
    ], EVENT_SCHEMA)

    windows = qoe.sliding_pair_windows(events, "2 minutes", 10).where("region = 'US'")

    counts = {(r.window_start, r.window_end): (r.views, r.playback_failures) for r in windows.collect()}
    # the event at 0:05 is in the windows starting -0:50 ... 0:00; the one at 0:25 in -0:30 ... 0:20
    assert counts[(_at(0), _at(1))] == (2, 1)
    assert counts[(_at(0, 10), _at(1, 10))] == (1, 1)
    assert counts[(_at(-1, 10), _at(0, 10))] == (1, 0)
    assert len(counts) == 8  # starts from -0:50 to 0:20


def test_each_view_gets_the_experience_score_gold_gives_it(spark):
    """The hand-worked views of fct_views.yml's unit test: the monitor and gold agree view by view."""
    from ingestion.io import KAFKA_SOURCE_SCHEMA
    from ingestion.transforms import parse_kafka_records

    def event(view, device, resolution, started, error, startup, watch, rebuffer, buffering):
        return {"event_id": view, "user_id": "u1", "video_id": "v1", "watch_time_seconds": watch,
                "resolution": resolution, "bitrate_kbps": 2000, "buffering_events": buffering, "paused": False,
                "skipped": False, "genre": "Drama", "region": "US", "recommended": False,
                "timestamp": "2026-01-01T10:00:00Z", "device_type": device, "cdn": "akamai",
                "startup_time_ms": startup, "rebuffer_seconds": rebuffer, "playback_started": started,
                "error_code": error}

    views = {  # view: (event, expected score)
        "a": (event("a", "tv", "2160p", True, None, 2000, 600.0, 0.0, 0), 93.3333),
        "b": (event("b", "mobile", "360p", True, None, 8000, 90.0, 2.0, 2), 66.0614),
        "c": (event("c", "desktop", "1080p", True, "NETWORK_TIMEOUT", 1000, 30.0, 0.0, 0), 0.0),
        "d": (event("d", "tablet", "1080p", False, "GEO_BLOCKED", 300, 0.0, 0.0, 0), 0.0),
        "e": (event("e", "tv", "4K", False, None, 5000, 0.0, 0.0, 0), 50.0),
        "f": (event("f", "tv", "2160p", False, None, 400, 0.0, 0.0, 0), None),
        "g": (event("g", "car", "720p", True, None, 2000, 60.0, 0.0, 0), 90.0),  # no quality score: (80 + 100) / 2
    }
    records = spark.createDataFrame(
        [(None, json.dumps(e).encode(), "t", 0, n, _at(0), 0) for n, (e, _) in enumerate(views.values())],
        KAFKA_SOURCE_SCHEMA)
    scored = qoe.valid_events(parse_kafka_records(records)).collect()
    assert len(scored) == len(views)
    got = sorted(r.viewer_experience_score for r in scored if r.viewer_experience_score is not None)
    assert got == sorted(score for _, score in views.values() if score is not None)
    assert sum(r.has_video_start_failure for r in scored) == 1
    assert sum(r.is_business_failure for r in scored) == 1  # GEO_BLOCKED, without a category of its own


def test_the_monitor_scores_and_buckets_as_dbt_s_vars_say():
    """The monitor cannot run dbt's macros: its copies of the project's vars must not drift from them."""
    from pathlib import Path

    import yaml

    from dashboard.queries import SCORE_METRICS
    from ingestion.qoe_rules import STARTUP_EDGES_MS, AlertRules

    project = yaml.safe_load((Path(__file__).resolve().parents[2] / "dbt_project.yml").read_text())["vars"]
    assert project["device_display_heights"] == qoe.DISPLAY_HEIGHTS
    assert list(qoe.BUSINESS_ERROR_CODES) == project["business_error_codes"]
    assert list(STARTUP_EDGES_MS) == project["startup_histogram_edges_ms"]
    assert SCORE_METRICS == AlertRules.HIGHER_IS_BETTER  # the dashboard's copy (it imports no job)
