"""Implicit feedback, splits and relevance (pure transforms on inline rows)."""

from __future__ import annotations

from datetime import datetime

import pytest
from chispa import assert_df_equality

from ml.interactions import (
    aggregate_interactions,
    popular_by_segment,
    relevant_new_items,
    split_at,
    split_pairs,
    view_events,
)

VIEW_SCHEMA = ("user_id string, video_id string, completion_ratio double, is_skipped boolean, "
               "has_video_started boolean, event_at timestamp, region string, genre string, "
               "watch_time_seconds double, buffering_events int")


def _view(user, video, completion, skipped=False, started=True, day=1, region="US", genre="Drama"):
    return (user, video, completion, skipped, started, datetime(2025, 5, day), region, genre, 0.0, 0)


def test_evidence_rewards_completion_and_counts_skips_against(spark):
    views = spark.createDataFrame([
        _view("u1", "v1", 0.95),  # finished: 0.95 + 0.5
        _view("u1", "v1", 0.40, day=2),  # watched again, partly: + 0.4
        _view("u1", "v2", 0.02, skipped=True),  # skipped: 0.02 - 1
        _view("u1", "v3", 0.0, started=False),  # never started: not an interaction
    ], VIEW_SCHEMA)
    result = {(r.user_id, r.item_id): r for r in aggregate_interactions(views.transform(view_events())).collect()}
    assert set(result) == {("u1", "v1"), ("u1", "v2")}
    assert result[("u1", "v1")].weight == pytest.approx(1.85)
    assert result[("u1", "v1")].events == 2
    assert result[("u1", "v2")].weight == pytest.approx(-0.98)


def test_split_at_puts_each_event_on_one_side(spark):
    events = spark.createDataFrame([_view("u", f"v{d}", 0.5, day=d) for d in (1, 2, 3, 4)], VIEW_SCHEMA).transform(
        view_events())
    before, after = split_at(events, datetime(2025, 5, 3))
    assert sorted(r.item_id for r in before.collect()) == ["v1", "v2"]
    assert sorted(r.item_id for r in after.collect()) == ["v3", "v4"]


def test_split_pairs_keeps_a_pair_on_one_side(spark):
    rows = [(f"u{u}", f"i{i}", 1.0, None) for u in range(30) for i in range(10) for _ in range(2)]
    events = spark.createDataFrame(rows, "user_id string, item_id string, weight double, timestamp timestamp")
    kept, held = split_pairs(events, 0.2, seed=1)
    kept_pairs = {(r.user_id, r.item_id) for r in kept.collect()}
    held_pairs = {(r.user_id, r.item_id) for r in held.collect()}
    assert not kept_pairs & held_pairs
    assert len(kept_pairs | held_pairs) == 300
    assert 30 <= len(held_pairs) <= 90  # about 20 %


def test_relevant_items_are_new_and_not_skipped(spark):
    held_out = spark.createDataFrame([
        _view("u1", "seen", 0.9), _view("u1", "new", 0.9), _view("u1", "skipped", 0.01, skipped=True),
    ], VIEW_SCHEMA).transform(view_events())
    seen = spark.createDataFrame([("u1", "seen")], "user_id string, item_id string")
    expected = spark.createDataFrame([("u1", "new")], "user_id string, item_id string")
    assert_df_equality(relevant_new_items(held_out, seen), expected, ignore_row_order=True, ignore_nullable=True)


def test_popular_by_segment_counts_distinct_viewers_per_segment_and_overall(spark):
    events = spark.createDataFrame([
        _view("a", "v1", 0.9, region="US"), _view("a", "v1", 0.9, day=2, region="US"),
        _view("b", "v1", 0.9, region="IN"), _view("c", "v2", 0.9, region="IN"),
        _view("d", "v2", 0.01, skipped=True, region="IN"),
    ], VIEW_SCHEMA).transform(view_events())
    scores = {(r.region, r.item_id): r.score for r in popular_by_segment(events, ["region"]).collect()}
    assert scores == {("US", "v1"): 1, ("IN", "v1"): 1, ("IN", "v2"): 1, ("all", "v1"): 2, ("all", "v2"): 1}
