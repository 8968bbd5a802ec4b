"""Recommenders judged on the next view (numpy and pandas; the fitting is the caller's).

Train on the earlier part in time; replay the later part in time order; before each started
view, every model ranks k titles for that user with everything known strictly before it, and
the view's title scores a hit (HR@k) and 1/log2(rank + 1) (NDCG@k, one relevant title). Titles
the user had finished before are left out of every model's ranking; a resumed title can be a hit.

Models side by side: popularity (frozen at the split), the batch ALS frozen at the split (its
user vectors; users it never saw get popularity), ALS with fold-in (the user's vector solved
again from everything before the view, item factors fixed), and the real-time recommender
(`ml.live.recommend`: continue watching, fold-in with the genre prior, cold start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml import live
from ml.evidence import views_evidence

MODELS = ("popularity", "als_frozen", "als_fold_in", "realtime")


@dataclass
class Score:
    views: int = 0
    hits: int = 0
    ndcg: float = 0.0

    def add(self, ranked: list[str], title: str, k: int) -> None:
        self.views += 1
        if title in ranked[:k]:
            self.hits += 1
            self.ndcg += 1.0 / math.log2(ranked.index(title) + 2)

    def as_dict(self) -> dict:
        return {"views": self.views, "hr": round(self.hits / self.views, 5) if self.views else 0.0,
                "ndcg": round(self.ndcg / self.views, 5) if self.views else 0.0}


@dataclass
class NextViewReport:
    k: int
    train_views: int
    replayed_views: int
    scores: dict[str, Score] = field(default_factory=dict)

    def ratio(self, model: str, baseline: str = "popularity") -> float:
        base = self.scores[baseline].ndcg
        return self.scores[model].ndcg / base if base else float("inf")

    def as_dict(self) -> dict:
        return {"k": self.k, "train_views": self.train_views, "replayed_views": self.replayed_views,
                "models": {name: score.as_dict() for name, score in self.scores.items()},
                "ndcg_over_popularity": {name: round(self.ratio(name), 3) for name in self.scores}}


def split_in_time(views: pd.DataFrame, share: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(earlier, later): the later `share` of the views by event time."""
    ordered = views.sort_values(["event_at", "event_id"], kind="stable")
    cut = ordered.event_at.quantile(1 - share)
    return ordered[ordered.event_at < cut], ordered[ordered.event_at >= cut]


def popularity_order(train: pd.DataFrame) -> list[str]:
    """Titles by how many users valued them (positive evidence) before the split."""
    valued = train[views_evidence(train) > 0]
    counts = valued.groupby("video_id").user_id.nunique()
    return list(counts.sort_values(ascending=False, kind="stable").index)


def popular_segments(train: pd.DataFrame, top: int = 50) -> live.Popular:
    """What gold.popular_videos holds, from the training part: per (region, genre), region, genre, all."""
    valued = train[views_evidence(train) > 0]
    rows = []
    for region_key, genre_key in ((True, True), (True, False), (False, True), (False, False)):
        frame = valued.assign(region=valued.region if region_key else live.ALL,
                              genre=valued.genre if genre_key else live.ALL)
        counts = frame.groupby(["region", "genre", "video_id"]).user_id.nunique().rename("score").reset_index()
        counts = counts.sort_values(["region", "genre", "score", "video_id"], ascending=[True, True, False, True])
        counts["rank"] = counts.groupby(["region", "genre"]).cumcount() + 1
        rows.append(counts[counts["rank"] <= top])
    return live.Popular.of(pd.concat(rows, ignore_index=True))


def replay(train: pd.DataFrame, test: pd.DataFrame, model: live.ItemModel, frozen: dict[str, np.ndarray],
           catalog: live.Catalog, k: int = 10, every: int = 1) -> NextViewReport:
    """Score every `every`-th view of `test` (all of them go into the history)."""
    histories = live.Histories()
    histories.add(train)
    popular = popularity_order(train)
    segments = popular_segments(train)
    prior = live.GenrePrior.of(model, catalog, segments)
    report = NextViewReport(k, len(train), len(test), {name: Score() for name in MODELS})
    has_weight = "weight" in test.columns
    for number, view in enumerate(test.itertuples(index=False)):
        if number % every == 0:
            history = histories.users.get(view.user_id, live.UserHistory())
            finished = {v for v, state in history.titles.items() if state.finished}
            ranked_popular = _first_k(popular, finished, k)
            report.scores["popularity"].add(ranked_popular, view.video_id, k)
            vector = frozen.get(view.user_id)
            report.scores["als_frozen"].add(
                _top(model, vector, finished, k) if vector is not None else ranked_popular, view.video_id, k)
            folded, _, _ = live.user_vector(history, model)
            report.scores["als_fold_in"].add(
                _top(model, folded, finished, k) if folded is not None else ranked_popular, view.video_id, k)
            realtime = live.recommend_rows(view.user_id, history, model, catalog, segments, k, prior=prior)
            report.scores["realtime"].add([row[2] for row in realtime], view.video_id, k)
        histories.add_one(view, float(view.weight) if has_weight else None)
    return report


def _first_k(order: list[str], leave_out: set[str], k: int) -> list[str]:
    ranked = []
    for video_id in order:
        if video_id not in leave_out:
            ranked.append(video_id)
            if len(ranked) == k:
                break
    return ranked


def _top(model: live.ItemModel, vector: np.ndarray, leave_out: set[str], k: int) -> list[str]:
    scores = model.factors @ vector
    for video_id in leave_out:
        if video_id in model.position:
            scores[model.position[video_id]] = -np.inf
    top = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [model.item_ids[i] for i in top if np.isfinite(scores[i])]
