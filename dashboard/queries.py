"""Every query behind the dashboard's pages, as plain functions of the lakehouse home.

Reads the gold Delta tables at `<home>/gold/<table>` with the `deltalake` package (delta-rs and its
DataFusion SQL engine, no JVM), writes nothing. Each query reads an aggregated mart (never
gold.fct_views), filters relative to the newest data in the table (not the wall clock, so old
demo data still shows), selects only the columns it needs and returns a small pandas frame.

A table that is not there raises `MissingTable`, whose message names the command that fills it.
Ratios are returned as 0-1 fractions; the app shows them as percentages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pandas as pd
from deltalake import DeltaTable

from foundation import delta_rs
from foundation.delta import is_delta_table

DEMO = "make demo"
DBT_BUILD = "reelhouse dbt build"
TRAIN = "reelhouse train"
MONITOR = "reelhouse monitor"

# which command writes each gold table the dashboard reads
FILLED_BY = {
    "fct_hourly_qoe": DBT_BUILD,
    "fct_daily_engagement": DBT_BUILD,
    "fct_daily_active_users": DBT_BUILD,
    "fct_daily_recommendation_uptake": DBT_BUILD,
    "fct_hourly_data_quality": DBT_BUILD,
    "fct_hourly_quarantine": DBT_BUILD,
    "dim_videos": DBT_BUILD,
    "dim_users": DBT_BUILD,
    "model_metrics": TRAIN,
    "user_recommendations": TRAIN,
    "popular_videos": TRAIN,
    "qoe_live": MONITOR,
    "qoe_alerts": MONITOR,
}
BRONZE_EVENTS = ("bronze", "playback_events")

# the defaults the app opens with; the benchmark times the pages with these
LIVE_MINUTES = 15
LIVE_TREND_MINUTES = 60
OPEN_ALERT_MINUTES = 5
HOURLY_QOE_HOURS = 24
TREND_DAYS = 30
BREAKDOWN_DAYS = 7
TOP_TITLES = 10
QUALITY_HOURS = 48


class MissingTable(delta_rs.MissingTable):
    """A gold table the page needs is not in the lakehouse yet; the message says how to build it."""

    def __init__(self, home: Path, table: str) -> None:
        self.table = table
        self.command = FILLED_BY[table]
        super().__init__(f"gold.{table} is not built yet: {_advice(home, table)}")


def _advice(home: Path, table: str) -> str:
    command = FILLED_BY[table]
    if command == MONITOR:
        return f"start the live QoE monitor with `{MONITOR}` (it reads the Kafka topic as events arrive)"
    if is_empty(home):
        return f"the lakehouse is empty; `{DEMO}` loads events and builds every table"
    if command == TRAIN:
        if not exists(home, "fct_views"):
            return f"run `{DBT_BUILD}`, then `{TRAIN}`"
        return f"train the models with `{TRAIN}`"
    return f"build the dbt marts with `{DBT_BUILD}`"


def table_path(home: Path, table: str, layer: str = "gold") -> Path:
    return home / layer / table


def exists(home: Path, table: str, layer: str = "gold") -> bool:
    return is_delta_table(table_path(home, table, layer))


def is_empty(home: Path) -> bool:
    """Nothing ingested and nothing built: the state a fresh REELHOUSE_HOME is in."""
    gold = home / "gold"
    built = gold.is_dir() and any(is_delta_table(child) for child in gold.iterdir())
    return not built and not exists(home, BRONZE_EVENTS[1], BRONZE_EVENTS[0])


def missing_tables(home: Path) -> list[MissingTable]:
    """Every table of FILLED_BY that is not there, in FILLED_BY's order."""
    return [MissingTable(home, table) for table in FILLED_BY if not exists(home, table)]


def open_table(home: Path, table: str) -> DeltaTable:
    if not exists(home, table):
        raise MissingTable(home, table)
    return delta_rs.open_table(table_path(home, table))


def versions(home: Path, tables: tuple[str, ...]) -> tuple[int | None, ...]:
    """The current Delta version of each table (None when absent): the app's cache key."""
    return tuple(delta_rs.version(table_path(home, t)) for t in tables)


