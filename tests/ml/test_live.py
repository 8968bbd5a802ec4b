"""The real-time recommender's computation on small inline data (numpy and pandas only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml import live


def _model(items: int = 12, rank: int = 4, seed: int = 3, alpha: float = 2.0, reg: float = 0.3) -> live.ItemModel:
    factors = np.random.default_rng(seed).normal(0, 0.5, (items, rank))
    return live.ItemModel.of("v1", [f"v{i:02d}" for i in range(items)], factors, alpha, reg)


def _full_least_squares(model: live.ItemModel, weights: dict[int, float]) -> np.ndarray:
    """min_x Σ_i c_i (p_i - x·y_i)² + λ n⁺ |x|² over every item, as one stacked least-squares problem."""
    confidence = np.ones(len(model.item_ids))
    preference = np.zeros(len(model.item_ids))
    for item, r in weights.items():
        confidence[item] = 1 + model.alpha * abs(r)
        preference[item] = 1.0 if r > 0 else 0.0
    positives = sum(r > 0 for r in weights.values())
    rank = model.factors.shape[1]
    design = np.vstack([np.sqrt(confidence)[:, None] * model.factors,
                        np.sqrt(model.reg_param * positives) * np.eye(rank)])
    target = np.concatenate([np.sqrt(confidence) * preference, np.zeros(rank)])
    return np.linalg.lstsq(design, target, rcond=None)[0]


def test_fold_in_is_the_least_squares_solve_with_item_factors_fixed():
    model = _model()
    weights = {1: 1.5, 4: 0.6, 7: -1.0, 9: 2.9}
    vector = live.fold_in(model, np.array(list(weights)), np.array(list(weights.values())))
    np.testing.assert_allclose(vector, _full_least_squares(model, weights), atol=1e-9)


def test_fold_in_needs_a_positive_interaction():
    assert live.fold_in(_model(), np.array([2, 3]), np.array([-1.0, 0.0])) is None


def _views(*rows) -> pd.DataFrame:
    """(event_id, user, video, minute, completion, skipped) -> history rows."""
    return pd.DataFrame(
        [(e, u, v, pd.Timestamp("2025-05-14T10:00Z") + pd.Timedelta(minutes=m), c, s, "US", "Drama")
         for e, u, v, m, c, s in rows],
        columns=list(live.HISTORY_COLUMNS),
    )


SERIES = pd.DataFrame({
    "video_id": ["v00", "v01", "v02", "v03", "v04", "v05"],
    "title": ["Pilot", "Second", "Third", "Film A", "Film B", "Film C"],
    "genre": ["Drama"] * 6,
    "duration_seconds": [3000] * 6,
    "series_id": ["s1", "s1", "s1", None, None, None],
    "series_title": ["The Series", "The Series", "The Series", None, None, None],
    "season": [1, 1, 1, None, None, None],
    "episode": [1, 2, 3, None, None, None],
})


def test_after_an_episode_the_next_one_ranks_first():
    histories = live.Histories()
    histories.add(_views(("e1", "u", "v00", 0, 1.0, False), ("e2", "u", "v01", 50, 0.95, False),
                         ("e3", "u", "v03", 5, 1.0, False)))
    catalog = live.Catalog.of(SERIES)
    rows = live.recommend("u", histories.users["u"], _model(6), catalog, live.Popular({}), 4)
    assert rows.video_id.iloc[0] == "v02"
    assert rows.reason.iloc[0] == "next episode of The Series"
    assert not {"v00", "v01", "v03"} & set(rows.video_id), "finished titles never appear"


def test_an_unfinished_title_past_the_continue_slots_can_come_back_but_finished_and_skipped_ones_cannot():
    histories = live.Histories()
    histories.add(_views(("e1", "u", "v03", 0, 0.4, False), ("e2", "u", "v04", 10, 0.02, True),
                         ("e3", "u", "v05", 20, 1.0, False)))
    rows = live.recommend("u", histories.users["u"], _model(6), live.Catalog.of(SERIES), live.Popular({}), 6,
                          continue_slots=0)
    # six titles, one finished and one skipped: the other four, the unfinished one among them
    assert sorted(rows.video_id) == ["v00", "v01", "v02", "v03"]
    assert rows.set_index("video_id").reason["v03"] == "continue watching"


def test_the_title_the_latest_view_left_unfinished_is_resumed_first_and_a_skipped_one_is_not():
    histories = live.Histories()
    histories.add(_views(("e1", "u", "v05", 0, 1.0, False), ("e2", "u", "v04", 10, 0.02, True),
                         ("e3", "u", "v03", 20, 0.4, False)))
    rows = live.recommend("u", histories.users["u"], _model(6), live.Catalog.of(SERIES), live.Popular({}), 5)
    assert rows.video_id.iloc[0] == "v03" and rows.reason.iloc[0] == "continue watching"
    assert "v04" not in set(rows.video_id) and "v05" not in set(rows.video_id)
    assert rows["rank"].tolist() == list(range(1, len(rows) + 1))
    assert rows.reason.iloc[1:].str.startswith("because you watched").all()


def test_a_title_left_unfinished_before_the_latest_view_follows_the_first_personal_picks():
    histories = live.Histories()
    histories.add(_views(("e1", "u", "v03", 0, 0.4, False), ("e2", "u", "v04", 10, 0.02, True),
                         ("e3", "u", "v05", 20, 1.0, False)))
    rows = live.recommend("u", histories.users["u"], _model(6), live.Catalog.of(SERIES), live.Popular({}), 5)
    assert rows.video_id.iloc[live.STALE_CONTINUE_AFTER] == "v03"
    assert rows.reason.tolist()[live.STALE_CONTINUE_AFTER] == "continue watching"
    assert rows.reason.drop(index=live.STALE_CONTINUE_AFTER).str.startswith("because you watched").all()
    assert "v04" not in set(rows.video_id) and "v05" not in set(rows.video_id)


def test_a_view_seen_twice_counts_once():
    histories = live.Histories()
    assert histories.add(_views(("e1", "u", "v03", 0, 0.5, False))) == {"u"}
    assert histories.add(_views(("e1", "u", "v03", 0, 0.5, False))) == set()
    assert histories.users["u"].titles["v03"].weight == pytest.approx(0.5)


class _SeenOnlyByLookup(set):
    """The ids of every view taken in; walking them all (to copy them) fails the test."""

    def __iter__(self):
        raise AssertionError("the whole history was walked to sort out one batch")


def test_a_batch_is_sorted_out_by_looking_up_its_own_views_not_by_walking_the_history():
    histories = live.Histories()
    histories.add(_views(("e1", "u", "v03", 0, 0.5, False)))
    histories._events = _SeenOnlyByLookup(histories._events)
    fresh = histories.fresh(_views(("e2", "u", "v04", 9, 1.0, False), ("e1", "u", "v03", 0, 0.5, False),
                                   ("e2", "u", "v04", 9, 1.0, False)))
    assert fresh.event_id.tolist() == ["e2"]  # the seen view left out, the repeated one once
    assert histories.add(_views(("e3", "v", "v05", 1, 1.0, False))) == {"v"}
    assert histories.fresh(_views()).columns.tolist() == list(live.HISTORY_COLUMNS)  # a batch without views


def test_titles_the_model_never_saw_fall_back_to_popular_in_their_genre():
    histories = live.Histories()
    histories.add(_views(("e1", "u", "brand_new", 0, 1.0, False)))
    popular = live.Popular.of(pd.DataFrame({
        "region": ["US", "US", "all"], "genre": ["Drama", "Drama", "all"], "rank": [1, 2, 1],
        "video_id": ["v04", "brand_new", "v05"], "score": [9.0, 8.0, 7.0],
    }))
    rows = live.recommend("u", histories.users["u"], _model(6), live.Catalog.of(SERIES), popular, 3)
    assert rows.video_id.tolist() == ["v04", "v05"]  # brand_new is finished; then the wider segment
    assert rows.reason.tolist() == ["popular Drama in US", "popular"]


def test_completion_of_a_title_not_yet_in_the_catalog_is_zero():
    catalog = live.Catalog.of(SERIES)
    completion = catalog.completion(pd.Series(["v00", "nope"]), pd.Series([6000.0, 100.0]))
    assert completion.tolist() == [1.0, 0.0]


def test_a_resumed_view_that_reaches_the_end_finishes_the_title():
    histories = live.Histories()
    histories.add(_views(("e1", "u", "v03", 0, 0.5, False), ("e2", "u", "v03", 30, 0.45, False)))
    assert histories.users["u"].titles["v03"].finished
    rows = live.recommend("u", histories.users["u"], _model(6), live.Catalog.of(SERIES), live.Popular({}), 5)
    assert "v03" not in set(rows.video_id) and not (rows.reason == "continue watching").any()


def test_the_top_titles_are_the_stable_sorts_first_ones_ties_and_masked_titles_included():
    chooser = np.random.default_rng(5)
    for _ in range(200):
        scores = chooser.integers(0, 6, size=int(chooser.integers(1, 40))).astype(float)  # many ties
        scores[chooser.random(len(scores)) < 0.3] = -np.inf
        wanted = int(chooser.integers(1, len(scores) + 3))
        assert live._top(scores, wanted).tolist() == np.argsort(-scores, kind="stable")[:wanted].tolist()


GENRES = pd.DataFrame({
    "video_id": [f"v{i:02d}" for i in range(6)],
    "title": [f"Title {i}" for i in range(6)],
    "genre": ["Drama", "Drama", "Drama", "Comedy", "Comedy", "Comedy"],
    "duration_seconds": [3000] * 6,
})
GENRE_LISTS = live.Popular.of(pd.DataFrame({  # gold.popular_videos' per-genre lists; v02 and v05 below their ends
    "region": ["all"] * 4, "genre": ["Drama", "Drama", "Comedy", "Comedy"], "rank": [1, 2, 1, 2],
    "video_id": ["v01", "v00", "v03", "v04"], "score": [8.0, 4.0, 6.0, 2.0],
}))


def _flat_model(items: int = 6) -> live.ItemModel:
    """Every title the same factors: the fold-in scores them all alike, so the prior alone orders them."""
    return live.ItemModel.of("v1", [f"v{i:02d}" for i in range(items)], np.ones((items, 2)), 1.0, 0.1)


def test_the_genre_prior_is_the_users_genre_share_times_the_titles_share_of_its_genre():
    model, catalog = _flat_model(), live.Catalog.of(GENRES)
    prior = live.GenrePrior.of(model, catalog, GENRE_LISTS)
    histories = live.Histories()
    histories.add(_views(("e1", "u", "v00", 0, 1.0, False), ("e2", "u", "v01", 5, 0.3, False),
                         ("e3", "u", "v03", 9, 1.0, False)))
    # listed viewers: Drama 8 + 4 + 2 (v02: half of 4) = 14, Comedy 6 + 2 + 1 = 9; titles started: 2 Drama, 1 Comedy
    drama_share = (2 + live.GENRE_PRIOR_VIEWS * 14 / 23) / (3 + live.GENRE_PRIOR_VIEWS)
    comedy_share = (1 + live.GENRE_PRIOR_VIEWS * 9 / 23) / (3 + live.GENRE_PRIOR_VIEWS)
    expected = np.log([drama_share * 4 / 14, drama_share * 8 / 14, drama_share * 2 / 14,
                       comedy_share * 6 / 9, comedy_share * 2 / 9, comedy_share * 1 / 9])
    np.testing.assert_allclose(prior.scores(histories.users["u"]), expected, rtol=1e-12)


def test_the_genre_prior_orders_titles_the_fold_in_cannot_tell_apart():
    model, catalog = _flat_model(), live.Catalog.of(GENRES)
    histories = live.Histories()
    histories.add(_views(("e1", "u", "v00", 0, 0.3, False), ("e2", "u", "v01", 5, 0.3, False)))  # two dramas begun
    rows = live.recommend("u", histories.users["u"], model, catalog, GENRE_LISTS, 5, continue_slots=0,
                          prior=live.GenrePrior.of(model, catalog, GENRE_LISTS))
    # Drama is 72 % of this viewer's shares, Comedy 28 %: the most viewed comedy (v03, 6 of 9) comes
    # before the least viewed drama (v02, 2 of 14), not before the other two
    assert rows.video_id.tolist() == ["v01", "v00", "v03", "v02", "v04"]
    plain = live.recommend("u", histories.users["u"], model, catalog, GENRE_LISTS, 5, continue_slots=0)
    assert plain.video_id.tolist() == ["v00", "v01", "v02", "v03", "v04"], "no prior: the flat scores' order"


def test_without_genres_there_is_no_prior():
    model = _flat_model()
    assert live.GenrePrior.of(model, live.Catalog({}, {}, {}), GENRE_LISTS) is None
    assert live.GenrePrior.of(model, live.Catalog.of(GENRES), live.Popular({})) is None
