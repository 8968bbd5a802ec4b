"""Stand-ins for the project's run-time macros when sqlfluff renders a model without a warehouse.

They answer as on a full build (no watermark yet), so the linted SQL is the full-build SQL.
"""

import datetime

run_started_at = datetime.datetime(2025, 5, 14, tzinfo=datetime.UTC)


def incremental_watermark(column):
    return None


def changed_partitions(relation, partition_column, loaded_at_column):
    return None


def newest_value(relation, column):
    return "timestamp'2025-05-14 00:00:00'"


def rows_on_changed_dates(relation):
    return f"select * from {relation}"
