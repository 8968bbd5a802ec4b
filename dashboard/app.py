"""The reelhouse dashboard: a Streamlit app over the gold Delta tables (no JVM, no Spark).

Reads gold through `dashboard.queries` (delta-rs SQL) and `ml.serving` (the recommendation lookup);
writes nothing. Each page refreshes itself in a fragment every `--refresh-seconds` (the live page)
or every minute (the others); query results are cached per Delta table version, so a refresh
re-reads a table only when it has a new version.

Run it with `reelhouse dashboard` (in the foreground; `reelhouse dashboard start` in the background); the
lakehouse is REELHOUSE_HOME, read once through `Settings.from_env()`. Directly:
    streamlit run dashboard/app.py -- --refresh-seconds 10
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard import queries
from foundation.errors import ReelhouseError
from foundation.settings import Settings
from ml.serving import recommend

CACHE_TTL_SECONDS = 600  # results are keyed on table versions; the TTL only bounds memory
SLOW_REFRESH_SECONDS = 60.0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dashboard/app.py")
    parser.add_argument("--refresh-seconds", type=float, default=10.0, help="live page refresh interval")
    return parser.parse_known_args(sys.argv[1:])[0]


@st.cache_resource
def _settings() -> Settings:
    return Settings.from_env()


ARGUMENTS = _arguments()
SETTINGS = _settings()
HOME = SETTINGS.home
LIVE_REFRESH = ARGUMENTS.refresh_seconds
SLOW_REFRESH = max(SLOW_REFRESH_SECONDS, LIVE_REFRESH)


# -- loading ------------------------------------------------------------------------------------

@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=512, show_spinner=False)
def _cached(name: str, home: str, table_versions: tuple, arguments: tuple) -> pd.DataFrame:
    return getattr(queries, name)(Path(home), **dict(arguments))


def load(name: str, **arguments: object) -> pd.DataFrame | None:
    """The result of `queries.<name>`, or None after saying which table is missing and how to build it."""
    query = getattr(queries, name)
    try:
        key = queries.versions(HOME, query.tables)
        return _cached(name, str(HOME), key, tuple(sorted(arguments.items())))
    except queries.MissingTable as missing:
        said = st.session_state.setdefault("_said_missing", set())
        if missing.table not in said:
            said.add(missing.table)
            st.info(str(missing), icon=":material/construction:")
        return None


def _page(render: Callable[[], None], refresh: float) -> Callable[[], None]:
    """`render` in a fragment that reruns itself every `refresh` seconds."""
    @st.fragment(run_every=refresh)
    def body() -> None:
        st.session_state["_said_missing"] = set()
        render()
        # no server path in the page: a viewer has no use for it, an intruder would
        st.caption(f"Refreshes every {refresh:g} s · read at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    body.__name__ = render.__name__
    return body


# -- formatting ---------------------------------------------------------------------------------

PERCENT = st.column_config.NumberColumn(format="percent")


def _count(value: object) -> str:
    return "—" if pd.isna(value) else f"{int(value):,}"


def _percent(value: object, digits: int = 2) -> str:
    return "—" if pd.isna(value) else f"{float(value) * 100:.{digits}f}%"


def _time(value: object) -> str:
    return "—" if pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M UTC")


def _chart(figure, percent_axis: bool = False) -> None:
    if percent_axis:
        figure.update_yaxes(tickformat=".2~%")
    figure.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend_title_text="")
    st.plotly_chart(figure, width="stretch")


def _score(value: object) -> str:
    return "—" if pd.isna(value) else f"{float(value):.1f}"


def _heatmap(frame: pd.DataFrame, value: str, title: str, percent: bool = True, higher_is_better: bool = False) -> None:
    grid = frame.pivot(index="region", columns="cdn", values=value)
    figure = px.imshow(grid, text_auto=".2%" if percent else ",.1f", aspect="auto", title=title,
                       color_continuous_scale="RdYlGn" if higher_is_better else "Reds", labels={"color": ""})
    if percent:
        figure.update_coloraxes(colorbar_tickformat=".2~%")
    _chart(figure)


def _alert_values(alerts: pd.DataFrame) -> pd.DataFrame:
    """Alert values as text: a ratio as a percentage, the experience score as points."""
    scored = alerts["metric"].isin(queries.SCORE_METRICS)
    shown = alerts.copy()
    for column in ("latest_value", "peak_value", "baseline"):
        shown[column] = [_score(v) if is_score else _percent(v) for v, is_score in zip(alerts[column], scored,
                                                                                      strict=True)]
    return shown


def _window(key: str, default: int, options: tuple[int, ...] = (1, 7, 30, 90, 365), unit: str = "d") -> int:
    """A segmented choice of how far back to look, in days (or hours)."""
    chosen = st.segmented_control("Window", options, default=default, key=key, format_func=lambda n: f"{n} {unit}")
    return chosen or default


# -- pages --------------------------------------------------------------------------------------

def live_qoe() -> None:
    st.header("Live QoE")
    live = load("live_qoe_by_region_cdn", minutes=queries.LIVE_MINUTES)
    if live is not None and live.empty:
        st.info("gold.qoe_live has no windows yet: is `reelhouse monitor` running while events stream in?")
    elif live is not None:
        totals = queries.live_totals(live)
        alerts = load("open_alerts")
        st.caption(f"1-minute windows of gold.qoe_live; the newest ends at {_time(live['latest_window_end'].max())}")
        columns = st.columns(5)
        columns[0].metric(f"Views in the last {queries.LIVE_MINUTES} minutes", _count(totals["views"]))
        columns[1].metric("Experience score (Mux, 0-100)", _score(totals["viewer_experience_score"]))
        columns[2].metric("Stalled time", _percent(totals["stalled_time_ratio"]))
        columns[3].metric("Playback failures", _percent(totals["playback_failure_ratio"]))
        columns[4].metric("Open alerts", "—" if alerts is None else f"{len(alerts):,}")
        st.subheader(f"By region and CDN, last {queries.LIVE_MINUTES} minutes")
        scored = live["viewer_experience_score"].notna().any()  # a monitor before scores wrote none
        columns = st.columns(3 if scored else 2)
        if scored:
            with columns[-3]:
                _heatmap(live, "viewer_experience_score", "Viewer experience score", percent=False,
                         higher_is_better=True)
        with columns[-2]:
            _heatmap(live, "stalled_time_ratio", "Stalled time ratio")
        with columns[-1]:
            _heatmap(live, "playback_failure_ratio", "Playback failure ratio")
        st.subheader("Open alerts")
        if alerts is not None and alerts.empty:
            st.success(f"No alert on the windows of the last {queries.OPEN_ALERT_MINUTES} minutes.")
        elif alerts is not None:
            st.dataframe(_alert_values(alerts), hide_index=True, width="stretch", column_config={
                "last_window_end": st.column_config.DatetimeColumn("last window ends", format="YYYY-MM-DD HH:mm:ss"),
                "first_raised_at": st.column_config.DatetimeColumn("first raised", format="YYYY-MM-DD HH:mm:ss"),
                "windows": st.column_config.NumberColumn("windows alerted"),
                "peak_value": st.column_config.TextColumn("worst value")})
        trend = load("live_qoe_trend", minutes=queries.LIVE_TREND_MINUTES)
        if trend is not None and not trend.empty:
            st.subheader(f"Per minute and CDN, last {queries.LIVE_TREND_MINUTES} minutes")
            one, two = st.columns(2)
            with one:
                _chart(px.line(trend, x="window_start", y="stalled_time_ratio", color="cdn",
                               title="Stalled time ratio"), percent_axis=True)
            with two:
                _chart(px.line(trend, x="window_start", y="playback_failure_ratio", color="cdn",
                               title="Playback failure ratio"), percent_axis=True)
    st.subheader(f"Last {queries.HOURLY_QOE_HOURS} hours of the dbt marts (gold.fct_hourly_qoe)")
    hourly = load("hourly_qoe_by_region_cdn", hours=queries.HOURLY_QOE_HOURS)
    if hourly is not None and not hourly.empty:
        st.caption(f"Up to the hour starting {_time(hourly['latest_hour'].max())}")
        one, two = st.columns(2)
        with one:
            _chart(px.bar(hourly, x="region", y="stalled_time_ratio", color="cdn", barmode="group",
                          title="Stalled time / watched time (CTA-2066)"), percent_axis=True)
        with two:
            _chart(px.bar(hourly, x="region", y="playback_failure_ratio", color="cdn", barmode="group",
                          title="Playback failure ratio"), percent_axis=True)
        if hourly["viewer_experience_score"].notna().any():  # marts built before the scores have none
            _hourly_experience(hourly)
        st.dataframe(hourly.drop(columns=["latest_hour"]), hide_index=True, width="stretch",
                     column_config={"stalled_time_ratio": PERCENT, "playback_failure_ratio": PERCENT,
                                    "video_start_failure_ratio": PERCENT, "video_playback_failure_ratio": PERCENT})


def _hourly_experience(hourly: pd.DataFrame) -> None:
    """The experience score, start vs playback failures and the startup-time histogram of the hourly mart."""
    _chart(px.bar(hourly, x="region", y="viewer_experience_score", color="cdn", barmode="group",
                  title="Viewer experience score (Mux, 0-100)"))
    one, two = st.columns(2)
    with one:
        failures = hourly.melt(id_vars=["region", "cdn"], var_name="failure", value_name="ratio",
                               value_vars=["video_start_failure_ratio", "video_playback_failure_ratio"])
        failures["failure"] = failures["failure"].map({
            "video_start_failure_ratio": "start failures / attempts",
            "video_playback_failure_ratio": "playback failures / starts"})
        _chart(px.bar(failures, x="region", y="ratio", color="failure", barmode="group", facet_col="cdn",
                      title="Video start vs playback failures"), percent_axis=True)
    with two:
        histogram = load("startup_time_histogram", hours=queries.HOURLY_QOE_HOURS)
        if histogram is not None and not histogram.empty:
            _chart(px.bar(histogram, x="bucket", y="share", text_auto=".1%",
                          title="Startup time of started views"), percent_axis=True)


def engagement() -> None:
    st.header("Engagement")
    days = _window("engagement_days", queries.TREND_DAYS)
    daily = load("engagement_daily", days=days)
    users = load("active_users_daily", days=days)
    if daily is not None and not daily.empty:
        latest = daily.iloc[-1]
        day = pd.Timestamp(latest["event_date"]).date().isoformat()
        columns = st.columns(4)
        columns[0].metric(f"Views on {day}", _count(latest["views"]))
        columns[1].metric(f"Watch hours on {day}", f"{latest['watch_hours']:,.1f}")
        columns[2].metric(f"Completion rate on {day}", _percent(latest["completion_rate"], 1))
        if users is not None and not users.empty:
            columns[3].metric(f"Active users on {_date(users['activity_date'].iloc[-1])}",
                              _count(users["daily_active_users"].iloc[-1]))
        one, two = st.columns(2)
        with one:
            _chart(px.line(daily, x="event_date", y="views", markers=True, title="Views per day"))
        with two:
            _chart(px.line(daily, x="event_date", y="watch_hours", markers=True, title="Watch hours per day"))
        rates = daily.melt(id_vars="event_date", value_vars=["completion_rate", "skip_rate", "pause_rate"],
                           var_name="rate")
        _chart(px.line(rates, x="event_date", y="value", color="rate", markers=True,
                       title="Completion, skip and pause rates (per view)"), percent_axis=True)
    elif daily is not None:
        st.info("gold.fct_daily_engagement has no rows yet.")
    if users is not None and not users.empty:
        active = users.melt(id_vars="activity_date", var_name="window",
                            value_vars=["daily_active_users", "weekly_active_users", "monthly_active_users"])
        _chart(px.line(active, x="activity_date", y="value", color="window", markers=True,
                       title="Active users (day, 7 days, 30 days)"))


def _date(value: object) -> str:
    return pd.Timestamp(value).date().isoformat()


def breakdowns() -> None:
    st.header("Genres and regions")
    days = _window("breakdown_days", queries.BREAKDOWN_DAYS)
    st.caption(f"The last {days} days of gold.fct_daily_engagement")
    genres = load("by_genre", days=days)
    if genres is None or genres.empty:
        if genres is not None:
            st.info("gold.fct_daily_engagement has no rows yet.")
        return
    regions = load("by_region", days=days)
    one, two = st.columns(2)
    with one:
        _chart(px.bar(genres, x="genre", y="views", color="completion_rate", title="Views by genre",
                      color_continuous_scale="Blues", hover_data=["watch_hours", "skip_rate"]))
    with two:
        _chart(px.bar(regions, x="region", y="views", color="completion_rate", title="Views by region",
                      color_continuous_scale="Blues", hover_data=["watch_hours", "skip_rate"]))
    both = load("by_genre_and_region", days=days)
    if both is not None:
        grid = both.pivot(index="genre", columns="region", values="watch_hours").fillna(0)
        _chart(px.imshow(grid, text_auto=",.0f", aspect="auto", color_continuous_scale="Blues",
                         title="Watch hours by genre and region"))
    st.subheader("Most viewed titles")
    titles = load("top_titles", days=days)
    if titles is not None:
        st.dataframe(titles, hide_index=True, width="stretch",
                     column_config={"completion_rate": PERCENT, "skip_rate": PERCENT})
    st.dataframe(genres, hide_index=True, width="stretch",
                 column_config={"completion_rate": PERCENT, "skip_rate": PERCENT, "pause_rate": PERCENT})


def recommendations() -> None:
    st.header("Recommendations")
    days = _window("uptake_days", queries.TREND_DAYS)
    uptake = load("recommendation_uptake", days=days)
    if uptake is not None and not uptake.empty:
        latest = uptake.iloc[-1]
        day = _date(latest["event_date"])
        columns = st.columns(3)
        columns[0].metric(f"Recommendation uptake on {day}", _percent(latest["recommendation_uptake_rate"]))
        columns[1].metric(f"Recommended views on {day}", _count(latest["recommended_views"]))
        columns[2].metric("Completion: recommended vs organic",
                          f"{_percent(latest['recommended_completion_rate'], 1)} vs "
                          f"{_percent(latest['organic_completion_rate'], 1)}")
        _chart(px.line(uptake, x="event_date", y="recommendation_uptake_rate", markers=True,
                       title="Share of views started from a recommendation"), percent_axis=True)
        rates = uptake.melt(id_vars="event_date", var_name="rate", value_vars=[
            "recommended_completion_rate", "organic_completion_rate", "recommended_skip_rate", "organic_skip_rate"])
        _chart(px.line(rates, x="event_date", y="value", color="rate", markers=True,
                       title="Completion and skip rates, recommended vs organic views"), percent_axis=True)
    elif uptake is not None:
        st.info("gold.fct_daily_recommendation_uptake has no rows yet.")
    st.subheader("Model quality (test split, newest training of each model)")
    quality = load("model_quality")
    if quality is not None and not quality.empty:
        ranking = quality[quality["metric"].isin(["precision", "recall", "ndcg", "map", "coverage"])]
        if not ranking.empty:
            _chart(px.bar(ranking, x="metric", y="value", color="model", barmode="group",
                          title=f"Recommenders at k={int(ranking['k'].max())}"))
        classifiers = quality[quality["metric"].isin(["roc_auc", "pr_auc"])]
        if not classifiers.empty:
            _chart(px.bar(classifiers, x="metric", y="value", color="model", barmode="group",
                          title="Early-exit classifiers"))
        st.dataframe(quality, hide_index=True, width="stretch")


def user_lookup() -> None:
    st.header("Recommendations for a user")
    st.session_state["_said_missing"] = set()
    samples = load("sample_users")
    if samples is None:
        return
    hint = ", ".join(samples["user_id"]) if not samples.empty else "a user id"
    with st.form("lookup"):
        user = st.text_input("User id", placeholder=f"e.g. {hint}")
        k = st.number_input("How many", min_value=1, max_value=50, value=10)
        st.caption("For a user the model has never seen (cold start), optionally:")
        one, two = st.columns(2)
        region = one.text_input("Region (ISO code)")
        genre = two.text_input("Genre")
        asked = st.form_submit_button("Recommend")
    if not (asked and user.strip()):
        return
    try:
        answer = recommend(SETTINGS, user.strip(), int(k), region.strip() or None, genre.strip() or None)
    except ReelhouseError as problem:
        st.warning(str(problem))
        return
    st.markdown(f"**{answer.strategy}** · model `{answer.model_version}`")
    st.caption(answer.explanation)
    st.table(pd.DataFrame([vars(item) for item in answer.items]).set_index("rank"))


def data_quality() -> None:
    st.header("Data quality")
    hours = _window("quality_hours", queries.QUALITY_HOURS, (24, 48, 168, 720), "h")
    hourly = load("data_quality_hourly", hours=hours)
    if hourly is not None and not hourly.empty:
        totals = hourly[["received_records", "valid_records", "quarantined_records", "duplicates_removed",
                         "late_arrivals"]].sum()
        received = totals["received_records"]
        columns = st.columns(5)
        columns[0].metric("Records received", _count(received))
        columns[1].metric("Quarantined", _count(totals["quarantined_records"]))
        columns[2].metric("Quarantined share", _percent(totals["quarantined_records"] / received if received else None))
        columns[3].metric("Duplicates removed", _count(totals["duplicates_removed"]))
        columns[4].metric("Late arrivals", _count(totals["late_arrivals"]))
        st.caption(f"Last record ingested at {_time(hourly['last_ingested_at'].max())}")
        stacked = hourly.melt(id_vars="ingested_hour", value_vars=["valid_records", "quarantined_records"],
                              var_name="records")
        one, two = st.columns(2)
        with one:
            _chart(px.bar(stacked, x="ingested_hour", y="value", color="records", title="Records per hour"))
        with two:
            _chart(px.bar(hourly, x="ingested_hour", y="quarantine_ratio", title="Quarantined share per hour"),
                   percent_axis=True)
    elif hourly is not None:
        st.info("gold.fct_hourly_data_quality has no rows yet.")
    reasons = load("quarantine_reasons", hours=hours)
    if reasons is not None and not reasons.empty:
        figure = px.bar(reasons, x="quarantined_records", y="reason", orientation="h",
                        title="Why records were quarantined")
        _chart(figure.update_yaxes(categoryorder="total ascending"))


# -- frame ----------------------------------------------------------------------------------------

@st.fragment(run_every=LIVE_REFRESH)
def lakehouse_status() -> None:
    """What is not built yet, and the commands that build it (on every page, refreshed)."""
    if queries.is_empty(HOME):
        st.warning(f"The lakehouse is empty. Run `{queries.DEMO}` to load events and build every "
                   f"table (or `reelhouse produce` + `reelhouse stream`, then `{queries.DBT_BUILD}` and "
                   f"`{queries.TRAIN}`); start `{queries.MONITOR}` for live QoE.", icon=":material/info:")
        return
    missing = queries.missing_tables(HOME)
    if missing:
        by_command: dict[str, list[str]] = {}
        for table in missing:
            by_command.setdefault(table.command, []).append(f"gold.{table.table}")
        lines = [f"- `{command}` builds {', '.join(tables)}" for command, tables in by_command.items()]
        commands = " and ".join(f"`{command}`" for command in by_command)
        with st.expander(f"{len(missing)} table(s) not built yet: {commands} builds them",
                         icon=":material/construction:"):
            st.markdown("\n".join(lines))


def main() -> None:
    st.set_page_config(page_title="reelhouse", page_icon=":material/movie:", layout="wide")
    pages = [
        st.Page(_page(live_qoe, LIVE_REFRESH), title="Live QoE", url_path="live", default=True,
                icon=":material/monitor_heart:"),
        st.Page(_page(engagement, SLOW_REFRESH), title="Engagement", url_path="engagement",
                icon=":material/trending_up:"),
        st.Page(_page(breakdowns, SLOW_REFRESH), title="Genres and regions", url_path="breakdowns",
                icon=":material/public:"),
        st.Page(_page(recommendations, SLOW_REFRESH), title="Recommendations", url_path="recommendations",
                icon=":material/thumb_up:"),
        st.Page(user_lookup, title="User lookup", url_path="lookup", icon=":material/person_search:"),
        st.Page(_page(data_quality, SLOW_REFRESH), title="Data quality", url_path="quality",
                icon=":material/rule:"),
    ]
    page = st.navigation(pages)
    lakehouse_status()
    page.run()


main()
