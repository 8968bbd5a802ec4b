"""`reelhouse produce|stream|monitor|load-generated|counts|catalog`: events into Kafka and on into
bronze and the live QoE tables."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from foundation.settings import Settings
from ingestion.generator import SEED_EPOCH
from ingestion.qoe_rules import AlertRules
from reelhouse.cli.arguments import (
    incident,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    ratio,
    score,
    start_time,
)


def register(commands) -> dict:
    produce = commands.add_parser("produce", help="send generated viewing events to Kafka")
    produce.add_argument("--events", type=positive_int, default=10_000)
    produce.add_argument("--rate", type=non_negative_float, default=0.0, help="events/s; 0 = as fast as possible")
    produce.add_argument("--seed", type=int, default=42, help="seed of the events drawn")
    produce.add_argument("--world-seed", type=int, default=42,
                         help="seed of the catalog and users (the dbt seed catalog_videos is 42's)")
    produce.add_argument("--format", choices=("full", "seed"), default="full",
                         help="full contract, or the seed project's 12-field message")
    produce.add_argument("--bad-ratio", type=ratio, default=0.0, help="share of malformed messages")
    produce.add_argument("--start", type=start_time, default=SEED_EPOCH,
                         help="first event time (ISO-8601), or 'now' for wall-clock timestamps")
    produce.add_argument("--days", type=positive_float, default=7.0, help="simulated span of the events")
    produce.add_argument("--workers", type=int, default=1, help="generator processes beside the sender")
    produce.add_argument("--incident", type=incident, metavar="REGION:CDN",
                         help="inject a degradation of one edge, e.g. US:akamai (failures, stalls, slow starts)")
    produce.add_argument("--incident-from", type=non_negative_int, default=0, metavar="N",
                         help="the event number at which the incident begins (default 0: from the start)")
    produce.add_argument("--quiet", action="store_true", help="no progress bar")

    stream = commands.add_parser("stream", help="stream Kafka into bronze Delta (exactly once)")
    stream.add_argument("--available-now", action="store_true", help="drain the topic, then exit")
    stream.add_argument("--trigger-seconds", type=non_negative_float,
                        help="micro-batch interval (default 0: each batch when the last ends)")
    stream.add_argument("--max-offsets-per-trigger", type=positive_int, help="micro-batch size cap (default 200000)")
    stream.add_argument("--timeout", type=non_negative_float, help="stop after this many seconds")
    stream.add_argument("--reset", action="store_true",
                        help="after Kafka lost unread records (or the checkpoint was lost): set the checkpoint "
                             "aside and go on after what bronze holds, or from Kafka's oldest record")

    monitor = commands.add_parser("monitor", help="live QoE windows and alerts from Kafka into gold (streaming)")
    monitor.add_argument("--available-now", action="store_true", help="process what the topic holds, then exit")
    monitor.add_argument("--from-earliest", action="store_true",
                         help="a new monitor starts at the topic's first event (default: its latest)")
    monitor.add_argument("--trigger-seconds", type=positive_float, default=1.0,
                         help="micro-batch interval (default 1)")
    monitor.add_argument("--timeout", type=non_negative_float, help="stop after this many seconds")
    monitor.add_argument("--watermark-minutes", type=positive_float, default=2.0,
                         help="how late an event may arrive and still count (default 2)")
    monitor.add_argument("--stalled-threshold", type=ratio, default=AlertRules.stalled_time_ratio,
                         help=f"alert when a window stalls more than this share of playing time "
                              f"(default {AlertRules.stalled_time_ratio})")
    monitor.add_argument("--failure-threshold", type=ratio, default=AlertRules.playback_failure_ratio,
                         help=f"alert when more than this share of starts fail "
                              f"(default {AlertRules.playback_failure_ratio})")
    monitor.add_argument("--experience-threshold", type=score, default=AlertRules.viewer_experience_score,
                         help=f"alert when a window's mean Mux viewer experience score (0-100) falls below this "
                              f"(default {AlertRules.viewer_experience_score})")
    monitor.add_argument("--experience-drop", type=score, default=AlertRules.experience_score_drop,
                         help=f"alert when the score falls this many points under the pair's trailing hour "
                              f"(default {AlertRules.experience_score_drop})")
    monitor.add_argument("--relative-factor", type=positive_float, default=AlertRules.relative_factor,
                         help=f"alert when a window is this many times worse than its pair's trailing hour "
                              f"(default {AlertRules.relative_factor})")
    monitor.add_argument("--min-views", type=positive_int, default=AlertRules.min_views,
                         help=f"views a region x CDN window needs before it is judged (default {AlertRules.min_views})")

    load = commands.add_parser("load-generated", help="write generated events straight to bronze (no Kafka)")
    load.add_argument("--events", type=positive_int, default=100_000)
    load.add_argument("--seed", type=int, default=42, help="seed of the events drawn")
    load.add_argument("--bad-ratio", type=ratio, default=0.0, help="share of malformed messages")
    load.add_argument("--start", type=start_time, default=SEED_EPOCH, help="first event time (ISO-8601) or 'now'")
    load.add_argument("--days", type=positive_float, default=7.0, help="simulated span of the events")

    commands.add_parser("counts", help="row counts of the bronze and quarantine tables")

    catalog = commands.add_parser("catalog", help="write the generator's video catalog as CSV (the dbt seed)")
    catalog.add_argument("--world-seed", type=int, default=42)
    catalog.add_argument("--output", type=Path, help="file (default: standard output)")

    return {"produce": _produce, "stream": _stream, "monitor": _monitor, "load-generated": _load_generated,
            "counts": _counts, "catalog": _catalog}


def _produce(settings: Settings, args: argparse.Namespace) -> None:
    from ingestion.generator import GeneratorOptions
    from ingestion.producer import Progress, produce
    from reelhouse.services.kafka import require_broker

    require_broker(settings.kafka)
    options = GeneratorOptions(
        events=args.events, seed=args.seed, world_seed=args.world_seed, message_format=args.format,
        bad_ratio=args.bad_ratio,
        start=args.start, days=args.days, incident=args.incident, incident_from=args.incident_from,
    )
    report = produce(options, settings.kafka, settings.topic, rate=args.rate,
                     workers=args.workers, progress=Progress(args.events, enabled=not args.quiet))
    print(f"sent {report.sent:,} events to {settings.topic} in {report.seconds:.1f}s "
          f"({report.events_per_second:,.0f} events/s)")
    if report.incident_started_at is not None:
        began = datetime.fromtimestamp(report.incident_started_at, UTC).isoformat(timespec="milliseconds")
        print(f"incident {':'.join(args.incident)} began at event {args.incident_from:,}, sent at {began}")
    if report.malformed:
        print("malformed on purpose: " + ", ".join(f"{k}={v}" for k, v in sorted(report.malformed.items())))


def _stream(settings: Settings, args: argparse.Namespace) -> None:
    from ingestion.jobs.stream import StreamOptions, reset, run
    from reelhouse.services.kafka import require_broker

    require_broker(settings.kafka)
    options = StreamOptions(
        available_now=args.available_now,
        trigger_seconds=args.trigger_seconds if args.trigger_seconds is not None else settings.trigger_seconds,
        max_offsets_per_trigger=args.max_offsets_per_trigger or StreamOptions.max_offsets_per_trigger,
        timeout_seconds=args.timeout,
    )
    if args.reset:
        plan, aside = reset(settings)
        for line in plan.describe():
            print(line)
        print(f"the old checkpoint is kept at {aside}" if aside else "there was no checkpoint to set aside")
        options = replace(options, starting_offsets=plan.spark_starting_offsets())
    report = run(settings, options)
    print(f"streamed {report.input_rows:,} records in {report.batches} batches; "
          f"{report.rows_per_second:,.0f} rows/s while processing")


def _monitor(settings: Settings, args: argparse.Namespace) -> None:
    from foundation.spark import build_spark
    from ingestion.jobs import monitor
    from ingestion.tables import QOE_ALERTS, QOE_LIVE
    from reelhouse.services.kafka import require_broker

    require_broker(settings.kafka)
    rules = AlertRules(stalled_time_ratio=args.stalled_threshold, playback_failure_ratio=args.failure_threshold,
                       viewer_experience_score=args.experience_threshold,
                       experience_score_drop=args.experience_drop,
                       relative_factor=args.relative_factor, min_views=args.min_views)
    options = monitor.MonitorOptions(
        available_now=args.available_now, trigger_seconds=args.trigger_seconds,
        starting_offsets="earliest" if args.from_earliest else "latest",
        watermark=f"{round(args.watermark_minutes * 60)} seconds", rules=rules, timeout_seconds=args.timeout,
    )
    spark = build_spark(settings, "reelhouse-monitor")
    if not args.available_now:
        print(f"monitoring {settings.topic} into {settings.table_path(*QOE_LIVE)} and "
              f"{settings.table_path(*QOE_ALERTS)}; Ctrl-C stops", flush=True)
    report = monitor.run(spark, settings, options)
    print(f"monitored {report.input_rows:,} events in {report.batches} batches; "
          f"gold.qoe_live has {report.windows:,} windows, gold.qoe_alerts {report.alerts:,} alerts")


def _load_generated(settings: Settings, args: argparse.Namespace) -> None:
    from foundation.spark import build_spark
    from ingestion.generator import GeneratorOptions
    from ingestion.jobs import load_generated

    options = GeneratorOptions(events=args.events, seed=args.seed, bad_ratio=args.bad_ratio,
                               start=args.start, days=args.days)
    report = load_generated.run(build_spark(settings, "reelhouse-load-generated"), settings, options)
    print(f"loaded {report.events:,} generated records into bronze and quarantine in {report.batches} batches")


def _counts(settings: Settings, args: argparse.Namespace) -> None:
    from ingestion.jobs.stream import table_counts

    for table, count in table_counts(settings).items():
        print(f"{table}: {count:,}")


def _catalog(settings: Settings, args: argparse.Namespace) -> None:
    from ingestion.jobs.catalog import write_catalog

    if args.output is None:
        write_catalog(args.world_seed, sys.stdout)
        return
    with args.output.open("w", newline="") as out:
        write_catalog(args.world_seed, out)
