"""The dashboard served by `reelhouse/services/dashboard.py` and driven in Debian's headless
Chromium through Playwright.

Needs /usr/bin/chromium (`make browser`). Screenshots go to test-artifacts/dashboard-*.png.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder
from playwright.sync_api import Locator, Page, expect, sync_playwright

from foundation import processes
from foundation.settings import Settings
from reelhouse.services.dashboard import Dashboard

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WAIT_MS = 30_000
REFRESH_SECONDS = 1.5


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless; Playwright gives each launch a fresh temporary profile."""
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: run `make browser` (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 2400})  # tall: Streamlit scrolls inside
    yield context.new_page()
    context.close()


@contextlib.contextmanager
def served(home: Path) -> Iterator[str]:
    """The real app on a free port over `home`, stopped afterwards."""
    settings = Settings.from_env({"REELHOUSE_HOME": str(home)})
    dashboard = Dashboard(settings, port=processes.free_port(18501), refresh_seconds=REFRESH_SECONDS)
    dashboard.start()
    assert dashboard.status() == [f"dashboard running ({dashboard.url})"]
    try:
        yield dashboard.url
    finally:
        assert dashboard.stop()[0].startswith("dashboard stopped")
        assert dashboard.status() is None


@pytest.fixture(scope="module")
def gold_url(gold_home) -> Iterator[str]:
    with served(gold_home) as url:
        yield url


def metric(page: Page, label: str) -> Locator:
    card = page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text(label, exact=True))
    return card.locator('[data-testid="stMetricValue"]')


def expect_charts(page: Page, at_least: int) -> None:
    charts = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot')
    expect(charts.nth(at_least - 1)).to_be_visible(timeout=WAIT_MS)
    for chart in charts.all():
        expect(chart.locator(".main-svg").first).to_be_attached(timeout=WAIT_MS)


def no_errors(page: Page) -> None:
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(500)  # let Plotly finish its transitions
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def rows(home: Path, table: str, columns: str) -> list[dict]:
    """Every row of a gold table, read independently of the dashboard's queries."""
    dt = DeltaTable(str(home / "gold" / table))
    return pa.table(QueryBuilder().register("t", dt).execute(f"select {columns} from t").read_all()).to_pylist()


# -- a built lakehouse ---------------------------------------------------------------------------------

def test_engagement_page_shows_the_newest_days_views_from_gold(gold_home, gold_url, page):
    engagement = rows(gold_home, "fct_daily_engagement", "event_date, views")
    newest = max(r["event_date"] for r in engagement)
    views = sum(r["views"] for r in engagement if r["event_date"] == newest)
    assert (newest.isoformat(), views) == ("2025-05-20", 4)  # and by hand: v1 3 views + v2 1 view

    page.goto(gold_url + "engagement")

    expect(metric(page, f"Views on {newest.isoformat()}")).to_have_text(f"{views:,}", timeout=WAIT_MS)
    expect(metric(page, f"Active users on {newest.isoformat()}")).to_have_text("2")
    expect_charts(page, 4)
    no_errors(page)
    screenshot(page, "engagement")


def test_live_page_shows_the_last_15_minutes_and_the_open_alerts(gold_home, gold_url, page):
    live = rows(gold_home, "qoe_live", "window_end, views")
    newest = max(r["window_end"] for r in live)
    views = sum(r["views"] for r in live if r["window_end"] > newest - timedelta(minutes=15))
    open_alerts = {(r["region"], r["cdn"], r["metric"]) for r in rows(gold_home, "qoe_alerts", "*")
                   if r["window_end"] >= newest - timedelta(minutes=5)}
    assert (views, len(open_alerts)) == (24, 2)

    page.goto(gold_url)

    expect(metric(page, "Views in the last 15 minutes")).to_have_text(str(views), timeout=WAIT_MS)
    expect(metric(page, "Open alerts")).to_have_text(str(len(open_alerts)))
    expect(metric(page, "Playback failures")).to_have_text("16.67%")  # 4 failures in 24 views
    expect_charts(page, 6)  # two heatmaps, two per-minute lines, two hourly bars
    expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible()
    no_errors(page)
    screenshot(page, "live")


