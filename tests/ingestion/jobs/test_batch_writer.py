"""The micro-batch writer on its own (no broker): idempotent per batch id, across both tables."""

import json

from fault_ledger import landed_offsets

from ingestion import io
from ingestion.io import KAFKA_SOURCE_SCHEMA
from ingestion.jobs.stream import BatchWriter
from ingestion.tables import BRONZE, QUARANTINE
from ingestion.transforms import parse_kafka_records, to_bronze

GOOD = {
    "user_id": "user_1", "video_id": "vid_1", "watch_time_seconds": 60.0, "resolution": "720p", "bitrate_kbps": 2800,
    "buffering_events": 0, "paused": False, "skipped": False, "genre": "Drama", "region": "MX",
    "recommended": True, "timestamp": "2025-05-14T10:00:00Z",
}


def _batch(spark):
    values = [json.dumps({**GOOD, "user_id": f"user_{i}"}).encode() for i in range(5)] + [b"{oops", b""]
    rows = [(b"k", v, "t", 0, offset, None, 0) for offset, v in enumerate(values)]
    return spark.createDataFrame(rows, KAFKA_SOURCE_SCHEMA)


def _counts(spark, settings):
    return tuple(
        spark.read.format("delta").load(str(settings.table_path(*table))).count() for table in (BRONZE, QUARANTINE)
    )


def _settings_with_tables(spark, settings, tmp_path):
    local = settings.with_overrides(home=tmp_path)
    io.ensure_tables(spark, local.table_path(*BRONZE), local.table_path(*QUARANTINE), tmp_path / "progress")
    return local


def test_a_batch_lands_once_even_when_replayed(spark, settings, tmp_path, fault_tally):
    local = _settings_with_tables(spark, settings, tmp_path)
    write = BatchWriter(local, "app")
    write(write.parse(_batch(spark)), 0)
    write(write.parse(_batch(spark)), 0)  # replayed after a crash
    assert fault_tally("a micro-batch replayed whole after a crash", landed_offsets(spark, local),
                       [(0, o) for o in range(7)]).clean == (0, 0, 0)
    assert _counts(spark, local) == (5, 2)
    reasons = sorted(r.reason for r in spark.read.format("delta").load(str(local.table_path(*QUARANTINE))).collect())
    assert reasons == ["empty", "not_json"]


def test_replay_after_a_crash_between_the_two_commits_fills_in_the_quarantine(spark, settings, tmp_path,
                                                                              fault_tally):
    local = _settings_with_tables(spark, settings, tmp_path)
    # the crash: batch 0 reached bronze, the process died before the quarantine commit
    io.append_once(to_bronze(parse_kafka_records(_batch(spark))), local.table_path(*BRONZE), "app", 0)
    assert _counts(spark, local) == (5, 0)
    write = BatchWriter(local, "app")
    write(write.parse(_batch(spark)), 0)
    assert fault_tally("a crash between the bronze and the quarantine commit of a batch", landed_offsets(spark, local),
                       [(0, o) for o in range(7)]).clean == (0, 0, 0)
    assert _counts(spark, local) == (5, 2)
    assert io.committed_batch(spark, local.table_path(*BRONZE), "app") == 0
    assert io.committed_batch(spark, local.table_path(*BRONZE), "other-app") == -1


def test_the_writer_reads_deltas_record_of_its_batches_once_and_still_skips_a_replay(spark, settings, tmp_path,
                                                                                     monkeypatch):
    local = _settings_with_tables(spark, settings, tmp_path)
    # the crash: batch 0 reached bronze before the process died
    io.append_once(to_bronze(parse_kafka_records(_batch(spark))), local.table_path(*BRONZE), "app", 0)
    lookups = []
    read_record = io.committed_batch
    monkeypatch.setattr(io, "committed_batch", lambda *args: lookups.append(args) or read_record(*args))
    write = BatchWriter(local, "app")
    for batch_id in (0, 1, 2, 2):  # the replayed batch, two new ones, the last replayed again
        write(write.parse(_batch(spark)), batch_id)
    assert len(lookups) == 1  # each lookup rebuilds the table's state: about 0.5 s a batch
    assert _counts(spark, local) == (15, 6)
    assert read_record(spark, local.table_path(*BRONZE), "app") == 2


def test_the_writer_lands_a_batch_in_as_many_tasks_as_it_is_given(spark, settings, tmp_path):
    """One task per core: the source's ranges (a partition's split in several) are joined, not
    run as a second wave of tasks with a core idle."""
    local = _settings_with_tables(spark, settings, tmp_path)
    write = BatchWriter(local, "app", tasks=2)
    write(write.parse(_batch(spark).repartition(5)), 0)
    added = spark.sql(f"DESCRIBE HISTORY delta.`{local.table_path(*BRONZE)}`").where("operation = 'WRITE'").first()
    assert added.operationMetrics["numFiles"] == "2"  # one file per task, all rows on one event date
    assert _counts(spark, local) == (5, 2)
