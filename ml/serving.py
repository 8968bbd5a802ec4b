"""`reelhouse recommend`: a user's recommendations from the gold Delta tables, without a JVM.

Reads gold.user_recommendations, and for a user the model has never seen, gold.popular_videos
(the most valued titles per region and genre) with the user's region from gold.dim_users or
`--region`, and their genre from `--genre` (the genres a new member picks when signing up).
Titles come from gold.dim_videos. The `deltalake` package (delta-rs) reads the tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from deltalake import DeltaTable

from foundation import delta_rs
from foundation.delta import is_delta_table
from foundation.errors import ReelhouseError
from foundation.settings import Settings
from ml.tables import ALL, POPULAR_VIDEOS, USER_RECOMMENDATIONS


@dataclass
class Recommendation:
    rank: int
    video_id: str
    score: float
    title: str = ""
    genre: str = ""


@dataclass
class Answer:
    user_id: str
    strategy: str  # "als" or "cold_start"
    explanation: str
    model_version: str
    items: list[Recommendation] = field(default_factory=list)


def _table(path: Path, what: str) -> DeltaTable:
    return delta_rs.open_table(path, f"no {what} at {path}; run `reelhouse train` first")


def _rows(table: DeltaTable, filters: list[tuple], columns: list[str]) -> list[dict]:
    """Rows matching every (column, operator, value) filter."""
    where = " and ".join(f"{column} {operator} {delta_rs.literal(value)}" for column, operator, value in filters)
    return delta_rs.rows(f"select {', '.join(columns)} from t where {where}", t=table)


def recommend(settings: Settings, user_id: str, k: int, region: str | None = None,
              genre: str | None = None) -> Answer:
    recommendations = _table(settings.table_path(*USER_RECOMMENDATIONS), "gold.user_recommendations")
    rows = _rows(recommendations, [("user_id", "=", user_id), ("rank", "<=", k)],
                 ["rank", "video_id", "score", "model_version"])
    if rows:
        rows.sort(key=lambda r: r["rank"])
        answer = Answer(user_id, "als", "personal: ALS on the user's viewing history, titles they have seen left out",
                        rows[0]["model_version"], [Recommendation(r["rank"], r["video_id"], r["score"]) for r in rows])
    else:
        answer = _cold_start(settings, user_id, k, region, genre)
    return _with_titles(settings, answer)


def _cold_start(settings: Settings, user_id: str, k: int, region: str | None, genre: str | None) -> Answer:
    reasons = [f"{user_id} is not in the model (no view it could learn a taste from): cold start"]
    if region is None:
        region = _known_region(settings, user_id)
        if region:
            reasons.append(f"region {region} from gold.dim_users")
    else:
        region = region.upper()
        reasons.append(f"region {region} as given")
    if genre:
        reasons.append(f"genre {genre} as given")
    popular = _table(settings.table_path(*POPULAR_VIDEOS), "gold.popular_videos")
    for segment_region, segment_genre in _segments(region, genre):
        filters = [("region", "=", segment_region), ("lower(genre)", "=", segment_genre.lower()), ("rank", "<=", k)]
        rows = _rows(popular, filters, ["rank", "video_id", "score", "model_version"])
        if rows:
            rows.sort(key=lambda r: r["rank"])
            where = "everywhere" if segment_region == ALL else f"in region {segment_region}"
            what = "titles" if segment_genre == ALL else f"{segment_genre} titles"
            reasons.append(f"showing the {what} valued by the most viewers {where}")
            return Answer(user_id, "cold_start", "; ".join(reasons), rows[0]["model_version"],
                          [Recommendation(r["rank"], r["video_id"], r["score"]) for r in rows])
    raise ReelhouseError("gold.popular_videos is empty; run `reelhouse train` on some views first")


def _segments(region: str | None, genre: str | None) -> list[tuple[str, str]]:
    """Most specific first: (region, genre), (region, all), (all, genre), (all, all)."""
    candidates = [(region, genre), (region, ALL), (ALL, genre), (ALL, ALL)]
    return [(r, g) for r, g in dict.fromkeys(candidates) if r and g]


def _known_region(settings: Settings, user_id: str) -> str | None:
    path = settings.table_path("gold", "dim_users")
    if not is_delta_table(path):
        return None
    rows = _rows(delta_rs.open_table(path), [("user_id", "=", user_id)], ["latest_region"])
    return rows[0]["latest_region"] if rows else None


def _with_titles(settings: Settings, answer: Answer) -> Answer:
    path = settings.table_path("gold", "dim_videos")
    if not is_delta_table(path) or not answer.items:
        return answer
    ids = ", ".join(delta_rs.literal(i.video_id) for i in answer.items)
    rows = delta_rs.rows(f"select video_id, title, genre from t where video_id in ({ids})", t=path)
    names = {r["video_id"]: r for r in rows}
    for item in answer.items:
        if item.video_id in names:
            item.title, item.genre = names[item.video_id]["title"], names[item.video_id]["genre"]
    return answer

