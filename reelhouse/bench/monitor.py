"""`reelhouse bench monitor`: time from an incident's first event to its alert, as JSON.

Runs `reelhouse monitor`'s queries against its own broker (a free loopback port) and its own
lakehouse under `<home>/_bench/`, removed afterwards. The load is the seed's design rate,
1,500 events/s of live events, sent by `reelhouse produce` in a process of its own. Each
trial sends normal traffic for a while, then injects an incident on another region × CDN pair
(`--incident`); the onsets fall at different seconds of the minute, because a 1-minute
window that already holds normal views dilutes a fresh incident.

Latency = when the alert row is first visible to a reader of `gold.qoe_alerts` (delta-rs,
polled every 0.2 s) minus when the incident's first event was handed to Kafka.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime

from foundation import delta_rs
from foundation.delta import is_delta_table
from foundation.settings import Settings
from foundation.spark import build_spark
from ingestion.io import query_progress
from ingestion.jobs import monitor
from ingestion.tables import QOE_ALERTS
from reelhouse.bench.scratch import machine, scratch_broker, scratch_lakehouse

RATE = 1_500  # events/s: the seed's design load
TARGET_SECONDS = 10.0
# (pair, seconds of normal traffic before the incident): onsets at different seconds of the minute
TRIALS = ((("US", "akamai"), 40), (("GB", "fastly"), 47), (("IN", "cloudfront"), 29), (("DE", "cloudfront"), 53),
          (("MX", "akamai"), 36))
INCIDENT_SECONDS = 25  # the incident lasts this long whatever the monitor does
BEGAN = re.compile(r"sent at (\S+)")


def _alerts_for(path, pair: tuple[str, str]) -> list[dict]:
    if not is_delta_table(path):
        return []
    return delta_rs.query(f"select alert_id, metric, rule, window_start, raised_at, value from t "
                          f"where region = '{pair[0]}' and cdn = '{pair[1]}'", t=path).to_dict("records")


def _trial(settings: Settings, env: dict, pair: tuple[str, str], normal_seconds: int, seed: int) -> dict:
    alerts_path = settings.table_path(*QOE_ALERTS)
    before = {a["alert_id"] for a in _alerts_for(alerts_path, pair)}
    producer = subprocess.Popen(
        [sys.executable, "-m", "reelhouse.cli", "produce", "--start", "now", "--rate", str(RATE), "--quiet",
         "--events", str(RATE * (normal_seconds + INCIDENT_SECONDS)), "--seed", str(seed),
         "--incident", ":".join(pair), "--incident-from", str(RATE * normal_seconds)],
        env=env, stdout=subprocess.PIPE, text=True,
    )
    seen_at, alert, finished_at = None, None, None
    while seen_at is None:
        fresh = [a for a in _alerts_for(alerts_path, pair) if a["alert_id"] not in before]
        if fresh:
            seen_at, alert = time.time(), min(fresh, key=lambda a: a["raised_at"])
        elif producer.poll() is not None:
            finished_at = finished_at or time.time()
            if time.time() - finished_at > 30:  # missed
                break
        time.sleep(0.2)
    output, _ = producer.communicate()
    began = datetime.fromisoformat(BEGAN.search(output).group(1)).timestamp()
    return {
        "pair": ":".join(pair),
        "incident_began_at": datetime.fromtimestamp(began, UTC).isoformat(timespec="milliseconds"),
        "second_of_minute_at_onset": round(began % 60, 1),
        "alert_visible_seconds": round(seen_at - began, 2) if seen_at else None,
        "alert_raised_at_seconds": round(alert["raised_at"].timestamp() - began, 2) if alert else None,
        "first_alert": {"metric": alert["metric"], "rule": alert["rule"], "value": round(alert["value"], 4)}
        if alert else None,
    }


def _false_alerts(path, trials: list[dict]) -> dict:
    """Alerts that no injected incident explains: on another pair, or before the pair's incident."""
    onsets = {t["pair"]: datetime.fromisoformat(t["incident_began_at"]) for t in trials}
    rows = delta_rs.query("select region, cdn, window_end from t", t=path).to_dict("records")
    false = [r for r in rows if (pair := f"{r['region']}:{r['cdn']}") not in onsets or r["window_end"] <= onsets[pair]]
    return {"alert_rows": len(rows), "unexplained_rows": len(false),
            "unexplained_pairs": sorted({f"{r['region']}:{r['cdn']}" for r in false})}


def bench_monitor(settings: Settings) -> dict:
    with scratch_lakehouse(settings, "monitor") as scratch, scratch_broker(scratch, "bench-monitor") as bench:
        env = {**os.environ, **bench.environment()}
        spark = build_spark(bench, "reelhouse-bench-monitor")
        options = monitor.MonitorOptions()
        live, alerts = monitor.start(spark, bench, options)
        while live.lastProgress is None or alerts.lastProgress is None:  # the first trigger fixes the offsets
            time.sleep(0.2)
        trials = [_trial(bench, env, pair, normal, seed) for seed, (pair, normal) in enumerate(TRIALS, start=1)]
        false_alerts = _false_alerts(bench.table_path(*QOE_ALERTS), trials)
        monitor_progress = [p for p in query_progress(alerts) if p["numInputRows"] > 0]
        durations = [p["durationMs"]["triggerExecution"] / 1000 for p in monitor_progress]
        live.stop()
        alerts.stop()

    latencies = [t["alert_visible_seconds"] for t in trials]
    measured = [s for s in latencies if s is not None]
    return {
        "benchmark": "monitor",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load": {"events_per_second": RATE, "producer": "reelhouse produce --start now, a process of its own",
                 "incident_seconds": INCIDENT_SECONDS},
        "monitor": {"trigger_seconds": options.trigger_seconds, "watermark": options.watermark,
                    "alert_windows": f"1 minute, starting every {options.alert_slide_seconds} s",
                    "rules": {k: round(v, 3) if isinstance(v, float) else v for k, v in vars(options.rules).items()},
                    "alert_micro_batches_with_data": len(monitor_progress),
                    "alert_batch_seconds_median": round(statistics.median(durations), 2) if durations else None,
                    "alert_batch_seconds_max": round(max(durations), 2) if durations else None},
        "trials": trials,
        "false_alerts": false_alerts,
        "incident_to_alert_seconds": {
            "median": round(statistics.median(measured), 2) if measured else None,
            "max": round(max(measured), 2) if measured else None,
            "missed": len(latencies) - len(measured),
        },
        "measured_as": "alert row first visible to a delta-rs reader minus the send time of the incident's first event",
        "target_seconds": TARGET_SECONDS,
        "target_met": bool(measured) and len(measured) == len(latencies) and max(measured) <= TARGET_SECONDS,
    }
