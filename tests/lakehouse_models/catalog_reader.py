"""A stand-in for a SQL endpoint's users, run as its own process by test_concurrency.py.

It opens a session on the shared metastore and queries silver and gold by name, over and
over, until the file named on the command line appears; it prints one JSON line per
query: the count read, or the error.
"""

import json
import sys
import time
from pathlib import Path

from foundation.settings import Settings
from foundation.spark import build_spark

QUERIES = (
    "select count(*) from silver.stg_playback__events",
    "select count(*) from gold.fct_views",
    "select count(*) from gold.dim_videos where not is_in_catalog",
    "show tables in gold",
)


def main() -> None:
    stop_file = Path(sys.argv[1])
    spark = build_spark(Settings.from_env(), "catalog-reader", catalog=True)
    print(json.dumps({"ready": True}), flush=True)
    while not stop_file.exists():
        for query in QUERIES:
            try:
                rows = spark.sql(query).collect()
                print(json.dumps({"query": query, "rows": len(rows)}), flush=True)
            except Exception as error:  # noqa: BLE001 - every failure is the finding
                first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
                print(json.dumps({"query": query, "error": first_line}), flush=True)
        time.sleep(2)


if __name__ == "__main__":
    main()
