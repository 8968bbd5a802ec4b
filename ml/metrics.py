"""Ranking and classification metrics (pure: DataFrames in, numbers out).

Ranking metrics follow the usual binary-relevance definitions, averaged over the users who
have at least one relevant item (a user with no recommendation scores 0):
  precision@k = hits in the top k / k
  recall@k    = hits in the top k / relevant items
  NDCG@k      = sum over hits at position i (1-based) of 1 / log2(i + 1), divided by the same
                sum for an ideal list (min(k, relevant) hits at the top)
  MAP@k       = mean over users of (sum over hits at position i of precision@i) / min(k, relevant)
  coverage    = distinct items recommended to anyone / items in the catalog
"""

from __future__ import annotations

from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

RANKING_METRICS = ("precision", "recall", "ndcg", "map")


def per_user_ranking_metrics(recommended: DataFrame, relevant: DataFrame, k: int) -> DataFrame:
    """(user_id, precision, recall, ndcg, map) for every user in `relevant`.

    recommended: (user_id, rank, item_id), rank 1 = best; relevant: (user_id, item_id).
    """
    lists = (
        recommended.where(F.col("rank") <= k)
        .groupBy("user_id")
        .agg(F.sort_array(F.collect_list(F.struct("rank", "item_id"))).alias("ranked"))
        .select("user_id", F.expr("transform(ranked, r -> r.item_id)").alias("predicted"))
    )
    truth = relevant.groupBy("user_id").agg(F.collect_set("item_id").alias("relevant"))
    scored = (
        truth.join(lists, "user_id", "left")
        .withColumn("predicted", F.coalesce("predicted", F.array().cast("array<string>")))
        .withColumn("hits", F.expr("transform(predicted, x -> if(array_contains(relevant, x), 1, 0))"))
        .withColumn("ideal", F.least(F.size("relevant"), F.lit(k)))
    )
    return scored.select(
        "user_id",
        (F.expr("aggregate(hits, 0, (acc, h) -> acc + h)") / k).alias("precision"),
        (F.expr("aggregate(hits, 0, (acc, h) -> acc + h)") / F.size("relevant")).alias("recall"),
        (
            F.expr("aggregate(transform(hits, (h, i) -> h / log2(i + 2)), 0D, (acc, g) -> acc + g)")
            / F.expr("aggregate(sequence(0, ideal - 1), 0D, (acc, i) -> acc + 1 / log2(i + 2))")
        ).alias("ndcg"),
        (
            F.expr(
                "aggregate(transform(hits, (h, i) -> h * aggregate(slice(hits, 1, i + 1), 0, (a, x) -> a + x)"
                " / (i + 1)), 0D, (acc, p) -> acc + p)"
            )
            / F.col("ideal")
        ).alias("map"),
    )


def ranking_metrics(recommended: DataFrame, relevant: DataFrame, k: int) -> dict[str, float]:
    """Mean precision, recall, NDCG and MAP at k, and how many users were evaluated."""
    row = per_user_ranking_metrics(recommended, relevant, k).agg(
        *(F.avg(name).alias(name) for name in RANKING_METRICS), F.count("*").alias("users")
    ).first()
    result = {name: float(row[name] or 0.0) for name in RANKING_METRICS}
    result["users"] = int(row["users"])
    return result


def catalog_coverage(recommended: DataFrame, catalog_items: int) -> float:
    if catalog_items == 0:
        return 0.0
    return recommended.select("item_id").distinct().count() / catalog_items


def binary_metrics(scored: DataFrame, score_col: str, label_col: str) -> dict[str, float]:
    """ROC-AUC and PR-AUC of a score (higher = more likely positive) against a 0/1 label."""
    frame = scored.select(
        F.col(score_col).cast("double").alias("score"), F.col(label_col).cast("double").alias("label")
    )
    evaluator = BinaryClassificationEvaluator(rawPredictionCol="score", labelCol="label")
    return {
        "roc_auc": evaluator.evaluate(frame, {evaluator.metricName: "areaUnderROC"}),
        "pr_auc": evaluator.evaluate(frame, {evaluator.metricName: "areaUnderPR"}),
    }
