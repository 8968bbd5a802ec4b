"""A stream's checkpoint files on local paths: published atomically, never over another's file."""

from __future__ import annotations

import pytest
from py4j.protocol import Py4JJavaError

from foundation import jars

pytestmark = pytest.mark.integration


def _manager(spark, directory):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(str(directory))
    hadoop_conf = spark._jsparkSession.sessionState().newHadoopConf()
    checkpointing = jvm.org.apache.spark.sql.execution.streaming.checkpointing
    return checkpointing.CheckpointFileManager.create(path, hadoop_conf), jvm


def _publish(manager, jvm, file, text: str, overwrite: bool) -> None:
    stream = manager.createAtomic(jvm.org.apache.hadoop.fs.Path(str(file)), overwrite)
    stream.write(bytearray(text.encode()))
    stream.close()


def test_the_sessions_streams_publish_checkpoint_files_through_ours(spark, tmp_path):
    manager, _ = _manager(spark, tmp_path)
    assert manager.getClass().getName() == jars.ATOMIC_CHECKPOINT_FILE_MANAGER


def test_a_checkpoint_file_is_never_published_over_an_existing_one(spark, tmp_path):
    manager, jvm = _manager(spark, tmp_path)
    _publish(manager, jvm, tmp_path / "0", "first", overwrite=False)
    with pytest.raises(Py4JJavaError, match="FileAlreadyExistsException"):
        _publish(manager, jvm, tmp_path / "0", "second", overwrite=False)
    assert (tmp_path / "0").read_text() == "first"
    _publish(manager, jvm, tmp_path / "0", "third", overwrite=True)
    assert (tmp_path / "0").read_text() == "third"
    assert [p.name for p in tmp_path.iterdir() if p.name != "0" and ".0.crc" not in p.name] == []  # no temporary
    reader = manager.open(jvm.org.apache.hadoop.fs.Path(str(tmp_path / "0")))
    assert bytes(jvm.org.apache.commons.io.IOUtils.toByteArray(reader)) == b"third"


def test_a_checkpoint_file_written_while_its_thread_is_interrupted_is_still_published(spark, tmp_path):
    """Stopping a query interrupts its thread, perhaps mid-write: the file must still close (as
    Hadoop's own stream does) and Spark stop the query, not fail it on a ClosedChannelException."""
    manager, jvm = _manager(spark, tmp_path)
    thread = jvm.java.lang.Thread
    thread.currentThread().interrupt()  # py4j runs this Python thread's calls on one JVM thread
    try:
        _publish(manager, jvm, tmp_path / "1", "offsets", overwrite=False)
        assert thread.currentThread().isInterrupted()  # left for Spark to act on
    finally:
        thread.interrupted()  # clears the flag
    assert (tmp_path / "1").read_text() == "offsets"
