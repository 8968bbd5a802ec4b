from foundation.settings import Settings


def test_the_derby_metastore_refuses_an_address_off_loopback_in_one_line(reelhouse_cli, tmp_path):
    settings = Settings.from_env({"REELHOUSE_HOME": str(tmp_path), "REELHOUSE_METASTORE_HOST": "0.0.0.0"})
    result = reelhouse_cli(settings, "metastore", "start")
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "loopback only" in result.stderr and "REELHOUSE_METASTORE_DATABASE=postgres" in result.stderr
    assert not (tmp_path / "_metastore").exists()  # nothing started
