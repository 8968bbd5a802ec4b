"""`reelhouse live-recommender` with a real broker, real Spark, a trained model and delta-rs tables."""

from __future__ import annotations

import gc
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable
from kafka import KafkaProducer
from pyspark.ml.feature import StringIndexerModel
from pyspark.ml.recommendation import ALSModel

from foundation import delta_rs
from ingestion.generator import World, catalog_rows, iter_events
from ml import live, live_io
from ml.jobs import live as live_job
from ml.jobs import train
from ml.recommender import ALSParams
from ml.tables import LIVE_CHECKPOINT, USER_RECOMMENDATIONS_LIVE, USER_VIEWS_LIVE
from reelhouse.services.kafka import ensure_topic

pytestmark = pytest.mark.integration

K = 5
GRID = (ALSParams(rank=6, reg_param=0.1, alpha=2.0, max_iter=6),)


@pytest.fixture(scope="module")
def trained_home(spark, kafka, small_views, tmp_path_factory):
    """gold.fct_views (6,000 generated views), gold.dim_videos of the same world, a trained model."""
    settings = kafka.with_overrides(home=tmp_path_factory.mktemp("live"), topic="live-recommender")
    ensure_topic(settings.bootstrap_servers, settings.topic, 2, 1)
    small_views.write.format("delta").save(str(settings.table_path("gold", "fct_views")))
    videos = pd.DataFrame(catalog_rows(World.build(5, n_videos=60, n_users=300)))
    spark.createDataFrame(videos).write.format("delta").save(str(settings.table_path("gold", "dim_videos")))
    result = train.run(spark, settings, train.TrainOptions(k=K, grid=GRID, models=("recommender",)))
    return settings, result.model_version, videos


