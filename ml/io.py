"""Every read and write of the ML layer: gold views in, Delta tables, models and files out."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from foundation.delta import is_delta_table
from foundation.errors import ReelhouseError
from foundation.settings import Settings
from ml.tables import ITEM_FACTORS_FILE, OUTPUTS, VIEWS


def output_tables(settings: Settings) -> dict[str, Path]:
    """The ML tables by catalog name, for `register_in_catalog`."""
    return {".".join(name): settings.table_path(*name) for name in OUTPUTS}


def require_views(settings: Settings) -> Path:
    """The path of gold.fct_views, or a one-line error saying how to build it (checked before Spark starts)."""
    path = settings.table_path(*VIEWS)
    if not is_delta_table(path):
        raise ReelhouseError(f"no gold table {'.'.join(VIEWS)} at {path}; build it first "
                             "(`make demo`, or `reelhouse dbt build` after ingesting events)")
    return path


def read_views(spark: SparkSession, settings: Settings, version: int | None = None) -> tuple[DataFrame, int]:
    """gold.fct_views at `version` (default: the latest), and the version read."""
    path = require_views(settings)
    latest = DeltaTable.forPath(spark, str(path)).history(1).select("version").first()[0]
    if version is None:
        version = latest
    elif version > latest:
        raise ReelhouseError(f"{'.'.join(VIEWS)} has no version {version}; its latest is {latest}")
    try:
        views = spark.read.format("delta").option("versionAsOf", version).load(str(path))
    except AnalysisException as error:  # e.g. the version's files were vacuumed
        raise ReelhouseError(f"cannot read {'.'.join(VIEWS)} version {version}: "
                             f"{str(error).strip().splitlines()[0]}") from None
    return views, version


def overwrite_table(frame: DataFrame, settings: Settings, table: tuple[str, str]) -> None:
    (frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
     .save(str(settings.table_path(*table))))


def append_table(frame: DataFrame, settings: Settings, table: tuple[str, str]) -> None:
    frame.write.format("delta").mode("append").option("mergeSchema", "true").save(str(settings.table_path(*table)))


def model_dir(settings: Settings, model_version: str) -> Path:
    return settings.home / "_models" / model_version


def save_models(settings: Settings, model_version: str, models: dict[str, object], manifest: dict) -> Path:
    """Each Spark ML model under `<home>/_models/<model_version>/<name>`, and manifest.json beside them."""
    directory = model_dir(settings, model_version)
    for name, model in models.items():
        model.write().overwrite().save(str(directory / name))
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return directory


def save_item_factors(settings: Settings, model_version: str, model: ALSModel, item_labels: list[str]) -> Path:
    """The ALS item factors by video_id, as one Parquet file the live recommender reads without a JVM."""
    rows = sorted(model.itemFactors.collect(), key=lambda r: r.id)
    table = pa.table({
        "video_id": [item_labels[r.id] for r in rows],
        "features": pa.array([list(r.features) for r in rows], pa.list_(pa.float64())),
    })
    path = model_dir(settings, model_version) / ITEM_FACTORS_FILE
    pq.write_table(table, path)
    return path


# -- bring your own interactions --------------------------------------------------------------

FILE_FORMATS = {".csv": "csv", ".parquet": "parquet"}


def file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FILE_FORMATS:
        raise ReelhouseError(f"{path}: unknown extension {suffix or '(none)'!r}; use .csv or .parquet")
    return FILE_FORMATS[suffix]


def check_file_paths(interactions: Path, output: Path) -> None:
    """What `train --interactions` can check before a JVM starts: both extensions, and that the
    input exists."""
    file_format(interactions)
    file_format(output)
    _require_file(interactions)


def _require_file(path: Path) -> None:
    if not path.exists():
        raise ReelhouseError(f"{path}: no such file")


def read_interactions_file(spark: SparkSession, path: Path) -> DataFrame:
    """A CSV (with a header) or Parquet file of `user_id,item_id[,weight][,timestamp]`, checked.

    Returns (user_id string, item_id string, weight double, timestamp timestamp or null); a
    missing weight counts each row as 1. Problems end in one-line `ReelhouseError`s.
    """
    kind = file_format(path)
    _require_file(path)
    reader = spark.read.option("header", "true").option("inferSchema", "false") if kind == "csv" else spark.read
    try:
        raw = reader.format(kind).load(str(path))
    except AnalysisException as error:
        raise ReelhouseError(f"{path}: cannot read as {kind}: {str(error).strip().splitlines()[0]}") from None
    except Exception as error:  # e.g. a CSV named .parquet: Spark's own message, on one line
        raise ReelhouseError(f"{path}: cannot read as {kind}: {str(error).strip().splitlines()[0]}") from None
    columns = {c.lower(): c for c in raw.columns}
    missing = [c for c in ("user_id", "item_id") if c not in columns]
    if missing:
        found = ", ".join(raw.columns) or "none"
        raise ReelhouseError(f"{path}: missing column(s) {', '.join(missing)}; found {found}")
    frame = raw.select(
        F.trim(F.col(columns["user_id"]).cast("string")).alias("user_id"),
        F.trim(F.col(columns["item_id"]).cast("string")).alias("item_id"),
        (F.col(columns["weight"]) if "weight" in columns else F.lit(1.0)).alias("weight_raw"),
        (F.col(columns["timestamp"]) if "timestamp" in columns else F.lit(None)).alias("timestamp_raw"),
    )
    frame = frame.withColumn("weight", F.expr("try_cast(weight_raw as double)")).withColumn(
        "timestamp",
        F.coalesce(
            F.expr("try_cast(try_cast(timestamp_raw as double) as timestamp)"),  # epoch seconds
            F.expr("try_cast(timestamp_raw as timestamp)"),  # or ISO-8601 / a timestamp column
        ),
    ).cache()
    problems = frame.agg(
        F.count("*").alias("rows"),
        F.sum(F.when(F.col("user_id").isNull() | (F.col("user_id") == ""), 1).otherwise(0)).alias("no_user"),
        F.first(F.when(F.col("weight").isNull(), F.col("weight_raw").cast("string")), ignorenulls=True)
        .alias("bad_weight"),
        F.sum(F.when(F.col("weight").isNull(), 1).otherwise(0)).alias("bad_weights"),
        F.first(F.when(F.col("timestamp").isNull() & F.col("timestamp_raw").isNotNull(),
                       F.col("timestamp_raw").cast("string")), ignorenulls=True).alias("bad_timestamp"),
        F.sum(F.when(F.col("item_id").isNull() | (F.col("item_id") == ""), 1).otherwise(0)).alias("no_item"),
    ).first()
    if problems["rows"] == 0:
        raise ReelhouseError(f"{path}: no interactions (the file is empty)")
    if problems["bad_weights"]:
        raise ReelhouseError(f"{path}: weight must be a number; {problems['bad_weights']:,} row(s) are not, "
                             f"e.g. {problems['bad_weight']!r}")
    if problems["no_user"] or problems["no_item"]:
        raise ReelhouseError(f"{path}: every row needs a user_id and an item_id")
    if problems["bad_timestamp"] is not None:
        raise ReelhouseError(f"{path}: timestamp must be epoch seconds or ISO-8601, got {problems['bad_timestamp']!r}")
    return frame.select("user_id", "item_id", "weight", "timestamp")


def write_recommendations_file(frame: DataFrame, path: Path) -> None:
    """One CSV (with a header) or Parquet file at `path`, not Spark's folder of parts."""
    kind = file_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".reelhouse-") as scratch:
        folder = Path(scratch) / "out"
        writer = frame.coalesce(1).write.mode("overwrite")
        if kind == "csv":
            writer.option("header", "true").csv(str(folder))
        else:
            writer.parquet(str(folder))
        (part,) = folder.glob(f"part-*.{'csv' if kind == 'csv' else '*parquet'}")
        shutil.move(str(part), str(path))
