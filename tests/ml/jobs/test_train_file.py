"""`reelhouse train --interactions FILE --output OUT`: top-k per user from any interactions file."""

from __future__ import annotations

import csv

import pytest

from ml.jobs import train_file
from ml.recommender import ALSParams

pytestmark = pytest.mark.integration

GRID = (ALSParams(rank=4, max_iter=4), ALSParams(rank=6, reg_param=1.0, alpha=5.0, max_iter=4))


def test_top_k_per_user_never_repeats_an_item_of_the_file(spark, tmp_path):
    ratings = tmp_path / "ratings.csv"
    had = set()
    with ratings.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["user_id", "item_id", "weight", "timestamp"])
        for user in range(50):
            for item in range(30):
                if (user * 7 + item * 3) % 4 == 0:  # a quarter of the pairs
                    writer.writerow([f"u{user}", f"i{item}", 1 + (user + item) % 5, 880_000_000 + user * 100 + item])
                    had.add((f"u{user}", f"i{item}"))
    result = train_file.run(spark, ratings, tmp_path / "top.csv", 4, GRID)
    with (tmp_path / "top.csv").open() as written:
        rows = list(csv.DictReader(written))
    assert set(rows[0]) == {"user_id", "rank", "item_id", "score"}
    assert not {(r["user_id"], r["item_id"]) for r in rows} & had
    by_user = {}
    for row in rows:
        by_user.setdefault(row["user_id"], []).append(int(row["rank"]))
    assert set(by_user) == {user for user, _ in had}
    assert all(sorted(ranks) == [1, 2, 3, 4] for ranks in by_user.values())
    assert result.report.split.startswith("time")
    assert set(result.report.evaluations) == {"popularity", "als_default", "als_tuned"}
