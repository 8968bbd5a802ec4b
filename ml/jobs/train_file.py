"""`reelhouse train --interactions FILE --output OUT -k K`: the same recommender on any interactions file.

Reads  FILE: CSV (header) or Parquet with user_id, item_id and optional weight, timestamp.
Writes OUT (.csv or .parquet, one file): user_id, rank, item_id, score, the top K per user,
       never an item the user already has in FILE.
Prints the metrics of the internal validation split (the last 20 % by time, or 20 % of the
       (user, item) pairs without timestamps; parameters are chosen on a split inside the rest).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession

from ml import io
from ml.interactions import file_events
from ml.recommender import SEARCH_GRID, ALSParams, FinalModel, RecommenderReport, evaluate_and_fit


@dataclass
class FileTrainResult:
    report: RecommenderReport
    final: FinalModel
    output: Path


def run(spark: SparkSession, path: Path, output: Path, k: int,
        grid: tuple[ALSParams, ...] = SEARCH_GRID) -> FileTrainResult:
    io.file_format(output)  # a bad output name fails before any work
    events = file_events(io.read_interactions_file(spark, path)).cache()
    report, final = evaluate_and_fit(events, k, grid)
    io.write_recommendations_file(final.recommendations.orderBy("user_id", "rank"), output)
    events.unpersist()
    return FileTrainResult(report, final, output)
