"""Deterministic, realistic viewing events for the load generator (no IO here).

A content catalog with Zipf-like popularity, users with a region, a main device, a genre
taste and a taste community (people who like the same titles, beyond genre: what
collaborative filtering can learn and global popularity cannot), viewing sessions of several
views, and Quality of Experience that follows from the network: bandwidth depends on region
and CDN, the player picks the highest rung of the bitrate ladder that fits, and stalls,
startup time and failures grow when the bitrate presses on the bandwidth or the CDN serves
the region badly. Whether a view completes depends on taste, on whether a recommendation fit
that taste, and on the stalls.

Series: a share of the titles (SERIES_SHARE) are the pilot of a series of 1-2 seasons of 5-8
episodes, with the pilot's genre (the community taste of a series is its pilot's). A viewer
reaches episode 2 onwards only by watching on: after finishing an episode, the next view of the
session is the next episode at the BINGE rate; a session begins with the viewer's series of the
week (at the episode their pace of EPISODES_PER_DAY has reached) at the CONTINUE_SERIES rate;
and after leaving a title between 10 % and 90 %, the next view of the session resumes it (the
rest of it) at the RESUME rate. Continuations are the viewer's own, never `recommended`.

Failures: a fatal error before the first frame (a video start failure) grows with the network
penalty as before; a fatal error after playback began (a video playback failure, the view keeps
the watch time up to it) grows with the penalty and with the bitrate's pressure on the bandwidth;
business refusals (geo-block, entitlement, too many streams) strike BUSINESS_FAILURE_SHARE of
attempts before the first frame whatever the network. Each error carries its `error_category`.

Everything is drawn from `random.Random(seed)`; the failures added later draw from their own
`random.Random(f"faults-{seed}")` once a view is complete, so a seed's views that do not fail are
as they were before those failures existed.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

GENRES = (
    "Action", "Comedy", "Drama", "Sci-Fi", "Documentary",
    "Horror", "Romance", "Thriller", "Animation", "Kids",
)
# share of users, and median last-mile bandwidth in kbps
REGIONS = {
    "US": (0.28, 18_000), "IN": (0.15, 6_000), "BR": (0.12, 9_000), "MX": (0.08, 8_000),
    "GB": (0.08, 16_000), "DE": (0.07, 15_000), "FR": (0.06, 15_000), "JP": (0.06, 20_000),
    "NG": (0.05, 3_500), "AU": (0.05, 12_000),
}
CDNS = ("akamai", "cloudfront", "fastly")
# (region, cdn) pairs that are served from far away or an overloaded edge: a quality penalty
CDN_PENALTY = {("IN", "fastly"): 2.5, ("NG", "cloudfront"): 3.0, ("BR", "akamai"): 1.8, ("AU", "fastly"): 1.6}
INCIDENT_PENALTY = 6.0  # an injected incident (`reelhouse produce --incident`): an edge in trouble
DEVICES = {"tv": 0.35, "mobile": 0.35, "desktop": 0.20, "tablet": 0.10}
# bitrate ladder (kbps) and the highest rung each device plays
LADDER = (("240p", 400), ("360p", 800), ("480p", 1_400), ("720p", 2_800),
          ("1080p", 5_000), ("1440p", 9_000), ("2160p", 16_000))
DEVICE_MAX_RUNG = {"mobile": 3, "tablet": 4, "desktop": 5, "tv": 6}
ERROR_CODES = ("NETWORK_TIMEOUT", "CDN_HTTP_5XX", "DRM_LICENSE_ERROR", "MEDIA_DECODE_ERROR")
PLAYBACK_ERROR_CODES = ("NETWORK_TIMEOUT", "CDN_HTTP_5XX", "MEDIA_DECODE_ERROR")  # what strikes mid-play
BUSINESS_ERROR_CODES = ("GEO_BLOCKED", "ENTITLEMENT_REQUIRED", "CONCURRENT_STREAM_LIMIT")
BUSINESS_FAILURE_SHARE = 0.002  # of attempts, refused before the first frame
PLAYBACK_FAILURE_BASE = 0.004  # of started views, times penalty² and the bitrate's pressure
SEED_FIELDS = (
    "user_id", "video_id", "watch_time_seconds", "resolution", "bitrate_kbps", "buffering_events",
    "paused", "skipped", "genre", "region", "recommended", "timestamp",
)
TITLE_WORDS_A = ("Silent", "Crimson", "Last", "Hidden", "Broken", "Golden", "Distant", "Electric",
                 "Midnight", "Frozen", "Wild", "Lost", "Iron", "Secret", "Burning", "Paper")
TITLE_WORDS_B = ("Harbor", "Empire", "Signal", "Garden", "Frontier", "Orbit", "Kingdom", "River",
                 "Protocol", "Summer", "Machine", "Legacy", "Storm", "Island", "Code", "Circus")
GENRE_DURATION_MINUTES = {  # (min, max) running time
    "Action": (85, 150), "Comedy": (22, 110), "Drama": (40, 140), "Sci-Fi": (45, 150),
    "Documentary": (30, 110), "Horror": (80, 120), "Romance": (85, 125), "Thriller": (45, 135),
    "Animation": (11, 100), "Kids": (11, 40),
}
SEED_EPOCH = datetime(2025, 5, 14, tzinfo=UTC)  # the seed project's event date
# Taste communities: each has its own liking for each title, lognormal around 1, that
# multiplies the title's popularity when one of its members picks what to watch.
TASTE_COMMUNITIES = 20
TASTE_SPREAD = 1.0
# How a view's title is picked: this share of views comes from the service's recommender, which
# picks within the viewer's favourite genres this often; the viewer alone, this often.
# Series and continuations (see the module's docstring); a separate generator draws the series,
# so that the 500 titles and the users stay those of earlier versions.
SERIES_SHARE = 0.25
SEASONS = (1, 2)
EPISODES_PER_SEASON = (5, 8)
EPISODE_MINUTES = (22, 60)
BINGE = 0.6
RESUME = 0.35
CONTINUE_SERIES = 0.25
EPISODES_PER_DAY = 1.5
RECOMMENDED_SHARE = 0.35
RECOMMENDED_IN_FAVOURITE_GENRE = 0.75
ORGANIC_IN_FAVOURITE_GENRE = 0.5


@dataclass(frozen=True)
class Video:
    video_id: str
    title: str
    genre: str
    duration_seconds: int
    series_id: str | None = None
    season: int | None = None
    episode: int | None = None


@dataclass(frozen=True)
class User:
    user_id: str
    region: str
    device_type: str
    favorite_genres: tuple[str, ...]
    bandwidth_kbps: float
    home_cdn: str


def _cumulative(weights: list[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _pick(rng: random.Random, items: list, cum: list[float]):
    return items[bisect.bisect(cum, rng.random() * cum[-1])]


def build_catalog(rng: random.Random, n_videos: int) -> list[Video]:
    videos = []
    for i in range(n_videos):
        genre = rng.choice(GENRES)
        low, high = GENRE_DURATION_MINUTES[genre]
        title = f"The {rng.choice(TITLE_WORDS_A)} {rng.choice(TITLE_WORDS_B)}"
        if rng.random() < 0.3:
            title += f" {rng.randint(2, 4)}"
        videos.append(Video(f"vid_{i + 1:04d}", title, genre, rng.randint(low, high) * 60))
    return videos


def build_series(rng: random.Random, titles: list[Video], first_number: int) -> tuple[list[Video], dict]:
    """Make a share of `titles` pilots: (titles with the pilots marked, {series_id: episodes in order}).

    Episodes after the pilot get new ids from `first_number` on."""
    marked, series, number = [], {}, first_number
    for video in titles:
        if rng.random() >= SERIES_SHARE:
            marked.append(video)
            continue
        series_id = f"ser_{video.video_id.removeprefix('vid_')}"
        pilot = Video(video.video_id, video.title, video.genre, video.duration_seconds, series_id, 1, 1)
        episodes = [pilot]
        for season in range(1, rng.randint(*SEASONS) + 1):
            for episode in range(1, rng.randint(*EPISODES_PER_SEASON) + 1):
                if (season, episode) == (1, 1):
                    continue
                number += 1
                episodes.append(Video(f"vid_{number:04d}", f"{video.title} S{season}E{episode}", video.genre,
                                      rng.randint(*EPISODE_MINUTES) * 60, series_id, season, episode))
        marked.append(pilot)
        series[series_id] = episodes
    return marked, series


def build_users(rng: random.Random, n_users: int) -> list[User]:
    regions = list(REGIONS)
    region_cum = _cumulative([REGIONS[r][0] for r in regions])
    devices = list(DEVICES)
    device_cum = _cumulative(list(DEVICES.values()))
    users = []
    for i in range(n_users):
        region = _pick(rng, regions, region_cum)
        favorites = tuple(rng.sample(GENRES, 2))
        bandwidth = REGIONS[region][1] * rng.lognormvariate(0, 0.5)
        device = _pick(rng, devices, device_cum)
        users.append(User(f"user_{i + 1:05d}", region, device, favorites, bandwidth, rng.choice(CDNS)))
    return users


@dataclass
class Taste:
    """What one taste community picks from: popularity times its liking, overall and per genre."""

    video_cum: list[float]
    by_genre: dict[str, tuple[list[Video], list[float]]]


def build_taste(videos: list[Video], weights: list[float]) -> Taste:
    by_genre = {}
    for genre in GENRES:
        members = [(v, w) for v, w in zip(videos, weights, strict=True) if v.genre == genre]
        by_genre[genre] = ([v for v, _ in members], _cumulative([w for _, w in members]))
    return Taste(_cumulative(weights), by_genre)


@dataclass
class World:
    """The simulated service: catalog, users, the popularity they follow and their communities' tastes."""

    videos: list[Video]  # the titles viewers pick from: films and the pilots of series
    users: list[User]
    tastes: list[Taste]
    community: dict[str, int]  # user_id -> index in tastes
    user_cum: list[float]
    series: dict[str, list[Video]] = field(default_factory=dict)  # series_id -> episodes in order
    series_cum: list[list[float]] = field(default_factory=list)  # per community: taste over `series`

    @property
    def all_videos(self) -> list[Video]:
        """Every title in the catalog: films, pilots and the later episodes."""
        return self.videos + [e for episodes in self.series.values() for e in episodes[1:]]

    def next_episode(self, video: Video) -> Video | None:
        if video.series_id is None:
            return None
        episodes = self.series[video.series_id]
        at = next(i for i, e in enumerate(episodes) if e.video_id == video.video_id)
        return episodes[at + 1] if at + 1 < len(episodes) else None

    def series_of_the_week(self, user: User, at: datetime) -> Video | None:
        """The series `user` follows in `at`'s week (drawn by their community's taste) and the
        episode their pace has reached by `at`; None without series."""
        if not self.series:
            return None
        week = (at - SEED_EPOCH) // timedelta(days=7)
        pick = random.Random(f"{user.user_id}-{week}")
        ids = list(self.series)
        series_id = _pick(pick, ids, self.series_cum[self.community[user.user_id]])
        into_week = (at - (SEED_EPOCH + week * timedelta(days=7))) / timedelta(days=1)
        episodes = self.series[series_id]
        return episodes[min(len(episodes) - 1, int(into_week * EPISODES_PER_DAY))]

    @classmethod
    def build(cls, seed: int | str, n_videos: int = 500, n_users: int = 10_000) -> World:
        rng = random.Random(f"world-{seed}")
        videos = build_catalog(rng, n_videos)
        users = build_users(rng, n_users)
        videos, series = build_series(random.Random(f"series-{seed}"), videos, n_videos)
        # Zipf-like popularity over a shuffled rank, so popularity is not the id order
        ranks = list(range(1, n_videos + 1))
        rng.shuffle(ranks)
        popularity = [1.0 / r**1.1 for r in ranks]
        activity = [rng.paretovariate(1.5) for _ in users]  # a few heavy viewers
        # a separate generator, so that the catalog and the users stay those of earlier versions
        taste_rng = random.Random(f"taste-{seed}")
        tastes = [
            build_taste(videos, [p * taste_rng.lognormvariate(0, TASTE_SPREAD) for p in popularity])
            for _ in range(TASTE_COMMUNITIES)
        ]
        community = {u.user_id: taste_rng.randrange(TASTE_COMMUNITIES) for u in users}
        position = {v.video_id: i for i, v in enumerate(videos)}
        series_cum = [
            _cumulative([taste.video_cum[position[s[0].video_id]] - (taste.video_cum[position[s[0].video_id] - 1]
                         if position[s[0].video_id] else 0.0) for s in series.values()])
            for taste in tastes
        ] if series else []
        return cls(videos, users, tastes, community, _cumulative(activity), series, series_cum)

    def popular(self, rng: random.Random, user: User) -> Video:
        return _pick(rng, self.videos, self.tastes[self.community[user.user_id]].video_cum)

    def popular_in(self, rng: random.Random, genre: str, user: User) -> Video:
        videos, cum = self.tastes[self.community[user.user_id]].by_genre[genre]
        return _pick(rng, videos, cum) if videos else self.popular(rng, user)


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def _uuid4(rng: random.Random) -> str:
    """A version-4 UUID from `rng` (deterministic, unlike uuid.uuid4)."""
    h = "%032x" % ((rng.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:  # normal approximation keeps the loop short
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def simulate_view(rng: random.Random, world: World, user: User, device: str, cdn: str,
                  incident: bool = False, video: Video | None = None, resumed_from: float = 0.0,
                  faults: random.Random | None = None) -> dict:
    """One view's outcome and QoE (without ids and timestamp).

    The viewer picks the title unless `video` is given (a continuation: the next episode, the
    series of the week, or a resume from share `resumed_from` of the title, watching on from there).
    With `faults`, business refusals and failures after the first frame are drawn from it."""
    if video is None:
        recommended = rng.random() < RECOMMENDED_SHARE
        in_genre = RECOMMENDED_IN_FAVOURITE_GENRE if recommended else ORGANIC_IN_FAVOURITE_GENRE
        video = world.popular_in(rng, rng.choice(user.favorite_genres), user) if rng.random() < in_genre \
            else world.popular(rng, user)
    else:
        recommended = False
    fits_taste = video.genre in user.favorite_genres

    penalty = CDN_PENALTY.get((user.region, cdn), 1.0) * (INCIDENT_PENALTY if incident else 1.0)
    bandwidth = user.bandwidth_kbps * rng.lognormvariate(0, 0.35) / math.sqrt(penalty)
    rung = 0
    for i in range(DEVICE_MAX_RUNG[device] + 1):
        if LADDER[i][1] <= 0.8 * bandwidth:
            rung = i
    resolution, ladder_kbps = LADDER[rung]
    bitrate = int(ladder_kbps * rng.uniform(0.85, 1.1))
    pressure = bitrate / bandwidth
    stalls_per_minute = 0.03 * penalty * (1.0 + 8.0 * max(0.0, pressure - 0.5))
    startup_ms = int(rng.lognormvariate(math.log(900), 0.45) * penalty**0.7
                     * (1.3 if device == "tv" else 1.0) * (1.0 + 0.15 * max(0, rung - 3)))

    error_code = None
    started = True
    if rng.random() < 0.006 * penalty**2:
        error_code, started = rng.choice(ERROR_CODES), False
    elif startup_ms > 4_000 and rng.random() < 0.5:
        started = False  # the viewer gave up waiting: exit before video start

    watch, buffering, rebuffer = 0.0, 0, 0.0
    paused = skipped = False
    if started:
        expected_stall_share = min(0.5, stalls_per_minute * 2.5 / 60)
        p_complete = (0.55 if fits_taste else 0.25) + (
            (0.15 if fits_taste else -0.05) if recommended else 0.0
        ) - min(0.3, expected_stall_share * 4)
        draw = rng.random()
        if resumed_from:  # the rest of the title, to its end credits or part of the way
            left = 1.0 - resumed_from
            fraction = max(0.01, rng.uniform(0.9, 1.0) - resumed_from) if draw < p_complete + 0.2 \
                else left * rng.uniform(0.1, 0.9)
        elif draw < p_complete:
            fraction = rng.uniform(0.9, 1.0)
        elif rng.random() < 0.45:
            fraction = rng.uniform(0.0, 0.08)  # skipped after a few seconds or minutes
        else:
            fraction = rng.uniform(0.1, 0.9)
        watch = round(video.duration_seconds * fraction, 1)
        skipped = fraction < 0.1 and not resumed_from
        buffering = _poisson(rng, stalls_per_minute * watch / 60)
        rebuffer = round(sum(rng.expovariate(1 / (2.0 + 2.0 * pressure)) for _ in range(buffering)), 2)
        paused = rng.random() < 1 - math.exp(-watch / 2400)

    error_category = "technical" if error_code else None
    if faults is not None and error_code is None:
        # drawn after the view is complete, so `rng`'s sequence does not depend on them
        refused, strikes, share = faults.random(), faults.random(), faults.random()
        code = faults.choice(BUSINESS_ERROR_CODES if refused < BUSINESS_FAILURE_SHARE else PLAYBACK_ERROR_CODES)
        if refused < BUSINESS_FAILURE_SHARE:
            error_code, error_category, started = code, "business", False
            watch, buffering, rebuffer, paused, skipped = 0.0, 0, 0.0, False, False
        elif started and strikes < PLAYBACK_FAILURE_BASE * penalty**2 * (1.0 + 4.0 * max(0.0, pressure - 0.5)):
            # the error ends the view `share` of the way through what the viewer would have watched
            error_code, error_category = code, "technical"
            watch, rebuffer = round(watch * share, 1), round(rebuffer * share, 2)
            buffering, skipped = int(buffering * share), False

    return {
        "user_id": user.user_id,
        "video_id": video.video_id,
        "watch_time_seconds": watch,
        "resolution": resolution,
        "bitrate_kbps": bitrate,
        "buffering_events": buffering,
        "paused": paused,
        "skipped": skipped,
        "genre": video.genre,
        "region": user.region,
        "recommended": recommended,
        "device_type": device,
        "cdn": cdn,
        "startup_time_ms": startup_ms,
        "rebuffer_seconds": rebuffer,
        "playback_started": started,
        "error_code": error_code,
        "error_category": error_category,
    }


def iter_events(
    seed: int | str,
    world: World,
    start: datetime | None = SEED_EPOCH,
    days: float = 7.0,
    expected_events: int = 200_000,
    first_event: int = 0,
    incident: tuple[str, str] | None = None,
    clock: Callable[[], datetime] | None = None,
    incident_from: int = 0,
) -> Iterator[dict]:
    """An endless stream of events in the full contract, ordered by time.

    With `start`, time is simulated: `expected_events` spread over `days`, the stream
    beginning where event number `first_event` would fall. With `start=None`, each event
    carries the wall-clock time from `clock()` (live mode). From event number `incident_from`
    on, views of the `incident` (region, cdn) pair are served badly (see `simulate_view`).
    """
    rng = random.Random(seed)
    faults = random.Random(f"faults-{seed}")
    users, user_cum = world.users, world.user_cum
    devices = list(DEVICES)
    mean_gap = days * 86_400 / max(1, expected_events)
    elapsed = first_event * mean_gap
    number = first_event
    videos = {v.video_id: v for v in world.all_videos}
    while True:
        user = _pick(rng, users, user_cum)
        device = user.device_type if rng.random() < 0.85 else rng.choice(devices)
        cdn = user.home_cdn if rng.random() < 0.8 else rng.choice(CDNS)
        session_id = _uuid4(rng)
        weekly = world.series and rng.random() < CONTINUE_SERIES
        previous: tuple[Video, float] | None = None  # the session's last started title and the share seen
        for _ in range(1 + min(6, int(rng.expovariate(0.7)))):
            hit = incident is not None and number >= incident_from and (user.region, cdn) == incident
            number += 1
            if start is None:
                stamp = clock() if clock else datetime.now(UTC)
            else:
                elapsed += rng.expovariate(1 / mean_gap)
                stamp = start + timedelta(seconds=elapsed)
            video, resumed_from = None, 0.0
            if weekly:
                video, weekly = world.series_of_the_week(user, stamp), False
            elif previous is not None:
                seen, share = previous
                following = world.next_episode(seen) if share >= 0.9 else None
                if following is not None and rng.random() < BINGE:
                    video = following
                elif 0.1 <= share < 0.9 and rng.random() < RESUME:
                    video, resumed_from = seen, share
            event = simulate_view(rng, world, user, device, cdn, hit, video, resumed_from, faults)
            event["event_id"] = _uuid4(rng)
            event["session_id"] = session_id
            event["timestamp"] = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            seen = videos[event["video_id"]]
            if event["playback_started"]:
                previous = (seen, resumed_from + event["watch_time_seconds"] / seen.duration_seconds)
            yield event


def parse_incident(text: str) -> tuple[str, str]:
    """`REGION:CDN` (e.g. `US:akamai`, any case) as a known (region, cdn) pair; ValueError otherwise."""
    region, sep, cdn = text.partition(":")
    region, cdn = region.strip().upper(), cdn.strip().lower()
    if not sep or region not in REGIONS or cdn not in CDNS:
        raise ValueError(f"expected REGION:CDN with a region of {', '.join(REGIONS)} "
                         f"and a CDN of {', '.join(CDNS)}, got {text!r}")
    return region, cdn


def catalog_rows(world: World) -> list[dict]:
    """The catalog as rows for the dbt seed `catalog_videos` (see `reelhouse catalog`); a film has
    no series_id, season or episode."""
    return [
        {"video_id": v.video_id, "title": v.title, "genre": v.genre, "duration_seconds": v.duration_seconds,
         "series_id": v.series_id, "season": v.season, "episode": v.episode}
        for v in sorted(world.all_videos, key=lambda v: v.video_id)
    ]


def to_seed_format(event: dict) -> dict:
    """The seed project's 12-field message, with its `MM/dd/yyyy` date."""
    seed = {field: event[field] for field in SEED_FIELDS}
    seed["timestamp"] = datetime.fromisoformat(event["timestamp"]).strftime("%m/%d/%Y")
    seed["watch_time_seconds"] = int(event["watch_time_seconds"])
    return seed


_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))  # one encoder: `json.dumps` with options builds one per call


