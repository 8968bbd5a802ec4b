"""reelhouse: a lakehouse for video-streaming analytics (Kafka -> Delta -> dbt -> ML)."""

__version__ = "0.1.0"
