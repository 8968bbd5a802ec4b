"""A user's recommendations from the gold Delta tables, without a JVM: what `reelhouse recommend`,
the dashboard's user lookup and the HTTP API answer (the same function, so the same answer).

Fallbacks, in order:
1. gold.user_recommendations_live: the real-time recommender's list (`reelhouse live-recommender`),
2. gold.user_recommendations: the batch ALS list of the last `reelhouse train`,
3. cold start: gold.popular_videos (the most valued titles per region and genre) for the user's
   region from gold.dim_users or `region`, and `genre` (the genres a new member picks).
Titles come from gold.dim_videos. A `Recommender` keeps the tables in memory and reloads one
only when its Delta version changes, so a long-running server answers without a table scan.
"""

from __future__ import annotations

import threading
import time
from collections import namedtuple
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from foundation import delta_rs
from foundation.delta import has_commit_after, is_delta_table
from foundation.errors import ReelhouseError
from foundation.settings import Settings
from ml.tables import ALL, POPULAR_VIDEOS, USER_RECOMMENDATIONS, USER_RECOMMENDATIONS_LIVE, VIDEOS

USERS = ("gold", "dim_users")
FULL_RELOAD_SECONDS = 60.0
# how often every table's version is read in full: a table created anew (its versions start
# again) is not seen by the next-commit check
VERSION_READ_SECONDS = 5.0


@dataclass
class Recommendation:
    rank: int
    video_id: str
    score: float | None
    title: str = ""
    genre: str = ""
    reason: str = ""


@dataclass
class Answer:
    user_id: str
    strategy: str  # "live", "als" or "cold_start"
    explanation: str
    model_version: str
    items: list[Recommendation] = field(default_factory=list)


_ListRow = namedtuple("_ListRow", ["rank", "video_id", "score", "reason", "model_version"])


class _Lists:
    """Users' lists kept as Arrow columns, with each user's range of rows.

    A reload makes a few Python objects per user, not several per row: 100,000 rows as Python
    tuples held the interpreter for 30-90 ms at a time (their garbage collection, and freeing the
    previous load), and every answer of the API waited behind it."""

    def __init__(self, ranges: dict[str, tuple[list[pa.Array], int, int]] | None = None) -> None:
        self._ranges = ranges or {}

    @classmethod
    def of(cls, table: pa.Table) -> _Lists:
        """The lists of `table` (user_id and the `_ListRow` columns, in any order)."""
        if table.num_rows == 0:
            return cls()
        table = table.cast(pa.schema([pa.field(f.name, pa.string() if f.type == pa.string_view() else f.type)
                                      for f in table.schema]))  # Arrow sorts no string views
        table = table.sort_by([("user_id", "ascending"), ("rank", "ascending")]).combine_chunks()
        runs = pc.run_end_encode(table.column("user_id").combine_chunks())
        ends = runs.run_ends.to_numpy()
        starts = np.concatenate([[0], ends[:-1]])
        columns = [table.column(name).chunk(0) for name in _ListRow._fields]
        return cls({user: (columns, start, end) for user, start, end
                    in zip(runs.values.to_pylist(), starts.tolist(), ends.tolist(), strict=True)})

    def updated(self, newer: _Lists) -> _Lists:
        """These lists with `newer`'s users replaced (or added)."""
        return _Lists({**self._ranges, **newer._ranges})

    def get(self, user_id: str) -> list[_ListRow] | None:
        if user_id not in self._ranges:
            return None
        columns, start, end = self._ranges[user_id]
        values = (column.slice(start, end - start).to_pylist() for column in columns)
        return [_ListRow._make(row) for row in zip(*values, strict=True)]


@dataclass
class _Snapshot:
    """One table in memory, at one Delta version."""

    version: int | None = None
    rows: dict | _Lists = field(default_factory=dict)


