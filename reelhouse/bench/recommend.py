"""`reelhouse bench recommend`: the recommenders judged on the next view, as JSON.

Data: the demo's gold.fct_views (started views; `make demo` first) and, with
`--interactions FILE`, an interactions file ordered by its timestamps (MovieLens 100k:
`make movielens`; each rating is a finished view, its weight the evidence).
For each: the earlier 80 % in time trains ALS (parameters chosen as `reelhouse train` does, on a
validation split inside the training part); the later 20 % is replayed in time order and
`ml.next_view.replay` scores popularity, the frozen batch ALS, ALS with fold-in and the
real-time recommender on every view (HR@10, NDCG@10). On the demo data the "oracle" of
`reelhouse bench ml` (the generator's own pick probabilities) is reported beside them.
Targets: real-time ≥ 1.6× popularity's NDCG@10 on the demo data, and above the frozen ALS on both.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from foundation.settings import Settings
from foundation.spark import build_spark
from ingestion.generator import World
from ml import io, live, live_io
from ml.evidence import views_evidence
from ml.interactions import aggregate_interactions, file_events, relevant_new_items, view_events
from ml.next_view import replay, split_in_time
from ml.recommender import SEARCH_GRID, ALSParams, fit_als, fit_id_index, holdout, search_params
from reelhouse.bench.ml import oracle
from reelhouse.bench.scratch import machine

K = 10
TARGET_REALTIME_OVER_POPULARITY = 1.6
MAX_SCORED_VIEWS = 20_000  # views scored per data set (every view still enters the history)


def bench_recommend(settings: Settings, interactions: Path | None = None,
                    grid: tuple[ALSParams, ...] = SEARCH_GRID) -> dict:
    io.require_views(settings)  # before a JVM starts: the error stays one line
    if interactions is not None:
        io.check_file_paths(interactions, interactions)
    spark = build_spark(settings, "reelhouse-bench-recommend")
    views, version = io.read_views(spark, settings)
    started = views.where("has_video_started").select(
        F.col("view_id").alias("event_id"), "user_id", "video_id", "event_at", "completion_ratio", "is_skipped",
        "region", "genre")
    demo = _pandas(started)
    datasets = [_dataset(spark, f"demo: gold.fct_views version {version}", demo, live_io.load_catalog(settings),
                         grid, _trained_params(settings, version))]
    demo_oracle = oracle(views.transform(view_events()), World.build(42))
    datasets[0]["oracle_held_out"] = demo_oracle
    datasets[0]["target_met"] = (datasets[0]["ndcg_over_popularity"]["realtime"] >= TARGET_REALTIME_OVER_POPULARITY
                                 and _beats_frozen(datasets[0]))
    if interactions is not None:
        rows = io.read_interactions_file(spark, interactions).withColumn("n", F.monotonically_increasing_id())
        file_views = _pandas(rows.select(
            F.concat(F.lit("row-"), F.col("n").cast("string")).alias("event_id"), "user_id",
            F.col("item_id").alias("video_id"), F.col("timestamp").alias("event_at"),
            F.lit(1.0).alias("completion_ratio"), F.lit(False).alias("is_skipped"),
            F.lit(None).cast("string").alias("region"), F.lit(None).cast("string").alias("genre"), "weight"))
        result = _dataset(spark, str(interactions), file_views, live.Catalog({}, {}, {}), grid)
        result["target_met"] = _beats_frozen(result)
        datasets.append(result)
    return {
        "machine": machine(),
        "k": K,
        "protocol": "next view: train on the earlier 80 % in time, replay the rest in time order, rank before "
                    "each started view with everything known before it; finished titles left out",
        "targets": {"realtime_ndcg_over_popularity_demo": TARGET_REALTIME_OVER_POPULARITY,
                    "realtime_over_als_frozen": "above, on both data sets"},
        "datasets": datasets,
    }


def _say(line: str) -> None:
    print(f"bench recommend: {line}", flush=True)


def _pandas(frame) -> pd.DataFrame:
    rows = frame.toPandas()
    rows["event_at"] = pd.to_datetime(rows.event_at, utc=True)
    return rows


def _beats_frozen(result: dict) -> bool:
    models = result["models"]
    return models["realtime"]["ndcg"] > models["als_frozen"]["ndcg"]


def _trained_params(settings: Settings, version: int) -> ALSParams | None:
    """The parameters `reelhouse train` chose on this version of gold.fct_views (its validation
    split lies inside the same earlier 80 %), so the demo data needs no second search."""
    for manifest in sorted(live_io.models_dir(settings).glob("*/manifest.json"), reverse=True):
        recorded = json.loads(manifest.read_text())
        if recorded.get("input_version") == version and "recommender" in recorded:
            return ALSParams(**recorded["recommender"]["params"])
    return None


def _dataset(spark: SparkSession, name: str, views: pd.DataFrame, catalog: live.Catalog,
             grid: tuple[ALSParams, ...], params: ALSParams | None = None) -> dict:
    train, test = split_in_time(views)
    started = time.perf_counter()
    chosen_by = "reelhouse train's search on this table version" if params else "a search on the training part"
    _say(f"{name}: {len(views):,} views, {len(train):,} to train on; ALS parameters from {chosen_by}")
    params = params or _tuned(spark, train, grid)
    model, frozen = _fit(spark, train, params)
    fitted = time.perf_counter()
    every = max(1, len(test) // MAX_SCORED_VIEWS)
    _say(f"{name}: ALS {params.label()} fitted in {fitted - started:.0f} s; replaying {len(test):,} views "
         f"(scoring every {every})")
    report = replay(train, test, model, frozen, catalog, K, every)
    result = report.as_dict()
    _say(f"{name}: NDCG@{K} over popularity " + ", ".join(
        f"{model_name} {ratio:.2f}x" for model_name, ratio in result["ndcg_over_popularity"].items()))
    return {
        "dataset": name,
        "views": len(views),
        "split_at": str(test.event_at.min()),
        "params": params.label(),
        "params_chosen_by": chosen_by,
        "scored_every": every,
        **result,
        "fit_seconds": round(fitted - started, 1),
        "replay_seconds": round(time.perf_counter() - fitted, 1),
    }


def _interactions(spark: SparkSession, views: pd.DataFrame):
    """(user_id, item_id, weight, timestamp, is_relevant) as Spark events: the views' evidence."""
    weights = views_evidence(views)
    frame = views.assign(weight=weights, is_relevant=weights > 0)
    return spark.createDataFrame(frame[["user_id", "video_id", "weight", "event_at", "is_relevant"]]
                                 .rename(columns={"video_id": "item_id", "event_at": "timestamp"}))


