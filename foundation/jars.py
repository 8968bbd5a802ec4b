"""Resolve JVM jars with Maven from the pom files in `foundation/poms/`, cached by pom content.

Maven (not Spark's Ivy `--packages`) does the download, so the machine's Maven settings
(mirrors, proxies, offline repository) apply. Spark never reaches the network at start-up.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

from foundation.errors import ReelhouseError

POM_DIR = Path(__file__).parent / "poms"
BUNDLES = ("spark", "kafka", "metastore")


def pyspark_home() -> Path:
    """Where pyspark is installed: its `jars/` and `bin/spark-class` are Spark's own."""
    import pyspark

    return Path(pyspark.__file__).parent


def pyspark_jars_dir() -> Path:
    return pyspark_home() / "jars"


def pom_path(bundle: str) -> Path:
    if bundle not in BUNDLES:
        raise ReelhouseError(f"unknown jar bundle {bundle!r}; expected one of {', '.join(BUNDLES)}")
    return POM_DIR / f"{bundle}-pom.xml"


def require_tool(name: str, hint: str) -> str:
    found = shutil.which(name)
    if not found:
        raise ReelhouseError(f"{name} not found on PATH; {hint}")
    return found


def _bundle_dir(cache: Path, bundle: str) -> Path:
    digest = hashlib.sha256(pom_path(bundle).read_bytes()).hexdigest()[:12]
    return cache / f"{bundle}-{digest}"


def artifact_name(jar: Path) -> str:
    """`jackson-core-2.13.5.jar` -> `jackson-core`: the name without its version."""
    parts = jar.stem.split("-")
    for i, part in enumerate(parts):
        if part[:1].isdigit():
            return "-".join(parts[:i])
    return jar.stem


def resolve(bundle: str, cache: Path) -> list[Path]:
    """The jars of `bundle`, downloading them with Maven on first use."""
    target = _bundle_dir(cache, bundle)
    done = target / ".complete"
    if not done.exists():
        mvn = require_tool("mvn", "install Maven (e.g. `apt-get install maven`) to fetch jars")
        require_tool("java", "install Java 17 (e.g. `apt-get install openjdk-17-jdk-headless`)")
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        command = [
            mvn, "-q", "-B", "-f", str(pom_path(bundle)),
            "dependency:copy-dependencies", "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            errors = [line for line in (result.stdout + result.stderr).splitlines() if "[ERROR]" in line]
            first = re.sub(r"\x1b\[[0-9;]*m", "", errors[0] if errors else "no output").replace("[ERROR] ", "")
            raise ReelhouseError(f"Maven could not resolve the {bundle} jars: {first[:400]}")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
        done.touch()
    return sorted(target.glob("*.jar"))


def spark_extra_jars(cache: Path) -> list[Path]:
    """Delta and Kafka-source jars, minus every artifact pyspark already ships.

    Maven also lists Spark's own dependencies (Jackson, Parquet, Scala...) at other
    versions; putting those on the class path next to pyspark's would break Spark.
    """
    shipped = {artifact_name(jar) for jar in pyspark_jars_dir().glob("*.jar")}
    return [jar for jar in resolve("spark", cache) if artifact_name(jar) not in shipped]
