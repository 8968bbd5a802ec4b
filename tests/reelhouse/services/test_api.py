"""`reelhouse api`: the real uvicorn server over gold tables written with delta-rs."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request

import pandas as pd
import pytest
from deltalake import write_deltalake

from foundation import processes
from foundation.errors import ReelhouseError
from ml import live_io, serving
from reelhouse.services.api import TOKEN_VARIABLE, Api

pytestmark = pytest.mark.integration

LIVE_USER, BATCH_USER, ODD_USER = "user_live", "user_batch", "o'brien \"ü\" 東京"


def _write(settings, table: str, frame: pd.DataFrame) -> None:
    write_deltalake(str(settings.table_path("gold", table)), frame, mode="overwrite")


def _live_list(settings, user: str, videos: list[str], reason: str) -> None:
    rows = pd.DataFrame({"user_id": user, "rank": range(1, len(videos) + 1), "video_id": videos,
                         "score": [1.0 - i / 10 for i in range(len(videos))], "reason": reason,
                         "model_version": "m1", "reflects_event_at": pd.Timestamp("2025-05-21T10:00Z")})
    live_io.merge_lists(settings, rows, 10, pd.Timestamp.now(tz="UTC"))


@pytest.fixture(scope="module")
def home(settings, tmp_path_factory):
    lakehouse = settings.with_overrides(home=tmp_path_factory.mktemp("api"))
    _write(lakehouse, "dim_videos", pd.DataFrame({"video_id": [f"v{i}" for i in range(6)],
                                                  "title": [f"Title {i}" for i in range(6)], "genre": "Drama"}))
    _write(lakehouse, "dim_users", pd.DataFrame({"user_id": [LIVE_USER, BATCH_USER, ODD_USER],
                                                 "latest_region": ["US", "US", "IN"]}))
    _write(lakehouse, "user_recommendations", pd.DataFrame({
        "user_id": [BATCH_USER] * 3 + [LIVE_USER], "rank": [1, 2, 3, 1], "video_id": ["v3", "v4", "v5", "v0"],
        "score": [0.9, 0.8, 0.7, 0.5], "model_version": "m1"}))
    _write(lakehouse, "popular_videos", pd.DataFrame({
        "region": ["IN", "IN", "all"], "genre": ["all", "all", "all"], "rank": [1, 2, 1],
        "video_id": ["v1", "v2", "v5"], "score": [30.0, 20.0, 99.0], "model_version": "m1"}))
    live_io.ensure_tables(lakehouse)
    _live_list(lakehouse, LIVE_USER, ["v2", "v1"], "continue watching")
    return lakehouse


@pytest.fixture(scope="module")
def api(home):
    server = Api(home, port=processes.free_port(28000))
    server.start()
    yield server
    assert "(pid " in server.stop()[0]


def _get(api: Api, path: str, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(f"{api.url}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _recommendations(api: Api, user: str, query: str = "") -> tuple[int, dict]:
    return _get(api, f"/users/{urllib.parse.quote(user, safe='')}/recommendations{query}")


def test_each_source_of_an_answer_and_the_same_answer_as_the_cli(api, home):
    status, live = _recommendations(api, LIVE_USER)
    assert status == 200 and live["source"] == "live"
    assert [(i["rank"], i["video_id"], i["title"], i["reason"]) for i in live["items"]] == [
        (1, "v2", "Title 2", "continue watching"), (2, "v1", "Title 1", "continue watching")]
    _, batch = _recommendations(api, BATCH_USER, "?k=2")
    assert batch["source"] == "als" and [i["video_id"] for i in batch["items"]] == ["v3", "v4"]
    _, cold = _recommendations(api, "nobody", "?region=in")
    assert cold["source"] == "cold_start" and [i["video_id"] for i in cold["items"]] == ["v1", "v2"]
    assert cold["items"][0]["reason"] == "popular in your region (IN)"
    for user, query in ((LIVE_USER, ""), (BATCH_USER, "?k=2")):
        cli = serving.recommend(home, user, 2 if query else 10)
        _, answer = _recommendations(api, user, query)
        assert answer["items"] == [vars(i) for i in cli.items] and answer["source"] == cli.strategy


def test_user_ids_with_quotes_and_non_ascii_characters_are_data(api):
    status, answer = _recommendations(api, ODD_USER)
    assert status == 200 and answer["user_id"] == ODD_USER
    assert answer["source"] == "cold_start" and "region IN from gold.dim_users" in answer["explanation"]


@pytest.mark.parametrize("k", ["0", "abc", "101", "-3", "2.5"])
def test_a_bad_k_is_a_400_with_one_line(api, k):
    status, answer = _recommendations(api, LIVE_USER, f"?k={k}")
    assert status == 400
    assert answer == {"detail": f"k must be a whole number from 1 to 100, got {k!r}"}


def test_health_and_the_openapi_document(api):
    status, health = _get(api, "/health")
    assert status == 200 and health["status"] == "ok" and health["tables"]["live"] is not None
    _, document = _get(api, "/openapi.json")
    assert "/users/{user_id}/recommendations" in document["paths"]


def test_a_new_live_list_is_served_without_a_restart(api, home):
    _live_list(home, LIVE_USER, ["v4"], "because you watched Title 2")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, answer = _recommendations(api, LIVE_USER)
        if [i["video_id"] for i in answer["items"]] == ["v4"]:
            break
        time.sleep(0.1)
    assert [(i["video_id"], i["reason"]) for i in answer["items"]] == [("v4", "because you watched Title 2")]


def test_it_refuses_to_listen_off_loopback_without_a_token(home, monkeypatch):
    monkeypatch.delenv(TOKEN_VARIABLE, raising=False)
    with pytest.raises(ReelhouseError, match=f"only with a token: set {TOKEN_VARIABLE}"):
        Api(home, host="0.0.0.0", port=processes.free_port(28100)).start()


def test_with_a_token_every_request_but_health_needs_it(home, monkeypatch, tmp_path):
    monkeypatch.setenv(TOKEN_VARIABLE, "s3cret-token")
    shutil.copytree(home.home, tmp_path / "copy", ignore=shutil.ignore_patterns("_api", "_logs"))
    server = Api(home.with_overrides(home=tmp_path / "copy"), port=processes.free_port(28200))
    server.start()
    try:
        assert _get(server, "/health")[0] == 200
        assert _get(server, f"/users/{LIVE_USER}/recommendations")[0] == 401
        assert _get(server, f"/users/{LIVE_USER}/recommendations", {"Authorization": "Bearer wrong"})[0] == 401
        status, answer = _get(server, f"/users/{LIVE_USER}/recommendations",
                              {"Authorization": "Bearer s3cret-token"})
        assert status == 200 and answer["source"] == "live"
    finally:
        server.stop()