def _sql(home: Path, query: str, **tables: str) -> pd.DataFrame:
    """`query` over the given gold tables, registered under their keyword names."""
    return delta_rs.query(query, **{alias: open_table(home, table) for alias, table in tables.items()})


Query = TypeVar("Query", bound=Callable[..., pd.DataFrame])


def reads(*tables: str) -> Callable[[Query], Query]:
    """Records which tables a query reads (`query.tables`), for cache keys and the benchmark."""
    def mark(query: Query) -> Query:
        query.tables = tables  # type: ignore[attr-defined]
        return query
    return mark


# -- Live QoE (gold.qoe_live, gold.qoe_alerts from `reelhouse monitor`) -----------------------------

def _sum_if_present(column: str, columns: set[str]) -> str:
    """`sum(column)`, or a null for a column that a table written by an older release lacks."""
    return f"sum({column})" if column in columns else "cast(null as double)"


def _live_measures(home: Path) -> str:
    """The per-window ratios of gold.qoe_live, recomputed over the sums of several windows.

    Stalled time is rebuffering / (watching + rebuffering) on the views whose stalls were measured
    (`stall_measured_seconds`); on a table without that column, over all watching of started views.
    """
    columns = {field.name for field in open_table(home, "qoe_live").schema().fields}
    measured = "stall_measured_seconds" if "stall_measured_seconds" in columns else "watch_time_seconds"

    def total(column: str) -> str:
        return _sum_if_present(column, columns)

    return f"""
        sum(views) as views,
        sum(playback_failures) as playback_failures,
        sum({measured}) as stall_measured_seconds,
        sum(rebuffer_seconds) as rebuffer_seconds,
        sum(rebuffer_seconds) / nullif(sum({measured}) + sum(rebuffer_seconds), 0) as stalled_time_ratio,
        cast(sum(playback_failures) as double) / nullif(sum(views), 0) as playback_failure_ratio,
        sum(startup_time_ms_sum) / nullif(sum(started_views), 0) as mean_startup_time_ms,
        sum(bitrate_kbps_sum) / nullif(sum(started_views), 0) as avg_bitrate_kbps,
        cast({total("video_start_failures")} as double) / nullif(sum(views), 0) as video_start_failure_ratio,
        cast({total("video_playback_failures")} as double) / nullif(sum(started_views), 0)
            as video_playback_failure_ratio,
        {total("experience_score_sum")} as experience_score_sum,
        {total("experience_scored_views")} as experience_scored_views,
        {total("experience_score_sum")} / nullif({total("experience_scored_views")}, 0) as viewer_experience_score
    """


@reads("qoe_live")
def live_qoe_by_region_cdn(home: Path, minutes: int = LIVE_MINUTES) -> pd.DataFrame:
    """QoE per region x CDN over the windows that ended in the last `minutes` before the newest one."""
    return _sql(home, f"""
        select
            region,
            cdn,
            {_live_measures(home)},
            max(window_end) as latest_window_end
        from live
        where window_end > (select max(window_end) from live) - interval '{int(minutes)} minutes'
        group by region, cdn
        order by region, cdn
    """, live="qoe_live")


def live_totals(by_region_cdn: pd.DataFrame) -> dict[str, float]:
    """Views, the two alerting ratios and the experience score over every row of `live_qoe_by_region_cdn`."""
    views = float(by_region_cdn["views"].sum())
    measured, stalled = by_region_cdn["stall_measured_seconds"].sum(), by_region_cdn["rebuffer_seconds"].sum()
    scored = by_region_cdn["experience_scored_views"].sum()
    return {
        "views": views,
        "stalled_time_ratio": stalled / (measured + stalled) if measured + stalled else float("nan"),
        "playback_failure_ratio": by_region_cdn["playback_failures"].sum() / views if views else float("nan"),
        "viewer_experience_score": by_region_cdn["experience_score_sum"].sum() / scored if scored else float("nan"),
    }


