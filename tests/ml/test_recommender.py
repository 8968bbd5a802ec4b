"""ALS on a tiny catalogue with two clear tastes, the seen-item filter, popularity and the split."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pyspark.sql import functions as F

from ml.interactions import file_events
from ml.recommender import (
    ALSParams,
    evaluate_als,
    evaluate_recommenders,
    fit_als,
    fit_and_recommend,
    fit_id_index,
    holdout,
    popularity,
    recommend_popular,
    recommend_unseen,
)

EVENTS_SCHEMA = "user_id string, item_id string, weight double, timestamp timestamp"
SMALL = ALSParams(rank=4, reg_param=0.05, alpha=10.0, max_iter=8)


def _two_tastes(spark):
    """Users 0-9 like items a0..a5, users 10-19 like b0..b5; each user misses one of their six."""
    rows = []
    for user in range(20):
        group = "a" if user < 10 else "b"
        for item in range(6):
            if item != user % 6:
                rows.append((f"u{user}", f"{group}{item}", 1.0))
    return spark.createDataFrame(rows, "user_id string, item_id string, weight double")


def test_als_recommends_the_missing_item_of_the_users_own_taste_never_a_seen_one(spark):
    interactions = _two_tastes(spark)
    index = fit_id_index(interactions)
    model = fit_als(interactions, index, SMALL)
    recommended = recommend_unseen(model, index, interactions.select("user_id"), interactions, 1).collect()
    assert len(recommended) == 20
    seen = {(r.user_id, r.item_id) for r in interactions.collect()}
    assert not {(r.user_id, r.item_id) for r in recommended} & seen
    for row in recommended:
        user = int(row.user_id[1:])
        assert row.item_id == f"{'a' if user < 10 else 'b'}{user % 6}", row
        assert row.rank == 1


def test_recommendations_are_ranked_by_score_and_stop_when_the_catalogue_runs_out(spark):
    interactions = _two_tastes(spark)
    index = fit_id_index(interactions)
    model = fit_als(interactions, index, SMALL)
    # 12 items, each user has seen 5: at most 7 unseen
    rows = recommend_unseen(model, index, interactions.select("user_id"), interactions, 10).where(
        "user_id = 'u3'").orderBy("rank").collect()
    assert [r.rank for r in rows] == list(range(1, 8))
    assert all(a.score >= b.score for a, b in zip(rows, rows[1:], strict=False))


def test_popularity_baseline_skips_seen_items(spark):
    interactions = spark.createDataFrame(
        [("u1", "x", 1.0), ("u2", "x", 1.0), ("u3", "x", 1.0), ("u2", "y", 1.0), ("u3", "y", 1.0),
         ("u3", "z", 1.0), ("u1", "w", -1.0), ("u2", "w", -1.0)],
        "user_id string, item_id string, weight double",
    )
    scores = {r.item_id: r.score for r in popularity(interactions).collect()}
    assert scores == {"x": 3, "y": 2, "z": 1}  # negative evidence is not popularity
    recommended = recommend_popular(popularity(interactions), interactions.select("user_id"), interactions, 2)
    by_user = {}
    for row in recommended.orderBy("rank").collect():
        by_user.setdefault(row.user_id, []).append(row.item_id)
    assert by_user == {"u1": ["y", "z"], "u2": ["z"]}


def test_holdout_is_by_time_when_every_event_has_one(spark):
    start = datetime(2025, 1, 1)
    rows = [("u", f"i{n}", 1.0, start + timedelta(hours=n)) for n in range(100)]
    events = file_events(spark.createDataFrame(rows, EVENTS_SCHEMA))
    before, after, how = holdout(events, 0.2)
    assert how.startswith("time")
    latest_before = max(r.timestamp for r in before.collect())
    earliest_after = min(r.timestamp for r in after.collect())
    assert latest_before < earliest_after
    assert 15 <= after.count() <= 25


def test_evaluation_tunes_on_validation_and_beats_popularity_on_clear_tastes(spark):
    """Two taste groups, one blockbuster everyone watched: ALS must find the taste, popularity cannot."""
    start = datetime(2025, 1, 1)
    rows = []
    for user in range(40):
        group = "a" if user < 20 else "b"
        rows.append((f"u{user}", "hit", 1.0, start))
        for step, item in enumerate(sorted(range(8), key=lambda i: (i + user) % 8)):
            rows.append((f"u{user}", f"{group}{item}", 1.0, start + timedelta(days=1 + step)))
    events = file_events(spark.createDataFrame(rows, EVENTS_SCHEMA))
    grid = (ALSParams(rank=2, reg_param=10.0, alpha=0.1, max_iter=3), SMALL)
    report = evaluate_recommenders(events, 3, grid)
    assert report.search.best in grid
    assert {e.params for e in report.search.tried} == set(grid)
    assert report.evaluations["als_tuned"].metrics["ndcg"] > report.evaluations["popularity"].metrics["ndcg"]
    final = fit_and_recommend(events, report.search.best, 3)
    assert final.interactions == len(rows)
    assert final.recommendations.count() > 0
    assert final.fit_seconds > 0 and final.recommend_seconds > 0


@pytest.mark.parametrize("k", [1, 3])
def test_final_model_gives_k_per_user_with_enough_unseen_items(spark, k):
    undated = _two_tastes(spark).withColumn("timestamp", F.lit(None).cast("timestamp"))
    final = fit_and_recommend(file_events(undated), SMALL, k)
    counts = {r.user_id: r["count"] for r in final.recommendations.groupBy("user_id").count().collect()}
    assert counts == {f"u{u}": k for u in range(20)}


def test_evaluation_leaves_nothing_cached_in_the_session(spark):
    """ALS keeps its factors cached and the evaluation caches its splits: left behind, a long
    session (the tests, `bench ml`) ran out of driver heap for a broadcast join."""
    events = file_events(_two_tastes(spark).withColumn("timestamp", F.lit(None).cast("timestamp")))
    persisted_before = set(spark.sparkContext._jsc.getPersistentRDDs().keys())
    evaluate_recommenders(events, 3, (SMALL, ALSParams(rank=2, max_iter=2)))
    left = set(spark.sparkContext._jsc.getPersistentRDDs().keys()) - persisted_before
    assert left == set()


def test_a_frame_cached_before_an_als_evaluation_stays_cached(spark):
    """Only the ALS factors are released: a frame cached before, first computed inside, stays."""
    persisted_before = set(spark.sparkContext._jsc.getPersistentRDDs().keys())
    interactions = _two_tastes(spark)
    index = fit_id_index(interactions)
    relevant = interactions.select("user_id", "item_id").where("item_id like '%1'").cache()
    evaluate_als(interactions, relevant, SMALL, 3, index)
    new = {rdd_id: rdd.name() for rdd_id, rdd in spark.sparkContext._jsc.getPersistentRDDs().items()
           if rdd_id not in persisted_before}
    relevant.unpersist()
    assert new, "the frame's cache was released"
    assert not {"userFactors", "itemFactors"} & set(new.values())
