"""`reelhouse demo`: the main job end to end on the embedded default (local Spark, one broker).

Starts Kafka and the shared metastore, produces events (1 % malformed on purpose), streams
them into bronze with `--available-now`, builds silver and gold with dbt (`dbt build`, then
`dbt source freshness` and `dbt docs generate`), prints what gold says, trains the
recommender and the early-exit classifier (`reelhouse train`) and prints their metrics next
to the baselines and two `reelhouse recommend` answers. Then the live monitor
(`reelhouse monitor`) goes over a busy half hour sent after the week, with an incident
injected on one region × CDN pair (then streamed into bronze and built by dbt too), and the
SQL endpoint (`reelhouse serve`) and the dashboard (`reelhouse dashboard`) start in the
background. Last, the real-time recommender (`reelhouse live-recommender`) goes over every event
of the topic, then keeps running in the background with the recommendations API (`reelhouse
api`); one more view of a known user is sent and the user's list is printed before and after,
with the time from the view's Kafka append to the API's changed answer. Kafka, the metastore,
the endpoint, the dashboard, the live recommender and the API stay up afterwards; `make stop`
ends them.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from datetime import timedelta

from pyspark.sql import functions as F

from foundation import delta_rs
from foundation.catalog import register_in_catalog
from foundation.errors import ReelhouseError
from foundation.settings import Settings
from foundation.spark import build_spark
from ingestion.generator import SEED_EPOCH, GeneratorOptions, encode, finished_view
from ingestion.jobs import monitor
from ingestion.jobs.stream import StreamOptions, run
from ingestion.producer import Progress, produce
from ingestion.qoe_rules import AlertRules
from ingestion.tables import BRONZE, QOE_ALERTS, QUARANTINE
from ml import io as ml_io
from ml.jobs import live, train
from ml.serving import recommend
from reelhouse.dbt_runner import run_dbt
from reelhouse.services.api import Api
from reelhouse.services.dashboard import Dashboard
from reelhouse.services.kafka import end_offsets, ensure_topic, local_cluster
from reelhouse.services.live_recommender import LiveRecommenderService
from reelhouse.services.metastore import metastore_service
from reelhouse.services.sql_endpoint import SqlEndpoint

BUSY_EVENTS, BUSY_MINUTES = 90_000, 30  # 3,000 events a minute
INCIDENT, INCIDENT_FROM = ("US", "akamai"), 60_000  # the last ten minutes


def run_demo(settings: Settings, events: int) -> None:
    print(f"== lakehouse home: {settings.home}")
    cluster = local_cluster(settings)
    for line in cluster.start():
        print(f"== kafka: {line}")
    ensure_topic(settings.kafka, settings.topic, settings.topic_partitions, cluster.layout.replication_factor)
    metastore = metastore_service(settings)
    for line in metastore.start():
        print(f"== metastore: {line}")
    # one session for the whole demo: the stream works on paths, dbt on names in the metastore
    spark = build_spark(settings, "reelhouse-demo", catalog=True)

    print(f"== producing {events:,} events to {settings.topic} (1 % malformed on purpose)")
    sent = produce(
        GeneratorOptions(events=events, seed=42, bad_ratio=0.01), settings.kafka, settings.topic,
        workers=1, progress=Progress(events),
    )
    print(f"   {sent.sent:,} events in {sent.seconds:.1f}s = {sent.events_per_second:,.0f} events/s")

    print("== streaming Kafka -> bronze (available-now)")
    report = run(settings, StreamOptions(available_now=True))
    bronze = spark.read.format("delta").load(str(settings.table_path(*BRONZE)))
    quarantine = spark.read.format("delta").load(str(settings.table_path(*QUARANTINE)))
    print(f"   streamed {report.input_rows:,} records in {report.batches} micro-batch(es): "
          f"{report.rows_per_second:,.0f} rows/s while processing, JVM warm-up included "
          "(ops/stream_progress has each batch; `reelhouse bench ingest` measures steady state)")
    print(f"   bronze/playback_events:            {bronze.count():>10,} rows")
    print(f"   bronze/playback_events_quarantine: {quarantine.count():>10,} rows")
    for row in quarantine.groupBy("reason").count().orderBy("reason").collect():
        print(f"      {row.reason:<24}{row['count']:>8,}")

    for command in (["build"], ["source", "freshness"], ["docs", "generate"]):
        print(f"== dbt {' '.join(command)}")
        if not run_dbt(settings, command):
            raise ReelhouseError(f"dbt {' '.join(command)} failed; its log is under {settings.home / '_dbt'}")
    _print_gold(spark)

    print("== training the recommender (ALS, parameters searched on a validation split) and the early-exit "
          "classifier on gold.fct_views; baselines in the same run")
    result = train.run(spark, settings, train.TrainOptions())
    for line in train.summary(result):
        print(f"   {line}")
    register_in_catalog(spark, ml_io.output_tables(settings))
    heaviest = spark.sql("select user_id from gold.dim_users order by lifetime_views desc limit 1").first().user_id
    for user, region, genre in ((heaviest, None, None), ("user_new", "IN", "Drama")):
        answer = recommend(settings, user, 5, region, genre)
        print(f"== reelhouse recommend --user {user}{f' --region {region} --genre {genre}' if region else ''} -k 5")
        print(f"   {answer.explanation}")
        for item in answer.items:
            print(f"   {item.rank}. {item.video_id} {item.title} [{item.genre}]")
    _busy_half_hour(spark, settings)
    _serve(settings)
    _live_recommendations(spark, settings)

    print(f"== done. dbt docs: {settings.home / '_dbt' / 'target' / 'index.html'}; "
          "query gold with `reelhouse sql \"select ... from gold.<table>\"`.")
    print("   Kafka, the metastore, the SQL endpoint, the dashboard, the live recommender and the API keep running: "
          "`make stop` ends them all.")
    print(f"   Spark, Delta, Hive and Kafka logs: {settings.logs_dir} and each service's folder "
          "(`reelhouse --verbose ...` shows them on the terminal)")


def _busy_half_hour(spark, settings: Settings) -> None:
    """After the week the models learnt from: dense traffic with an incident, monitored live."""
    # the monitor starts where the busy half hour does
    monitor_from = {settings.topic: {str(p): o for p, o in end_offsets(settings.kafka,
                                                                       settings.topic).items()}}
    busy = GeneratorOptions(events=BUSY_EVENTS, seed=43, start=SEED_EPOCH + timedelta(days=7),
                            days=BUSY_MINUTES / 1440, incident=INCIDENT, incident_from=INCIDENT_FROM)
    print(f"== producing a busy half hour after the week: {BUSY_EVENTS:,} events, with an incident on "
          f"{':'.join(INCIDENT)} from event {INCIDENT_FROM:,} (`reelhouse produce --incident`)")
    produce(busy, settings.kafka, settings.topic, progress=Progress(BUSY_EVENTS))
    _monitor(spark, settings, json.dumps(monitor_from))
    print("== streaming the busy half hour into bronze, and an incremental `dbt build`")
    report = run(settings, StreamOptions(available_now=True))
    print(f"   streamed {report.input_rows:,} records")
    # dbt replaces tables this session has read: forget their cached Delta logs first (else
    # Delta prints both snapshots of every replaced table)
    spark.sparkContext._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    if not run_dbt(settings, ["build"]):
        raise ReelhouseError(f"dbt build failed; its log is under {settings.home / '_dbt'}")
    row = spark.sql("""
        select sum(playback_failures) / sum(video_start_attempts) as failures,
               sum(viewer_experience_score_sum) / sum(viewer_experience_scored_views) as experience
        from gold.fct_hourly_qoe
        where region = '{}' and cdn = '{}' and event_hour >= timestamp'{}'
    """.format(*INCIDENT, (SEED_EPOCH + timedelta(days=7)).strftime("%Y-%m-%d %H:%M:%S"))).first()
    print(f"   gold.fct_hourly_qoe agrees: {row.failures:.1%} of {':'.join(INCIDENT)} starts failed in that half hour "
          f"(viewer experience score {row.experience:.1f} of 100)")


def _monitor(spark, settings: Settings, starting_offsets: str) -> None:
    print("== live QoE monitor over the busy half hour (`reelhouse monitor`, here --available-now)")
    report = monitor.run(spark, settings, monitor.MonitorOptions(available_now=True,
                                                                 starting_offsets=starting_offsets))
    print(f"   {report.input_rows:,} events in {report.batches} micro-batch(es): gold.qoe_live has "
          f"{report.windows:,} windows, gold.qoe_alerts {report.alerts:,} alerts")
    alerts = spark.read.format("delta").load(str(settings.table_path(*QOE_ALERTS)))
    for row in alerts.groupBy("region", "cdn", "metric", "rule").agg(
            F.count("*").alias("windows"), F.min("window_start").alias("first"),
            F.min("value").alias("low"), F.max("value").alias("high"))\
            .orderBy(F.desc("windows")).limit(6).collect():
        # a score is worst at its lowest, a ratio at its highest
        worst = f"{row.low:.1f}" if row.metric in AlertRules.HIGHER_IS_BETTER else f"{row.high:.1%}"
        print(f"   {row.region} via {row.cdn:<10} {row.metric:<24} {row.rule:<9} {row.windows:>3} window(s) "
              f"from {row.first:%Y-%m-%d %H:%M}, worst {worst}")


def _serve(settings: Settings) -> None:
    print("== starting the SQL endpoint and the dashboard in the background")
    endpoint, dashboard = SqlEndpoint(settings), Dashboard(settings)
    for service in (endpoint, dashboard):  # a previous demo's would show old tables
        service.stop()
    endpoint.start()
    print(f"   SQL endpoint: {endpoint.url} (HiveServer2; e.g. `beeline -u {endpoint.url}`, "
          "or the `thrift` dbt target)")
    dashboard.start()
    print(f"   dashboard:    {dashboard.url}")
    print("   `reelhouse serve stop` and `reelhouse dashboard stop` end them (or `make stop`)")


def _live_recommendations(spark, settings: Settings) -> None:
    print("== real-time recommendations: the live recommender over every event of the topic "
          "(`reelhouse live-recommender --from-earliest`, here --available-now)")
    report = live.run(spark, settings, live.LiveOptions(available_now=True, starting_offsets="earliest"))
    print(f"   {report.views:,} started views not yet in gold.fct_views, {report.users_updated:,} user lists "
          f"rebuilt in {report.seconds:.1f}s (model {report.model_version})")
    recommender, api = LiveRecommenderService(settings), Api(settings)
    for service in (api, recommender):  # a previous demo's
        service.stop()
    recommender.start()
    api.start()
    print(f"   the live recommender keeps running; recommendations API: {api.url}/users/<user_id>/recommendations "
          f"(docs {api.url}/docs)")
    user, pilot = _user_and_unseen_pilot(settings)
    before = _ask(api, user)
    print(f"== GET /users/{user}/recommendations?k=5 ({before['source']})")
    _print_items(before)
    print(f"== one more view: {user} watches {pilot['video_id']} {pilot['title']} (a pilot) to the end")
    appended = _send_view(settings, user, pilot)
    changed, after = _wait_for_change(api, user, before, appended)
    if changed is None:
        print("   the list did not change within 30 s (see the live recommender's log)")
        return
    print(f"   the API answered a changed list {changed:.2f}s after the view's Kafka append:")
    _print_items(after)


def _user_and_unseen_pilot(settings: Settings) -> tuple[str, dict]:
    """The user with the most views, and the most viewed series pilot they have not seen."""
    views = settings.table_path("gold", "fct_views")
    user = delta_rs.query("select user_id, count(*) as n from t group by user_id order by n desc, user_id limit 1",
                          t=views).user_id.iloc[0]
    pilots = delta_rs.query(
        f"select v.video_id, v.title, v.genre, v.duration_seconds from videos v "
        f"left join (select video_id, count(*) as n from views group by video_id) c on c.video_id = v.video_id "
        f"where v.season = 1 and v.episode_number = 1 and v.video_id not in "
        f"(select video_id from views where user_id = {delta_rs.literal(user)}) order by c.n desc nulls last limit 1",
        videos=settings.table_path("gold", "dim_videos"), views=views)
    return user, pilots.iloc[0].to_dict()


def _ask(api: Api, user: str) -> dict:
    with urllib.request.urlopen(f"{api.url}/users/{urllib.parse.quote(user)}/recommendations?k=5", timeout=5) as r:
        return json.loads(r.read())


def _print_items(answer: dict) -> None:
    for item in answer["items"]:
        print(f"   {item['rank']}. {item['video_id']} {item['title']} [{item['genre']}]  {item['reason']}")


def _send_view(settings: Settings, user: str, video: dict) -> float:
    """Send one finished view of `video` by `user`; the wall time Kafka acknowledged it."""
    from kafka import KafkaProducer

    event = finished_view(user, video["video_id"], video["genre"], video["duration_seconds"],
                          f"demo-view-{time.time_ns()}")
    producer = KafkaProducer(**settings.kafka.client_options(), acks="all")
    producer.send(settings.topic, key=user.encode(), value=encode(event)).get(30)
    appended = time.time()
    producer.close()
    return appended


def _wait_for_change(api: Api, user: str, before: dict, since: float) -> tuple[float | None, dict]:
    deadline = time.time() + 30
    while time.time() < deadline:
        answer = _ask(api, user)
        if answer["items"] != before["items"]:
            return time.time() - since, answer
        time.sleep(0.05)
    return None, before


def _print_gold(spark) -> None:
    print("== gold: worst viewer experience by region and CDN (Mux score; stalls over CTA-2066 watched time)")
    worst = spark.sql("""
        select region, cdn, sum(video_start_attempts) as attempts,
               sum(viewer_experience_score_sum) / sum(viewer_experience_scored_views) as experience,
               sum(rebuffer_seconds) / sum(watched_time_seconds) as stalled,
               sum(video_start_failures) / sum(video_start_attempts) as start_failures,
               sum(exits_before_video_start) / sum(video_start_attempts) as ebvs
        from gold.fct_hourly_qoe group by region, cdn order by experience limit 5
    """).collect()
    for r in worst:
        print(f"   {r.region} via {r.cdn:<10} score {r.experience:5.1f}  stalled {r.stalled:6.2%}  "
              f"start failures {r.start_failures:6.2%}  exits before start {r.ebvs:6.2%}  ({r.attempts:,} attempts)")
    uptake = spark.sql("""
        select sum(recommended_views) / sum(views) as uptake from gold.fct_daily_recommendation_uptake
    """).first()
    completion = spark.sql("""
        select avg(case when is_recommended then completion_ratio end) as recommended,
               avg(case when not is_recommended then completion_ratio end) as organic
        from gold.fct_views
    """).first()
    print(f"== gold: {uptake.uptake:.1%} of views came from a recommendation; mean completion "
          f"{completion.recommended:.1%} recommended vs {completion.organic:.1%} organic")
    active = spark.sql("""
        select activity_date, daily_active_users, weekly_active_users
        from gold.fct_daily_active_users order by daily_active_users desc limit 1
    """).first()
    print(f"== gold: busiest day {active.activity_date}: {active.daily_active_users:,} daily and "
          f"{active.weekly_active_users:,} weekly active users")
