from datetime import timedelta

import pandas as pd
import pytest

from ingestion import alerting
from ingestion.qoe_rules import STARTUP_BUCKETS, AlertRules

BASE = pd.Timestamp("2026-01-01 10:00", tz="UTC")
RULES = AlertRules(stalled_time_ratio=0.05, playback_failure_ratio=0.10, relative_factor=3.0,
                   relative_floor_share=0.2, min_views=100, min_baseline_views=500, trailing_minutes=60)


def _windows(rows, device="tv", score=85.0):
    """(minute, views, failures, playing seconds, stalled seconds[, region]) -> live window sums;
    failures are failed starts, every view has the experience `score`."""
    data = []
    for row in rows:
        minute, views, failures, playing, stalled, region = (*row, "US") if len(row) == 5 else row
        start = BASE + timedelta(minutes=minute)
        data.append({"window_start": start, "window_end": start + timedelta(minutes=1), "region": region,
                     "cdn": "akamai", "device_type": device, "views": views, "playback_failures": failures,
                     "started_views": views, "watch_time_seconds": float(playing), "rebuffer_seconds": float(stalled),
                     "stall_measured_seconds": float(playing), "startup_time_ms_sum": 1000.0 * views,
                     "bitrate_kbps_sum": 3000.0 * views, "video_start_failures": failures,
                     "video_playback_failures": 0, "video_start_failures_business": 0,
                     "video_playback_failures_business": 0, "experience_score_sum": score * views,
                     "experience_scored_views": views, **dict.fromkeys(STARTUP_BUCKETS, 0)})
    return pd.DataFrame(data)


def _alerts(rows, current_minute, windows=None):
    pairs = alerting.pair_windows(_windows(rows) if windows is None else windows)
    current = pairs[pairs.window_start == BASE + timedelta(minutes=current_minute)]
    return alerting.alerts(current, pairs, RULES, BASE + timedelta(hours=2))


def test_ratios_come_from_the_sums_and_an_empty_denominator_gives_no_ratio():
    live = alerting.with_ratios(_windows([(0, 4, 1, 90, 10), (1, 0, 0, 0, 0)]))
    assert live.stalled_time_ratio.iloc[0] == pytest.approx(10 / 100)
    assert live.playback_failure_ratio.iloc[0] == pytest.approx(1 / 4)
    assert live.mean_startup_time_ms.iloc[0] == pytest.approx(1000)
    assert live.avg_bitrate_kbps.iloc[0] == pytest.approx(3000)
    assert live.iloc[1][list(alerting.RATIOS)].isna().all()


def test_pairs_roll_up_devices_from_sums_not_from_ratios():
    live = pd.concat([_windows([(0, 100, 1, 1000, 0)], "tv"), _windows([(0, 10, 5, 10, 90)], "mobile")])
    pairs = alerting.pair_windows(live)
    assert len(pairs) == 1
    assert pairs.views.iloc[0] == 110
    assert pairs.playback_failure_ratio.iloc[0] == pytest.approx(6 / 110)
    assert pairs.stalled_time_ratio.iloc[0] == pytest.approx(90 / 1100)


def test_a_batch_replaces_the_rows_it_updates_and_keeps_the_others():
    table = pd.concat([_windows([(0, 100, 1, 1000, 0)], "tv"), _windows([(0, 50, 0, 500, 0)], "mobile")])
    batch = _windows([(0, 120, 2, 1200, 0)], "tv")
    after = alerting.overlay(table, batch).sort_values("device_type")
    assert list(zip(after.device_type, after.views, strict=True)) == [("mobile", 50), ("tv", 120)]


def test_an_absolute_alert_needs_the_threshold_crossed_and_enough_views():
    over = _alerts([(0, 200, 40, 1000, 0)], 0)
    assert over[["alert_id", "metric", "rule", "value", "threshold", "views"]].to_dict("records") == [{
        "alert_id": "2026-01-01T10:00:00|US|akamai|playback_failure_ratio|absolute",
        "metric": "playback_failure_ratio", "rule": "absolute", "value": pytest.approx(40 / 200),
        "threshold": 0.10, "views": 200}]
    assert over.baseline.isna().all()
    assert _alerts([(0, 99, 50, 1000, 0)], 0).empty  # too few views to judge
    assert _alerts([(0, 200, 22, 1000, 0)], 0).empty  # 11 % is above 10 %, but 22 in 200 is chance at 10 %
    assert _alerts([(0, 200, 20, 1000, 0)], 0).empty  # at the threshold is not above it


