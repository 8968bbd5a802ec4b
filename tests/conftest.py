"""Shared fixtures: one Spark session for the whole run, one real Kafka broker for integration tests."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from reelhouse.kafka_cluster import CONTROLLER_PORT_OFFSET, ClusterLayout, KafkaCluster
from reelhouse.settings import Settings
from reelhouse.spark import build_spark


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_kafka_port(first: int = 29092) -> int:
    """A port whose broker and controller ports (port + 100) are both free."""
    for port in range(first, first + 500):
        if _free(port) and _free(port + CONTROLLER_PORT_OFFSET):
            return port
    raise RuntimeError("no free port for a test broker")


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


@pytest.fixture(scope="session")
def kafka(settings: Settings):
    """A real single-node KRaft broker on a free loopback port; stopped after the session."""
    port = free_kafka_port()
    broker_settings = settings.with_overrides(kafka_port=port)
    cluster = KafkaCluster(
        ClusterLayout(broker_settings.kafka_dir, broker_settings.kafka_host, port, 1), broker_settings.jars_cache
    )
    cluster.start()
    yield broker_settings
    cluster.stop()
