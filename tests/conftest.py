"""Shared fixtures: one Spark session for the whole run, one real Kafka broker for integration tests."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest
from fault_ledger import FaultLedger, tally

from foundation import processes
from foundation.settings import Settings
from foundation.spark import build_spark
from ingestion.generator import World, iter_events
from reelhouse.services.kafka import ClusterLayout, KafkaCluster, free_broker_port
from reelhouse.services.metastore import metastore_service


@pytest.fixture(scope="session")
def test_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lakehouse")


@pytest.fixture(scope="session")
def settings(test_home: Path) -> Settings:
    return Settings.from_env({"REELHOUSE_HOME": str(test_home)}).with_overrides(
        spark_master="local[2]", shuffle_partitions=2
    )


@pytest.fixture(scope="session")
def spark(settings: Settings):
    return build_spark(settings, "reelhouse-tests")


@pytest.fixture
def compact_meanwhile(spark):
    """Start Spark's OPTIMIZE of a table `times` times in a thread: Spark's JVM is another process
    than the test's delta-rs writer, so their commits race as `maintain`'s and the live jobs' do.
    Returns the thread; its `errors` lists what an OPTIMIZE raised."""
    threads = []

    def start(path: Path, times: int) -> threading.Thread:
        def compact() -> None:
            for _ in range(times):
                try:
                    spark.sql(f"optimize delta.`{path}`").collect()
                except Exception as error:  # noqa: BLE001 - a lost race of OPTIMIZE's own is allowed, and counted
                    thread.errors.append(error)

        thread = threading.Thread(target=compact, daemon=True)
        thread.errors = []
        thread.start()
        threads.append(thread)
        return thread

    yield start
    for thread in threads:
        thread.join()


@pytest.fixture(scope="session")
def kafka(settings: Settings):
    """A real single-node KRaft broker on a free loopback port; stopped after the session."""
    port = free_broker_port(29092)
    broker_settings = settings.with_overrides(kafka_port=port)
    cluster = KafkaCluster(
        ClusterLayout(broker_settings.kafka_dir, broker_settings.kafka_host, port, 1), broker_settings.jars_cache
    )
    cluster.start()
    yield broker_settings
    cluster.stop()


@pytest.fixture(scope="session")
def _fault_ledger():
    ledger = FaultLedger()
    yield ledger
    if os.environ.get("REELHOUSE_FAULTS_REPORT"):
        ledger.write(Path(os.environ["REELHOUSE_FAULTS_REPORT"]))


@pytest.fixture
def fault_tally(_fault_ledger, request):
    """`fault_tally(fault, landed, expected)`: counts what was lost, duplicated or never sent under
    `fault`, keeps the tally for the README's fault table, and returns it (assert `.clean == (0, 0, 0)`)."""
    def count(fault: str, landed, expected):
        counted = tally(fault, request.node.nodeid, landed, expected)
        _fault_ledger.tallies.append(counted)
        return counted
    return count


@pytest.fixture(scope="session")
def lakehouse_with_catalog(tmp_path_factory):
    """A factory: a fresh lakehouse home with its own running metastore, as Settings
    (`make(name, database="postgres")`: kept in PostgreSQL rather than Derby).

    Each home gets its own metastore so that table names of one test never point at
    another test's files. Every metastore started is stopped after the session.
    """
    started = []

    def make(name: str, database: str = "derby") -> Settings:
        home = tmp_path_factory.mktemp(name)
        port = processes.free_port(31527)
        lakehouse = Settings.from_env({"REELHOUSE_HOME": str(home)}).with_overrides(
            spark_master="local[2]", shuffle_partitions=2, metastore_port=port, metastore_database=database
        )
        metastore = metastore_service(lakehouse)
        metastore.start()
        started.append(metastore)
        return lakehouse

    yield make
    for metastore in started:  # the Derby shutdown first, then the process: stop names what it stopped
        said = metastore.stop()
        assert said[0] != "metastore not running" and "(pid " in said[0], said


def cli_environment(settings: Settings) -> dict[str, str]:
    """The environment under which a `reelhouse` subprocess works on `settings`' lakehouse."""
    return {**os.environ, **settings.environment()}


def run_cli(settings: Settings, *arguments: str, timeout: float = 900,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`reelhouse <arguments>` in a subprocess (its own JVM), output captured; `env` adds variables."""
    return subprocess.run(
        [sys.executable, "-m", "reelhouse.cli", *arguments], env={**cli_environment(settings), **(env or {})},
        capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture(scope="session")
def reelhouse_cli():
    """`reelhouse_cli(settings, "dbt", "build")` runs the CLI in a subprocess on that lakehouse."""
    return run_cli


@pytest.fixture(scope="session")
def reelhouse_env():
    """`reelhouse_env(settings)`: the environment for a long-running `reelhouse` subprocess."""
    return cli_environment


# -- gold.fct_views-shaped rows from the generator, for the ML tests (no dbt needed) ------------

VIEWS_SCHEMA = (
    "view_id string, user_id string, video_id string, genre string, region string, device_type string, "
    "cdn string, error_code string, resolution_height int, watch_time_seconds double, "
    "video_duration_seconds int, completion_ratio double, bitrate_kbps int, buffering_events int, "
    "rebuffer_seconds double, startup_time_ms int, is_paused boolean, is_skipped boolean, "
    "is_recommended boolean, has_video_started boolean, event_at timestamp"
)


def views_from_generator(spark, events: int, seed: int = 5, n_users: int = 300, n_videos: int = 60):
    world = World.build(seed, n_videos=n_videos, n_users=n_users)
    duration = {v.video_id: v.duration_seconds for v in world.all_videos}
    rows = []
    for e in itertools.islice(iter_events(seed, world, days=7, expected_events=events), events):
        length = duration[e["video_id"]]
        rows.append((
            e["event_id"], e["user_id"], e["video_id"], e["genre"], e["region"], e["device_type"], e["cdn"],
            e["error_code"], int(e["resolution"].rstrip("p")), float(e["watch_time_seconds"]), length,
            min(e["watch_time_seconds"] / length, 1.0), e["bitrate_kbps"], e["buffering_events"],
            float(e["rebuffer_seconds"]), e["startup_time_ms"], e["paused"], e["skipped"], e["recommended"],
            e["playback_started"], datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")),
        ))
    return spark.createDataFrame(rows, VIEWS_SCHEMA)


@pytest.fixture(scope="session")
def generated_views():
    """`generated_views(spark, events, seed=5, n_users=300, n_videos=60)`: views shaped like gold.fct_views."""
    return views_from_generator


@pytest.fixture(scope="session")
def views_schema() -> str:
    return VIEWS_SCHEMA
