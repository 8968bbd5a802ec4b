"""The generator's video catalog as CSV: the dbt seed `catalog_videos` is world 42's.

Reads: nothing (the catalog comes from the world seed). Writes: CSV to the given stream.
Run: `reelhouse catalog [--world-seed S] [--output FILE]`.
"""

from __future__ import annotations

import csv
from typing import TextIO

from ingestion.generator import World, catalog_rows


def write_catalog(world_seed: int, out: TextIO) -> int:
    """Write the catalog of world `world_seed` to `out`; returns the number of titles."""
    rows = catalog_rows(World.build(world_seed))
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return len(rows)
