"""Views shaped like gold.fct_views, made from the generator (no dbt needed for the ML unit tests)."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from ingestion.generator import World, iter_events

VIEWS_SCHEMA = (
    "view_id string, user_id string, video_id string, genre string, region string, device_type string, "
    "cdn string, error_code string, resolution_height int, watch_time_seconds double, "
    "video_duration_seconds int, completion_ratio double, bitrate_kbps int, buffering_events int, "
    "rebuffer_seconds double, startup_time_ms int, is_paused boolean, is_skipped boolean, "
    "is_recommended boolean, has_video_started boolean, event_at timestamp"
)


def generated_views(spark, events: int, seed: int = 5, n_users: int = 300, n_videos: int = 60):
    world = World.build(seed, n_videos=n_videos, n_users=n_users)
    duration = {v.video_id: v.duration_seconds for v in world.videos}
    rows = []
    for e in itertools.islice(iter_events(seed, world, days=7, expected_events=events), events):
        length = duration[e["video_id"]]
        rows.append((
            e["event_id"], e["user_id"], e["video_id"], e["genre"], e["region"], e["device_type"], e["cdn"],
            e["error_code"], int(e["resolution"].rstrip("p")), float(e["watch_time_seconds"]), length,
            min(e["watch_time_seconds"] / length, 1.0), e["bitrate_kbps"], e["buffering_events"],
            float(e["rebuffer_seconds"]), e["startup_time_ms"], e["paused"], e["skipped"], e["recommended"],
            e["playback_started"], datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")),
        ))
    return spark.createDataFrame(rows, VIEWS_SCHEMA)


@pytest.fixture(scope="session")
def small_views(spark):
    """6,000 generated views of 300 users and 60 titles, cached."""
    return generated_views(spark, 6_000).cache()


@pytest.fixture(scope="session")
def views_schema() -> str:
    return VIEWS_SCHEMA


@pytest.fixture(scope="session")
def views_with_history(spark):
    """20,000 generated views of 200 users: about 100 each, so that a user's history says something."""
    return generated_views(spark, 20_000, seed=9, n_users=200, n_videos=80).cache()