def encode(event: dict) -> bytes:
    return _COMPACT_JSON.encode(event).encode()


# Malformed messages, each of a kind the streaming job must quarantine with its reason.
def _not_json(rng: random.Random, event: dict) -> bytes:
    raw = encode(event)
    return raw[: rng.randint(1, len(raw) - 2)]


def _not_utf8(rng: random.Random, event: dict) -> bytes:
    return encode(event).replace(b'"user_', b'"\xff\xfeuser_', 1)


def _missing_field(rng: random.Random, event: dict) -> bytes:
    event = dict(event)
    del event[rng.choice(SEED_FIELDS)]
    return encode(event)


def _null_field(rng: random.Random, event: dict) -> bytes:
    return encode({**event, rng.choice(SEED_FIELDS): None})


def _wrong_type(rng: random.Random, event: dict) -> bytes:
    field, value = rng.choice((
        ("watch_time_seconds", "a while"), ("bitrate_kbps", "fast"), ("buffering_events", 2.5),
        ("paused", "yes"), ("recommended", 1), ("skipped", "no"),
    ))
    return encode({**event, field: value})


def _negative_watch_time(rng: random.Random, event: dict) -> bytes:
    return encode({**event, "watch_time_seconds": -rng.uniform(1, 500)})


def _unknown_resolution(rng: random.Random, event: dict) -> bytes:
    return encode({**event, "resolution": rng.choice(("8K-ultra", "potato", "999p"))})


