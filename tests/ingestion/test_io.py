import json
import uuid
from datetime import datetime

import pytest

from foundation.errors import ReelhouseError
from ingestion.io import WRITER_ID_FILE, append_once, progress_rows, writer_app_id

PROGRESS = {  # a StreamingQueryProgress as Spark reports it, trimmed to the fields we read
    "id": "q-1", "runId": "r-1", "batchId": 4, "timestamp": "2025-05-14T17:06:27.123Z",
    "numInputRows": 20_000, "inputRowsPerSecond": 5_000.0, "processedRowsPerSecond": 7_000.0,
    "durationMs": {"triggerExecution": 2_000, "addBatch": 1_800},
    "sources": [{"metrics": {"avgOffsetsBehindLatest": "12.5", "maxOffsetsBehindLatest": "30",
                             "minOffsetsBehindLatest": "0"}}],
}


def test_progress_row_measures_rows_over_the_whole_trigger_and_keeps_lag():
    row = progress_rows([PROGRESS])[0]
    assert row.num_input_rows == 20_000
    assert row.processed_rows_per_second == 10_000.0  # 20,000 rows in 2 s, not Spark's 7,000
    assert row.input_rows_per_second == 5_000.0
    assert (row.max_offsets_behind_latest, row.avg_offsets_behind_latest) == (30, 12.5)
    assert row.started_at.replace(tzinfo=None) == datetime(2025, 5, 14, 17, 6, 27, 123000)


def test_append_once_skips_a_replayed_batch(spark, tmp_path):
    rows = spark.createDataFrame([(1,), (2,)], "n int")
    for batch_id in (0, 0, 1):  # batch 0 replayed, as after a crash
        append_once(rows, tmp_path / "t", "app-1", batch_id)
    assert spark.read.format("delta").load(str(tmp_path / "t")).count() == 4


def _jobs_run_by(spark, action) -> int:
    """How many Spark jobs `action` ran (in this thread's job group, which Delta's own jobs inherit)."""
    context = spark.sparkContext
    group = f"count-{uuid.uuid4()}"
    context.setJobGroup(group, "counting jobs")
    try:
        action()
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
    return len(context.statusTracker().getJobIdsForGroup(group))


def test_append_once_looks_its_batch_up_in_the_checksum_not_the_whole_table_state(spark, tmp_path):
    rows = spark.createDataFrame([(1,), (2,)], "n int")
    append_once(rows, tmp_path / "t", "app-1", 0)
    # Delta's own lookup rebuilds the table's state first: three Spark jobs more, 0.3-0.6 s a batch
    assert _jobs_run_by(spark, lambda: append_once(rows, tmp_path / "t", "app-1", 1)) == 1
    assert _jobs_run_by(spark, lambda: append_once(rows, tmp_path / "t", "app-1", 1)) == 0  # a replay: skipped
    assert spark.read.format("delta").load(str(tmp_path / "t")).count() == 4


def test_append_once_skips_a_replay_after_a_commit_that_left_no_checksum(spark, tmp_path):
    import pyarrow as pa
    from deltalake import write_deltalake

    rows = spark.createDataFrame([(1,), (2,)], "n int")
    append_once(rows, tmp_path / "t", "app-1", 0)
    write_deltalake(str(tmp_path / "t"), pa.table({"n": pa.array([3], pa.int32())}), mode="append")
    assert not (tmp_path / "t" / "_delta_log" / f"{1:020}.crc").exists()  # delta-rs keeps no checksum
    assert not append_once(rows, tmp_path / "t", "app-1", 0)  # answered from the table's state instead
    assert append_once(rows, tmp_path / "t", "app-1", 1)
    assert spark.read.format("delta").load(str(tmp_path / "t")).count() == 5


def test_writer_app_id_is_stable_per_checkpoint_and_new_for_a_new_one(tmp_path):
    first = writer_app_id(tmp_path / "cp")
    assert writer_app_id(tmp_path / "cp") == first
    assert writer_app_id(tmp_path / "other") != first


def test_writer_app_id_is_the_checkpoints_own_query_id_written_before_spark_starts(tmp_path):
    app_id = writer_app_id(tmp_path / "cp")
    query_id = json.loads((tmp_path / "cp" / "metadata").read_text())["id"]
    assert app_id == f"bronze-{query_id}"
    assert not list((tmp_path / "cp").glob(".*partial"))


def _checkpoint_with_a_batch(path):
    writer_app_id(path)
    (path / "commits").mkdir()
    (path / "commits" / "0").write_text("v1\n{}\n")


def test_a_checkpoint_with_batches_whose_writer_id_went_missing_or_empty_is_refused(tmp_path):
    _checkpoint_with_a_batch(tmp_path / "cp")
    (tmp_path / "cp" / WRITER_ID_FILE).unlink()
    with pytest.raises(ReelhouseError, match="has committed batches but no reelhouse_writer_id"):
        writer_app_id(tmp_path / "cp")
    (tmp_path / "cp" / WRITER_ID_FILE).write_text("")
    with pytest.raises(ReelhouseError, match="is empty"):
        writer_app_id(tmp_path / "cp")


