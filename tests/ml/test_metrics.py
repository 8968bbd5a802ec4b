"""Ranking and classification metrics against hand-computed examples."""

from __future__ import annotations

import math

import pytest

from ml.metrics import binary_metrics, catalog_coverage, per_user_ranking_metrics, ranking_metrics

RECOMMENDED = [
    ("ann", 1, "a"), ("ann", 2, "b"), ("ann", 3, "c"),
    ("bob", 1, "e"), ("bob", 2, "f"), ("bob", 3, "g"),
]
RELEVANT = [("ann", "a"), ("ann", "c"), ("ann", "d"), ("bob", "f"), ("cid", "a")]


@pytest.fixture()
def frames(spark):
    return (spark.createDataFrame(RECOMMENDED, "user_id string, rank int, item_id string"),
            spark.createDataFrame(RELEVANT, "user_id string, item_id string"))


def test_per_user_metrics_match_hand_computation(frames):
    recommended, relevant = frames
    rows = {r.user_id: r for r in per_user_ranking_metrics(recommended, relevant, 3).collect()}
    # ann: hits at positions 1 and 3 of 3 relevant
    ann_dcg = 1 / math.log2(2) + 1 / math.log2(4)
    ann_idcg = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert rows["ann"].precision == pytest.approx(2 / 3)
    assert rows["ann"].recall == pytest.approx(2 / 3)
    assert rows["ann"].ndcg == pytest.approx(ann_dcg / ann_idcg)
    assert rows["ann"].map == pytest.approx((1 / 1 + 2 / 3) / 3)
    # bob: one relevant item, found at position 2
    assert rows["bob"].precision == pytest.approx(1 / 3)
    assert rows["bob"].recall == pytest.approx(1.0)
    assert rows["bob"].ndcg == pytest.approx((1 / math.log2(3)) / 1.0)
    assert rows["bob"].map == pytest.approx(1 / 2)
    # cid got nothing: every metric is 0, and cid still counts in the mean
    assert (rows["cid"].precision, rows["cid"].recall, rows["cid"].ndcg, rows["cid"].map) == (0, 0, 0, 0)


def test_means_cover_every_user_with_a_relevant_item(frames):
    recommended, relevant = frames
    metrics = ranking_metrics(recommended, relevant, 3)
    assert metrics["users"] == 3
    assert metrics["precision"] == pytest.approx((2 / 3 + 1 / 3 + 0) / 3)
    assert metrics["recall"] == pytest.approx((2 / 3 + 1 + 0) / 3)


def test_only_the_top_k_count(frames):
    recommended, relevant = frames
    at_one = {r.user_id: r for r in per_user_ranking_metrics(recommended, relevant, 1).collect()}
    assert at_one["ann"].precision == 1.0 and at_one["ann"].ndcg == 1.0
    assert at_one["bob"].precision == 0.0  # bob's hit is at position 2


def test_catalog_coverage_counts_distinct_items(frames):
    recommended, _ = frames
    assert catalog_coverage(recommended, 12) == pytest.approx(6 / 12)


def test_binary_metrics_of_a_perfect_and_a_constant_score(spark):
    labelled = spark.createDataFrame([(0.9, 1), (0.8, 1), (0.3, 0), (0.1, 0), (0.2, 0)], "score double, label int")
    perfect = binary_metrics(labelled, "score", "label")
    assert perfect["roc_auc"] == pytest.approx(1.0)
    assert perfect["pr_auc"] == pytest.approx(1.0)
    constant = binary_metrics(labelled.withColumn("score", labelled.score * 0 + 0.4), "score", "label")
    assert constant["roc_auc"] == pytest.approx(0.5)
