"""`reelhouse dbt|sql`: the dbt project on the lakehouse, and one SQL statement on its catalog."""

from __future__ import annotations

import argparse
import sys

from foundation.errors import ReelhouseError
from foundation.settings import Settings
from reelhouse.cli.arguments import positive_int


def register(commands) -> dict:
    dbt = commands.add_parser("dbt", help="run a dbt command on the lakehouse, e.g. `reelhouse dbt build`")
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER, metavar="DBT_ARGS")

    sql = commands.add_parser("sql", help="run one SQL statement on the lakehouse catalog and print the rows")
    sql.add_argument("statement")
    sql.add_argument("--limit", type=positive_int, default=50, help="rows to print (default 50)")
    return {"dbt": _dbt, "sql": _sql}


def _dbt(settings: Settings, args: argparse.Namespace) -> None:
    from reelhouse.dbt_runner import run_dbt

    if not args.dbt_args:
        raise ReelhouseError("name a dbt command, e.g. `reelhouse dbt build`")
    if not run_dbt(settings, args.dbt_args):
        sys.exit(1)


def _sql(settings: Settings, args: argparse.Namespace) -> None:
    from foundation.catalog import register_in_catalog, run_statement
    from foundation.spark import build_spark
    from ingestion.tables import source_tables
    from ml.io import output_tables

    spark = build_spark(settings, "reelhouse-sql", catalog=True)
    register_in_catalog(spark, {**source_tables(settings), **output_tables(settings)})
    header, rows = run_statement(spark, args.statement, args.limit)
    print("\t".join(header))
    for row in rows:
        print("\t".join(row))
