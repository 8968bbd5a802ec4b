"""ALS (implicit feedback), the popularity baseline, the parameter search and the evaluation.

Fitting is computation, not IO: functions here take DataFrames and return models, DataFrames
or numbers; reading and writing Delta is in `ml.io`, wiring in `ml.jobs`.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from pyspark.ml.feature import IndexToString, StringIndexer, StringIndexerModel
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foundation.spark import releasing_new_caches
from ml.interactions import (
    aggregate_interactions,
    popular_by_segment,
    relevant_new_items,
    split_at,
    split_pairs,
    top_by,
)
from ml.metrics import catalog_coverage, ranking_metrics

SEED = 42
ALS_FACTORS = ("userFactors", "itemFactors")  # the names Spark's ALS gives the factor RDDs it leaves cached


@dataclass(frozen=True)
class ALSParams:
    rank: int = 10  # Spark's defaults: what an untuned model gets
    reg_param: float = 0.1
    alpha: float = 1.0
    max_iter: int = 10

    def label(self) -> str:
        return f"rank={self.rank} regParam={self.reg_param:g} alpha={self.alpha:g} maxIter={self.max_iter}"


DEFAULT_PARAMS = ALSParams()
SEARCH_GRID = tuple(
    ALSParams(rank=rank, reg_param=reg, alpha=alpha)
    for rank, reg, alpha in itertools.product((10, 32), (0.1, 1.0, 10.0), (1.0, 5.0, 20.0))
)


def parameter_grid(search: bool) -> tuple[ALSParams, ...]:
    """The 18-set search, or Spark's default ALS parameters only (`--no-search`)."""
    return SEARCH_GRID if search else (DEFAULT_PARAMS,)


@dataclass
class IdIndex:
    """Dense integer ids for ALS, and the way back to the original ids."""

    users: StringIndexerModel
    items: StringIndexerModel

    def indexed(self, frame: DataFrame) -> DataFrame:
        """Adds user_index/item_index; rows with an id the index has not seen are dropped."""
        return self.items.transform(self.users.transform(frame))

    @property
    def catalog_size(self) -> int:
        return len(self.items.labels)


def fit_id_index(interactions: DataFrame) -> IdIndex:
    users = StringIndexer(inputCol="user_id", outputCol="user_index", handleInvalid="skip",
                          stringOrderType="alphabetAsc").fit(interactions)
    items = StringIndexer(inputCol="item_id", outputCol="item_index", handleInvalid="skip",
                          stringOrderType="alphabetAsc").fit(interactions)
    return IdIndex(users, items)


def learnable_users(interactions: DataFrame) -> DataFrame:
    """Users with at least one positive interaction: the ones ALS can learn a taste for.

    Spark's implicit ALS scales a user's regularization by their positive interactions, so a
    user with only skips gets none, and with strongly regularized (near-singular) item factors
    the normal equation fails to solve. Such users are served like new ones (cold start).
    """
    return interactions.where(F.col("weight") > 0).select("user_id").distinct()


def evaluated_users(relevant: DataFrame, train: DataFrame) -> DataFrame:
    """The users every model is scored on: a new title they valued, and a taste ALS could learn."""
    return relevant.select("user_id").distinct().join(learnable_users(train), "user_id")


def fit_als(interactions: DataFrame, index: IdIndex, params: ALSParams, blocks: int | None = None) -> ALSModel:
    """interactions: (user_id, item_id, weight); the weight is the confidence of implicit ALS.

    ALS splits users and items into `blocks` blocks each (default: the cluster's parallelism;
    Spark's 10 only adds tasks on a small machine: 4 blocks took 8.1 s and 2 took 5.7 s to fit
    115k interactions on 2 cores).
    """
    blocks = blocks or max(2, interactions.sparkSession.sparkContext.defaultParallelism)
    positive_items = interactions.where(F.col("weight") > 0).select("item_id").distinct()  # same reason
    interactions = interactions.join(learnable_users(interactions), "user_id").join(positive_items, "item_id")
    als = ALS(
        userCol="user_index", itemCol="item_index", ratingCol="weight", implicitPrefs=True,
        rank=params.rank, regParam=params.reg_param, alpha=params.alpha, maxIter=params.max_iter,
        numUserBlocks=blocks, numItemBlocks=blocks, coldStartStrategy="drop", seed=SEED,
    )
    return als.fit(index.indexed(interactions).select("user_index", "item_index", "weight"))


