"""Fetch MovieLens 100K (GroupLens) from PyPI and write it as a reelhouse interactions CSV.

files.grouplens.org is not reachable from our machines; the RecBole wheel on PyPI carries the
same 100,000 ratings (`recbole/dataset_example/ml-100k/ml-100k.inter`, the rows of `u.data`).
The data is GroupLens's: research use, cite F. M. Harper and J. A. Konstan, "The MovieLens
Datasets: History and Context", ACM TiiS 5(4), 2015. It is fetched, never committed.

    python scripts/fetch_movielens.py data/movielens-100k/interactions.csv
"""

from __future__ import annotations

import csv
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "recbole==1.2.1"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"
SHA256 = "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff"


def main(output: Path) -> None:
    if output.exists():
        print(f"{output} exists")
        return
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", WHEEL, "-d", scratch],
                       check=True)
        (wheel,) = Path(scratch).glob("recbole-*.whl")
        raw = zipfile.ZipFile(wheel).read(MEMBER)
    if hashlib.sha256(raw).hexdigest() != SHA256:
        sys.exit(f"{MEMBER} in {WHEEL} is not the file this script knows (sha256 differs)")
    lines = io.StringIO(raw.decode()).read().splitlines()[1:]  # RecBole's typed header
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["user_id", "item_id", "weight", "timestamp"])
        for line in lines:
            user, item, rating, stamp = line.split("\t")
            writer.writerow([user, item, int(float(rating)), int(float(stamp))])
    print(f"{len(lines):,} ratings written to {output}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "data/movielens-100k/interactions.csv"))
