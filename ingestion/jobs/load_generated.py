"""Generated events straight into bronze, without Kafka: for benchmarks and tests of the layers above.

Reads: nothing (the load generator makes the messages). Writes: the bronze and quarantine
tables, through the stream's own parse and exactly-once write (`BatchWriter`), so the rows
are what `reelhouse stream` would have written. The Kafka coordinates are made up: topic
`generated-<load id>`, partition `chunk % partitions`, offsets counting up in each partition;
loading the same seed twice sends the same events again, at new coordinates, as a producer
retrying would (duplicates for silver to remove).

Run: `reelhouse load-generated --events N` (it is what `reelhouse bench dbt` fills bronze with).
"""

from __future__ import annotations

import base64
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from foundation.settings import Settings
from ingestion import io
from ingestion.generator import GeneratorOptions
from ingestion.jobs.stream import BatchWriter
from ingestion.producer import iter_chunks
from ingestion.tables import BRONZE, PROGRESS, QUARANTINE

PARTITIONS = 3


@dataclass
class LoadReport:
    events: int
    batches: int
    malformed: dict[str, int]


def kafka_shaped(lines: DataFrame, topic: str) -> DataFrame:
    """`partition \\t offset \\t base64(key) \\t base64(value)` lines -> Kafka source rows."""
    fields = F.split(F.col("value"), "\t")
    return lines.select(
        F.unbase64(fields[2]).alias("key"),
        F.unbase64(fields[3]).alias("value"),
        F.lit(topic).alias("topic"),
        fields[0].cast("int").alias("partition"),
        fields[1].cast("long").alias("offset"),
        F.current_timestamp().alias("timestamp"),
    )


def _write_lines(path: Path, chunks: list, chunk_size: int) -> None:
    with path.open("w") as out:
        for index, chunk in chunks:
            partition = index % PARTITIONS
            first_offset = (index // PARTITIONS) * chunk_size
            for position, (key, value) in enumerate(chunk.messages):
                out.write(f"{partition}\t{first_offset + position}\t"
                          f"{base64.b64encode(key).decode()}\t{base64.b64encode(value).decode()}\n")


def run(spark: SparkSession, settings: Settings, options: GeneratorOptions,
        batch_events: int = 500_000, workers: int = 1) -> LoadReport:
    io.ensure_tables(spark, settings.table_path(*BRONZE), settings.table_path(*QUARANTINE),
                     settings.table_path(*PROGRESS))
    load_id = uuid.uuid4().hex[:12]
    write_batch = BatchWriter(settings, f"load-generated-{load_id}")
    topic = f"generated-{load_id}"
    chunks_per_batch = max(1, batch_events // options.chunk_size)
    scratch = Path(tempfile.mkdtemp(prefix="reelhouse-load-"))
    report = LoadReport(0, 0, {})
    pending: list = []

    def flush() -> None:
        path = scratch / f"batch-{report.batches}.tsv"
        _write_lines(path, pending, options.chunk_size)
        write_batch(write_batch.parse(kafka_shaped(spark.read.text(str(path)), topic)), report.batches)
        path.unlink()
        report.batches += 1
        pending.clear()

    try:
        for index, chunk in enumerate(iter_chunks(options, workers)):
            pending.append((index, chunk))
            report.events += len(chunk.messages)
            for kind, count in chunk.malformed.items():
                report.malformed[kind] = report.malformed.get(kind, 0) + count
            if len(pending) == chunks_per_batch:
                flush()
        if pending:
            flush()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return report
