"""Kafka -> live QoE windows and alerts, while the events arrive.

Reads: the Kafka topic (`settings.topic`), from the latest offsets by default (a monitor is
about now; `--from-earliest` replays the topic). Writes: `<home>/gold/qoe_live` (1-minute
windows per region, CDN and device, upserted while a window is open) and
`<home>/gold/qoe_alerts` (one row per window, region × CDN pair, metric and rule; see
`ingestion.alerting.alerts`). Checkpoint: `<home>/_checkpoints/gold_qoe_live`.

Spark reads Kafka and keeps the windows' state; each micro-batch's updated windows (a few
hundred rows) are judged and written from the driver with delta-rs. Both writes are MERGEs
by key, so a micro-batch replayed after a crash rewrites the same rows: exactly once in
effect. An alert keeps the time it was first raised.

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

from ingestion import alerting, delta_rs, io, qoe
from ingestion.qoe_rules import AlertRules
from ingestion.transforms import parse_kafka_records
from reelhouse.errors import ReelhouseError
from reelhouse.settings import Settings

QOE_LIVE = ("gold", "qoe_live")
QOE_ALERTS = ("gold", "qoe_alerts")
CHECKPOINT = "gold_qoe_live"


@dataclass(frozen=True)
class MonitorOptions:
    available_now: bool = False
    trigger_seconds: float = 1.0
    starting_offsets: str = "latest"  # or "earliest", or Spark's per-partition JSON
    watermark: str = "2 minutes"  # how late an event may be and still count
    rules: AlertRules = field(default_factory=AlertRules)
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


def batch_writer(settings: Settings, rules: AlertRules) -> Callable[[DataFrame, int], None]:
    live_path, alerts_path = settings.table_path(*QOE_LIVE), settings.table_path(*QOE_ALERTS)

    def write_batch(windows: DataFrame, batch_id: int) -> None:
        now = pd.Timestamp.now(tz="UTC")
        updated = windows.toArrow().to_pandas()
        if updated.empty:  # no event in this trigger
            return
        updated = alerting.with_ratios(updated).assign(updated_at=now)
        horizon = updated.window_start.min() - pd.Timedelta(minutes=rules.trailing_minutes)
        # the pairs' other devices may not have changed in this batch: roll up table and batch together
        live = alerting.overlay(delta_rs.rows_since(live_path, "window_start", horizon), updated)
        pairs = alerting.pair_windows(live)
        current = pairs.merge(updated[["window_start", "region", "cdn"]].drop_duplicates())
        raised = alerting.alerts(current, pairs, rules, now)
        # alerts first: they are what someone is waiting for
        if not raised.empty:
            delta_rs.upsert(alerts_path, raised, alerting.ALERTS_SCHEMA, alerting.ALERT_KEYS, since="window_start",
                            keep=("raised_at",))
        delta_rs.upsert(live_path, updated, alerting.LIVE_SCHEMA, alerting.LIVE_KEYS, since="window_start")

    return write_batch


def start(spark: SparkSession, settings: Settings, options: MonitorOptions) -> StreamingQuery:
    """Start the monitor's streaming query in `spark` and return it (it runs in the background)."""
    ensure_tables(settings)
    source = io.read_kafka_stream(
        spark, settings.bootstrap_servers, settings.topic, options.max_offsets_per_trigger,
        starting_offsets=options.starting_offsets,
    )
    windows = qoe.live_windows(qoe.valid_events(parse_kafka_records(source)), options.watermark)
    writer = (
        windows.writeStream.queryName("gold_qoe_live")
        .outputMode("update")  # a window is written as it fills, not when it closes
        .foreachBatch(batch_writer(settings, options.rules))
        .option("checkpointLocation", str(settings.checkpoint_path(CHECKPOINT)))
    )
    writer = writer.trigger(availableNow=True) if options.available_now \
        else writer.trigger(processingTime=f"{options.trigger_seconds} seconds")
    return writer.start()


def run(spark: SparkSession, settings: Settings, options: MonitorOptions) -> MonitorReport:
    started = time.monotonic()
    query = start(spark, settings, options)
    batches: dict[tuple[str, int], int] = {}  # (run, batch) -> input rows; Spark keeps only the last 100

    def record_progress() -> None:
        for p in io.query_progress(query):
            if p["numInputRows"] > 0:
                batches[(p["runId"], p["batchId"])] = p["numInputRows"]

    try:
        while query.isActive:
            query.awaitTermination(1.0)
            record_progress()
            if options.timeout_seconds and time.monotonic() - started > options.timeout_seconds:
                query.stop()
    except KeyboardInterrupt:
        query.stop()
    except StreamingQueryException as error:
        raise ReelhouseError(f"monitor query failed: {str(error).splitlines()[0]}") from error
    record_progress()
    return MonitorReport(
        batches=len(batches),
        input_rows=sum(batches.values()),
        seconds=time.monotonic() - started,
        windows=delta_rs.count(settings.table_path(*QOE_LIVE)),
        alerts=delta_rs.count(settings.table_path(*QOE_ALERTS)),
    )
