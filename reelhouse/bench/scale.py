"""`reelhouse bench scale`: throughput per core of ingestion and dbt on 1, 2 and 4 executor cores.

Each run is the unchanged job in its own process (`reelhouse stream`, `reelhouse dbt build`)
with `REELHOUSE_SPARK_MASTER=local[N]`: N task slots, the executor cores a cluster would
give it. Ingestion reads the same topic (one broker, filled once) into a fresh lakehouse
each time; dbt rebuilds (`--full-refresh`) silver and gold from the same bronze. Runs with
more cores than the machine has show what oversubscription buys: nothing, or less.
The parent process starts no Spark of its own; it reads the results with delta-rs.
Everything lives under `<home>/_bench/scale-<time>/`, removed afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from deltalake import DeltaTable

from foundation import processes
from foundation.errors import ReelhouseError
from foundation.settings import Settings
from ingestion.generator import GeneratorOptions, generate_chunk
from ingestion.producer import produce
from ingestion.tables import BRONZE, PROGRESS
from reelhouse.bench.scratch import machine, scratch_broker, scratch_lakehouse, scratch_metastore

BATCH = 100_000  # offsets per micro-batch: several batches per run, the first one excluded as warm-up


def _job(settings: Settings, *arguments: str, log: Path) -> float:
    """Run `reelhouse <arguments>` on `settings` in its own process; its wall time in seconds."""
    started = time.perf_counter()
    with log.open("w") as output:
        finished = subprocess.run([sys.executable, "-m", "reelhouse.cli", *arguments],
                                  env={**os.environ, **settings.environment()}, stdout=output,
                                  stderr=subprocess.STDOUT, check=False)
    if finished.returncode != 0:
        raise ReelhouseError(f"`reelhouse {' '.join(arguments)}` failed in the benchmark: {processes.log_tail(log)}")
    return time.perf_counter() - started


def _table_bytes(path: Path) -> int:
    return sum(DeltaTable(str(path)).get_add_actions(flatten=True).column("size_bytes").to_pylist())


def message_bytes(sample_events: int = 20_000) -> float:
    """Mean size of one Kafka message (value + key) as the generator makes them."""
    chunk = generate_chunk(GeneratorOptions(events=sample_events, seed=1, chunk_size=sample_events), 0)
    return sum(len(key) + len(value) for key, value in chunk.messages) / len(chunk.messages)


def _ingest_runs(settings: Settings, root: Path, executors: list[int], events: int) -> tuple[list[dict], dict]:
    runs, storage = [], {}
    with scratch_broker(settings.with_overrides(home=root / "kafka"), "bench-scale") as broker:
        produce(GeneratorOptions(events=events, seed=1), broker.kafka, broker.topic, workers=2)
        for cores in executors:
            run = broker.with_overrides(home=root / f"ingest-{cores}", spark_master=f"local[{cores}]")
            wall = _job(run, "stream", "--available-now", "--max-offsets-per-trigger", str(BATCH),
                        log=root / f"ingest-{cores}.log")
            progress = DeltaTable(str(run.table_path(*PROGRESS))).to_pandas().sort_values("started_at")
            steady = progress.iloc[1:] if len(progress) > 1 else progress  # the first batch warms the JIT up
            rate = steady.num_input_rows.sum() / (steady.duration_ms.sum() / 1000)
            runs.append({
                "executor_cores": cores,
                "events": int(progress.num_input_rows.sum()),
                "micro_batches": len(progress),
                "steady_events_per_second": round(rate),
                "steady_events_per_second_per_core": round(rate / cores),
                "wall_seconds_including_spark_start": round(wall, 1),
            })
            print(json.dumps({"ingest": runs[-1]}), flush=True)
            if not storage:
                bronze = run.table_path(*BRONZE)
                rows = DeltaTable(str(bronze)).to_pyarrow_dataset().count_rows()
                size = _table_bytes(bronze)
                storage = {"bronze_rows": rows, "bronze_bytes": size, "bronze_bytes_per_event": round(size / rows, 1)}
    return runs, storage


def _dbt_runs(settings: Settings, root: Path, executors: list[int], events: int) -> list[dict]:
    runs = []
    with scratch_metastore(settings.with_overrides(home=root / "dbt", spark_master="local[2]")) as home:
        _job(home, "load-generated", "--events", str(events), "--bad-ratio", "0.01", log=root / "dbt-load.log")
        for cores in executors:
            run = home.with_overrides(spark_master=f"local[{cores}]")
            wall = _job(run, "dbt", "build", "--full-refresh", log=root / f"dbt-{cores}.log")
            run_results = json.loads((run.home / "_dbt" / "target" / "run_results.json").read_text())
            # dbt's own elapsed time: from its start in the ready Spark session to the last test;
            # node times overlap (4 dbt threads), so their sum would overstate the work
            build = run_results["elapsed_time"]
            runs.append({
                "executor_cores": cores,
                "bronze_events": events,
                "build_seconds": round(build, 1),
                "wall_seconds_including_spark_start": round(wall, 1),
                "events_per_second": round(events / build),
                "events_per_second_per_core": round(events / build / cores),
            })
            print(json.dumps({"dbt": runs[-1]}), flush=True)
    return runs


def _speedups(runs: list[dict], key: str) -> dict[str, float]:
    base = runs[0][key]
    return {str(r["executor_cores"]): round(r[key] / base, 2) for r in runs}


def bench_scale(settings: Settings, executors: list[int], ingest_events: int, dbt_events: int) -> dict:
    with scratch_lakehouse(settings, "scale") as scratch:
        ingest, storage = _ingest_runs(settings, scratch.home, executors, ingest_events)
        dbt = _dbt_runs(settings, scratch.home, executors, dbt_events)
    return {
        "benchmark": "scale",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "method": ("each run is the unchanged job in its own process with REELHOUSE_SPARK_MASTER=local[N]; "
                   f"ingestion: `reelhouse stream --available-now` of {ingest_events:,} events from a 3-partition "
                   f"topic, {BATCH:,} offsets per micro-batch, rate over the batches after the first; dbt: "
                   f"`reelhouse dbt build --full-refresh` on {dbt_events:,} bronze events, rate over dbt's own "
                   "elapsed time (run_results.json: models and tests, 4 dbt threads)"),
        "kafka_message_bytes": round(message_bytes(), 1),
        "storage": storage,
        "ingest": ingest,
        "ingest_speedup": _speedups(ingest, "steady_events_per_second"),
        "dbt": dbt,
        "dbt_speedup": _speedups(dbt, "events_per_second"),
    }
