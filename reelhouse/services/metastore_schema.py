"""The Hive metastore's tables, created once, all together, by DataNucleus' SchemaTool from the
`package.jdo` in pyspark's hive-metastore jar, whichever database keeps them (Derby, PostgreSQL):
left to Spark, each process would create tables lazily on first use, and two processes doing so at
once wait on each other's locks."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

from foundation import jars, processes
from foundation.errors import ReelhouseError
from foundation.secret_files import write_private_text


def create_schema(directory: Path, jars_cache: Path, connection: dict[str, str]) -> None:
    """Create every metastore table in the database that `connection` (javax.jdo.option.* settings)
    reaches. Their properties file may hold a password: 0600, and removed once SchemaTool ran."""
    props = directory / "schematool.properties"
    jdo = directory / "package.jdo"
    hive_jar = next(jars.pyspark_jars_dir().glob("hive-metastore-*.jar"))
    with zipfile.ZipFile(hive_jar) as jar:
        jdo.write_bytes(jar.read("package.jdo"))
    settings = {
        **{f"javax.jdo.option.{key}": value for key, value in connection.items()},
        "datanucleus.schema.autoCreateAll": "true",
        # the identifier and value-generation rules Hive's metastore uses
        "datanucleus.identifierFactory": "datanucleus1",
        "datanucleus.rdbms.useLegacyNativeValueStrategy": "true",
    }
    write_private_text(props, "".join(f"{key}={value}\n" for key, value in settings.items()))
    metastore_jars = jars.resolve("metastore", jars_cache)[0].parent
    try:
        result = subprocess.run(
            [*processes.java_command(f"{jars.pyspark_jars_dir()}/*:{metastore_jars}/*", 512),
             "org.datanucleus.store.schema.SchemaTool", "-create", "-api", "JDO", "-props", str(props), str(jdo)],
            capture_output=True, text=True,
        )
    finally:
        props.unlink(missing_ok=True)
    if result.returncode != 0 or "completed successfully" not in result.stdout:
        detail = " / ".join((result.stdout + result.stderr).strip().splitlines()[-3:]) or "no output"
        raise ReelhouseError(f"creating the metastore schema failed: {detail}")
