"""`reelhouse demo`: the main job end to end on the embedded default (local Spark, one broker).

Starts Kafka, produces events (1 % malformed on purpose), streams them into bronze with
`--available-now`, and prints the counts and the measured throughput. Kafka stays up
afterwards so that more events can be produced and streamed; `reelhouse kafka stop` ends it.
"""

from __future__ import annotations

from ingestion.generator import GeneratorOptions
from ingestion.jobs.stream import BRONZE, QUARANTINE, StreamOptions, run
from ingestion.producer import Progress, produce
from reelhouse.kafka_cluster import ClusterLayout, KafkaCluster, ensure_topic
from reelhouse.settings import Settings
from reelhouse.spark import build_spark


def run_demo(settings: Settings, events: int) -> None:
    print(f"== lakehouse home: {settings.home}")
    layout = ClusterLayout(settings.kafka_dir, settings.kafka_host, settings.kafka_port, 1)
    for line in KafkaCluster(layout, settings.jars_cache).start():
        print(f"== kafka: {line}")
    ensure_topic(settings.bootstrap_servers, settings.topic, settings.topic_partitions, 1)

    print(f"== producing {events:,} events to {settings.topic} (1 % malformed on purpose)")
    sent = produce(
        GeneratorOptions(events=events, seed=42, bad_ratio=0.01), settings.bootstrap_servers, settings.topic,
        workers=1, progress=Progress(events),
    )
    print(f"   {sent.sent:,} events in {sent.seconds:.1f}s = {sent.events_per_second:,.0f} events/s")

    print("== streaming Kafka -> bronze (available-now)")
    report = run(settings, StreamOptions(available_now=True))
    spark = build_spark(settings, "reelhouse-demo")
    bronze = spark.read.format("delta").load(str(settings.table_path(*BRONZE)))
    quarantine = spark.read.format("delta").load(str(settings.table_path(*QUARANTINE)))
    print(f"   streamed {report.input_rows:,} records in {report.batches} micro-batch(es): "
          f"{report.rows_per_second:,.0f} rows/s while processing, JVM warm-up included "
          "(ops/stream_progress has each batch; `reelhouse bench ingest` measures steady state)")
    print(f"   bronze/playback_events:            {bronze.count():>10,} rows")
    print(f"   bronze/playback_events_quarantine: {quarantine.count():>10,} rows")
    for row in quarantine.groupBy("reason").count().orderBy("reason").collect():
        print(f"      {row.reason:<24}{row['count']:>8,}")
    print("== done. Kafka keeps running for more: `reelhouse produce`, `reelhouse stream`; "
          "stop it with `reelhouse kafka stop`.")