class Recommender:
    """The serving tables in memory. `only_user` loads one user's rows (a one-off answer)."""

    def __init__(self, settings: Settings, only_user: str | None = None) -> None:
        self.settings, self.only_user = settings, only_user
        self._tables = {name: _Snapshot() for name in ("live", "batch", "popular", "users", "videos")}
        self._lock = threading.Lock()
        self._live_loaded = 0.0
        self._live_computed: pd.Timestamp | None = None
        self._versions_read = float("-inf")
        self.refresh()

    def _path(self, name: str) -> Path:
        table = {"live": USER_RECOMMENDATIONS_LIVE, "batch": USER_RECOMMENDATIONS, "popular": POPULAR_VIDEOS,
                 "users": USERS, "videos": VIDEOS}[name]
        return self.settings.table_path(*table)

    def refresh(self) -> bool:
        """Reload the tables whose Delta version changed; True when one did.

        The live table changes every micro-batch: only the users with rows computed since the
        last load are read again (a full reload every FULL_RELOAD_SECONDS as a backstop)."""
        changed = False
        now = time.monotonic()
        # between full reads of every version, a loaded table is checked by its next commit's file
        full_check = now - self._versions_read >= VERSION_READ_SECONDS
        if full_check:
            self._versions_read = now
        for name, snapshot in list(self._tables.items()):
            path = self._path(name)
            if not full_check and snapshot.version is not None and not has_commit_after(path, snapshot.version):
                continue
            version = delta_rs.version(path) if is_delta_table(path) else None
            if version == snapshot.version:
                continue
            if name == "live" and snapshot.version is not None and version is not None \
                    and time.monotonic() - self._live_loaded < FULL_RELOAD_SECONDS:
                rows = snapshot.rows.updated(self._load(name, path, since=self._live_computed))
            else:
                rows = self._load(name, path) if version is not None else self._load_nothing(name)
                if name == "live":
                    self._live_loaded = time.monotonic()
            with self._lock:
                self._tables[name] = _Snapshot(version, rows)
            changed = True
        return changed

    def versions(self) -> dict[str, int | None]:
        return {name: snapshot.version for name, snapshot in self._tables.items()}

    def _where_user(self, column: str = "user_id") -> str:
        return f" where {column} = {delta_rs.literal(self.only_user)}" if self.only_user is not None else ""

    @staticmethod
    def _load_nothing(name: str) -> dict | _Lists:
        return _Lists() if name in ("live", "batch") else {}

    def _load(self, name: str, path: Path, since: pd.Timestamp | None = None) -> dict | _Lists:
        if name in ("live", "batch"):
            reason = "reason" if name == "live" else "'' as reason"
            where = self._where_user()
            if since is not None:  # only users with a row computed after `since`
                where = (f" where user_id in (select user_id from t where computed_at > "
                         f"{delta_rs.literal(since)})")
            computed = ", computed_at" if name == "live" else ""
            table = delta_rs.query_arrow(f"select user_id, rank, video_id, score, {reason}, model_version{computed} "
                                         f"from t{where}", t=path)
            if name == "live" and table.num_rows:
                newest = pd.Timestamp(pc.max(table.column("computed_at")).as_py())
                self._live_computed = newest if self._live_computed is None else max(self._live_computed, newest)
            return _Lists.of(table)
        if name == "popular":
            frame = delta_rs.query("select region, lower(genre) as genre, rank, video_id, score, model_version "
                                   "from t order by region, genre, rank", t=path)
            return _by_key(frame, ["region", "genre"])
        if name == "users":
            frame = delta_rs.query(f"select user_id, latest_region from t{self._where_user()}", t=path)
            return dict(zip(frame.user_id, frame.latest_region, strict=True))
        frame = delta_rs.query("select video_id, title, genre from t", t=path)
        return {r.video_id: (r.title, r.genre) for r in frame.itertuples(index=False)}

    def answer(self, user_id: str, k: int, region: str | None = None, genre: str | None = None) -> Answer:
        with self._lock:
            tables = {name: snapshot for name, snapshot in self._tables.items()}
        live = tables["live"].rows.get(user_id)
        batch = None if live else tables["batch"].rows.get(user_id)
        if live:
            rows = [r for r in live if r.rank <= k]
            answer = Answer(user_id, "live", "real-time: rebuilt from the user's views as they arrive "
                            "(continue watching, then ALS folded in with the latest views)",
                            rows[0].model_version or "", _items(rows))
        elif batch:
            rows = [r for r in batch if r.rank <= k]
            answer = Answer(user_id, "als", "personal: ALS on the user's viewing history, titles they have seen "
                            "left out", rows[0].model_version, _items(rows, "personal (ALS)"))
        elif tables["batch"].version is None and tables["live"].version is None:
            raise ReelhouseError(f"no gold.user_recommendations at {self._path('batch')}; "
                                 "run `reelhouse train` first")
        else:
            answer = self._cold_start(tables, user_id, k, region, genre)
        videos = tables["videos"].rows
        for item in answer.items:
            item.title, item.genre = videos.get(item.video_id, ("", ""))
        return answer

    def _cold_start(self, tables: dict[str, _Snapshot], user_id: str, k: int, region: str | None,
                    genre: str | None) -> Answer:
        reasons = [f"{user_id} is not in the model (no view it could learn a taste from): cold start"]
        if region is None:
            region = tables["users"].rows.get(user_id)
            if region:
                reasons.append(f"region {region} from gold.dim_users")
        else:
            region = region.upper()
            reasons.append(f"region {region} as given")
        if genre:
            reasons.append(f"genre {genre} as given")
        for segment_region, segment_genre in _segments(region, genre):
            rows = [r for r in tables["popular"].rows.get((segment_region, segment_genre.lower()), []) if r.rank <= k]
            if rows:
                where = "everywhere" if segment_region == ALL else f"in region {segment_region}"
                what = "titles" if segment_genre == ALL else f"{segment_genre} titles"
                reasons.append(f"showing the {what} valued by the most viewers {where}")
                why = "popular" + ("" if segment_genre == ALL else f" {segment_genre}") + \
                      ("" if segment_region == ALL else f" in your region ({segment_region})")
                return Answer(user_id, "cold_start", "; ".join(reasons), rows[0].model_version, _items(rows, why))
        raise ReelhouseError("gold.popular_videos is empty; run `reelhouse train` on some views first")


