"""Kafka -> bronze Delta, exactly once, with malformed records quarantined.

Reads: the Kafka topic (`settings.topic`). Writes: `<home>/bronze/playback_events`
(partitioned by event_date), `<home>/bronze/playback_events_quarantine`, and one row per
micro-batch in `<home>/ops/stream_progress`. Checkpoint: `<home>/_checkpoints/bronze_playback_events`.

Run: `reelhouse stream` (every `--trigger-seconds`, until stopped) or
`reelhouse stream --available-now` (drain the topic, then exit); `reelhouse stream --reset` when
Kafka lost records it had not read (or the checkpoint is lost): see `reset`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F

from foundation.errors import ReelhouseError
from foundation.settings import Settings
from foundation.spark import build_spark
from ingestion import io
from ingestion.reset import ResetPlan, plan_reset
from ingestion.tables import BRONZE, PROGRESS, QUARANTINE, STREAM_CHECKPOINT
from ingestion.transforms import count_rejected, parse_kafka_records, to_bronze, to_quarantine

PROGRESS_EVERY_SECONDS = 10.0


@dataclass(frozen=True)
class StreamOptions:
    available_now: bool = False
    trigger_seconds: float = 0.0  # as soon as the last batch ends (Settings.trigger_seconds)
    # bounds a micro-batch on a backlog
    max_offsets_per_trigger: int = 200_000
    timeout_seconds: float | None = None  # stop a continuous stream after this long
    starting_offsets: str = "earliest"  # where a new checkpoint starts (a reset's plan)


@dataclass
class StreamReport:
    batches: int
    input_rows: int
    seconds: float
    rows_per_second: float  # input rows over the summed batch durations


class BatchWriter:
    """The stream's foreachBatch function: one micro-batch into bronze and its quarantine, once.

    `records` keeps each batch's Kafka record count until its progress is recorded: Spark's
    numInputRows counts a batch read twice (bronze, then its rejected records) twice.

    Only a run's first batch can be a replay (of the one a crash interrupted), so Delta's record
    of the writer's last batch is read once per writer and then kept here.
    """

    def __init__(self, settings: Settings, app_id: str, tasks: int | None = None):
        self.app_id = app_id
        self.tasks = tasks  # each batch in this many Spark tasks (None: one per range the source reads)
        self.bronze_path = settings.table_path(*BRONZE)
        self.quarantine_path = settings.table_path(*QUARANTINE)
        self.time_bounds = io.event_time_bounds(settings)
        self.records: dict[int, int] = {}
        self.committed: int | None = None  # the last batch id in bronze; None: not read yet

    def parse(self, records: DataFrame) -> DataFrame:
        """Kafka records -> what the call writes. The stream parses its source once, when it
        starts: built per micro-batch, the validation's plan took about 0.6 s of each to build."""
        return parse_kafka_records(records, self.time_bounds)

    def __call__(self, parsed: DataFrame, batch_id: int) -> None:
        ingested_at = F.lit(datetime.now(UTC)).cast("timestamp")
        if self.tasks:
            parsed = parsed.coalesce(self.tasks)
        if self.committed is None:
            self.committed = io.committed_batch(parsed.sparkSession, self.bronze_path, self.app_id)
        # a replay after a crash: bronze has this batch, quarantine may not (Delta skips the
        # append if it has)
        if self.committed < batch_id:
            counts = Observation(f"counts-{uuid.uuid4()}")
            bronze = to_bronze(parsed.observe(counts, F.count(F.lit(1)).alias("records"), count_rejected()),
                               ingested_at)
            io.append_once(bronze, self.bronze_path, self.app_id, batch_id)
            self.committed = batch_id
            self.records[batch_id] = counts.get["records"]
            if not counts.get["rejected"]:
                return
        # a second pass over the batch, written by the executors: a burst of large malformed
        # records must never be gathered on the driver
        io.append_once(to_quarantine(parsed, ingested_at), self.quarantine_path, self.app_id, batch_id)


class ProgressLedger:
    """The batches the stream recorded in its progress table: totals for its report, and the keys
    of the latest batches only. Spark reports its last 100 (spark.sql.streaming.numRecentProgressUpdates),
    so remembering more than that never records a batch twice, and a stream that runs for months
    keeps nothing per batch."""

    def __init__(self, remember: int = 1_000):
        self.recent: deque[tuple[str, int]] = deque(maxlen=remember)
        self.batches = 0
        self.input_rows = 0
        self.busy_ms = 0

    def take(self, progress: list[dict], records: dict[int, int]) -> list[io.ProgressRow]:
        """Rows for the batches in `progress` not taken before (idle triggers, with no input, are
        not batches); the writer's count of each batch taken leaves `records`."""
        seen = set(self.recent)
        fresh = [p for p in progress if p["numInputRows"] > 0 and (p["runId"], p["batchId"]) not in seen]
        rows = io.progress_rows(fresh, records)
        for row in rows:
            self.recent.append((row.run_id, row.batch_id))
            records.pop(row.batch_id, None)
        self.batches += len(rows)
        self.input_rows += sum(r.num_input_rows for r in rows)
        self.busy_ms += sum(r.duration_ms for r in rows)
        return rows


