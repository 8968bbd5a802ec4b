"""What `reelhouse maintain` does to each Delta table, and the report of what it did. Pure: no Spark.

**Z-order, not liquid clustering.** The tables that grow (bronze.playback_events, gold.fct_views
and the daily and hourly marts) are partitioned by event_date (ingested_date for the data-quality
marts): the stream appends into the day's partition, dbt's `insert_overwrite` replaces whole
partitions and its merges prune on them, and every BI filter on a date prunes whole directories.
Liquid clustering cannot be combined with partitioning: moving a table to it means rewriting it
(`CREATE OR REPLACE ... CLUSTER BY`), giving up the partition pruning of dbt's `insert_overwrite`
and `prune_target_on`, and adding the clustering writer feature to every table's protocol. So the
partitions stay, and inside each partition OPTIMIZE ... ZORDER BY co-locates rows by the other
columns BI filters by (region, video_id), which narrows each file's min/max statistics for data
skipping. Clustering would be the choice for a new, unpartitioned large table (it re-clusters
incrementally, where Z-order rewrites what it is given); a table that is already clustered
(`clusteringColumns` in DESCRIBE DETAIL) gets a plain OPTIMIZE, which clusters it.

**Z-order columns.** Per table, those of `ZORDER_CANDIDATES` it has, minus its partition columns
(Delta refuses to Z-order on one, DELTA_ZORDERING_ON_PARTITION_COLUMN: the partition already sorts
by it), minus the columns without file statistics (Delta refuses those too,
DELTA_ZORDERING_ON_COLUMN_WITHOUT_STATS: bronze keeps statistics only for some columns).

**Only partitions that need it.** Delta's OPTIMIZE ZORDER rewrites every file of the partitions
it is given, even a partition already Z-ordered into one file (measured on Delta 4.4: a second
run removed and added 3 files of 3). So a Z-ordered partitioned table is optimized only in the
partitions with two files or more (those that received writes since the last run), and an
unpartitioned one only when it has two files or more. Bin-packing alone skips compact files by
itself, so tables without Z-order columns get a plain OPTIMIZE of the whole table.

**Retention.** `check_retention` says who needs removed files and refuses less than 168 h unless
forced. `effective_retention`: a table set to keep removed files longer (its
delta.deletedFileRetentionDuration, e.g. 30 days on gold.fct_views so that `reelhouse train
--input-version` can go back a month) keeps them that long whatever retention is asked.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from foundation.errors import ReelhouseError

# Delta's default delta.deletedFileRetentionDuration (7 days), below which its own VACUUM check fails
MIN_RETENTION_HOURS = 168.0
# the columns BI filters by: the day, the region, the title
ZORDER_CANDIDATES = ("event_date", "activity_date", "region", "video_id")
# Delta collects statistics on this many leading data columns unless a table says otherwise
DEFAULT_INDEXED_COLUMNS = 32
# Live jobs MERGE into these with delta-rs every few seconds and compact them themselves (the
# monitor every COMPACT_EVERY commits, the live recommender above COMPACT_ABOVE_FILES files):
# an OPTIMIZE committing between a MERGE's read and its commit costs
# that MERGE a retry (foundation.delta_rs.commit_retrying), and a long OPTIMIZE mostly loses its
# own race to the next MERGE, so maintain leaves them to their job. VACUUM is safe.
SELF_COMPACTED = {
    ("gold", "qoe_live"): "the monitor",
    ("gold", "qoe_alerts"): "the monitor",
    ("gold", "user_recommendations_live"): "the live recommender",
}


@dataclass(frozen=True)
class TableState:
    """One Delta table as DESCRIBE DETAIL and its schema show it."""

    layer: str
    name: str
    path: Path
    columns: tuple[str, ...]
    partition_columns: tuple[str, ...]
    clustering_columns: tuple[str, ...]
    properties: dict[str, str]
    num_files: int
    size_bytes: int

    @property
    def table(self) -> str:
        return f"{self.layer}/{self.name}"


@dataclass(frozen=True)
class OptimizePlan:
    zorder_by: tuple[str, ...] = ()
    """Empty: bin-packing only (or clustering, on a clustered table)."""
    partitions: tuple[dict[str, str | None], ...] | None = None
    """The partitions to optimize; None: the whole table."""
    skip: str | None = None
    """Why the table is not optimized at all."""


@dataclass
class TableReport:
    table: str
    zorder_by: list[str] = field(default_factory=list)
    partitions_optimized: int | None = None  # None: the whole table (or nothing, with a note)
    files_before: int = 0
    bytes_before: int = 0
    files_after: int = 0
    bytes_after: int = 0
    optimize_files_removed: int = 0
    optimize_files_added: int = 0
    vacuum_files_deleted: int | None = None  # in a dry run: the files VACUUM would delete
    retention_hours: float | None = None  # VACUUM's, on this table (None: not vacuumed)
    note: str = ""


@dataclass
class MaintenanceReport:
    home: str
    layers: list[str]
    retention_hours: float | None  # None: each table's own delta.deletedFileRetentionDuration
    forced: bool
    dry_run: bool
    seconds: float = 0.0
    tables: list[TableReport] = field(default_factory=list)

    @property
    def conflicts(self) -> list[str]:
        return [t.table for t in self.tables if "conflict:" in t.note]


def check_retention(hours: float | None, force: bool) -> None:
    """Refuse a VACUUM retention that could break a reader or a writer, unless forced.

    VACUUM deletes the files a table stopped using more than `hours` ago. Whatever still needs
    them breaks: a write in progress (its files are not in the log yet: the reason for Delta's
    own 7-day floor), a `readChangeFeed` reader of bronze (a stream or a batch with
    `startingVersion`) further behind than that (appends compacted by OPTIMIZE are gone from the
    table but still read by the feed), and time travel (`VERSION AS OF`, `reelhouse train
    --input-version N` on gold.fct_views) to a version whose files were replaced earlier.
    So never below 168 hours without `force`; longer if a feed reader may stop for longer, or a
    recorded training must stay reproducible (time travel also needs the log, kept 30 days by
    delta.logRetentionDuration). None means each table's own retention (168 h unless set).
    """
    if hours is None:
        return
    if hours < 0:
        raise ReelhouseError(f"retention must be 0 hours or more, got {hours:g}")
    if hours < MIN_RETENTION_HOURS and not force:
        raise ReelhouseError(
            f"retention {hours:g} h is below Delta's {MIN_RETENTION_HOURS:g} h: VACUUM could delete files that a "
            "running write, a change-feed reader or time travel still needs; pass --force-retention to do it anyway")


_HOURS_PER_UNIT = {"week": 168.0, "day": 24.0, "hour": 1.0, "minute": 1 / 60, "second": 1 / 3600}


def interval_hours(text: str | None) -> float | None:
    """Hours in a Delta interval property such as `interval 30 days` (None if absent or not understood)."""
    if not text:
        return None
    words = text.lower().split()
    if words and words[0] == "interval":
        words = words[1:]
    if not words or len(words) % 2:
        return None
    hours = 0.0
    for amount, unit in zip(words[::2], words[1::2], strict=True):
        factor = _HOURS_PER_UNIT.get(unit.removesuffix("s"))
        try:
            value = float(amount)
        except ValueError:
            return None
        if factor is None:
            return None
        hours += value * factor
    return hours


def table_retention_hours(properties: dict[str, str]) -> float:
    """The table's own VACUUM retention: delta.deletedFileRetentionDuration, 168 h unless set."""
    own = interval_hours(properties.get("delta.deletedFileRetentionDuration"))
    return MIN_RETENTION_HOURS if own is None else own


