"""`reelhouse bench ingest`: measured throughput and latency of the ingestion layer, as JSON.

Runs against its own broker (a free loopback port) and its own lakehouse under
`<home>/_bench/`, removed afterwards, so it never touches the demo's tables.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from foundation.errors import ReelhouseError
from foundation.settings import Settings
from foundation.spark import build_spark
from ingestion import io
from ingestion.generator import GeneratorOptions, generate_chunk
from ingestion.jobs.stream import StreamOptions, StreamReport, run
from ingestion.tables import BRONZE, PROGRESS
from ingestion.transforms import EVENT_SCHEMA, parse_event_time
from reelhouse.bench.scratch import machine, scratch_broker, scratch_lakehouse
from reelhouse.services.kafka import ensure_topic

TARGETS = {"sustained_events_per_second": 60_000, "stream_over_plain_spark": 0.9, "latency_p95_seconds": 1.5,
           "generator_events_per_second": 50_000}
BATCH = 200_000  # offsets per micro-batch in the throughput run (the stream's default cap)
LATENCY_RATE = 1_500  # events/s: the seed's 500 KB/s design load at ~330 bytes an event
ROUNDS = 2  # reelhouse stream, then plain Spark, twice: these machines are noisy, the ratio is stable


def _steady_rate(batches: list) -> float:
    """Events/s over every micro-batch but the first (JIT warm-up, table set-up); a batch is a
    progress row (`num_input_rows`, `duration_ms`), recorded by the stream or read from Spark."""
    steady = batches[1:] or batches
    milliseconds = sum(batch.duration_ms for batch in steady)
    return sum(batch.num_input_rows for batch in steady) / (milliseconds / 1000) if milliseconds else 0.0


def plain_spark_job(spark: SparkSession, settings: Settings, output: str, checkpoint: str) -> list[io.ProgressRow]:
    """The anchor: Kafka -> from_json -> a Delta sink partitioned by event date, drained with
    `availableNow`, on the same source options as `reelhouse stream`; no validation, no quarantine.
    Returns the progress of each micro-batch that read data, as the stream records its own."""
    source = io.read_kafka_stream(spark, settings.kafka, settings.topic, BATCH,
                                  min_partitions=2 * spark.sparkContext.defaultParallelism)
    events = source.select(F.from_json(F.col("value").cast("string"), EVENT_SCHEMA).alias("event"), "timestamp") \
        .select("event.*", F.col("timestamp").alias("kafka_timestamp")) \
        .withColumn("event_date", F.to_date(parse_event_time(F.col("timestamp"))))
    query = (events.writeStream.format("delta").partitionBy("event_date").option("checkpointLocation", checkpoint)
             .trigger(availableNow=True).start(output))
    query.awaitTermination()
    return io.progress_rows([p for p in io.query_progress(query) if p["numInputRows"] > 0])


def _side_by_side(settings: Settings, rounds: int) -> tuple[dict, list[tuple[StreamReport, float, float]]]:
    """Plain Spark and `reelhouse stream` over the same topic, alternated `rounds` times in one
    process; also each stream run's (report, steady events/s, wall seconds)."""
    plain_rates, stream_runs = [], []
    for round_number in range(rounds):
        # ours first: its first run also starts Spark and warms the JVM up, which only counts against it
        ours = settings.with_overrides(home=settings.home / f"stream-{round_number}")
        started = time.perf_counter()
        report = run(ours, StreamOptions(available_now=True, max_offsets_per_trigger=BATCH))
        wall = time.perf_counter() - started
        spark = build_spark(settings, "reelhouse-bench")
        progress = spark.read.format("delta").load(str(ours.table_path(*PROGRESS))).orderBy("started_at").collect()
        stream_runs.append((report, _steady_rate(progress), wall))
        plain_home = settings.home / f"plain-{round_number}"
        plain_rates.append(_steady_rate(plain_spark_job(
            spark, settings, str(plain_home / "events"), str(plain_home / "_checkpoint"))))
    ratios = [stream_rate / plain_rate
              for plain_rate, (_, stream_rate, _) in zip(plain_rates, stream_runs, strict=True) if plain_rate]
    return {
        "order": f"reelhouse stream, then plain Spark, {rounds} times, one Spark session, the same topic",
        "max_offsets_per_trigger": BATCH,
        "plain_spark_events_per_second": [round(r) for r in plain_rates],
        "reelhouse_stream_events_per_second": [round(rate) for _, rate, _ in stream_runs],
        "ratio_per_round": [round(r, 3) for r in ratios],
        "ratio": round(sum(ratios) / len(ratios), 3) if ratios else None,
        "measured_as": "input rows over the summed trigger durations of each run's micro-batches but its first",
    }, stream_runs


def _generation_rate(events: int) -> float:
    options = GeneratorOptions(events=events, seed=1)
    started = time.perf_counter()
    for index in range(options.chunks):
        generate_chunk(options, index)
    return events / (time.perf_counter() - started)


PRODUCED = re.compile(r"^sent ([\d,]+) events to \S+ in [\d.]+s \(([\d,]+) events/s\)$", re.MULTILINE)


def _produce_from_cli(settings: Settings, events: int) -> tuple[int, int]:
    """(events sent, events/s) of `reelhouse produce` run as a user runs it: its own process, its
    own interpreter, the default options."""
    env = {**os.environ, **settings.environment()}
    done = subprocess.run([sys.executable, "-m", "reelhouse.cli", "produce", "--events", str(events), "--seed", "1",
                           "--quiet"], env=env, capture_output=True, text=True)
    summary = PRODUCED.search(done.stdout)
    if done.returncode or not summary:
        last = ((done.stderr or done.stdout).strip().splitlines() or ["no output"])[-1]
        raise ReelhouseError(f"reelhouse produce failed (exit {done.returncode}): {last}")
    sent, rate = (int(group.replace(",", "")) for group in summary.groups())
    return sent, rate


