"""The producer reports what the broker refused instead of counting it as sent."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from foundation.errors import ReelhouseError
from ingestion.generator import GeneratorOptions
from ingestion.producer import Deliveries, produce
from reelhouse.services.kafka import end_offsets


@pytest.mark.integration
def test_events_the_broker_refuses_are_reported_not_counted_as_sent(kafka):
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    try:  # a topic whose size limit no batch of events fits: the broker refuses every one
        admin.create_topics([NewTopic("refusing", 1, 1, topic_configs={"max.message.bytes": "200"})])
    finally:
        admin.close()
    with pytest.raises(ReelhouseError, match=r"2,000 of 2,000 events were not delivered to 'refusing': .*TooLarge"):
        produce(GeneratorOptions(events=2_000, seed=1), kafka.bootstrap_servers, "refusing")
    assert sum(end_offsets(kafka.bootstrap_servers, "refusing").values()) == 0


def test_refusals_reported_after_flush_gave_up_are_still_waited_for():
    import threading

    deliveries = Deliveries()
    deliveries.done(None)
    late = threading.Timer(0.2, lambda: [deliveries.failed(RuntimeError("MessageSizeTooLarge")) for _ in range(2)])
    late.start()
    assert deliveries.wait_settled(3, timeout=10)
    assert (deliveries.acknowledged, deliveries.failures, str(deliveries.first_error)) == (1, 2, "MessageSizeTooLarge")


def test_waiting_for_deliveries_that_never_settle_ends_at_the_timeout():
    deliveries = Deliveries()
    deliveries.done(None)
    assert not deliveries.wait_settled(2, timeout=0.1)
