"""Kafka -> bronze with a real broker, real Spark and real Delta tables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace

import pytest
from fault_ledger import landed_offsets
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.admin import NewPartitions
from pyspark.sql import functions as F

from foundation import delta_rs
from foundation.errors import ReelhouseError
from ingestion.generator import GeneratorOptions
from ingestion.io import committed_batch, writer_app_id
from ingestion.jobs.stream import ProgressLedger, StreamOptions, reset, run
from ingestion.producer import produce
from ingestion.tables import BRONZE, PROGRESS, QUARANTINE, STREAM_CHECKPOINT
from reelhouse.services.kafka import end_offsets, ensure_topic

pytestmark = pytest.mark.integration

# what the streaming job must call each kind of message the generator breaks on purpose
EXPECTED_REASON = {
    "not_json": "not_json", "not_utf8": "not_utf8", "missing_field": "missing_field",
    "null_field": "missing_field", "wrong_type": "wrong_type", "negative_watch_time": "invalid_value",
    "unknown_resolution": "invalid_value", "bad_timestamp": "unparseable_timestamp",
    "not_object": "not_object", "empty": "empty",
}


def _topic_settings(kafka, tmp_path, topic):
    settings = kafka.with_overrides(home=tmp_path / "home", topic=topic)
    ensure_topic(settings.bootstrap_servers, topic, 3, 1)
    return settings


def _all_offsets(settings) -> list[tuple[int, int]]:
    ends = end_offsets(settings.bootstrap_servers, settings.topic)
    return sorted((p, o) for p, end in ends.items() for o in range(end))


def test_every_offset_lands_exactly_once_in_bronze_or_quarantine(spark, kafka, tmp_path, fault_tally):
    settings = _topic_settings(kafka, tmp_path, "invariant")
    sent = produce(GeneratorOptions(events=12_000, seed=5, bad_ratio=0.05, chunk_size=2_000),
                   settings.bootstrap_servers, settings.topic)

    run(settings, StreamOptions(available_now=True, max_offsets_per_trigger=5_000))

    landed = landed_offsets(spark, settings)
    assert fault_tally(f"{len(EXPECTED_REASON)} kinds of malformed message (5 % of 12,000)", landed,
                       _all_offsets(settings)).clean == (0, 0, 0)
    assert len(landed) == len(set(landed)), "an offset landed twice"
    assert sorted(landed) == _all_offsets(settings)
    assert len(landed) == sent.sent == 12_000

    quarantine = spark.read.format("delta").load(str(settings.table_path(*QUARANTINE)))
    by_reason = Counter({r.reason: r["count"] for r in quarantine.groupBy("reason").count().collect()})
    expected = Counter()
    for kind, count in sent.malformed.items():
        expected[EXPECTED_REASON[kind]] += count
    assert by_reason == expected

    progress = spark.read.format("delta").load(str(settings.table_path(*PROGRESS))).collect()
    assert sum(r.num_input_rows for r in progress) == 12_000
    # Spark adopted the checkpoint id we wrote, and bronze's idempotent writes carry it
    query_id = json.loads((settings.checkpoint_path(STREAM_CHECKPOINT) / "metadata").read_text().splitlines()[0])["id"]
    assert {r.query_id for r in progress} == {query_id}
    assert committed_batch(spark, settings.table_path(*BRONZE), f"bronze-{query_id}") >= 2
    assert len(progress) >= 3  # 5,000 offsets per trigger
    assert all(r.processed_rows_per_second > 0 for r in progress)


def test_sigkill_mid_stream_then_restart_loses_and_duplicates_nothing(spark, kafka, tmp_path, fault_tally):
    settings = _topic_settings(kafka, tmp_path, "killed")
    produce(GeneratorOptions(events=30_000, seed=9, bad_ratio=0.02, chunk_size=5_000),
            settings.bootstrap_servers, settings.topic)
    env = {
        **os.environ, "REELHOUSE_HOME": str(settings.home), "REELHOUSE_KAFKA_PORT": str(settings.kafka_port),
        "REELHOUSE_TOPIC": settings.topic, "REELHOUSE_SPARK_MASTER": "local[2]",
    }
    stream = subprocess.Popen(
        [sys.executable, "-m", "reelhouse.cli", "stream", "--max-offsets-per-trigger", "1500",
         "--trigger-seconds", "0"],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    delta_log = settings.table_path(*BRONZE) / "_delta_log"
    deadline = time.monotonic() + 240
    try:
        # wait until a few batches have committed, then kill the whole process group
        while len(list(delta_log.glob("*.json"))) < 4:
            assert stream.poll() is None, "the stream exited on its own"
            assert time.monotonic() < deadline, "no batch committed in time"
            time.sleep(0.2)
    finally:
        os.killpg(stream.pid, signal.SIGKILL)
        stream.wait()

    partial = len(landed_offsets(spark, settings))
    assert 0 < partial < 30_000, "the kill should land mid-stream"

    run(settings, StreamOptions(available_now=True))

    landed = landed_offsets(spark, settings)
    assert fault_tally("SIGKILL of the stream mid-run, then a restart", landed,
                       _all_offsets(settings)).clean == (0, 0, 0)
    assert len(landed) == len(set(landed)), "a replayed batch was written twice"
    assert sorted(landed) == _all_offsets(settings)


# a client release sending large garbage: more bytes than the stream's whole driver heap
POISON_RECORDS, POISON_BYTES, SMALL_DRIVER_MEMORY = 400, 900_000, "1g"


def test_a_burst_of_large_malformed_records_is_quarantined_by_a_stream_with_a_small_driver_heap(
        spark, kafka, tmp_path, fault_tally):
    settings = _topic_settings(kafka, tmp_path, "poison")
    produce(GeneratorOptions(events=2_000, seed=4, chunk_size=1_000), settings.bootstrap_servers, settings.topic)
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, max_request_size=2 * POISON_BYTES)
    for n in range(POISON_RECORDS):
        producer.send(settings.topic, (b"garbage %d " % n) * (POISON_BYTES // 12))
    producer.flush()
    producer.close()
    env = {
        **os.environ, "REELHOUSE_HOME": str(settings.home), "REELHOUSE_KAFKA_PORT": str(settings.kafka_port),
        "REELHOUSE_TOPIC": settings.topic, "REELHOUSE_SPARK_MASTER": "local[2]",
        "REELHOUSE_DRIVER_MEMORY": SMALL_DRIVER_MEMORY,
    }
    # one micro-batch holds every record: the rejected ones alone outweigh the heap
    stream = subprocess.run(
        [sys.executable, "-m", "reelhouse.cli", "stream", "--available-now"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert stream.returncode == 0, stream.stderr[-2_000:]

    landed = landed_offsets(spark, settings)
    assert fault_tally("400 malformed messages of 900 KB in one batch, 1 GiB driver heap", landed,
                       _all_offsets(settings)).clean == (0, 0, 0)
    assert len(landed) == len(set(landed)), "an offset landed twice"
    assert sorted(landed) == _all_offsets(settings)
    # read without the shared test JVM: 360 MB of raw values in 2 files exhausted its heap
    poison = delta_rs.rows(f"select reason, count(*) as records from q where length(raw_value) > {POISON_BYTES // 2} "
                           "group by reason", q=settings.table_path(*QUARANTINE))
    assert poison == [{"reason": "not_json", "records": POISON_RECORDS}]


def test_kafka_deleting_unread_records_stops_the_stream_with_one_line_and_a_reset_goes_on_exactly_once(
    spark, kafka, tmp_path, fault_tally
):
    settings = kafka.with_overrides(home=tmp_path / "home", topic="lossy")
    ensure_topic(settings.bootstrap_servers, settings.topic, 1, 1)
    options = StreamOptions(available_now=True)
    produce(GeneratorOptions(events=300, seed=31, bad_ratio=0.05), settings.bootstrap_servers, settings.topic)
    run(settings, options)
    produce(GeneratorOptions(events=200, seed=32, bad_ratio=0.05), settings.bootstrap_servers, settings.topic)
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        # retention takes offsets 300-399 before the stream read them
        admin.delete_records({TopicPartition(settings.topic, 0): 400})

        with pytest.raises(ReelhouseError) as failure:
            run(settings, options)
        message = str(failure.value)
        assert "\n" not in message and "'lossy'" in message and "--reset" in message, message
        assert sorted(landed_offsets(spark, settings)) == [(0, o) for o in range(300)]  # nothing skipped

        plan, aside = reset(settings)
        assert plan.lost == {0: (300, 400)} and plan.starting_offsets == {0: 400}
        assert "offsets 300 to 399 (100 records) were deleted" in (aside / "reset.txt").read_text()
        run(settings, replace(options, starting_offsets=plan.spark_starting_offsets()))
        landed = landed_offsets(spark, settings)
        still_held = [(0, o) for o in range(300)] + [(0, o) for o in range(400, 500)]
        assert fault_tally("Kafka deleted 100 unread records (the 100 named by the reset, not counted here), "
                           "then `stream --reset`", landed, still_held).clean == (0, 0, 0)
        assert len(landed) == len(set(landed))
        assert sorted(landed) == still_held

        # partitions added later are followed from their first offset, under the new checkpoint
        admin.create_partitions({settings.topic: NewPartitions(3)})
    finally:
        admin.close()
    produce(GeneratorOptions(events=300, seed=33), settings.bootstrap_servers, settings.topic)
    run(settings, options)
    landed = landed_offsets(spark, settings)
    ends = end_offsets(settings.bootstrap_servers, settings.topic)
    assert min(ends[1], ends[2]) > 0  # the new partitions received events
    still_held = ([(0, o) for o in range(300)] + [(0, o) for o in range(400, ends[0])]
                  + [(p, o) for p in (1, 2) for o in range(ends[p])])
    assert fault_tally("partitions added to the topic", landed, still_held).clean == (0, 0, 0)
    assert len(landed) == len(set(landed))
    assert sorted(landed) == sorted(still_held)


def test_a_reset_after_what_bronze_holds_loses_nothing_and_a_recreated_topic_is_refused(
        spark, kafka, tmp_path, fault_tally):
    settings = kafka.with_overrides(home=tmp_path / "home", topic="kept")
    ensure_topic(settings.bootstrap_servers, settings.topic, 1, 1)
    produce(GeneratorOptions(events=50, seed=34), settings.bootstrap_servers, settings.topic)
    run(settings, StreamOptions(available_now=True))
    plan, aside = reset(settings)
    assert plan.lost == {} and plan.starting_offsets == {0: 50}
    assert not settings.checkpoint_path(STREAM_CHECKPOINT).exists() and aside.is_dir()
    # a new checkpoint without the reset's plan would read offsets 0-49 again; so would one whose
    # first run stopped before it logged a batch (its id and metadata written, no offsets yet)
    with pytest.raises(ReelhouseError, match="would land them twice"):
        run(settings, StreamOptions(available_now=True))
    writer_app_id(settings.checkpoint_path(STREAM_CHECKPOINT))  # what a run writes before Spark starts
    with pytest.raises(ReelhouseError, match="would land them twice"):
        run(settings, StreamOptions(available_now=True))
    assert fault_tally("a new checkpoint (lost, or from a reset) beside a bronze that holds the topic",
                       landed_offsets(spark, settings), [(0, o) for o in range(50)]).clean == (0, 0, 0)
    assert len(landed_offsets(spark, settings)) == 50

    elsewhere = settings.with_overrides(topic="smaller")  # a topic whose offsets end before bronze's
    ensure_topic(settings.bootstrap_servers, elsewhere.topic, 1, 1)
    spark.read.format("delta").load(str(settings.table_path(*BRONZE))).withColumn(
        "kafka_topic", F.lit("smaller")).write.format("delta").mode("append").save(
        str(settings.table_path(*BRONZE)))
    with pytest.raises(ReelhouseError, match="deleted and re-created"):
        reset(elsewhere)


def _progress(batch_id: int, input_rows: int) -> dict:
    return {"id": "q", "runId": "r", "batchId": batch_id, "timestamp": "2026-12-03T08:00:00.000Z",
            "numInputRows": input_rows, "durationMs": {"triggerExecution": 500}, "sources": []}


def test_a_long_running_stream_records_every_batch_once_and_keeps_nothing_per_batch():
    ledger, counted, reported, taken = ProgressLedger(remember=300), {}, [], []
    for batch_id in range(5_000):
        counted[batch_id] = 10 + batch_id % 7  # the writer's count; Spark's counts the two reads
        reported += [_progress(batch_id, 2 * counted[batch_id]), _progress(batch_id, 0)]  # and an idle trigger
        if batch_id % 3 == 0:  # the progress loop runs every few batches and sees Spark's last 100 reports
            taken += ledger.take(reported[-100:], counted)
    taken += ledger.take(reported[-100:], counted)

    assert [(r.batch_id, r.num_input_rows) for r in taken] == [(b, 10 + b % 7) for b in range(5_000)]
    assert (ledger.batches, ledger.input_rows, ledger.busy_ms) == (
        5_000, sum(10 + b % 7 for b in range(5_000)), 5_000 * 500)
    assert counted == {} and len(ledger.recent) == 300
