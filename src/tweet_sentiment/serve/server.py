"""``python -m tweet_sentiment.serve --model-uri DIR_OR_GS_URI``: the model server the image runs."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import fields

from tweet_sentiment.core.errors import TweetSentimentError
from tweet_sentiment.serve.config import CHOICES, ServeConfig


def build_parser() -> argparse.ArgumentParser:
    """One flag per ``ServeConfig`` field, with its default and help."""
    parser = argparse.ArgumentParser(
        prog="python -m tweet_sentiment.serve",
        description="Serve a registered model over HTTP (KServe V1 and Open Inference Protocol V2).",
    )
    for spec in fields(ServeConfig):
        parser.add_argument(
            "--" + spec.name.replace("_", "-"),
            type=type(spec.default),
            default=spec.default,
            choices=CHOICES.get(spec.name),
            help=spec.metadata["help"],
        )
    return parser


def config_from_args(argv: list[str] | None = None) -> ServeConfig:
    args = build_parser().parse_args(argv)
    return ServeConfig(
        **{spec.name: getattr(args, spec.name) for spec in fields(ServeConfig)}
    ).with_environment()


async def _bad_request(_request, exc):
    """A body that does not fit the V2 schema: FastAPI says 422 with a list, we say 400 with a line."""
    from fastapi.responses import JSONResponse

    # The V2 body is InferenceRequest | bytes; the bytes branch's complaint says nothing useful.
    errors = [error for error in exc.errors() if tuple(error.get("loc", ()))[1:2] != ("bytes",)]
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error.get('loc', ())[2:]) or 'body'}: {error.get('msg')}"
        for error in errors or exc.errors()
    )
    return JSONResponse(status_code=400, content={"error": f"invalid request body: {problems}"})


def make_server(config: ServeConfig):
    """The KServe ``ModelServer`` (REST only, one process) with our 400 for malformed V2 bodies."""
    from fastapi.exceptions import RequestValidationError
    from kserve import ModelServer
    from kserve.model_server import app

    app.add_exception_handler(RequestValidationError, _bad_request)
    return ModelServer(http_port=config.http_port, enable_grpc=False, workers=1)


def main(argv: list[str] | None = None) -> int:
    from tweet_sentiment.serve.model import SentimentModel

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = config_from_args(argv)
        model = SentimentModel(config)
        model.load()
    except TweetSentimentError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    make_server(config).start([model])
    return 0
