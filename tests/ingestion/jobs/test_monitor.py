"""`reelhouse monitor` with a real broker, real Spark and real Delta tables."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder

from ingestion.generator import GeneratorOptions, generate_chunk
from ingestion.jobs import monitor
from ingestion.producer import produce
from ingestion.tables import MONITOR_CHECKPOINTS, QOE_ALERTS, QOE_LIVE
from reelhouse.services.kafka import ensure_topic

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 12, tzinfo=UTC)
PAIR = ("US", "akamai")
EVENTS, ONSET, MINUTES = 60_000, 45_000, 20  # 3,000 events a minute, the incident in the last 5 minutes


def _settings(kafka, tmp_path, topic):
    settings = kafka.with_overrides(home=tmp_path / "home", topic=topic)
    ensure_topic(settings.bootstrap_servers, topic, 3, 1)
    return settings


def _rows(settings, table):
    """Rows read by delta-rs, not Spark: what a reader outside the job sees."""
    delta = DeltaTable(str(settings.table_path(*table)))
    rows = pa.table(QueryBuilder().register("t", delta).execute("select * from t").read_all()).to_pylist()
    return [{k: v.replace(tzinfo=None) if isinstance(v, datetime) else v for k, v in r.items()} for r in rows]


def _live_key(row):
    return tuple(row[k] for k in ("window_start", "region", "cdn", "device_type"))


@pytest.fixture(scope="module")
def replayed(spark, kafka, tmp_path_factory):
    """A simulated 20 minutes with an incident from event 45,000, monitored with --available-now."""
    settings = _settings(kafka, tmp_path_factory.mktemp("monitor"), "qoe-replay")
    options = GeneratorOptions(events=EVENTS, seed=11, start=START, days=MINUTES / 1440, incident=PAIR,
                               incident_from=ONSET, chunk_size=5_000)
    produce(options, settings.bootstrap_servers, settings.topic)
    report = monitor.run(spark, settings, monitor.MonitorOptions(
        available_now=True, starting_offsets="earliest", max_offsets_per_trigger=20_000))
    events = [json.loads(value) for i in range(options.chunks) for _, value in generate_chunk(options, i).messages]
    return settings, report, events


def test_every_event_counts_once_in_its_minute_region_cdn_and_device(replayed):
    settings, report, events = replayed

    def minute(event):
        at = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        return at.replace(second=0, microsecond=0, tzinfo=None)

    expected = Counter((minute(e), e["region"], e["cdn"], e["device_type"]) for e in events)
    live = _rows(settings, QOE_LIVE)
    assert Counter({(r["window_start"], r["region"], r["cdn"], r["device_type"]): r["views"] for r in live}) \
        == expected
    assert report.input_rows == EVENTS
    failures = Counter((minute(e), e["region"], e["cdn"], e["device_type"]) for e in events if e["error_code"])
    assert {k: v for k, v in failures.items()} == {
        (r["window_start"], r["region"], r["cdn"], r["device_type"]): r["playback_failures"]
        for r in live if r["playback_failures"]}
    start_failures = Counter((minute(e), e["region"], e["cdn"], e["device_type"]) for e in events
                             if e["error_code"] and not e["playback_started"])
    assert {k: v for k, v in start_failures.items()} == {
        (r["window_start"], r["region"], r["cdn"], r["device_type"]): r["video_start_failures"]
        for r in live if r["video_start_failures"]}
    business = Counter(((minute(e), e["region"], e["cdn"], e["device_type"]), e["playback_started"]) for e in events
                       if e["error_code"] and e["error_category"] == "business")
    assert business and {k: v for k, v in business.items()} == {
        **{(key, False): r["video_start_failures_business"] for key, r in _by_key(live).items()
           if r["video_start_failures_business"]},
        **{(key, True): r["video_playback_failures_business"] for key, r in _by_key(live).items()
           if r["video_playback_failures_business"]}}
    slow = Counter((minute(e), e["region"], e["cdn"], e["device_type"]) for e in events
                   if e["playback_started"] and 5000 <= e["startup_time_ms"] < 8000)
    bucket = "startup_time_views_5000_to_8000_ms"
    assert {k: v for k, v in slow.items()} == {key: r[bucket] for key, r in _by_key(live).items() if r[bucket]}
    scores = {}
    for e in events:
        score = _experience_score(e)
        if score is not None:
            key = (minute(e), e["region"], e["cdn"], e["device_type"])
            total, n = scores.get(key, (0.0, 0))
            scores[key] = (total + score, n + 1)
    by_key = _by_key(live)
    assert {k: n for k, (_, n) in scores.items()} == {k: r["experience_scored_views"] for k, r in by_key.items()
                                                       if r["experience_scored_views"]}
    for key, (total, n) in scores.items():  # views' scores are rounded to 4 decimals
        assert by_key[key]["experience_score_sum"] == pytest.approx(total, abs=1e-4 * n)


DISPLAY_HEIGHTS = {"mobile": 720, "tablet": 1080, "desktop": 1440, "tv": 2160}


def _by_key(live):
    return {(r["window_start"], r["region"], r["cdn"], r["device_type"]): r for r in live}


def _experience_score(e):
    """Mux's overall viewer experience of one generated event, from the published formulas (see fct_views.yml)."""
    started, startup_s = e["playback_started"], e["startup_time_ms"] / 1000
    if e["error_code"]:
        success = 0.0
    elif started:
        success = 100.0
    elif startup_s < 1:
        return None
    else:
        success = 50.0
    if not started:
        return success
    watched = e["watch_time_seconds"] + e["rebuffer_seconds"] + startup_s
    smoothness = (100 / math.sqrt(1 + (e["buffering_events"] / 2) ** 2)
                  + 100 * math.exp(-10 * (e["rebuffer_seconds"] / watched if watched else 0))) / 2
    upscale = max(DISPLAY_HEIGHTS[e["device_type"]] / int(e["resolution"].rstrip("p")) - 1, 0)
    components = (800 / (8 + startup_s), smoothness, 100 * math.exp(-0.33 * upscale))
    return success * sum(components) / 3 / 100


