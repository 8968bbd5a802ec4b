"""Live Quality of Experience for `reelhouse monitor`, the driver half: pure transforms (no IO).

A micro-batch hands over a few hundred updated windows (sums per minute, region, CDN and
device, from `ingestion.qoe.live_windows`). Here they get their ratios (`with_ratios`), are
rolled up to region × CDN, the grain at which an edge fails (`pair_windows`), which gives the
trailing hour of a pair. Alerts judge 1-minute pair windows that start every few seconds
(`ingestion.qoe.sliding_pair_windows`) against absolute thresholds and that hour (`alerts`).
This is pandas on the driver, not Spark: on a few hundred rows Spark's scheduling cost
seconds a batch, which the incident-to-alert budget does not have.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from ingestion.qoe_rules import STARTUP_BUCKETS, WINDOW_SUMS, AlertRules

LIVE_KEYS = ("window_start", "region", "cdn", "device_type")
ALERT_KEYS = ("window_start", "region", "cdn", "metric", "rule")
PAIR = ["window_start", "window_end", "region", "cdn"]
COUNTS = ("views", "playback_failures", "started_views", "video_start_failures", "video_playback_failures",
          "video_start_failures_business", "video_playback_failures_business", "experience_scored_views",
          *STARTUP_BUCKETS)
RATIOS = ("stalled_time_ratio", "playback_failure_ratio", "mean_startup_time_ms", "avg_bitrate_kbps",
          "video_start_failure_ratio", "video_playback_failure_ratio", "viewer_experience_score")
_TIME = pa.timestamp("us", tz="UTC")  # Spark's TIMESTAMP in Delta
LIVE_SCHEMA = pa.schema(
    [("window_start", _TIME), ("window_end", _TIME), ("region", pa.string()), ("cdn", pa.string()),
     ("device_type", pa.string())]
    + [(c, pa.int64() if c in COUNTS else pa.float64()) for c in WINDOW_SUMS]
    + [(c, pa.float64()) for c in RATIOS]
    + [("updated_at", _TIME)]
)
ALERTS_SCHEMA = pa.schema([
    ("alert_id", pa.string()), ("window_start", _TIME), ("window_end", _TIME), ("region", pa.string()),
    ("cdn", pa.string()), ("metric", pa.string()), ("rule", pa.string()), ("value", pa.float64()),
    ("threshold", pa.float64()), ("baseline", pa.float64()), ("views", pa.int64()),
    ("raised_at", _TIME), ("updated_at", _TIME),
])


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return (numerator / denominator.where(denominator > 0)).astype("float64")


def with_ratios(sums: pd.DataFrame) -> pd.DataFrame:
    """The QoE ratios of windows (or roll-ups of them) from their additive columns."""
    return sums.assign(
        stalled_time_ratio=_ratio(sums.rebuffer_seconds, sums.stall_measured_seconds + sums.rebuffer_seconds),
        playback_failure_ratio=_ratio(sums.playback_failures, sums.views),
        mean_startup_time_ms=_ratio(sums.startup_time_ms_sum, sums.started_views),
        avg_bitrate_kbps=_ratio(sums.bitrate_kbps_sum, sums.started_views),
        video_start_failure_ratio=_ratio(sums.video_start_failures, sums.views),
        video_playback_failure_ratio=_ratio(sums.video_playback_failures, sums.started_views),
        viewer_experience_score=_ratio(sums.experience_score_sum, sums.experience_scored_views),
    )


def overlay(table: pd.DataFrame, batch: pd.DataFrame) -> pd.DataFrame:
    """`table` rows with the batch's rows in place of those with the same key: the table after an upsert."""
    combined = pd.concat([table, batch], ignore_index=True)
    return combined.drop_duplicates(list(LIVE_KEYS), keep="last")


def pair_windows(live: pd.DataFrame) -> pd.DataFrame:
    """Windows rolled up over devices to region × CDN, with their ratios (from sums, never from ratios)."""
    return with_ratios(live.groupby(PAIR, as_index=False)[list(WINDOW_SUMS)].sum())


