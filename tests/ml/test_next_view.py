"""The next-view protocol on hand-worked rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml import live, next_view


def _views(*rows) -> pd.DataFrame:
    """(event_id, user, video, minute, completion) -> views (none skipped)."""
    return pd.DataFrame(
        [(e, u, v, pd.Timestamp("2025-05-14T10:00Z") + pd.Timedelta(minutes=m), c, False, "US", "Drama")
         for e, u, v, m, c in rows], columns=list(live.HISTORY_COLUMNS))


def test_a_hit_at_rank_r_scores_one_over_log2_of_r_plus_one():
    score = next_view.Score()
    score.add(["a", "b", "c"], "b", 3)  # rank 2
    score.add(["a", "b", "c"], "z", 3)  # a miss
    assert score.as_dict() == {"views": 2, "hr": 0.5, "ndcg": round(1 / np.log2(3) / 2, 5)}


def test_popularity_counts_users_who_valued_a_title_and_leaves_out_what_the_user_finished():
    train = _views(("1", "u1", "a", 0, 1.0), ("2", "u2", "a", 1, 1.0), ("3", "u3", "a", 2, 0.5),
                   ("4", "u1", "b", 3, 1.0), ("5", "u2", "b", 4, 0.3), ("6", "u3", "c", 5, 0.6))
    assert next_view.popularity_order(train) == ["a", "b", "c"]
    test = _views(("7", "u1", "c", 10, 1.0), ("8", "u3", "c", 11, 1.0))
    model = live.ItemModel.of("m", ["a", "b", "c"], np.eye(3)[:, :2] + 0.1, 1.0, 0.1)
    report = next_view.replay(train, test, model, {}, live.Catalog({}, {}, {}), k=1)
    # u1 finished a and b: popularity's only candidate is c, a hit; u3 finished nothing: a, a miss
    assert report.scores["popularity"].as_dict() == {"views": 2, "hr": 0.5, "ndcg": 0.5}
    # the real-time recommender resumes u3's unfinished c first
    assert report.scores["realtime"].hits == 2


def test_the_split_keeps_the_later_share_in_time():
    views = _views(*[(str(i), "u", f"v{i}", i, 1.0) for i in range(10)])
    train, test = next_view.split_in_time(views, 0.2)
    assert list(test.event_id) == ["8", "9"] and len(train) == 8
    assert next_view.popularity_order(train[:0]) == []
