"""Every read and write of the real-time recommender, with delta-rs and pyarrow (no JVM).

Reads  the latest model's item factors (`<home>/_models/<version>/item_factors.parquet`),
       gold.dim_videos, gold.popular_videos, the started views of gold.fct_views and
       gold.user_views_live (the history).
Writes gold.user_views_live (appended once per micro-batch: a Delta app transaction carries
       the batch id) and gold.user_recommendations_live (MERGE by user and rank, changed rows only).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake
from deltalake.transaction import CommitProperties, Transaction

from foundation import delta_rs
from foundation.delta import is_delta_table
from foundation.settings import Settings
from ml.live import HISTORY_COLUMNS, Catalog, ItemModel, Popular
from ml.tables import (
    ITEM_FACTORS_FILE,
    POPULAR_VIDEOS,
    USER_RECOMMENDATIONS_LIVE,
    USER_VIEWS_LIVE,
    VIDEOS,
    VIEWS,
)

HISTORY_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("user_id", pa.string()), ("video_id", pa.string()),
    ("event_at", pa.timestamp("us", tz="UTC")), ("completion_ratio", pa.float64()), ("is_skipped", pa.bool_()),
    ("region", pa.string()), ("genre", pa.string()),
])
LIVE_SCHEMA = pa.schema([
    ("user_id", pa.string()), ("rank", pa.int32()), ("video_id", pa.string()), ("score", pa.float64()),
    ("reason", pa.string()), ("model_version", pa.string()), ("reflects_event_at", pa.timestamp("us", tz="UTC")),
    ("computed_at", pa.timestamp("us", tz="UTC")),
])
CONTENT = ("video_id", "score", "reason", "model_version", "reflects_event_at")  # what makes a row change
# the lists are compacted when merges have left more files than this: a merge that updates rows
# rewrites the files holding them, so a table of returning users stays at one file, and an OPTIMIZE
# every 100 versions of that one file (a no-op) took ~30 s of the two cores, tripling batch times
COMPACT_ABOVE_FILES = 16


class Merged(NamedTuple):
    version: int
    files: int  # the table's data files after the merge


def models_dir(settings: Settings) -> Path:
    return settings.home / "_models"


def latest_item_model(settings: Settings) -> ItemModel | None:
    """The newest trained model that carries item factors (versions sort by time), or None."""
    version = latest_model_version(settings)
    if version is None:
        return None
    factors_file = models_dir(settings) / version / ITEM_FACTORS_FILE
    manifest = json.loads((factors_file.parent / "manifest.json").read_text())
    params = manifest["recommender"]["params"]
    table = pq.read_table(factors_file)
    vectors = table.column("features").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return ItemModel.of(factors_file.parent.name, table.column("video_id").to_pylist(),
                        vectors.reshape(table.num_rows, -1), params["alpha"], params["reg_param"])


def latest_model_version(settings: Settings) -> str | None:
    found = sorted(models_dir(settings).glob(f"*/{ITEM_FACTORS_FILE}")) if models_dir(settings).is_dir() else []
    return found[-1].parent.name if found else None


def load_catalog(settings: Settings) -> Catalog:
    path = settings.table_path(*VIDEOS)
    if not is_delta_table(path):
        return Catalog({}, {}, {})
    return Catalog.of(delta_rs.query("select * from t", t=path))


def load_popular(settings: Settings) -> Popular:
    path = settings.table_path(*POPULAR_VIDEOS)
    if not is_delta_table(path):
        return Popular({})
    return Popular.of(delta_rs.query("select region, genre, rank, video_id, score from t", t=path))


def load_history(settings: Settings) -> pd.DataFrame:
    """Started views of gold.fct_views and gold.user_views_live (HISTORY_COLUMNS; may repeat an event)."""
    parts = []
    views = settings.table_path(*VIEWS)
    if is_delta_table(views):
        parts.append(delta_rs.query(
            "select view_id as event_id, user_id, video_id, event_at, completion_ratio, is_skipped, region, genre "
            "from t where has_video_started", t=views))
    live = settings.table_path(*USER_VIEWS_LIVE)
    if is_delta_table(live):
        parts.append(delta_rs.query(f"select {', '.join(HISTORY_COLUMNS)} from t", t=live))
    if not parts:
        return empty_history()
    return pd.concat(parts, ignore_index=True)


def empty_history() -> pd.DataFrame:
    return HISTORY_SCHEMA.empty_table().to_pandas()


def ensure_tables(settings: Settings) -> None:
    for table, schema in ((USER_VIEWS_LIVE, HISTORY_SCHEMA), (USER_RECOMMENDATIONS_LIVE, LIVE_SCHEMA)):
        path = settings.table_path(*table)
        if not is_delta_table(path):
            DeltaTable.create(str(path), schema, mode="ignore")


def append_views_once(settings: Settings, views: pd.DataFrame, app_id: str, batch_id: int) -> bool:
    """Append the batch's views unless this app already committed this batch; True if written."""
    path = settings.table_path(*USER_VIEWS_LIVE)
    data = pa.Table.from_pandas(views[list(HISTORY_SCHEMA.names)], schema=HISTORY_SCHEMA, preserve_index=False)

    def append(table: DeltaTable) -> bool:
        done = table.transaction_version(app_id)
        if done is not None and done >= batch_id:
            return False
        write_deltalake(table, data, mode="append",
                        commit_properties=CommitProperties(app_transactions=[Transaction(app_id, batch_id)]))
        return True

    return delta_rs.commit_retrying(path, append)


def merge_lists(settings: Settings, lists: pd.DataFrame, k: int, computed_at: pd.Timestamp) -> Merged:
    """Write each user's list by (user, rank): rows whose content changed are updated (and keep
    nothing of the old row), new ranks inserted, ranks beyond a shorter new list deleted. An
    unchanged row is left alone, computed_at included, so a replayed batch changes nothing.
    Returns the version committed and the files the table has; the caller compacts it (with Spark)
    when they are more than COMPACT_ABOVE_FILES: new users' rows land in new files."""
    path = settings.table_path(*USER_RECOMMENDATIONS_LIVE)
    users = lists.user_id.unique()
    padded = pd.MultiIndex.from_product([users, range(1, k + 1)], names=["user_id", "rank"]).to_frame(index=False)
    source = padded.merge(lists, on=["user_id", "rank"], how="left").assign(computed_at=computed_at)
    data = pa.Table.from_pandas(source[list(LIVE_SCHEMA.names)], schema=LIVE_SCHEMA, preserve_index=False)
    changed = " or ".join(f"(t.{c} is distinct from s.{c})" for c in CONTENT)

    def merge(table: DeltaTable) -> Merged:
        (
            table.merge(data, "t.user_id = s.user_id and t.rank = s.rank", source_alias="s", target_alias="t")
            .when_matched_delete("s.video_id is null")
            .when_matched_update_all(f"s.video_id is not null and ({changed})")
            .when_not_matched_insert_all("s.video_id is not null")
            .execute()
        )
        return Merged(table.version(), len(table.file_uris()))

    return delta_rs.commit_retrying(path, merge)


def read_lists(settings: Settings) -> pd.DataFrame:
    path = settings.table_path(*USER_RECOMMENDATIONS_LIVE)
    return delta_rs.query("select * from t order by user_id, rank", t=path)