def _send(settings, events: list[dict]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    for event in events:
        producer.send(settings.topic, key=event["user_id"].encode(), value=json.dumps(event).encode()).get(30)
    producer.close()


def _view(user: str, video: str, seconds: float, n: int, minute: int) -> dict:
    """A valid full-contract event of `user` watching `video` for `seconds`."""
    template = next(iter_events(99, World.build(5, n_videos=60, n_users=300)))
    return {**template, "event_id": f"live-test-{n}", "user_id": user, "video_id": video,
            "watch_time_seconds": seconds, "skipped": False, "playback_started": True, "error_code": None,
            "timestamp": f"2025-05-21T10:{minute:02d}:00.000Z"}


def _run(spark, settings, earliest: bool = False) -> live_job.LiveReport:
    return live_job.run(spark, settings, live_job.LiveOptions(
        k=K, available_now=True, starting_offsets="earliest" if earliest else "latest"))


def _lists(settings) -> pd.DataFrame:
    return delta_rs.query("select * from t order by user_id, rank", t=settings.table_path(*USER_RECOMMENDATIONS_LIVE))


def test_fold_in_reproduces_the_trained_user_vectors(trained_home):
    """Spark's implicit ALS solves users last with the final item factors: folding a training
    user's history into those item factors must give back that user's vector."""
    settings, version, _ = trained_home
    model = live_io.latest_item_model(settings)
    assert model.model_version == version
    als = ALSModel.load(str(settings.home / "_models" / version / "als"))
    users = StringIndexerModel.load(str(settings.home / "_models" / version / "user_index")).labels
    trained = {users[r.id]: np.array(r.features) for r in als.userFactors.collect()}
    histories = live.Histories()
    histories.add(live_io.load_history(settings))
    compared = 0
    for user_id, expected in sorted(trained.items())[:60]:
        vector, _, _ = live.user_vector(histories.users[user_id], model)
        np.testing.assert_allclose(vector, expected, atol=1e-6, err_msg=user_id)
        compared += 1
    assert compared == 60


def test_views_change_the_list_a_finished_title_leaves_it_and_a_restart_remembers(spark, trained_home):
    settings, version, videos = trained_home
    duration = dict(zip(videos.video_id, videos.duration_seconds, strict=True))
    history = live_io.load_history(settings)
    user = history.user_id.value_counts().index[0]  # the heaviest viewer
    first = [v for v in videos.video_id if v not in set(history[history.user_id == user].video_id)][:2]
    _send(settings, [_view(user, first[0], duration[first[0]] * 0.5, 1, 0)])
    report = _run(spark, settings, earliest=True)
    assert report.views == 1 and report.users_updated == 1
    before = _lists(settings)
    assert before.user_id.unique().tolist() == [user]
    assert before["rank"].tolist() == list(range(1, K + 1))
    assert before.video_id.iloc[0] == first[0] and before.reason.iloc[0] == "continue watching"
    assert (before.model_version == version).all()
    top_pick = before.video_id.iloc[1]  # the best personal pick, after the title just left

    _send(settings, [_view(user, top_pick, duration[top_pick], 2, 5)])  # finished it
    _run(spark, settings)  # a new job instance: the history comes back from Delta
    after = _lists(settings)
    assert top_pick not in set(after.video_id)
    assert after.reflects_event_at.max() == pd.Timestamp("2025-05-21T10:05:00Z")

    _send(settings, [_view(user, first[1], 10.0, 3, 7)])  # another restart, another view
    _run(spark, settings)
    latest = _lists(settings)
    assert top_pick not in set(latest.video_id), "a restart forgot the finished title"
    assert first[1] in set(latest.video_id) and first[0] in set(latest.video_id)  # both to continue
    stored = delta_rs.query("select event_id from t", t=settings.table_path(*USER_VIEWS_LIVE))
    assert sorted(stored.event_id) == ["live-test-1", "live-test-2", "live-test-3"]


def test_a_replay_from_new_checkpoints_changes_nothing(spark, trained_home):
    settings, _, _ = trained_home
    before = _lists(settings)
    assert not before.empty
    shutil.rmtree(settings.checkpoint_path(LIVE_CHECKPOINT))
    report = _run(spark, settings, earliest=True)
    assert report.users_updated > 0 and report.views == 0  # every view was known
    pd.testing.assert_frame_equal(_lists(settings), before)
    stored = delta_rs.query("select count(*) as n from t", t=settings.table_path(*USER_VIEWS_LIVE))
    assert stored.n.iloc[0] == 3


def test_an_unknown_title_and_an_unknown_user_do_not_stop_it(spark, trained_home):
    settings, _, _ = trained_home
    _send(settings, [_view("brand_new_user", "title_not_in_catalog", 1200.0, 4, 9)])
    report = _run(spark, settings)
    assert report.views == 1
    lists = _lists(settings)
    newcomer = lists[lists.user_id == "brand_new_user"]
    assert len(newcomer) == K and newcomer.reason.str.startswith("popular").all()


def test_the_history_loaded_at_start_is_out_of_the_garbage_collectors_walks(trained_home):
    settings, _, _ = trained_home
    try:
        recommender = live_job.LiveRecommender(settings, K)
        states = [state for history in recommender.histories.users.values() for state in history.titles.values()]
        walked = {id(thing) for thing in gc.get_objects()}
        assert len(states) > 1_000
        assert not [state for state in states if id(state) in walked]
    finally:
        gc.unfreeze()


def test_the_lists_are_compacted_when_merges_have_left_many_files(spark, settings, tmp_path):
    home = settings.with_overrides(home=tmp_path)
    recommender = live_job.LiveRecommender(home, K)
    gc.unfreeze()
    path = home.table_path(*USER_RECOMMENDATIONS_LIVE)
    lists = pd.DataFrame({"user_id": "u0", "rank": [1], "video_id": "v1", "score": [0.5], "reason": "r",
                          "model_version": "m1", "reflects_event_at": pd.Timestamp("2025-05-21T10:00Z")})
    merged = live_io.merge_lists(home, lists, K, pd.Timestamp.now(tz="UTC"))
    recommender.compact_meanwhile(spark, merged._replace(version=100))  # a round version, one file
    assert recommender.compaction is None
    for n in range(1, live_io.COMPACT_ABOVE_FILES + 1):  # each new user's rows land in a new file
        merged = live_io.merge_lists(home, lists.assign(user_id=f"u{n}"), K, pd.Timestamp.now(tz="UTC"))
    assert merged.files == live_io.COMPACT_ABOVE_FILES + 1
    recommender.compact_meanwhile(spark, merged)
    recommender.finish()
    assert [c["operation"] for c in DeltaTable(str(path)).history(1)] == ["OPTIMIZE"]
    assert len(DeltaTable(str(path)).file_uris()) == 1
    assert len(live_io.read_lists(home)) == live_io.COMPACT_ABOVE_FILES + 1