def test_the_incident_raises_alerts_for_its_pair_from_its_first_minute_and_not_before(replayed):
    settings, _, events = replayed
    onset = datetime.fromisoformat(events[ONSET]["timestamp"].replace("Z", "+00:00")).replace(tzinfo=None)
    alerts = _rows(settings, QOE_ALERTS)

    incident = [a for a in alerts if (a["region"], a["cdn"]) == PAIR]
    assert incident and all(a["window_end"] > onset for a in incident)
    first_minute = onset.replace(second=0, microsecond=0)
    assert {a["window_start"] for a in incident if a["metric"] == "playback_failure_ratio"} >= {
        first_minute + timedelta(minutes=m) for m in range(1, 4)}
    assert {a["window_start"] for a in incident if a["metric"] == "viewer_experience_score"} >= {
        first_minute + timedelta(minutes=m) for m in range(1, 4)}
    # the chronically bad pairs are no incident: their hour looks like them
    assert not [a for a in alerts if a["rule"] == "relative" and (a["region"], a["cdn"]) != PAIR]


def test_a_replay_from_a_new_checkpoint_changes_no_window_and_keeps_when_alerts_were_raised(spark, replayed):
    settings, _, _ = replayed
    before_live = sorted(_rows(settings, QOE_LIVE), key=_live_key)
    before_alerts = {a["alert_id"]: a for a in _rows(settings, QOE_ALERTS)}
    fresh = settings.with_overrides(home=settings.home)  # same tables...
    for name in MONITOR_CHECKPOINTS.values():  # ...and new checkpoints: every event again
        checkpoint = settings.checkpoint_path(name)
        checkpoint.rename(checkpoint.with_name(f"old-{name}"))

    monitor.run(spark, fresh, monitor.MonitorOptions(available_now=True, starting_offsets="earliest"))

    after_live = sorted(_rows(settings, QOE_LIVE), key=_live_key)
    after_alerts = {a["alert_id"]: a for a in _rows(settings, QOE_ALERTS)}

    def same(after, before):  # sums of doubles may add up in another order (rounding would flip at halves)
        return after.keys() == before.keys() and all(
            math.isclose(after[k], before[k], rel_tol=1e-9, abs_tol=1e-9) if isinstance(before[k], float)
            else after[k] == before[k] for k in before if k != "updated_at")

    assert len(after_live) == len(before_live)
    differing = [(a, b) for a, b in zip(after_live, before_live, strict=True) if not same(a, b)]
    assert not differing, differing[:2]
    assert after_alerts.keys() == before_alerts.keys()
    assert all(after_alerts[i]["raised_at"] == before_alerts[i]["raised_at"] for i in after_alerts)


