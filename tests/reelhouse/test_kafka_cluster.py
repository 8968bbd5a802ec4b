import socket
from pathlib import Path

import pytest

from reelhouse.errors import ReelhouseError
from reelhouse.kafka_cluster import (
    CONTROLLER_PORT_OFFSET,
    ClusterLayout,
    KafkaCluster,
    end_offsets,
    ensure_topic,
    free_broker_port,
    server_properties,
)


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_three_node_layout_lists_every_voter_and_replicates_three_times():
    layout = ClusterLayout(Path("/k"), "127.0.0.1", 9092, 3)
    props = _props(server_properties(layout, layout.nodes[1]))
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9192,2@127.0.0.1:9193,3@127.0.0.1:9194"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9093,CONTROLLER://127.0.0.1:9193"
    assert props["node.id"] == "2"
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert layout.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"


def test_single_node_needs_no_replicas():
    layout = ClusterLayout(Path("/k"), "127.0.0.1", 9092, 1)
    props = _props(server_properties(layout, layout.nodes[0]))
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["log.dirs"] == "/k/node-1/data"


@pytest.mark.integration
def test_start_is_idempotent_and_topics_are_created_once(kafka):
    cluster = KafkaCluster(ClusterLayout(kafka.kafka_dir, kafka.kafka_host, kafka.kafka_port, 1), kafka.jars_cache)
    assert cluster.start() == [f"broker 1 already running (pid {cluster.running_nodes()[1]})"]
    assert ensure_topic(kafka.bootstrap_servers, "once", 3, 1) is True
    assert ensure_topic(kafka.bootstrap_servers, "once", 3, 1) is False
    assert sorted(end_offsets(kafka.bootstrap_servers, "once")) == [0, 1, 2]


def test_a_cluster_of_another_shape_is_refused(tmp_path):
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "cluster.json").write_text('{"cluster_id": "x", "brokers": 3, "port": 9092}')
    cluster = KafkaCluster(ClusterLayout(tmp_path / "k", "127.0.0.1", 9092, 1), tmp_path / "jars")
    with pytest.raises(ReelhouseError, match="belongs to a cluster of 3 broker"):
        cluster.start()


def test_free_broker_port_skips_a_taken_controller_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        controller_port = taken.getsockname()[1]
        broker_port = controller_port - CONTROLLER_PORT_OFFSET
        assert free_broker_port(broker_port, span=2) == broker_port + 1


def test_cluster_ids_never_start_like_an_option():
    from reelhouse.kafka_cluster import _cluster_id

    ids = [_cluster_id() for _ in range(2_000)]  # about 31 would start with "-" by chance
    assert not [i for i in ids if i.startswith("-")]
    assert len(set(ids)) == len(ids) and {len(i) for i in ids} == {22}
