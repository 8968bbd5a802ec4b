"""`reelhouse train|recommend|live-recommender|api`: the models trained on gold (or on an
interactions file), the real-time recommender, and a user's recommendations served from gold."""

from __future__ import annotations

import argparse
from pathlib import Path

from foundation.errors import ReelhouseError
from foundation.settings import Settings
from reelhouse.cli.arguments import non_negative_float, non_negative_int, port, positive_float, positive_int
from reelhouse.cli.services import BACKGROUND, act


def register(commands) -> dict:
    train = commands.add_parser(
        "train", help="train the recommender and the early-exit classifier on gold (or on --interactions FILE)"
    )
    train.add_argument("-k", "--k", type=positive_int, default=10, help="recommendations per user (default 10)")
    train.add_argument("--input-version", type=non_negative_int,
                       help="gold.fct_views Delta version to train on (default: latest; reproduces a recorded run)")
    train.add_argument("--only", choices=("recommender", "classifier"), help="train one model only")
    train.add_argument("--interactions", type=Path,
                       help="CSV/Parquet with user_id,item_id[,weight][,timestamp] instead of gold")
    train.add_argument("--output", type=Path, help="with --interactions: where the top-k go (.csv or .parquet)")
    train.add_argument("--no-search", action="store_true",
                       help="fit Spark's default ALS parameters only (1 fit instead of the 18-set search)")

    recommend = commands.add_parser("recommend", help="a user's recommendations from gold (no Spark)")
    recommend.add_argument("--user", required=True, help="user_id")
    recommend.add_argument("-k", "--k", type=positive_int, default=10, help="how many (default 10)")
    recommend.add_argument("--region", help="a new user's region (default: gold.dim_users)")
    recommend.add_argument("--genre", help="a new user's preferred genre, e.g. Drama")

    live = commands.add_parser("live-recommender",
                               help="each user's top-k rebuilt as their views arrive (Kafka -> gold, streaming)")
    live.add_argument("action", nargs="?", default="run", choices=("run", *BACKGROUND),
                      help="run in the foreground (default), or start/stop/status in the background")
    live.add_argument("-k", "--k", type=positive_int, default=10, help="recommendations per user (default 10)")
    live.add_argument("--available-now", action="store_true", help="process what the topic holds, then exit")
    live.add_argument("--from-earliest", action="store_true",
                      help="a new job starts at the topic's first event (default: its latest)")
    live.add_argument("--trigger-seconds", type=positive_float, default=0.5,
                      help="micro-batch interval (default 0.5)")
    live.add_argument("--timeout", type=non_negative_float, help="stop after this many seconds")

    api = commands.add_parser("api", help="the recommendations HTTP API (FastAPI; GET /users/{id}/recommendations)")
    api.add_argument("action", nargs="?", default="run", choices=("run", *BACKGROUND),
                     help="run in the foreground (default), or start/stop/status in the background")
    api.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1; "
                     "elsewhere only with REELHOUSE_API_TOKEN set)")
    api.add_argument("--port", type=port, default=8000, help="port (default 8000)")
    return {"train": _train, "recommend": _recommend, "live-recommender": _live_recommender, "api": _api}


def _train(settings: Settings, args: argparse.Namespace) -> None:
    from foundation.spark import build_spark
    from ml import io
    from ml.jobs import train
    from ml.recommender import parameter_grid

    grid = parameter_grid(search=not args.no_search)
    if args.interactions:
        from ml.jobs import train_file

        if args.output is None:
            raise ReelhouseError("--interactions needs --output (a .csv or .parquet file for the top-k)")
        if args.only == "classifier" or args.input_version is not None:
            raise ReelhouseError("--interactions trains the recommender only; drop --only/--input-version")
        io.check_file_paths(args.interactions, args.output)
        result = train_file.run(build_spark(settings, "reelhouse-train-file"), args.interactions, args.output, args.k,
                                grid=grid)
        for line in train.recommender_lines(result.report, result.final):
            print(line)
        print(f"top {args.k} per user written to {result.output}")
        return
    if args.output:
        raise ReelhouseError("--output goes with --interactions; gold results go to gold.user_recommendations")
    io.require_views(settings)
    options = train.TrainOptions(k=args.k, input_version=args.input_version, grid=grid,
                                 models=(args.only,) if args.only else train.MODELS)
    result = train.run(build_spark(settings, "reelhouse-train"), settings, options)
    for line in train.summary(result):
        print(line)


def _recommend(settings: Settings, args: argparse.Namespace) -> None:
    from ml.serving import recommend

    answer = recommend(settings, args.user, args.k, args.region, args.genre)
    print(f"{answer.user_id}: {answer.explanation} (model {answer.model_version})")
    for item in answer.items:
        label = f"{item.title} [{item.genre}]" if item.title else ""
        score = "" if item.score is None else f"{item.score:.4f}"
        print(f"{item.rank:>3}  {item.video_id}  {score:>10}  {label}  ({item.reason})")


def _live_recommender(settings: Settings, args: argparse.Namespace) -> None:
    from reelhouse.services.live_recommender import READY, LiveRecommenderService

    if args.action != "run":
        act(settings, args.action, "live recommender",
            LiveRecommenderService(settings, args.k, args.from_earliest, args.trigger_seconds))
        return
    from foundation.spark import build_spark
    from ml.jobs import live
    from ml.tables import USER_RECOMMENDATIONS_LIVE
    from reelhouse.services.kafka import require_broker

    require_broker(settings.kafka)
    options = live.LiveOptions(k=args.k, available_now=args.available_now, trigger_seconds=args.trigger_seconds,
                               starting_offsets="earliest" if args.from_earliest else "latest",
                               timeout_seconds=args.timeout)
    spark = build_spark(settings, "reelhouse-live-recommender")

    def started(model_version: str | None) -> None:
        model = model_version or "(none yet: cold start only)"
        print(f"{READY}: {settings.topic} -> {settings.table_path(*USER_RECOMMENDATIONS_LIVE)}, model {model}"
              + ("" if args.available_now else "; Ctrl-C stops"), flush=True)

    report = live.run(spark, settings, options, on_start=started)
    print(f"live recommender: {report.views:,} started views in {report.batches} batches, "
          f"{report.users_updated:,} user lists rebuilt in {report.seconds:.1f}s")


def _api(settings: Settings, args: argparse.Namespace) -> None:
    import sys

    from reelhouse.services.api import Api

    api = Api(settings, args.host, args.port)
    if args.action == "run":
        sys.exit(api.run())
    act(settings, args.action, "recommendations API", api)