def recommend_unseen(model: ALSModel, index: IdIndex, users: DataFrame, seen: DataFrame, k: int) -> DataFrame:
    """Top-k (user_id, rank, item_id, score) per user in `users`, never an item in `seen` (user_id, item_id).

    Each user's scores for every item are one matrix product in the Python workers
    (`mapInArrow`, item factors shipped with the function), seen items masked out. On the
    demo data that took 2.7 s for 10,000 users where `recommendForUserSubset` + anti-join +
    window took 8-9 s for 5,700; it scales out with the users; the item factors must fit in
    a worker's memory (a catalog of 100k titles at rank 64 is 25 MB).
    """
    items = sorted(model.itemFactors.collect(), key=lambda r: r.id)
    item_ids = np.array([r.id for r in items], dtype=np.int32)
    item_matrix = np.array([r.features for r in items], dtype=np.float32).reshape(len(items), model.rank)
    seen_lists = (
        index.indexed(seen.select("user_id", "item_id"))
        .groupBy(F.col("user_index").cast("int").alias("id"))
        .agg(F.collect_set(F.col("item_index").cast("int")).alias("seen"))
    )
    wanted = index.users.transform(users.select("user_id").distinct()).select(
        F.col("user_index").cast("int").alias("id")
    )
    factors = model.userFactors.join(wanted, "id").join(seen_lists, "id", "left")
    ranked = factors.mapInArrow(
        _top_unseen(item_ids, item_matrix, k), "user_index double, rank int, item_index double, score double"
    )
    to_user = IndexToString(inputCol="user_index", outputCol="user_id", labels=index.users.labels)
    to_item = IndexToString(inputCol="item_index", outputCol="item_id", labels=index.items.labels)
    return to_item.transform(to_user.transform(ranked)).select("user_id", "rank", "item_id", "score")


def _top_unseen(item_ids: np.ndarray, item_matrix: np.ndarray, k: int):
    position = {int(item): i for i, item in enumerate(item_ids)}

    def inner(batches):
        import pyarrow as pa

        for batch in batches:
            if batch.num_rows == 0:
                continue
            users = batch.column("id").to_numpy()
            features = batch.column("features")
            vectors = features.flatten().to_numpy(zero_copy_only=False).reshape(len(users), item_matrix.shape[1])
            scores = vectors.astype(np.float32) @ item_matrix.T
            for row, seen in enumerate(batch.column("seen").to_pylist()):
                for item in seen or ():
                    if item in position:
                        scores[row, position[item]] = -np.inf
            top = min(k, scores.shape[1])
            best = np.argpartition(-scores, top - 1, axis=1)[:, :top]
            best_scores = np.take_along_axis(scores, best, axis=1)
            order = np.argsort(-best_scores, axis=1, kind="stable")
            best, best_scores = np.take_along_axis(best, order, axis=1), np.take_along_axis(best_scores, order, axis=1)
            keep = np.isfinite(best_scores)  # fewer than k unseen items left
            yield pa.RecordBatch.from_pydict({
                "user_index": np.repeat(users, top)[keep.ravel()].astype(np.float64),
                "rank": np.tile(np.arange(1, top + 1, dtype=np.int32), len(users))[keep.ravel()],
                "item_index": item_ids[best].ravel()[keep.ravel()].astype(np.float64),
                "score": best_scores.ravel()[keep.ravel()].astype(np.float64),
            })

    return inner


def popularity(interactions: DataFrame) -> DataFrame:
    """(item_id, score): how many users valued the item (positive weight)."""
    return (
        interactions.where(F.col("weight") > 0)
        .groupBy("item_id")
        .agg(F.countDistinct("user_id").cast("double").alias("score"))
    )


def recommend_popular(popular: DataFrame, users: DataFrame, seen: DataFrame, k: int) -> DataFrame:
    """The baseline: the most popular items each user has not seen, as (user_id, rank, item_id, score)."""
    seen_pairs = seen.select("user_id", "item_id").distinct()
    most_seen = seen_pairs.join(users.select("user_id").distinct(), "user_id").groupBy("user_id").count()
    widest = most_seen.agg(F.max("count")).first()[0] or 0
    head = popular.transform(top_by([], F.desc("score"), k + widest, "popularity_rank"))
    return (
        users.select("user_id").distinct().crossJoin(head.select("item_id", "score"))
        .join(seen_pairs, ["user_id", "item_id"], "left_anti")
        .transform(top_by(["user_id"], F.desc("score"), k))
        .select("user_id", "rank", "item_id", "score")
    )


