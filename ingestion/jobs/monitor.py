"""Kafka -> live QoE windows and alerts, while the events arrive.

Reads: the Kafka topic (`settings.topic`), from the latest offsets by default (a monitor is
about now; `--from-earliest` replays the topic). Writes: `<home>/gold/qoe_live` (1-minute
windows per region, CDN and device, upserted while a window is open) and
`<home>/gold/qoe_alerts` (one row per judged window, region × CDN pair, metric and rule; see
`ingestion.alerting.alerts`). Checkpoints: `<home>/_checkpoints/gold_qoe_live` and `gold_qoe_alerts`.

Two streaming queries: one keeps the windows of gold.qoe_live; the other keeps 1-minute
region × CDN windows that start every 10 s and judges them against the trailing hour of
gold.qoe_live. Spark reads Kafka and keeps the windows' state; each micro-batch's updated
windows (a few hundred rows) are judged and written from the driver with delta-rs. Both
writes are MERGEs by key, so a micro-batch replayed after a crash rewrites the same rows:
exactly once in effect. An alert keeps the time it was first raised.

Run: `reelhouse monitor` (until stopped) or `reelhouse monitor --available-now`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from foundation.delta import compact
from foundation.errors import ReelhouseError
from foundation.settings import Settings
from ingestion import alerting, delta_rs, io, qoe
from ingestion.qoe_rules import AlertRules
from ingestion.tables import MONITOR_CHECKPOINTS, QOE_ALERTS, QOE_LIVE
from ingestion.transforms import parse_kafka_records


@dataclass(frozen=True)
class MonitorOptions:
    available_now: bool = False
    trigger_seconds: float = 1.0
    starting_offsets: str = "latest"  # or "earliest", or Spark's per-partition JSON
    watermark: str = "2 minutes"  # how late an event may be and still count
    rules: AlertRules = field(default_factory=AlertRules)
    alert_slide_seconds: int = 10  # alerts judge 1-minute windows starting this often
    max_offsets_per_trigger: int = 100_000
    timeout_seconds: float | None = None


@dataclass
class MonitorReport:
    batches: int
    input_rows: int
    seconds: float
    windows: int
    alerts: int


def ensure_tables(settings: Settings) -> None:
    delta_rs.ensure_table(settings.table_path(*QOE_LIVE), alerting.LIVE_SCHEMA)
    delta_rs.ensure_table(settings.table_path(*QOE_ALERTS), alerting.ALERTS_SCHEMA)


def live_writer(settings: Settings) -> Callable[[DataFrame, int], None]:
    live_path = settings.table_path(*QOE_LIVE)

    def write_batch(windows: DataFrame, batch_id: int) -> None:
        updated = windows.toArrow().to_pandas()
        if updated.empty:  # no event in this trigger
            return
        updated = alerting.with_ratios(updated).assign(updated_at=pd.Timestamp.now(tz="UTC"))
        version = delta_rs.upsert(live_path, updated, alerting.LIVE_SCHEMA, alerting.LIVE_KEYS, since="window_start")
        compact(windows.sparkSession, live_path, version, delta_rs.COMPACT_EVERY)

    return write_batch


def alert_writer(settings: Settings, rules: AlertRules) -> Callable[[DataFrame, int], None]:
    live_path, alerts_path = settings.table_path(*QOE_LIVE), settings.table_path(*QOE_ALERTS)

    def write_batch(windows: DataFrame, batch_id: int) -> None:
        now = pd.Timestamp.now(tz="UTC")
        current = windows.toArrow().to_pandas()
        if current.empty:
            return
        current = alerting.with_ratios(current)
        horizon = current.window_start.min() - pd.Timedelta(minutes=rules.trailing_minutes)
        history = alerting.pair_windows(delta_rs.rows_since(live_path, "window_start", horizon))
        raised = alerting.alerts(current, history, rules, now)
        if not raised.empty:
            version = delta_rs.upsert(alerts_path, raised, alerting.ALERTS_SCHEMA, alerting.ALERT_KEYS,
                                      since="window_start", keep=("raised_at",))
            compact(windows.sparkSession, alerts_path, version, delta_rs.COMPACT_EVERY)

    return write_batch


def start(spark: SparkSession, settings: Settings, options: MonitorOptions,
          parts: tuple[str, ...] = ("live", "alerts")) -> list[StreamingQuery]:
    """Start the monitor's streaming queries in `spark` (they run in the background).

    `live` keeps gold.qoe_live; `alerts` judges sliding pair windows into gold.qoe_alerts. Each
    reads the topic itself, so a slow Delta commit of one never holds up the other.
    """
    ensure_tables(settings)
    queries = []
    for part in parts:
        source = io.read_kafka_stream(
            spark, settings.kafka, settings.topic, options.max_offsets_per_trigger,
            # a live view skips what Kafka deleted unread instead of failing at every start
            starting_offsets=options.starting_offsets, fail_on_data_loss=False,
        )
        events = qoe.valid_events(parse_kafka_records(source, io.event_time_bounds(settings)))
        if part == "live":
            windows, writer = qoe.live_windows(events, options.watermark), live_writer(settings)
        else:
            windows = qoe.sliding_pair_windows(events, options.watermark, options.alert_slide_seconds)
            writer = alert_writer(settings, options.rules)
        stream = (
            windows.writeStream.queryName(MONITOR_CHECKPOINTS[part])
            .outputMode("update")  # a window is written as it fills, not when it closes
            .foreachBatch(writer)
            .option("checkpointLocation", str(settings.checkpoint_path(MONITOR_CHECKPOINTS[part])))
        )
        stream = stream.trigger(availableNow=True) if options.available_now \
            else stream.trigger(processingTime=f"{options.trigger_seconds} seconds")
        queries.append(stream.start())
    return queries


def run(spark: SparkSession, settings: Settings, options: MonitorOptions) -> MonitorReport:
    """Run until stopped (or, with `available_now`, until the topic is processed).

    With `available_now` the windows are written before alerts are judged, so a replay judges
    each window against the hour before it, as the live monitor did.
    """
    started = time.monotonic()
    stages = [("live",), ("alerts",)] if options.available_now else [("live", "alerts")]
    batches: dict[tuple[str, int], int] = {}  # the live query's (run, batch) -> input rows

    def record_progress(live: StreamingQuery) -> None:
        for p in io.query_progress(live):
            if p["numInputRows"] > 0:
                batches[(p["runId"], p["batchId"])] = p["numInputRows"]

    for parts in stages:
        queries = start(spark, settings, options, parts)
        live = queries[0] if parts[0] == "live" else None
        try:
            while any(q.isActive for q in queries):
                for query in queries:
                    query.awaitTermination(1.0 / len(queries))
                if live:
                    record_progress(live)
                if options.timeout_seconds and time.monotonic() - started > options.timeout_seconds:
                    for query in queries:
                        query.stop()
            for query in queries:
                query.awaitTermination()  # raises a query's failure
        except KeyboardInterrupt:
            for query in queries:
                query.stop()
        except StreamingQueryException as error:
            for query in queries:
                query.stop()
            raise ReelhouseError(f"monitor query failed: {str(error).splitlines()[0]}") from error
        if live:
            record_progress(live)
    return MonitorReport(
        batches=len(batches),
        input_rows=sum(batches.values()),
        seconds=time.monotonic() - started,
        windows=delta_rs.count(settings.table_path(*QOE_LIVE)),
        alerts=delta_rs.count(settings.table_path(*QOE_ALERTS)),
    )
