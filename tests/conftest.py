"""Shared fixtures: one Spark session for the whole run, one real Kafka broker for integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelhouse.kafka_cluster import ClusterLayout, KafkaCluster, free_broker_port
from reelhouse.settings import Settings
from reelhouse.spark import build_spark


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
    port = free_broker_port(29092)
    broker_settings = settings.with_overrides(kafka_port=port)
    cluster = KafkaCluster(
        ClusterLayout(broker_settings.kafka_dir, broker_settings.kafka_host, port, 1), broker_settings.jars_cache
    )
    cluster.start()
    yield broker_settings
    cluster.stop()
