"""`reelhouse train`: the recommender and the early-exit classifier, trained on gold.fct_views.

Reads  gold.fct_views at one Delta version (`--input-version`, default the latest; recorded).
Writes gold.user_recommendations (overwritten: user_id, rank, video_id, score, model_version),
       gold.popular_videos (cold start: region, genre, rank, video_id, score, model_version),
       gold.view_predictions (overwritten: the classifier on its test split),
       gold.model_metrics (appended: model, metric, k, value, split, trained_at, input table/version),
       and the models with a manifest under <home>/_models/<model_version>/.
Run    `reelhouse train [-k 10] [--input-version N] [--only recommender|classifier]`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from foundation.settings import Settings
from ml import io
from ml.classifier import ClassifierReport, train_classifier
from ml.interactions import popular_by_segment, top_by, view_events
from ml.recommender import SEARCH_GRID, ALSParams, FinalModel, RecommenderReport, evaluate_and_fit
from ml.tables import MODEL_METRICS, POPULAR_VIDEOS, USER_RECOMMENDATIONS, VIEW_PREDICTIONS, VIEWS

POPULAR_PER_SEGMENT = 50
MODELS = ("recommender", "classifier")


@dataclass(frozen=True)
class TrainOptions:
    k: int = 10
    input_version: int | None = None
    models: tuple[str, ...] = MODELS
    grid: tuple[ALSParams, ...] = SEARCH_GRID


@dataclass
class TrainResult:
    model_version: str
    input_version: int
    recommender: RecommenderReport | None = None
    final: FinalModel | None = None
    classifier: ClassifierReport | None = None


def run(spark: SparkSession, settings: Settings, options: TrainOptions) -> TrainResult:
    views, version = io.read_views(spark, settings, options.input_version)
    views = views.cache()
    trained_at = datetime.now(UTC).replace(microsecond=0)
    result = TrainResult(f"{trained_at:%Y%m%dT%H%M%SZ}-fct_views-v{version}", version)
    metrics, models, manifest = [], {}, {"input_table": ".".join(VIEWS), "input_version": version,
                                           "trained_at": trained_at.isoformat()}

    if "recommender" in options.models:
        events = views.transform(view_events()).cache()
        report, final = evaluate_and_fit(events, options.k, options.grid)
        result.recommender, result.final = report, final
        io.overwrite_table(_user_recommendations(final.recommendations, result.model_version), settings,
                           USER_RECOMMENDATIONS)
        io.overwrite_table(_popular_videos(events, result.model_version), settings, POPULAR_VIDEOS)
        metrics += recommender_metric_rows(report, final)
        models.update(als=final.model, user_index=final.index.users, item_index=final.index.items)
        manifest["recommender"] = {
            "params": asdict(report.search.best), "split": report.split, "k": options.k,
            "evidence": "completion_ratio + 0.5 if completion_ratio >= 0.9 - 1.0 if is_skipped (ml.interactions)",
        }

    if "classifier" in options.models:
        report = train_classifier(views)
        result.classifier = report
        io.overwrite_table(report.predictions.withColumn("model_version", F.lit(result.model_version)),
                           settings, VIEW_PREDICTIONS)
        metrics += classifier_metric_rows(report)
        models.update(report.models)
        manifest["classifier"] = {"test_from": str(report.cut), "importances": report.importances}

    rows = [(m, metric, k, float(v), split) for m, metric, k, v, split in metrics]
    frame = spark.createDataFrame(rows, "model string, metric string, k int, value double, split string")
    io.append_table(
        frame.select(
            "model", "metric", "k", "value", "split",
            F.lit(trained_at).cast("timestamp").alias("trained_at"),
            F.lit(".".join(VIEWS)).alias("input_table"),
            F.lit(version).cast("long").alias("input_version"),
            F.lit(result.model_version).alias("model_version"),
        ),
        settings, MODEL_METRICS,
    )
    io.save_models(settings, result.model_version, models, manifest)
    if result.final:
        io.save_item_factors(settings, result.model_version, result.final.model, result.final.index.items.labels)
    views.unpersist()
    return result


def _user_recommendations(recommendations: DataFrame, model_version: str) -> DataFrame:
    return recommendations.select(
        "user_id", F.col("rank").cast("int"), F.col("item_id").alias("video_id"), "score",
        F.lit(model_version).alias("model_version"),
    )


def _popular_videos(events: DataFrame, model_version: str) -> DataFrame:
    return (
        popular_by_segment(events, ["region", "genre"])
        .transform(top_by(["region", "genre"], F.desc("score"), POPULAR_PER_SEGMENT))
        .select("region", "genre", F.col("rank").cast("int"), F.col("item_id").alias("video_id"), "score",
                F.lit(model_version).alias("model_version"))
    )


def recommender_metric_rows(report: RecommenderReport, final: FinalModel) -> list[tuple]:
    rows = []
    for name, evaluation in report.evaluations.items():
        for metric in ("precision", "recall", "ndcg", "map", "coverage"):
            rows.append((name, metric, report.k, evaluation.metrics[metric], "test"))
        rows.append((name, "users", report.k, evaluation.metrics["users"], "test"))
    if report.cold_start:
        for metric in ("precision", "recall", "ndcg", "map", "users"):
            rows.append((report.cold_start.model, metric, report.k, report.cold_start.metrics[metric], "test"))
    for tried in report.search.tried:
        rows.append((f"als[{tried.params.label()}]", "ndcg", report.k, tried.metrics["ndcg"], "validation"))
    rows.append(("als_tuned", "fit_seconds", None, final.fit_seconds, "all"))
    rows.append(("als_tuned", "recommend_seconds", None, final.recommend_seconds, "all"))
    rows.append(("als_tuned", "interactions", None, final.interactions, "all"))
    return rows


def classifier_metric_rows(report: ClassifierReport) -> list[tuple]:
    rows = []
    for evaluation in report.evaluations:
        rows.append((evaluation.model, "roc_auc", None, evaluation.roc_auc, "test"))
        rows.append((evaluation.model, "pr_auc", None, evaluation.pr_auc, "test"))
    rows.append(("gbt_early_exit", "positive_rate", None, report.positive_rate, "train"))
    for feature, importance in report.importances:
        rows.append(("gbt_early_exit", f"importance:{feature}", None, importance, "train"))
    return rows


def summary(result: TrainResult) -> list[str]:
    """What `reelhouse train` and the demo print."""
    lines = [f"model version {result.model_version} (gold.fct_views version {result.input_version})"]
    if result.recommender:
        lines += recommender_lines(result.recommender, result.final)
    if result.classifier:
        report = result.classifier
        lines.append(f"early-exit classifier: train {report.train_views:,} views, test {report.test_views:,} "
                     f"(from {report.cut}); positive rate {report.positive_rate:.1%}")
        for evaluation in report.evaluations:
            lines.append(f"  {evaluation.model:<34} ROC-AUC {evaluation.roc_auc:.3f}  PR-AUC {evaluation.pr_auc:.3f}")
        top = ", ".join(f"{name} {weight:.2f}" for name, weight in report.importances[:5])
        lines.append(f"  top features: {top}")
    return lines


def recommender_lines(report: RecommenderReport, final: FinalModel) -> list[str]:
    lines = []
    lines.append(f"recommender, {report.split}; k={report.k}")
    lines.append(f"  {'model':<30}{'NDCG':>8}{'MAP':>8}{'P@k':>8}{'R@k':>8}{'cover':>8}{'users':>8}")
    for evaluation in [*report.evaluations.values(), *([report.cold_start] if report.cold_start else [])]:
        m = evaluation.metrics
        lines.append(f"  {evaluation.model:<30}{m['ndcg']:8.4f}{m['map']:8.4f}{m['precision']:8.4f}"
                     f"{m['recall']:8.4f}{m.get('coverage', 0):8.3f}{m['users']:8,}")
    lines.append(f"  tuned on the validation split: {report.search.best.label()} "
                 f"({len(report.search.tried)} tried); NDCG tuned / popularity = {report.ratio():.2f}x, "
                 f"default / popularity = {report.ratio('als_default'):.2f}x")
    lines.append(f"  final model: {final.interactions:,} interactions, fit {final.fit_seconds:.1f}s "
                 f"+ recommend {final.recommend_seconds:.1f}s")
    return lines
