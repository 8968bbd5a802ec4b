"""`reelhouse live-recommender`: each user's top-k rebuilt as their views arrive (Kafka -> Delta).

Reads  the Kafka topic (`settings.topic`; a new job starts at its latest offsets, or its first
       with `--from-earliest`), the latest trained model's item factors, gold.dim_videos,
       gold.popular_videos, and the history: started views of gold.fct_views and
       gold.user_views_live (see `ml.live_io`).
Writes gold.user_views_live (the started views it took in, once per micro-batch) and
       gold.user_recommendations_live (user_id, rank, video_id, score, reason, model_version,
       reflects_event_at, computed_at), by MERGE, changed rows only.
Checkpoint `<home>/_checkpoints/gold_user_recommendations_live`.

Spark reads and parses the topic; each micro-batch's started views (a few thousand rows at
most a second) come to the driver, where the users they touch get a new list from
`ml.live.recommend`. The history is in the driver's memory, loaded from Delta at start, so a
restart keeps it; a replayed batch appends nothing (its id is already in the table's app
transaction) and rewrites equal lists, so the tables do not change.
"""

from __future__ import annotations

import gc
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from pyspark.errors import StreamingQueryException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from foundation.delta import compact
from foundation.errors import ReelhouseError
from foundation.settings import Settings
from ingestion.io import event_time_bounds, query_progress, read_kafka_stream
from ingestion.transforms import parse_kafka_records
from ml import live, live_io
from ml.tables import LIVE_CHECKPOINT, USER_RECOMMENDATIONS_LIVE


@dataclass(frozen=True)
class LiveOptions:
    k: int = 10
    available_now: bool = False
    trigger_seconds: float = 0.5
    starting_offsets: str = "latest"
    max_offsets_per_trigger: int = 200_000
    timeout_seconds: float | None = None


@dataclass
class LiveReport:
    batches: int
    views: int
    users_updated: int
    seconds: float
    model_version: str | None


def started_views(parsed: DataFrame) -> DataFrame:
    """Valid events of `parse_kafka_records` that started playing, keyed as silver keys them."""
    started = F.coalesce(F.col("playback_started"), F.col("watch_time_seconds") > 0)
    event_id: Column = F.coalesce(
        F.nullif(F.lower(F.trim("event_id")), F.lit("")),
        F.concat_ws("-", F.lit("kafka"), "kafka_topic", "kafka_partition", "kafka_offset"),
    )
    return parsed.where(F.col("reason").isNull() & started).select(
        event_id.alias("event_id"),
        F.trim("user_id").alias("user_id"),
        F.trim("video_id").alias("video_id"),
        "event_at",
        F.col("watch_time_seconds").cast("double").alias("watch_time_seconds"),
        F.col("skipped").alias("is_skipped"),
        F.upper(F.trim("region")).alias("region"),
        F.trim("genre").alias("genre"),
    )