def effective_retention(requested: float | None, properties: dict[str, str], force: bool) -> float:
    """The retention VACUUM uses on one table: what was asked, never shorter than the table's own
    (a table that keeps a month for time travel keeps it) unless forced; the table's own if nothing was asked."""
    own = table_retention_hours(properties)
    if requested is None:
        return own
    return requested if force else max(requested, own)


def stats_columns(columns: tuple[str, ...], partition_columns: tuple[str, ...],
                  properties: dict[str, str]) -> tuple[str, ...]:
    """The columns Delta keeps file statistics for (flat schemas, as every reelhouse table has).

    `delta.dataSkippingStatsColumns` names them; otherwise the first
    `delta.dataSkippingNumIndexedCols` (default 32, -1 = all) data columns, partition columns
    not counted (checked on Delta 4.4).
    """
    named = properties.get("delta.dataSkippingStatsColumns")
    if named:
        wanted = {c.strip().strip("`").lower() for c in named.split(",")}
        return tuple(c for c in columns if c.lower() in wanted)
    data = tuple(c for c in columns if c not in partition_columns)
    count = int(properties.get("delta.dataSkippingNumIndexedCols", DEFAULT_INDEXED_COLUMNS))
    return data if count < 0 else data[:count]


def zorder_columns(state: TableState) -> tuple[str, ...]:
    """The table's columns among ZORDER_CANDIDATES that Delta can Z-order on.

    Not a partition column (event_date in bronze and the facts: its partition directories
    already order by it, and Delta refuses), and only columns with statistics (Z-ordering is
    there to narrow their min/max per file; Delta refuses the others).
    """
    with_stats = set(stats_columns(state.columns, state.partition_columns, state.properties))
    return tuple(c for c in ZORDER_CANDIDATES
                 if c in state.columns and c not in state.partition_columns and c in with_stats)


