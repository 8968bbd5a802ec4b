"""A tiny gold layer written with `deltalake`, small enough that every expected figure is worked out by hand.

The newest data: 1-minute QoE windows up to 2025-05-20 12:10 UTC, hourly marts up to 23:00 that day,
daily marts up to 2025-05-20. The tests' expected values come from the rows below, by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake

UTC_TS = pa.timestamp("us", tz="UTC")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text + "+00:00")


def _table(schema: list[tuple[str, pa.DataType]], rows: list[tuple]) -> pa.Table:
    names = [name for name, _ in schema]
    return pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in rows],
                                schema=pa.schema(schema))


LIVE_SCHEMA = [
    ("window_start", UTC_TS), ("window_end", UTC_TS), ("region", pa.string()), ("cdn", pa.string()),
    ("device_type", pa.string()), ("views", pa.int64()), ("playback_failures", pa.int64()),
    ("started_views", pa.int64()), ("watch_time_seconds", pa.float64()), ("rebuffer_seconds", pa.float64()),
    ("startup_time_ms_sum", pa.float64()), ("bitrate_kbps_sum", pa.float64()), ("stalled_time_ratio", pa.float64()),
    ("playback_failure_ratio", pa.float64()), ("mean_startup_time_ms", pa.float64()),
    ("avg_bitrate_kbps", pa.float64()), ("updated_at", UTC_TS),
]


def live_row(start: str, end: str, region: str, cdn: str, device: str, views: int, failures: int, started: int,
             watch: float, rebuffer: float, startup_sum: float, bitrate_sum: float) -> tuple:
    stalled = rebuffer / (watch + rebuffer) if watch + rebuffer else None
    return (at(start), at(end), region, cdn, device, views, failures, started, watch, rebuffer, startup_sum,
            bitrate_sum, stalled, failures / views, startup_sum / started, bitrate_sum / started, at(end))


# rows A..F; the newest window ends at 12:10
LIVE_ROWS = [
    live_row("2025-05-20T12:09", "2025-05-20T12:10", "US", "akamai", "tv", 10, 1, 9, 900.0, 100.0, 9000.0, 45000.0),
    live_row("2025-05-20T12:09", "2025-05-20T12:10", "US", "akamai", "mobile", 10, 3, 7, 300.0, 0.0, 14000.0, 14000.0),
    live_row("2025-05-20T12:05", "2025-05-20T12:06", "US", "fastly", "tv", 4, 0, 4, 400.0, 0.0, 4000.0, 8000.0),
    live_row("2025-05-20T11:54", "2025-05-20T11:55", "BR", "fastly", "tv", 7, 0, 7, 70.0, 0.0, 7000.0, 7000.0),
    live_row("2025-05-20T11:40", "2025-05-20T11:41", "BR", "akamai", "tv", 100, 50, 50, 1000.0, 1000.0, 5e4, 5e4),
    live_row("2025-05-20T10:00", "2025-05-20T10:01", "BR", "fastly", "tv", 1000, 0, 1000, 1e4, 0.0, 1e6, 1e6),
]

ALERT_SCHEMA = [
    ("alert_id", pa.string()), ("window_start", UTC_TS), ("window_end", UTC_TS), ("region", pa.string()),
    ("cdn", pa.string()), ("metric", pa.string()), ("rule", pa.string()), ("value", pa.float64()),
    ("threshold", pa.float64()), ("baseline", pa.float64()), ("views", pa.int64()), ("raised_at", UTC_TS),
    ("updated_at", UTC_TS),
]


def alert_row(alert_id: str, start: str, end: str, region: str, cdn: str, metric: str, rule: str, value: float,
              threshold: float, baseline: float | None, views: int) -> tuple:
    return (alert_id, at(start), at(end), region, cdn, metric, rule, value, threshold, baseline, views, at(end),
            at(end))


ALERT_ROWS = [
    alert_row("a1", "2025-05-20T12:09", "2025-05-20T12:10", "US", "akamai", "playback_failure_ratio", "absolute",
              0.2, 0.05, None, 20),
    alert_row("a2", "2025-05-20T12:04", "2025-05-20T12:05", "US", "fastly", "stalled_time_ratio", "relative",
              0.1, 0.05, 0.01, 9),
    alert_row("a3", "2025-05-20T12:03", "2025-05-20T12:04", "US", "fastly", "stalled_time_ratio", "relative",
              0.1, 0.05, 0.01, 9),
    alert_row("a4", "2025-05-20T11:40", "2025-05-20T11:41", "BR", "akamai", "playback_failure_ratio", "absolute",
              0.5, 0.05, 0.02, 100),
    # a window starting 10 s earlier on the same incident as a1 (the monitor's windows slide)
    alert_row("a5", "2025-05-20T12:08:50", "2025-05-20T12:09:50", "US", "akamai", "playback_failure_ratio",
              "relative", 0.3, 0.06, 0.02, 30),
]

HOURLY_QOE_SCHEMA = [
    ("region", pa.string()), ("cdn", pa.string()), ("device_type", pa.string()), ("resolution", pa.string()),
    ("video_start_attempts", pa.int64()), ("video_starts", pa.int64()), ("exits_before_video_start", pa.int64()),
    ("playback_failures", pa.int64()), ("watch_time_seconds", pa.float64()), ("rebuffer_seconds", pa.float64()),
    ("buffering_events", pa.int64()), ("bitrate_kbps_watch_seconds", pa.float64()),
    ("watch_time_seconds_1080p_plus", pa.float64()), ("startup_time_mean_ms", pa.float64()),
    ("startup_time_p50_ms", pa.float64()), ("startup_time_p95_ms", pa.float64()),
    ("stalled_time_ratio", pa.float64()), ("rebuffers_per_minute", pa.float64()),
    ("exits_before_video_start_ratio", pa.float64()), ("playback_failure_ratio", pa.float64()),
    ("watch_weighted_bitrate_kbps", pa.float64()), ("watch_time_share_1080p_plus", pa.float64()),
    ("event_date", pa.date32()), ("event_hour", UTC_TS), ("source_loaded_at", UTC_TS),
]


def hourly_qoe_row(hour: str, region: str, cdn: str, device: str, attempts: int, starts: int, failures: int,
                   watch: float, rebuffer: float, startup_mean: float, bitrate: float) -> tuple:
    return (region, cdn, device, "1080p", attempts, starts, attempts - starts - failures, failures, watch, rebuffer,
            0, bitrate * watch, watch, startup_mean, startup_mean, startup_mean,
            rebuffer / (watch + rebuffer) if watch + rebuffer else None, 0.0, 0.0, failures / attempts,
            bitrate, 1.0, at(hour).date(), at(hour), at("2025-05-21T00:00"))


HOURLY_QOE_ROWS = [
    hourly_qoe_row("2025-05-20T23:00", "US", "akamai", "tv", 10, 9, 1, 900.0, 100.0, 1000.0, 5000.0),
    hourly_qoe_row("2025-05-20T22:00", "US", "akamai", "mobile", 30, 27, 0, 2700.0, 0.0, 2000.0, 3000.0),
    hourly_qoe_row("2025-05-19T23:00", "US", "akamai", "tv", 1000, 0, 1000, 0.0, 0.0, 0.0, 0.0),
    hourly_qoe_row("2025-05-20T10:00", "BR", "fastly", "tv", 5, 5, 0, 500.0, 500.0, 500.0, 1000.0),
]

ENGAGEMENT_SCHEMA = [
    ("video_id", pa.string()), ("genre", pa.string()), ("region", pa.string()), ("device_type", pa.string()),
    ("views", pa.int64()), ("unique_viewers", pa.int64()), ("watch_time_seconds", pa.float64()),
    ("watch_hours", pa.float64()), ("mean_watch_time_seconds", pa.float64()), ("completion_rate", pa.float64()),
    ("skip_rate", pa.float64()), ("pause_rate", pa.float64()), ("event_date", pa.date32()),
    ("source_loaded_at", UTC_TS),
]


def engagement_row(day: str, video: str, genre: str, region: str, views: int, watch_hours: float,
                   completion: float, skip: float, pause: float) -> tuple:
    return (video, genre, region, "tv", views, views, watch_hours * 3600, watch_hours, watch_hours * 3600 / views,
            completion, skip, pause, date.fromisoformat(day), at("2025-05-21T00:00"))


ENGAGEMENT_ROWS = [
    engagement_row("2025-05-20", "v1", "Drama", "US", 3, 2.0, 0.5, 0.2, 0.1),
    engagement_row("2025-05-20", "v2", "Kids", "BR", 1, 0.5, 1.0, 0.0, 0.0),
    engagement_row("2025-05-19", "v1", "Drama", "BR", 4, 3.0, 0.25, 0.5, 0.25),
    engagement_row("2025-05-13", "v3", "Drama", "US", 6, 1.0, 0.5, 0.0, 0.0),
    engagement_row("2025-04-01", "v2", "Kids", "US", 100, 50.0, 0.5, 0.5, 0.5),
]

ACTIVE_USERS_SCHEMA = [
    ("daily_active_users", pa.int64()), ("weekly_active_users", pa.int64()), ("monthly_active_users", pa.int64()),
    ("activity_date", pa.date32()),
]
ACTIVE_USERS_ROWS = [(3, 5, 9, date(2025, 5, 19)), (2, 6, 10, date(2025, 5, 20))]

UPTAKE_SCHEMA = [
    ("views", pa.int64()), ("recommended_views", pa.int64()), ("recommendation_uptake_rate", pa.float64()),
    ("recommended_completion_rate", pa.float64()), ("organic_completion_rate", pa.float64()),
    ("recommended_skip_rate", pa.float64()), ("organic_skip_rate", pa.float64()), ("event_date", pa.date32()),
    ("source_loaded_at", UTC_TS),
]
UPTAKE_ROWS = [
    (4, 1, 0.25, 0.5, 0.25, 0.0, 0.5, date(2025, 5, 19), at("2025-05-21T00:00")),
    (4, 2, 0.5, 0.75, 0.5, 0.25, 0.25, date(2025, 5, 20), at("2025-05-21T00:00")),
]

QUALITY_SCHEMA = [
    ("received_records", pa.int64()), ("valid_records", pa.int64()), ("quarantined_records", pa.int64()),
    ("duplicates_removed", pa.int64()), ("late_arrivals", pa.int64()), ("quarantine_ratio", pa.float64()),
    ("ingested_date", pa.date32()), ("ingested_hour", UTC_TS), ("last_ingested_at", UTC_TS),
]
QUALITY_ROWS = [
    (100, 90, 10, 2, 1, 0.1, date(2025, 5, 20), at("2025-05-20T10:00"), at("2025-05-20T10:59")),
    (50, 50, 0, 0, 0, 0.0, date(2025, 5, 20), at("2025-05-20T11:00"), at("2025-05-20T11:30")),
    (1000, 0, 1000, 0, 0, 1.0, date(2025, 5, 18), at("2025-05-18T09:00"), at("2025-05-18T09:59")),
]

QUARANTINE_SCHEMA = [
    ("reason", pa.string()), ("quarantined_records", pa.int64()), ("ingested_date", pa.date32()),
    ("ingested_hour", UTC_TS), ("last_ingested_at", UTC_TS),
]
QUARANTINE_ROWS = [
    ("not_json", 6, date(2025, 5, 20), at("2025-05-20T10:00"), at("2025-05-20T10:59")),
    ("missing_field", 4, date(2025, 5, 20), at("2025-05-20T10:00"), at("2025-05-20T10:59")),
    ("not_json", 1000, date(2025, 5, 18), at("2025-05-18T09:00"), at("2025-05-18T09:59")),
]

METRICS_SCHEMA = [
    ("model", pa.string()), ("metric", pa.string()), ("k", pa.int32()), ("value", pa.float64()),
    ("split", pa.string()), ("trained_at", UTC_TS), ("input_table", pa.string()), ("input_version", pa.int64()),
    ("model_version", pa.string()),
]


def metric_row(model: str, metric: str, k: int | None, value: float, split: str, run: str) -> tuple:
    return (model, metric, k, value, split, at(run), "gold.fct_views", 0, f"{run}-v0")


OLD_RUN, NEW_RUN = "2025-05-21T01:00", "2025-05-21T02:00"
METRICS_ROWS = [
    metric_row("als_tuned", "ndcg", 10, 0.1, "test", OLD_RUN),
    metric_row("popularity", "ndcg", 10, 0.15, "test", OLD_RUN),
    metric_row("gbt_early_exit", "roc_auc", None, 0.6, "test", OLD_RUN),
    metric_row("gbt_early_exit", "positive_rate", None, 0.3, "train", OLD_RUN),
    metric_row("als_tuned", "ndcg", 10, 0.2, "test", NEW_RUN),
    metric_row("als_tuned", "precision", 10, 0.05, "test", NEW_RUN),
    metric_row("als[rank=10]", "ndcg", 10, 0.3, "validation", NEW_RUN),
]

VIDEOS_SCHEMA = [("video_id", pa.string()), ("title", pa.string()), ("genre", pa.string()),
                 ("duration_seconds", pa.int32())]
VIDEOS_ROWS = [
    ("v1", "Title One", "Drama", 3600), ("v2", "Title Two", "Kids", 1200), ("v3", "Title Three", "Drama", 60),
]

USERS_SCHEMA = [("user_id", pa.string()), ("latest_region", pa.string()), ("latest_device_type", pa.string())]
USERS_ROWS = [("u1", "US", "tv"), ("u3", "BR", "mobile")]

RECOMMENDATIONS_SCHEMA = [("user_id", pa.string()), ("rank", pa.int32()), ("video_id", pa.string()),
                          ("score", pa.float64()), ("model_version", pa.string())]
RECOMMENDATIONS_ROWS = [("u1", 1, "v2", 0.9, "m1"), ("u1", 2, "v3", 0.8, "m1"), ("u2", 1, "v1", 0.7, "m1")]

POPULAR_SCHEMA = [("region", pa.string()), ("genre", pa.string()), ("rank", pa.int32()), ("video_id", pa.string()),
                  ("score", pa.float64()), ("model_version", pa.string())]
POPULAR_ROWS = [("all", "all", 1, "v1", 10.0, "m1"), ("BR", "all", 1, "v3", 5.0, "m1")]

# the dashboard never reads gold.fct_views; its presence tells a dbt-built lakehouse from an empty one
VIEWS_SCHEMA = [("view_id", pa.string()), ("user_id", pa.string()), ("video_id", pa.string()),
                ("event_date", pa.date32())]
VIEWS_ROWS = [("view-1", "u1", "v1", date(2025, 5, 20))]

GOLD: dict[str, tuple[list, list]] = {
    "fct_views": (VIEWS_SCHEMA, VIEWS_ROWS),
    "qoe_live": (LIVE_SCHEMA, LIVE_ROWS),
    "qoe_alerts": (ALERT_SCHEMA, ALERT_ROWS),
    "fct_hourly_qoe": (HOURLY_QOE_SCHEMA, HOURLY_QOE_ROWS),
    "fct_daily_engagement": (ENGAGEMENT_SCHEMA, ENGAGEMENT_ROWS),
    "fct_daily_active_users": (ACTIVE_USERS_SCHEMA, ACTIVE_USERS_ROWS),
    "fct_daily_recommendation_uptake": (UPTAKE_SCHEMA, UPTAKE_ROWS),
    "fct_hourly_data_quality": (QUALITY_SCHEMA, QUALITY_ROWS),
    "fct_hourly_quarantine": (QUARANTINE_SCHEMA, QUARANTINE_ROWS),
    "model_metrics": (METRICS_SCHEMA, METRICS_ROWS),
    "dim_videos": (VIDEOS_SCHEMA, VIDEOS_ROWS),
    "dim_users": (USERS_SCHEMA, USERS_ROWS),
    "user_recommendations": (RECOMMENDATIONS_SCHEMA, RECOMMENDATIONS_ROWS),
    "popular_videos": (POPULAR_SCHEMA, POPULAR_ROWS),
}
LIVE_TABLES = ("qoe_live", "qoe_alerts")
ML_TABLES = ("model_metrics", "user_recommendations", "popular_videos")
DBT_TABLES = tuple(t for t in GOLD if t not in LIVE_TABLES + ML_TABLES)


def write_gold(home: Path, tables: Iterable[str] = GOLD) -> Path:
    """Writes the named tables of GOLD under `<home>/gold/`; returns `home`."""
    for name in tables:
        schema, rows = GOLD[name]
        write_deltalake(str(home / "gold" / name), _table(schema, rows))
    return home


def append_live_window(home: Path, row: tuple) -> None:
    write_deltalake(str(home / "gold" / "qoe_live"), _table(LIVE_SCHEMA, [row]), mode="append")


@pytest.fixture(scope="session")
def gold_home(tmp_path_factory) -> Path:
    """A lakehouse home with every table of GOLD. Read-only for the tests: copy it to change it."""
    return write_gold(tmp_path_factory.mktemp("dashboard-gold"))


@pytest.fixture
def make_home(tmp_path) -> Callable[..., Path]:
    """`make_home(tables)`: a fresh home with only those tables of GOLD (none: an empty lakehouse)."""
    def make(tables: Iterable[str] = ()) -> Path:
        home = tmp_path / "lakehouse"
        home.mkdir(exist_ok=True)
        return write_gold(home, tables)
    return make


@pytest.fixture(scope="session")
def live_row_factory():
    return live_row


@pytest.fixture(scope="session")
def append_window():
    return append_live_window


@pytest.fixture(scope="session")
def table_groups() -> dict[str, tuple[str, ...]]:
    return {"live": LIVE_TABLES, "ml": ML_TABLES, "dbt": DBT_TABLES}


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# gold.qoe_live and gold.fct_hourly_qoe as this release writes them: scores, start vs playback failures,
# CTA-2066 watched time and the startup-time histogram (GOLD above keeps an older monitor's layout)
CURRENT_LIVE = pd.DataFrame({
    "window_start": [_ts("2025-05-20T12:09")] * 2, "window_end": [_ts("2025-05-20T12:10")] * 2,
    "region": ["US", "US"], "cdn": ["akamai", "akamai"], "device_type": ["tv", "mobile"],
    "views": [10, 10], "playback_failures": [1, 3], "started_views": [9, 8],
    "watch_time_seconds": [900.0, 300.0], "rebuffer_seconds": [100.0, 0.0],
    "stall_measured_seconds": [400.0, 300.0], "startup_time_ms_sum": [9000.0, 14000.0],
    "bitrate_kbps_sum": [45000.0, 14000.0], "video_start_failures": [1, 2], "video_playback_failures": [0, 1],
    "experience_score_sum": [900.0, 450.0], "experience_scored_views": [10, 5],
})
CURRENT_HOURLY = pd.DataFrame({
    "region": ["US"] * 3, "cdn": ["akamai"] * 3,
    "event_hour": [_ts("2025-05-20T22:00"), _ts("2025-05-20T23:00"), _ts("2025-05-19T12:00")],  # the last: too old
    "video_start_attempts": [10, 30, 100], "video_starts": [8, 25, 100], "playback_failures": [2, 3, 0],
    "video_start_failures": [1, 2, 0], "video_playback_failures": [1, 1, 0],
    "watch_time_seconds": [800.0, 2500.0, 1e4], "rebuffer_seconds": [40.0, 60.0, 0.0],
    "watched_time_seconds": [850.0, 2600.0, 1e4],  # with the startup wait
    "viewer_experience_score_sum": [700.0, 2200.0, 0.0], "viewer_experience_scored_views": [9, 29, 100],
    "startup_time_mean_ms": [1000.0, 2000.0, 0.0], "bitrate_kbps_watch_seconds": [8e5, 2.5e6, 0.0],
    "startup_time_views_0_to_1000_ms": [2, 5, 100], "startup_time_views_1000_to_8000_ms": [5, 20, 0],
    "startup_time_views_8000_ms_plus": [1, 0, 0],
})


@pytest.fixture(scope="session")
def current_layout_home(tmp_path_factory) -> Path:
    """Every table of GOLD, with qoe_live and fct_hourly_qoe in this release's layout (CURRENT_*)."""
    home = write_gold(tmp_path_factory.mktemp("dashboard-current"),
                      [t for t in GOLD if t not in ("qoe_live", "fct_hourly_qoe")])
    write_deltalake(str(home / "gold" / "qoe_live"), CURRENT_LIVE)
    write_deltalake(str(home / "gold" / "fct_hourly_qoe"), CURRENT_HOURLY)
    return home
