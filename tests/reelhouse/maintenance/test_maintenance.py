"""`reelhouse maintain`: OPTIMIZE / Z-order / VACUUM on real Delta tables, beside a real stream."""

from __future__ import annotations

import os
import random
import re
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foundation.errors import ReelhouseError
from ingestion import io as ingestion_io
from ingestion.generator import GeneratorOptions
from ingestion.jobs.stream import StreamOptions
from ingestion.jobs.stream import run as run_stream
from ingestion.producer import produce
from ingestion.tables import BRONZE, QUARANTINE
from reelhouse.maintenance import io as maintenance_io
from reelhouse.maintenance import job as maintenance
from reelhouse.maintenance.plan import (
    MaintenanceReport,
    TableReport,
    TableState,
    check_retention,
    effective_retention,
    format_report,
    interval_hours,
    partition_predicate,
    plan_optimize,
    zorder_columns,
)
from reelhouse.services.kafka import end_offsets, ensure_topic

DATES = [date(2025, 3, 1) + timedelta(days=i) for i in range(3)]
REGIONS = ["US", "DE", "BR", "IN"]
VIDEOS = [f"v{i:03d}" for i in range(15)]
BRONZE_APPENDS = 6


# -- pure planning and reporting ----------------------------------------------------------------

def _state(columns, partitions=(), properties=None, files=5, layer="gold", name="t"):
    return TableState(layer, name, Path("/x"), tuple(columns), tuple(partitions), (), properties or {}, files, 100)


def test_zorder_skips_the_partition_column_and_columns_without_statistics():
    bronze = _state(["user_id", "video_id", "region", "kafka_key", "event_date"], ["event_date"],
                    {"delta.dataSkippingStatsColumns": ingestion_io.BRONZE_STATS_COLUMNS})
    assert zorder_columns(bronze) == ("region", "video_id")
    # Delta indexes the first 32 data columns: a region in 40th place has no statistics
    wide = _state([f"c{i}" for i in range(39)] + ["region", "video_id", "event_date"])
    assert zorder_columns(wide) == ()
    narrow = _state(["event_date", "region", "video_id", "x"], properties={"delta.dataSkippingNumIndexedCols": "2"})
    assert zorder_columns(narrow) == ("event_date", "region")  # unpartitioned: the date is a data column
    assert zorder_columns(_state(["reason", "raw_value"])) == ()


def test_plan_z_orders_only_partitions_with_several_files():
    state = _state(["region", "video_id", "event_date"], ["event_date"])
    plan = plan_optimize(state, [({"event_date": "2025-03-01"}, 4), ({"event_date": "2025-03-02"}, 1),
                                 ({"event_date": None}, 2)])
    assert plan.zorder_by == ("region", "video_id")
    assert plan.partitions == ({"event_date": "2025-03-01"}, {"event_date": None})
    assert partition_predicate(plan.partitions) == "(`event_date` = '2025-03-01') or (`event_date` is null)"
    assert plan_optimize(state, [({"event_date": "2025-03-01"}, 1)]).skip == "one file per partition"
    assert plan_optimize(_state(["region"], files=1), []).skip == "one file"
    assert plan_optimize(_state(["region"], layer="gold", name="qoe_live"), []).skip is not None
    assert plan_optimize(_state(["user_id"], layer="gold", name="user_recommendations_live"), []).skip \
        == "compacted by the live recommender that merges into it"
    seed = _state(["video_id", "genre"], layer="bronze", name="catalog_videos")
    assert plan_optimize(seed, [], frozenset({("bronze", "catalog_videos")})).skip \
        == "a dbt seed, replaced whole by every build"
    bin_packing = plan_optimize(_state(["reason"], ["ingested_date"]), [({"ingested_date": "x"}, 1)])
    assert (bin_packing.zorder_by, bin_packing.partitions, bin_packing.skip) == ((), None, None)


