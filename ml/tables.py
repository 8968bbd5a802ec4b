"""Names of the ML layer's tables (no Spark import here: `reelhouse recommend` stays light)."""

VIEWS = ("gold", "fct_views")
VIDEOS = ("gold", "dim_videos")
USER_RECOMMENDATIONS = ("gold", "user_recommendations")
POPULAR_VIDEOS = ("gold", "popular_videos")
VIEW_PREDICTIONS = ("gold", "view_predictions")
MODEL_METRICS = ("gold", "model_metrics")
OUTPUTS = (USER_RECOMMENDATIONS, POPULAR_VIDEOS, VIEW_PREDICTIONS, MODEL_METRICS)
# the real-time recommender's: each user's live top-k, and the started views it has taken in
USER_RECOMMENDATIONS_LIVE = ("gold", "user_recommendations_live")
USER_VIEWS_LIVE = ("gold", "user_views_live")
LIVE_OUTPUTS = (USER_RECOMMENDATIONS_LIVE, USER_VIEWS_LIVE)
LIVE_CHECKPOINT = "gold_user_recommendations_live"
ITEM_FACTORS_FILE = "item_factors.parquet"  # beside each model's manifest: what the live recommender loads
ALL = "all"  # the segment value of popular_videos rows that ignore a segment (every region, every genre)
