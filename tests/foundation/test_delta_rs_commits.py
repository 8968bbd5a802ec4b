import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError

from foundation import delta_rs


def _table_of_four_files(path):
    for key in range(4):
        write_deltalake(str(path), pa.table({"key": [key], "views": [key]}), mode="append")


def _merge(table: DeltaTable, rows: pa.Table) -> None:
    table.merge(rows, "t.key = s.key", source_alias="s", target_alias="t") \
        .when_matched_update_all().when_not_matched_insert_all().execute()


def test_a_write_whose_commit_conflicts_with_another_writer_runs_again_on_the_new_version(tmp_path):
    _table_of_four_files(tmp_path / "t")
    rows = pa.table({"key": [1, 9], "views": [10, 90]})
    attempts = []

    def write(table: DeltaTable) -> int:
        attempts.append(table.version())
        if len(attempts) == 1:  # another writer compacts between this write's read and its commit
            DeltaTable(str(tmp_path / "t")).optimize.compact()
        _merge(table, rows)
        return table.version()

    version = delta_rs.commit_retrying(tmp_path / "t", write)

    assert attempts == [3, 4] and version == 5
    merged = DeltaTable(str(tmp_path / "t")).to_pandas().sort_values("key")
    assert merged.to_dict("list") == {"key": [0, 1, 2, 3, 9], "views": [0, 10, 2, 3, 90]}


def test_a_write_that_conflicts_every_time_fails_with_the_conflict_after_its_attempts(tmp_path):
    _table_of_four_files(tmp_path / "t")
    attempts = []

    def write(table: DeltaTable) -> None:
        attempts.append(table.version())
        write_deltalake(str(tmp_path / "t"), pa.table({"key": [len(attempts)], "views": [0]}), mode="overwrite")
        _merge(table, pa.table({"key": [1], "views": [10]}))

    with pytest.raises(CommitFailedError):
        delta_rs.commit_retrying(tmp_path / "t", write, attempts=3)
    assert len(attempts) == 3