@reads("qoe_live")
def live_qoe_trend(home: Path, minutes: int = LIVE_TREND_MINUTES) -> pd.DataFrame:
    """QoE per 1-minute window and CDN over the last `minutes` of windows."""
    return _sql(home, f"""
        select
            window_start,
            cdn,
            {_live_measures(home)}
        from live
        where window_end > (select max(window_end) from live) - interval '{int(minutes)} minutes'
        group by window_start, cdn
        order by window_start, cdn
    """, live="qoe_live")


# alert metrics that are better high (the monitor's AlertRules.HIGHER_IS_BETTER; the dashboard imports no job)
SCORE_METRICS = ("viewer_experience_score",)


@reads("qoe_live", "qoe_alerts")
def open_alerts(home: Path, minutes: int = OPEN_ALERT_MINUTES) -> pd.DataFrame:
    """Open alerts, one row per region x CDN x metric, the most recent first.

    Open = raised on a window that ended within `minutes` of the newest window in gold.qoe_live.
    The monitor judges 1-minute windows starting every 10 s, so one incident raises many rows:
    here they become one, with how many windows alerted, the rules that fired, the latest and
    the worst value, and when it was first raised.
    """
    return _sql(home, f"""
        select
            region, cdn, metric,
            array_to_string(array_agg(distinct rule), ', ') as rules,
            count(*) as windows,
            last_value(value order by window_end) as latest_value,
            -- a score is worst at its lowest, a ratio at its highest
            case when metric in ({", ".join(f"'{m}'" for m in SCORE_METRICS)}) then min(value)
                else max(value) end as peak_value,
            last_value(baseline order by window_end) as baseline,
            min(raised_at) as first_raised_at,
            max(window_end) as last_window_end
        from alerts
        where window_end >= (select max(window_end) from live) - interval '{int(minutes)} minutes'
        group by region, cdn, metric
        order by last_window_end desc, region, cdn, metric
    """, live="qoe_live", alerts="qoe_alerts")


# -- QoE from dbt (gold.fct_hourly_qoe) ------------------------------------------------------------

def _hourly_columns(home: Path) -> set[str]:
    return {field.name for field in open_table(home, "fct_hourly_qoe").schema().fields}


@reads("fct_hourly_qoe")
def hourly_qoe_by_region_cdn(home: Path, hours: int = HOURLY_QOE_HOURS) -> pd.DataFrame:
    """QoE per region x CDN over the last `hours` hours of gold.fct_hourly_qoe.

    The ratios are recomputed from the hours' sums: stalled time = rebuffering / CTA-2066 watched
    time (watching + rebuffering on a mart built before watched time had the startup wait), start
    failures over attempts and playback failures over starts, startup time weighted by video
    starts, bitrate by watch time, the experience score over the views that have one.
    """
    columns = _hourly_columns(home)
    watched = ("sum(watched_time_seconds)" if "watched_time_seconds" in columns
               else "sum(watch_time_seconds) + sum(rebuffer_seconds)")

    def total(column: str) -> str:
        return _sum_if_present(column, columns)

    return _sql(home, f"""
        select
            region,
            cdn,
            sum(video_start_attempts) as video_start_attempts,
            sum(rebuffer_seconds) / nullif({watched}, 0) as stalled_time_ratio,
            cast(sum(playback_failures) as double) / nullif(sum(video_start_attempts), 0)
                as playback_failure_ratio,
            cast({total("video_start_failures")} as double) / nullif(sum(video_start_attempts), 0)
                as video_start_failure_ratio,
            cast({total("video_playback_failures")} as double) / nullif(sum(video_starts), 0)
                as video_playback_failure_ratio,
            {total("viewer_experience_score_sum")} / nullif({total("viewer_experience_scored_views")}, 0)
                as viewer_experience_score,
            sum(startup_time_mean_ms * video_starts) / nullif(sum(video_starts), 0) as mean_startup_time_ms,
            sum(bitrate_kbps_watch_seconds) / nullif(sum(watch_time_seconds), 0) as watch_weighted_bitrate_kbps,
            max(event_hour) as latest_hour
        from qoe
        where event_hour > (select max(event_hour) from qoe) - interval '{int(hours)} hours'
        group by region, cdn
        order by region, cdn
    """, qoe="fct_hourly_qoe")


