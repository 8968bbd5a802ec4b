"""Names of the ingestion layer's tables, as (layer, table) under the lakehouse home, and of
its streams' checkpoints (no Spark import here: readers of these names stay light)."""

from __future__ import annotations

from pathlib import Path

from foundation.settings import Settings

BRONZE = ("bronze", "playback_events")
QUARANTINE = ("bronze", "playback_events_quarantine")
PROGRESS = ("ops", "stream_progress")
QOE_LIVE = ("gold", "qoe_live")
QOE_ALERTS = ("gold", "qoe_alerts")
# the tables dbt reads as sources (lakehouse_models/models/staging/playback/_playback__sources.yml)
SOURCES = (BRONZE, QUARANTINE, PROGRESS)

STREAM_CHECKPOINT = "bronze_playback_events"
MONITOR_CHECKPOINTS = {"live": "gold_qoe_live", "alerts": "gold_qoe_alerts"}


def source_tables(settings: Settings) -> dict[str, Path]:
    """The sources by catalog name (`bronze.playback_events`, ...) -> path, for `register_in_catalog`."""
    return {".".join(name): settings.table_path(*name) for name in SOURCES}
