"""`reelhouse kafka|metastore|cluster|serve|dashboard`: the services, each started, stopped and
inspected the same way (`reelhouse/services/base.py`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from foundation.errors import ReelhouseError
from foundation.settings import Settings
from reelhouse.cli.arguments import host_names, key_value, memory, port, positive_float, positive_int
from reelhouse.services.base import Service

BACKGROUND = ("start", "stop", "status")


def register(commands) -> dict:
    kafka = commands.add_parser(
        "kafka", help="start, stop or inspect the local Kafka broker(s); make a cluster's secrets or the topic")
    kafka.add_argument("action", choices=(*BACKGROUND, "secrets", "topic"),
                       help="secrets: the password, CA and broker keystore of a sasl_ssl cluster (e.g. compose's); "
                            "topic: create $REELHOUSE_TOPIC when absent")
    kafka.add_argument("--brokers", type=positive_int,
                       help="KRaft nodes (default: as the cluster was started, else $REELHOUSE_KAFKA_BROKERS or 1)")
    kafka.add_argument("--port", type=port, help="first broker port (default $REELHOUSE_KAFKA_PORT or 9092)")
    kafka.add_argument("--names", type=host_names, default=[], metavar="HOST,...",
                       help="secrets: the names the brokers answer on, in their certificate (with localhost)")
    kafka.add_argument("--directory", type=Path,
                       help="secrets: where to make them (default <home>/_kafka/secrets)")
    kafka.add_argument("--replication-factor", type=positive_int,
                       help="topic: copies of each partition (default: up to 3, as the local cluster has brokers)")

    cluster = commands.add_parser("cluster", help="start, stop or inspect a local Spark standalone cluster")
    cluster.add_argument("action", choices=BACKGROUND)
    cluster.add_argument("--workers", type=positive_int, default=1, help="worker daemons (default 1)")
    cluster.add_argument("--cores", type=positive_int, default=2, help="cores each worker offers (default 2)")
    cluster.add_argument("--memory", type=memory, default="4g", help="memory each worker offers (default 4g)")
    cluster.add_argument("--host", default="127.0.0.1", help="interface of the master and workers")
    cluster.add_argument("--port", type=port, default=7077, help="master port (default 7077)")
    cluster.add_argument("--web-port", type=port, default=8080, help="master web UI port (default 8080)")

    serve = commands.add_parser("serve", help="the SQL endpoint for BI tools (Spark Thrift Server, HiveServer2)")
    serve.add_argument("action", nargs="?", default="run", choices=("run", *BACKGROUND),
                       help="run in the foreground (default), or start/stop/status in the background")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=port,
                       help="port (default 10000; stop and status without it act on every endpoint of the home)")
    serve.add_argument("--hiveconf", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="a HiveServer2 setting, e.g. hive.server2.authentication=LDAP (repeatable; no secrets)")
    serve.add_argument("--hiveconf-file", type=Path, metavar="FILE",
                       help="KEY=VALUE lines in a 0600 file: the settings that are secrets (keystore, LDAP passwords)")
    serve.add_argument("--writable", action="store_true",
                       help="allow writes and DDL (dbt's thrift target); the default is read-only for BI clients")

    dashboard = commands.add_parser("dashboard", help="the web dashboard over the gold tables (Streamlit)")
    dashboard.add_argument("action", nargs="?", default="run", choices=("run", *BACKGROUND),
                           help="run in the foreground (default), or start/stop/status in the background")
    dashboard.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    dashboard.add_argument("--port", type=port, default=8501, help="port (default 8501)")
    dashboard.add_argument("--refresh-seconds", type=positive_float, default=10.0,
                           help="how often the live page refreshes itself (default 10)")
    dashboard.add_argument("--trusted-network", action="store_true",
                           help="allow a non-loopback --host: the dashboard has no login, so only behind an "
                                "authenticating proxy or on a port published on loopback")

    metastore = commands.add_parser("metastore", help="start, stop or inspect the shared catalog (Hive metastore)")
    metastore.add_argument("action", choices=BACKGROUND)
    metastore.add_argument("--port", type=port, help="the database's port (default $REELHOUSE_METASTORE_PORT or 1527); "
                           "$REELHOUSE_METASTORE_DATABASE chooses derby or postgres")

    return {"kafka": _kafka, "cluster": _cluster, "serve": _serve, "dashboard": _dashboard, "metastore": _metastore}


def act(settings: Settings, action: str, name: str, service: Service) -> None:
    """start, stop or status of a background service, its lines printed; status exits 3 when it
    is not running. Starts and stops of one service in one home take turns (a lock file)."""
    from foundation import processes

    handler = {"start": service.start, "stop": service.stop, "status": service.status}[action]
    if action == "status":
        lines = handler()
    else:
        lock = settings.home / "_locks" / f"{name.replace(' ', '-')}.lock"
        with processes.exclusive(lock, f"start or stop of the {name}"):
            lines = handler()
    if lines is None:
        print(f"{name}: not running")
        sys.exit(3)
    for line in lines:
        print(line)


def _kafka(settings: Settings, args: argparse.Namespace) -> None:
    from reelhouse.services.kafka import ensure_topic, local_cluster
    from reelhouse.services.kafka_secrets import KafkaSecrets

    if args.action == "secrets":
        if not args.names:
            raise ReelhouseError("`kafka secrets` needs the brokers' names: --names HOST,...")
        secrets = KafkaSecrets.of(settings)
        if args.directory:
            user = settings.kafka_user
            secrets = KafkaSecrets(args.directory, user, args.directory / f"{user}.password", args.directory / "ca.pem")
        for line in secrets.ensure(args.names) or ["every secret already there"]:
            print(line)
        print(f"in {secrets.directory}: {', '.join(sorted(p.name for p in secrets.directory.iterdir()))}")
        return
    cluster = local_cluster(settings, args.brokers, topic=(settings.topic, settings.topic_partitions))
    if args.action == "topic":
        replicas = args.replication_factor or cluster.layout.replication_factor
        created = ensure_topic(settings.kafka, settings.topic, settings.topic_partitions, replicas)
        print(f"topic {settings.topic} {'created' if created else 'exists'} ({settings.topic_partitions} partitions); "
              f"bootstrap {settings.bootstrap_servers}")
        return
    act(settings, args.action, "kafka", cluster)


def _cluster(settings: Settings, args: argparse.Namespace) -> None:
    from reelhouse.services.spark_cluster import StandaloneCluster, StandaloneLayout

    directory = settings.home / "_spark"
    asked = StandaloneLayout(directory, host=args.host, port=args.port, web_port=args.web_port,
                             workers=args.workers, cores_per_worker=args.cores, memory_per_worker=args.memory)
    # stop and status find the cluster where it was started
    act(settings, args.action, "spark cluster",
        StandaloneCluster(asked if args.action == "start" else StandaloneLayout.recorded(directory) or asked))


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    from reelhouse.services.sql_endpoint import DEFAULT_PORT, SqlEndpoint, SqlEndpoints

    if args.action in ("stop", "status") and args.port is None:
        act(settings, args.action, "SQL endpoint", SqlEndpoints(settings))
        return
    endpoint = SqlEndpoint(settings, args.host, args.port or DEFAULT_PORT, dict(args.hiveconf), args.hiveconf_file,
                           args.writable)
    if args.action == "run":
        endpoint.run()
    else:
        act(settings, args.action, "SQL endpoint", endpoint)


def _dashboard(settings: Settings, args: argparse.Namespace) -> None:
    from reelhouse.services.dashboard import Dashboard

    dashboard = Dashboard(settings, args.host, args.port, args.refresh_seconds, args.trusted_network)
    if args.action == "run":
        sys.exit(dashboard.run())
    act(settings, args.action, "dashboard", dashboard)


def _metastore(settings: Settings, args: argparse.Namespace) -> None:
    from reelhouse.services.metastore import metastore_service

    act(settings, args.action, "metastore", metastore_service(settings, args.port))
