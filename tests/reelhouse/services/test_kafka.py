import socket
from pathlib import Path

import pytest

from foundation.errors import ReelhouseError
from foundation.secret_files import write_private_text
from reelhouse.services.kafka import (
    CONTROLLER_PORT_OFFSET,
    ClusterLayout,
    KafkaCluster,
    end_offsets,
    ensure_topic,
    free_broker_port,
    server_properties,
)
from reelhouse.services.kafka_secrets import KafkaSecrets


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
    with pytest.raises(ReelhouseError, match="belongs to a plaintext cluster of 3 broker"):
        cluster.start()


def test_a_plaintext_cluster_is_not_started_again_as_sasl_ssl(tmp_path):
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "cluster.json").write_text('{"cluster_id": "x", "brokers": 1, "port": 9092}')
    secrets = KafkaSecrets(tmp_path / "k" / "secrets", "reelhouse", tmp_path / "pw", tmp_path / "ca.pem")
    cluster = KafkaCluster(ClusterLayout(tmp_path / "k", "127.0.0.1", 9092, 1, "sasl_ssl"), tmp_path / "jars",
                           secrets=secrets)
    # its storage holds no SCRAM credential: the brokers would refuse every login
    with pytest.raises(ReelhouseError, match="belongs to a plaintext cluster of 1 broker"):
        cluster.start()


def test_sasl_ssl_nodes_log_in_with_scram_over_tls_and_keep_their_controllers_on_loopback(tmp_path):
    password_file = tmp_path / "reelhouse.password"
    write_private_text(password_file, "pw-1\n")
    secrets = KafkaSecrets(tmp_path / "secrets", "reelhouse", password_file, tmp_path / "ca.pem")
    secrets.directory.mkdir()
    write_private_text(secrets.keystore_password_file, "store-pw\n")
    layout = ClusterLayout(Path("/k"), "10.0.0.5", 9092, 3, "sasl_ssl")
    props = _props(server_properties(layout, layout.nodes[0], secrets))
    assert props["listeners"] == "SASL_SSL://10.0.0.5:9092,CONTROLLER://127.0.0.1:9192"
    assert props["advertised.listeners"] == "SASL_SSL://10.0.0.5:9092"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9192,2@127.0.0.1:9193,3@127.0.0.1:9194"
    assert props["inter.broker.listener.name"] == "SASL_SSL"
    assert props["sasl.enabled.mechanisms"] == props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert 'username="reelhouse" password="pw-1"' in props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert props["ssl.keystore.password"] == "store-pw"
    assert props["ssl.truststore.location"] == str(tmp_path / "ca.pem")


def test_a_sasl_ssl_cluster_needs_the_address_clients_reach_not_a_wildcard(tmp_path):
    secrets = KafkaSecrets(tmp_path / "secrets", "reelhouse", tmp_path / "pw", tmp_path / "ca.pem")
    cluster = KafkaCluster(ClusterLayout(tmp_path / "kafka", "0.0.0.0", 9092, 1, "sasl_ssl"), tmp_path / "jars",
                           secrets=secrets)
    with pytest.raises(ReelhouseError, match="address clients reach"):
        cluster.start()
    assert not (tmp_path / "kafka").exists()


def test_free_broker_port_skips_a_taken_controller_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        controller_port = taken.getsockname()[1]
        broker_port = controller_port - CONTROLLER_PORT_OFFSET
        assert free_broker_port(broker_port, span=2) == broker_port + 1


def test_cluster_ids_never_start_like_an_option():
    from reelhouse.services.kafka import _cluster_id

    ids = [_cluster_id() for _ in range(2_000)]  # about 31 would start with "-" by chance
    assert not [i for i in ids if i.startswith("-")]
    assert len(set(ids)) == len(ids) and {len(i) for i in ids} == {22}


def test_free_ports_for_three_brokers_skip_a_range_with_one_taken():
    # which ports the machine has free is not the test's to choose: the taken ones are given
    taken = {40002}
    assert free_broker_port(40000, span=10, brokers=3, is_free=lambda _host, port: port not in taken) == 40003


def test_free_ports_for_three_brokers_skip_a_taken_controller_port():
    taken = {40101}  # the second broker's controller port when the first broker listens on 40000
    assert free_broker_port(40000, span=10, brokers=3, is_free=lambda _host, port: port not in taken) == 40002