def _by_key(frame: pd.DataFrame, key: list[str]) -> dict:
    """The frame's rows as named tuples, listed under their `key` value (a tuple for several
    columns), in the frame's order. Built from plain column lists: pandas' groupby with a tuple
    per row took 5.3 s for the demo's 10,000 users (now 0.5 s), holding the interpreter the API
    answers on."""
    row = namedtuple("Row", frame.columns)
    grouped: dict = {}
    keys = zip(*(frame[column].tolist() for column in key), strict=True) if len(key) > 1 \
        else frame[key[0]].tolist()
    for key_value, values in zip(keys, zip(*(frame[c].tolist() for c in frame.columns), strict=True), strict=True):
        grouped.setdefault(key_value, []).append(row._make(values))
    return grouped


def _items(rows: list, reason: str | None = None) -> list[Recommendation]:
    return [Recommendation(int(r.rank), r.video_id, None if pd.isna(r.score) else float(r.score),
                           reason=reason if reason is not None else r.reason)
            for r in sorted(rows, key=lambda r: r.rank)]


def _segments(region: str | None, genre: str | None) -> list[tuple[str, str]]:
    """Most specific first: (region, genre), (region, all), (all, genre), (all, all)."""
    candidates = [(region, genre), (region, ALL), (ALL, genre), (ALL, ALL)]
    return [(r, g) for r, g in dict.fromkeys(candidates) if r and g]


def recommend(settings: Settings, user_id: str, k: int, region: str | None = None,
              genre: str | None = None) -> Answer:
    """One answer, reading only this user's rows (the CLI and the dashboard)."""
    return Recommender(settings, only_user=user_id).answer(user_id, k, region, genre)