def test_a_relative_alert_compares_with_the_trailing_hour_of_the_same_pair_only():
    # trailing hour: 1,000 views with 1 % failures; 5 % now is 5x that, under the 10 % absolute
    rows = [(10, 500, 5, 1000, 0), (30, 500, 5, 1000, 0), (45, 1000, 50, 1000, 0),
            (20, 5000, 2500, 1000, 0, "GB")]  # another pair's bad hour is not this pair's baseline
    raised = _alerts(rows, 45)
    assert list(zip(raised.metric, raised.rule, strict=True)) == [("playback_failure_ratio", "relative")]
    assert raised.baseline.iloc[0] == pytest.approx(0.01)
    assert raised.threshold.iloc[0] == pytest.approx(0.03)


def test_no_relative_alert_without_a_baseline_of_the_last_hour_or_under_the_floor():
    assert list(_alerts([(1, 600, 6, 1000, 0), (61, 1000, 50, 1000, 0)], 61).rule) == ["relative"]
    assert _alerts([(0, 600, 6, 1000, 0), (61, 1000, 50, 1000, 0)], 61).empty  # an hour and a minute ago
    assert _alerts([(1, 400, 4, 1000, 0), (61, 1000, 50, 1000, 0)], 61).empty  # too thin an hour
    # a perfect hour: 3x of 0 is 0, but 1 % stays under the floor (20 % of 10 %)
    assert _alerts([(1, 600, 0, 1000, 0), (61, 200, 2, 1000, 0)], 61).empty
    # the window itself is not its own baseline
    assert _alerts([(61, 2000, 80, 1000, 0)], 61).empty


def test_failures_must_be_more_than_chance_at_the_threshold_would_give():
    # 4 in 105 (3.8 %) over a 3 % relative threshold happens by chance; 30 in 105 does not
    history = [(1, 1000, 10, 1000, 0)]
    assert _alerts([*history, (2, 105, 4, 1000, 0)], 2).empty
    assert list(_alerts([*history, (2, 105, 30, 1000, 0)], 2).rule) == ["absolute", "relative"]


def test_stalled_time_alerts_like_failures():
    raised = _alerts([(1, 600, 0, 1000, 10), (2, 200, 0, 900, 100)], 2)
    assert sorted(zip(raised.metric, raised.rule, strict=True)) == [
        ("stalled_time_ratio", "absolute"), ("stalled_time_ratio", "relative")]
    assert raised.value.iloc[0] == pytest.approx(100 / 1000)


def test_alerts_fit_the_table_schema():
    import pyarrow as pa

    raised = _alerts([(1, 600, 0, 1000, 10), (2, 200, 0, 900, 100)], 2)
    table = pa.Table.from_pandas(raised[alerting.ALERTS_SCHEMA.names], schema=alerting.ALERTS_SCHEMA,
                                 preserve_index=False)
    assert table.num_rows == 2


def test_a_window_that_overlaps_a_baseline_window_does_not_count_it():
    history = alerting.pair_windows(_windows([(0, 600, 6, 1000, 0), (1, 600, 300, 1000, 0)]))
    sliding = history.iloc[[1]].assign(window_start=BASE + timedelta(minutes=1, seconds=30),
                                       window_end=BASE + timedelta(minutes=2, seconds=30),
                                       views=200, playback_failures=8)
    judged = alerting.trailing_baseline(alerting.with_ratios(sliding), history, 60)
    # only the minute that ended before 10:01:30 counts, not the bad one it overlaps
    assert judged.baseline_views.iloc[0] == 600
    assert judged.baseline_playback_failure_ratio.iloc[0] == pytest.approx(0.01)


def test_the_experience_score_alerts_below_its_threshold_or_well_under_the_trailing_hour():
    steady = [(m, 100, 0, 1000, 0) for m in range(10)]
    history = _windows(steady, score=88.0)

    def judged(score):
        return _alerts(steady, 10, pd.concat([history, _windows([(10, 150, 0, 1000, 0)], score=score)]))

    fine = judged(80.0)
    assert "viewer_experience_score" not in set(fine.metric)
    dropped = judged(70.0)  # above the absolute 50 but 18 points under the hour's 88
    rows = dropped[dropped.metric == "viewer_experience_score"]
    assert list(rows.rule) == ["relative"]
    assert rows.threshold.iloc[0] == pytest.approx(88.0 - RULES.experience_score_drop)
    assert rows.value.iloc[0] == pytest.approx(70.0) and rows.baseline.iloc[0] == pytest.approx(88.0)
    broken = judged(40.0)
    assert set(broken[broken.metric == "viewer_experience_score"].rule) == {"absolute", "relative"}


def test_start_and_playback_failures_have_their_own_denominators():
    windows = _windows([(0, 10, 2, 100, 0)]).assign(started_views=8, video_playback_failures=1)
    live = alerting.with_ratios(windows)
    assert live.video_start_failure_ratio.iloc[0] == pytest.approx(2 / 10)  # of attempts
    assert live.video_playback_failure_ratio.iloc[0] == pytest.approx(1 / 8)  # of views that started
    assert live.viewer_experience_score.iloc[0] == pytest.approx(85.0)
