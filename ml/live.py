"""The real-time recommender's computation (numpy and pandas, no Spark, no IO).

For a user with new views, their top-k is rebuilt from their whole history:
1. **continue watching**: titles left unfinished (resume) and the next episode of a series in
   progress, most recent first, at most `continue_slots` of them; the one the latest view left
   ("up next") heads the list, older ones follow the first `STALE_CONTINUE_AFTER` personal picks;
2. **fold-in**: the user's ALS vector solved again from their history with the trained item
   factors fixed (the user step of Spark's implicit ALS, see `fold_in`), every title scored,
   titles they finished or skipped left out (one they left unfinished may come back); the score
   is the fold-in score, standardised over the catalogue, plus the genre prior (`GenrePrior`);
3. **cold start** when there is no vector (a new user, or a history only of titles the model
   has never seen): the titles most valued in their region and the genre they watch last,
   from gold.popular_videos.
Titles the user has finished never appear.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml.evidence import COMPLETED_AT, view_evidence, views_evidence
from ml.tables import ALL

CONTINUE_SLOTS = 3  # at most this many "continue watching" entries in a list
# Entries older than the latest view are picked up again far less often than the title just left
# (demo next-view replay: 24-31 % of "up next" entries against 0.2-3 % of older ones were the next view)
STALE_CONTINUE_AFTER = 2
GENRE_PRIOR_VIEWS = 5.0  # a user's genre shares start from the catalogue's, worth this many views
LIVE_COLUMNS = ("user_id", "rank", "video_id", "score", "reason", "model_version", "reflects_event_at")


@dataclass(frozen=True)
class ItemModel:
    """The trained item factors of implicit ALS and the parameters the user step needs."""

    model_version: str
    item_ids: np.ndarray  # video_id per row of `factors`
    factors: np.ndarray  # (items, rank), float64
    alpha: float
    reg_param: float
    position: dict[str, int] = field(repr=False)
    gram: np.ndarray = field(repr=False)  # YᵀY over every item, as Spark's solver adds it

    @classmethod
    def of(cls, model_version: str, item_ids: Iterable[str], factors: np.ndarray, alpha: float,
           reg_param: float) -> ItemModel:
        ids = np.asarray(list(item_ids), dtype=object)
        matrix = np.asarray(factors, dtype=np.float64)
        return cls(model_version, ids, matrix, alpha, reg_param, {v: i for i, v in enumerate(ids)},
                   matrix.T @ matrix)


def fold_in(model: ItemModel, items: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    """A user's vector from their (item position, summed evidence) with the item factors fixed.

    Spark's implicit ALS user step (ALS.computeFactors): confidence c = 1 + alpha·|r|,
    preference p = 1 for r > 0 else 0, and
        x = (YᵀY + Σ_i alpha·|r_i|·y_i y_iᵀ + λ·n⁺·I)⁻¹ · Σ_{r_i>0} (1 + alpha·r_i)·y_i
    with n⁺ the user's positive interactions: the minimiser of Σ_i c_i (p_i - x·y_i)² + λ n⁺ |x|²
    over every item (unobserved ones with c = 1, p = 0). None without a positive interaction
    (Spark's solve is not defined there either: such users get the cold start).
    """
    weights = np.asarray(weights, dtype=np.float64)
    positive = weights > 0
    if not positive.any():
        return None
    y = model.factors[np.asarray(items, dtype=np.int64)]
    extra = model.alpha * np.abs(weights)
    normal = model.gram + (y.T * extra) @ y
    normal[np.diag_indices_from(normal)] += model.reg_param * positive.sum()
    right = ((1.0 + extra[positive])[:, None] * y[positive]).sum(axis=0)
    return np.linalg.solve(normal, right)


@dataclass
class TitleState:
    """What a user's views of one title add up to."""

    weight: float = 0.0  # summed evidence
    last_at: pd.Timestamp | None = None
    progress: float = 0.0  # share of the title seen so far: views add up, as a resume picks up where one left
    last_skipped: bool = False
    finished: bool = False  # the progress reached COMPLETED_AT


@dataclass
class UserHistory:
    titles: dict[str, TitleState] = field(default_factory=dict)
    region: str | None = None
    last_genre: str | None = None
    newest_at: pd.Timestamp | None = None


HISTORY_COLUMNS = ("event_id", "user_id", "video_id", "event_at", "completion_ratio", "is_skipped", "region", "genre")


class Histories:
    """Every user's viewing history, fed with started views (HISTORY_COLUMNS), each view once."""

    def __init__(self) -> None:
        self.users: dict[str, UserHistory] = {}
        self._events: set[str] = set()

    def fresh(self, views: pd.DataFrame) -> pd.DataFrame:
        """The views not taken in before (by event_id), each once, in time order.

        Each view's id is looked up in the set: `isin(set)` copied every id ever seen into an array
        per batch, so batches slowed down as the history grew (2.3 s a call with 2 million seen ids)."""
        unseen = np.fromiter((event_id not in self._events for event_id in views.event_id), dtype=bool,
                             count=len(views))
        return views[unseen].drop_duplicates("event_id").sort_values(["event_at", "event_id"], kind="stable")

    def add(self, views: pd.DataFrame) -> set[str]:
        """Add views not seen before (by event_id), in time order; the users they touched.

        A view's evidence is `ml.evidence.view_evidence`, or its `weight` column when it has one
        (an interactions file)."""
        fresh = self.fresh(views)
        if fresh.empty:
            return set()
        for row, weight in zip(fresh.itertuples(index=False), views_evidence(fresh), strict=True):
            self._take(row, float(weight))
        return set(fresh.user_id)

    def add_one(self, view, weight: float | None = None) -> None:
        """One view (a row with HISTORY_COLUMNS as attributes), without the DataFrame round trip."""
        if view.event_id in self._events:
            return
        if weight is None:
            weight = float(view_evidence(np.array([view.completion_ratio or 0.0]), np.array([view.is_skipped]))[0])
        self._take(view, weight)

    def _take(self, row, weight: float) -> None:
        self._events.add(row.event_id)
        history = self.users.setdefault(row.user_id, UserHistory())
        state = history.titles.setdefault(row.video_id, TitleState())
        state.weight += weight
        state.last_at, state.last_skipped = row.event_at, row.is_skipped
        state.progress = min(1.0, state.progress + max(0.0, row.completion_ratio))
        state.finished = state.finished or state.progress >= COMPLETED_AT
        history.region = row.region or history.region
        history.last_genre = row.genre or history.last_genre
        history.newest_at = row.event_at if history.newest_at is None else max(history.newest_at, row.event_at)


@dataclass(frozen=True)
class Catalog:
    """Titles by id (title, genre) and, for series, the episode that follows each episode."""

    titles: dict[str, tuple[str, str]]
    next_episode: dict[str, str]
    series: dict[str, tuple[str, str]]  # episode video_id -> (series id, series title)
    durations: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, videos: pd.DataFrame) -> Catalog:
        """videos: video_id, title, genre, duration_seconds[, series_id, season, episode_number (or
        episode)[, series_title]]; a series is named by its series_title or its first episode's title."""
        titles = {r.video_id: (r.title, r.genre) for r in videos.itertuples(index=False)}
        durations = dict(zip(videos.video_id, videos.duration_seconds.astype(float), strict=True)) \
            if "duration_seconds" in videos.columns else {}
        following, names = {}, {}
        if "series_id" in videos.columns:
            number = "episode_number" if "episode_number" in videos.columns else "episode"
            episodes = videos[videos.series_id.notna()].sort_values(["series_id", "season", number])
            for _, series in episodes.groupby("series_id", sort=False):
                ids = list(series.video_id)
                following.update(zip(ids[:-1], ids[1:], strict=True))
                name = series.series_title.iloc[0] if "series_title" in series else series.title.iloc[0]
                names.update(dict.fromkeys(ids, (series.series_id.iloc[0], name)))
        return cls(titles, following, names, durations)

    def completion(self, video_id: pd.Series, watch_seconds: pd.Series) -> pd.Series:
        """watch time over the title's duration, at most 1 (as gold.fct_views); 0 for a title
        the catalog does not know yet (no duration to divide by)."""
        duration = video_id.map(self.durations)
        return (watch_seconds / duration).clip(upper=1.0).fillna(0.0)

    def title(self, video_id: str) -> str:
        return self.titles.get(video_id, (video_id, ""))[0]


