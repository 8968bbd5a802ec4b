"""Stand-ins for the project's run-time macros when sqlfluff renders a model without a warehouse.

They answer as on a full build (no watermark yet), so the linted SQL is the full-build SQL.
"""

import datetime

run_started_at = datetime.datetime(2025, 5, 14, tzinfo=datetime.UTC)


def incremental_watermark(column):
    return None


def changed_partitions(relation, partition_column, loaded_at_column):
    return None


def incremental_max(column):
    return None


def delta_version(relation):
    return 0


def rows_inserted_between(relation, version_after, version_through):
    return f"select * from {relation}"


def rows_on_changed_dates(relation):
    return f"select * from {relation}"


def var(name, default=None):
    """dbt_project.yml's vars (sqlfluff's own context holds only strings)."""
    import pathlib

    import yaml

    project = pathlib.Path(__file__).resolve().parents[2] / "dbt_project.yml"
    return yaml.safe_load(project.read_text())["vars"].get(name, default)
