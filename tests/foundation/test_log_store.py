"""Delta commits on local paths are atomic across processes: one winner per version, never two."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from foundation import jars

pytestmark = pytest.mark.integration

RACE = Path(__file__).parent / "jvm" / "LogStoreRace.java"
VERSIONS = 1_000


def test_sessions_commit_to_local_tables_through_the_atomic_log_store(spark, tmp_path):
    jvm = spark.sparkContext._jvm
    table = str(tmp_path / "any")
    log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, table)
    chosen = log.store().getDelegate(log.logPath()).logStoreImpl().getClass().getName()  # the path as commits name it
    assert chosen == jars.ATOMIC_LOG_STORE


def test_delta_writes_checkpoints_under_a_temporary_name_that_readers_never_list_half_written(spark, tmp_path):
    """A store that says partial writes are invisible gets its checkpoints written in place: a
    delta-rs reader listing the log met a half-written one ("Corrupt footer")."""
    jvm = spark.sparkContext._jvm
    log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, str(tmp_path / "any"))
    hadoop_conf = spark._jsparkSession.sessionState().newHadoopConf()
    assert log.store().isPartialWriteVisible(log.logPath(), hadoop_conf)


def test_two_processes_committing_the_same_versions_at_once_never_both_win(settings, tmp_path, fault_tally):
    table = tmp_path / "raced"
    classpath = os.pathsep.join([f"{jars.pyspark_jars_dir()}/*", *map(str, jars.spark_extra_jars(settings.jars_cache)),
                                 str(jars.own_classes_jar(settings.jars_cache))])
    start_millis = int(time.time() * 1000) + 15_000  # both JVMs compiled and warm before the first version
    racers = {
        writer: subprocess.Popen(
            ["java", "-cp", classpath, str(RACE), jars.ATOMIC_LOG_STORE, str(table), writer, str(VERSIONS),
             str(start_millis)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for writer in ("a", "b")
    }
    won = {}
    for writer, racer in racers.items():
        stdout, stderr = racer.communicate(timeout=300)
        assert racer.returncode == 0, stderr[-2000:]  # 3: it was not ready when the race began
        won[writer] = {int(version) for version in stdout.split()}

    # a version both processes won is a commit one of them overwrote: a duplicate claim, a lost commit
    assert fault_tally("two processes committing the same Delta versions at the same instants (commits)",
                       [*won["a"], *won["b"]], range(VERSIONS)).clean == (0, 0, 0)
    assert not won["a"] & won["b"], "versions committed by both processes: one overwrote the other"
    assert won["a"] | won["b"] == set(range(VERSIONS))
    for writer, versions in won.items():
        for version in versions:
            text = (table / "_delta_log" / f"{version:020d}.json").read_text()
            assert text == f'{{"commitInfo":{{"writer":"{writer}"}}}}\n'  # the winner's commit, whole
    assert not [p.name for p in (table / "_delta_log").iterdir() if p.name.endswith(".tmp")]


def test_a_commit_written_while_its_thread_is_interrupted_is_still_published(spark, tmp_path):
    """Stopping a query interrupts its thread, perhaps mid-commit: a FileChannel would close itself
    and fail the commit (ClosedChannelException); the commit must land and the flag stay for Spark."""
    jvm = spark.sparkContext._jvm
    hadoop_conf = spark._jsparkSession.sessionState().newHadoopConf()
    store = jvm.io.reelhouse.delta.AtomicCreateLogStore(hadoop_conf)
    actions = jvm.java.util.ArrayList()
    for line in ('{"commitInfo":{"writer":"interrupted"}}', '{"add":{"path":"part-0"}}'):
        actions.add(line)
    (tmp_path / "_delta_log").mkdir()
    commit = tmp_path / "_delta_log" / f"{0:020d}.json"
    thread = jvm.java.lang.Thread
    thread.currentThread().interrupt()  # py4j runs this Python thread's calls on one JVM thread
    try:
        store.write(jvm.org.apache.hadoop.fs.Path(commit.as_uri()), actions.iterator(), False, hadoop_conf)
        assert thread.currentThread().isInterrupted()  # left for Spark to act on
    finally:
        thread.interrupted()  # clears the flag
    assert commit.read_text() == '{"commitInfo":{"writer":"interrupted"}}\n{"add":{"path":"part-0"}}\n'
    assert [p.name for p in commit.parent.iterdir()] == [commit.name]  # no temporary left