def trailing_baseline(current: pd.DataFrame, history: pd.DataFrame, minutes: int) -> pd.DataFrame:
    """Each current pair window with its pair's views and ratios over the `minutes` before it.

    The baseline sums the history windows that started no earlier than `minutes` before
    window_start and ended by it, so a window never judges itself or what overlaps it.
    """
    past = history.rename(columns={"window_start": "past_start", "window_end": "past_end"})
    joined = current[["window_start", "region", "cdn"]].merge(past, on=["region", "cdn"], how="left")
    within = (joined.past_end <= joined.window_start) & (
        joined.past_start >= joined.window_start - pd.Timedelta(minutes=minutes))
    past = joined[within].groupby(["window_start", "region", "cdn"], as_index=False)[list(WINDOW_SUMS)].sum()
    baseline = with_ratios(past)[["window_start", "region", "cdn", "views", *AlertRules.METRICS]]
    baseline = baseline.rename(columns={c: f"baseline_{c}" for c in ("views", *AlertRules.METRICS)})
    judged = current.merge(baseline, on=["window_start", "region", "cdn"], how="left")
    return judged.assign(baseline_views=judged.baseline_views.fillna(0).astype("int64"))


def _significant(windows: pd.DataFrame, metric: str, threshold: pd.Series, z: float) -> pd.Series:
    """Whether a window's failures are more than chance at the threshold rate would give.

    One-sided binomial test, normal approximation with continuity correction: 4 failures in
    105 views is 3.8 %, above a 2.7 % threshold, yet what a 2.7 % edge shows every so often.
    Stalled time is a share of seconds, not of views: it is judged on its value alone.
    """
    if metric != "playback_failure_ratio":
        return pd.Series(True, index=windows.index)
    rate = threshold.clip(1e-9, 1 - 1e-9)
    expected = windows.views * rate
    return (windows.playback_failures - 0.5 - expected) > z * np.sqrt(expected * (1 - rate))


def alerts(current: pd.DataFrame, history: pd.DataFrame, rules: AlertRules, raised_at: pd.Timestamp) -> pd.DataFrame:
    """Alert rows (`ALERTS_SCHEMA`) for the `current` pair windows that break a rule.

    One row per (window, pair, metric, rule): `absolute` when the value exceeds the metric's
    threshold, `relative` when it exceeds `relative_factor` times the pair's trailing hour
    (with enough views in both, and above the floor, so a usually perfect pair does not
    alert on a couple of stalls). Failures must also be significant (`_significant`). The
    experience score is better high: it alerts below its threshold, and `relative` when it
    falls `experience_score_drop` points under the trailing hour.
    """
    judged = trailing_baseline(current[current.views >= rules.min_views], history, rules.trailing_minutes)
    found = []
    for metric in AlertRules.METRICS:
        value, baseline = judged[metric], judged[f"baseline_{metric}"]
        absolute = rules.absolute(metric)
        has_baseline = (judged.baseline_views >= rules.min_baseline_views) & baseline.notna()
        lower_is_worse = metric in AlertRules.HIGHER_IS_BETTER
        if lower_is_worse:
            relative = baseline - rules.experience_score_drop
        else:
            relative = np.maximum(baseline * rules.relative_factor, absolute * rules.relative_floor_share)
        for rule, threshold, applies in (("absolute", pd.Series(absolute, index=judged.index), True),
                                         ("relative", relative, has_baseline)):
            breaks = value < threshold if lower_is_worse else value > threshold
            hit = judged[applies & breaks & _significant(judged, metric, threshold, rules.failure_z)]
            if hit.empty:
                continue
            found.append(pd.DataFrame({
                "alert_id": hit.window_start.dt.strftime("%Y-%m-%dT%H:%M:%S") + "|" + hit.region + "|" + hit.cdn
                + f"|{metric}|{rule}",
                "window_start": hit.window_start, "window_end": hit.window_end,
                "region": hit.region, "cdn": hit.cdn, "metric": metric, "rule": rule,
                "value": hit[metric], "threshold": threshold[hit.index].astype("float64"),
                "baseline": baseline[hit.index].where(has_baseline[hit.index]),
                "views": hit.views.astype("int64"), "raised_at": raised_at, "updated_at": raised_at,
            }))
    if not found:
        return ALERTS_SCHEMA.empty_table().to_pandas()
    return pd.concat(found, ignore_index=True)