def recommend_popular_in_segment(
    popular_by_segment: DataFrame, users: DataFrame, segment_cols: list[str], k: int
) -> DataFrame:
    """Cold start: each user gets the top-k of their segment (e.g. region); users carry the segment columns."""
    head = popular_by_segment.transform(top_by(segment_cols, F.desc("score"), k, "rank"))
    return users.join(head, segment_cols).select("user_id", "rank", "item_id", "score")


@dataclass
class Evaluation:
    model: str
    metrics: dict[str, float]
    params: ALSParams | None = None
    fit_seconds: float = 0.0
    recommend_seconds: float = 0.0

    def as_dict(self) -> dict:
        out = {"model": self.model, **{k: round(v, 5) for k, v in self.metrics.items()}}
        if self.params:
            out["params"] = asdict(self.params)
        out["fit_seconds"] = round(self.fit_seconds, 2)
        out["recommend_seconds"] = round(self.recommend_seconds, 2)
        return out


def evaluate_als(
    train: DataFrame, relevant: DataFrame, params: ALSParams, k: int, index: IdIndex | None = None
) -> Evaluation:
    """Fit on `train` (user_id, item_id, weight), recommend k unseen items to the users of `relevant`
    with a positive interaction in train, and score against `relevant` (user_id, item_id: new items they valued).
    The model is dropped with its cached factors."""
    index = index or fit_id_index(train)
    with releasing_new_caches(train.sparkSession, ALS_FACTORS):
        started = time.perf_counter()
        model = fit_als(train, index, params)
        model.userFactors.count()  # fitting is lazy in parts: time it here, not in recommend
        fitted = time.perf_counter()
        warm_users = evaluated_users(relevant, train)
        recommended = recommend_unseen(model, index, warm_users, train, k).cache()
        metrics = _ranking(recommended, relevant.join(warm_users, "user_id"), k, index.catalog_size)
        done = time.perf_counter()
        recommended.unpersist()
    return Evaluation("als", metrics, params, fitted - started, done - fitted)


def evaluate_popularity(train: DataFrame, relevant: DataFrame, k: int) -> Evaluation:
    started = time.perf_counter()
    warm_users = evaluated_users(relevant, train)
    recommended = recommend_popular(popularity(train), warm_users, train, k).cache()
    catalog = train.select("item_id").distinct().count()
    metrics = _ranking(recommended, relevant.join(warm_users, "user_id"), k, catalog)
    recommended.unpersist()
    return Evaluation("popularity", metrics, recommend_seconds=time.perf_counter() - started)


def _ranking(recommended: DataFrame, relevant: DataFrame, k: int, catalog_size: int) -> dict[str, float]:
    metrics = ranking_metrics(recommended, relevant, k)
    metrics["coverage"] = catalog_coverage(recommended, catalog_size)
    return metrics


@dataclass
class SearchResult:
    best: ALSParams
    tried: list[Evaluation] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def search_params(
    fit_part: DataFrame, validation_relevant: DataFrame, k: int, grid: tuple[ALSParams, ...] = SEARCH_GRID
) -> SearchResult:
    """Pick the parameters with the best NDCG@k on the validation split (never the test split)."""
    index = fit_id_index(fit_part)
    tried, failed = [], {}
    for params in grid:
        try:
            tried.append(evaluate_als(fit_part, validation_relevant, params, k, index))
        except Exception as error:  # e.g. a singular normal equation at some alpha: skip that set
            lines = str(error).strip().splitlines() or [type(error).__name__]
            failed[params.label()] = next((line for line in lines if "Exception:" in line), lines[0])[:200]
    if not tried:
        raise ValueError(f"every ALS parameter set failed, e.g. {next(iter(failed.values()))}")
    best = max(tried, key=lambda e: e.metrics["ndcg"])
    return SearchResult(best.params, tried, failed)


# -- the whole evaluation: a held-out split, a search on an inner split, three models --------

HELD_OUT_SHARE = 0.2


def holdout(events: DataFrame, share: float = HELD_OUT_SHARE) -> tuple[DataFrame, DataFrame, str]:
    """(earlier, later, description): by time when every event has one, else by (user, item) pair."""
    stats = events.agg(F.count("*").alias("rows"), F.count("timestamp").alias("stamped")).first()
    if stats["rows"] and stats["rows"] == stats["stamped"]:
        cut = events.select(F.percentile_approx("timestamp", 1 - share, 10_000)).first()[0]
        before, after = split_at(events, cut)
        return before, after, f"time: held out events from {cut} on (the last {share:.0%})"
    before, after = split_pairs(events, share, SEED)
    return before, after, f"random: {share:.0%} of (user, item) pairs held out (no timestamps)"