STARTUP_BUCKET = re.compile(r"^startup_time_views_(\d+)_(?:to_(\d+)_ms|ms_plus)$")


@reads("fct_hourly_qoe")
def startup_time_histogram(home: Path, hours: int = HOURLY_QOE_HOURS) -> pd.DataFrame:
    """Started views per startup-time bucket over the last `hours` hours (empty on a mart without buckets).

    One row per bucket in order: its label (e.g. `1-2 s`, `8 s+`), views, and share of the views.
    """
    buckets = sorted(((int(m.group(1)), m.group(2), c) for c in _hourly_columns(home)
                      if (m := STARTUP_BUCKET.match(c))), key=lambda b: b[0])
    if not buckets:
        return pd.DataFrame({"bucket": [], "views": [], "share": []})
    sums = _sql(home, f"""
        select {", ".join(f"sum({column}) as {column}" for _, _, column in buckets)}
        from qoe
        where event_hour > (select max(event_hour) from qoe) - interval '{int(hours)} hours'
    """, qoe="fct_hourly_qoe").iloc[0]

    def label(lower: int, upper: str | None) -> str:
        return f"{lower / 1000:g}-{int(upper) / 1000:g} s" if upper else f"{lower / 1000:g} s+"

    views = [int(sums[column] or 0) for _, _, column in buckets]
    total = sum(views)
    return pd.DataFrame({"bucket": [label(lower, upper) for lower, upper, _ in buckets], "views": views,
                         "share": [v / total if total else float("nan") for v in views]})


# -- Engagement (gold.fct_daily_engagement, gold.fct_daily_active_users) ----------------------------

_ENGAGEMENT_MEASURES = """
    sum(views) as views,
    sum(watch_hours) as watch_hours,
    sum(completion_rate * views) / nullif(sum(views), 0) as completion_rate,
    sum(skip_rate * views) / nullif(sum(views), 0) as skip_rate,
    sum(pause_rate * views) / nullif(sum(views), 0) as pause_rate
"""


def _last_days(alias: str, column: str, days: int) -> str:
    return f"{column} > (select max({column}) from {alias}) - interval '{int(days)} days'"


@reads("fct_daily_engagement")
def engagement_daily(home: Path, days: int = TREND_DAYS) -> pd.DataFrame:
    """Views, watch hours and view-weighted completion / skip / pause rates per day, oldest first."""
    return _sql(home, f"""
        select event_date, {_ENGAGEMENT_MEASURES}
        from engagement
        where {_last_days("engagement", "event_date", days)}
        group by event_date
        order by event_date
    """, engagement="fct_daily_engagement")


@reads("fct_daily_active_users")
def active_users_daily(home: Path, days: int = TREND_DAYS) -> pd.DataFrame:
    return _sql(home, f"""
        select activity_date, daily_active_users, weekly_active_users, monthly_active_users
        from users
        where {_last_days("users", "activity_date", days)}
        order by activity_date
    """, users="fct_daily_active_users")


# -- Genre and region breakdowns ---------------------------------------------------------------

def _breakdown(home: Path, keys: str, days: int) -> pd.DataFrame:
    return _sql(home, f"""
        select {keys}, {_ENGAGEMENT_MEASURES}
        from engagement
        where {_last_days("engagement", "event_date", days)}
        group by {keys}
        order by views desc, {keys}
    """, engagement="fct_daily_engagement")


@reads("fct_daily_engagement")
def by_genre(home: Path, days: int = BREAKDOWN_DAYS) -> pd.DataFrame:
    return _breakdown(home, "genre", days)


@reads("fct_daily_engagement")
def by_region(home: Path, days: int = BREAKDOWN_DAYS) -> pd.DataFrame:
    return _breakdown(home, "region", days)


@reads("fct_daily_engagement")
def by_genre_and_region(home: Path, days: int = BREAKDOWN_DAYS) -> pd.DataFrame:
    return _breakdown(home, "genre, region", days)


