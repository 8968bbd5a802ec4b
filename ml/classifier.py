"""Early-exit classifier: at the start of a view, will the viewer skip it or leave within the first quarter?

Only what is known when the view starts is a feature: the context of the view (device,
region, CDN, resolution, startup time, whether a recommendation led to it, genre, length,
hour) and aggregates of *earlier* views (those that started strictly before this one) of
the same user, of the same user in this genre, and of the same video by anyone. Nothing
from the view's own outcome (`OUTCOME_COLUMNS`) and nothing from later views.

`check_no_leakage` refuses a feature set that names an outcome column or in which a single
numeric feature separates the label almost perfectly (the seed's decision tree scored
0.989 accuracy by predicting a label computed from its own inputs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression
from pyspark.ml.feature import OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from ml.metrics import binary_metrics

LABEL = "is_early_exit"
EARLY_EXIT_COMPLETION = 0.25
# known only once the view is over
OUTCOME_COLUMNS = frozenset({
    LABEL, "watch_time_seconds", "completion_ratio", "is_skipped", "is_paused", "buffering_events",
    "rebuffer_seconds", "bitrate_kbps", "error_code", "has_playback_failure", "is_exit_before_video_start",
})
CATEGORICAL_FEATURES = ("device_type", "region", "cdn", "genre")
NUMERIC_FEATURES = (
    "resolution_height", "startup_time_ms", "recommended", "hour_of_day", "video_duration_seconds",
    "user_prior_views", "user_prior_early_exit_rate", "user_prior_mean_completion",
    "user_genre_prior_share", "user_genre_prior_early_exit_rate",
    "video_prior_views", "video_prior_early_exit_rate",
)
NO_HISTORY = -1.0  # rate features of a first view; the prior-view counts (0) tell both models apart
MAX_SINGLE_FEATURE_AUC = 0.95


class LeakageError(ValueError):
    """A feature is (or looks) computed from the label or the view's own outcome."""


def with_early_exit_label(views: DataFrame) -> DataFrame:
    """Started views only (a view that never started is a QoE failure, not a choice), with the 0/1 label."""
    return views.where(F.col("has_video_started")).withColumn(
        LABEL, (F.col("is_skipped") | (F.col("completion_ratio") < EARLY_EXIT_COMPLETION)).cast("int")
    )


def with_view_start_features(views: DataFrame) -> DataFrame:
    """Adds NUMERIC_FEATURES to labelled views (the categorical ones are columns of fct_views already)."""
    started = F.unix_millis(F.col("event_at"))
    earlier = Window.unboundedPreceding, -1  # strictly before this view's start

    def before(*partition: str) -> Window:
        return Window.partitionBy(*partition).orderBy("_started_ms").rangeBetween(*earlier)

    by_user, by_user_genre, by_video = before("user_id"), before("user_id", "genre"), before("video_id")
    return (
        views.withColumn("_started_ms", started)
        .withColumn("recommended", F.col("is_recommended").cast("double"))
        .withColumn("hour_of_day", F.hour("event_at").cast("double"))
        .withColumn("user_prior_views", F.count("*").over(by_user).cast("double"))
        .withColumn("user_prior_early_exit_rate", F.avg(LABEL).over(by_user))
        .withColumn("user_prior_mean_completion", F.avg("completion_ratio").over(by_user))
        .withColumn(
            "user_genre_prior_share",
            F.count("*").over(by_user_genre) / F.greatest(F.col("user_prior_views"), F.lit(1.0)),
        )
        .withColumn("user_genre_prior_early_exit_rate", F.avg(LABEL).over(by_user_genre))
        .withColumn("video_prior_views", F.count("*").over(by_video).cast("double"))
        .withColumn("video_prior_early_exit_rate", F.avg(LABEL).over(by_video))
        .fillna(NO_HISTORY, subset=[c for c in NUMERIC_FEATURES if c.endswith(("_rate", "_completion"))])
        .fillna(0.0, subset=["resolution_height", "startup_time_ms", "video_duration_seconds"])
        .withColumn("resolution_height", F.col("resolution_height").cast("double"))
        .withColumn("startup_time_ms", F.col("startup_time_ms").cast("double"))
        .withColumn("video_duration_seconds", F.col("video_duration_seconds").cast("double"))
        .drop("_started_ms")
    )


def check_no_leakage(
    frame: DataFrame, numeric: Iterable[str], categorical: Iterable[str] = (), label: str = LABEL,
    max_auc: float = MAX_SINGLE_FEATURE_AUC,
) -> dict[str, float]:
    """Raise LeakageError if a feature is an outcome column or alone predicts the label too well.

    Returns each numeric feature's single-feature ROC-AUC (folded to >= 0.5).
    """
    named = [c for c in (*numeric, *categorical) if c in OUTCOME_COLUMNS or c == label]
    if named:
        raise LeakageError(f"feature(s) {', '.join(named)} are known only after the view: not allowed")
    aucs = {}
    for column in numeric:
        auc = binary_metrics(frame, column, label)["roc_auc"]
        aucs[column] = max(auc, 1 - auc)
        if aucs[column] > max_auc:
            raise LeakageError(
                f"feature {column} alone separates {label} (ROC-AUC {aucs[column]:.3f} > {max_auc}): "
                "it is probably computed from the outcome"
            )
    return aucs


