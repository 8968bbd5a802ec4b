"""A class-data-sharing archive of the classes a Spark driver loads (the JDK's dynamic AppCDS).

A driver JVM that maps it starts with Spark's and Delta's classes already parsed and verified
instead of reading them from ~300 jars: a small command starts 5-10 s sooner on the 2-core
machine (`reelhouse bench spark-start` compares the two). `reelhouse jars` records it
once from a short training session. It is keyed by the Java runtime and every jar the driver
loads from, so an upgraded JDK or jar gets no stale archive; the JVM checks the archive again on
its own (`-Xshare:auto`) and runs without it when it does not match.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path


def java_runtime() -> Path | None:
    """The `java` pyspark's launcher runs: `$JAVA_HOME/bin/java`, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    found = Path(home) / "bin" / "java" if home else shutil.which("java")
    return Path(found).resolve() if found and Path(found).exists() else None


def archive_path(cache: Path, class_path: Iterable[Path], jvm_jars: Iterable[Path]) -> Path | None:
    """`<cache>/class-archives/spark-<key>.jsa`, the key naming the Java runtime, the driver's
    own class path entries in order (the JVM maps an archive only under the class path it was
    recorded with) and each jar the driver loads classes from (name, size, time); None without
    a Java runtime."""
    java = java_runtime()
    if java is None:
        return None
    digest = hashlib.sha256()
    for path in [java, *class_path, *sorted(jvm_jars)]:
        try:
            stat = path.stat()
        except OSError:  # an entry that is not there: the JVM would not match the archive either
            return None
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return cache / "class-archives" / f"spark-{digest.hexdigest()[:16]}.jsa"


def sharing_option(archive: Path | None) -> str:
    """The JVM option that maps `archive` when it was recorded (else nothing)."""
    if archive is None or not archive.is_file():
        return ""
    return f"-XX:SharedArchiveFile={archive} -Xshare:auto"


def recording_option(partial: Path) -> str:
    """The JVM option that writes the classes it loaded to `partial` when it exits."""
    return f"-XX:ArchiveClassesAtExit={partial}"
