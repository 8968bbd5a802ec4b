"""`reelhouse bench ml`: the recommender's quality and speed, as JSON.

Data: the demo's gold.fct_views in the lakehouse home (`make demo` first) and, with
`--interactions FILE`, any interactions file (e.g. MovieLens 100k, `make movielens`).
For each: popularity, Spark-default ALS and tuned ALS (parameters chosen on a validation
split inside the training part) scored on the held-out split (the last 20 % by time),
the tuned/popularity NDCG@10 ratio against the 1.6x target, and the seconds to fit the
final model and recommend for every user, also on exactly 100,000 interactions (target < 10 s).
On the demo data, the "oracle" ranks by the generator's true choice probabilities (taste
community, favourite genres): the best any model can expect on that world.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foundation.delta import is_delta_table
from foundation.settings import Settings
from foundation.spark import build_spark
from ingestion.generator import (
    GENRES,
    ORGANIC_IN_FAVOURITE_GENRE,
    RECOMMENDED_IN_FAVOURITE_GENRE,
    RECOMMENDED_SHARE,
    World,
)
from ml import io
from ml.interactions import aggregate_interactions, file_events, relevant_new_items, view_events
from ml.metrics import ranking_metrics
from ml.recommender import SEARCH_GRID, ALSParams, evaluate_and_fit, evaluated_users, fit_and_recommend, holdout
from ml.tables import USER_RECOMMENDATIONS
from reelhouse.bench.scratch import machine

K = 10
TARGET_NDCG_RATIO = 1.6
TARGET_FIT_RECOMMEND_SECONDS = 10.0
SPEED_INTERACTIONS = 100_000


def bench_ml(settings: Settings, interactions: Path | None = None,
             grid: tuple[ALSParams, ...] = SEARCH_GRID) -> dict:
    io.require_views(settings)  # before a JVM starts: the error stays one line
    if interactions is not None:
        io.file_format(interactions)
    spark = build_spark(settings, "reelhouse-bench-ml")
    views, version = io.read_views(spark, settings)
    demo_events = views.transform(view_events()).cache()
    datasets = [_bench_events(f"demo: gold.fct_views version {version}", demo_events, grid)]
    datasets[0]["oracle"] = oracle(demo_events, World.build(42))
    datasets[0]["oracle_over_popularity"] = round(
        datasets[0]["oracle"]["ndcg"] / datasets[0]["models"]["popularity"]["ndcg"], 3
    )
    if interactions is not None:
        events = file_events(io.read_interactions_file(spark, interactions)).cache()
        datasets.append(_bench_events(str(interactions), events, grid))
        events.unpersist()
    demo_events.unpersist()
    return {
        "machine": machine(),
        "recommend_cli": _recommend_latency(settings, views),
        "k": K,
        "targets": {"ndcg_tuned_over_popularity": TARGET_NDCG_RATIO,
                    "fit_recommend_seconds_at_100k": TARGET_FIT_RECOMMEND_SECONDS},
        "datasets": datasets,
    }


def _bench_events(name: str, events: DataFrame, grid: tuple[ALSParams, ...]) -> dict:
    report, final = evaluate_and_fit(events, K, grid)
    subset = _first_interactions(events, SPEED_INTERACTIONS).cache()
    subset.count()  # chosen before the clock starts
    speed = fit_and_recommend(subset, report.search.best, K)
    result = {
        "dataset": name,
        "events": events.count(),
        "split": report.split,
        "train_interactions": report.train_interactions,
        "models": {model: e.as_dict() for model, e in report.evaluations.items()},
        "ndcg_tuned_over_popularity": round(report.ratio(), 3),
        "ndcg_default_over_popularity": round(report.ratio("als_default"), 3),
        "target_met": report.ratio() >= TARGET_NDCG_RATIO,
        "search": [{"params": e.params.label(), "validation_ndcg": round(e.metrics["ndcg"], 5)}
                   for e in report.search.tried],
        "search_failed": report.search.failed,
        "final_model": {"interactions": final.interactions, "fit_seconds": round(final.fit_seconds, 2),
                        "recommend_seconds": round(final.recommend_seconds, 2)},
        "fit_recommend_at_100k": {
            "interactions": speed.interactions,
            "seconds": round(speed.fit_seconds + speed.recommend_seconds, 2),
            "target_met": speed.fit_seconds + speed.recommend_seconds < TARGET_FIT_RECOMMEND_SECONDS,
        },
    }
    if report.cold_start:
        result["cold_start"] = report.cold_start.as_dict()
    final.recommendations.unpersist()
    speed.recommendations.unpersist()
    subset.unpersist()
    return result


def _recommend_latency(settings: Settings, views: DataFrame) -> dict:
    """Wall seconds of whole `reelhouse recommend` processes (Python start-up included) for known
    users and a cold start, on the tables of the lakehouse home (`reelhouse train` or `make demo`)."""
    if not is_delta_table(settings.table_path(*USER_RECOMMENDATIONS)):
        return {"skipped": "no gold.user_recommendations: run `reelhouse train` first"}
    users = [r.user_id for r in views.select("user_id").distinct().orderBy("user_id").limit(5).collect()]
    env = {**os.environ, "REELHOUSE_HOME": str(settings.home)}

    def seconds(*arguments: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "reelhouse.cli", "recommend", *arguments], env=env, check=True,
                       capture_output=True)
        return time.perf_counter() - started

    known = sorted(seconds("--user", user, "-k", "10") for user in users)
    cold = sorted(seconds("--user", f"new_{n}", "--region", "IN", "--genre", "Drama") for n in range(3))
    return {
        "known_user_median_seconds": round(known[len(known) // 2], 3),
        "known_user_max_seconds": round(known[-1], 3),
        "cold_start_median_seconds": round(cold[1], 3),
        "target_seconds": 1.0,
    }


def _first_interactions(events: DataFrame, count: int) -> DataFrame:
    """The events of the first `count` (user, item) pairs by first appearance."""
    firsts = events.groupBy("user_id", "item_id").agg(F.min("timestamp").alias("first_at"))
    pairs = firsts.orderBy("first_at", "user_id", "item_id").limit(count).select("user_id", "item_id")
    return events.join(pairs, ["user_id", "item_id"])


def oracle(events: DataFrame, world: World) -> dict:
    """NDCG@k etc. of ranking unseen titles by the generator's own pick probabilities (see
    `ingestion.generator.simulate_view`): the ceiling for any model on the demo world."""
    train_events, test_events, _ = holdout(events)
    train = aggregate_interactions(train_events)
    relevant = relevant_new_items(test_events, train)
    warm = evaluated_users(relevant, train)  # the users the models are scored on
    seen: dict[str, set[str]] = {}
    for row in train.join(warm, "user_id").select("user_id", "item_id").collect():
        seen.setdefault(row.user_id, set()).add(row.item_id)
    video_ids = [v.video_id for v in world.videos]
    genre_of = np.array([GENRES.index(v.genre) for v in world.videos])
    # weights of each community per title (cumulative lists -> increments)
    weights = np.array([np.diff(np.concatenate([[0.0], t.video_cum])) for t in world.tastes])
    users = {u.user_id: u for u in world.users}
    p_genre = (RECOMMENDED_SHARE * RECOMMENDED_IN_FAVOURITE_GENRE
               + (1 - RECOMMENDED_SHARE) * ORGANIC_IN_FAVOURITE_GENRE)
    rows = []
    for user_id, items in seen.items():
        user = users[user_id]
        w = weights[world.community[user_id]]
        score = (1 - p_genre) * w / w.sum()
        for genre in user.favorite_genres:
            in_genre = genre_of == GENRES.index(genre)
            score = score + p_genre / len(user.favorite_genres) * np.where(in_genre, w, 0) / w[in_genre].sum()
        for i, video_id in enumerate(video_ids):
            if video_id in items:
                score[i] = -1
        for rank, i in enumerate(np.argsort(-score)[:K], start=1):
            rows.append((user_id, rank, video_ids[i], float(score[i])))
    recommended = events.sparkSession.createDataFrame(rows, "user_id string, rank int, item_id string, score double")
    metrics = ranking_metrics(recommended, relevant.join(warm, "user_id"), K)
    return {k: round(v, 5) for k, v in metrics.items()}
