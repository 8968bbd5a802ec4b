"""Where a reset stream starts, from offsets alone."""

import json

import pytest

from foundation.errors import ReelhouseError
from ingestion.reset import plan_reset


def test_a_reset_starts_after_what_landed_or_at_the_oldest_record_kafka_holds():
    plan = plan_reset("t", {0: 300, 1: 120}, {0: (400, 500), 1: (0, 130), 2: (0, 7)})
    assert plan.starting_offsets == {0: 400, 1: 120, 2: 0}
    assert plan.lost == {0: (300, 400)}
    assert json.loads(plan.spark_starting_offsets()) == {"t": {"0": 400, "1": 120, "2": 0}}
    assert plan.describe()[0] == ("partition 0: offsets 300 to 399 (100 records) were deleted by Kafka before "
                                  "the stream read them")


def test_nothing_is_lost_when_kafka_still_holds_everything_after_bronze():
    plan = plan_reset("t", {0: 10}, {0: (0, 10), 1: (0, 0)})
    assert plan.lost == {} and plan.starting_offsets == {0: 10, 1: 0}


@pytest.mark.parametrize("kafka_bounds, problem", [
    ({0: (0, 5)}, "deleted and re-created"),  # offsets went back below what bronze holds
    ({}, "no topic"),
])
def test_a_reset_is_refused_when_its_start_would_collide_or_there_is_no_topic(kafka_bounds, problem):
    with pytest.raises(ReelhouseError, match=problem):
        plan_reset("t", {0: 10}, kafka_bounds)
