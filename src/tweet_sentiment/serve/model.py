"""The KServe model: a registry version loaded once, requests validated, batched and scored."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from kserve import InferRequest, Model
from prometheus_client import Histogram

from tweet_sentiment.core.errors import DataSourceError, ModelSourceError
from tweet_sentiment.core.labels import LABELS
from tweet_sentiment.core.storage import locate
from tweet_sentiment.serve.batching import MicroBatcher
from tweet_sentiment.serve.config import ServeConfig
from tweet_sentiment.serve.requests import V2_TEXT_DATATYPE, v1_response, v1_texts, v2_response, v2_texts

MODEL_SUBDIR = "model"  # a registry version keeps its save_pretrained directory here

logger = logging.getLogger(__name__)

# Texts per model call, on /metrics: how much batching concurrent requests get.
BATCH_SIZE = Histogram(
    "tweet_sentiment_batch_texts",
    "Texts scored together in one model call (the texts of every request that waited).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)


def resolve_model_dir(uri: str) -> Path:
    """The local save_pretrained directory of ``uri``: a registry version (its ``model/``) or a model
    directory, local or remote (downloaded once, at start)."""
    try:
        local = locate(uri, lambda: tempfile.mkdtemp(prefix="serve-model-"))
    except DataSourceError as exc:
        raise ModelSourceError(f"model {uri!r}: {exc}") from None
    if local is None or not local.is_dir():
        raise ModelSourceError(
            f"model {uri!r}: not a directory (a registry version or a save_pretrained directory)"
        )
    for candidate in (local / MODEL_SUBDIR, local):
        if (candidate / "config.json").is_file():
            return candidate
    raise ModelSourceError(
        f"model {uri!r}: neither it nor its {MODEL_SUBDIR}/ holds a config.json "
        "(expected a registry version directory or a save_pretrained directory)"
    )


class SentimentModel(Model):
    """Tweets in (V1 ``instances`` or a V2 ``BYTES`` input), labels and probabilities out."""

    def __init__(self, config: ServeConfig):
        super().__init__(config.model_name)
        self.config = config
        self.batcher: MicroBatcher | None = None
        self.backend = ""  # what scores: onnx-int8, onnx-fp32, torch-fp32, torch-bf16 (V2 responses say it)

    def load(self) -> bool:
        from tweet_sentiment.model.inference import Scorer

        model_dir = resolve_model_dir(self.config.model_uri)
        scorer = Scorer(
            model_dir,
            backend=self.config.backend,
            onnx_variant=self.config.onnx_variant,
            threads=self.config.threads,
        )
        self.backend = (
            f"onnx-{self.config.onnx_variant}" if scorer.onnx is not None else f"torch-{scorer.precision}"
        )
        logger.info("serving %s as %r with %s", self.config.model_uri, self.name, scorer.description)
        self.batcher = MicroBatcher(
            scorer.score_raw,  # raw tweets: the model's tokenizer normalises (or score_raw, for older models)
            max_batch_size=self.config.max_batch_size,
            max_delay_s=self.config.max_batch_delay_ms / 1000,
            on_batch=BATCH_SIZE.observe,
        )
        self.ready = True
        return self.ready

    async def predict(self, payload, headers=None, response_headers=None):
        limits = {"max_text_chars": self.config.max_text_chars, "max_instances": self.config.max_instances}
        if isinstance(payload, InferRequest):
            texts = v2_texts(payload, **limits)
        else:
            texts = v1_texts(payload, **limits)
        probabilities = await self.batcher.score(texts)
        if isinstance(payload, InferRequest):
            return v2_response(probabilities, self.name, payload.id, backend=self.backend)
        return v1_response(probabilities)

    def get_input_types(self) -> list[dict]:
        return [{"name": "text", "datatype": V2_TEXT_DATATYPE, "shape": [-1]}]

    def get_output_types(self) -> list[dict]:
        return [
            {"name": "label", "datatype": V2_TEXT_DATATYPE, "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(LABELS)]},
        ]
