import pandas as pd
from deltalake import DeltaTable

from ml import live_io

K = 3


def _list_for(user: str) -> pd.DataFrame:
    return pd.DataFrame({"user_id": user, "rank": range(1, K + 1), "video_id": ["v1", "v2", "v3"],
                         "score": [0.9, 0.8, 0.7], "reason": "popular in your region", "model_version": "m1",
                         "reflects_event_at": pd.Timestamp("2025-05-21T10:00Z")})


def test_the_live_lists_keep_every_user_while_spark_compacts_the_table_in_another_process(
        settings, tmp_path, compact_meanwhile, fault_tally):
    lakehouse = settings.with_overrides(home=tmp_path)
    live_io.ensure_tables(lakehouse)
    users = 0

    def merge_next() -> None:
        nonlocal users
        live_io.merge_lists(lakehouse, _list_for(f"u{users}"), K, pd.Timestamp.now(tz="UTC"))
        users += 1

    for _ in range(4):
        merge_next()
    path = lakehouse.table_path(*live_io.USER_RECOMMENDATIONS_LIVE)
    compacting = compact_meanwhile(path, times=4)
    while compacting.is_alive():
        merge_next()

    lists = live_io.read_lists(lakehouse)
    assert fault_tally("the live recommender's delta-rs merges while Spark compacts the table (list rows)",
                       list(zip(lists.user_id, lists["rank"], strict=True)),
                       [(f"u{i}", rank) for i in range(users) for rank in range(1, K + 1)]).clean == (0, 0, 0)
    compactions = [c for c in DeltaTable(str(path)).history() if c["operation"] == "OPTIMIZE"]
    assert len(compactions) >= 2, compacting.errors  # the race really ran


def test_a_merge_reports_the_files_it_leaves_new_users_add_one_returning_users_rewrite_theirs(settings, tmp_path):
    lakehouse = settings.with_overrides(home=tmp_path)
    live_io.ensure_tables(lakehouse)
    path = lakehouse.table_path(*live_io.USER_RECOMMENDATIONS_LIVE)
    now = pd.Timestamp("2025-05-21T10:00Z")
    reported = [live_io.merge_lists(lakehouse, _list_for(user), K, now).files for user in ("u0", "u1", "u2")]
    changed = _list_for("u1").assign(video_id=["v9", "v8", "v7"])
    reported.append(live_io.merge_lists(lakehouse, changed, K, now).files)
    assert reported[-1] == len(DeltaTable(str(path)).file_uris())
    assert reported == [1, 2, 3, 3]
