from __future__ import annotations

import re

from foundation.settings import Settings

UNITS = {"k": 2**10, "m": 2**20, "g": 2**30}


def test_the_driver_heap_is_the_configured_driver_memory(spark, settings):
    """`REELHOUSE_DRIVER_MEMORY` reaches the JVM we launch ourselves (Spark's default is 1g)."""
    number, unit = re.fullmatch(r"(\d+)([kmg])", settings.driver_memory.lower()).groups()
    configured = int(number) * UNITS[unit]
    max_heap = spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory()
    # the JVM reports the heap less one survivor space
    assert 0.85 * configured < max_heap <= configured


def test_the_jvm_compiles_the_large_methods_spark_generates(spark):
    """HotSpot interprets methods above 8 KB of bytecode unless told otherwise; the stream's
    generated validation code is larger, and ran at half speed interpreted."""
    jvm = spark.sparkContext._jvm
    diagnostics = jvm.java.lang.management.ManagementFactory.getPlatformMXBean(
        jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean"))
    assert diagnostics.getVMOption("DontCompileHugeMethods").getValue() == "false"


def test_the_driver_collects_garbage_with_the_throughput_collector(spark):
    """G1 (the JVM's default here) runs concurrent threads beside the tasks on our 2 cores; with
    the parallel collector the Spark-heavy tests took ~7 % less time and CPU."""
    jvm = spark.sparkContext._jvm
    collectors = [bean.getName() for bean in jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()]
    assert sorted(collectors) == ["PS MarkSweep", "PS Scavenge"], collectors


def test_the_driver_maps_the_class_archive_recorded_for_its_class_path(spark, settings):
    """`reelhouse jars` (a step of `make test`) records it; mapped, Spark's classes are not read
    from the jars again at every start (about 5 s of CPU each here)."""
    from foundation.spark import _class_archive

    archive = _class_archive(settings, dict(spark.sparkContext.getConf().getAll()))
    assert archive is not None and archive.is_file(), "no class archive: run `reelhouse jars`"
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    with open(f"/proc/{pid}/maps") as maps:
        assert str(archive) in maps.read()


def test_a_driver_maps_the_class_archive_unless_settings_turn_it_off(spark, settings):
    from foundation.spark import _class_archive, _class_archive_option

    conf = dict(spark.sparkContext.getConf().getAll())
    assert _class_archive_option(settings, conf, None) == f"-XX:SharedArchiveFile={_class_archive(settings, conf)} " \
                                                          "-Xshare:auto"
    assert _class_archive_option(settings.with_overrides(class_archive=False), conf, None) == ""
    off = Settings.from_env({"REELHOUSE_HOME": str(settings.home), "REELHOUSE_CLASS_ARCHIVE": "off"})
    assert off.class_archive is False