def _latency(settings: Settings, seconds: float, warmup_seconds: float = 15.0) -> dict:
    """Event -> bronze latency at LATENCY_RATE, in steady state.

    Measured per row as its Delta commit time (change data feed) minus its Kafka append time,
    for the events sent once a warm-up burst at the same rate has landed (the first
    micro-batches pay for JIT compilation and table set-up).
    """
    spark = build_spark(settings, "reelhouse-bench")
    topic_settings = settings.with_overrides(topic="bench-latency", home=settings.home / "latency")
    ensure_topic(topic_settings.kafka, topic_settings.topic, 3, 1)
    # the trigger a user gets: `reelhouse stream` without options
    trigger_seconds = topic_settings.trigger_seconds
    stream = threading.Thread(target=run, args=(topic_settings, StreamOptions(trigger_seconds=trigger_seconds)))
    stream.start()
    # the producer is a process of its own, as in production, not a thread sharing our GIL
    env = {**os.environ, **topic_settings.environment()}

    def send(events: int, seed: int) -> None:
        subprocess.run(
            [sys.executable, "-m", "reelhouse.cli", "produce", "--events", str(events), "--rate", str(LATENCY_RATE),
             "--start", "now", "--seed", str(seed), "--quiet"],
            env=env, check=True, stdout=subprocess.DEVNULL,
        )

    bronze = topic_settings.table_path(*BRONZE)

    def wait_for_bronze(rows: int) -> None:
        """Until the stream has committed `rows` offsets (read from its progress: no Spark job)."""
        def committed() -> int:
            progress = [q.lastProgress for q in spark.streams.active if q.lastProgress]
            # the Kafka source reports its end offsets as JSON text: {"topic": {"0": 123, ...}}
            ends = [json.loads(s["endOffset"]) for p in progress for s in p["sources"] if s.get("endOffset")]
            return sum(sum(partitions.values()) for end in ends for partitions in end.values())

        while committed() < rows:
            time.sleep(0.5)

    warmup_events = int(LATENCY_RATE * warmup_seconds)
    send(warmup_events, seed=3)
    wait_for_bronze(warmup_events)  # the stream has caught up with the warm-up burst
    measured_from = datetime.now(UTC)
    events = int(LATENCY_RATE * seconds)
    send(events, seed=2)
    wait_for_bronze(warmup_events + events)
    for query in spark.streams.active:
        query.stop()
    stream.join()
    changes = (
        spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 0)
        .load(str(bronze))
        .where(F.col("kafka_timestamp") >= F.lit(measured_from))
        .select((F.col("_commit_timestamp").cast("double") - F.col("kafka_timestamp").cast("double")).alias("s"))
    )
    stats = changes.agg(
        F.count("*").alias("n"),
        F.percentile("s", 0.5).alias("p50"), F.percentile("s", 0.95).alias("p95"),
        F.percentile("s", 0.99).alias("p99"), F.max("s").alias("max"),
    ).collect()[0]
    return {
        "rate_events_per_second": LATENCY_RATE, "events": events, "landed": stats.n,
        "warmup_events": warmup_events,
        "trigger": f"every {trigger_seconds:g} s" if trigger_seconds else "each batch when the last ends (the default)",
        "p50_seconds": round(stats.p50, 3), "p95_seconds": round(stats.p95, 3),
        "p99_seconds": round(stats.p99, 3), "max_seconds": round(stats.max, 3),
        "measured_as": "Delta _commit_timestamp (change data feed) minus Kafka append timestamp",
    }


def bench_ingest(
    settings: Settings, events: int = 600_000, latency_seconds: float = 40.0, warmup_seconds: float = 15.0,
    rounds: int = ROUNDS,
) -> dict:
    with scratch_lakehouse(settings, "ingest") as scratch, scratch_broker(scratch, "bench-throughput") as bench:
        generate_only = _generation_rate(min(events, 100_000))
        sent, sent_per_second = _produce_from_cli(bench, events)

        side_by_side, stream_runs = _side_by_side(bench, rounds)
        report, _, wall = stream_runs[0]
        steady_rate = sum(rate for _, rate, _ in stream_runs) / len(stream_runs)

        latency = _latency(bench, latency_seconds, warmup_seconds)

    result = {
        "benchmark": "ingest",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "generator": {
            "generate_only_events_per_second": round(generate_only),
            "produce_to_kafka_events_per_second": sent_per_second,
            "produce_events": sent,
            "producer": "`reelhouse produce --events N --seed 1 --quiet` in its own process, default options "
                        "(1 sender + 1 generator worker), every event acknowledged",
        },
        "kafka_to_bronze": {
            "events": report.input_rows,
            "micro_batches": report.batches,
            "max_offsets_per_trigger": BATCH,
            "sustained_events_per_second": round(steady_rate),  # the mean of the side-by-side runs
            "all_batches_events_per_second": round(report.rows_per_second),
            "wall_seconds_including_spark_start": round(wall, 1),
        },
        "against_plain_spark": side_by_side,
        "latency_at_design_load": latency,
        "targets": TARGETS,
    }
    result["targets_met"] = {
        "sustained_events_per_second": steady_rate >= TARGETS["sustained_events_per_second"],
        "stream_over_plain_spark": (side_by_side["ratio"] or 0) >= TARGETS["stream_over_plain_spark"],
        "latency_p95_seconds": latency["p95_seconds"] <= TARGETS["latency_p95_seconds"],
        "generator_events_per_second": sent_per_second >= TARGETS["generator_events_per_second"],
    }
    return result