def _send_one_event_stamped_a_year_ahead(settings) -> None:
    from kafka import KafkaProducer

    event = json.loads(generate_chunk(GeneratorOptions(events=1, seed=1, start=None), 0).messages[0][1])
    event["timestamp"] = (datetime.now(UTC) + timedelta(days=365)).isoformat().replace("+00:00", "Z")
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    producer.send(settings.topic, json.dumps(event).encode()).get(timeout=30)
    producer.close()


def test_a_live_incident_is_alerted_while_events_arrive(spark, kafka, tmp_path):
    settings = _settings(kafka, tmp_path, "qoe-live")
    queries = monitor.start(spark, settings, monitor.MonitorOptions(trigger_seconds=1.0))
    try:
        while any(q.lastProgress is None for q in queries):  # the first trigger fixes the "latest" offsets
            time.sleep(0.2)
        # a client with its clock a year ahead: believed, it would move the watermark past every real event
        _send_one_event_stamped_a_year_ahead(settings)
        sent = produce(GeneratorOptions(events=24_000, seed=3, start=None, incident=PAIR, incident_from=12_000),
                       settings.bootstrap_servers, settings.topic, rate=1_500)
        deadline = time.monotonic() + 60
        raised = []
        while not raised and time.monotonic() < deadline:
            alerts = _rows(settings, QOE_ALERTS)
            raised = [a for a in alerts if (a["region"], a["cdn"]) == PAIR]
            time.sleep(0.5)
    finally:
        for query in queries:
            query.stop()
    assert raised, "no alert for the incident within a minute of the last event"
    onset = datetime.fromtimestamp(sent.incident_started_at, UTC).replace(tzinfo=None)
    assert all(a["window_end"] > onset for a in raised)
    assert sum(r["views"] for r in _rows(settings, QOE_LIVE)) > 0


def test_after_kafka_deleted_unread_records_the_monitor_skips_ahead_instead_of_failing(spark, kafka, tmp_path):
    from kafka import KafkaAdminClient, TopicPartition

    settings = kafka.with_overrides(home=tmp_path / "home", topic="qoe-lossy")
    ensure_topic(settings.bootstrap_servers, settings.topic, 1, 1)
    options = monitor.MonitorOptions(available_now=True, starting_offsets="earliest")
    first = GeneratorOptions(events=200, seed=41, start=START, days=1 / 1440)
    produce(first, settings.bootstrap_servers, settings.topic)
    monitor.run(spark, settings, options)
    produce(GeneratorOptions(events=300, seed=42, start=START + timedelta(minutes=1), days=1 / 1440),
            settings.bootstrap_servers, settings.topic)
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        admin.delete_records({TopicPartition(settings.topic, 0): 300})  # 100 of the 300 are gone unread
    finally:
        admin.close()

    report = monitor.run(spark, settings, options)
    assert report.input_rows == 200  # offsets 300-499: the rest of what Kafka still holds
    assert sum(r["views"] for r in _rows(settings, QOE_LIVE)) == 400
