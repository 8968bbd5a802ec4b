"""Small Delta tables written from the driver with delta-rs (`deltalake`), no Spark job.

For the monitor's few hundred rows a micro-batch, where a Spark MERGE costs seconds. Tables
written here are plain Delta tables: Spark, dbt and the SQL endpoint read them as any other.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable, Field, write_deltalake

from foundation import delta_rs
from foundation.delta import is_delta_table

COMPACT_EVERY = 200  # commits between compactions (foundation.delta.compact) of a table merged into every second


def ensure_table(path: Path, schema: pa.Schema) -> None:
    """Create the table, or give one made by an older release the columns added since (null in old rows)."""
    if not is_delta_table(path):
        DeltaTable.create(str(path), schema, mode="ignore")
        return
    table = DeltaTable(str(path))
    present = set(table.schema().to_arrow().names)
    missing = [Field.from_arrow(f) for f in schema if f.name not in present]
    if missing:
        table.alter.add_columns(missing)


def rows_since(path: Path, column: str, since: pd.Timestamp) -> pd.DataFrame:
    return delta_rs.query(f"select * from t where {column} >= {delta_rs.literal(pd.Timestamp(since))}", t=path)


def count(path: Path) -> int:
    return int(delta_rs.query("select count(*) as n from t", t=path).n.iloc[0])


def upsert(path: Path, rows: pd.DataFrame, schema: pa.Schema, keys: tuple[str, ...], since: str | None = None,
           keep: tuple[str, ...] = ()) -> int:
    """MERGE `rows` into the table at `path` by `keys`: replace matches, insert the rest.

    `since` (a timestamp column whose minimum over `rows` bounds the match) lets delta-rs
    skip files that cannot match; columns in `keep` hold their first value. Merging the same
    rows again gives the same table, so a replayed micro-batch changes nothing. Returns the
    version committed; the caller compacts every COMPACT_EVERY versions, with Spark.
    """
    source = pa.Table.from_pandas(rows[schema.names], schema=schema, preserve_index=False)
    predicate = " and ".join(f"t.{key} = s.{key}" for key in keys)
    if since:
        predicate += f" and t.{since} >= {delta_rs.literal(rows[since].min())}"

    def merge(table: DeltaTable) -> int:
        (
            table.merge(source, predicate, source_alias="s", target_alias="t")
            .when_matched_update({c: f"s.{c}" for c in schema.names if c not in keep})
            .when_not_matched_insert_all()
            .execute()
        )
        return table.version()

    return delta_rs.commit_retrying(path, merge)


def append(path: Path, rows: list[dict], schema: pa.Schema) -> None:
    """Append `rows` to the table at `path`."""
    data = pa.Table.from_pylist(rows, schema=schema)
    delta_rs.commit_retrying(path, lambda table: write_deltalake(table, data, mode="append"))
