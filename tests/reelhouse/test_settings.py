from pathlib import Path

from reelhouse.settings import Settings


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
