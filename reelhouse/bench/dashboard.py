"""`reelhouse bench dashboard`: how long each dashboard page's queries take on the current lakehouse.

Runs every query of every page (`dashboard.queries.PAGES`, with the app's default arguments, and
the user lookup's `ml.serving.recommend` for a known and an unknown user) `repeats` times without
any cache, and reports per page the median and the slowest time of all its queries run back to
back. Reads gold only; writes nothing. The target is under one second per page at 10M events.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from dashboard import queries
from foundation.errors import ReelhouseError
from foundation.settings import Settings
from ml.serving import recommend

TARGET_SECONDS = 1.0
UNKNOWN_USER = "bench-user-never-seen"  # takes the cold-start path


def _page_queries(home: Path) -> dict[str, list[tuple[str, Callable[[], object]]]]:
    pages: dict[str, list[tuple[str, Callable[[], object]]]] = {
        page: [(query.__name__, lambda query=query: query(home)) for query in page_queries]
        for page, page_queries in queries.PAGES.items()
    }
    settings = Settings(home=home)
    known = _a_known_user(home)
    if known:
        pages["user_lookup"].append(("recommend_known_user", lambda: recommend(settings, known, 10)))
    pages["user_lookup"].append(("recommend_cold_start", lambda: recommend(settings, UNKNOWN_USER, 10)))
    return pages


def _a_known_user(home: Path) -> str | None:
    try:
        users = queries.sample_users(home, limit=1)
    except queries.MissingTable:
        return None
    return None if users.empty else str(users["user_id"].iloc[0])


def measure(home: Path, repeats: int = 5) -> dict:
    """Seconds per page (all its queries in a row): median and max over `repeats` runs, per query too.

    A query whose table is missing is left out of its page's time and listed under `missing` with
    the message naming the command that builds the table; a page with nothing to time has only that.
    """
    if repeats < 1:
        raise ReelhouseError(f"repeats must be 1 or more, got {repeats}")
    home = Path(home)
    report: dict = {"home": str(home), "repeats": repeats, "target_seconds": TARGET_SECONDS, "pages": {}}
    for page, page_queries in _page_queries(home).items():
        report["pages"][page] = _time_page(page_queries, repeats)
    timed = [p["max_seconds"] for p in report["pages"].values() if "max_seconds" in p]
    report["slowest_page_seconds"] = max(timed) if timed else None
    report["all_pages_under_target"] = bool(timed) and max(timed) < TARGET_SECONDS
    return report


def _time_page(page_queries: list[tuple[str, Callable[[], object]]], repeats: int) -> dict:
    per_query: dict[str, list[float]] = {}
    missing: dict[str, str] = {}
    for _ in range(repeats):
        for name, run in page_queries:
            if name in missing:
                continue
            started = time.perf_counter()
            try:
                run()
            except ReelhouseError as problem:  # MissingTable, or recommend's "run `reelhouse train` first"
                missing[name] = str(problem)
                continue
            per_query.setdefault(name, []).append(time.perf_counter() - started)
    result: dict = {}
    if per_query:
        totals = [sum(times[i] for times in per_query.values()) for i in range(repeats)]
        result = {
            "median_seconds": round(statistics.median(totals), 4),
            "max_seconds": round(max(totals), 4),
            "queries": {name: {"median_seconds": round(statistics.median(times), 4),
                               "max_seconds": round(max(times), 4)} for name, times in per_query.items()},
        }
    if missing:
        result["missing"] = missing
    return result
