"""`reelhouse train|recommend`: the models trained on gold (or on an interactions file), and a
user's recommendations served from gold."""

from __future__ import annotations

import argparse
from pathlib import Path

from foundation.errors import ReelhouseError
from foundation.settings import Settings
from reelhouse.cli.arguments import non_negative_int, positive_int


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
    return {"train": _train, "recommend": _recommend}


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
        print(f"{item.rank:>3}  {item.video_id}  {item.score:10.4f}  {label}")
