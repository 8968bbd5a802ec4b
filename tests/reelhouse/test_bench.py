"""The ingest benchmark runs end to end on small numbers (its figures are not judged here)."""

import pytest

from reelhouse.bench import bench_ingest

pytestmark = pytest.mark.integration


def test_bench_ingest_measures_every_figure_and_cleans_up(settings, spark, tmp_path):
    result = bench_ingest(settings.with_overrides(home=tmp_path), events=20_000, latency_seconds=4,
                          warmup_seconds=2)
    assert result["generator"]["produce_events"] == 20_000
    assert result["kafka_to_bronze"]["events"] == 20_000
    latency = result["latency_at_design_load"]
    assert latency["landed"] == latency["events"] == 6_000
    assert 0 < latency["p50_seconds"] <= latency["p95_seconds"] <= latency["max_seconds"]
    assert set(result["targets_met"]) == set(result["targets"])
    assert not (tmp_path / "_bench").exists() or not any((tmp_path / "_bench").iterdir())
