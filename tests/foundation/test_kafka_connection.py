import pytest

from foundation.errors import ReelhouseError
from foundation.kafka_connection import KafkaConnection, as_connection, jaas_login
from foundation.secret_files import write_private_text


def test_a_plaintext_connection_names_only_the_brokers():
    connection = as_connection("127.0.0.1:9092")
    assert connection.client_options() == {"bootstrap_servers": "127.0.0.1:9092", "bootstrap_timeout_ms": 10_000}
    assert connection.spark_options() == {"kafka.bootstrap.servers": "127.0.0.1:9092"}


def test_a_sasl_ssl_connection_logs_in_with_the_password_of_its_file_and_checks_the_brokers_certificate(tmp_path):
    password_file = tmp_path / "kafka.password"
    write_private_text(password_file, "s3cret-pw\n")
    connection = KafkaConnection("10.0.0.5:9092", "sasl_ssl", "ingest", password_file, tmp_path / "ca.pem")
    assert connection.client_options() == {
        "bootstrap_servers": "10.0.0.5:9092", "bootstrap_timeout_ms": 10_000, "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "ingest", "sasl_plain_password": "s3cret-pw", "ssl_cafile": str(tmp_path / "ca.pem"),
        "ssl_check_hostname": True,
    }
    spark = connection.spark_options()
    assert spark["kafka.security.protocol"] == "SASL_SSL" and spark["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert spark["kafka.sasl.jaas.config"] == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="ingest" password="s3cret-pw";')
    assert spark["kafka.ssl.truststore.type"] == "PEM"
    assert spark["kafka.ssl.truststore.location"] == str(tmp_path / "ca.pem")


def test_a_password_file_others_can_read_is_refused(tmp_path):
    password_file = tmp_path / "kafka.password"
    password_file.write_text("s3cret-pw\n")
    password_file.chmod(0o644)
    connection = KafkaConnection("10.0.0.5:9092", "sasl_ssl", "ingest", password_file, tmp_path / "ca.pem")
    with pytest.raises(ReelhouseError, match="readable by others"):
        connection.client_options()


def test_quotes_and_backslashes_in_a_login_are_escaped_for_the_jaas_parser():
    assert jaas_login('a"b', "c\\d") == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="a\\"b" password="c\\\\d";')
