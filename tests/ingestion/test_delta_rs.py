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
