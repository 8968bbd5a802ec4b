"""Kafka -> live QoE windows and alerts, while the events arrive.

Reads: the Kafka topic (`settings.topic`), from the latest offsets by default (a monitor is
about now; `--from-earliest` replays the topic). Writes: `<home>/gold/qoe_live` (1-minute
windows per region, CDN and device, upserted while a window is open) and
`<home>/gold/qoe_alerts` (one row per window, region × CDN pair, metric and rule; see
`ingestion.qoe.alerts`). Checkpoint: `<home>/_checkpoints/gold_qoe_live`.

Both writes are MERGEs by key, so a micro-batch replayed after a crash rewrites the same
rows: exactly once in effect. An alert keeps the time it was first raised.

Run: `reelhouse monitor` (until stopped) or `reelhouse monitor --available-now`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from ingestion import io, qoe
from ingestion.transforms import parse_kafka_records
from reelhouse.errors import ReelhouseError
from reelhouse.settings import Settings

QOE_LIVE = ("gold", "qoe_live")
QOE_ALERTS = ("gold", "qoe_alerts")
CHECKPOINT = "gold_qoe_live"
# small tables rewritten by every MERGE: let Delta compact them as it goes
TABLE_PROPERTIES = {"delta.autoOptimize.autoCompact": "true"}


@dataclass(frozen=True)
class MonitorOptions:
    available_now: bool = False
    trigger_seconds: float = 1.0
    starting_offsets: str = "latest"  # or "earliest", or Spark's per-partition JSON
    watermark: str = "2 minutes"  # how late an event may be and still count
    rules: qoe.AlertRules = field(default_factory=qoe.AlertRules)
    max_offsets_per_trigger: int = 100_000
    timeout_seconds: float | None = None


@dataclass
class MonitorReport:
    batches: int
    input_rows: int
    seconds: float
    windows: int
    alerts: int


def _empty_schemas(spark: SparkSession) -> tuple:
    events = qoe.valid_events(parse_kafka_records(spark.createDataFrame([], io.KAFKA_SOURCE_SCHEMA)))
    live = qoe.live_windows(events, "1 minute").withColumn("updated_at", F.current_timestamp())
    alerts = qoe.alerts(qoe.pair_windows(live), qoe.pair_windows(live), qoe.AlertRules(), F.current_timestamp())
    return live.schema, alerts.schema


def ensure_tables(spark: SparkSession, settings: Settings) -> None:
    live_schema, alerts_schema = _empty_schemas(spark)
    io.ensure_delta_table(spark, settings.table_path(*QOE_LIVE), live_schema, TABLE_PROPERTIES)
    io.ensure_delta_table(spark, settings.table_path(*QOE_ALERTS), alerts_schema, TABLE_PROPERTIES)


def batch_writer(settings: Settings, rules: qoe.AlertRules) -> Callable[[DataFrame, int], None]:
    live_path, alerts_path = settings.table_path(*QOE_LIVE), settings.table_path(*QOE_ALERTS)

    def write_batch(windows: DataFrame, batch_id: int) -> None:
        spark = windows.sparkSession
        now = F.lit(datetime.now(UTC)).cast("timestamp")
        updated = windows.withColumn("updated_at", now).persist()
        try:
            earliest = updated.select(F.date_format(F.min("window_start"), "yyyy-MM-dd HH:mm:ss")).first()[0]
            if earliest is None:  # no event in this trigger
                return
            io.upsert(updated, live_path, qoe.LIVE_KEYS, since=("window_start", earliest))
            # the pair's other devices may not have changed in this batch: roll up from the table
            horizon = F.timestamp_seconds(F.unix_timestamp(F.lit(earliest)) - rules.trailing_minutes * 60)
            recent = qoe.pair_windows(io.read_delta(spark, live_path).where(F.col("window_start") >= horizon))
            touched = updated.select("window_start", "region", "cdn").distinct()
            current = recent.join(touched, ["window_start", "region", "cdn"])
            raised = qoe.alerts(current, recent, rules, now).persist()
            if not raised.isEmpty():
                io.upsert(raised, alerts_path, qoe.ALERT_KEYS, since=("window_start", earliest), keep=("raised_at",))
            raised.unpersist()
        finally:
            updated.unpersist()

    return write_batch


def start(spark: SparkSession, settings: Settings, options: MonitorOptions) -> StreamingQuery:
    """Start the monitor's streaming query in `spark` and return it (it runs in the background)."""
    ensure_tables(spark, settings)
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
        windows=io.read_delta(spark, settings.table_path(*QOE_LIVE)).count(),
        alerts=io.read_delta(spark, settings.table_path(*QOE_ALERTS)).count(),
    )
