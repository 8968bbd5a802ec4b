import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable

from ingestion import delta_rs


def test_a_table_of_an_older_release_gains_the_columns_added_since_and_takes_new_rows(tmp_path):
    older = pa.schema([("key", pa.string()), ("views", pa.int64())])
    current = pa.schema([("key", pa.string()), ("views", pa.int64()), ("experience_score_sum", pa.float64())])
    delta_rs.ensure_table(tmp_path / "t", older)
    delta_rs.upsert(tmp_path / "t", pd.DataFrame({"key": ["a"], "views": [1]}), older, ("key",))

    delta_rs.ensure_table(tmp_path / "t", current)
    delta_rs.upsert(tmp_path / "t", pd.DataFrame({"key": ["b"], "views": [2], "experience_score_sum": [170.0]}),
                    current, ("key",))

    rows = sorted(DeltaTable(str(tmp_path / "t")).to_pandas().itertuples(index=False))
    assert [(r.key, r.views) for r in rows] == [("a", 1), ("b", 2)]
    assert pd.isna(rows[0].experience_score_sum) and rows[1].experience_score_sum == 170.0


def test_the_monitors_merges_keep_every_row_while_spark_compacts_the_table_in_another_process(
        tmp_path, compact_meanwhile, fault_tally):
    schema = pa.schema([("key", pa.string()), ("views", pa.int64())])
    path = tmp_path / "t"
    delta_rs.ensure_table(path, schema)
    written = 0

    def upsert_next() -> None:
        nonlocal written
        delta_rs.upsert(path, pd.DataFrame({"key": [f"k{written}"], "views": [written]}), schema, ("key",))
        written += 1

    for _ in range(4):
        upsert_next()
    compacting = compact_meanwhile(path, times=4)
    while compacting.is_alive():
        upsert_next()

    table = DeltaTable(str(path))
    assert fault_tally("the monitor's delta-rs merges while Spark compacts the table (rows)",
                       list(table.to_pandas().key), [f"k{i}" for i in range(written)]).clean == (0, 0, 0)
    compactions = [c for c in table.history() if c["operation"] == "OPTIMIZE"]
    assert len(compactions) >= 2, compacting.errors  # the race really ran