def test_a_real_taken_port_is_skipped():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        assert free_broker_port(port, span=50) > port


@pytest.mark.integration
def test_three_brokers_replicate_the_topic_and_ingestion_survives_losing_one(spark, tmp_path, reelhouse_cli,
                                                                              reelhouse_env, fault_tally):
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    from fault_ledger import landed_offsets
    from kafka import KafkaAdminClient

    from foundation.settings import Settings
    from ingestion.generator import GeneratorOptions
    from ingestion.producer import produce
    from ingestion.tables import BRONZE

    port = free_broker_port(31092, brokers=3)
    settings = Settings.from_env({"REELHOUSE_HOME": str(tmp_path)}).with_overrides(
        kafka_port=port, kafka_brokers=3, spark_master="local[2]", shuffle_partitions=2)
    started = reelhouse_cli(settings, "kafka", "start", "--brokers", "3", timeout=180)
    assert started.returncode == 0, started.stderr
    cluster = KafkaCluster(ClusterLayout(settings.kafka_dir, settings.kafka_host, port, 3), settings.jars_cache)
    stream = None
    try:
        assert len(cluster.running_nodes()) == 3
        admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        [topic] = admin.describe_topics([settings.topic])
        admin.close()
        assert {len(p["replica_nodes"]) for p in topic["partitions"]} == {3}, topic

        before = produce(GeneratorOptions(events=5_000, seed=20, bad_ratio=0.01), settings.bootstrap_servers,
                         settings.topic)
        stream_log = tmp_path / "stream.log"
        with stream_log.open("w") as log:  # a file, not a pipe: a full pipe would block the stream
            stream = subprocess.Popen(
                [sys.executable, "-m", "reelhouse.cli", "stream", "--trigger-seconds", "1"],
                env=reelhouse_env(settings), start_new_session=True, stdout=log, stderr=subprocess.STDOUT,
            )
        delta_log = settings.table_path(*BRONZE) / "_delta_log"
        deadline = time.monotonic() + 240
        while len(list(delta_log.glob("*.json"))) < 2:  # created, then a first batch: the stream is under way
            assert stream.poll() is None, stream_log.read_text()[-2000:]
            assert time.monotonic() < deadline, "no batch committed in time"
            time.sleep(0.2)

        during = {}
        producer = threading.Thread(target=lambda: during.update(report=produce(
            GeneratorOptions(events=20_000, seed=21, bad_ratio=0.01), settings.bootstrap_servers, settings.topic,
            rate=1_000)))
        producer.start()
        time.sleep(4)
        # the first broker: the first bootstrap server and a leader of some partitions
        os.kill(cluster.running_nodes()[1], signal.SIGKILL)
        assert producer.is_alive(), "the broker should go down while events are still being sent"
        producer.join(timeout=180)
        assert "report" in during, "the producer failed"
        total = before.sent + during["report"].sent

        deadline = time.monotonic() + 240
        while len(rows := landed_offsets(spark, settings)) < total:
            assert stream.poll() is None, stream_log.read_text()[-2000:]
            assert time.monotonic() < deadline, f"only {len(rows)} of {total} landed"
            time.sleep(1)
        assert stream.poll() is None, "the stream should still be running"
        assert len(cluster.running_nodes()) == 2
        assert len(rows) == len(set(rows)) == total == 25_000
        ends = end_offsets(settings.bootstrap_servers, settings.topic)
        offsets = [(p, o) for p, end in ends.items() for o in range(end)]
        assert fault_tally("SIGKILL of one broker of three while events arrive", rows, offsets).clean == (0, 0, 0)
        assert sorted(rows) == sorted(offsets)
    finally:
        if stream is not None:
            os.killpg(stream.pid, signal.SIGTERM)
            stream.wait(timeout=60)
        cluster.stop()


def test_off_loopback_kafka_is_refused_before_anything_starts(tmp_path):
    cluster = KafkaCluster(ClusterLayout(tmp_path / "kafka", "0.0.0.0", 9092, 1), tmp_path / "jars")
    with pytest.raises(ReelhouseError, match="Kafka cluster listens on loopback only, not 0.0.0.0: .*"
                                             "REELHOUSE_KAFKA_SECURITY=sasl_ssl"):
        cluster.start()
    assert not (tmp_path / "kafka").exists()