def test_retention_below_seven_days_is_refused_unless_forced():
    check_retention(None, force=False)
    check_retention(168, force=False)
    check_retention(0, force=True)
    with pytest.raises(ReelhouseError, match="--force-retention") as refused:
        check_retention(167.5, force=False)
    assert "\n" not in str(refused.value)
    with pytest.raises(ReelhouseError):
        check_retention(-1, force=True)


def test_a_tables_own_longer_retention_wins_unless_forced():
    assert interval_hours("interval 30 days") == 720
    assert interval_hours("interval 1 week") == interval_hours("168 hours") == 168
    assert interval_hours("interval 90 minutes") == 1.5
    assert interval_hours("a fortnight") is None and interval_hours(None) is None
    month = {"delta.deletedFileRetentionDuration": "interval 30 days"}
    assert effective_retention(None, month, force=False) == 720
    assert effective_retention(200, month, force=False) == 720
    assert effective_retention(200, month, force=True) == 200
    assert effective_retention(None, {}, force=False) == 168
    assert effective_retention(400, {}, force=False) == 400


def test_report_text_shows_files_bytes_and_vacuum_per_table():
    report = MaintenanceReport("/home", ["bronze"], None, False, False, 1.5, [
        TableReport("bronze/playback_events", ["region", "video_id"], partitions_optimized=3, files_before=24,
                    bytes_before=3 << 20, files_after=3, bytes_after=2 << 20, optimize_files_removed=24,
                    optimize_files_added=3, vacuum_files_deleted=7, retention_hours=168),
        TableReport("gold/qoe_live", [], files_before=2, bytes_before=2048, files_after=2, bytes_after=2048,
                    vacuum_files_deleted=0, retention_hours=720, note="compacted by the monitor"),
    ])
    text = format_report(report)
    line = next(x for x in text.splitlines() if x.startswith("bronze/playback_events"))
    assert "region,video_id (3 partitions)" in line
    assert "24 -> 3" in line and "3.0 MiB -> 2.0 MiB" in line and "-24 / +3" in line
    assert line.split()[-3:] == ["7", "168", "h"]
    assert re.search(r"720 h +compacted by the monitor", text)
    assert "files 26 -> 5" in text.splitlines()[-1]


# -- a small lakehouse of many small files ---------------------------------------------------------

def _bronze_rows(spark, schema, seed: int, rows: int) -> DataFrame:
    rng = random.Random(seed)
    data = []
    for i in range(rows):
        day = rng.choice(DATES)
        data.append((f"e{seed}-{i}", f"u{rng.randrange(40)}", rng.choice(VIDEOS), rng.choice(REGIONS),
                     float(rng.randrange(1, 3600)), datetime(day.year, day.month, day.day, rng.randrange(24)),
                     day, seed % 3, seed * 1000 + i, datetime(2025, 3, 4, seed % 24)))
    given = spark.createDataFrame(data, "event_id string, user_id string, video_id string, region string, "
                                        "watch_time_seconds double, event_at timestamp, event_date date, "
                                        "kafka_partition int, kafka_offset long, ingested_at timestamp")
    return given.select([(F.col(f.name) if f.name in given.columns else F.lit(None)).cast(f.dataType).alias(f.name)
                         for f in schema.fields])


def _append(df: DataFrame, path: Path, partition_by: list[str] | None = None) -> None:
    writer = df.write.format("delta").mode("append")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(str(path))


def _detail(spark, path: Path):
    return DeltaTable.forPath(spark, str(path)).detail().first()


def _version(spark, path: Path) -> int:
    return DeltaTable.forPath(spark, str(path)).history(1).first()["version"]


def _queries(spark, settings) -> dict[str, DataFrame]:
    """What BI asks: a day × region, a title over days, a region's top titles, everything."""
    bronze = spark.read.format("delta").load(str(settings.table_path(*BRONZE)))
    views = spark.read.format("delta").load(str(settings.table_path("gold", "fct_views")))
    return {
        "day_region": bronze.where((F.col("event_date") == DATES[1]) & (F.col("region") == "DE"))
        .groupBy("video_id").agg(F.count("*").alias("views"), F.sum("watch_time_seconds").alias("seconds")),
        "video_days": bronze.where(F.col("video_id") == "v003")
        .groupBy("event_date", "region").agg(F.count("*").alias("views")),
        "gold_region_top": views.where(F.col("region").isin("US", "BR"))
        .groupBy("region", "video_id").agg(F.sum("watch_time_seconds").alias("seconds")),
        "bronze_rows": bronze.select("event_id", "user_id", "video_id", "region", "watch_time_seconds",
                                     "event_date", "kafka_offset"),
    }


