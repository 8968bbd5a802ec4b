"""The producer reports what the broker refused instead of counting it as sent."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from foundation.errors import ReelhouseError
from ingestion.generator import GeneratorOptions
from ingestion.producer import produce
from reelhouse.services.kafka import end_offsets

pytestmark = pytest.mark.integration


def test_events_the_broker_refuses_are_reported_not_counted_as_sent(kafka):
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    try:  # a topic whose size limit no batch of events fits: the broker refuses every one
        admin.create_topics([NewTopic("refusing", 1, 1, topic_configs={"max.message.bytes": "200"})])
    finally:
        admin.close()
    with pytest.raises(ReelhouseError, match=r"2,000 of 2,000 events were not delivered to 'refusing': .*TooLarge"):
        produce(GeneratorOptions(events=2_000, seed=1), kafka.bootstrap_servers, "refusing")
    assert sum(end_offsets(kafka.bootstrap_servers, "refusing").values()) == 0
