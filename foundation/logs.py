"""Where logs go: a command prints progress and results; Spark, Delta, Hive and Kafka log to
files under `<home>/_logs/`, and also to the terminal with `--verbose`."""

from __future__ import annotations

import logging
import re
from pathlib import Path

# Python libraries whose records are logs, not results (kafka-python, py4j, Spark's Python side)
LIBRARY_LOGGERS = ("kafka", "py4j", "pyspark", "urllib3")

_CONSOLE_APPENDER = """\
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
rootLogger.appenderRef.console.ref = console
"""


def log_file(logs_dir: Path, name: str) -> Path:
    """`<logs_dir>/<name>.log`, the folder created; `name` made safe for a file name."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    return logs_dir / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.log"


def log4j2_config(logs_dir: Path, name: str, verbose: bool) -> Path:
    """A log4j2 configuration that appends the JVM's logs to `<logs_dir>/<name>.log` (and
    stderr when `verbose`); its path goes in `-Dlog4j2.configurationFile`."""
    target = log_file(logs_dir, name)
    config = target.with_suffix(".log4j2.properties")
    config.write_text(
        "status = error\n"
        "appender.file.type = File\n"
        "appender.file.name = file\n"
        f"appender.file.fileName = {target}\n"
        "appender.file.append = true\n"
        "appender.file.layout.type = PatternLayout\n"
        "appender.file.layout.pattern = %d{yyyy-MM-dd HH:mm:ss} %p %c{1}: %m%n%ex\n"
        "rootLogger.level = warn\n"
        "rootLogger.appenderRef.file.ref = file\n"
        # Parquet and Hive's client print harmless warnings on every table they touch
        "logger.parquet.name = org.apache.parquet\n"
        "logger.parquet.level = error\n"
        + (_CONSOLE_APPENDER if verbose else "")
    )
    return config


class _LazyFileHandler(logging.FileHandler):
    """Creates its folder and file at the first record: a command that logs nothing leaves none."""

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def route_python_logs(logs_dir: Path, verbose: bool) -> Path:
    """Send the Python libraries' log records to `<logs_dir>/reelhouse.log` (and stderr when
    `verbose`) instead of Python's last-resort handler, which prints warnings on the terminal."""
    target = logs_dir / "reelhouse.log"
    handlers: list[logging.Handler] = [_LazyFileHandler(target, delay=True)]
    if verbose:
        handlers.append(logging.StreamHandler())
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in handlers:
        handler.setFormatter(formatter)
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.handlers[:] = handlers
        library.propagate = False
        library.setLevel(logging.INFO if verbose else logging.WARNING)
    return target
