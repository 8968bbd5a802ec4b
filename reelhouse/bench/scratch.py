"""What every benchmark stands on: a scratch lakehouse of its own under `<home>/_bench/`,
removed afterwards (so a benchmark never touches the demo's tables), a broker or a metastore of
its own on a free loopback port, and the machine's description for the JSON."""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import version

from foundation import processes
from foundation.settings import Settings
from reelhouse.services.kafka import free_broker_port, local_cluster
from reelhouse.services.metastore import metastore_service


def machine() -> dict:
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cores": os.cpu_count(), "memory_gib": round(memory_gib, 1), "python": platform.python_version(),
        "pyspark": version("pyspark"), "delta_spark": version("delta-spark"), "kafka_python": version("kafka-python"),
    }


@contextmanager
def scratch_lakehouse(settings: Settings, name: str) -> Iterator[Settings]:
    """`settings` on a fresh home `<home>/_bench/<name>-<time>/`, removed when done."""
    home = settings.home / "_bench" / f"{name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
    home.mkdir(parents=True)
    try:
        yield settings.with_overrides(home=home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def scratch_broker(settings: Settings, topic: str, partitions: int = 3) -> Iterator[Settings]:
    """A one-node Kafka of its own (a free port, under `settings.home`) with `topic`; stopped when done."""
    port = free_broker_port(39092)
    broker = settings.with_overrides(kafka_port=port, kafka_brokers=1, kafka_bootstrap="", topic=topic)
    cluster = local_cluster(broker, topic=(topic, partitions), heap_mb=1024)
    cluster.start()
    try:
        yield broker
    finally:
        cluster.stop()


@contextmanager
def scratch_metastore(settings: Settings) -> Iterator[Settings]:
    """A metastore of its own (a free port, under `settings.home`); stopped when done."""
    catalog = settings.with_overrides(metastore_port=processes.free_port(1627))
    metastore = metastore_service(catalog)
    metastore.start()
    try:
        yield catalog
    finally:
        metastore.stop()
