"""`reelhouse dbt ...`: dbt (dbt-spark, `method: session`) inside a lakehouse SparkSession.

dbt-spark's session method takes the process's active SparkSession, so building it here
first gives dbt the Delta extensions, the Maven-resolved jars and the shared metastore.
Before dbt starts, the bronze tables are named in the catalog (dbt reads them as sources).
With `--target thrift`, dbt sends its SQL to `reelhouse serve` instead, which named the
tables when it started; no Spark runs in this process then.
"""

from __future__ import annotations

import os
from pathlib import Path

from foundation.catalog import register_in_catalog
from foundation.errors import ReelhouseError
from foundation.settings import Settings
from foundation.spark import build_spark
from ingestion.tables import source_tables

PROJECT_DIR = Path(__file__).resolve().parents[1]
PROFILES_DIR = PROJECT_DIR / "profiles"


def seed_tables(project_dir: Path = PROJECT_DIR) -> frozenset[tuple[str, str]]:
    """(layer, table) of every dbt seed, as `dbt_project.yml` places them: its `seed-paths`, and the
    `+schema` (the layer) of the project's seeds. A `dbt build` replaces each whole."""
    import yaml

    project = yaml.safe_load((project_dir / "dbt_project.yml").read_text())
    schema = ((project.get("seeds") or {}).get(project["name"]) or {}).get("+schema", "default")
    return frozenset((schema, csv.stem) for folder in project.get("seed-paths", ["seeds"])
                     for csv in (project_dir / folder).glob("*.csv"))


def dbt_environment(settings: Settings) -> dict[str, str]:
    """What `dbt_project.yml` and `profiles.yml` read with `env_var`."""
    return {
        "REELHOUSE_HOME": str(settings.home),
        "DBT_TARGET_PATH": str(settings.home / "_dbt" / "target"),
        "DBT_LOG_PATH": str(settings.home / "_dbt" / "logs"),
    }


def _target(arguments: list[str]) -> str | None:
    for flag in ("--target", "-t"):
        if flag in arguments[:-1]:
            return arguments[arguments.index(flag) + 1]
    return os.environ.get("DBT_TARGET")


def run_dbt(settings: Settings, arguments: list[str]) -> bool:
    """Run one dbt command (e.g. `["build"]`) against the lakehouse; True when it succeeded."""
    if not (PROJECT_DIR / "dbt_project.yml").exists():
        raise ReelhouseError(f"no dbt_project.yml in {PROJECT_DIR}; run reelhouse from its source tree")
    os.environ.update(dbt_environment(settings))  # the settings decide the home and dbt's folders
    if not (_target(arguments) or "").startswith("thrift"):
        spark = build_spark(settings, "reelhouse-dbt", catalog=True)
        register_in_catalog(spark, source_tables(settings))

    from dbt.cli.main import dbtRunner

    extra = []
    if "--project-dir" not in arguments:
        extra += ["--project-dir", str(PROJECT_DIR)]
    if "--profiles-dir" not in arguments:
        extra += ["--profiles-dir", str(PROFILES_DIR)]
    result = dbtRunner().invoke([*arguments, *extra])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise ReelhouseError(f"dbt failed: {result.exception}")
    return bool(result.success)