@reads("fct_daily_engagement", "dim_videos")
def top_titles(home: Path, days: int = BREAKDOWN_DAYS, limit: int = TOP_TITLES) -> pd.DataFrame:
    """The most viewed titles of the last `days` days (ties by video id), with their titles."""
    return _sql(home, f"""
        with ranked as (
            select video_id, {_ENGAGEMENT_MEASURES}
            from engagement
            where {_last_days("engagement", "event_date", days)}
            group by video_id
            order by views desc, video_id
            limit {int(limit)}
        )
        select ranked.video_id, videos.title, videos.genre, ranked.views, ranked.watch_hours,
            ranked.completion_rate, ranked.skip_rate
        from ranked
        left join videos on ranked.video_id = videos.video_id
        order by ranked.views desc, ranked.video_id
    """, engagement="fct_daily_engagement", videos="dim_videos")


# -- Recommendations -------------------------------------------------------------------------

@reads("fct_daily_recommendation_uptake")
def recommendation_uptake(home: Path, days: int = TREND_DAYS) -> pd.DataFrame:
    return _sql(home, f"""
        select
            event_date, views, recommended_views, recommendation_uptake_rate,
            recommended_completion_rate, organic_completion_rate, recommended_skip_rate, organic_skip_rate
        from uptake
        where {_last_days("uptake", "event_date", days)}
        order by event_date
    """, uptake="fct_daily_recommendation_uptake")


@reads("model_metrics")
def model_quality(home: Path) -> pd.DataFrame:
    """Each model's test-split metrics from its newest training run."""
    return _sql(home, """
        with latest as (
            select model, max(trained_at) as trained_at
            from metrics
            where split = 'test'
            group by model
        )
        select metrics.model, metrics.metric, metrics.k, metrics.value, metrics.trained_at, metrics.model_version
        from metrics
        inner join latest on metrics.model = latest.model and metrics.trained_at = latest.trained_at
        where metrics.split = 'test'
        order by metrics.model, metrics.metric
    """, metrics="model_metrics")


@reads("user_recommendations")
def sample_users(home: Path, limit: int = 5) -> pd.DataFrame:
    """A few users the recommender knows, to try in the lookup."""
    return _sql(home, f"""
        select user_id from recommendations where rank = 1 order by user_id limit {int(limit)}
    """, recommendations="user_recommendations")


# -- Data quality ------------------------------------------------------------------------------

@reads("fct_hourly_data_quality")
def data_quality_hourly(home: Path, hours: int = QUALITY_HOURS) -> pd.DataFrame:
    return _sql(home, f"""
        select
            ingested_hour, received_records, valid_records, quarantined_records, duplicates_removed,
            late_arrivals, quarantine_ratio, last_ingested_at
        from quality
        where ingested_hour > (select max(ingested_hour) from quality) - interval '{int(hours)} hours'
        order by ingested_hour
    """, quality="fct_hourly_data_quality")


@reads("fct_hourly_quarantine")
def quarantine_reasons(home: Path, hours: int = QUALITY_HOURS) -> pd.DataFrame:
    return _sql(home, f"""
        select reason, sum(quarantined_records) as quarantined_records
        from quarantine
        where ingested_hour > (select max(ingested_hour) from quarantine) - interval '{int(hours)} hours'
        group by reason
        order by quarantined_records desc, reason
    """, quarantine="fct_hourly_quarantine")


# every page's queries with the app's default arguments: what `reelhouse.bench.dashboard` times
PAGES: dict[str, tuple[Callable[[Path], pd.DataFrame], ...]] = {
    "live_qoe": (live_qoe_by_region_cdn, live_qoe_trend, open_alerts, hourly_qoe_by_region_cdn),
    "engagement": (engagement_daily, active_users_daily),
    "breakdowns": (by_genre, by_region, by_genre_and_region, top_titles),
    "recommendations": (recommendation_uptake, model_quality),
    "data_quality": (data_quality_hourly, quarantine_reasons),
    "user_lookup": (sample_users,),
}
