"""`reelhouse`: the one command line of the project. `reelhouse --help` lists the subcommands.

Settings are read from the environment once, here, and passed inward.
A wrong argument or a problem the user can fix ends in one line on stderr, not a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ingestion.generator import SEED_EPOCH
from ingestion.qoe_rules import AlertRules
from reelhouse.errors import ReelhouseError
from reelhouse.settings import Settings


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage block
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"expected a number of 0 or more, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = _non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a number above 0, got 0")
    return value


def _ratio(text: str) -> float:
    value = _non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a ratio between 0 and 1, got {text}")
    return value


def _start(text: str) -> datetime | None:
    if text == "now":
        return None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO-8601 time or 'now', got {text!r}") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of 0 or more, got {value}")
    return value


def _incident(text: str) -> tuple[str, str]:
    from ingestion.generator import parse_incident

    try:
        return parse_incident(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def _sizes(text: str) -> list[int]:
    return [_positive_int(part.strip()) for part in text.split(",")]


def _layers(text: str) -> list[str]:
    from reelhouse.maintenance import LAYERS

    layers = [part.strip() for part in text.split(",") if part.strip()]
    if not layers or any(layer not in LAYERS for layer in layers):
        raise argparse.ArgumentTypeError(f"expected layers from {','.join(LAYERS)}, got {text!r}")
    return layers


def _memory(text: str) -> str:
    if not re.fullmatch(r"[1-9][0-9]*[mMgG]", text):
        raise argparse.ArgumentTypeError(f"expected an amount like 512m or 4g, got {text!r}")
    return text.lower()


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number up to 65535, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="reelhouse", description="reelhouse: a lakehouse for video-streaming analytics")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    commands.add_parser("jars", help="resolve the Spark and Kafka jars with Maven (cached)")

    kafka = commands.add_parser("kafka", help="start, stop or inspect the local Kafka broker(s)")
    kafka.add_argument("action", choices=("start", "stop", "status"))
    kafka.add_argument("--brokers", type=_positive_int,
                       help="KRaft nodes (default: as the cluster was started, else $REELHOUSE_KAFKA_BROKERS or 1)")
    kafka.add_argument("--port", type=_port, help="first broker port (default $REELHOUSE_KAFKA_PORT or 9092)")

    cluster = commands.add_parser("cluster", help="start, stop or inspect a local Spark standalone cluster")
    cluster.add_argument("action", choices=("start", "stop", "status"))
    cluster.add_argument("--workers", type=_positive_int, default=1, help="worker daemons (default 1)")
    cluster.add_argument("--cores", type=_positive_int, default=2, help="cores each worker offers (default 2)")
    cluster.add_argument("--memory", type=_memory, default="4g", help="memory each worker offers (default 4g)")
    cluster.add_argument("--host", default="127.0.0.1", help="interface of the master and workers")
    cluster.add_argument("--port", type=_port, default=7077, help="master port (default 7077)")
    cluster.add_argument("--web-port", type=_port, default=8080, help="master web UI port (default 8080)")

    produce = commands.add_parser("produce", help="send generated viewing events to Kafka")
    produce.add_argument("--events", type=_positive_int, default=10_000)
    produce.add_argument("--rate", type=_non_negative_float, default=0.0, help="events/s; 0 = as fast as possible")
    produce.add_argument("--seed", type=int, default=42, help="seed of the events drawn")
    produce.add_argument("--world-seed", type=int, default=42,
                         help="seed of the catalog and users (the dbt seed catalog_videos is 42's)")
    produce.add_argument("--format", choices=("full", "seed"), default="full",
                         help="full contract, or the seed project's 12-field message")
    produce.add_argument("--bad-ratio", type=_ratio, default=0.0, help="share of malformed messages")
    produce.add_argument("--start", type=_start, default=SEED_EPOCH,
                         help="first event time (ISO-8601), or 'now' for wall-clock timestamps")
    produce.add_argument("--days", type=_positive_float, default=7.0, help="simulated span of the events")
    produce.add_argument("--workers", type=int, default=1, help="generator processes beside the sender")
    produce.add_argument("--incident", type=_incident, metavar="REGION:CDN",
                         help="inject a degradation of one edge, e.g. US:akamai (failures, stalls, slow starts)")
    produce.add_argument("--incident-from", type=_non_negative_int, default=0, metavar="N",
                         help="the event number at which the incident begins (default 0: from the start)")
    produce.add_argument("--quiet", action="store_true", help="no progress bar")

    stream = commands.add_parser("stream", help="stream Kafka into bronze Delta (exactly once)")
    stream.add_argument("--available-now", action="store_true", help="drain the topic, then exit")
    stream.add_argument("--trigger-seconds", type=_non_negative_float, help="micro-batch interval (default 3)")
    stream.add_argument("--max-offsets-per-trigger", type=_positive_int, help="micro-batch size cap (default 200000)")
    stream.add_argument("--timeout", type=_non_negative_float, help="stop after this many seconds")

    monitor = commands.add_parser("monitor", help="live QoE windows and alerts from Kafka into gold (streaming)")
    monitor.add_argument("--available-now", action="store_true", help="process what the topic holds, then exit")
    monitor.add_argument("--from-earliest", action="store_true",
                         help="a new monitor starts at the topic's first event (default: its latest)")
    monitor.add_argument("--trigger-seconds", type=_positive_float, default=1.0,
                         help="micro-batch interval (default 1)")
    monitor.add_argument("--timeout", type=_non_negative_float, help="stop after this many seconds")
    monitor.add_argument("--watermark-minutes", type=_positive_float, default=2.0,
                         help="how late an event may arrive and still count (default 2)")
    monitor.add_argument("--stalled-threshold", type=_ratio, default=AlertRules.stalled_time_ratio,
                         help=f"alert when a window stalls more than this share of playing time "
                              f"(default {AlertRules.stalled_time_ratio})")
    monitor.add_argument("--failure-threshold", type=_ratio, default=AlertRules.playback_failure_ratio,
                         help=f"alert when more than this share of starts fail "
                              f"(default {AlertRules.playback_failure_ratio})")
    monitor.add_argument("--relative-factor", type=_positive_float, default=AlertRules.relative_factor,
                         help=f"alert when a window is this many times worse than its pair's trailing hour "
                              f"(default {AlertRules.relative_factor})")
    monitor.add_argument("--min-views", type=_positive_int, default=AlertRules.min_views,
                         help=f"views a region x CDN window needs before it is judged (default {AlertRules.min_views})")

    serve = commands.add_parser("serve", help="the SQL endpoint for BI tools (Spark Thrift Server, HiveServer2)")
    serve.add_argument("action", nargs="?", default="run", choices=("run", "start", "stop", "status"),
                       help="run in the foreground (default), or start/stop/status in the background")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=10000, help="port (default 10000)")
    serve.add_argument("--hiveconf", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="a HiveServer2 setting, e.g. hive.server2.authentication=LDAP (repeatable)")

    dashboard = commands.add_parser("dashboard", help="the web dashboard over the gold tables (Streamlit)")
    dashboard.add_argument("action", nargs="?", default="run", choices=("run", "start", "stop", "status"),
                           help="run in the foreground (default), or start/stop/status in the background")
    dashboard.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    dashboard.add_argument("--port", type=_port, default=8501, help="port (default 8501)")
    dashboard.add_argument("--refresh-seconds", type=_positive_float, default=10.0,
                           help="how often the live page refreshes itself (default 10)")

    commands.add_parser("counts", help="row counts of the bronze and quarantine tables")

    load = commands.add_parser("load-generated", help="write generated events straight to bronze (no Kafka)")
    load.add_argument("--events", type=_positive_int, default=100_000)
    load.add_argument("--seed", type=int, default=42, help="seed of the events drawn")
    load.add_argument("--bad-ratio", type=_ratio, default=0.0, help="share of malformed messages")
    load.add_argument("--start", type=_start, default=SEED_EPOCH, help="first event time (ISO-8601) or 'now'")
    load.add_argument("--days", type=_positive_float, default=7.0, help="simulated span of the events")

    metastore = commands.add_parser("metastore", help="start, stop or inspect the shared catalog (Hive metastore)")
    metastore.add_argument("action", choices=("start", "stop", "status"))
    metastore.add_argument("--port", type=_port, help="Derby port (default $REELHOUSE_METASTORE_PORT or 1527)")

    dbt = commands.add_parser("dbt", help="run a dbt command on the lakehouse, e.g. `reelhouse dbt build`")
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER, metavar="DBT_ARGS")

    sql = commands.add_parser("sql", help="run one SQL statement on the lakehouse catalog and print the rows")
    sql.add_argument("statement")
    sql.add_argument("--limit", type=_positive_int, default=50, help="rows to print (default 50)")

    catalog = commands.add_parser("catalog", help="write the generator's video catalog as CSV (the dbt seed)")
    catalog.add_argument("--world-seed", type=int, default=42)
    catalog.add_argument("--output", type=Path, help="file (default: standard output)")

    train = commands.add_parser(
        "train", help="train the recommender and the early-exit classifier on gold (or on --interactions FILE)"
    )
    train.add_argument("-k", "--k", type=_positive_int, default=10, help="recommendations per user (default 10)")
    train.add_argument("--input-version", type=_non_negative_int,
                       help="gold.fct_views Delta version to train on (default: latest; reproduces a recorded run)")
    train.add_argument("--only", choices=("recommender", "classifier"), help="train one model only")
    train.add_argument("--interactions", type=Path,
                       help="CSV/Parquet with user_id,item_id[,weight][,timestamp] instead of gold")
    train.add_argument("--output", type=Path, help="with --interactions: where the top-k go (.csv or .parquet)")
    train.add_argument("--no-search", action="store_true",
                       help="fit Spark's default ALS parameters only (1 fit instead of the 18-set search)")

    maintain = commands.add_parser(
        "maintain", help="compact (OPTIMIZE, Z-order) and VACUUM the Delta tables, with a before/after report")
    maintain.add_argument("--layers", type=_layers, default=["bronze", "gold"],
                          help="comma-separated layers (default bronze,gold; also silver, ops)")
    maintain.add_argument("--retention-hours", type=_non_negative_float,
                          help="VACUUM files removed longer ago than this (default: each table's own, 168 h)")
    maintain.add_argument("--force-retention", action="store_true",
                          help="allow a retention below 168 h (breaks time travel and lagging readers)")
    maintain.add_argument("--dry-run", action="store_true", help="change nothing: show the plan and what VACUUM "
                                                                 "would delete")
    maintain.add_argument("--no-optimize", action="store_true", help="VACUUM only")
    maintain.add_argument("--no-vacuum", action="store_true", help="OPTIMIZE only")
    maintain.add_argument("--json", action="store_true", help="the report as JSON")

    recommend = commands.add_parser("recommend", help="a user's recommendations from gold (no Spark)")
    recommend.add_argument("--user", required=True, help="user_id")
    recommend.add_argument("-k", "--k", type=_positive_int, default=10, help="how many (default 10)")
    recommend.add_argument("--region", help="a new user's region (default: gold.dim_users)")
    recommend.add_argument("--genre", help="a new user's preferred genre, e.g. Drama")

    bench = commands.add_parser("bench", help="measure a layer and write JSON")
    bench.add_argument("layer", choices=("ingest", "dbt", "ml", "monitor", "dashboard", "scale"))
    bench.add_argument("--interactions", type=Path, help="ml: also an interactions file (e.g. MovieLens 100k)")
    bench.add_argument("--output", type=Path, help="JSON file (default bench/<layer>.json)")
    bench.add_argument("--events", type=_positive_int, default=600_000,
                       help="ingest, scale: events for the throughput run")
    bench.add_argument("--sizes", type=_sizes, default=[1_000_000, 10_000_000],
                       help="dbt: comma-separated bronze sizes (default 1000000,10000000)")
    bench.add_argument("--executors", type=_sizes, default=[1, 2, 4],
                       help="scale: comma-separated executor cores to run with (default 1,2,4)")
    bench.add_argument("--dbt-events", type=_positive_int, default=1_000_000,
                       help="scale: bronze events dbt builds from (default 1000000)")

    demo = commands.add_parser("demo", help="run the pipeline end to end on the embedded default")
    demo.add_argument("--events", type=_positive_int, default=200_000)
    return parser


def _jars(settings: Settings, args: argparse.Namespace) -> None:
    from reelhouse import jvm
    from reelhouse.spark import pyspark_jars_dir

    print(f"spark: {len(jvm.spark_extra_jars(settings.jars_cache, pyspark_jars_dir()))} jars")
    print(f"kafka: {len(jvm.resolve('kafka', settings.jars_cache))} jars")
    print(f"metastore: {len(jvm.resolve('metastore', settings.jars_cache))} jars")
    print(f"cache: {settings.jars_cache}")


def _kafka(settings: Settings, args: argparse.Namespace) -> None:
    from reelhouse.kafka_cluster import ClusterLayout, KafkaCluster, ensure_topic

    layout = ClusterLayout(settings.kafka_dir, settings.kafka_host, settings.kafka_port,
                           args.brokers or settings.kafka_brokers)
    cluster = KafkaCluster(layout, settings.jars_cache)

    def start() -> list[str]:
        said = cluster.start()
        created = ensure_topic(layout.bootstrap_servers, settings.topic, settings.topic_partitions,
                               layout.replication_factor)
        return [*said, f"topic {settings.topic} {'created' if created else 'exists'}; "
                       f"bootstrap {layout.bootstrap_servers}"]

    def status() -> list[str] | None:
        running = cluster.running_nodes()
        return [*(f"broker {node_id} running (pid {pid})" for node_id, pid in sorted(running.items())),
                f"bootstrap {layout.bootstrap_servers}"] if running else None

    _service_action(args.action, "kafka", start, cluster.stop, status)


def _service_action(action: str, name: str, start: Callable[[], list[str]], stop: Callable[[], list[str]],
                    status: Callable[[], list[str] | None]) -> None:
    """start, stop or status of a background service; status exits 3 when it is not running."""
    lines = {"start": start, "stop": stop, "status": status}[action]()
    if lines is None:
        print(f"{name}: not running")
        sys.exit(3)
    for line in lines:
        print(line)


def _cluster(settings: Settings, args: argparse.Namespace) -> None:
    from reelhouse.spark_cluster import StandaloneCluster, StandaloneLayout

    directory = settings.home / "_spark"
    asked = StandaloneLayout(directory, host=args.host, port=args.port, web_port=args.web_port,
                             workers=args.workers, cores_per_worker=args.cores, memory_per_worker=args.memory)
    # stop and status find the cluster where it was started
    cluster = StandaloneCluster(asked if args.action == "start" else StandaloneLayout.recorded(directory) or asked)

    def start() -> list[str]:
        return [*cluster.start(), f"run jobs on it with REELHOUSE_SPARK_MASTER={cluster.layout.master_url}"]

    def status() -> list[str] | None:
        if (state := cluster.status()) is None:
            return None
        return [f"master {state['url']}: {state['aliveworkers']} worker(s), {state['coresused']}/{state['cores']} "
                f"cores and {state['memoryused']}/{state['memory']} MB in use",
                *(f"running: {app['name']} ({app['cores']} cores)" for app in state["activeapps"])]

    _service_action(args.action, "spark cluster", start, cluster.stop, status)


def _produce(settings: Settings, args: argparse.Namespace) -> None:
    from ingestion.generator import GeneratorOptions
    from ingestion.producer import Progress, produce
    from reelhouse.kafka_cluster import require_broker

    require_broker(settings.bootstrap_servers)
    options = GeneratorOptions(
        events=args.events, seed=args.seed, world_seed=args.world_seed, message_format=args.format,
        bad_ratio=args.bad_ratio,
        start=args.start, days=args.days, incident=args.incident, incident_from=args.incident_from,
    )
    report = produce(options, settings.bootstrap_servers, settings.topic, rate=args.rate,
                     workers=args.workers, progress=Progress(args.events, enabled=not args.quiet))
    print(f"sent {report.sent:,} events to {settings.topic} in {report.seconds:.1f}s "
          f"({report.events_per_second:,.0f} events/s)")
    if report.incident_started_at is not None:
        began = datetime.fromtimestamp(report.incident_started_at, UTC).isoformat(timespec="milliseconds")
        print(f"incident {':'.join(args.incident)} began at event {args.incident_from:,}, sent at {began}")
    if report.malformed:
        print("malformed on purpose: " + ", ".join(f"{k}={v}" for k, v in sorted(report.malformed.items())))


def _stream(settings: Settings, args: argparse.Namespace) -> None:
    from ingestion.jobs.stream import StreamOptions, run
    from reelhouse.kafka_cluster import require_broker

    require_broker(settings.bootstrap_servers)
    options = StreamOptions(
        available_now=args.available_now,
        trigger_seconds=args.trigger_seconds if args.trigger_seconds is not None else settings.trigger_seconds,
        max_offsets_per_trigger=args.max_offsets_per_trigger or StreamOptions.max_offsets_per_trigger,
        timeout_seconds=args.timeout,
    )
    report = run(settings, options)
    print(f"streamed {report.input_rows:,} records in {report.batches} batches; "
          f"{report.rows_per_second:,.0f} rows/s while processing")


def _monitor(settings: Settings, args: argparse.Namespace) -> None:
    from ingestion.jobs import monitor
    from reelhouse.kafka_cluster import require_broker
    from reelhouse.spark import build_spark

    require_broker(settings.bootstrap_servers)
    rules = AlertRules(stalled_time_ratio=args.stalled_threshold, playback_failure_ratio=args.failure_threshold,
                       relative_factor=args.relative_factor, min_views=args.min_views)
    options = monitor.MonitorOptions(
        available_now=args.available_now, trigger_seconds=args.trigger_seconds,
        starting_offsets="earliest" if args.from_earliest else "latest",
        watermark=f"{round(args.watermark_minutes * 60)} seconds", rules=rules, timeout_seconds=args.timeout,
    )
    spark = build_spark(settings, "reelhouse-monitor")
    if not args.available_now:
        print(f"monitoring {settings.topic} into {settings.table_path(*monitor.QOE_LIVE)} and "
              f"{settings.table_path(*monitor.QOE_ALERTS)}; Ctrl-C stops", flush=True)
    report = monitor.run(spark, settings, options)
    print(f"monitored {report.input_rows:,} events in {report.batches} batches; "
          f"gold.qoe_live has {report.windows:,} windows, gold.qoe_alerts {report.alerts:,} alerts")


def _control(command: str, name: str, action: str, run: Callable[[], int | None], start: Callable[[], str],
             stop: Callable[[], str], status: Callable[[], str | None]) -> None:
    """`reelhouse <command> run|start|stop|status` of a service that can run in the background."""
    if action == "run":
        sys.exit(run())
    elif action == "start":
        print(f"{name} at {start()} (`reelhouse {command} stop` ends it)")
    elif action == "stop":
        print(stop())
    elif (state := status()) is None:
        print(f"{name}: not running")
        sys.exit(3)
    else:
        print(f"{name} running ({state})")


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    from reelhouse import sql_endpoint

    hive_conf = dict(args.hiveconf)
    _control(
        "serve", "SQL endpoint", args.action,
        run=lambda: sql_endpoint.run(settings, args.host, args.port, hive_conf),
        start=lambda: sql_endpoint.start(settings, args.host, args.port, hive_conf),
        stop=lambda: sql_endpoint.stop(settings),
        status=lambda: None if (pid := sql_endpoint.running_pid(settings)) is None else f"pid {pid}",
    )


def _dashboard(settings: Settings, args: argparse.Namespace) -> None:
    from dashboard import launch

    _control(
        "dashboard", "dashboard", args.action,
        run=lambda: launch.run(settings, args.host, args.port, args.refresh_seconds),
        start=lambda: launch.start(settings, args.host, args.port, args.refresh_seconds),
        stop=lambda: launch.stop(settings),
        status=lambda: launch.status(settings),
    )


def _metastore(settings: Settings, args: argparse.Namespace) -> None:
    from reelhouse.metastore import Metastore

    metastore = Metastore(settings.metastore_dir, settings.metastore_host,
                          args.port or settings.metastore_port, settings.jars_cache)

    def status() -> list[str] | None:
        pid = metastore.running_pid()
        return None if pid is None else [f"metastore running (pid {pid}); jdbc {metastore.jdbc_url}"]

    _service_action(args.action, "metastore", lambda: [*metastore.start(), f"jdbc {metastore.jdbc_url}"],
                    metastore.stop, status)


def _dbt(settings: Settings, args: argparse.Namespace) -> None:
    from reelhouse.dbt_runner import run_dbt

    if not args.dbt_args:
        raise ReelhouseError("name a dbt command, e.g. `reelhouse dbt build`")
    if not run_dbt(settings, args.dbt_args):
        sys.exit(1)


def _sql(settings: Settings, args: argparse.Namespace) -> None:
    from pyspark.errors import PySparkException

    from ingestion.io import register_in_catalog
    from ml.io import output_tables
    from reelhouse.dbt_runner import source_tables
    from reelhouse.spark import build_spark

    spark = build_spark(settings, "reelhouse-sql", catalog=True)
    register_in_catalog(spark, {**source_tables(settings), **output_tables(settings)})
    try:
        result = spark.sql(args.statement)
        header, rows = result.columns, [list(map(str, r)) for r in result.limit(args.limit).collect()]
    except PySparkException as error:
        raise ReelhouseError(str(error).strip().splitlines()[0]) from None
    print("\t".join(header))
    for row in rows:
        print("\t".join(row))


def _catalog(settings: Settings, args: argparse.Namespace) -> None:
    import csv

    from ingestion.generator import World, catalog_rows

    rows = catalog_rows(World.build(args.world_seed))
    out = args.output.open("w", newline="") if args.output else sys.stdout
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    if args.output:
        out.close()


def _load_generated(settings: Settings, args: argparse.Namespace) -> None:
    from ingestion.generator import GeneratorOptions
    from ingestion.jobs import load_generated
    from reelhouse.spark import build_spark

    options = GeneratorOptions(events=args.events, seed=args.seed, bad_ratio=args.bad_ratio,
                               start=args.start, days=args.days)
    report = load_generated.run(build_spark(settings, "reelhouse-load-generated"), settings, options)
    print(f"loaded {report.events:,} generated records into bronze and quarantine in {report.batches} batches")


def _counts(settings: Settings, args: argparse.Namespace) -> None:
    from ingestion.jobs.stream import table_counts

    for table, count in table_counts(settings).items():
        print(f"{table}: {count:,}")


def _als_grid(args: argparse.Namespace) -> tuple:
    from ml.recommender import DEFAULT_PARAMS, SEARCH_GRID

    return (DEFAULT_PARAMS,) if args.no_search else SEARCH_GRID


def _train(settings: Settings, args: argparse.Namespace) -> None:
    from ml.jobs import train
    from reelhouse.spark import build_spark

    if args.interactions:
        from ml.io import file_format
        from ml.jobs import train_file

        if args.output is None:
            raise ReelhouseError("--interactions needs --output (a .csv or .parquet file for the top-k)")
        if args.only == "classifier" or args.input_version is not None:
            raise ReelhouseError("--interactions trains the recommender only; drop --only/--input-version")
        file_format(args.interactions)  # both names are checked before a JVM starts
        file_format(args.output)
        result = train_file.run(build_spark(settings, "reelhouse-train-file"), args.interactions, args.output, args.k,
                                grid=_als_grid(args))
        for line in train.recommender_lines(result.report, result.final):
            print(line)
        print(f"top {args.k} per user written to {result.output}")
        return
    if args.output:
        raise ReelhouseError("--output goes with --interactions; gold results go to gold.user_recommendations")
    from ml.io import require_views

    require_views(settings)
    options = train.TrainOptions(k=args.k, input_version=args.input_version, grid=_als_grid(args),
                                 models=(args.only,) if args.only else train.MODELS)
    result = train.run(build_spark(settings, "reelhouse-train"), settings, options)
    for line in train.summary(result):
        print(line)


def _maintain(settings: Settings, args: argparse.Namespace) -> None:
    from reelhouse import maintenance

    report = maintenance.run(settings, layers=tuple(args.layers), retention_hours=args.retention_hours,
                             force_retention=args.force_retention, dry_run=args.dry_run,
                             optimize=not args.no_optimize, vacuum=not args.no_vacuum)
    print(maintenance.report_json(report) if args.json else maintenance.format_report(report))
    if report.conflicts:
        sys.exit(f"reelhouse: error: another writer committed first on {', '.join(report.conflicts)}; "
                 "run `reelhouse maintain` again when it is done")


def _recommend(settings: Settings, args: argparse.Namespace) -> None:
    from ml.serving import recommend

    answer = recommend(settings, args.user, args.k, args.region, args.genre)
    print(f"{answer.user_id}: {answer.explanation} (model {answer.model_version})")
    for item in answer.items:
        label = f"{item.title} [{item.genre}]" if item.title else ""
        print(f"{item.rank:>3}  {item.video_id}  {item.score:10.4f}  {label}")


def _bench(settings: Settings, args: argparse.Namespace) -> None:
    output = args.output or Path("bench") / f"{args.layer}.json"
    if args.layer == "dashboard":
        from dashboard.bench import measure

        result = measure(settings.home)
    elif args.layer == "monitor":
        from reelhouse.bench_monitor import bench_monitor

        result = bench_monitor(settings)
    elif args.layer == "ml":
        from reelhouse.bench_ml import bench_ml

        result = bench_ml(settings, interactions=args.interactions)
    elif args.layer == "scale":
        from reelhouse.bench_scale import bench_scale

        result = bench_scale(settings, executors=args.executors, ingest_events=args.events,
                             dbt_events=args.dbt_events)
    elif args.layer == "dbt":
        from reelhouse.bench_dbt import bench_dbt

        result = bench_dbt(settings, sizes=args.sizes)
    else:
        from reelhouse.bench import bench_ingest

        result = bench_ingest(settings, events=args.events)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {output}")


def _demo(settings: Settings, args: argparse.Namespace) -> None:
    from reelhouse.demo import run_demo

    run_demo(settings, args.events)


COMMANDS = {
    "jars": _jars, "kafka": _kafka, "cluster": _cluster, "produce": _produce, "stream": _stream, "monitor": _monitor,
    "serve": _serve, "dashboard": _dashboard, "counts": _counts,
    "load-generated": _load_generated, "metastore": _metastore, "dbt": _dbt, "sql": _sql,
    "catalog": _catalog, "train": _train, "maintain": _maintain, "recommend": _recommend, "bench": _bench,
    "demo": _demo,
}


def _with_local_kafka_cluster(settings: Settings) -> Settings:
    """Without REELHOUSE_KAFKA_BROKERS, commands bootstrap from every broker `kafka start` started."""
    from reelhouse.kafka_cluster import recorded_brokers

    if settings.kafka_bootstrap or "REELHOUSE_KAFKA_BROKERS" in os.environ:
        return settings
    return settings.with_overrides(kafka_brokers=recorded_brokers(settings.kafka_dir, settings.kafka_port))


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as error:  # e.g. REELHOUSE_KAFKA_PORT=ninety
        sys.exit(f"reelhouse: error: a REELHOUSE_* environment variable is malformed: {error}")
    try:
        if args.command == "kafka" and args.port:
            settings = settings.with_overrides(kafka_port=args.port)
        settings = _with_local_kafka_cluster(settings)
        COMMANDS[args.command](settings, args)
    except ReelhouseError as error:
        sys.exit(f"reelhouse: error: {error}")
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:  # e.g. `reelhouse catalog | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


if __name__ == "__main__":
    main()
