"""What counts as a Delta table, on folders made by hand (no Spark); compaction through Spark."""

from foundation.delta import is_delta_table


def test_a_table_being_created_is_not_a_table_until_its_first_commit(tmp_path):
    log = tmp_path / "t" / "_delta_log"
    assert not is_delta_table(tmp_path / "t")
    (log / "_staged_commits").mkdir(parents=True)  # what Delta makes before it writes version 0
    assert not is_delta_table(tmp_path / "t")
    (log / "00000000000000000000.json").write_text("{}\n")
    assert is_delta_table(tmp_path / "t")


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