@dataclass(frozen=True)
class Popular:
    """gold.popular_videos in memory: (region, genre) -> video ids, most valued first."""

    segments: dict[tuple[str, str], list[tuple[str, float]]]

    @classmethod
    def of(cls, rows: pd.DataFrame) -> Popular:
        segments: dict[tuple[str, str], list[tuple[str, float]]] = {}
        for row in rows.sort_values(["region", "genre", "rank"]).itertuples(index=False):
            segments.setdefault((row.region, row.genre.lower()), []).append((row.video_id, float(row.score)))
        return cls(segments)

    def ranked(self, region: str | None, genre: str | None) -> list[tuple[str, float, str]]:
        """(video_id, score, reason): the most specific segment first, then the wider ones."""
        candidates = [(region, genre), (region, ALL), (ALL, genre), (ALL, ALL)]
        ranked, placed = [], set()
        for segment_region, segment_genre in dict.fromkeys(candidates):
            if not segment_region or not segment_genre:
                continue
            where = "" if segment_region == ALL else f" in {segment_region}"
            what = "" if segment_genre == ALL else f" {segment_genre}"
            for video_id, score in self.segments.get((segment_region, segment_genre.lower()), []):
                if video_id not in placed:
                    placed.add(video_id)
                    ranked.append((video_id, score, f"popular{what}{where}"))
        return ranked


