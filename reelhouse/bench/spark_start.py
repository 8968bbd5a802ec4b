"""`reelhouse bench spark-start`: what the drivers' class archive saves on a command's start.

The same small command (`reelhouse load-generated --events 200`: the CLI, a Spark session, one
Delta write of bronze and quarantine) with the archive and without it, alternating round by
round in one run on a scratch lakehouse: the machine's noise falls on both alike.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from foundation.settings import Settings
from foundation.spark import class_archive_of
from reelhouse.bench.scratch import machine, scratch_lakehouse

COMMAND = ("load-generated", "--events", "200")
MODES = {"with_archive": True, "without_archive": False}


def summarise(seconds: dict[str, list[float]]) -> dict:
    """Medians per mode and their ratio (with / without: below 1 is faster)."""
    medians = {mode: round(statistics.median(runs), 2) for mode, runs in seconds.items()}
    return {"median_seconds": medians,
            "ratio_with_to_without": round(medians["with_archive"] / medians["without_archive"], 3)}


def bench_spark_start(settings: Settings, rounds: int = 3) -> dict:
    archive = class_archive_of(settings)
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    with scratch_lakehouse(settings, "spark-start") as scratch:
        for round_number in range(1, rounds + 1):
            for mode, mapped in MODES.items():
                environment = {**os.environ, **scratch.with_overrides(class_archive=mapped).environment()}
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "reelhouse.cli", *COMMAND], env=environment,
                               check=True, capture_output=True, text=True, timeout=600)
                seconds[mode].append(round(time.perf_counter() - started, 2))
                print(f"bench spark-start: round {round_number}/{rounds} {mode}: {seconds[mode][-1]:.1f} s",
                      flush=True)
    return {
        "benchmark": "spark_start", "machine": machine(), "command": "reelhouse " + " ".join(COMMAND),
        "archive": str(archive) if archive and archive.is_file() else None,
        "rounds": rounds, "seconds": seconds, **summarise(seconds),
    }
