"""What counts as a Delta table, on folders made by hand (no Spark)."""

from foundation.delta import is_delta_table


def test_a_table_being_created_is_not_a_table_until_its_first_commit(tmp_path):
    log = tmp_path / "t" / "_delta_log"
    assert not is_delta_table(tmp_path / "t")
    (log / "_staged_commits").mkdir(parents=True)  # what Delta makes before it writes version 0
    assert not is_delta_table(tmp_path / "t")
    (log / "00000000000000000000.json").write_text("{}\n")
    assert is_delta_table(tmp_path / "t")
