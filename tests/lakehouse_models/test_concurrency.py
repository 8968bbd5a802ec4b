"""The stream, dbt, maintenance and SQL readers share one lakehouse and one metastore (in PostgreSQL)
at the same time.

A real broker and `reelhouse stream` running continuously while events keep arriving;
meanwhile a `reelhouse dbt build` of the seed and the models up to gold.fct_views creates silver and gold, then a
second build (with its tests) replaces and merges them while a reader process queries them by name,
and `reelhouse maintain` compacts and vacuums bronze twice, each run its own JVM.
No process may see a metastore or lock error, and no event may be lost.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from fault_ledger import landed_offsets
from pyspark.sql import functions as F

from foundation.delta import is_delta_table
from ingestion.generator import GeneratorOptions
from ingestion.producer import produce
from ingestion.tables import BRONZE
from reelhouse.services.kafka import end_offsets, ensure_topic

pytestmark = pytest.mark.integration

READER = Path(__file__).with_name("catalog_reader.py")
MAINTAIN_RUNS = 2


def _wait_for_rows(spark, settings, rows: int, timeout: float) -> None:
    path = settings.table_path(*BRONZE)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_delta_table(path) and spark.read.format("delta").load(str(path)).count() >= rows:
            return
        time.sleep(2)
    raise AssertionError(f"bronze did not reach {rows} rows in {timeout}s")


def test_stream_dbt_and_readers_run_together_without_errors_or_loss(
    spark, kafka, lakehouse_with_catalog, reelhouse_cli, reelhouse_env, tmp_path, fault_tally
):
    # the catalog in PostgreSQL, the database for shared use (the other tests keep Derby's)
    settings = lakehouse_with_catalog("concurrent", database="postgres").with_overrides(
        kafka_port=kafka.kafka_port, topic="concurrent")
    ensure_topic(settings.bootstrap_servers, settings.topic, 3, 1)
    env = reelhouse_env(settings)
    first = GeneratorOptions(events=4_000, seed=11, days=1)
    produce(first, settings.bootstrap_servers, settings.topic)

    stream_log = tmp_path / "stream.log"
    # a file, not a pipe: a full pipe would stall the stream; a batch every 15 s (each costs seconds of
    # CPU on 2 cores, so every 5 s kept one core busy and slowed the builds) still lands many during each build
    with stream_log.open("w") as log:
        stream = subprocess.Popen(
            [sys.executable, "-m", "reelhouse.cli", "stream", "--trigger-seconds", "15"],
            env=env, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
    reader = None
    keep_sending = threading.Event()
    keep_sending.set()
    sent_later = []

    def send_more() -> None:
        seed = 100
        while keep_sending.is_set():
            seed += 1
            options = GeneratorOptions(events=100, seed=seed, days=1)
            sent_later.append(produce(options, settings.bootstrap_servers, settings.topic, rate=100).sent)

    sender = threading.Thread(target=send_more)
    maintained = []

    def maintain_bronze() -> None:
        # commits of another process than the stream's, on the same table (issue 16, item 6); twice,
        # spaced across the builds: each run is a JVM competing for the 2 cores the builds need
        while keep_sending.is_set() and len(maintained) < MAINTAIN_RUNS:
            maintained.append(reelhouse_cli(settings, "maintain", "--layers", "bronze", "--json"))
            for _ in range(30):
                if keep_sending.is_set():
                    time.sleep(1)

    maintainer = threading.Thread(target=maintain_bronze)
    try:
        _wait_for_rows(spark, settings, first.events, timeout=180)
        sender.start()
        maintainer.start()
        # the incremental path from bronze to gold.fct_views and the dimensions replaced beside it
        # (the seed, table rebuilds, merges): what concurrency can break; the other marts add time, not cases
        # (cautious: not the tests of other marts that also refer to a selected model)
        core = ("--select", "+fct_views", "+dim_videos", "--indirect-selection", "cautious")
        first_build = reelhouse_cli(settings, "dbt", "build", *core, "--exclude", "resource_type:test",
                                    "resource_type:unit_test")
        assert first_build.returncode == 0, first_build.stdout[-3000:]

        stop_file = tmp_path / "stop-reader"
        reader = subprocess.Popen(
            [sys.executable, str(READER), str(stop_file)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert json.loads(reader.stdout.readline()) == {"ready": True}
        # with the data tests, which read while the stream appends; the unit tests read no table
        second_build = reelhouse_cli(settings, "dbt", "build", *core, "--exclude", "resource_type:unit_test")
        assert second_build.returncode == 0, second_build.stdout[-3000:]
        stop_file.touch()
        reads = [json.loads(line) for line in reader.communicate(timeout=120)[0].splitlines()]
        keep_sending.clear()
        sender.join()
        maintainer.join()
        # the running stream takes in what was still on its way: every event sent is in bronze
        _wait_for_rows(spark, settings, first.events + sum(sent_later), timeout=180)
    finally:
        keep_sending.clear()
        if sender.is_alive():
            sender.join()
        if maintainer.is_alive():
            maintainer.join()
        stream.send_signal(signal.SIGINT)
        stream.wait(timeout=120)
        stream_output = stream_log.read_text()
        if reader and reader.poll() is None:
            reader.kill()

    # every run maintained bronze without a conflict (it leaves the seed the builds replace alone: an
    # OPTIMIZE of it during a build failed the build)
    assert len(maintained) == MAINTAIN_RUNS, maintained
    for run in maintained:
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        notes = {t["table"]: t["note"] for t in json.loads(run.stdout)["tables"]}
        assert not any("conflict:" in note for note in notes.values()), notes
    history = DeltaTable.forPath(spark, str(settings.table_path(*BRONZE))).history().select("version", "operation")
    optimized = [r.version for r in history.where("operation = 'OPTIMIZE'").collect()]
    appended = [r.version for r in history.where("operation != 'OPTIMIZE'").collect()]
    assert optimized and max(appended) > min(optimized), history.collect()  # the stream went on committing after

    errors = [r for r in reads if "error" in r]
    assert not errors, errors[:5]
    assert len(reads) >= 8  # the reader really ran during the build
    for output in (first_build.stdout, second_build.stdout, stream_output):
        for symptom in ("MetaException", "lock could not be obtained", "deadlock", "ConcurrentModification"):
            assert symptom not in output, output[-2000:]

    produced = first.events + sum(sent_later)
    bronze = spark.read.format("delta").load(str(settings.table_path(*BRONZE)))
    landed = landed_offsets(spark, settings)
    offsets = [(p, o) for p, end in end_offsets(settings.bootstrap_servers, settings.topic).items() for o in range(end)]
    everything_at_once = "the stream, two dbt builds, a SQL reader and two `maintain` runs at once"
    assert fault_tally(f"{everything_at_once} (bronze)", landed, offsets).clean == (0, 0, 0)
    assert bronze.count() == bronze.select("event_id").distinct().count() == produced

    # gold holds every event up to the bound the last build read to; the rest waits for the next
    silver = spark.read.format("delta").load(str(settings.table_path("silver", "stg_playback__events")))
    views = spark.read.format("delta").load(str(settings.table_path("gold", "fct_views")))
    bound = silver.agg(F.max("bronze_version_through")).first()[0]
    expected = spark.read.format("delta").option("versionAsOf", bound).load(str(settings.table_path(*BRONZE))) \
        .select("event_id")
    assert expected.count() > first.events  # the build ran while more events streamed in
    assert fault_tally(f"{everything_at_once} (gold.fct_views, to silver's bound)",
                       [r.view_id for r in views.select("view_id").collect()],
                       [r.event_id for r in expected.collect()]).clean == (0, 0, 0)
    assert views.count() == views.select("view_id").distinct().count() == expected.count()
    assert views.join(expected, views.view_id == expected.event_id, "left_anti").count() == 0