def test_an_old_writer_id_left_in_a_reset_checkpoint_is_refused(tmp_path):
    _checkpoint_with_a_batch(tmp_path / "cp")
    for entry in ("metadata", "commits/0"):  # the user cleared the checkpoint but not our file
        (tmp_path / "cp" / entry).unlink()
    with pytest.raises(ReelhouseError, match="its checkpoint is gone"):
        writer_app_id(tmp_path / "cp")


def test_a_checkpoint_from_before_the_id_was_tied_to_it_keeps_its_recorded_id(tmp_path):
    (tmp_path / "cp").mkdir()
    (tmp_path / "cp" / "metadata").write_text('{"id":"1b4e28ba-2fa1-11d2-883f-0016d3cca427"}\n')
    (tmp_path / "cp" / WRITER_ID_FILE).write_text("bronze-0f8fad5b-d9cb-469f-a165-70867728950e")
    assert writer_app_id(tmp_path / "cp") == "bronze-0f8fad5b-d9cb-469f-a165-70867728950e"


def test_bronze_keeps_statistics_only_for_filter_columns(spark, tmp_path):
    from ingestion.io import ensure_tables

    ensure_tables(spark, tmp_path / "b", tmp_path / "q", tmp_path / "p")
    properties = spark.sql(f"DESCRIBE DETAIL delta.`{tmp_path / 'b'}`").collect()[0].properties
    assert properties["delta.enableChangeDataFeed"] == "true"
    assert set(properties["delta.dataSkippingStatsColumns"].split(",")) >= {"event_at", "video_id", "region"}


def test_a_bronze_table_of_an_older_release_gains_the_new_contract_fields(spark, tmp_path):
    from ingestion.io import KAFKA_SOURCE_SCHEMA, ensure_tables
    from ingestion.transforms import parse_kafka_records, to_bronze

    ensure_tables(spark, tmp_path / "b", tmp_path / "q", tmp_path / "p")
    current = spark.read.format("delta").load(str(tmp_path / "b")).schema
    old = tmp_path / "old"  # bronze as the release before `error_category` made it, with a row
    event = {"user_id": "u1", "video_id": "v1", "watch_time_seconds": 0.0, "resolution": "720p",
             "bitrate_kbps": 2800, "buffering_events": 0, "paused": False, "skipped": False, "genre": "Drama",
             "region": "US", "recommended": False, "timestamp": "2025-05-14T10:00:00Z",
             "playback_started": False, "error_code": "GEO_BLOCKED", "error_category": "business"}
    record = spark.createDataFrame(
        [(None, json.dumps(event).encode(), "t", 0, 0, datetime(2025, 5, 14, 10), 0)], KAFKA_SOURCE_SCHEMA)
    bronze_rows = to_bronze(parse_kafka_records(record))
    bronze_rows.drop("error_category").write.format("delta").save(str(old))

    ensure_tables(spark, old, tmp_path / "q", tmp_path / "p")
    append_once(bronze_rows.withColumn("kafka_offset", bronze_rows.kafka_offset + 1), old, "app-1", 0)

    upgraded = spark.read.format("delta").load(str(old))
    assert sorted(upgraded.columns) == sorted(current.names)
    assert sorted((r.kafka_offset, r.error_category) for r in upgraded.collect()) == [(0, None), (1, "business")]


def test_the_streamed_tables_checkpoint_every_hundred_commits_and_an_older_table_gains_it(spark, tmp_path):
    from ingestion.io import ensure_tables

    def properties(path):
        return spark.sql(f"DESCRIBE DETAIL delta.`{path}`").collect()[0].properties

    ensure_tables(spark, tmp_path / "b", tmp_path / "q", tmp_path / "p")
    assert properties(tmp_path / "b")["delta.checkpointInterval"] == "100"
    assert properties(tmp_path / "p")["delta.checkpointInterval"] == "100"

    old, own = tmp_path / "old", tmp_path / "own"  # made before the property; one whose owner set their own
    spark.range(1).write.format("delta").save(str(old))
    spark.range(1).write.format("delta").option("delta.checkpointInterval", "7").save(str(own))
    ensure_tables(spark, old, tmp_path / "q", tmp_path / "p")
    ensure_tables(spark, own, tmp_path / "q", tmp_path / "p")
    assert properties(old)["delta.checkpointInterval"] == "100"
    assert properties(old)["delta.enableChangeDataFeed"] == "true"
    assert properties(own)["delta.checkpointInterval"] == "7"


def test_committed_batch_reads_the_checksum_not_the_whole_table_state(spark, tmp_path):
    import pyarrow as pa
    from deltalake import write_deltalake

    from ingestion.io import committed_batch

    rows = spark.createDataFrame([(1,), (2,)], "n int")
    for batch_id in (0, 3):
        append_once(rows, tmp_path / "t", "app-1", batch_id)
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()  # as a restarted stream finds the table
    # Delta's own lookup rebuilds the table's state: three Spark jobs, about 0.5 s at a stream's start
    assert _jobs_run_by(spark, lambda: committed_batch(spark, tmp_path / "t", "app-1")) == 0
    assert committed_batch(spark, tmp_path / "t", "app-1") == 3
    assert committed_batch(spark, tmp_path / "t", "another-app") == -1
    write_deltalake(str(tmp_path / "t"), pa.table({"n": pa.array([3], pa.int32())}), mode="append")
    assert committed_batch(spark, tmp_path / "t", "app-1") == 3  # no checksum: from the table's state
