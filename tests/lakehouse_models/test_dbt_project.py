"""`dbt build` of the whole project on a small generated lakehouse, then an incremental run.

Bronze is filled in-process (the stream's own write path, without Kafka); dbt runs as
`reelhouse dbt ...` subprocesses against the lakehouse's own metastore, as users run it.
Expected figures are computed here from bronze with PySpark, not taken from dbt's output.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from ingestion.generator import SEED_EPOCH, GeneratorOptions, encode, generate_chunk, iter_events, world_for
from ingestion.io import KAFKA_SOURCE_SCHEMA
from ingestion.jobs import load_generated
from ingestion.jobs.stream import BatchWriter
from ingestion.tables import BRONZE, QUARANTINE
from ingestion.transforms import parse_kafka_records, to_bronze

pytestmark = pytest.mark.integration

EVENTS = 20_000
DUPLICATED = 1_500  # the first events of the same seed, sent again
TOP_UP = 200  # 1 %
UNLISTED = 30  # well-formed events of titles the catalog does not list yet
UNLISTED_TITLES = ("vid_unlisted_a", "vid_unlisted_b")


def _table(spark, settings, layer, name):
    return spark.read.format("delta").load(str(settings.table_path(layer, name)))


def _dbt(reelhouse_cli, settings, *arguments):
    result = reelhouse_cli(settings, "dbt", *arguments)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def lakehouse(spark, lakehouse_with_catalog, reelhouse_cli):
    settings = lakehouse_with_catalog("dbt")
    load_generated.run(spark, settings, GeneratorOptions(events=EVENTS, seed=5, bad_ratio=0.02, days=3))
    load_generated.run(spark, settings, GeneratorOptions(events=DUPLICATED, seed=5, bad_ratio=0.02, days=3))
    _send_events_of_unlisted_titles(spark, settings)
    output = _dbt(reelhouse_cli, settings, "build")
    return settings, output


def _send_events_of_unlisted_titles(spark, settings):
    """UNLISTED valid events whose titles are missing from the catalog, through the stream's write path."""
    events = itertools.islice(iter_events(77, world_for(GeneratorOptions(events=UNLISTED)), days=3), UNLISTED)
    rows = [(None, encode({**event, "event_id": f"unlisted-{n}", "video_id": UNLISTED_TITLES[n % 2]}),
             "unlisted", 0, n, datetime.now(UTC)) for n, event in enumerate(events)]
    batch = spark.createDataFrame(rows, "key binary, value binary, topic string, partition int, offset long, "
                                        "timestamp timestamp")
    write = BatchWriter(settings, "test-unlisted-titles")
    write(write.parse(batch), 0)


def test_build_passes_every_data_and_unit_test(lakehouse):
    _, output = lakehouse
    assert "ERROR=0 SKIP=0" in output  # the unlisted titles' warning is the only one (its own test)
    assert "WARN=1 " in output
    assert "unit tests" in output and "data tests" in output


def test_events_of_titles_missing_from_the_catalog_flow_to_gold_and_are_counted(spark, lakehouse, fault_tally):
    settings, output = lakehouse
    assert "WARN" in output and "relationships_stg_playback__events_video_id" in output  # warned, not failed
    views = _table(spark, settings, "gold", "fct_views").where(F.col("video_id").isin(*UNLISTED_TITLES))
    assert fault_tally(f"{UNLISTED} events of titles missing from the catalog (bronze to gold.fct_views)",
                       [r.view_id for r in views.select("view_id").collect()],
                       [f"unlisted-{n}" for n in range(UNLISTED)]).clean == (0, 0, 0)
    assert views.count() == UNLISTED
    inferred = {r.video_id: r for r in _table(spark, settings, "gold", "dim_videos").where("not is_in_catalog")
                .collect()}
    assert set(inferred) == set(UNLISTED_TITLES)
    assert all(r.title == "Unknown title" and r.duration_seconds is None for r in inferred.values())
    counted = _table(spark, settings, "gold", "fct_hourly_data_quality").agg(F.sum("unknown_title_events")).first()[0]
    assert counted == UNLISTED


