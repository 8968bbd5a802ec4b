"""`reelhouse bench recommend-live`: freshness and serving of the running live recommender and API.

Needs them running on the lakehouse (`make demo` leaves both up; or `reelhouse live-recommender
start` and `reelhouse api start`). For `seconds`:
- a producer process (`reelhouse produce --rate 1500 --start now`) sends live events;
- a load process requests `GET /users/{id}/recommendations` at `rps` over up to 10,000 distinct
  known users, on keep-alive connections, and reports p50 / p99 and errors;
- this process sends probe views (a known user finishing a series pilot) and times each from its
  Kafka append to the API returning a changed list for that user: p50 / p95.
Targets: freshness p95 <= 3 s; serving p99 <= 20 ms with no error.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import random
import subprocess
import sys
import threading
import time
import urllib.parse

from foundation import delta_rs
from foundation.errors import ReelhouseError
from foundation.settings import Settings
from ingestion.generator import encode, finished_view
from reelhouse.bench.scratch import machine
from reelhouse.services.api import Api
from reelhouse.services.live_recommender import LiveRecommenderService

TARGET_FRESHNESS_P95 = 3.0
TARGET_SERVING_P99_MS = 20.0


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def bench_recommend_live(settings: Settings, seconds: float = 60.0, rate: int = 1_500, rps: int = 200,
                         probes: int = 30) -> dict:
    api = Api(settings)
    if api.status() is None or LiveRecommenderService(settings).status() is None:
        raise ReelhouseError("the live recommender and the API must run: `make demo`, or `reelhouse "
                             "live-recommender start` and `reelhouse api start`")
    views = settings.table_path("gold", "fct_views")
    users = list(delta_rs.query("select distinct user_id from t order by user_id limit 10000", t=views).user_id)
    pilots = delta_rs.query("select video_id, genre, duration_seconds from t where season = 1 and episode_number = 1",
                            t=settings.table_path("gold", "dim_videos")).to_dict("records")
    env = {**os.environ, **settings.environment()}
    producer = subprocess.Popen(
        [sys.executable, "-m", "reelhouse.cli", "produce", "--events", str(int(rate * (seconds + 60))),
         "--rate", str(rate), "--start", "now", "--seed", "777", "--quiet"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    load = spawn.Process(
        target=serve_load, args=(api.host, api.port, users, rps, seconds, results))
    try:
        time.sleep(5)  # the producer and the job warm up
        load.start()
        freshness = _probe(settings, api, users, pilots, probes, seconds)
        load.join(seconds + 60)
        serving = results.get(timeout=30)
    finally:
        producer.terminate()
        producer.wait(30)
    return {
        "machine": machine(),
        "load": {"events_per_second": rate, "requests_per_second": rps, "seconds": seconds,
                 "distinct_users": len(users)},
        "freshness": freshness,
        "serving": serving,
        "targets": {"freshness_p95_seconds": TARGET_FRESHNESS_P95, "serving_p99_ms": TARGET_SERVING_P99_MS},
        "targets_met": {
            "freshness": freshness["p95_seconds"] <= TARGET_FRESHNESS_P95 and freshness["unchanged"] == 0,
            "serving": serving["p99_ms"] <= TARGET_SERVING_P99_MS and serving["errors"] == 0,
        },
    }


def _ask(connection: http.client.HTTPConnection, user: str) -> tuple[int, bytes]:
    connection.request("GET", f"/users/{urllib.parse.quote(user, safe='')}/recommendations?k=10")
    response = connection.getresponse()
    return response.status, response.read()


def _probe(settings: Settings, api: Api, users: list[str], pilots: list[dict], probes: int,
           seconds: float) -> dict:
    from kafka import KafkaProducer

    chooser = random.Random(11)
    producer = KafkaProducer(**settings.kafka.client_options(), acks="all", linger_ms=0)
    connection = http.client.HTTPConnection(api.host, api.port, timeout=10)
    delays, unchanged = [], 0
    gap = max(0.5, seconds / probes)
    for n in range(probes):
        user, pilot = chooser.choice(users), chooser.choice(pilots)
        before = json.loads(_ask(connection, user)[1])["items"]
        event = finished_view(user, pilot["video_id"], pilot["genre"], pilot["duration_seconds"],
                              f"probe-{time.time_ns()}-{n}")
        producer.send(settings.topic, key=user.encode(), value=encode(event)).get(30)
        appended = time.monotonic()
        while time.monotonic() - appended < 15:
            if json.loads(_ask(connection, user)[1])["items"] != before:
                delays.append(time.monotonic() - appended)
                break
            time.sleep(0.02)
        else:
            unchanged += 1
        time.sleep(max(0.0, gap - (time.monotonic() - appended)))
    producer.close()
    return {"probes": probes, "changed": len(delays), "unchanged": unchanged,
            "p50_seconds": round(_quantile(delays, 0.5), 3), "p95_seconds": round(_quantile(delays, 0.95), 3),
            "max_seconds": round(max(delays), 3) if delays else None}


def serve_load(host: str, port: int, users: list[str], rps: int, seconds: float,
               results: multiprocessing.Queue, threads: int = 8) -> None:
    """Requests at `rps` for `seconds`, spread over `threads` keep-alive connections (own process)."""
    total = int(rps * seconds)
    latencies: list[float] = []
    errors = late = 0
    lock = threading.Lock()
    start = time.monotonic() + 0.5

    def worker(offset: int) -> None:
        nonlocal errors, late
        connection = http.client.HTTPConnection(host, port, timeout=10)
        for i in range(offset, total, threads):
            due = start + i / rps
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            sent = time.monotonic()
            try:
                status, _ = _ask(connection, users[i % len(users)])
            except (OSError, http.client.HTTPException):
                status = 0
                connection = http.client.HTTPConnection(host, port, timeout=10)
            took = time.monotonic() - sent
            with lock:
                latencies.append(took)
                errors += status != 200
                late += sent - due > 0.05

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.put({"requests": len(latencies), "errors": errors, "sent_late_over_50ms": late,
                 "p50_ms": round(_quantile(latencies, 0.5) * 1000, 2),
                 "p99_ms": round(_quantile(latencies, 0.99) * 1000, 2),
                 "max_ms": round(max(latencies) * 1000, 2) if latencies else None})