def _frozen(spark, df: DataFrame) -> DataFrame:
    """The rows as they are now, no longer read from the table."""
    return spark.createDataFrame(df.collect(), df.schema)


@pytest.fixture(scope="module")
def maintained(spark, settings, tmp_path_factory):
    """A lakehouse written in many small appends, its query results, then `reelhouse maintain`."""
    lakehouse = settings.with_overrides(home=tmp_path_factory.mktemp("maintained"))
    bronze = lakehouse.table_path(*BRONZE)
    # bronze exactly as the stream creates it (partitioned by event_date, change feed, statistics on
    # some columns); its companions go where maintenance does not look, to keep the test short
    ingestion_io.ensure_tables(spark, bronze, lakehouse.home / "_unused" / "quarantine",
                               lakehouse.home / "_unused" / "progress")
    schema = spark.read.format("delta").load(str(bronze)).schema
    for seed in range(BRONZE_APPENDS):
        _append(_bronze_rows(spark, schema, seed, 60), bronze)
    views = lakehouse.table_path("gold", "fct_views")
    for seed in range(2):
        _append(_bronze_rows(spark, schema, 100 + seed, 40).select(
            F.col("event_id").alias("view_id"), "user_id", "video_id", "region", "watch_time_seconds", "event_date"),
            views, ["event_date"])
    # a table that keeps a month for time travel (`reelhouse train --input-version`)
    spark.sql(f"alter table delta.`{views}` set tblproperties "
              "('delta.deletedFileRetentionDuration' = 'interval 30 days')")
    for seed in range(2):
        _append(spark.createDataFrame([("US", "akamai", seed)], "region string, cdn string, views int"),
                lakehouse.table_path("gold", "qoe_live"))

    paths = {name: lakehouse.table_path(*name.split("/")) for name in
             ("bronze/playback_events", "gold/fct_views", "gold/qoe_live")}
    # a file no commit names (as a killed write leaves behind), last touched 300 hours ago
    orphans = {name: paths[name] / f"event_date={DATES[0]}" / "part-99999-orphan.c000.snappy.parquet"
               for name in ("bronze/playback_events", "gold/fct_views")}
    for orphan in orphans.values():
        orphan.write_bytes(b"PAR1")
        aged = time.time() - 300 * 3600
        os.utime(orphan, (aged, aged))
    before = {
        "details": {name: _detail(spark, path) for name, path in paths.items()},
        "versions": {name: _version(spark, path) for name, path in paths.items()},
        "results": {name: _frozen(spark, df) for name, df in _queries(spark, lakehouse).items()},
    }
    report = maintenance.run(lakehouse)
    return lakehouse, paths, before | {"orphans": orphans}, report


def test_queries_return_the_same_results_after_maintenance(spark, maintained):
    lakehouse, _, before, _ = maintained
    for name, df in _queries(spark, lakehouse).items():
        assert_df_equality(df, before["results"][name], ignore_row_order=True, ignore_nullable=True)


def test_maintenance_compacts_many_small_files_into_few(spark, maintained):
    _, paths, before, report = maintained
    by_table = {t.table: t for t in report.tables}
    for name in ("bronze/playback_events", "gold/fct_views"):
        files_before = before["details"][name]["numFiles"]
        detail = _detail(spark, paths[name])
        assert detail["numFiles"] < files_before, name
        # the report tells what DESCRIBE DETAIL tells
        assert (by_table[name].files_before, by_table[name].files_after) == (files_before, detail["numFiles"])
        assert by_table[name].bytes_after == detail["sizeInBytes"]
        assert by_table[name].optimize_files_removed == files_before
    # bronze: one file per day after compaction
    assert _detail(spark, paths["bronze/playback_events"])["numFiles"] == len(DATES)
    assert "bronze/playback_events" in format_report(report)