def test_live_page_shows_the_experience_score_failures_and_startup_histogram(current_layout_home, page):
    with served(current_layout_home) as url:
        page.goto(url)
        # 1350 score points over the 15 views that have a score (CURRENT_LIVE)
        expect(metric(page, "Experience score (Mux, 0-100)")).to_have_text("90.0", timeout=WAIT_MS)
        for title in ("Viewer experience score", "Video start vs playback failures", "Startup time of started views"):
            expect(page.locator(".js-plotly-plot").filter(has_text=title).first).to_be_visible(timeout=WAIT_MS)
        expect_charts(page, 8)  # 3 heatmaps, 2 per-minute lines, 2 hourly bars, score, failures, histogram
        no_errors(page)
        screenshot(page, "live-scores")


@pytest.mark.parametrize(("path", "charts", "figure"), [
    ("breakdowns", 3, None),
    ("recommendations", 4, ("Recommendation uptake on 2025-05-20", "50.00%")),
    ("quality", 3, ("Records received", "150")),
])
def test_every_page_draws_its_charts(gold_url, page, path, charts, figure):
    page.goto(gold_url + path)

    if figure:
        expect(metric(page, figure[0])).to_have_text(figure[1], timeout=WAIT_MS)
    expect_charts(page, charts)
    no_errors(page)
    screenshot(page, path)


def test_user_lookup_shows_the_users_recommendations_with_titles(gold_url, page):
    page.goto(gold_url + "lookup")
    page.get_by_label("User id").fill("u1")
    page.get_by_role("button", name="Recommend").click()

    table = page.locator('[data-testid="stTable"]')
    expect(table).to_be_visible(timeout=WAIT_MS)
    titles = table.locator("tbody tr td:nth-child(4)")  # rank, video_id, score, title, genre
    expect(titles).to_have_text(["Title Two", "Title Three"])  # u1's ranks 1 and 2 in gold.user_recommendations
    expect(page.get_by_text("als", exact=True)).to_be_visible()
    no_errors(page)
    screenshot(page, "lookup")


# -- an empty and a half-built lakehouse -----------------------------------------------------------------

def test_an_empty_lakehouse_says_what_to_run(make_home, page):
    home = make_home()
    with served(home) as url:
        page.goto(url)
        expect(page.get_by_text("is empty. Run make demo", exact=False)).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_text("gold.qoe_live is not built yet: start the live QoE monitor with reelhouse monitor",
                                exact=False)).to_be_visible()
        expect(page.get_by_text(str(home), exact=False)).to_have_count(0)  # no server path for a visitor
        no_errors(page)
        screenshot(page, "empty")

        page.goto(url + "engagement")
        expect(page.get_by_text("gold.fct_daily_engagement is not built yet", exact=False)).to_be_visible(
            timeout=WAIT_MS)
        expect(page.get_by_text("make demo loads events and builds every table", exact=False).first).to_be_visible()
        no_errors(page)


def test_a_half_built_lakehouse_names_the_missing_steps(make_home, table_groups, page):
    home = make_home(table_groups["dbt"])
    with served(home) as url:
        page.goto(url + "recommendations")
        expect(metric(page, "Recommendation uptake on 2025-05-20")).to_have_text("50.00%", timeout=WAIT_MS)
        expect(page.get_by_text("gold.model_metrics is not built yet: train the models with reelhouse train",
                                exact=False)).to_be_visible()
        page.goto(url)
        expect(page.get_by_text("start the live QoE monitor with reelhouse monitor", exact=False).first).to_be_visible(
            timeout=WAIT_MS)
        expect_charts(page, 2)  # the hourly QoE from dbt still shows
        no_errors(page)
        screenshot(page, "half-built")


def test_the_live_page_refreshes_itself_when_the_tables_change(make_home, table_groups, append_window,
                                                               live_row_factory, page):
    home = make_home(table_groups["dbt"])
    with served(home) as url:
        page.goto(url)
        expect(page.get_by_text("gold.qoe_live is not built yet", exact=False)).to_be_visible(timeout=WAIT_MS)

        make_home(table_groups["live"])  # the monitor's first windows land while the page is open
        views = metric(page, "Views in the last 15 minutes")
        expect(views).to_have_text("24", timeout=WAIT_MS)

        append_window(home, live_row_factory("2025-05-20T12:10", "2025-05-20T12:11", "US", "akamai", "tv",
                                             6, 0, 6, 60.0, 0.0, 600.0, 600.0))
        expect(views).to_have_text("30", timeout=WAIT_MS)  # 24 + 6; no window falls out of the 15 minutes
        no_errors(page)