def _tuned(spark: SparkSession, train: pd.DataFrame, grid: tuple[ALSParams, ...]) -> ALSParams:
    """As `reelhouse train`: the best NDCG@k on a validation split inside the training part."""
    events = file_events(_interactions(spark, train).drop("is_relevant")).cache()
    fit_events, validation_events, _ = holdout(events)
    fit = aggregate_interactions(fit_events).cache()
    return search_params(fit, relevant_new_items(validation_events, fit).cache(), K, grid).best


def _fit(spark: SparkSession, train: pd.DataFrame, params: ALSParams) -> tuple[live.ItemModel, dict]:
    interactions = aggregate_interactions(_interactions(spark, train)).cache()
    index = fit_id_index(interactions)
    als = fit_als(interactions, index, params)
    items = sorted(als.itemFactors.collect(), key=lambda r: r.id)
    # `labels` copies the whole array out of the JVM on every access: read each once
    item_labels, user_labels = index.items.labels, index.users.labels
    model = live.ItemModel.of("bench", [item_labels[r.id] for r in items],
                              np.array([r.features for r in items], dtype=np.float64), params.alpha, params.reg_param)
    frozen = {user_labels[r.id]: np.array(r.features, dtype=np.float64) for r in als.userFactors.collect()}
    interactions.unpersist()
    return model, frozen