def test_z_order_is_on_region_and_video_not_on_the_partition(spark, maintained):
    _, paths, _, _ = maintained

    def last_optimize(name):
        history = DeltaTable.forPath(spark, str(paths[name])).history().where("operation = 'OPTIMIZE'")
        return history.orderBy(F.desc("version")).first()["operationParameters"]["zOrderBy"]

    assert last_optimize("bronze/playback_events") == '["region","video_id"]'
    assert last_optimize("gold/fct_views") == '["region","video_id"]'


def test_the_monitors_tables_are_vacuumed_but_not_optimized(spark, maintained):
    _, paths, before, report = maintained
    files_before = before["details"]["gold/qoe_live"]["numFiles"]
    assert files_before > 1  # so that an OPTIMIZE would have changed it
    assert _detail(spark, paths["gold/qoe_live"])["numFiles"] == files_before
    operations = {r.operation for r in DeltaTable.forPath(spark, str(paths["gold/qoe_live"])).history().collect()}
    assert "OPTIMIZE" not in operations and "VACUUM END" in operations
    assert next(t for t in report.tables if t.table == "gold/qoe_live").note.startswith("compacted by the monitor")


def test_time_travel_reads_a_pre_maintenance_version_after_vacuum(spark, maintained):
    _, paths, before, report = maintained
    vacuumed = next(t for t in report.tables if t.table == "bronze/playback_events").vacuum_files_deleted
    assert vacuumed == 1  # the old orphan only: the files OPTIMIZE replaced are kept for the retention
    old = (spark.read.format("delta").option("versionAsOf", before["versions"]["bronze/playback_events"])
           .load(str(paths["bronze/playback_events"])))
    frozen = before["results"]["bronze_rows"]
    assert_df_equality(old.select(*frozen.columns), frozen, ignore_row_order=True, ignore_nullable=True)
    # and in SQL, as the README shows it on gold.fct_views
    version = before["versions"]["gold/fct_views"]
    old_views = spark.sql(
        f"select region, video_id, sum(watch_time_seconds) as seconds from delta.`{paths['gold/fct_views']}` "
        f"version as of {version} where region in ('US', 'BR') group by region, video_id")
    assert_df_equality(old_views, before["results"]["gold_region_top"], ignore_row_order=True, ignore_nullable=True)


def test_bronze_change_feed_still_holds_every_append_and_nothing_from_maintenance(spark, maintained):
    _, paths, before, _ = maintained
    changes = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 1)
               .load(str(paths["bronze/playback_events"])))
    assert {r[0] for r in changes.select("_change_type").distinct().collect()} == {"insert"}
    # one commit per append, none from OPTIMIZE or VACUUM (they change no data)
    assert changes.select("_commit_version").distinct().count() == BRONZE_APPENDS
    frozen = before["results"]["bronze_rows"]
    assert_df_equality(changes.select(*frozen.columns), frozen, ignore_row_order=True, ignore_nullable=True)


def test_vacuum_keeps_each_tables_own_retention(maintained):
    _, _, before, report = maintained
    # 300 hours: past bronze's 168, within the month gold.fct_views keeps
    assert not before["orphans"]["bronze/playback_events"].exists()
    assert before["orphans"]["gold/fct_views"].exists()
    by_table = {t.table: t for t in report.tables}
    assert by_table["bronze/playback_events"].vacuum_files_deleted == 1
    assert by_table["gold/fct_views"].vacuum_files_deleted == 0
    assert by_table["bronze/playback_events"].retention_hours == 168
    assert by_table["gold/fct_views"].retention_hours == 720


def test_a_retention_under_seven_days_is_refused_before_touching_anything(spark, maintained):
    lakehouse, paths, _, _ = maintained
    versions = {name: _version(spark, path) for name, path in paths.items()}
    with pytest.raises(ReelhouseError, match="below Delta's 168 h"):
        maintenance.run(lakehouse, retention_hours=24)
    assert {name: _version(spark, path) for name, path in paths.items()} == versions