@dataclass
class RecommenderReport:
    k: int
    split: str
    search: SearchResult
    evaluations: dict[str, Evaluation]  # on the held-out split: popularity, als_default, als_tuned
    cold_start: Evaluation | None
    train_interactions: int

    def ratio(self, model: str = "als_tuned", baseline: str = "popularity", metric: str = "ndcg") -> float:
        base = self.evaluations[baseline].metrics[metric]
        return self.evaluations[model].metrics[metric] / base if base else float("inf")


def evaluate_recommenders(
    events: DataFrame, k: int, grid: tuple[ALSParams, ...] = SEARCH_GRID, share: float = HELD_OUT_SHARE
) -> RecommenderReport:
    """events: (user_id, item_id, weight, timestamp, is_relevant[, region]) from `ml.interactions`.

    Hold out the last `share` (the test split); split the rest the same way again and choose
    ALS parameters on that validation split; then fit popularity, default ALS and tuned ALS on
    everything before the test split and score them on it. With a `region` column, users new
    in the test split get the cold-start fallback and are scored separately.
    """
    train_events, test_events, how = holdout(events, share)
    fit_events, validation_events, _ = holdout(train_events, share)
    fit = aggregate_interactions(fit_events).cache()
    validation_relevant = relevant_new_items(validation_events, fit).cache()
    train = aggregate_interactions(train_events).cache()
    relevant = relevant_new_items(test_events, train).cache()
    try:
        search = search_params(fit, validation_relevant, k, grid)
        index = fit_id_index(train)
        evaluations = {"popularity": evaluate_popularity(train, relevant, k)}
        for name, params in (("als_default", DEFAULT_PARAMS), ("als_tuned", search.best)):
            evaluation = evaluate_als(train, relevant, params, k, index)
            evaluation.model = name
            evaluations[name] = evaluation
        cold = _evaluate_cold_start(train_events, test_events, relevant, k) if "region" in events.columns else None
        return RecommenderReport(k, how, search, evaluations, cold, train.count())
    finally:
        for cached in (fit, validation_relevant, train, relevant):
            cached.unpersist()


def _evaluate_cold_start(train_events: DataFrame, test_events: DataFrame, relevant: DataFrame, k: int) -> Evaluation:
    """Users ALS knows nothing about before the split (no positive interaction), served the most
    valued titles in their region."""
    first_region = test_events.transform(top_by(["user_id"], F.asc("timestamp"), 1, "_n")).select("user_id", "region")
    known = learnable_users(aggregate_interactions(train_events))
    new_users = first_region.join(known, "user_id", "left_anti")
    popular = popular_by_segment(train_events, ["region"])
    recommended = recommend_popular_in_segment(popular, new_users, ["region"], k)
    catalog = train_events.select("item_id").distinct().count()
    return Evaluation("cold_start_region_popularity",
                      _ranking(recommended, relevant.join(new_users.select("user_id"), "user_id"), k, catalog))


@dataclass
class FinalModel:
    model: ALSModel
    index: IdIndex
    recommendations: DataFrame  # user_id, rank, item_id, score
    interactions: int
    fit_seconds: float
    recommend_seconds: float


def fit_and_recommend(events: DataFrame, params: ALSParams, k: int) -> FinalModel:
    """The production model: fit on every event, top-k unseen items for every user (cached)."""
    started = time.perf_counter()
    interactions = aggregate_interactions(events).cache()
    count = interactions.count()
    index = fit_id_index(interactions)
    model = fit_als(interactions, index, params)
    model.userFactors.count()
    fitted = time.perf_counter()
    recommendations = recommend_unseen(model, index, learnable_users(interactions), interactions, k).cache()
    recommendations.count()
    done = time.perf_counter()
    interactions.unpersist()  # the recommendations are cached and counted: nothing reads it again
    return FinalModel(model, index, recommendations, count, fitted - started, done - fitted)


def evaluate_and_fit(
    events: DataFrame, k: int, grid: tuple[ALSParams, ...] = SEARCH_GRID
) -> tuple[RecommenderReport, FinalModel]:
    """Score the models on the held-out split (parameters chosen on the validation split), then
    fit the production model with the chosen parameters on every event."""
    report = evaluate_recommenders(events, k, grid)
    return report, fit_and_recommend(events, report.search.best, k)