def plan_optimize(state: TableState, partition_files: list[tuple[dict[str, str | None], int]],
                  seeds: frozenset[tuple[str, str]] = frozenset()) -> OptimizePlan:
    """What OPTIMIZE should do to the table, given its data files per partition. `seeds` are the
    (layer, name) of dbt seeds: every `dbt build` replaces them whole, so compacting one is wasted,
    and an OPTIMIZE committing during the build's replace fails that build (ConcurrentAppendException)."""
    if (state.layer, state.name) in seeds:
        return OptimizePlan(skip="a dbt seed, replaced whole by every build")
    if (state.layer, state.name) in SELF_COMPACTED:
        return OptimizePlan(skip=f"compacted by {SELF_COMPACTED[state.layer, state.name]} that merges into it")
    if state.num_files == 0:
        return OptimizePlan(skip="empty")
    if state.clustering_columns:
        return OptimizePlan()  # liquid clustering: OPTIMIZE clusters by the table's own keys
    zorder = zorder_columns(state)
    if not zorder:
        return OptimizePlan()  # bin-packing skips compact files itself
    if not state.partition_columns:
        return OptimizePlan(zorder) if state.num_files > 1 else OptimizePlan(zorder, skip="one file")
    crowded = tuple(values for values, files in partition_files if files > 1)
    return OptimizePlan(zorder, crowded) if crowded else OptimizePlan(zorder, (), skip="one file per partition")


def partition_predicate(partitions: tuple[dict[str, str | None], ...]) -> str:
    """A predicate on partition columns that selects exactly these partitions."""

    def one(values: dict[str, str | None]) -> str:
        terms = [f"`{column}` is null" if value is None else f"`{column}` = '{value.replace(chr(39), chr(39) * 2)}'"
                 for column, value in sorted(values.items())]
        return "(" + " and ".join(terms) + ")"

    return " or ".join(one(values) for values in partitions)


def _size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _zorder_cell(table: TableReport) -> str:
    columns = ",".join(table.zorder_by) or "-"
    if table.zorder_by and table.partitions_optimized:
        return f"{columns} ({table.partitions_optimized} partitions)"
    return columns


def format_report(report: MaintenanceReport) -> str:
    """The report as a plain-text table, one line per table, and a line of totals."""
    vacuum_title = "would vacuum" if report.dry_run else "vacuumed"
    header = ("table", "z-order by", "files", "size", "optimize -/+", vacuum_title, "retention", "note")
    rows = []
    for t in report.tables:
        rows.append((
            t.table,
            _zorder_cell(t),
            f"{t.files_before} -> {t.files_after}",
            f"{_size(t.bytes_before)} -> {_size(t.bytes_after)}",
            f"-{t.optimize_files_removed} / +{t.optimize_files_added}",
            "-" if t.vacuum_files_deleted is None else str(t.vacuum_files_deleted),
            "-" if t.retention_hours is None else f"{t.retention_hours:g} h",
            t.note,
        ))
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    retention = "each table's own (168 h unless set)" if report.retention_hours is None \
        else f"{report.retention_hours:g} h" + (" (forced)" if report.forced else ", or a table's own if longer")
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.append("")
    files = f"{sum(t.files_before for t in report.tables)} -> {sum(t.files_after for t in report.tables)}"
    dry = ", dry run: nothing changed" if report.dry_run else ""
    lines.append(
        f"{len(report.tables)} tables under {report.home} ({', '.join(report.layers)}), files {files}, "
        f"VACUUM retention {retention}, {report.seconds:.1f} s{dry}")
    return "\n".join(lines)


def report_json(report: MaintenanceReport) -> str:
    return json.dumps(asdict(report), indent=2)
