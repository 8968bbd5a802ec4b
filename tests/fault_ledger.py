"""The faults the tests inflict, and what each lost or duplicated: the README's fault table.

A test that inflicts a fault tallies what landed against what should have, asserts that nothing
was lost or duplicated, and the tally is kept. With REELHOUSE_FAULTS_REPORT set (`make test` sets
it), the session writes every tally to that JSON file; `scripts/faults_table.py` turns it into the
README's table. The figures are the tests' own measurements, not a separate run.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from foundation.settings import Settings
from ingestion.tables import BRONZE, QUARANTINE


@dataclass(frozen=True)
class Tally:
    fault: str
    test: str
    expected: int
    landed: int
    lost: int
    duplicated: int
    unexpected: int  # landed, but never sent (a corrupted or invented record)

    @property
    def clean(self) -> tuple[int, int, int]:
        return self.lost, self.duplicated, self.unexpected


def tally(fault: str, test: str, landed: Iterable[Hashable], expected: Iterable[Hashable]) -> Tally:
    """Lost: expected items that did not land. Duplicated: landings beyond an item's first."""
    landed_counts, expected_counts = Counter(landed), Counter(expected)
    return Tally(
        fault, test, sum(expected_counts.values()), sum(landed_counts.values()),
        lost=sum((expected_counts - landed_counts).values()),
        duplicated=sum(n - 1 for n in landed_counts.values() if n > 1),
        unexpected=sum(1 for item in landed_counts if item not in expected_counts),
    )


def landed_offsets(spark, settings: Settings) -> list[tuple[int, int]]:
    """(partition, offset) of every record in bronze and quarantine: each Kafka record should be there once."""
    return [(r.kafka_partition, r.kafka_offset) for table in (BRONZE, QUARANTINE)
            for r in spark.read.format("delta").load(str(settings.table_path(*table)))
            .select("kafka_partition", "kafka_offset").collect()]


@dataclass
class FaultLedger:
    tallies: list[Tally] = field(default_factory=list)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([t.__dict__ for t in self.tallies], indent=2) + "\n")
