"""The one JVM-free reader of Delta tables: delta-rs (`deltalake`) and its DataFusion SQL engine.

Queries go through `QueryBuilder`, not `to_pyarrow_table`: with pyarrow's dataset scanner in the
process, one exit in two ended in "terminate called without an active exception" (SIGABRT).
A table that is not there raises `MissingTable`, whose message says what fills it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable, QueryBuilder
from deltalake.exceptions import CommitFailedError

from foundation.delta import is_delta_table
from foundation.errors import ReelhouseError

T = TypeVar("T")
COMMIT_ATTEMPTS = 8


class MissingTable(ReelhouseError):
    """A table a reader needs is not in the lakehouse yet."""


def open_table(path: Path, missing: str | None = None) -> DeltaTable:
    """The table at `path`; `missing` is the message when there is none (default: names the path)."""
    if not is_delta_table(path):
        raise MissingTable(missing or f"no Delta table at {path}")
    return DeltaTable(str(path))


def version(path: Path) -> int | None:
    """The table's current version, None when there is no table."""
    return DeltaTable(str(path)).version() if is_delta_table(path) else None


def commit_retrying(path: Path, write: Callable[[DeltaTable], T], attempts: int = COMMIT_ATTEMPTS) -> T:
    """`write(table)` on the table's latest version; when its commit conflicts with another
    process's (a `reelhouse maintain` OPTIMIZE rewrote files the write read), again on the new latest.

    delta-rs itself retries only commits that conflict with nothing. A failed commit wrote
    nothing, so a repeat is safe; `write` must read what it needs from the `table` it is given.
    """
    for attempt in range(1, attempts):
        try:
            return write(DeltaTable(str(path)))
        except CommitFailedError:
            time.sleep(0.05 * 2 ** attempt)  # back off from a writer that keeps committing
    return write(DeltaTable(str(path)))  # the last attempt's conflict reaches the caller


def query_arrow(sql: str, **tables: DeltaTable | Path) -> pa.Table:
    """`sql` over the tables (opened ones, or paths), registered under their keyword names."""
    builder = QueryBuilder()
    for alias, table in tables.items():
        builder.register(alias, table if isinstance(table, DeltaTable) else open_table(table))
    # batch by batch: `read_all` held the interpreter for the whole query (40 ms over 100,000 rows),
    # stalling every other thread, such as the API's answers; each batch holds it for a few ms
    reader = builder.execute(sql)
    return pa.Table.from_batches([pa.record_batch(batch) for batch in reader], schema=pa.schema(reader.schema))


def query(sql: str, **tables: DeltaTable | Path) -> pd.DataFrame:
    return query_arrow(sql, **tables).to_pandas()


def rows(sql: str, **tables: DeltaTable | Path) -> list[dict]:
    return query_arrow(sql, **tables).to_pylist()


def literal(value: object) -> str:
    """`value` as a SQL literal, for the few filters built from user input."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):  # pandas' Timestamp too; a naive time is taken as UTC
        utc = pd.Timestamp(value).tz_localize("UTC") if pd.Timestamp(value).tzinfo is None \
            else pd.Timestamp(value).tz_convert("UTC")
        return f"arrow_cast('{utc.isoformat()}', 'Timestamp(Microsecond, Some(\"UTC\"))')"
    raise TypeError(f"unsupported filter value {value!r}")
