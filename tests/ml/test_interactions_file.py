"""`reelhouse train --interactions FILE`: reading and checking the file (ml.io)."""

from __future__ import annotations

from datetime import datetime

import pytest

from foundation.errors import ReelhouseError
from ml.io import read_interactions_file, write_recommendations_file


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_with_weight_and_epoch_timestamps(spark, tmp_path):
    path = _write(tmp_path, "ratings.csv", "user_id,item_id,weight,timestamp\n1,10,4,881250949\n2,10,2.5,881250950\n")
    rows = sorted(read_interactions_file(spark, path).collect())
    assert [(r.user_id, r.item_id, r.weight) for r in rows] == [("1", "10", 4.0), ("2", "10", 2.5)]
    assert rows[0].timestamp == datetime(1997, 12, 4, 15, 55, 49)


def test_parquet_without_weight_counts_each_row_once(spark, tmp_path):
    path = tmp_path / "plays.parquet"
    spark.createDataFrame([("a", "x"), ("a", "y")], "user_id string, item_id string").coalesce(1).write.parquet(
        str(tmp_path / "folder"))
    (part,) = (tmp_path / "folder").glob("*.parquet")
    part.rename(path)
    rows = read_interactions_file(spark, path).collect()
    assert sorted((r.item_id, r.weight, r.timestamp) for r in rows) == [("x", 1.0, None), ("y", 1.0, None)]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("no_item.csv", "user_id,movie\n1,2\n", "missing column(s) item_id"),
        ("empty.csv", "user_id,item_id\n", "no interactions"),
        ("words.csv", "user_id,item_id,weight\n1,2,3\n1,3,lots\n",
         "weight must be a number; 1 row(s) are not, e.g. 'lots'"),
        ("when.csv", "user_id,item_id,timestamp\n1,2,someday\n", "timestamp must be epoch seconds or ISO-8601"),
        ("blank.csv", "user_id,item_id\n,2\n", "every row needs a user_id and an item_id"),
        ("ratings.dat", "1::2::3\n", "unknown extension '.dat'"),
    ],
)
def test_a_bad_file_gets_a_one_line_error_naming_the_problem(spark, tmp_path, name, text, message):
    path = _write(tmp_path, name, text)
    with pytest.raises(ReelhouseError) as error:
        read_interactions_file(spark, path)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_missing_file_is_named(spark, tmp_path):
    with pytest.raises(ReelhouseError, match="no such file"):
        read_interactions_file(spark, tmp_path / "nope.csv")


def test_recommendations_are_written_as_one_file(spark, tmp_path):
    frame = spark.createDataFrame([("1", 1, "10", 0.5)], "user_id string, rank int, item_id string, score double")
    out = tmp_path / "out" / "top.csv"
    write_recommendations_file(frame, out)
    assert out.read_text().splitlines() == ["user_id,rank,item_id,score", "1,1,10,0.5"]
    assert [p.name for p in out.parent.iterdir()] == ["top.csv"]