def run(settings: Settings, options: StreamOptions) -> StreamReport:
    spark = build_spark(settings, "reelhouse-stream")
    progress_path = settings.table_path(*PROGRESS)
    io.ensure_tables(spark, settings.table_path(*BRONZE), settings.table_path(*QUARANTINE), progress_path)
    checkpoint = settings.checkpoint_path(STREAM_CHECKPOINT)
    if options.starting_offsets == "earliest" and not io.has_logged_offsets(checkpoint) \
            and io.next_landed_offsets(spark, settings, settings.topic):
        raise ReelhouseError(
            f"bronze already holds records of {settings.topic!r} but the checkpoint {checkpoint} is new (lost?): "
            "reading the topic from its start would land them twice; `reelhouse stream --reset` goes on after them")
    # One task per core, each reading an equal share of every partition: Spark splits each Kafka
    # partition's range into `cores` (minPartitions = partitions x cores) and the writer joins them
    # into `cores` tasks. Three partitions as three tasks on two cores ran in two waves, one core
    # idle in the second, and each task costs ~0.1 s however few its records.
    cores = spark.sparkContext.defaultParallelism
    topic_partitions = len(io.kafka_offset_bounds(settings.kafka, settings.topic)) or 1
    source = io.read_kafka_stream(
        spark, settings.kafka, settings.topic, options.max_offsets_per_trigger,
        min_partitions=topic_partitions * cores, starting_offsets=options.starting_offsets,
    )
    write_batch = BatchWriter(settings, io.writer_app_id(checkpoint), tasks=cores)
    writer = (
        write_batch.parse(source).writeStream.queryName("bronze_playback_events")
        .foreachBatch(write_batch)
        .option("checkpointLocation", str(checkpoint))
    )
    writer = writer.trigger(availableNow=True) if options.available_now \
        else writer.trigger(processingTime=f"{options.trigger_seconds} seconds")

    started = time.monotonic()
    query = writer.start()
    ledger = ProgressLedger()

    def record_progress() -> None:
        io.append_progress(progress_path, ledger.take(io.query_progress(query), write_batch.records))

    try:
        while query.isActive:
            query.awaitTermination(PROGRESS_EVERY_SECONDS)
            record_progress()
            if options.timeout_seconds and time.monotonic() - started > options.timeout_seconds:
                query.stop()
    except KeyboardInterrupt:
        query.stop()
    except StreamingQueryException as error:
        raise ReelhouseError(failure_message(str(error), settings.topic)) from error
    record_progress()
    busy_seconds = ledger.busy_ms / 1000
    return StreamReport(
        batches=ledger.batches,
        input_rows=ledger.input_rows,
        seconds=time.monotonic() - started,
        rows_per_second=ledger.input_rows / busy_seconds if busy_seconds else 0.0,
    )


def reset(settings: Settings) -> tuple[ResetPlan, Path | None]:
    """Set the checkpoint aside and plan where a new one starts: after the last offset bronze or
    quarantine holds, or at the oldest record Kafka still holds. Bronze stays exactly once; what
    Kafka deleted unread is named in the plan (and in the set-aside checkpoint's reset.txt)."""
    spark = build_spark(settings, "reelhouse-stream")
    plan = plan_reset(settings.topic, io.next_landed_offsets(spark, settings, settings.topic),
                      io.kafka_offset_bounds(settings.kafka, settings.topic))
    aside = io.set_checkpoint_aside(settings.checkpoint_path(STREAM_CHECKPOINT), "\n".join(plan.describe()) + "\n")
    return plan, aside


DATA_LOSS_DETAILS = (
    r"Cannot fetch offset \d+[^)]*\)",
    r"Could not read records in offset \[\d+, \d+\) for topic partition \S+",
    r"Partition \S+ offset was changed from \d+ to \d+",
    r"Starting offset for \S+ was \d+ but consumer reset to \d+",
    r"Partitions? .{0,200}? ha(?:ve|s) been deleted",
    r"Cannot find initial offsets for partitions [^.]*",
)


def failure_message(error: str, topic: str) -> str:
    """One line for a failed query; for Kafka data loss, what was lost and how to go on."""
    if "KAFKA_DATA_LOSS" not in error and "Some data may have been lost" not in error:
        return f"streaming query failed: {error.splitlines()[0]}"
    found = (re.search(pattern, error) for pattern in DATA_LOSS_DETAILS)
    detail = next((m.group(0) for m in found if m), "see the stream's log")
    return (f"Kafka no longer holds records of {topic!r} that the stream has not read ({detail}); bronze keeps "
            "all it landed. `reelhouse stream --reset` goes on from the oldest records Kafka still holds and "
            "names the offsets lost")


def table_counts(settings: Settings) -> dict[str, int]:
    spark = build_spark(settings, "reelhouse-counts")
    return {
        "bronze": spark.read.format("delta").load(str(settings.table_path(*BRONZE))).count(),
        "quarantine": spark.read.format("delta").load(str(settings.table_path(*QUARANTINE))).count(),
    }
