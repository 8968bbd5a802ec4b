"""The metastore kept in PostgreSQL (issue 17): Debian's server started by `reelhouse metastore`, even
as root; every login checked; its password in a 0600 file and on no command line; and the catalog
usable again after the database is killed (SIGKILL) during a `dbt build` and started again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from secrets_in_sight import command_lines_with, readable_files_with

from foundation.catalog import POSTGRES_DATABASE, POSTGRES_USER
from reelhouse.services.postgres_metastore import server_bin

pytestmark = pytest.mark.integration

SEED = "catalog_videos"


def _psql(settings, statement: str, password: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(server_bin() / "psql"), "-h", settings.metastore_host, "-p", str(settings.metastore_port),
         "-U", POSTGRES_USER, "-d", POSTGRES_DATABASE, "-tAc", statement],
        capture_output=True, text=True, env={**os.environ, "PGPASSWORD": password},
    )


def test_a_postgres_catalog_checks_logins_hides_its_password_and_survives_a_kill_during_a_dbt_build(
    lakehouse_with_catalog, reelhouse_cli, reelhouse_env, tmp_path
):
    settings = lakehouse_with_catalog("postgres-catalog", database="postgres")
    password_file = settings.metastore_password_path
    assert password_file.stat().st_mode & 0o777 == 0o600
    password = password_file.read_text().strip()
    refused = _psql(settings, "select 1", "not-the-password")
    assert refused.returncode != 0 and "password authentication failed" in refused.stderr

    # a build of the seed in its own JVM; SIGKILL the database once the build holds catalog connections
    log = tmp_path / "build.log"
    with log.open("w") as out:
        build = subprocess.Popen([sys.executable, "-m", "reelhouse.cli", "dbt", "build", "--select", SEED],
                                 env=reelhouse_env(settings), stdout=out, stderr=subprocess.STDOUT)
    others = "select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
    deadline = time.monotonic() + 300
    while _psql(settings, others, password).stdout.strip() in ("", "0"):
        assert build.poll() is None, log.read_text()[-2000:]
        assert time.monotonic() < deadline, "the build never connected to the catalog"
        time.sleep(0.2)
    assert command_lines_with(password) == []  # the build's JVM got it inside, not on its command line
    server_pid = int((settings.metastore_dir / "postgres.pid").read_text().split()[0])
    os.kill(server_pid, signal.SIGKILL)
    build.wait(timeout=600)

    restarted = reelhouse_cli(settings, "metastore", "start")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "metastore started" in restarted.stdout and "schema created" not in restarted.stdout
    again = reelhouse_cli(settings, "dbt", "build", "--select", SEED)
    assert again.returncode == 0, again.stdout[-3000:]
    # the build's data tests read the seed by name; the catalog's own tables name it once
    named = _psql(settings, 'select d."NAME" || \'.\' || t."TBL_NAME" from "TBLS" t join "DBS" d using ("DB_ID")',
                  password)
    assert named.stdout.split() == [f"bronze.{SEED}"], named.stdout + named.stderr

    # nothing others can read under the home holds the password
    assert readable_files_with(settings.home, password) == []