def test_silver_has_one_row_per_event_and_keeps_the_first_copy(spark, lakehouse):
    settings, _ = lakehouse
    bronze = _table(spark, settings, *BRONZE)
    silver = _table(spark, settings, "silver", "stg_playback__events")
    assert silver.count() == bronze.select("event_id").distinct().count()
    assert silver.count() < bronze.count()  # the duplicated events were really sent twice
    first_offsets = bronze.groupBy("event_id").agg(F.min("ingested_at").alias("first_ingested_at"))
    kept = silver.join(first_offsets, "event_id")
    assert kept.where(F.col("ingested_at") != F.col("first_ingested_at")).count() == 0


def test_data_quality_counts_match_bronze_and_quarantine(spark, lakehouse):
    settings, _ = lakehouse
    bronze = _table(spark, settings, *BRONZE)
    quarantine = _table(spark, settings, *QUARANTINE)
    quality = _table(spark, settings, "gold", "fct_hourly_data_quality").agg(
        F.sum("received_records").alias("received"), F.sum("quarantined_records").alias("quarantined"),
        F.sum("duplicates_removed").alias("duplicates"),
    ).first()
    assert quality.received == EVENTS + DUPLICATED + UNLISTED
    assert quality.quarantined == quarantine.count()
    assert quality.duplicates == bronze.count() - bronze.select("event_id").distinct().count()
    by_reason = {r.reason: r.n for r in _table(spark, settings, "gold", "fct_hourly_quarantine")
                 .groupBy("reason").agg(F.sum("quarantined_records").alias("n")).collect()}
    assert by_reason == {r.reason: r["count"] for r in quarantine.groupBy("reason").count().collect()}


def test_qoe_mart_agrees_with_a_pyspark_computation_from_silver(spark, lakehouse):
    settings, _ = lakehouse
    silver = _table(spark, settings, "silver", "stg_playback__events")
    started = silver.where("has_video_started")
    expected = started.groupBy("region", "cdn").agg(
        (F.sum("rebuffer_seconds") / (F.sum("watch_time_seconds") + F.sum("rebuffer_seconds"))).alias("stalled"),
        (F.sum(F.col("bitrate_kbps") * F.col("watch_time_seconds")) / F.sum("watch_time_seconds")).alias("bitrate"),
    )
    qoe = _table(spark, settings, "gold", "fct_hourly_qoe").groupBy("region", "cdn").agg(
        (F.sum("rebuffer_seconds") / (F.sum("watch_time_seconds") + F.sum("rebuffer_seconds"))).alias("stalled"),
        (F.sum("bitrate_kbps_watch_seconds") / F.sum("watch_time_seconds")).alias("bitrate"),
        F.sum("video_start_attempts").alias("attempts"),
    )
    joined = expected.join(qoe, ["region", "cdn"]).collect()
    assert len(joined) == expected.count() > 10
    for row in joined:
        assert row[2] == pytest.approx(row[4], rel=1e-9)
        assert row[3] == pytest.approx(row[5], rel=1e-9)
    assert sum(r.attempts for r in joined) == silver.count()
    # the generator serves India badly from fastly: the mart must show it
    stalled = {(r.region, r.cdn): r[4] for r in joined}
    assert stalled[("IN", "fastly")] > stalled[("IN", "akamai")]


# the published definitions, written out again here from their sources (see fct_views.yml)
DISPLAY_HEIGHTS = {"mobile": 720, "tablet": 1080, "desktop": 1440, "tv": 2160}
BUSINESS_CODES = {"GEO_BLOCKED", "ENTITLEMENT_REQUIRED", "CONCURRENT_STREAM_LIMIT", "PARENTAL_CONTROL"}
STARTUP_EDGES_MS = (0, 1000, 2000, 3000, 5000, 8000)


