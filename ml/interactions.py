"""Implicit feedback for the recommender, from gold views or from any interactions file (pure transforms).

Confidence of a (user, video) pair is the sum, over the user's started views of it, of

    evidence = completion_ratio              how much of the title was watched (0..1): a share, not
                                             hours, so a two-hour film does not outweigh six episodes
             + 0.5 if completion_ratio >= 0.9   finishing it is a stronger signal than the share says
             - 1.0 if is_skipped             left within the first minutes: evidence *against*

so repeat views add up. Spark's implicit ALS reads a negative sum as "not preferred, with
confidence 1 + alpha * |r|", which is what a skip is. Views that never started (playback
failure, exit before video start) are left out: they describe the network, not the taste.
The seed's 0.6 * watch hours + 0.3 * (1 - buffering / 10) + 0.1 * not skipped rewarded long
titles and good networks.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ml.evidence import COMPLETED_AT, COMPLETION_BONUS, SKIP_PENALTY
from ml.tables import ALL


def view_evidence() -> Column:
    """`ml.evidence.view_evidence` as a Spark column."""
    completion = F.least(F.greatest(F.col("completion_ratio"), F.lit(0.0)), F.lit(1.0))
    return (
        completion
        + F.when(completion >= COMPLETED_AT, COMPLETION_BONUS).otherwise(0.0)
        - F.when(F.col("is_skipped"), SKIP_PENALTY).otherwise(0.0)
    )


def view_events() -> Callable[[DataFrame], DataFrame]:
    """gold.fct_views -> interaction events: one per started view, its evidence as weight.

    Columns: user_id, item_id, weight, timestamp, is_relevant (watched and not skipped), region, genre.
    """

    def inner(views: DataFrame) -> DataFrame:
        return views.where(F.col("has_video_started")).select(
            "user_id",
            F.col("video_id").alias("item_id"),
            view_evidence().cast("double").alias("weight"),
            F.col("event_at").alias("timestamp"),
            (~F.col("is_skipped")).alias("is_relevant"),
            "region",
            "genre",
        )

    return inner


def file_events(rows: DataFrame) -> DataFrame:
    """An interactions file (user_id, item_id, weight, timestamp) as interaction events."""
    return rows.withColumn("is_relevant", F.col("weight") > 0)


def aggregate_interactions(events: DataFrame) -> DataFrame:
    """One row per (user_id, item_id): summed weight, events, last time."""
    return events.groupBy("user_id", "item_id").agg(
        F.sum("weight").alias("weight"), F.count("*").alias("events"), F.max("timestamp").alias("timestamp")
    )


def split_at(events: DataFrame, cut: object) -> tuple[DataFrame, DataFrame]:
    """(events before `cut`, events from `cut` on), by timestamp."""
    return events.where(F.col("timestamp") < F.lit(cut)), events.where(F.col("timestamp") >= F.lit(cut))


def split_pairs(events: DataFrame, held_out_share: float, seed: int) -> tuple[DataFrame, DataFrame]:
    """Without timestamps: hold out whole (user, item) pairs, chosen by a seeded hash."""
    bucket = F.abs(F.xxhash64("user_id", "item_id", F.lit(seed))) % 10_000
    held_out = bucket < int(held_out_share * 10_000)
    return events.where(~held_out), events.where(held_out)


def relevant_new_items(held_out: DataFrame, seen: DataFrame) -> DataFrame:
    """(user_id, item_id) a user valued in the held-out events and did not have before:
    recommendations never repeat a seen item, so a seen one cannot be a hit."""
    return (
        held_out.where(F.col("is_relevant"))
        .select("user_id", "item_id")
        .distinct()
        .join(seen.select("user_id", "item_id"), ["user_id", "item_id"], "left_anti")
    )


def popular_by_segment(events: DataFrame, segments: list[str]) -> DataFrame:
    """(segment..., item_id, score): how many users valued each item, per segment value and overall.

    A segment column holds `all` on the rows that ignore it, e.g. region=all for the whole world.
    """
    valued = events.where(F.col("is_relevant"))
    grouped = []
    for mask in range(2 ** len(segments)):
        keep = [s for i, s in enumerate(segments) if mask & (1 << i)]
        columns = [F.col(s) if s in keep else F.lit(ALL).alias(s) for s in segments]
        grouped.append(
            valued.select(*columns, "item_id", "user_id")
            .groupBy(*segments, "item_id")
            .agg(F.countDistinct("user_id").cast("double").alias("score"))
        )
    result = grouped[0]
    for frame in grouped[1:]:
        result = result.unionByName(frame)
    return result


def top_by(partition: list[str], order: Column, limit: int, rank_col: str = "rank") -> Callable[[DataFrame], DataFrame]:
    """Keep the first `limit` rows per partition by `order`, numbered 1.. in `rank_col`."""

    def inner(frame: DataFrame) -> DataFrame:
        window = Window.partitionBy(*partition).orderBy(order)
        return frame.withColumn(rank_col, F.row_number().over(window)).where(F.col(rank_col) <= limit)

    return inner
