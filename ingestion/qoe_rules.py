"""The alert rules and histogram buckets of `reelhouse monitor`, apart from Spark (the CLI and pandas use them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

# upper edges (ms) of the startup-time histogram's buckets, as dbt's var startup_histogram_edges_ms;
# the live windows count started views per bucket under gold.fct_hourly_qoe's column names
STARTUP_EDGES_MS = (1000, 2000, 3000, 5000, 8000)
STARTUP_BUCKETS = (
    *(f"startup_time_views_{lower}_to_{upper}_ms" for lower, upper in zip((0, *STARTUP_EDGES_MS[:-1]), STARTUP_EDGES_MS,
                                                                          strict=True)),
    f"startup_time_views_{STARTUP_EDGES_MS[-1]}_ms_plus",
)

# additive columns of a live window (Spark sums them per window; the driver's roll-ups and trailing
# hours sum them again, never the ratios)
WINDOW_SUMS = ("views", "playback_failures", "started_views", "watch_time_seconds", "rebuffer_seconds",
               "stall_measured_seconds", "startup_time_ms_sum", "bitrate_kbps_sum", "video_start_failures",
               "video_playback_failures", "video_start_failures_business", "video_playback_failures_business",
               "experience_score_sum", "experience_scored_views", *STARTUP_BUCKETS)


@dataclass(frozen=True)
class AlertRules:
    """When a window of a region × CDN pair raises an alert (ratios are 0-1)."""

    METRICS: ClassVar[tuple[str, ...]] = ("stalled_time_ratio", "playback_failure_ratio", "viewer_experience_score")
    HIGHER_IS_BETTER: ClassVar[tuple[str, ...]] = ("viewer_experience_score",)

    stalled_time_ratio: float = 0.03  # absolute: share of watched time (CTA-2066) spent stalled
    playback_failure_ratio: float = 0.08  # absolute: share of start attempts that failed
    viewer_experience_score: float = 50.0  # absolute: the views' mean Mux experience score (0-100) below this
    experience_score_drop: float = 15.0  # relative: this many points under the pair's trailing hour
    relative_factor: float = 3.0  # relative: this many times the pair's trailing hour...
    relative_floor_share: float = 1 / 3  # ...and at least this share of the absolute threshold
    min_views: int = 100  # a window with fewer views is too noisy to judge
    failure_z: float = 3.0  # failures must exceed the threshold by this many standard deviations
    min_baseline_views: int = 500  # a trailing hour with fewer views is no baseline
    trailing_minutes: int = 60

    def absolute(self, metric: str) -> float:
        return getattr(self, metric)
