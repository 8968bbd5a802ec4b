from pathlib import Path

from foundation.settings import Settings


def test_defaults_follow_the_storage_contract(tmp_path):
    settings = Settings.from_env({"REELHOUSE_HOME": str(tmp_path)})
    assert settings.table_path("bronze", "playback_events") == tmp_path / "bronze" / "playback_events"
    assert settings.checkpoint_path("x") == tmp_path / "_checkpoints" / "x"
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.spark_master == "local[*]"


def test_home_defaults_to_lakehouse_in_the_working_directory():
    assert Settings.from_env({}).home == Path("lakehouse").absolute()


def test_environment_overrides_master_and_port():
    settings = Settings.from_env({"REELHOUSE_SPARK_MASTER": "spark://10.0.0.1:7077", "REELHOUSE_KAFKA_PORT": "9999"})
    assert settings.spark_master == "spark://10.0.0.1:7077"
    assert settings.bootstrap_servers == "127.0.0.1:9999"


def test_metastore_address_comes_from_the_environment(tmp_path):
    settings = Settings.from_env({"REELHOUSE_HOME": str(tmp_path), "REELHOUSE_METASTORE_PORT": "1600"})
    assert (settings.metastore_host, settings.metastore_port) == ("127.0.0.1", 1600)
    assert settings.metastore_dir == tmp_path / "_metastore"


def test_a_child_process_reads_back_the_same_settings_from_their_environment(tmp_path):
    settings = Settings.from_env({"REELHOUSE_HOME": str(tmp_path)}).with_overrides(
        kafka_port=29092, topic="t", spark_master="local[2]", shuffle_partitions=2, trigger_seconds=0.5,
        metastore_port=31527, jars_cache=tmp_path / "jars", worker_python="/opt/python")
    environment = settings.environment()
    assert all(name.startswith("REELHOUSE_") for name in environment)
    assert Settings.from_env(environment) == settings


def test_a_malformed_number_is_refused():
    import pytest

    with pytest.raises(ValueError, match="REELHOUSE_KAFKA_PORT: expected int, got 'ninety'"):
        Settings.from_env({"REELHOUSE_KAFKA_PORT": "ninety"})


def test_a_driver_memory_the_jvm_would_refuse_is_refused_before_it_starts():
    import pytest

    assert Settings.from_env({"REELHOUSE_DRIVER_MEMORY": "3G"}).driver_memory == "3g"
    for bad in ("lots", "2", "0g", "2gb", "-1g"):
        with pytest.raises(ValueError, match="REELHOUSE_DRIVER_MEMORY: expected an amount like 512m or 4g"):
            Settings.from_env({"REELHOUSE_DRIVER_MEMORY": bad})


def test_every_broker_of_a_local_cluster_is_a_bootstrap_server():
    settings = Settings.from_env({"REELHOUSE_KAFKA_PORT": "9192", "REELHOUSE_KAFKA_BROKERS": "3"})
    assert settings.bootstrap_servers == "127.0.0.1:9192,127.0.0.1:9193,127.0.0.1:9194"


def test_an_explicit_bootstrap_list_wins_over_host_and_port():
    settings = Settings.from_env({"REELHOUSE_KAFKA_BOOTSTRAP": "kafka-1:9092,kafka-2:9092",
                                  "REELHOUSE_KAFKA_PORT": "1"})
    assert settings.bootstrap_servers == "kafka-1:9092,kafka-2:9092"


def test_verbose_is_read_as_a_flag_and_refuses_anything_else():
    import pytest

    assert Settings.from_env({"REELHOUSE_VERBOSE": "1"}).verbose is True
    assert Settings.from_env({"REELHOUSE_VERBOSE": "false"}).verbose is False
    assert Settings.from_env({}).verbose is False
    with pytest.raises(ValueError):
        Settings.from_env({"REELHOUSE_VERBOSE": "loud"})


def test_the_metastore_database_is_derby_or_postgres_and_its_password_file_defaults_under_the_home(tmp_path):
    import pytest

    settings = Settings.from_env({"REELHOUSE_HOME": str(tmp_path), "REELHOUSE_METASTORE_DATABASE": "postgres"})
    assert settings.metastore_database == "postgres"
    assert settings.metastore_password_path == tmp_path / "_metastore" / "postgres.password"
    chosen = Settings.from_env({"REELHOUSE_METASTORE_PASSWORD_FILE": "/run/secrets/metastore_password"})
    assert chosen.metastore_password_path == Path("/run/secrets/metastore_password")
    with pytest.raises(ValueError, match="REELHOUSE_METASTORE_DATABASE: expected one of derby, postgres"):
        Settings.from_env({"REELHOUSE_METASTORE_DATABASE": "mysql"})


def test_kafka_security_is_plaintext_or_sasl_ssl_and_its_secrets_default_under_the_home(tmp_path):
    import pytest

    settings = Settings.from_env({"REELHOUSE_HOME": str(tmp_path), "REELHOUSE_KAFKA_SECURITY": "sasl_ssl"})
    assert settings.kafka.secured and settings.kafka.user == "reelhouse"
    assert settings.kafka.password_file == tmp_path / "_kafka" / "secrets" / "reelhouse.password"
    assert settings.kafka.ca_file == tmp_path / "_kafka" / "secrets" / "ca.pem"
    chosen = Settings.from_env({"REELHOUSE_KAFKA_USER": "ingest", "REELHOUSE_KAFKA_PASSWORD_FILE": "/run/secrets/kafka",
                                "REELHOUSE_KAFKA_CA_FILE": "/etc/kafka/ca.pem"})
    assert (chosen.kafka.user, chosen.kafka.password_file, chosen.kafka.ca_file) == \
        ("ingest", Path("/run/secrets/kafka"), Path("/etc/kafka/ca.pem"))
    assert not chosen.kafka.secured  # plaintext unless asked
    with pytest.raises(ValueError, match="REELHOUSE_KAFKA_SECURITY: expected one of plaintext, sasl_ssl"):
        Settings.from_env({"REELHOUSE_KAFKA_SECURITY": "ssl"})