@dataclass(frozen=True)
class GenrePrior:
    """What a title's genre alone says about a user's next pick, per item of a model:
    log(the user's share of titles in that genre × the title's share of its genre's viewers).

    The user's shares are their started titles per genre, smoothed towards the catalogue's shares
    by GENRE_PRIOR_VIEWS; a title's share of its genre comes from gold.popular_videos' per-genre
    lists (titles below a list's end get half its last score), so it changes only with the model.
    The fold-in score ranks much as popularity does on the demo data; adding this prior raised
    the next-view NDCG by 2-3 % on two generated data sets (see README, Recommendations)."""

    genre_of_title: dict[str, int]  # video_id -> genre index, every title of the catalog with a genre
    genre_of: np.ndarray  # genre index per item of the model
    log_share_in_genre: np.ndarray  # per item of the model
    genre_shares: np.ndarray  # each genre's share of the listed viewers

    @classmethod
    def of(cls, model: ItemModel, catalog: Catalog, popular: Popular) -> GenrePrior | None:
        """None without genres to go by (an interactions file): the fold-in score alone."""
        genre_of_title = {video_id: genre.lower() for video_id, (_, genre) in catalog.titles.items() if genre}
        listed = {genre: rows for (region, genre), rows in popular.segments.items() if region == ALL and genre != ALL}
        if not genre_of_title or not listed:
            return None
        genres = {genre: i for i, genre in enumerate(sorted(set(genre_of_title.values()) | set(listed)))}
        indexed = {video_id: genres[genre] for video_id, genre in genre_of_title.items()}
        genre_of = np.array([indexed.get(v, -1) for v in model.item_ids], dtype=np.int64)
        viewers = np.zeros(len(model.item_ids))
        for rows in listed.values():
            for video_id, score in rows:
                if video_id in model.position:
                    viewers[model.position[video_id]] = score
        for genre, index in genres.items():
            members = genre_of == index
            floor = min((score for _, score in listed.get(genre, [])), default=2.0) / 2
            viewers[members & (viewers <= 0)] = floor
        known = genre_of >= 0
        per_genre = np.bincount(genre_of[known], weights=viewers[known], minlength=len(genres))
        log_share = np.full(len(model.item_ids), np.nan)
        log_share[known] = np.log(viewers[known] / per_genre[genre_of[known]])
        # a title without a genre in the catalog: as unlikely as the least likely one with a genre
        log_share[~known] = np.nanmin(log_share) + np.log(1.0 / len(genres)) if known.any() else 0.0
        return cls(indexed, genre_of, log_share, per_genre / per_genre.sum())

    def scores(self, history: UserHistory) -> np.ndarray:
        counts = np.zeros(len(self.genre_shares))
        for video_id in history.titles:
            index = self.genre_of_title.get(video_id)
            if index is not None:
                counts[index] += 1.0
        shares = (counts + GENRE_PRIOR_VIEWS * self.genre_shares) / (counts.sum() + GENRE_PRIOR_VIEWS)
        return np.where(self.genre_of >= 0, np.log(shares)[self.genre_of], 0.0) + self.log_share_in_genre


def continue_watching(history: UserHistory, catalog: Catalog) -> list[tuple[str, pd.Timestamp, str]]:
    """(video_id, when, reason), most recent first: unfinished titles to resume, and the next
    episode after the latest finished one of each series, when it is not finished yet."""
    entries: dict[str, tuple[pd.Timestamp, str]] = {}
    latest_per_series: dict[tuple[str, str], tuple[pd.Timestamp, str]] = {}
    for video_id, state in history.titles.items():  # one pass: it runs for every user of every batch
        if not state.finished:
            if not state.last_skipped and state.progress > 0:
                entries[video_id] = (state.last_at, "continue watching")
            continue
        series = catalog.series.get(video_id)
        in_progress = series is not None and video_id in catalog.next_episode
        if in_progress and (series not in latest_per_series or state.last_at > latest_per_series[series][0]):
            latest_per_series[series] = (state.last_at, video_id)
    for (_, name), (when, episode) in latest_per_series.items():
        following = catalog.next_episode[episode]
        done = history.titles.get(following)
        if (done is None or not done.finished) and (following not in entries or entries[following][0] < when):
            entries[following] = (when, f"next episode of {name}")
    ordered = sorted(entries.items(), key=lambda item: (item[1][0], item[0]), reverse=True)
    return [(video_id, when, reason) for video_id, (when, reason) in ordered]