def _indexers() -> list[StringIndexer]:
    return [StringIndexer(inputCol=c, outputCol=f"{c}_index", handleInvalid="keep") for c in CATEGORICAL_FEATURES]


def gbt_pipeline(max_iter: int = 40, max_depth: int = 5, seed: int = 42) -> Pipeline:
    assembler = VectorAssembler(inputCols=[f"{c}_index" for c in CATEGORICAL_FEATURES] + list(NUMERIC_FEATURES),
                                outputCol="features")
    gbt = GBTClassifier(labelCol=LABEL, featuresCol="features", maxIter=max_iter, maxDepth=max_depth,
                        maxBins=32, stepSize=0.1, seed=seed)
    return Pipeline(stages=[*_indexers(), assembler, gbt])


def logistic_pipeline() -> Pipeline:
    encoder = OneHotEncoder(inputCols=[f"{c}_index" for c in CATEGORICAL_FEATURES],
                            outputCols=[f"{c}_onehot" for c in CATEGORICAL_FEATURES], handleInvalid="keep")
    assembler = VectorAssembler(
        inputCols=[f"{c}_onehot" for c in CATEGORICAL_FEATURES] + list(NUMERIC_FEATURES), outputCol="raw_features"
    )
    scaler = StandardScaler(inputCol="raw_features", outputCol="features", withMean=True, withStd=True)
    logistic = LogisticRegression(labelCol=LABEL, featuresCol="features", maxIter=100, regParam=0.001)
    return Pipeline(stages=[*_indexers(), encoder, assembler, scaler, logistic])


def with_positive_probability(model: PipelineModel, frame: DataFrame, column: str = "early_exit_probability"
                              ) -> DataFrame:
    return model.transform(frame).withColumn(column, vector_to_array("probability")[1])


def feature_importances(model: PipelineModel) -> list[tuple[str, float]]:
    """The tree ensemble's importances by feature, largest first (one slot per feature: no one-hot)."""
    names = [f"{c}" for c in CATEGORICAL_FEATURES] + list(NUMERIC_FEATURES)
    weights = model.stages[-1].featureImportances.toArray()
    return sorted(zip(names, (float(w) for w in weights), strict=True), key=lambda p: -p[1])


@dataclass
class ClassifierEvaluation:
    model: str
    roc_auc: float
    pr_auc: float


def evaluate(scored: DataFrame, model: str, score_col: str = "early_exit_probability") -> ClassifierEvaluation:
    metrics = binary_metrics(scored, score_col, LABEL)
    return ClassifierEvaluation(model, metrics["roc_auc"], metrics["pr_auc"])


@dataclass
class ClassifierReport:
    cut: object
    train_views: int
    test_views: int
    positive_rate: float
    single_feature_auc: dict[str, float]
    evaluations: list[ClassifierEvaluation]  # gbt, logistic regression, majority class (on the test split)
    importances: list[tuple[str, float]]
    models: dict[str, PipelineModel]
    predictions: DataFrame  # the test split: view_id, ..., early_exit_probability, LABEL


def train_classifier(views: DataFrame, test_share: float = 0.2) -> ClassifierReport:
    """Label, featurise, split by time (the last `test_share` of views is the test split), check
    for leakage, fit the gradient-boosted trees and the logistic baseline, score all three."""
    labelled = views.transform(with_early_exit_label).transform(with_view_start_features).cache()
    cut = labelled.select(F.percentile_approx("event_at", 1 - test_share, 10_000)).first()[0]
    train = labelled.where(F.col("event_at") < F.lit(cut)).cache()
    test = labelled.where(F.col("event_at") >= F.lit(cut)).cache()
    aucs = check_no_leakage(train, NUMERIC_FEATURES, CATEGORICAL_FEATURES)
    positive_rate = train.agg(F.avg(LABEL)).first()[0]
    gbt = gbt_pipeline().fit(train)
    logistic = logistic_pipeline().fit(train)
    scored = with_positive_probability(gbt, test).cache()
    evaluations = [
        evaluate(scored, "gbt_early_exit"),
        evaluate(with_positive_probability(logistic, test), "logistic_regression_early_exit"),
        # the majority class as a score: the same probability for every view
        evaluate(test.withColumn("early_exit_probability", F.lit(positive_rate)), "majority_class_early_exit"),
    ]
    predictions = scored.select(
        "view_id", "user_id", "video_id", "event_at", "early_exit_probability",
        (F.col("early_exit_probability") >= 0.5).alias("is_predicted_early_exit"),
        F.col(LABEL).cast("boolean").alias(LABEL),
    )
    return ClassifierReport(
        cut, train.count(), test.count(), positive_rate, aucs, evaluations, feature_importances(gbt),
        {"early_exit_gbt": gbt, "early_exit_logistic": logistic}, predictions,
    )
