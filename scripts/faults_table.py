"""The README's fault table from the tallies a test run wrote (REELHOUSE_FAULTS_REPORT, set by `make test`).

    python scripts/faults_table.py build/faults.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def table(tallies: list[dict]) -> str:
    lines = ["| fault or bad input | records or commits expected | landed | lost | duplicated | never sent | test |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for t in tallies:
        test = t["test"].split("::")[-1]
        lines.append(f"| {t['fault']} | {t['expected']:,} | {t['landed']:,} | {t['lost']} | {t['duplicated']} "
                     f"| {t['unexpected']} | `{test}` |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: faults_table.py FAULTS_JSON")
    tallies = json.loads(Path(sys.argv[1]).read_text())
    print(table(tallies))
    dirty = [t["fault"] for t in tallies if t["lost"] or t["duplicated"] or t["unexpected"]]
    if dirty:
        sys.exit(f"faults with records lost, duplicated or never sent: {dirty}")


if __name__ == "__main__":
    main()