def user_vector(history: UserHistory, model: ItemModel) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(vector or None, item positions, weights) of the titles the model knows, in a fixed order."""
    known = sorted(v for v in history.titles if v in model.position)
    items = np.fromiter((model.position[v] for v in known), dtype=np.int64, count=len(known))
    weights = np.fromiter((history.titles[v].weight for v in known), dtype=np.float64, count=len(known))
    return fold_in(model, items, weights), items, weights


def _top(scores: np.ndarray, wanted: int) -> np.ndarray:
    """The positions of the `wanted` highest scores, highest first, ties by position: what
    `np.argsort(-scores, kind="stable")[:wanted]` gives, without sorting every title."""
    if wanted >= len(scores):
        return np.argsort(-scores, kind="stable")[:wanted]
    threshold = scores[np.argpartition(-scores, wanted - 1)[:wanted]].min()
    candidates = np.flatnonzero(scores >= threshold)  # in position order: the stable sort keeps ties so
    return candidates[np.argsort(-scores[candidates], kind="stable")][:wanted]


def recommend(user_id: str, history: UserHistory, model: ItemModel | None, catalog: Catalog,
              popular: Popular, k: int, continue_slots: int = CONTINUE_SLOTS,
              prior: GenrePrior | None = None) -> pd.DataFrame:
    """The user's top-k as a DataFrame of LIVE_COLUMNS."""
    return pd.DataFrame(recommend_rows(user_id, history, model, catalog, popular, k, continue_slots, prior),
                        columns=list(LIVE_COLUMNS))


def personal_scores(history: UserHistory, model: ItemModel,
                    prior: GenrePrior | None) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(a score per item of the model or None without a vector, item positions, weights): the
    fold-in score standardised over the catalogue, plus the genre prior when there is one."""
    vector, items, weights = user_vector(history, model)
    if vector is None:
        return None, items, weights
    scores = model.factors @ vector
    if prior is not None:
        scores = (scores - scores.mean()) / (scores.std() or 1.0) + prior.scores(history)
    return scores, items, weights


def recommend_rows(user_id: str, history: UserHistory, model: ItemModel | None, catalog: Catalog,
                   popular: Popular, k: int, continue_slots: int = CONTINUE_SLOTS,
                   prior: GenrePrior | None = None) -> list[tuple]:
    """The user's top-k as LIVE_COLUMNS tuples (scores rounded, so a replay gives equal rows)."""
    scores, items, weights = personal_scores(history, model, prior) if model \
        else (None, np.array([]), np.array([]))
    up_next, earlier = [], []  # continue entries (video_id, score, reason): left by the latest view, older
    for video_id, when, reason in continue_watching(history, catalog)[:min(continue_slots, k)]:
        known = scores is not None and video_id in model.position
        entry = (video_id, float(scores[model.position[video_id]]) if known else None, reason)
        (up_next if when == history.newest_at else earlier).append(entry)
    entries = up_next + earlier
    picks: list[tuple[str, float | None, str]] = []
    wanted = k - len(entries)
    if scores is not None and wanted > 0:
        masked = scores.copy()
        # finished and skipped titles, and the continue entries; one left unfinished may come back
        # (viewers return to what they started: leaving every watched title out cost 2.4 % of the
        # next-view NDCG on the demo data)
        masked[[model.position[v] for v, state in history.titles.items()
                if (state.finished or state.last_skipped) and v in model.position]] = -np.inf
        masked[[model.position[v] for v, _, _ in entries if v in model.position]] = -np.inf
        top = _top(masked, wanted)
        liked = items[weights > 0]
        for position in top:
            if not np.isfinite(masked[position]):
                break
            video_id = model.item_ids[position]
            if video_id in history.titles:
                reason = "continue watching"
            else:
                because = liked[np.argmax(model.factors[liked] @ model.factors[position])]
                reason = f"because you watched {catalog.title(model.item_ids[int(because)])}"
            picks.append((video_id, float(masked[position]), reason))
        rows = up_next + picks[:STALE_CONTINUE_AFTER] + earlier + picks[STALE_CONTINUE_AFTER:]
    else:
        rows = up_next + earlier
        placed = {video_id for video_id, _, _ in rows} | set(history.titles)
        for video_id, score, why in popular.ranked(history.region, history.last_genre):
            if len(rows) >= k:
                break
            if video_id not in placed:
                rows.append((video_id, score, why))
    return [(user_id, rank, video_id, None if score is None else round(score, 6), reason,
             model.model_version if model else None, history.newest_at)
            for rank, (video_id, score, reason) in enumerate(rows, start=1)]
