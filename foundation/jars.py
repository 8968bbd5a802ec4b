"""Resolve JVM jars with Maven from the pom files in `foundation/poms/`, cached by pom content.

Maven (not Spark's Ivy `--packages`) does the download, so the machine's Maven settings
(mirrors, proxies, offline repository) apply. Spark never reaches the network at start-up.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import zipfile
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


def checksums_path(bundle: str) -> Path:
    return POM_DIR / f"{bundle}.sha256"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pinned_checksums(bundle: str) -> dict[str, str]:
    """jar file name -> sha256, as kept in the repository (`scripts/pin_jars.py` writes them)."""
    path = checksums_path(bundle)
    if not path.exists():
        return {}
    return {name: digest for digest, name in (line.split() for line in path.read_text().splitlines() if line.strip())}


def verify_checksums(bundle: str, directory: Path) -> None:
    """Every jar Maven fetched is the one pinned in `foundation/poms/<bundle>.sha256`."""
    pinned = pinned_checksums(bundle)
    for jar in sorted(directory.glob("*.jar")):
        expected = pinned.get(jar.name)
        if expected is None:
            raise ReelhouseError(f"{jar.name} of the {bundle} jars has no pinned checksum in "
                                 f"{checksums_path(bundle)}: check it, then `python scripts/pin_jars.py`")
        if sha256_of(jar) != expected:
            raise ReelhouseError(f"{jar.name} of the {bundle} jars does not match its pinned checksum: "
                                 "refusing a jar that may have been tampered with")


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


def resolve(bundle: str, cache: Path, verify: bool = True) -> list[Path]:
    """The jars of `bundle`, downloading them with Maven on first use and checking each against
    its pinned checksum (`verify=False` only for `scripts/pin_jars.py`, which writes them)."""
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
        if verify:
            verify_checksums(bundle, partial)
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


JVM_SOURCES = Path(__file__).parent / "jvm"
READ_ONLY_EXTENSION = "io.reelhouse.sql.ReadOnlyExtension"
ATOMIC_LOG_STORE = "io.reelhouse.delta.AtomicCreateLogStore"
ATOMIC_CHECKPOINT_FILE_MANAGER = "io.reelhouse.streaming.AtomicLocalCheckpointFileManager"


def own_classes_jar(cache: Path) -> Path:
    """Our own JVM classes (the SQL endpoint's read-only mode, the cross-process log store and
    checkpoint files, the idempotent Delta append),
    compiled with javac against pyspark's and Delta's jars on first use, cached by source content.
    Processes that start at once may compile side by side: each in its own folder, the first
    finished jar stays."""
    sources = sorted(JVM_SOURCES.rglob("*.java"))
    digest = hashlib.sha256(b"".join(s.read_bytes() for s in sources)).hexdigest()[:12]
    jar = cache / f"reelhouse-jvm-{digest}.jar"
    if jar.exists():
        return jar
    cache.mkdir(parents=True, exist_ok=True)
    classpath = os.pathsep.join([f"{pyspark_jars_dir()}/*", *map(str, spark_extra_jars(cache))])
    javac = require_tool("javac", "install a Java 17 JDK (e.g. `apt-get install openjdk-17-jdk-headless`)")
    classes = cache / f"reelhouse-jvm-{digest}.classes-{os.getpid()}"
    shutil.rmtree(classes, ignore_errors=True)
    result = subprocess.run([javac, "-Xlint:none", "-d", str(classes), "-cp", classpath, *map(str, sources)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise ReelhouseError(f"javac could not compile {JVM_SOURCES}: {(result.stderr or result.stdout)[:400]}")
    partial = jar.with_suffix(f".partial-{os.getpid()}")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(classes.rglob("*.class")):
            archive.write(path, path.relative_to(classes).as_posix())
    shutil.rmtree(classes)
    partial.replace(jar)  # atomic: a reader sees no jar or a whole one
    return jar
