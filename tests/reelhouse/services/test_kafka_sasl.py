"""A Kafka cluster beyond loopback: SCRAM-SHA-512 logins over TLS, and every client of ours through it."""

from __future__ import annotations

import subprocess

import pytest
from fault_ledger import landed_offsets
from kafka import KafkaAdminClient
from kafka.errors import KafkaError
from secrets_in_sight import command_lines_with, readable_files_with

from foundation import processes
from foundation.errors import ReelhouseError
from foundation.kafka_connection import KafkaConnection
from foundation.secret_files import write_private_text
from ingestion.generator import GeneratorOptions
from ingestion.jobs.stream import StreamOptions, run
from ingestion.producer import produce
from reelhouse.services.kafka import end_offsets, free_broker_port

pytestmark = pytest.mark.integration


def _machine_address() -> str:
    """An address of this machine other than loopback, where the brokers listen; loopback if none."""
    found = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    return next((a for a in found if "." in a and not processes.is_loopback(a)), "127.0.0.1")


def _refused(connection: KafkaConnection) -> bool:
    try:
        KafkaAdminClient(**connection.client_options(), request_timeout_ms=5000,
                         api_version_auto_timeout_ms=5000).close()
    except KafkaError:
        return True
    return False


def test_a_sasl_ssl_cluster_off_loopback_refuses_strangers_and_the_stream_reads_it_exactly_once(
    spark, settings, tmp_path, reelhouse_cli
):
    host = _machine_address()
    secured = settings.with_overrides(
        home=tmp_path / "home", kafka_host=host, kafka_port=free_broker_port(39700, host), kafka_bootstrap="",
        kafka_security="sasl_ssl", topic="secured",
    )
    started = reelhouse_cli(secured, "kafka", "start")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"SASL_SSL {host}:{secured.kafka_port}" in started.stdout

        # the generated password, the CA and the keys: owner-only, in an owner-only folder
        password = secured.kafka_password_path.read_text().strip()
        secrets = secured.kafka_secrets_dir
        assert secrets.stat().st_mode & 0o777 == 0o700
        assert {p.name: p.stat().st_mode & 0o777 for p in secrets.iterdir()} == \
            {p.name: 0o600 for p in secrets.iterdir()}
        config = secured.kafka_dir / "node-1" / "server.properties"
        assert config.stat().st_mode & 0o777 == 0o600

        # no login, or a wrong password: refused
        assert _refused(KafkaConnection(secured.bootstrap_servers))
        wrong = tmp_path / "wrong.password"
        write_private_text(wrong, "not-the-password\n")
        wrong_login = KafkaConnection(secured.bootstrap_servers, "sasl_ssl", secured.kafka_user, wrong,
                                      secured.kafka_ca_path)
        assert _refused(wrong_login)
        with pytest.raises(ReelhouseError, match=f"as reelhouse over TLS .*PASSWORD_FILE {wrong}"):
            produce(GeneratorOptions(events=10, seed=1), wrong_login, secured.topic)

        # the producer, the admin and offset lookups, and the stream's Spark source all log in
        sent = produce(GeneratorOptions(events=3_000, seed=21, bad_ratio=0.02), secured.kafka, secured.topic)
        assert sent.sent == 3_000
        report = run(secured, StreamOptions(available_now=True))
        landed = landed_offsets(spark, secured)
        offsets = [(p, o) for p, end in end_offsets(secured.kafka, secured.topic).items() for o in range(end)]
        assert sorted(landed) == offsets and len(offsets) == 3_000, report

        # the password was on no command line (broker, stream) and in nothing others can read
        assert command_lines_with(password) == []
        assert readable_files_with(secured.home, password) == []
        assert readable_files_with(settings.logs_dir, password) == []  # the stream's JVM logs there
    finally:
        stopped = reelhouse_cli(secured, "kafka", "stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not config.exists()  # the brokers' config holds their login: removed on stop
