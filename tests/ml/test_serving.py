"""The serving tables in memory (`ml.serving.Recommender`), over live lists written with delta-rs."""

from __future__ import annotations

import gc
import sys

import pandas as pd
import pytest

from ml import live_io
from ml.serving import Recommender


def _lists(users: list[str], videos: list[str], reason: str) -> pd.DataFrame:
    return pd.DataFrame([
        {"user_id": user, "rank": rank, "video_id": video, "score": 1.0 - rank / 100, "reason": reason,
         "model_version": "m1", "reflects_event_at": pd.Timestamp("2025-05-21T10:00Z")}
        for user in users for rank, video in enumerate(videos, start=1)
    ])


@pytest.fixture
def home(settings, tmp_path):
    lakehouse = settings.with_overrides(home=tmp_path)
    live_io.ensure_tables(lakehouse)
    return lakehouse


def _served(recommender: Recommender, user: str) -> list[tuple[int, str, str]]:
    answer = recommender.answer(user, 10)
    assert answer.strategy == "live"
    return [(item.rank, item.video_id, item.reason) for item in answer.items]


def test_a_refresh_serves_each_changed_list_whole_and_leaves_the_others_alone(home):
    live_io.merge_lists(home, _lists(["ann", "bob", "cy"], [f"v{i}" for i in range(10)], "first"), 10,
                        pd.Timestamp("2025-05-21T10:00:01Z"))
    recommender = Recommender(home)
    bob_before = _served(recommender, "bob")

    # ann's list shrinks to three new titles, a rank of cy's changes, bob's stays
    live_io.merge_lists(home, _lists(["ann"], ["w1", "w2", "w3"], "second"), 10, pd.Timestamp("2025-05-21T10:00:02Z"))
    cy = _lists(["cy"], [f"v{i}" for i in range(10)], "first")
    cy.loc[cy["rank"] == 4, ["video_id", "reason"]] = ["x4", "second"]
    live_io.merge_lists(home, cy, 10, pd.Timestamp("2025-05-21T10:00:03Z"))
    assert recommender.refresh()

    assert _served(recommender, "ann") == [(1, "w1", "second"), (2, "w2", "second"), (3, "w3", "second")]
    assert _served(recommender, "cy") == [(rank, "x4" if rank == 4 else f"v{rank - 1}",
                                          "second" if rank == 4 else "first") for rank in range(1, 11)]
    assert _served(recommender, "bob") == bob_before
    assert [video for _, video, _ in bob_before] == [f"v{i}" for i in range(10)]


def test_the_lists_in_memory_cost_a_few_objects_per_user_not_several_per_row(home):
    # a reload of 100,000 rows as Python tuples held the interpreter 30-90 ms at a time (garbage
    # collection, freeing the previous load), and every answer of the API waited behind it
    users = [f"user_{i:05d}" for i in range(2_000)]
    live_io.merge_lists(home, _lists(users, [f"v{i}" for i in range(10)], "because"), 10,
                        pd.Timestamp("2025-05-21T10:00:01Z"))
    Recommender(home)  # caches of the first read stay out of the count
    gc.collect()
    before = sys.getallocatedblocks()
    recommender = Recommender(home)
    gc.collect()
    grown = sys.getallocatedblocks() - before

    assert len(recommender.answer(users[-1], 10).items) == 10
    assert grown < 10 * len(users), f"{grown} objects for {len(users)} users' 10 rows each"
