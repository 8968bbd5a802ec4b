from reelhouse.bench.spark_start import summarise


def test_the_summary_is_the_median_of_each_mode_and_their_ratio():
    summary = summarise({"with_archive": [14.0, 30.0, 12.0], "without_archive": [20.0, 18.0, 16.0]})
    assert summary == {"median_seconds": {"with_archive": 14.0, "without_archive": 18.0},
                       "ratio_with_to_without": 0.778}
