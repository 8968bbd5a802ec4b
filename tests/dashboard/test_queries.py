"""The dashboard's queries on a hand-made gold layer (tests/dashboard/conftest.py); figures worked out by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pandas as pd
import pytest
from deltalake import write_deltalake

from dashboard import queries
from reelhouse.bench import dashboard as bench

APPROX = pytest.approx


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# -- live QoE --------------------------------------------------------------------------------------

def test_live_qoe_sums_the_windows_of_the_last_15_minutes_per_region_and_cdn(gold_home):
    live = queries.live_qoe_by_region_cdn(gold_home, minutes=15)

    # windows ending after 11:55: A and B (US akamai), C (US fastly); F ends at 11:55 exactly, D and E earlier
    assert live[["region", "cdn"]].values.tolist() == [["US", "akamai"], ["US", "fastly"]]
    akamai, fastly = live.iloc[0], live.iloc[1]
    assert akamai["views"] == 20 and akamai["playback_failures"] == 4
    assert akamai["stalled_time_ratio"] == APPROX(100 / 1300)
    assert akamai["playback_failure_ratio"] == APPROX(0.2)
    assert akamai["mean_startup_time_ms"] == APPROX(23000 / 16)
    assert akamai["avg_bitrate_kbps"] == APPROX(59000 / 16)
    assert fastly["views"] == 4 and fastly["stalled_time_ratio"] == 0.0 and fastly["playback_failure_ratio"] == 0.0
    assert set(live["latest_window_end"]) == {ts("2025-05-20T12:10"), ts("2025-05-20T12:06")}


def test_live_totals_weight_each_pair_by_its_views_and_watching(gold_home):
    totals = queries.live_totals(queries.live_qoe_by_region_cdn(gold_home, minutes=15))

    assert totals["views"] == 24
    assert totals["stalled_time_ratio"] == APPROX(100 / 1700)
    assert totals["playback_failure_ratio"] == APPROX(4 / 24)


def test_live_stalled_time_uses_the_measured_watching_when_the_table_has_it(tmp_path, gold_home):
    live = pd.DataFrame({
        "window_start": [ts("2025-05-20T12:09")] * 2, "window_end": [ts("2025-05-20T12:10")] * 2,
        "region": ["US", "US"], "cdn": ["akamai", "akamai"], "device_type": ["tv", "mobile"],
        "views": [10, 10], "playback_failures": [1, 3], "started_views": [9, 7],
        "watch_time_seconds": [900.0, 300.0], "rebuffer_seconds": [100.0, 0.0],
        "stall_measured_seconds": [400.0, 300.0],  # part of the tv watching had no stall measurement
        "startup_time_ms_sum": [9000.0, 14000.0], "bitrate_kbps_sum": [45000.0, 14000.0],
    })
    write_deltalake(str(tmp_path / "gold" / "qoe_live"), live)

    row = queries.live_qoe_by_region_cdn(tmp_path, minutes=15).iloc[0]

    assert row["stalled_time_ratio"] == APPROX(100 / 800)


def test_live_experience_score_and_failure_split_come_from_the_sums_when_the_table_has_them(current_layout_home):
    by_pair = queries.live_qoe_by_region_cdn(current_layout_home, minutes=15)
    row = by_pair.iloc[0]

    assert row["viewer_experience_score"] == APPROX(1350 / 15)  # over the views with a score, not all 20
    assert row["video_start_failure_ratio"] == APPROX(3 / 20)  # of attempts
    assert row["video_playback_failure_ratio"] == APPROX(1 / 17)  # of views that started
    assert queries.live_totals(by_pair)["viewer_experience_score"] == APPROX(90.0)


def test_live_experience_score_is_empty_on_a_table_of_an_older_monitor(gold_home):
    live = queries.live_qoe_by_region_cdn(gold_home, minutes=15)
    assert live["viewer_experience_score"].isna().all()
    assert pd.isna(queries.live_totals(live)["viewer_experience_score"])


def test_live_trend_has_one_row_per_minute_and_cdn_over_the_last_hour(gold_home):
    trend = queries.live_qoe_trend(gold_home, minutes=60)

    assert [(str(r.window_start.time())[:5], r.cdn, r.views) for r in trend.itertuples()] == [
        ("11:40", "akamai", 100), ("11:54", "fastly", 7), ("12:05", "fastly", 4), ("12:09", "akamai", 20),
    ]
    assert trend["playback_failure_ratio"].tolist() == APPROX([0.5, 0.0, 0.0, 0.2])


def test_open_alerts_are_those_on_windows_ending_within_5_minutes_of_the_newest_one_per_pair_and_metric(gold_home):
    alerts = queries.open_alerts(gold_home, minutes=5)

    # a1 and a5 are one incident; a2 ends at 12:05, exactly 5 minutes before 12:10; a3 and a4 are older
    assert list(zip(alerts.region, alerts.cdn, alerts.metric, alerts.windows, strict=True)) == [
        ("US", "akamai", "playback_failure_ratio", 2), ("US", "fastly", "stalled_time_ratio", 1)]
    akamai = alerts.iloc[0]
    assert akamai["rules"] in ("absolute, relative", "relative, absolute")
    assert (akamai["latest_value"], akamai["peak_value"]) == (0.2, 0.3)  # a1 ends last; a5 was worse
    assert akamai["first_raised_at"] == pd.Timestamp("2025-05-20T12:09:50", tz="UTC")
    assert alerts["baseline"].isna().tolist() == [True, False]


def test_an_experience_score_alert_is_worst_at_its_lowest_value(current_layout_home, tmp_path):
    live = pd.read_parquet(next((current_layout_home / "gold" / "qoe_live").glob("*.parquet")))
    write_deltalake(str(tmp_path / "gold" / "qoe_live"), live)
    starts = [ts("2025-05-20T12:08"), ts("2025-05-20T12:08:10"), ts("2025-05-20T12:08:20")] * 2
    write_deltalake(str(tmp_path / "gold" / "qoe_alerts"), pd.DataFrame({
        "alert_id": [f"a{n}" for n in range(6)], "window_start": starts,
        "window_end": [start + pd.Timedelta(minutes=1) for start in starts],
        "region": "US", "cdn": "akamai", "metric": ["viewer_experience_score"] * 3 + ["playback_failure_ratio"] * 3,
        "rule": "absolute", "value": [45.0, 40.0, 42.0, 0.2, 0.3, 0.25], "threshold": [50.0] * 3 + [0.08] * 3,
        "baseline": [None] * 6, "views": 120, "raised_at": starts, "updated_at": starts,
    }))

    alerts = queries.open_alerts(tmp_path, minutes=5).set_index("metric")

    score = alerts.loc["viewer_experience_score"]
    assert (score["latest_value"], score["peak_value"]) == (42.0, 40.0)
    assert alerts.loc["playback_failure_ratio", "peak_value"] == 0.3


# -- hourly QoE and engagement -------------------------------------------------------------------------

def test_hourly_qoe_recomputes_ratios_from_the_last_24_hours_of_sums(gold_home):
    hourly = queries.hourly_qoe_by_region_cdn(gold_home, hours=24).set_index(["region", "cdn"])

    us = hourly.loc[("US", "akamai")]  # the 2025-05-19 23:00 row is 24 h before the newest hour: left out
    assert us["video_start_attempts"] == 40
    assert us["stalled_time_ratio"] == APPROX(100 / 3700)
    assert us["playback_failure_ratio"] == APPROX(1 / 40)
    assert us["mean_startup_time_ms"] == APPROX((1000 * 9 + 2000 * 27) / 36)
    assert us["watch_weighted_bitrate_kbps"] == APPROX(3500.0)
    br = hourly.loc[("BR", "fastly")]
    assert (br["video_start_attempts"], br["stalled_time_ratio"], br["mean_startup_time_ms"]) == (5, 0.5, 500.0)


def test_hourly_qoe_uses_cta_watched_time_failure_split_and_scores_when_the_mart_has_them(current_layout_home):
    row = queries.hourly_qoe_by_region_cdn(current_layout_home, hours=24).iloc[0]
    assert row["stalled_time_ratio"] == APPROX(100 / 3450)
    assert row["video_start_failure_ratio"] == APPROX(3 / 40)
    assert row["video_playback_failure_ratio"] == APPROX(2 / 33)
    assert row["viewer_experience_score"] == APPROX(2900 / 38)

    histogram = queries.startup_time_histogram(current_layout_home, hours=24)
    assert histogram["bucket"].tolist() == ["0-1 s", "1-8 s", "8 s+"]
    assert histogram["views"].tolist() == [7, 25, 1]
    assert histogram["share"].tolist() == APPROX([7 / 33, 25 / 33, 1 / 33])


def test_the_startup_histogram_is_empty_on_a_mart_without_buckets(gold_home):
    assert queries.startup_time_histogram(gold_home, hours=24).empty


def test_engagement_daily_weights_rates_by_views_over_the_last_30_days(gold_home):
    daily = queries.engagement_daily(gold_home, days=30)

    assert daily["event_date"].tolist() == [date(2025, 5, 13), date(2025, 5, 19), date(2025, 5, 20)]
    assert daily["views"].tolist() == [6, 4, 4]
    last = daily.iloc[-1]
    assert last["watch_hours"] == APPROX(2.5)
    assert last["completion_rate"] == APPROX((3 * 0.5 + 1 * 1.0) / 4)
    assert last["skip_rate"] == APPROX(0.6 / 4)
    assert last["pause_rate"] == APPROX(0.3 / 4)


def test_active_users_come_straight_from_the_mart(gold_home):
    users = queries.active_users_daily(gold_home, days=30)

    assert users[["daily_active_users", "weekly_active_users", "monthly_active_users"]].values.tolist() == [
        [3, 5, 9], [2, 6, 10]]


def test_breakdowns_cover_the_last_7_days_most_viewed_first(gold_home):
    genres = queries.by_genre(gold_home, days=7)
    regions = queries.by_region(gold_home, days=7)
    both = queries.by_genre_and_region(gold_home, days=7)

    # 2025-05-13 is 7 days before the newest day: left out
    assert genres[["genre", "views"]].values.tolist() == [["Drama", 7], ["Kids", 1]]
    assert genres["completion_rate"].tolist() == APPROX([2.5 / 7, 1.0])
    assert genres["watch_hours"].tolist() == APPROX([5.0, 0.5])
    assert regions[["region", "views"]].values.tolist() == [["BR", 5], ["US", 3]]
    assert both[["genre", "region", "views"]].values.tolist() == [
        ["Drama", "BR", 4], ["Drama", "US", 3], ["Kids", "BR", 1]]


def test_top_titles_join_the_titles_and_stop_at_the_limit(gold_home):
    titles = queries.top_titles(gold_home, days=7, limit=1)
    both = queries.top_titles(gold_home, days=7, limit=5)

    assert titles[["video_id", "title", "genre", "views"]].values.tolist() == [["v1", "Title One", "Drama", 7]]
    assert both["title"].tolist() == ["Title One", "Title Two"]


# -- recommendations and data quality ------------------------------------------------------------

def test_recommendation_uptake_per_day(gold_home):
    uptake = queries.recommendation_uptake(gold_home, days=30)

    assert uptake["recommendation_uptake_rate"].tolist() == [0.25, 0.5]
    assert uptake["recommended_views"].tolist() == [1, 2]


def test_model_quality_keeps_each_models_newest_test_metrics(gold_home):
    quality = queries.model_quality(gold_home)

    assert sorted(zip(quality["model"], quality["metric"], quality["value"], strict=True)) == [
        ("als_tuned", "ndcg", 0.2), ("als_tuned", "precision", 0.05),
        ("gbt_early_exit", "roc_auc", 0.6), ("popularity", "ndcg", 0.15),
    ]


def test_data_quality_covers_the_last_48_hours(gold_home):
    hourly = queries.data_quality_hourly(gold_home, hours=48)
    reasons = queries.quarantine_reasons(gold_home, hours=48)

    assert hourly["received_records"].tolist() == [100, 50]  # 2025-05-18 09:00 is over 48 h before 11:00
    assert reasons[["reason", "quarantined_records"]].values.tolist() == [["not_json", 6], ["missing_field", 4]]


def test_sample_users_are_users_with_recommendations(gold_home):
    assert queries.sample_users(gold_home, limit=5)["user_id"].tolist() == ["u1", "u2"]


# -- missing tables, versions --------------------------------------------------------------------

def test_an_empty_lakehouse_points_to_make_demo(tmp_path):
    with pytest.raises(queries.MissingTable, match="is empty; `make demo`") as raised:
        queries.engagement_daily(tmp_path)
    assert raised.value.table == "fct_daily_engagement" and raised.value.command == "reelhouse dbt build"
    assert queries.is_empty(tmp_path)
    assert len(queries.missing_tables(tmp_path)) == len(queries.FILLED_BY)


def test_a_half_built_lakehouse_names_the_missing_step(make_home, table_groups):
    home = make_home(table_groups["dbt"])

    assert not queries.is_empty(home)
    with pytest.raises(queries.MissingTable, match=r"gold.model_metrics .*: train the models with `reelhouse train`"):
        queries.model_quality(home)
    with pytest.raises(queries.MissingTable, match=r"gold.qoe_live .*`reelhouse monitor`"):
        queries.live_qoe_by_region_cdn(home)
    assert {m.table for m in queries.missing_tables(home)} == {
        "qoe_live", "qoe_alerts", "model_metrics", "user_recommendations", "popular_videos"}
    assert len(queries.engagement_daily(home)) == 3


def test_models_without_fct_views_ask_for_the_dbt_build_first(make_home):
    home = make_home(["fct_daily_engagement"])  # a partial dbt build, without gold.fct_views

    with pytest.raises(queries.MissingTable, match="run `reelhouse dbt build`, then `reelhouse train`"):
        queries.model_quality(home)


def test_the_cache_key_changes_when_a_table_gets_a_new_version(make_home, append_window, live_row_factory):
    home = make_home(["qoe_live"])
    before = queries.versions(home, ("qoe_live", "qoe_alerts"))

    append_window(home, live_row_factory("2025-05-20T12:10", "2025-05-20T12:11", "US", "akamai", "tv",
                                         6, 0, 6, 60.0, 0.0, 600.0, 600.0))

    assert before == (0, None)
    assert queries.versions(home, ("qoe_live", "qoe_alerts")) == (1, None)
    assert queries.live_totals(queries.live_qoe_by_region_cdn(home))["views"] == 30


# -- benchmark ------------------------------------------------------------------------------------

def test_bench_times_every_page_and_names_missing_tables(make_home, table_groups):
    home = make_home(table_groups["dbt"])

    report = bench.measure(home, repeats=2)

    assert set(report["pages"]) == set(queries.PAGES)
    engagement = report["pages"]["engagement"]
    assert set(engagement["queries"]) == {"engagement_daily", "active_users_daily"}
    assert 0 < engagement["median_seconds"] <= engagement["max_seconds"] < 5
    live = report["pages"]["live_qoe"]
    assert set(live["queries"]) == {"hourly_qoe_by_region_cdn"}
    assert "reelhouse monitor" in live["missing"]["live_qoe_by_region_cdn"]
    assert "max_seconds" not in report["pages"]["user_lookup"]  # no user_recommendations: nothing to time
    assert report["slowest_page_seconds"] == max(p["max_seconds"] for p in report["pages"].values()
                                                 if "max_seconds" in p)
    json.dumps(report)


def test_bench_times_the_user_lookup_through_ml_serving(gold_home):
    lookup = bench.measure(gold_home, repeats=1)["pages"]["user_lookup"]

    assert set(lookup["queries"]) == {"sample_users", "recommend_known_user", "recommend_cold_start"}
    assert "missing" not in lookup


def test_the_dashboard_modules_import_no_spark():
    code = ("import sys, dashboard.queries, reelhouse.bench.dashboard, reelhouse.services.dashboard, ml.serving, "
            "streamlit, plotly.express;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j', 'delta')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