def test_forced_short_retention_deletes_the_files_old_versions_need(spark, settings, tmp_path):
    """The counterpart of the guard: what a forced retention of 0 h does to time travel."""
    lakehouse = settings.with_overrides(home=tmp_path / "forced")
    path = lakehouse.table_path("gold", "popular_videos")  # unpartitioned: Z-ordered whole, on its date too
    for seed in range(3):
        _append(spark.createDataFrame([(f"w{seed}", "US", "v001", DATES[0])],
                                      "view_id string, region string, video_id string, event_date date"), path)
    version = _version(spark, path)
    on_disk = _parquet_files(path)
    orphans = on_disk - _table_files(spark, path)  # Spark's empty task outputs, which Delta does not add
    dry = maintenance.run(lakehouse, layers=("gold",), retention_hours=0, force_retention=True, dry_run=True)
    assert _version(spark, path) == version and _parquet_files(path) == on_disk, "a dry run changed something"
    assert dry.tables[0].zorder_by == ["event_date", "region", "video_id"]
    assert dry.tables[0].vacuum_files_deleted == len(orphans)

    report = maintenance.run(lakehouse, layers=("gold",), retention_hours=0, force_retention=True)
    table = report.tables[0]
    assert table.optimize_files_removed == table.files_before > 1
    assert (table.optimize_files_added, table.files_after) == (1, 1)
    # every file but the compacted one: the three appends' and the orphans
    assert table.vacuum_files_deleted == len(on_disk)
    assert _parquet_files(path) == _table_files(spark, path)
    operation = DeltaTable.forPath(spark, str(path)).history().where("operation = 'OPTIMIZE'").first()
    assert operation["operationParameters"]["zOrderBy"] == '["event_date","region","video_id"]'

    assert spark.read.format("delta").load(str(path)).count() == 3
    with pytest.raises(Exception, match="(?i)file.*(not exist|not found)|FileNotFound"):
        spark.read.format("delta").option("versionAsOf", 1).load(str(path)).collect()
    assert spark.conf.get("spark.databricks.delta.retentionDurationCheck.enabled", "true") == "true"


def _parquet_files(path: Path) -> set[str]:
    return {p.name for p in path.rglob("*.parquet")}


def _table_files(spark, path: Path) -> set[str]:
    return {Path(f).name for f in spark.read.format("delta").load(str(path)).inputFiles()}


def _vacuum_losing_first(times: int, calls: list[str]):
    """io.vacuum that loses `times` times to a concurrent commit (as a dbt build replacing a seed
    makes it do), then runs the real VACUUM."""
    from delta.exceptions.captured import MetadataChangedException

    real = maintenance_io.vacuum

    def vacuum(spark, path, hours, check=True):
        calls.append(path.name)
        if len(calls) <= times:
            raise MetadataChangedException("The metadata of the Delta table has been changed by a concurrent update.",
                                           "", None)
        return real(spark, path, hours, check)
    return vacuum


def test_a_vacuum_that_loses_to_a_concurrent_commit_runs_again(spark, settings, tmp_path, monkeypatch):
    lakehouse = settings.with_overrides(home=tmp_path / "retried")
    path = lakehouse.table_path("gold", "popular_videos")
    _append(spark.createDataFrame([("w0", "US", "v001", DATES[0])],
                                  "view_id string, region string, video_id string, event_date date"), path)
    calls: list[str] = []
    monkeypatch.setattr(maintenance_io, "vacuum", _vacuum_losing_first(1, calls))
    report = maintenance.run(lakehouse, layers=("gold",), optimize=False)
    assert calls == ["popular_videos", "popular_videos"]
    assert report.conflicts == [] and "conflict" not in report.tables[0].note
    assert DeltaTable.forPath(spark, str(path)).history(1).first()["operation"] == "VACUUM END"

    calls.clear()
    monkeypatch.setattr(maintenance_io, "vacuum", _vacuum_losing_first(maintenance.VACUUM_ATTEMPTS, calls))
    report = maintenance.run(lakehouse, layers=("gold",), optimize=False)
    assert len(calls) == maintenance.VACUUM_ATTEMPTS
    assert report.conflicts == [report.tables[0].table]
    assert "MetadataChangedException in VACUUM" in report.tables[0].note


