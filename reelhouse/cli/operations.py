"""`reelhouse jars|maintain|bench|demo`: the jars, Delta table care, the benchmarks and the demo."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from foundation.errors import ReelhouseError
from foundation.settings import Settings
from reelhouse.cli.arguments import layers, non_negative_float, positive_int, sizes

BENCHMARKS = ("ingest", "dbt", "ml", "recommend", "recommend-live", "monitor", "dashboard", "scale", "spark-start")


def register(commands) -> dict:
    commands.add_parser("jars", help="resolve the Spark and Kafka jars with Maven (cached)")

    maintain = commands.add_parser(
        "maintain", help="compact (OPTIMIZE, Z-order) and VACUUM the Delta tables, with a before/after report")
    maintain.add_argument("--layers", type=layers, default=["bronze", "gold"],
                          help="comma-separated layers (default bronze,gold; also silver, ops)")
    maintain.add_argument("--retention-hours", type=non_negative_float,
                          help="VACUUM files removed longer ago than this (default: each table's own, 168 h)")
    maintain.add_argument("--force-retention", action="store_true",
                          help="allow a retention below 168 h (breaks time travel and lagging readers)")
    maintain.add_argument("--dry-run", action="store_true", help="change nothing: show the plan and what VACUUM "
                                                                 "would delete")
    maintain.add_argument("--no-optimize", action="store_true", help="VACUUM only")
    maintain.add_argument("--no-vacuum", action="store_true", help="OPTIMIZE only")
    maintain.add_argument("--json", action="store_true", help="the report as JSON")

    bench = commands.add_parser("bench", help="measure a layer and write JSON")
    bench.add_argument("layer", choices=BENCHMARKS)
    bench.add_argument("--interactions", type=Path,
                       help="ml, recommend: also an interactions file (e.g. MovieLens 100k)")
    bench.add_argument("--output", type=Path, help="JSON file (default bench/<layer>.json)")
    bench.add_argument("--events", type=positive_int, default=600_000,
                       help="ingest, scale: events for the throughput run")
    bench.add_argument("--sizes", type=sizes, default=[1_000_000, 10_000_000],
                       help="dbt: comma-separated bronze sizes (default 1000000,10000000)")
    bench.add_argument("--executors", type=sizes, default=[1, 2, 4],
                       help="scale: comma-separated executor cores to run with (default 1,2,4)")
    bench.add_argument("--dbt-events", type=positive_int, default=1_000_000,
                       help="scale: bronze events dbt builds from (default 1000000)")

    demo = commands.add_parser("demo", help="run the pipeline end to end on the embedded default")
    demo.add_argument("--events", type=positive_int, default=200_000)
    return {"jars": _jars, "maintain": _maintain, "bench": _bench, "demo": _demo}


def _jars(settings: Settings, args: argparse.Namespace) -> None:
    from foundation import jars
    from foundation.spark import record_class_archives

    print(f"spark: {len(jars.spark_extra_jars(settings.jars_cache))} jars")
    print(f"kafka: {len(jars.resolve('kafka', settings.jars_cache))} jars")
    print(f"metastore: {len(jars.resolve('metastore', settings.jars_cache))} jars")
    print(f"own classes: {jars.own_classes_jar(settings.jars_cache).name}")
    print("class archives of the Spark drivers (each recorded once, in about 45 s) ...", flush=True)
    try:
        archives = record_class_archives(settings)
    except ReelhouseError as error:  # a start-up saving: Spark runs without it, only slower to start
        print(f"reelhouse: warning: {error}; Spark starts without a class archive", file=sys.stderr)
    else:
        print(f"class archives: {len(archives)} in {archives[0].parent if archives else 'none (no java found)'}")
    print(f"cache: {settings.jars_cache}")


def _maintain(settings: Settings, args: argparse.Namespace) -> None:
    from reelhouse.maintenance import job as maintenance

    report = maintenance.run(settings, layers=tuple(args.layers), retention_hours=args.retention_hours,
                             force_retention=args.force_retention, dry_run=args.dry_run,
                             optimize=not args.no_optimize, vacuum=not args.no_vacuum)
    print(maintenance.report_json(report) if args.json else maintenance.format_report(report))
    if report.conflicts:
        sys.exit(f"reelhouse: error: another writer committed first on {', '.join(report.conflicts)}; "
                 "run `reelhouse maintain` again when it is done")


def _bench(settings: Settings, args: argparse.Namespace) -> None:
    output = args.output or Path("bench") / f"{args.layer}.json"
    if args.layer == "dashboard":
        from reelhouse.bench.dashboard import measure

        result = measure(settings.home)
    elif args.layer == "monitor":
        from reelhouse.bench.monitor import bench_monitor

        result = bench_monitor(settings)
    elif args.layer == "ml":
        from reelhouse.bench.ml import bench_ml

        result = bench_ml(settings, interactions=args.interactions)
    elif args.layer == "recommend":
        from reelhouse.bench.recommend import bench_recommend

        result = bench_recommend(settings, interactions=args.interactions)
    elif args.layer == "recommend-live":
        from reelhouse.bench.recommend_live import bench_recommend_live

        result = bench_recommend_live(settings)
    elif args.layer == "scale":
        from reelhouse.bench.scale import bench_scale

        result = bench_scale(settings, executors=args.executors, ingest_events=args.events,
                             dbt_events=args.dbt_events)
    elif args.layer == "spark-start":
        from reelhouse.bench.spark_start import bench_spark_start

        result = bench_spark_start(settings)
    elif args.layer == "dbt":
        from reelhouse.bench.dbt import bench_dbt

        result = bench_dbt(settings, sizes=args.sizes)
    else:
        from reelhouse.bench.ingest import bench_ingest

        result = bench_ingest(settings, events=args.events)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {output}")


def _demo(settings: Settings, args: argparse.Namespace) -> None:
    from reelhouse.demo import run_demo

    run_demo(settings, args.events)
