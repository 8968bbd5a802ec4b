"""The ingest benchmark runs end to end on small numbers (its figures are not judged here)."""

import pytest

from reelhouse.bench.ingest import bench_ingest

pytestmark = pytest.mark.integration


def test_bench_ingest_measures_every_figure_and_cleans_up(settings, spark, tmp_path):
    result = bench_ingest(settings.with_overrides(home=tmp_path), events=20_000, latency_seconds=4,
                          warmup_seconds=2, rounds=1)
    assert result["generator"]["produce_events"] == 20_000  # read from `reelhouse produce`'s own summary
    assert result["generator"]["produce_to_kafka_events_per_second"] > 0
    assert result["kafka_to_bronze"]["events"] == 20_000
    against = result["against_plain_spark"]
    [plain_rate] = against["plain_spark_events_per_second"]
    [stream_rate] = against["reelhouse_stream_events_per_second"]
    assert plain_rate > 0 and stream_rate > 0
    assert against["ratio"] == against["ratio_per_round"][0]
    assert abs(against["ratio"] - stream_rate / plain_rate) < 0.01
    latency = result["latency_at_design_load"]
    assert latency["landed"] == latency["events"] == 6_000
    assert 0 < latency["p50_seconds"] <= latency["p95_seconds"] <= latency["max_seconds"]
    assert set(result["targets_met"]) == set(result["targets"])
    assert not (tmp_path / "_bench").exists() or not any((tmp_path / "_bench").iterdir())


def test_bench_ml_scores_every_model_and_the_oracle_on_small_data(spark, generated_views, tmp_path):
    import csv

    from foundation.settings import Settings
    from ml.recommender import ALSParams
    from reelhouse.bench.ml import bench_ml

    views = generated_views(spark, 8_000, seed=42, n_users=10_000, n_videos=500)  # the demo's world
    home = tmp_path / "home"
    views.write.format("delta").save(str(home / "gold" / "fct_views"))
    ratings = tmp_path / "ratings.csv"
    with ratings.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["user_id", "item_id", "weight"])
        writer.writerows((u, i, 1 + (u * i) % 5) for u in range(60) for i in range(40) if (u + i) % 3)
    grid = (ALSParams(rank=4, max_iter=4), ALSParams(rank=8, reg_param=1.0, alpha=5.0, max_iter=4))
    result = bench_ml(Settings.from_env({"REELHOUSE_HOME": str(home)}).with_overrides(shuffle_partitions=2),
                      ratings, grid)
    demo, file = result["datasets"]
    assert demo["events"] == views.where("has_video_started").count()
    assert demo["split"].startswith("time") and file["split"].startswith("random")
    for data in (demo, file):
        assert set(data["models"]) == {"popularity", "als_default", "als_tuned"}
        assert {s["params"] for s in data["search"]} == {p.label() for p in grid}, data.get("search_failed")
        assert 0 <= data["models"]["als_tuned"]["ndcg"] <= 1
        assert data["fit_recommend_at_100k"]["seconds"] > 0
    assert 0 < demo["oracle"]["ndcg"] <= 1
    assert result["recommend_cli"] == {"skipped": "no gold.user_recommendations: run `reelhouse train` first"}


def test_bench_recommend_judges_every_model_on_the_next_view(spark, generated_views, tmp_path, capsys):
    import csv

    from foundation.settings import Settings
    from ml.recommender import ALSParams
    from reelhouse.bench.recommend import bench_recommend

    views = generated_views(spark, 4_000, seed=42, n_users=10_000, n_videos=500)  # the demo's world
    home = tmp_path / "home"
    views.write.format("delta").save(str(home / "gold" / "fct_views"))
    ratings = tmp_path / "ratings.csv"
    with ratings.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["user_id", "item_id", "weight", "timestamp"])
        writer.writerows((u, i, 1 + (u * i) % 5, 1_000_000 + 97 * u + 13 * i)
                         for u in range(60) for i in range(40) if (u + i) % 3)
    grid = (ALSParams(rank=4, max_iter=4),)
    result = bench_recommend(Settings.from_env({"REELHOUSE_HOME": str(home)}).with_overrides(shuffle_partitions=2),
                             ratings, grid)
    demo, file = result["datasets"]
    started = views.where("has_video_started").count()
    assert demo["train_views"] + demo["replayed_views"] == started
    assert file["train_views"] + file["replayed_views"] == 1_600
    for data in (demo, file):
        assert set(data["models"]) == {"popularity", "als_frozen", "als_fold_in", "realtime"}
        assert data["params"] in {p.label() for p in grid}
        for scores in data["models"].values():
            assert scores["views"] == -(-data["replayed_views"] // data["scored_every"])
            assert 0 <= scores["ndcg"] <= scores["hr"] <= 1
    assert demo["models"]["realtime"]["hr"] > 0
    assert 0 < demo["oracle_held_out"]["ndcg"] <= 1
    said = capsys.readouterr().out  # a run of many minutes says where it is
    for data in (demo, file):
        assert f"bench recommend: {data['dataset']}: ALS {data['params']} fitted in" in said
        realtime = data["ndcg_over_popularity"]["realtime"]
        assert f"bench recommend: {data['dataset']}: NDCG@10 over popularity" in said
        assert f"realtime {realtime:.2f}x" in said


def test_the_bench_fit_copies_each_label_array_out_of_the_jvm_once(spark, generated_views, monkeypatch):
    """`StringIndexerModel.labels` copies the whole array from the JVM at each access: read per
    user, it took 45 ms a user (minutes on the demo's 10,000 users)."""
    from pyspark.ml.feature import StringIndexerModel

    from ml.recommender import ALSParams
    from reelhouse.bench import recommend

    reads = []
    labels = StringIndexerModel.labels
    monkeypatch.setattr(StringIndexerModel, "labels", property(lambda model: reads.append(1) or labels.fget(model)))
    views = recommend._pandas(generated_views(spark, 1_000, seed=3, n_users=50, n_videos=30))
    model, frozen = recommend._fit(spark, views, ALSParams(rank=2, max_iter=2))
    assert len(reads) == 2  # the titles' and the users'
    assert len(frozen) > 20 and set(frozen) <= set(views.user_id)
    assert set(model.item_ids) <= set(views.video_id)