def test_unknown_layer_is_refused(settings):
    with pytest.raises(ReelhouseError, match="unknown layer"):
        maintenance.run(settings, layers=("platinum",))


# -- beside the real streaming ingestion -----------------------------------------------------------

@pytest.mark.integration
def test_stream_keeps_running_through_maintenance_losing_and_duplicating_nothing(spark, kafka, tmp_path):
    lakehouse = kafka.with_overrides(home=tmp_path / "home", topic="maintained")
    ensure_topic(lakehouse.bootstrap_servers, lakehouse.topic, 3, 1)
    bronze = lakehouse.table_path(*BRONZE)
    sent = produce(GeneratorOptions(events=1_000, seed=11, bad_ratio=0.02, chunk_size=500),
                   lakehouse.bootstrap_servers, lakehouse.topic).sent

    failure: list[BaseException] = []

    def stream() -> None:
        try:
            run_stream(lakehouse, StreamOptions(trigger_seconds=0.5, max_offsets_per_trigger=400,
                                                timeout_seconds=300))
        except BaseException as error:  # noqa: BLE001 - reported by the test
            failure.append(error)

    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while len(list((bronze / "_delta_log").glob("*.json"))) < 3:  # the table and two batches
        assert thread.is_alive() and not failure, failure
        assert time.monotonic() < deadline, "no batch landed in time"
        time.sleep(0.3)
    query = next(q for q in spark.streams.active if q.name == "bronze_playback_events")
    sent += produce(GeneratorOptions(events=1_000, seed=12, bad_ratio=0.02, chunk_size=500),
                    lakehouse.bootstrap_servers, lakehouse.topic).sent
    landed_before = _landed(spark, lakehouse)

    report = maintenance.run(lakehouse, layers=("bronze",))

    assert query.isActive and query.exception() is None and thread.is_alive() and not failure
    landed_during = _landed(spark, lakehouse)
    assert len(landed_during) > len(landed_before), "the stream made no progress during maintenance"
    compacted = next(t for t in report.tables if t.table == "bronze/playback_events")
    assert compacted.optimize_files_removed > 0, "maintenance did not compact bronze while the stream ran"
    optimized_at = max(r.version for r in DeltaTable.forPath(spark, str(bronze)).history().collect()
                       if r.operation == "OPTIMIZE")

    sent += produce(GeneratorOptions(events=400, seed=13, bad_ratio=0.02, chunk_size=400),
                    lakehouse.bootstrap_servers, lakehouse.topic).sent
    while len(_landed(spark, lakehouse)) < sent:
        assert query.isActive and query.exception() is None, query.exception()
        assert time.monotonic() < deadline + 120, "the stream fell behind after maintenance"
        time.sleep(0.5)
    query.stop()
    thread.join(60)
    assert not thread.is_alive() and not failure, failure

    landed = _landed(spark, lakehouse)
    assert len(landed) == len(set(landed)), "an offset landed twice"
    ends = end_offsets(lakehouse.bootstrap_servers, lakehouse.topic)
    assert sorted(landed) == sorted((p, o) for p, end in ends.items() for o in range(end))
    assert len(landed) == sent == 2_400
    later = [r for r in DeltaTable.forPath(spark, str(bronze)).history().collect()
             if r.version > optimized_at and r.operation == "WRITE"]
    assert later, "no batch landed in bronze after the OPTIMIZE"


def _landed(spark, settings) -> list[tuple[int, int]]:
    rows = []
    for table in (BRONZE, QUARANTINE):
        path = settings.table_path(*table)
        if (path / "_delta_log").is_dir():
            rows += [(r[0], r[1]) for r in spark.read.format("delta").load(str(path))
                     .select("kafka_partition", "kafka_offset").collect()]
    return rows
