"""The early-exit classifier: features known at the start of a view only, the leakage guard, the fit."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from ml.classifier import (
    LABEL,
    NUMERIC_FEATURES,
    OUTCOME_COLUMNS,
    LeakageError,
    check_no_leakage,
    train_classifier,
    with_early_exit_label,
    with_view_start_features,
)


def _flipped_outcomes() -> dict:
    return {
        "completion_ratio": 1.0 - F.col("completion_ratio"),
        "is_skipped": ~F.col("is_skipped"),
        "watch_time_seconds": F.col("watch_time_seconds") * 3 + 7,
        "is_paused": ~F.col("is_paused"),
        "buffering_events": F.col("buffering_events") + 5,
        "rebuffer_seconds": F.col("rebuffer_seconds") + 9.5,
    }


def _features(views):
    return views.transform(with_early_exit_label).transform(with_view_start_features).select(
        "view_id", *NUMERIC_FEATURES
    )


def _flip_outcome_of(views, view_ids):
    chosen = F.col("view_id").isin(view_ids)
    for column, flipped in _flipped_outcomes().items():
        views = views.withColumn(column, F.when(chosen, flipped).otherwise(F.col(column)))
    return views


def test_a_views_own_outcome_never_changes_any_feature_up_to_it(spark, small_views):
    """The leakage guard on the feature builder: change what happened in a view (its label and
    every outcome column) and no feature of that view, or of any view that started no later, moves."""
    views = small_views.where("has_video_started")
    ordered = views.orderBy("event_at").select("view_id", "event_at").collect()
    for victim in (ordered[-1], ordered[len(ordered) // 2]):
        flipped = _flip_outcome_of(views, [victim.view_id])
        original = views.select("view_id", F.col("completion_ratio").alias("original"))
        assert flipped.join(original, "view_id").where("completion_ratio != original").count() == 1  # it flipped
        up_to = F.col("view_id").isin([r.view_id for r in ordered if r.event_at <= victim.event_at])
        assert_df_equality(
            _features(flipped).where(up_to), _features(views).where(up_to),
            ignore_row_order=True, allow_nan_equality=True,
        )


def test_earlier_outcomes_do_feed_later_views(spark, small_views):
    """The history features are not constant: flipping an early view moves later features of its user."""
    views = small_views.where("has_video_started")
    first = views.orderBy("event_at").first()
    later = (F.col("user_id") == first.user_id) & (F.col("event_at") > first.event_at)
    before = _features(views.where(later | (F.col("view_id") == first.view_id)))
    after = _features(_flip_outcome_of(views, [first.view_id]).where(later | (F.col("view_id") == first.view_id)))
    assert before.exceptAll(after).count() > 0


def test_label_is_a_skip_or_leaving_in_the_first_quarter(spark, views_schema):
    start = datetime(2025, 5, 14)
    rows = [
        ("v1", "u", "x", "Drama", "US", "tv", "fastly", None, 1080, 100.0, 1000, 0.1, 5000, 0, 0.0, 900,
         False, False, False, True, start),
        ("v2", "u", "x", "Drama", "US", "tv", "fastly", None, 1080, 30.0, 1000, 0.03, 5000, 0, 0.0, 900,
         False, True, False, True, start + timedelta(minutes=5)),
        ("v3", "u", "x", "Drama", "US", "tv", "fastly", None, 1080, 500.0, 1000, 0.5, 5000, 0, 0.0, 900,
         False, False, False, True, start + timedelta(minutes=9)),
        ("v4", "u", "x", "Drama", "US", "tv", "fastly", "NETWORK_TIMEOUT", 1080, 0.0, 1000, 0.0, 5000, 0, 0.0,
         900, False, False, False, False, start + timedelta(minutes=20)),
    ]
    labelled = with_early_exit_label(spark.createDataFrame(rows, views_schema))
    assert {r.view_id: r[LABEL] for r in labelled.collect()} == {"v1": 1, "v2": 1, "v3": 0}


def test_history_features_count_only_earlier_views(spark, views_schema):
    start = datetime(2025, 5, 14)

    def view(view_id, minutes, completion, genre="Drama"):
        return (view_id, "u", "x", genre, "US", "tv", "fastly", None, 1080, completion * 1000, 1000, completion,
                5000, 0, 0.0, 900, False, False, False, True, start + timedelta(minutes=minutes))

    views = spark.createDataFrame(
        [view("v1", 0, 0.05), view("v2", 10, 0.95, "Comedy"), view("v3", 20, 0.5)], views_schema)
    rows = {r.view_id: r for r in views.transform(with_early_exit_label).transform(with_view_start_features).collect()}
    assert rows["v1"].user_prior_views == 0 and rows["v1"].user_prior_early_exit_rate == -1.0
    assert rows["v3"].user_prior_views == 2
    assert rows["v3"].user_prior_early_exit_rate == pytest.approx(0.5)
    assert rows["v3"].user_prior_mean_completion == pytest.approx(0.5)
    assert rows["v3"].user_genre_prior_share == pytest.approx(0.5)  # one of two earlier views was Drama
    assert rows["v3"].user_genre_prior_early_exit_rate == pytest.approx(1.0)
    assert rows["v3"].video_prior_views == 2


def test_guard_rejects_a_feature_computed_from_the_label(spark, small_views):
    labelled = small_views.transform(with_early_exit_label).transform(with_view_start_features)
    leaky = labelled.withColumn("watched_share", F.col("completion_ratio") * 2)  # derived from the outcome
    with pytest.raises(LeakageError, match="watched_share"):
        check_no_leakage(leaky, [*NUMERIC_FEATURES, "watched_share"])
    with pytest.raises(LeakageError, match="completion_ratio"):
        check_no_leakage(labelled, ["completion_ratio"])
    assert OUTCOME_COLUMNS.isdisjoint(NUMERIC_FEATURES)
    aucs = check_no_leakage(labelled, NUMERIC_FEATURES)  # the real features pass
    assert set(aucs) == set(NUMERIC_FEATURES)


def test_classifier_beats_the_majority_class_on_a_later_test_split(spark, views_with_history):
    report = train_classifier(views_with_history)
    by_model = {e.model: e for e in report.evaluations}
    assert by_model["majority_class_early_exit"].roc_auc == pytest.approx(0.5)
    assert by_model["gbt_early_exit"].roc_auc > 0.55
    assert by_model["logistic_regression_early_exit"].roc_auc > 0.55
    test_rows = report.predictions.collect()
    assert len(test_rows) == report.test_views
    assert min(r.event_at for r in test_rows) >= report.cut
    assert {name for name, _ in report.importances} >= set(NUMERIC_FEATURES)
    assert sum(w for _, w in report.importances) == pytest.approx(1.0)
