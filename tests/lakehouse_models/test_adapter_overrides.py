"""Our copies of dbt-spark macros (lakehouse_models/macros/adapter_overrides/) keep upstream's
behaviour where our additions do not apply.

A throw-away dbt project in tmp_path takes its macros from the repo's macro folder and runs with
the project's `local` profile (dbt-spark's session method) in a lakehouse SparkSession of its own,
in a subprocess (dbt sets session confs, which the tests' shared session must not get). The
session keeps its catalog in memory: the macros' SQL does not depend on the metastore, whose
start and first calls would add about 50 s.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

pytestmark = pytest.mark.integration

MACROS = Path(__file__).resolve().parents[2] / "lakehouse_models" / "macros"

PROJECT = """\
name: adapter_overrides_check
version: "1.0.0"
config-version: 2
profile: reelhouse
model-paths: ["models"]
macro-paths: ["{macros}"]
flags:
  send_anonymous_usage_stats: false
models:
  adapter_overrides_check:
    +schema: scratch
    +file_format: delta
    +location_root: "{{{{ env_var('REELHOUSE_HOME') }}}}/scratch"
"""

RUN_TWICE = """\
import os, sys
from dbt.cli.main import dbtRunner
from reelhouse.dbt_runner import PROFILES_DIR, dbt_environment
from foundation.settings import Settings
from foundation.spark import build_spark
settings = Settings.from_env()
os.environ.update(dbt_environment(settings))
build_spark(settings, "adapter-overrides")
for run in ("creates the table", "merges into it"):
    if not dbtRunner().invoke(["run", "--project-dir", sys.argv[1], "--profiles-dir", str(PROFILES_DIR)]).success:
        sys.exit(f"the dbt run that {run} failed")
"""

# no unique_key: dbt-spark merges `on <incremental_predicates> and FALSE`, so every row is inserted
APPENDED = """\
{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    incremental_predicates=['DBT_INTERNAL_DEST.id > 0'],
) }}
select id, 'same row every run' as label from values (1), (2) as source_rows(id)
"""


def test_merge_without_unique_key_appends_every_row_as_dbt_spark_does(tmp_path, settings, reelhouse_env):
    lakehouse = settings.with_overrides(home=tmp_path / "lakehouse")
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(PROJECT.format(macros=MACROS))
    (project / "models" / "appended.sql").write_text(APPENDED)

    result = subprocess.run([sys.executable, "-c", RUN_TWICE, str(project)], env=reelhouse_env(lakehouse),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]

    table = DeltaTable(str(lakehouse.home / "scratch" / "appended"))
    merge = table.history(1)[0]
    assert merge["operation"] == "MERGE"
    assert int(merge["operationMetrics"]["numTargetRowsInserted"]) == 2
    assert int(merge["operationMetrics"]["numTargetRowsUpdated"]) == 0
    rows = sorted((r["id"], r["label"]) for r in table.to_pyarrow_table().to_pylist())
    assert rows == [(1, "same row every run")] * 2 + [(2, "same row every run")] * 2  # each run's rows, twice

    # the incremental predicates and upstream's FALSE make up the whole merge condition
    merge_sql = lakehouse.home / "_dbt" / "target" / "run" / "adapter_overrides_check" / "models" / "appended.sql"
    condition = re.search(r"\bon\s+(.*?)\s+when\s", " ".join(merge_sql.read_text().split()), re.I)
    assert condition and condition.group(1) == "DBT_INTERNAL_DEST.id > 0 and FALSE", merge_sql.read_text()
