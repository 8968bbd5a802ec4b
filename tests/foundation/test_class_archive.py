from __future__ import annotations

import os

from foundation import class_archive


def _jars(tmp_path, *names):
    paths = []
    for name in names:
        path = tmp_path / name
        path.write_bytes(b"jar " + name.encode())
        paths.append(path)
    return paths


def test_the_archive_key_changes_with_any_jar_and_with_the_class_path_order(tmp_path):
    first, second, client = _jars(tmp_path, "spark-core.jar", "delta-spark.jar", "derbyclient.jar")
    cache = tmp_path / "cache"
    plain = class_archive.archive_path(cache, [], [first, second])
    assert plain == class_archive.archive_path(cache, [], [second, first])  # the jars' order is the JVM's own
    assert class_archive.archive_path(cache, [client], [first, second]) != plain
    os.utime(second, ns=(1, 1))  # an upgraded jar, even one of the same size
    assert class_archive.archive_path(cache, [], [first, second]) != plain
    assert class_archive.archive_path(cache, [tmp_path / "gone.jar"], [first]) is None


def test_only_a_recorded_archive_is_mapped(tmp_path):
    archive = tmp_path / "spark-key.jsa"
    assert class_archive.sharing_option(archive) == ""
    assert class_archive.sharing_option(None) == ""
    archive.write_bytes(b"recorded")
    assert class_archive.sharing_option(archive) == f"-XX:SharedArchiveFile={archive} -Xshare:auto"
