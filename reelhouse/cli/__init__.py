"""`reelhouse`: the one command line of the project. `reelhouse --help` lists the subcommands.

Each area (`services`, `pipeline`, `models`, `learning`, `operations`) registers its
subcommands and holds thin handlers; the work lives in the layers below. Settings are read
from the environment once, here, and passed inward. A wrong argument or a problem the user can
fix ends in one line on stderr, not a traceback. Spark, Delta, Hive and Kafka logs go to
files under `<home>/_logs/` (`--verbose`: also to the terminal).
"""

from __future__ import annotations

import argparse
import os
import sys

from foundation import logs
from foundation.errors import ReelhouseError
from foundation.settings import Settings
from reelhouse.cli import learning, models, operations, pipeline, services
from reelhouse.cli.arguments import Parser

AREAS = (services, pipeline, models, learning, operations)


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    """The parser, and each subcommand's handler by name."""
    parser = Parser(prog="reelhouse", description="reelhouse: a lakehouse for video-streaming analytics",
                    epilog="Spark, Delta, Hive and Kafka logs go to <home>/_logs/.")
    parser.add_argument("--verbose", action="store_true",
                        help="also show Spark, Delta, Hive and Kafka logs on the terminal")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    handlers = {}
    for area in AREAS:
        handlers.update(area.register(commands))
    for command in commands.choices.values():  # `reelhouse demo --verbose` works too
        command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser, handlers


def _with_local_kafka_cluster(settings: Settings) -> Settings:
    """Without REELHOUSE_KAFKA_BROKERS, commands bootstrap from every broker `kafka start` started."""
    from reelhouse.services.kafka import recorded_brokers

    if settings.kafka_bootstrap or "REELHOUSE_KAFKA_BROKERS" in os.environ:
        return settings
    return settings.with_overrides(kafka_brokers=recorded_brokers(settings.kafka_dir, settings.kafka_port))


def main(argv: list[str] | None = None) -> None:
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as error:  # e.g. REELHOUSE_KAFKA_PORT=ninety, named in the message
        sys.exit(f"reelhouse: error: {error}")
    try:
        if args.verbose:
            settings = settings.with_overrides(verbose=True)
        if args.command == "kafka" and args.port:
            settings = settings.with_overrides(kafka_port=args.port)
        settings = _with_local_kafka_cluster(settings)
        logs.route_python_logs(settings.logs_dir, settings.verbose)
        handlers[args.command](settings, args)
    except ReelhouseError as error:
        sys.exit(f"reelhouse: error: {error}")
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:  # e.g. `reelhouse catalog | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
