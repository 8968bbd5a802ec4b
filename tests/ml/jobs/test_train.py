"""`reelhouse train` on a small gold.fct_views: the Delta outputs, the version it records, the lookups."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import functions as F

from foundation.settings import Settings
from ml import serving
from ml.jobs import train
from ml.recommender import ALSParams
from ml.tables import ALL

pytestmark = pytest.mark.integration

GRID = (ALSParams(rank=4, reg_param=0.1, alpha=1.0, max_iter=5),
        ALSParams(rank=8, reg_param=1.0, alpha=5.0, max_iter=5))
K = 5


def _read(spark, settings, table):
    return spark.read.format("delta").load(str(settings.table_path("gold", table)))


@pytest.fixture(scope="module")
def trained(spark, small_views, tmp_path_factory):
    home = tmp_path_factory.mktemp("ml_home")
    settings = Settings.from_env({"REELHOUSE_HOME": str(home)}).with_overrides(shuffle_partitions=2)
    views_path = str(settings.table_path("gold", "fct_views"))
    small_views.write.format("delta").save(views_path)  # version 0
    late = small_views.limit(200).withColumn("user_id", F.concat(F.lit("late_"), "user_id")).withColumn(
        "view_id", F.concat(F.lit("late_"), "view_id"))
    late.write.format("delta").mode("append").save(views_path)  # version 1: must not be read
    result = train.run(spark, settings, train.TrainOptions(k=K, input_version=0, grid=GRID))
    return settings, result


def test_recommendations_are_top_k_unseen_titles_of_every_user_of_the_recorded_version(spark, small_views, trained):
    settings, result = trained
    recommendations = _read(spark, settings, "user_recommendations")
    assert recommendations.columns == ["user_id", "rank", "video_id", "score", "model_version"]
    rows = recommendations.collect()
    evidence = {}
    for view in small_views.where("has_video_started").collect():  # the formula of ml.interactions, by hand
        c = min(max(view.completion_ratio, 0.0), 1.0)
        value = c + (0.5 if c >= 0.9 else 0.0) - (1.0 if view.is_skipped else 0.0)
        evidence[(view.user_id, view.video_id)] = evidence.get((view.user_id, view.video_id), 0.0) + value
    learnable = {user for (user, _), weight in evidence.items() if weight > 0}
    assert {r.user_id for r in rows} == learnable  # nobody from version 1, nobody with skips only
    ranks = {}
    for row in rows:
        ranks.setdefault(row.user_id, []).append(row.rank)
    assert all(sorted(r) == list(range(1, K + 1)) for r in ranks.values())
    seen = {(r.user_id, r.video_id) for r in small_views.where("has_video_started").collect()}
    assert not seen & {(r.user_id, r.video_id) for r in rows}
    assert {r.model_version for r in rows} == {result.model_version}


def test_metrics_record_the_models_the_baselines_and_the_input_version(spark, trained):
    settings, result = trained
    metrics = _read(spark, settings, "model_metrics").where(F.col("model_version") == result.model_version)
    values = {(r.model, r.metric): r for r in metrics.collect()}
    for model in ("popularity", "als_default", "als_tuned"):
        for metric in ("ndcg", "map", "precision", "recall", "coverage"):
            row = values[(model, metric)]
            assert 0.0 <= row.value <= 1.0 and row.k == K and row.split == "test"
    for model in ("gbt_early_exit", "logistic_regression_early_exit", "majority_class_early_exit"):
        assert 0.0 <= values[(model, "roc_auc")].value <= 1.0
    assert {(r.input_table, r.input_version) for r in metrics.collect()} == {("gold.fct_views", 0)}
    assert result.input_version == 0


def test_predictions_cover_the_classifiers_test_split(spark, small_views, trained):
    settings, result = trained
    predictions = _read(spark, settings, "view_predictions")
    assert predictions.count() == result.classifier.test_views
    assert predictions.where("early_exit_probability < 0 or early_exit_probability > 1").count() == 0
    assert predictions.join(small_views, "view_id", "left_anti").count() == 0


def test_models_are_saved_with_their_version_and_manifest(trained):
    settings, result = trained
    directory = settings.home / "_models" / result.model_version
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["input_version"] == 0
    model = ALSModel.load(str(directory / "als"))
    assert model.rank == result.recommender.search.best.rank


def test_recommend_reads_the_table_for_a_known_user(spark, trained):
    settings, _ = trained
    some = _read(spark, settings, "user_recommendations").orderBy("user_id").first().user_id
    expected = [r.video_id for r in _read(spark, settings, "user_recommendations")
                .where(F.col("user_id") == some).orderBy("rank").collect()]
    answer = serving.recommend(settings, some, 3)
    assert answer.strategy == "als"
    assert [i.video_id for i in answer.items] == expected[:3]


def test_recommend_explains_a_cold_start(spark, trained):
    settings, _ = trained
    popular = _read(spark, settings, "popular_videos")
    answer = serving.recommend(settings, "someone_new", K, region="us", genre="drama")  # any case
    expected = [r.video_id for r in popular.where("region = 'US' and genre = 'Drama'").orderBy("rank").limit(K)
                .collect()]
    assert answer.strategy == "cold_start"
    assert [i.video_id for i in answer.items] == expected
    assert "cold start" in answer.explanation and "drama titles" in answer.explanation
    nowhere = serving.recommend(settings, "o'brien", K, region="ZZ")  # a quote in an id is data, not SQL
    expected = [r.video_id for r in popular.where(f"region = '{ALL}' and genre = '{ALL}'").orderBy("rank")
                .limit(K).collect()]
    assert [i.video_id for i in nowhere.items] == expected
    assert "everywhere" in nowhere.explanation


def test_recommend_needs_no_spark(trained):
    settings, _ = trained
    probe = ("import sys; from ml.serving import recommend; from foundation.settings import Settings; "
             f"recommend(Settings.from_env({{'REELHOUSE_HOME': {str(settings.home)!r}}}), 'x', 3, region='US'); "
             "print('pyspark' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


def test_a_run_is_reproduced_from_its_recorded_input_version(spark, trained):
    """Training again on the version recorded in the manifest gives the same recommendations."""
    settings, first = trained
    manifest = json.loads((settings.home / "_models" / first.model_version / "manifest.json").read_text())
    before = {(r.user_id, r.rank, r.video_id) for r in _read(spark, settings, "user_recommendations").collect()}
    again = train.run(spark, settings, train.TrainOptions(
        k=K, input_version=manifest["input_version"], grid=GRID, models=("recommender",)))
    after = {(r.user_id, r.rank, r.video_id) for r in _read(spark, settings, "user_recommendations").collect()}
    assert after == before
    assert again.recommender.search.best == first.recommender.search.best
    assert again.recommender.evaluations["als_tuned"].metrics == first.recommender.evaluations["als_tuned"].metrics
