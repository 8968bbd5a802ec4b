"""Names of the ML layer's tables (no Spark import here: `reelhouse recommend` stays light)."""

VIEWS = ("gold", "fct_views")
USER_RECOMMENDATIONS = ("gold", "user_recommendations")
POPULAR_VIDEOS = ("gold", "popular_videos")
VIEW_PREDICTIONS = ("gold", "view_predictions")
MODEL_METRICS = ("gold", "model_metrics")
OUTPUTS = (USER_RECOMMENDATIONS, POPULAR_VIDEOS, VIEW_PREDICTIONS, MODEL_METRICS)
ALL = "all"  # the segment value of popular_videos rows that ignore a segment (every region, every genre)
