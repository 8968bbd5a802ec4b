from pathlib import Path

import pytest

from foundation.settings import Settings
from reelhouse.bench.scratch import machine, scratch_lakehouse


def test_a_scratch_lakehouse_lives_under_bench_and_is_removed_even_on_failure(tmp_path):
    settings = Settings.from_env({"REELHOUSE_HOME": str(tmp_path)})
    with pytest.raises(RuntimeError), scratch_lakehouse(settings, "probe") as scratch:
        home: Path = scratch.home
        assert home.parent == tmp_path / "_bench" and home.name.startswith("probe-") and home.is_dir()
        (home / "bronze").mkdir()
        raise RuntimeError("a benchmark failing half way")
    assert not home.exists()
    assert (tmp_path / "_bench").is_dir() and not any((tmp_path / "_bench").iterdir())


def test_the_machine_is_described_for_the_json():
    described = machine()
    assert described["cores"] >= 1 and described["memory_gib"] > 0
    assert set(described) >= {"python", "pyspark", "delta_spark", "kafka_python"}
