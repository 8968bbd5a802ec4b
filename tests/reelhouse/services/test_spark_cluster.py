"""The unchanged jobs on a real Spark standalone cluster: pyspark's own master and worker daemons."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

from foundation import processes
from ingestion.generator import GeneratorOptions
from ingestion.producer import produce
from ingestion.tables import BRONZE, QUARANTINE
from reelhouse.services.kafka import end_offsets, ensure_topic
from reelhouse.services.spark_cluster import StandaloneCluster, StandaloneLayout

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    layout = StandaloneLayout(tmp_path_factory.mktemp("spark"), port=processes.free_port(17077),
                              web_port=processes.free_port(18080), workers=1, cores_per_worker=2,
                              memory_per_worker="2g")
    cluster = StandaloneCluster(layout)
    cluster.start()
    yield cluster
    cluster.stop()
    assert cluster.running() == {}


def _applications(cluster: StandaloneCluster) -> dict[str, dict]:
    """The master's own record of the applications that ran on it, by name."""
    status = cluster.master_state()
    return {app["name"]: app for app in status["completedapps"] + status["activeapps"]}


def _delta_rows(path: Path) -> pd.DataFrame:
    return DeltaTable(str(path)).to_pandas()


def test_streaming_ingestion_and_training_run_unchanged_on_the_cluster(kafka, standalone, tmp_path, reelhouse_cli):
    settings = kafka.with_overrides(home=tmp_path / "lakehouse", topic="on-cluster",
                                    spark_master=standalone.layout.master_url,
                                    spark_secret_file=str(standalone.layout.secret_file))
    ensure_topic(settings.bootstrap_servers, settings.topic, 3, 1)
    sent = produce(GeneratorOptions(events=6_000, seed=11, bad_ratio=0.02), settings.bootstrap_servers, settings.topic)

    streamed = reelhouse_cli(settings, "stream", "--available-now")
    assert streamed.returncode == 0, streamed.stderr[-2000:]

    bronze = _delta_rows(settings.table_path(*BRONZE))
    quarantine = _delta_rows(settings.table_path(*QUARANTINE))
    landed = sorted(zip(bronze.kafka_partition, bronze.kafka_offset, strict=True)) + sorted(
        zip(quarantine.kafka_partition, quarantine.kafka_offset, strict=True))
    every_offset = [(p, o) for p, end in end_offsets(settings.bootstrap_servers, settings.topic).items()
                    for o in range(end)]
    assert sorted(landed) == sorted(every_offset)
    assert len(quarantine) == sum(sent.malformed.values()) > 0

    started = bronze[bronze.playback_started]
    interactions = tmp_path / "interactions.csv"
    pd.DataFrame({
        "user_id": started.user_id, "item_id": started.video_id, "weight": 1.0,
        "timestamp": pd.to_datetime(started.event_at).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }).to_csv(interactions, index=False)
    output = tmp_path / "top5.csv"
    trained = reelhouse_cli(settings, "train", "--interactions", str(interactions), "--output", str(output),
                            "-k", "5", "--no-search")
    assert trained.returncode == 0, trained.stderr[-2000:]

    top = pd.read_csv(output)
    assert set(top.user_id) <= set(started.user_id) and top.user_id.nunique() > 100
    assert top.groupby("user_id")["rank"].apply(sorted).map(lambda ranks: ranks == [1, 2, 3, 4, 5]).all()
    seen = set(zip(started.user_id, started.video_id, strict=True))
    assert not [pair for pair in zip(top.user_id, top.item_id, strict=True) if pair in seen]

    # both jobs were applications of the cluster, with executors on its worker (not a local master)
    applications = _applications(standalone)
    for name in ("reelhouse-stream", "reelhouse-train-file"):
        assert applications[name]["cores"] > 0, applications


def test_a_busy_master_port_is_refused_with_a_clear_error(standalone, tmp_path):
    from foundation.errors import ReelhouseError

    taken = StandaloneCluster(StandaloneLayout(tmp_path, port=standalone.layout.port,
                                               web_port=processes.free_port(19080)))
    with pytest.raises(ReelhouseError, match=f"port {standalone.layout.port} on 127.0.0.1 is busy"):
        taken.start()


def test_the_master_ui_cannot_kill_an_application(standalone):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{standalone.layout.web_port}/app/kill/?id=app-1&terminate=true",
                                     method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:  # with kill enabled: a redirect to the UI, then 200
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code in (404, 405)


def test_the_clusters_secret_is_its_owners_only_and_on_no_command_line(standalone):
    secret_file = standalone.layout.secret_file
    assert secret_file.stat().st_mode & 0o777 == 0o600
    secret = secret_file.read_bytes().strip()
    assert len(secret) >= 64
    for pid in standalone.running().values():
        assert secret not in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert b"spark.authenticate=true" in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_an_application_without_the_secret_is_refused_by_the_master(standalone, tmp_path, reelhouse_env):
    import subprocess
    import sys
    import time

    from foundation.settings import Settings

    # a driver that does not know the secret: the master refuses its very first message
    settings = Settings(home=tmp_path / "intruder", spark_master=standalone.layout.master_url)
    script = ("from foundation.settings import Settings; from foundation.spark import build_spark; "
              "build_spark(Settings.from_env(), 'intruder').range(10).count()")
    master_log = standalone.layout.master.daemon.log_file
    logged_before = master_log.read_text(errors="replace").count("Expected SaslMessage")
    driver = subprocess.Popen([sys.executable, "-c", script], env=reelhouse_env(settings),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while master_log.read_text(errors="replace").count("Expected SaslMessage") == logged_before:
            assert time.monotonic() < deadline, "the master never saw the driver"
            time.sleep(0.5)
    finally:
        processes.terminate(driver.pid, 10)
    assert "intruder" not in _applications(standalone)
