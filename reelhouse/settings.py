"""One settings object, chosen from the environment in exactly one place (`Settings.from_env`).

Everything else receives a `Settings` (or plain values taken from it) as an argument.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_TOPIC = "playback-events"


@dataclass(frozen=True)
class Settings:
    home: Path
    """Lakehouse home: every Delta table lives at `<home>/<layer>/<table>`."""
    kafka_host: str = "127.0.0.1"
    kafka_port: int = 9092
    topic: str = DEFAULT_TOPIC
    topic_partitions: int = 3
    spark_master: str = "local[*]"
    shuffle_partitions: int = 4
    jars_cache: Path = Path.home() / ".cache" / "reelhouse" / "jars"
    trigger_seconds: float = 3.0
    metastore_host: str = "127.0.0.1"
    metastore_port: int = 1527
    worker_python: str = sys.executable
    """The Python that Spark's Python workers run (UDFs, the recommender's top-k); on a
    cluster, an interpreter with reelhouse's dependencies on every worker."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        defaults = cls(home=Path("lakehouse"))
        return cls(
            home=Path(env.get("REELHOUSE_HOME", "lakehouse")).absolute(),
            kafka_host=env.get("REELHOUSE_KAFKA_HOST", defaults.kafka_host),
            kafka_port=int(env.get("REELHOUSE_KAFKA_PORT", defaults.kafka_port)),
            topic=env.get("REELHOUSE_TOPIC", defaults.topic),
            topic_partitions=int(env.get("REELHOUSE_TOPIC_PARTITIONS", defaults.topic_partitions)),
            spark_master=env.get("REELHOUSE_SPARK_MASTER", defaults.spark_master),
            shuffle_partitions=int(
                env.get("REELHOUSE_SHUFFLE_PARTITIONS", defaults.shuffle_partitions)
            ),
            jars_cache=Path(env.get("REELHOUSE_JARS_CACHE", defaults.jars_cache)).absolute(),
            trigger_seconds=float(env.get("REELHOUSE_TRIGGER_SECONDS", defaults.trigger_seconds)),
            metastore_host=env.get("REELHOUSE_METASTORE_HOST", defaults.metastore_host),
            metastore_port=int(env.get("REELHOUSE_METASTORE_PORT", defaults.metastore_port)),
            worker_python=env.get("REELHOUSE_WORKER_PYTHON", defaults.worker_python),
        )

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.kafka_host}:{self.kafka_port}"

    def table_path(self, layer: str, table: str) -> Path:
        return self.home / layer / table

    def checkpoint_path(self, name: str) -> Path:
        return self.home / "_checkpoints" / name

    @property
    def kafka_dir(self) -> Path:
        return self.home / "_kafka"

    @property
    def metastore_dir(self) -> Path:
        return self.home / "_metastore"