def _views_from_bronze_with_pandas(bronze: pd.DataFrame) -> pd.DataFrame:
    """One row per event (the first copy), with failures, watched time and Mux scores per view."""
    views = bronze.sort_values(["kafka_timestamp", "kafka_partition", "kafka_offset"]).drop_duplicates("event_id")
    views = views.assign(region=views.region.str.strip().str.upper(), cdn=views.cdn.str.strip().str.lower())
    started = views.playback_started.fillna(views.watch_time_seconds > 0).astype(bool)
    failed = views.error_code.fillna("").str.strip() != ""
    own = views.error_category.fillna("").str.strip().str.lower()
    known = own.isin(["technical", "business"])
    category = np.where(known, own, np.where(views.error_code.str.strip().str.upper().isin(BUSINESS_CODES),
                                             "business", "technical"))
    startup_s = views.startup_time_ms.fillna(0) / 1000
    measured = started & views.rebuffer_seconds.notna()
    watched = (views.watch_time_seconds + views.rebuffer_seconds + startup_s).where(measured)
    success = np.where(failed, 0.0, np.where(started, 100.0, np.where(views.startup_time_ms < 1000, np.nan, 50.0)))
    startup_score = (800 / (8 + views.startup_time_ms / 1000)).where(started)
    smooth = ((100 / np.sqrt(1 + (views.buffering_events / 2) ** 2)
               + 100 * np.exp(-10 * (views.rebuffer_seconds / watched).fillna(0))) / 2).where(measured)
    upscale = (views.device_type.map(DISPLAY_HEIGHTS) / views.resolution.str.rstrip("p").astype(float) - 1).clip(0)
    quality = (100 * np.exp(-0.33 * upscale)).where(started)
    components = pd.concat([startup_score, smooth, quality], axis=1)
    experience = success * components.mean(axis=1).fillna(100) / 100
    return views.assign(
        started=started, vsf=failed & ~started, vpf=failed & started, category=np.where(failed, category, None),
        watched=watched, rebuffer=views.rebuffer_seconds.where(measured),
        startup_known=views.startup_time_ms.where(started),
        playback_success_score=success, startup_time_score=startup_score, smoothness_score=smooth,
        video_quality_score=quality, viewer_experience_score=experience,
    )


def test_failures_scores_and_startup_histogram_agree_with_pandas_from_bronze(spark, lakehouse):
    settings, _ = lakehouse
    views = _views_from_bronze_with_pandas(_table(spark, settings, *BRONZE).toPandas())
    expected = views.groupby(["region", "cdn"]).apply(lambda v: pd.Series({
        "attempts": len(v), "starts": v.started.sum(),
        "vsf_technical": (v.vsf & (v.category == "technical")).sum(),
        "vsf_business": (v.vsf & (v.category == "business")).sum(),
        "vpf_technical": (v.vpf & (v.category == "technical")).sum(),
        "vpf_business": (v.vpf & (v.category == "business")).sum(),
        "stalled": v.rebuffer.sum() / v.watched.sum(),
        **{score: v[score].mean() for score in SCORES},
        **{f"bucket_{lower}": ((v.startup_known >= lower) & (v.startup_known < upper)).sum()
           for lower, upper in zip(STARTUP_EDGES_MS, (*STARTUP_EDGES_MS[1:], float("inf")), strict=True)},
    }), include_groups=False)

    hourly = _table(spark, settings, "gold", "fct_hourly_qoe").toPandas()
    sums = hourly.groupby(["region", "cdn"]).sum(numeric_only=True)
    assert len(expected) == len(sums) > 10
    for (region, cdn), want in expected.iterrows():
        got = sums.loc[(region, cdn)]
        assert (got.video_start_attempts, got.video_starts) == (want.attempts, want.starts)
        assert (got.video_start_failures_technical, got.video_start_failures_business,
                got.video_playback_failures_technical, got.video_playback_failures_business) == (
            want.vsf_technical, want.vsf_business, want.vpf_technical, want.vpf_business)
        assert got.video_start_failures == want.vsf_technical + want.vsf_business
        assert got.rebuffer_seconds / got.watched_time_seconds == pytest.approx(want.stalled, rel=1e-9)
        for score in SCORES:  # fct_views rounds each view's score to 4 decimals
            scored_views = got[score.replace("_score", "_scored_views")]
            assert got[f"{score}_sum"] / scored_views == pytest.approx(want[score], abs=1e-4), score
        buckets = [got[c] for c in hourly.columns if c.startswith("startup_time_views_")]
        assert buckets == [want[f"bucket_{lower}"] for lower in STARTUP_EDGES_MS]
    # both kinds of failure and both categories happen, and a bad pair fails more (the generator's network)
    totals = expected.sum()
    assert min(totals.vsf_technical, totals.vsf_business, totals.vpf_technical) > 0
    vsf = (expected.vsf_technical / expected.attempts)
    assert vsf[("IN", "fastly")] > vsf[("IN", "akamai")]


SCORES = ("playback_success_score", "startup_time_score", "smoothness_score", "video_quality_score",
          "viewer_experience_score")