def _bad_timestamp(rng: random.Random, event: dict) -> bytes:
    return encode({**event, "timestamp": rng.choice(("yesterday", "13/45/2025", "2025-02-30T10:00:00Z"))})


def _not_object(rng: random.Random, event: dict) -> bytes:
    return json.dumps([event["user_id"], event["video_id"]]).encode()


def _empty(rng: random.Random, event: dict) -> bytes:
    return b""


MALFORMERS = {
    "not_json": _not_json,
    "not_utf8": _not_utf8,
    "missing_field": _missing_field,
    "null_field": _null_field,
    "wrong_type": _wrong_type,
    "negative_watch_time": _negative_watch_time,
    "unknown_resolution": _unknown_resolution,
    "bad_timestamp": _bad_timestamp,
    "not_object": _not_object,
    "empty": _empty,
}


def malform(rng: random.Random, event: dict) -> tuple[str, bytes]:
    kind = rng.choice(tuple(MALFORMERS))
    return kind, MALFORMERS[kind](rng, event)


@dataclass(frozen=True)
class GeneratorOptions:
    """What `reelhouse produce` generates; a chunk of it is a pure function of these."""

    events: int
    seed: int = 42  # the events drawn
    world_seed: int = 42  # the service: its catalog and users (the catalog seed of the dbt project)
    message_format: str = "full"  # "full" contract, or "seed" (the seed project's 12 fields)
    bad_ratio: float = 0.0
    start: datetime | None = SEED_EPOCH  # None: live, wall-clock timestamps
    days: float = 7.0
    incident: tuple[str, str] | None = None  # (region, cdn) served badly
    incident_from: int = 0  # the event number at which the incident begins
    n_users: int = 10_000
    n_videos: int = 500
    chunk_size: int = 5_000

    @property
    def chunks(self) -> int:
        return -(-self.events // self.chunk_size)


@dataclass
class Chunk:
    messages: list[tuple[bytes, bytes]]  # (key, value)
    malformed: dict[str, int]


_WORLDS: dict[tuple, World] = {}


def world_for(options: GeneratorOptions) -> World:
    key = (options.world_seed, options.n_videos, options.n_users)
    if key not in _WORLDS:
        _WORLDS[key] = World.build(options.world_seed, options.n_videos, options.n_users)
    return _WORLDS[key]


def generate_chunk(options: GeneratorOptions, index: int) -> Chunk:
    """Messages `index * chunk_size` onwards: the same for the same options and index.

    Chunks are independent so that several processes can make them in parallel.
    """
    first = index * options.chunk_size
    count = max(0, min(options.chunk_size, options.events - first))
    events = iter_events(
        f"{options.seed}-{index}", world_for(options), options.start, options.days,
        options.events, first, options.incident, incident_from=options.incident_from,
    )
    bad_rng = random.Random(f"{options.seed}-{index}-bad")
    messages, malformed = [], {}
    for event in itertools.islice(events, count):
        key = event["user_id"].encode()
        shaped = to_seed_format(event) if options.message_format == "seed" else event
        if options.bad_ratio and bad_rng.random() < options.bad_ratio:
            kind, value = malform(bad_rng, shaped)
            malformed[kind] = malformed.get(kind, 0) + 1
        else:
            value = encode(shaped)
        messages.append((key, value))
    return Chunk(messages, malformed)


def finished_view(user_id: str, video_id: str, genre: str, duration_seconds: float, event_id: str) -> dict:
    """A valid full-contract event stamped now: `user_id` watched `video_id` to the end (the
    demo's extra view and the freshness benchmark's probes)."""
    template = next(iter_events(event_id, world_for(GeneratorOptions(events=1)), start=None))
    return {**template, "event_id": event_id, "user_id": user_id, "video_id": video_id, "genre": genre,
            "watch_time_seconds": float(duration_seconds), "playback_started": True, "error_code": None,
            "error_category": None,
            "skipped": False, "recommended": False}
