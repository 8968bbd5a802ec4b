"""What counts as a Delta table, on folders made by hand (no Spark); compaction through Spark."""

from foundation.delta import has_commit_after, is_delta_table


def test_a_table_being_created_is_not_a_table_until_its_first_commit(tmp_path):
    log = tmp_path / "t" / "_delta_log"
    assert not is_delta_table(tmp_path / "t")
    (log / "_staged_commits").mkdir(parents=True)  # what Delta makes before it writes version 0
    assert not is_delta_table(tmp_path / "t")
    (log / "00000000000000000000.json").write_text("{}\n")
    assert is_delta_table(tmp_path / "t")


def test_a_commit_after_a_version_is_seen_by_its_file(tmp_path):
    import pyarrow as pa
    from deltalake import write_deltalake

    rows = pa.table({"n": [1, 2]})
    write_deltalake(str(tmp_path), rows)
    assert not has_commit_after(tmp_path, 0)
    write_deltalake(str(tmp_path), rows, mode="append")
    assert has_commit_after(tmp_path, 0) and not has_commit_after(tmp_path, 1)


def test_compact_bin_packs_a_delta_rs_table_through_spark_and_keeps_every_row(spark, tmp_path):
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    from foundation.delta import compact

    for key in range(4):
        write_deltalake(str(tmp_path / "t"), pa.table({"key": [key]}), mode="append")

    assert not compact(spark, tmp_path / "t", version=5, every=2)  # not due: nothing committed
    assert DeltaTable(str(tmp_path / "t")).version() == 3
    assert compact(spark, tmp_path / "t", version=6, every=2)

    table = DeltaTable(str(tmp_path / "t"))
    assert len(table.file_uris()) == 1 and sorted(table.to_pandas().key) == [0, 1, 2, 3]
    assert table.history(1)[0]["operation"] == "OPTIMIZE"


def test_two_compactions_racing_on_one_table_leave_one_winner_and_raise_nothing(spark, tmp_path):
    """The loser of two OPTIMIZEs of the same files gets a Delta conflict (in Python not a subclass of
    DeltaConcurrentModificationException): `compact` must say False, not raise into its live job."""
    import threading

    from foundation.delta import compact

    path = tmp_path / "t"
    for first in range(0, 120, 10):  # twelve small files to bin-pack
        spark.range(first, first + 10).write.format("delta").mode("append").save(str(path))
    together = threading.Barrier(2)
    results, errors = [], []

    def race() -> None:
        together.wait()
        try:
            results.append(compact(spark, path))
        except Exception as error:  # noqa: BLE001 - what the test is about: nothing may escape
            errors.append(error)

    racers = [threading.Thread(target=race) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert errors == []
    assert sorted(results) == [False, True]  # both read the same files: one committed, one lost
    ids = [row.id for row in spark.read.format("delta").load(str(path)).collect()]
    assert sorted(ids) == list(range(120))
