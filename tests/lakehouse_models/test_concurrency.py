"""The stream, dbt and SQL readers share one lakehouse and one metastore at the same time.

A real broker, `reelhouse stream` running continuously while events keep arriving,
`reelhouse dbt build` twice meanwhile, and a reader process querying silver and gold by
name all along. No process may see a metastore or lock error, and no event may be lost.
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
from pyspark.sql import functions as F

from ingestion.generator import GeneratorOptions
from ingestion.jobs.stream import BRONZE
from ingestion.producer import produce
from reelhouse.kafka_cluster import ensure_topic

pytestmark = pytest.mark.integration

READER = Path(__file__).with_name("catalog_reader.py")


def _wait_for_rows(spark, settings, rows: int, timeout: float) -> None:
    path = settings.table_path(*BRONZE)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (path / "_delta_log").exists() and spark.read.format("delta").load(str(path)).count() >= rows:
            return
        time.sleep(2)
    raise AssertionError(f"bronze did not reach {rows} rows in {timeout}s")


def test_stream_dbt_and_readers_run_together_without_errors_or_loss(
    spark, kafka, lakehouse_with_catalog, reelhouse_cli, reelhouse_env, tmp_path
):
    settings = lakehouse_with_catalog("concurrent").with_overrides(kafka_port=kafka.kafka_port, topic="concurrent")
    ensure_topic(settings.bootstrap_servers, settings.topic, 3, 1)
    env = reelhouse_env(settings)
    first = GeneratorOptions(events=4_000, seed=11, days=1)
    produce(first, settings.bootstrap_servers, settings.topic)

    stream = subprocess.Popen(
        [sys.executable, "-m", "reelhouse.cli", "stream", "--trigger-seconds", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    reader = None
    keep_sending = threading.Event()
    keep_sending.set()
    sent_later = []

    def send_more() -> None:
        seed = 100
        while keep_sending.is_set():
            seed += 1
            options = GeneratorOptions(events=200, seed=seed, days=1)
            sent_later.append(produce(options, settings.bootstrap_servers, settings.topic, rate=400).sent)

    sender = threading.Thread(target=send_more)
    try:
        _wait_for_rows(spark, settings, first.events, timeout=180)
        sender.start()
        first_build = reelhouse_cli(settings, "dbt", "build")
        assert first_build.returncode == 0, first_build.stdout[-3000:]

        stop_file = tmp_path / "stop-reader"
        reader = subprocess.Popen(
            [sys.executable, str(READER), str(stop_file)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert json.loads(reader.stdout.readline()) == {"ready": True}
        second_build = reelhouse_cli(settings, "dbt", "build")
        assert second_build.returncode == 0, second_build.stdout[-3000:]
        stop_file.touch()
        reads = [json.loads(line) for line in reader.communicate(timeout=120)[0].splitlines()]
    finally:
        keep_sending.clear()
        if sender.is_alive():
            sender.join()
        stream.send_signal(signal.SIGINT)
        stream_output = stream.communicate(timeout=120)[0]
        if reader and reader.poll() is None:
            reader.kill()

    errors = [r for r in reads if "error" in r]
    assert not errors, errors[:5]
    assert len(reads) >= 8  # the reader really ran during the build
    for output in (first_build.stdout, second_build.stdout, stream_output):
        for symptom in ("MetaException", "lock could not be obtained", "deadlock", "ConcurrentModification"):
            assert symptom not in output, output[-2000:]

    # drain what the stream had not reached, then build once more: nothing may be missing
    drained = reelhouse_cli(settings, "stream", "--available-now")
    assert drained.returncode == 0, drained.stderr[-2000:]
    final_build = reelhouse_cli(settings, "dbt", "build")
    assert final_build.returncode == 0, final_build.stdout[-3000:]
    produced = first.events + sum(sent_later)
    bronze = spark.read.format("delta").load(str(settings.table_path(*BRONZE)))
    views = spark.read.format("delta").load(str(settings.table_path("gold", "fct_views")))
    assert bronze.count() == produced
    assert views.count() == bronze.select("event_id").distinct().count() == produced
    assert views.agg(F.countDistinct("view_id")).first()[0] == produced
