"""Where `reelhouse stream --reset` starts reading: right after what bronze already holds, or at
the oldest record Kafka still holds when retention deleted records before they were read.

Pure: offsets in, a plan out. The reads (bronze, Kafka) are in `ingestion.io`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from foundation.errors import ReelhouseError


@dataclass(frozen=True)
class ResetPlan:
    topic: str
    starting_offsets: dict[int, int]
    """partition -> the first offset the new checkpoint reads"""
    lost: dict[int, tuple[int, int]]
    """partition -> [first, end) of the offsets Kafka deleted before the stream read them"""

    def spark_starting_offsets(self) -> str:
        """The Kafka source's `startingOffsets` option (used by a new checkpoint only)."""
        return json.dumps({self.topic: {str(p): o for p, o in sorted(self.starting_offsets.items())}})

    def describe(self) -> list[str]:
        lines = [f"partition {p}: offsets {first:,} to {end - 1:,} ({end - first:,} records) were deleted "
                 "by Kafka before the stream read them" for p, (first, end) in sorted(self.lost.items())]
        starts = ", ".join(f"{p} at {o:,}" for p, o in sorted(self.starting_offsets.items()))
        return [*lines, f"a new checkpoint reads {self.topic!r} from partition {starts}"]


def plan_reset(topic: str, next_landed: dict[int, int], kafka_bounds: dict[int, tuple[int, int]]) -> ResetPlan:
    """`next_landed`: partition -> one past the largest offset of `topic` in bronze or quarantine;
    `kafka_bounds`: partition -> (earliest offset Kafka holds, log end offset)."""
    if not kafka_bounds:
        raise ReelhouseError(f"Kafka has no topic {topic!r}: create it (or set REELHOUSE_TOPIC) before a reset")
    for partition, next_offset in sorted(next_landed.items()):
        end = kafka_bounds.get(partition, (0, 0))[1]
        if next_offset > end:
            raise ReelhouseError(
                f"partition {partition} of {topic!r} ends at offset {end:,} but bronze already holds offsets up to "
                f"{next_offset - 1:,} of it: the topic was deleted and re-created, and its records would take "
                "offsets bronze already has; stream it under a new topic name (REELHOUSE_TOPIC) instead")
    starting, lost = {}, {}
    for partition, (earliest, _) in kafka_bounds.items():
        next_offset = next_landed.get(partition, 0)
        starting[partition] = max(next_offset, earliest)
        if earliest > next_offset:
            lost[partition] = (next_offset, earliest)
    return ResetPlan(topic, starting, lost)
