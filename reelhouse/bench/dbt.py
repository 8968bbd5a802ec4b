"""`reelhouse bench dbt`: full and incremental `dbt build` times at growing sizes, as JSON.

Runs in its own lakehouse under `<home>/_bench/` with its own metastore (a free port),
removed afterwards. For each size N (cumulative): bronze is topped up to N events spread
over a week (written straight to bronze, `ingestion.jobs.load_generated`), then
`dbt build --full-refresh` is timed; then 1 % more events arrive, the ones that follow the
week at the same density (the next 1 % of its time), and a plain `dbt build` is timed. The times are dbt's own
(run_results.json), split into models and tests; the silver merge's Delta metrics show how
many rows the incremental run read.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from delta.tables import DeltaTable

from foundation.errors import ReelhouseError
from foundation.settings import Settings
from foundation.spark import build_spark
from ingestion.generator import SEED_EPOCH, GeneratorOptions
from ingestion.jobs import load_generated
from reelhouse.bench.scratch import machine, scratch_lakehouse, scratch_metastore
from reelhouse.dbt_runner import run_dbt

TARGET_INCREMENTAL_OVER_FULL = 0.15  # at the largest size
WEEK_DAYS = 7.0


def _timed_build(settings: Settings, arguments: list[str]) -> dict:
    started = time.perf_counter()
    if not run_dbt(settings, arguments):
        raise ReelhouseError(f"dbt {' '.join(arguments)} failed during the benchmark")
    wall = time.perf_counter() - started
    results = json.loads((settings.home / "_dbt" / "target" / "run_results.json").read_text())["results"]

    def seconds(kinds: tuple[str, ...]) -> float:
        return round(sum(r["execution_time"] for r in results if r["unique_id"].split(".")[0] in kinds), 1)

    return {
        "wall_seconds": round(wall, 1),
        "models_seconds": seconds(("model", "seed")),
        "tests_seconds": seconds(("test", "unit_test")),
        "slowest": sorted(
            ({"node": r["unique_id"].split(".", 2)[-1], "seconds": round(r["execution_time"], 1)} for r in results),
            key=lambda n: -n["seconds"],
        )[:5],
    }


def _last_silver_merge(spark, settings: Settings) -> dict:
    history = DeltaTable.forPath(spark, str(settings.table_path("silver", "stg_playback__events"))).history(1)
    row = history.select("operation", "operationMetrics").first()
    metrics = row.operationMetrics or {}
    return {
        "operation": row.operation,
        "source_rows": int(metrics.get("numSourceRows", 0)),
        "rows_inserted": int(metrics.get("numTargetRowsInserted", metrics.get("numOutputRows", 0))),
    }


def bench_dbt(settings: Settings, sizes: list[int], increment: float = 0.01) -> dict:
    runs = []
    with scratch_lakehouse(settings, "dbt") as scratch, scratch_metastore(scratch) as bench:
        spark = build_spark(bench, "reelhouse-bench-dbt", catalog=True)
        loaded, seed = 0, 100
        for size in sorted(sizes):
            seed += 1
            started = time.perf_counter()
            load_generated.run(spark, bench, GeneratorOptions(events=size - loaded, seed=seed, bad_ratio=0.01,
                                                              days=WEEK_DAYS), workers=2)
            load_seconds = time.perf_counter() - started
            loaded = size
            full = _timed_build(bench, ["build", "--full-refresh"])

            top_up = max(1, round(size * increment))
            seed += 1
            after_week = SEED_EPOCH + timedelta(days=WEEK_DAYS)
            load_generated.run(spark, bench, GeneratorOptions(events=top_up, seed=seed, bad_ratio=0.01,
                                                              start=after_week, days=WEEK_DAYS * increment),
                               workers=2)
            loaded += top_up
            incremental = _timed_build(bench, ["build"])
            runs.append({
                "events_in_bronze_at_full_build": size,
                "load_seconds": round(load_seconds, 1),
                "full_build": full,
                "incremental_events": top_up,
                "incremental_build": incremental,
                "incremental_silver_merge": _last_silver_merge(spark, bench),
                "incremental_over_full": round(incremental["wall_seconds"] / full["wall_seconds"], 3),
            })
            print(json.dumps(runs[-1]), flush=True)
    largest = runs[-1]
    return {
        "benchmark": "dbt",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "method": "dbt-spark session, local[*], one dbt thread; times from run_results.json",
        "runs": runs,
        "target": {"incremental_over_full_at_largest": TARGET_INCREMENTAL_OVER_FULL,
                   "met": largest["incremental_over_full"] <= TARGET_INCREMENTAL_OVER_FULL},
    }

