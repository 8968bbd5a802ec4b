import itertools
import json
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest

from ingestion.generator import (
    CDN_PENALTY,
    MALFORMERS,
    SEED_FIELDS,
    GeneratorOptions,
    World,
    generate_chunk,
    iter_events,
    parse_incident,
    to_seed_format,
)

SCHEMA = json.loads((Path(__file__).parents[2] / "ingestion/schemas/playback_event.schema.json").read_text())


@pytest.fixture(scope="module")
def world() -> World:
    return World.build(7, n_videos=300, n_users=3_000)


@pytest.fixture(scope="module")
def events(world: World) -> list[dict]:
    return list(itertools.islice(iter_events(7, world), 60_000))


def test_same_seed_gives_same_messages_and_another_seed_does_not():
    options = GeneratorOptions(events=2_000, seed=11, bad_ratio=0.1, chunk_size=1_000)
    again = GeneratorOptions(events=2_000, seed=11, bad_ratio=0.1, chunk_size=1_000)
    other = GeneratorOptions(events=2_000, seed=12, bad_ratio=0.1, chunk_size=1_000)
    assert generate_chunk(options, 1).messages == generate_chunk(again, 1).messages
    assert generate_chunk(options, 1).messages != generate_chunk(other, 1).messages


def test_generated_events_follow_the_json_schema(events):
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for event in events[:2_000]:
        validator.validate(event)


def test_seed_format_has_the_seed_fields_and_date_only(events):
    seed = to_seed_format(events[0])
    assert tuple(seed) == SEED_FIELDS
    assert datetime.strptime(seed["timestamp"], "%m/%d/%Y")
    jsonschema.Draft202012Validator(SCHEMA).validate(seed)


def test_events_are_in_time_order(events):
    stamps = [e["timestamp"] for e in events[:5_000]]
    assert stamps == sorted(stamps)


def test_popularity_is_skewed_towards_few_titles(events):
    counts = sorted((sum(1 for _ in g) for _, g in itertools.groupby(sorted(e["video_id"] for e in events))),
                    reverse=True)
    top_tenth = sum(counts[: len(counts) // 10])
    assert top_tenth / len(events) > 0.5


def _completion_rate(rows: list[dict], world: World) -> float:
    duration = {v.video_id: v.duration_seconds for v in world.videos}
    done = [e["watch_time_seconds"] / duration[e["video_id"]] >= 0.9 for e in rows]
    return sum(done) / len(done)


def test_recommendations_that_fit_taste_complete_more_often(events, world):
    taste = {u.user_id: u.favorite_genres for u in world.users}
    started = [e for e in events if e["recommended"] and e["playback_started"]]
    fitting = [e for e in started if e["genre"] in taste[e["user_id"]]]
    other = [e for e in started if e["genre"] not in taste[e["user_id"]]]
    assert len(fitting) > 1_000 and len(other) > 1_000
    assert _completion_rate(fitting, world) > _completion_rate(other, world) + 0.2


def test_a_badly_served_region_cdn_pair_stalls_and_starts_slower(events):
    def stats(rows):
        minutes = sum(e["watch_time_seconds"] for e in rows) / 60
        startup = sorted(e["startup_time_ms"] for e in rows)
        return sum(e["buffering_events"] for e in rows) / minutes, startup[len(startup) // 2]

    bad = [e for e in events if (e["region"], e["cdn"]) in CDN_PENALTY]
    good = [e for e in events if (e["region"], e["cdn"]) not in CDN_PENALTY and e["region"] in {"US", "DE", "GB"}]
    bad_stalls, bad_startup = stats(bad)
    good_stalls, good_startup = stats(good)
    assert bad_stalls > 1.5 * good_stalls
    assert bad_startup > 1.3 * good_startup


def test_an_incident_degrades_its_pair_only_from_its_first_event_on(world):
    def failure_and_stall_rates(rows):
        minutes = sum(e["watch_time_seconds"] for e in rows) / 60
        return (sum(e["error_code"] is not None for e in rows) / len(rows),
                sum(e["rebuffer_seconds"] for e in rows) / 60 / minutes)

    pair, onset = ("US", "akamai"), 20_000
    events = list(itertools.islice(iter_events(7, world, incident=pair, incident_from=onset), 40_000))
    hit = [e for e in events[onset:] if (e["region"], e["cdn"]) == pair]
    before = [e for e in events[:onset] if (e["region"], e["cdn"]) == pair]
    others_after = [e for e in events[onset:] if (e["region"], e["cdn"]) != pair and e["region"] == "US"]
    assert len(hit) > 500 and len(before) > 500
    hit_failures, hit_stalls = failure_and_stall_rates(hit)
    for rows in (before, others_after):
        failures, stalls = failure_and_stall_rates(rows)
        assert hit_failures > 5 * failures
        assert hit_stalls > 3 * stalls


def test_incident_names_a_known_region_and_cdn_in_any_case():
    assert parse_incident("us:Akamai") == ("US", "akamai")
    for bad in ("US", "US:", "XX:akamai", "US:limelight", ":akamai"):
        with pytest.raises(ValueError, match="REGION:CDN"):
            parse_incident(bad)


def test_failed_or_abandoned_starts_watch_nothing(events):
    not_started = [e for e in events if not e["playback_started"]]
    assert not_started, "the generator should produce some failed starts"
    assert all(e["watch_time_seconds"] == 0 and e["buffering_events"] == 0 for e in not_started)
    assert {e["error_code"] is None for e in not_started} == {True, False}


def test_higher_bitrate_needs_more_bandwidth_so_low_bandwidth_regions_play_lower(events):
    def share_hd(region):
        rows = [e for e in events if e["region"] == region]
        return sum(e["resolution"] in {"1080p", "1440p", "2160p"} for e in rows) / len(rows)

    assert share_hd("JP") > share_hd("NG") + 0.2


def test_bad_ratio_one_malforms_every_message_with_every_kind():
    chunk = generate_chunk(GeneratorOptions(events=2_000, seed=3, bad_ratio=1.0, chunk_size=2_000), 0)
    assert sum(chunk.malformed.values()) == len(chunk.messages) == 2_000
    assert set(chunk.malformed) == set(MALFORMERS)
