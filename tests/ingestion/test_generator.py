import itertools
import json
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest

from ingestion.generator import (
    BINGE,
    CDN_PENALTY,
    CONTINUE_SERIES,
    MALFORMERS,
    RESUME,
    SEED_FIELDS,
    SERIES_SHARE,
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
    duration = {v.video_id: v.duration_seconds for v in world.all_videos}
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


# -- series and continuations (rates in ingestion.generator) ------------------------------------

def _pairs(events: list[dict]):
    """Consecutive views of one session: (earlier, later)."""
    return [(a, b) for a, b in itertools.pairwise(events) if a["session_id"] == b["session_id"]]


def test_a_share_of_titles_are_series_whose_episodes_share_the_pilots_genre(world):
    pilots = [v for v in world.videos if v.series_id]
    assert abs(len(pilots) / len(world.videos) - SERIES_SHARE) < 0.06
    for series_id, episodes in world.series.items():
        assert {e.genre for e in episodes} == {episodes[0].genre}
        assert [(e.season, e.episode) for e in episodes] == sorted((e.season, e.episode) for e in episodes)
        assert episodes[0].series_id == series_id and (episodes[0].season, episodes[0].episode) == (1, 1)


def test_after_a_finished_episode_the_session_goes_on_to_the_next_at_the_binge_rate(events, world):
    videos = {v.video_id: v for v in world.all_videos}
    finished = [(a, b) for a, b in _pairs(events)
                if a["playback_started"] and a["watch_time_seconds"] >= 0.9 * videos[a["video_id"]].duration_seconds
                and world.next_episode(videos[a["video_id"]]) is not None]
    onward = sum(b["video_id"] == world.next_episode(videos[a["video_id"]]).video_id for a, b in finished)
    assert len(finished) > 1_000
    assert abs(onward / len(finished) - BINGE) < 0.05


def test_a_title_left_half_way_is_resumed_at_the_resume_rate_for_the_rest_of_it(events, world):
    videos = {v.video_id: v for v in world.all_videos}

    def share(event):
        return event["watch_time_seconds"] / videos[event["video_id"]].duration_seconds

    pairs = _pairs(events)
    resumed_ids = {b["event_id"] for a, b in pairs if a["video_id"] == b["video_id"]}
    started = [(a, b) for a, b in pairs if a["playback_started"] and a["event_id"] not in resumed_ids]
    left = [(a, b) for a, b in started if 0.1 <= share(a) < 0.9]
    again = [(a, b) for a, b in left if b["video_id"] == a["video_id"]]
    # the same title also comes next by chance: as often as after a finished film
    films = [(a, b) for a, b in started if share(a) >= 0.9 and not videos[a["video_id"]].series_id]
    chance = sum(b["video_id"] == a["video_id"] for a, b in films) / len(films)
    assert len(left) > 1_000 and len(films) > 1_000
    assert abs(len(again) / len(left) - (RESUME + (1 - RESUME) * chance)) < 0.04
    # a resume is the viewer's own choice and plays the rest of the title, never more
    own = [(a, b) for a, b in again if b["playback_started"] and not b["recommended"]]
    rest = [share(a) + share(b) <= 1.0001 and not b["skipped"] for a, b in own]
    assert sum(rest) / len(rest) > 0.9


def test_sessions_open_with_the_series_of_the_week_further_along_later_in_the_week(events, world):
    videos = {v.video_id: v for v in world.all_videos}
    firsts = [e for i, e in enumerate(events) if i == 0 or events[i - 1]["session_id"] != e["session_id"]]
    later_episodes = [e for e in firsts if videos[e["video_id"]].series_id
                      and (videos[e["video_id"]].season, videos[e["video_id"]].episode) != (1, 1)]
    assert len(later_episodes) / len(firsts) > CONTINUE_SERIES * 0.5
    by_user: dict[tuple, list] = {}
    for e in later_episodes:
        by_user.setdefault((e["user_id"], videos[e["video_id"]].series_id), []).append(e)
    steps = [(a, b) for views in by_user.values() for a, b in itertools.pairwise(views)]
    order = {v.video_id: i for episodes in world.series.values() for i, v in enumerate(episodes)}
    assert sum(order[b["video_id"]] >= order[a["video_id"]] for a, b in steps) / len(steps) > 0.95


def test_a_finished_view_is_a_valid_event_stamped_now_that_watches_the_whole_title():
    from datetime import UTC, timedelta

    from ingestion.generator import finished_view

    event = finished_view("u1", "vid_0001", "Horror", 6240, "probe-1")
    jsonschema.Draft202012Validator(SCHEMA).validate(event)
    assert (event["event_id"], event["user_id"], event["video_id"]) == ("probe-1", "u1", "vid_0001")
    assert event["watch_time_seconds"] == 6240.0 and event["playback_started"] and not event["skipped"]
    stamped = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - stamped) < timedelta(minutes=1)