def test_engagement_views_add_up_to_the_views_in_silver(spark, lakehouse):
    settings, _ = lakehouse
    silver = _table(spark, settings, "silver", "stg_playback__events")
    engagement = _table(spark, settings, "gold", "fct_daily_engagement")
    assert engagement.agg(F.sum("views")).first()[0] == silver.count()
    uptake = _table(spark, settings, "gold", "fct_daily_recommendation_uptake")
    assert uptake.agg(F.sum("recommended_views")).first()[0] == silver.where("is_recommended").count()


def test_docs_generate_and_source_freshness(reelhouse_cli, lakehouse):
    settings, _ = lakehouse
    # the catalog of one mart: every model's was read in the build, the query per schema is the same
    _dbt(reelhouse_cli, settings, "docs", "generate", "--select", "fct_hourly_qoe")
    target = settings.home / "_dbt" / "target"
    catalog = json.loads((target / "catalog.json").read_text())
    assert "model.reelhouse.fct_hourly_qoe" in catalog["nodes"]
    assert (target / "index.html").exists()
    freshness = _dbt(reelhouse_cli, settings, "source", "freshness")
    assert "PASS freshness of playback.playback_events" in freshness


def _append_rows_stamped_before_the_last_build(spark, settings, events: int):
    """Valid bronze rows whose ingested_at is a day before any silver has read: a writer whose
    clock stepped back, or a second writer committing late."""
    older = _table(spark, settings, *BRONZE).agg(F.min("ingested_at")).first()[0] - timedelta(days=1)
    options = GeneratorOptions(events=events, seed=8, start=SEED_EPOCH + timedelta(days=3), days=0.03)
    rows = [(key, value, "backdated", 0, n, older, 0)
            for n, (key, value) in enumerate(generate_chunk(options, 0).messages)]
    parsed = parse_kafka_records(spark.createDataFrame(rows, KAFKA_SOURCE_SCHEMA))
    to_bronze(parsed, F.lit(older)).write.format("delta").mode("append").save(str(settings.table_path(*BRONZE)))


def test_second_build_reads_only_the_new_events(spark, reelhouse_cli, lakehouse, fault_tally):
    settings, _ = lakehouse
    bronze_before = _table(spark, settings, *BRONZE).count()
    load_generated.run(spark, settings, GeneratorOptions(
        events=TOP_UP, seed=6, start=SEED_EPOCH + timedelta(days=3), days=0.03,
    ))
    _append_rows_stamped_before_the_last_build(spark, settings, 50)
    new_bronze_rows = _table(spark, settings, *BRONZE).count() - bronze_before
    # the incremental path this test reads (silver's merge, gold's rewrite of new days) and its data
    # tests; the other marts and the unit tests (which read no table) ran in the first build: a
    # second run of them would add minutes, not cases
    _dbt(reelhouse_cli, settings, "build", "--select", "+fct_views", "+fct_daily_engagement",
         "--indirect-selection", "cautious", "--exclude", "resource_type:unit_test")

    silver_table = DeltaTable.forPath(spark, str(settings.table_path("silver", "stg_playback__events")))
    merge = silver_table.history(1).first()
    assert merge.operation == "MERGE"
    assert int(merge.operationMetrics["numSourceRows"]) == new_bronze_rows
    assert int(merge.operationMetrics["numTargetRowsInserted"]) == new_bronze_rows

    # gold rewrote only the days that received views
    engagement = DeltaTable.forPath(spark, str(settings.table_path("gold", "fct_daily_engagement")))
    new_days = _table(spark, settings, "gold", "fct_views").where(
        F.col("event_date") >= (SEED_EPOCH + timedelta(days=3)).date()).select("event_date").distinct().count()
    overwrite = engagement.history(1).first()
    rows_of_new_days = _table(spark, settings, "gold", "fct_daily_engagement").where(
        F.col("event_date") >= (SEED_EPOCH + timedelta(days=3)).date()).count()
    assert new_days >= 1
    assert int(overwrite.operationMetrics["numOutputRows"]) == rows_of_new_days

    silver = _table(spark, settings, "silver", "stg_playback__events")
    assert fault_tally("bronze rows committed with an ingested_at below silver's last bound (silver)",
                       [r.event_id for r in silver.select("event_id").collect()],
                       {r.event_id for r in _table(spark, settings, *BRONZE).select("event_id").collect()}
                       ).clean == (0, 0, 0)
    assert silver.count() == _table(spark, settings, *BRONZE).select("event_id").distinct().count()