class LiveRecommender:
    """The driver's state across micro-batches: histories, the model, the catalog."""

    def __init__(self, settings: Settings, k: int) -> None:
        self.settings, self.k = settings, k
        live_io.ensure_tables(settings)
        self.histories = live.Histories()
        self.histories.add(live_io.load_history(settings))
        # out of the collector's reach: a full collection walked the loaded history (1.3 million
        # objects for the demo's 2.3 million views) for a second, holding up whichever batch it hit
        gc.collect()
        gc.freeze()
        self.model_version: str | None = None
        self.model: live.ItemModel | None = None
        self._refresh_model()
        self.app_id: str | None = None
        self.compaction: threading.Thread | None = None
        self.views = self.users_updated = 0

    def _refresh_model(self) -> None:
        """Load the newest model (and the catalog and popular titles trained with it) when it changed."""
        version = live_io.latest_model_version(self.settings)
        if version != self.model_version or self.model is None:
            self.model = live_io.latest_item_model(self.settings)
            self.model_version = version
            self.catalog = live_io.load_catalog(self.settings)
            self.popular = live_io.load_popular(self.settings)
            self.prior = live.GenrePrior.of(self.model, self.catalog, self.popular) if self.model else None

    def write_batch(self, frame: DataFrame, batch_id: int) -> None:
        rows = frame.toArrow().to_pandas()
        if rows.empty:
            return
        self._refresh_model()
        views = rows.assign(completion_ratio=self.catalog.completion(rows.video_id, rows.watch_time_seconds))
        views["event_at"] = pd.to_datetime(views.event_at, utc=True)
        fresh = self.histories.fresh(views[list(live.HISTORY_COLUMNS)])
        if not fresh.empty:  # Delta first: a crash before the lists are written replays from there
            live_io.append_views_once(self.settings, fresh, self._app_id(), batch_id)
        self.histories.add(fresh)
        users = set(views.user_id)  # a replayed batch rewrites the same users' (equal) lists
        rebuilt = [u for u in sorted(users) if u in self.histories.users]
        lists = [row for u in rebuilt
                 for row in live.recommend_rows(u, self.histories.users[u], self.model, self.catalog, self.popular,
                                                self.k, prior=self.prior)]
        if lists:
            merged = live_io.merge_lists(self.settings, pd.DataFrame(lists, columns=list(live.LIVE_COLUMNS)),
                                         self.k, pd.Timestamp.now(tz="UTC"))
            self.compact_meanwhile(frame.sparkSession, merged)
        self.views += len(fresh)
        self.users_updated += len(rebuilt)

    def compact_meanwhile(self, spark: SparkSession, merged: live_io.Merged) -> None:
        """When merges have left more than COMPACT_ABOVE_FILES files, Spark's OPTIMIZE of the lists
        in a thread of its own: inside the batch it held the next lists back for seconds. Its
        conflicts with the next merges are the ones `merge_lists` and `compact` already settle
        (one retries, the other waits its turn)."""
        if merged.files <= live_io.COMPACT_ABOVE_FILES or (self.compaction and self.compaction.is_alive()):
            return
        path = self.settings.table_path(*USER_RECOMMENDATIONS_LIVE)
        self.compaction = threading.Thread(target=compact, args=(spark, path), name="compact-live-lists", daemon=True)
        self.compaction.start()

    def finish(self) -> None:
        """Wait for a compaction still running (it commits whole or not at all)."""
        if self.compaction:
            self.compaction.join()

    def _app_id(self) -> str:
        """The checkpoint's own id (Spark writes it at the query's first start): a new checkpoint
        is a new writer, a restarted one the same."""
        if self.app_id is None:
            metadata = self.settings.checkpoint_path(LIVE_CHECKPOINT) / "metadata"
            self.app_id = f"reelhouse-live-{json.loads(metadata.read_text())['id']}"
        return self.app_id


def run(spark: SparkSession, settings: Settings, options: LiveOptions,
        on_start: Callable[[str | None], None] | None = None) -> LiveReport:
    """Run until stopped (or, with `available_now`, until the topic is processed); `on_start`
    gets the model version once the query runs."""
    started = time.monotonic()
    recommender = LiveRecommender(settings, options.k)
    source = read_kafka_stream(spark, settings.kafka, settings.topic, options.max_offsets_per_trigger,
                               # fresh lists skip what Kafka deleted unread rather than stop
                               starting_offsets=options.starting_offsets, fail_on_data_loss=False)
    stream = (
        started_views(parse_kafka_records(source, event_time_bounds(settings))).writeStream.queryName(LIVE_CHECKPOINT)
        .foreachBatch(recommender.write_batch)
        .option("checkpointLocation", str(settings.checkpoint_path(LIVE_CHECKPOINT)))
    )
    stream = stream.trigger(availableNow=True) if options.available_now \
        else stream.trigger(processingTime=f"{options.trigger_seconds} seconds")
    query = stream.start()
    if on_start:
        on_start(recommender.model_version)
    batches: set[tuple[str, int]] = set()
    try:
        while query.isActive:
            query.awaitTermination(1.0)
            batches.update((p["runId"], p["batchId"]) for p in query_progress(query) if p["numInputRows"])
            if options.timeout_seconds and time.monotonic() - started > options.timeout_seconds:
                query.stop()
        query.awaitTermination()
    except KeyboardInterrupt:
        query.stop()
    except StreamingQueryException as error:
        query.stop()
        raise ReelhouseError(f"live recommender failed: {str(error).splitlines()[0]}") from error
    recommender.finish()
    return LiveReport(len(batches), recommender.views, recommender.users_updated, time.monotonic() - started,
                      recommender.model_version)
