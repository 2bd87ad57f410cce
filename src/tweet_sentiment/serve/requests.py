"""Request bodies in, tweets out (or one line saying what is wrong); predictions out in each protocol's shape.

V1 (``POST /v1/models/NAME:predict``, also what Vertex AI sends)::

    {"instances": ["what a great game", {"text": "my flight is late again"}]}
    -> {"predictions": [{"label": "positive", "probabilities": {"negative": 0.01, ...}}, ...]}

Open Inference Protocol V2 (``POST /v2/models/NAME/infer``): one ``BYTES`` input of shape ``[n]``
(or ``[n, 1]``) holding the texts; the outputs are ``label`` (``BYTES``, ``[n]``) and
``probabilities`` (``FP32``, ``[n, 3]``, in the order of ``labels.LABELS``).

Every problem raises :class:`kserve.errors.InvalidInput`, which the server answers with 400 and
``{"error": "<the message>"}``. Texts are checked like predict's rows (``core.text.check_text``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from kserve import InferOutput, InferResponse
from kserve.errors import InvalidInput

from tweet_sentiment.core.labels import LABELS
from tweet_sentiment.core.text import check_text

V2_TEXT_DATATYPE = "BYTES"


def _checked(values: list[Any], where: str, max_text_chars: int, max_instances: int) -> list[str]:
    if not values:
        raise InvalidInput(f"{where} is empty: send at least one text")
    if len(values) > max_instances:
        raise InvalidInput(f"{where} has {len(values)} texts; the limit is {max_instances} a request")
    texts = []
    for index, value in enumerate(values):
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"{where}[{index}]: text is not valid UTF-8") from None
        text, error = check_text(value, max_text_chars)
        if error is not None:
            raise InvalidInput(f"{where}[{index}]: {error}")
        texts.append(text)
    return texts


def v1_texts(payload: Any, *, max_text_chars: int, max_instances: int) -> list[str]:
    """The texts of a V1 body: ``instances`` of strings or ``{"text": ...}`` objects."""
    if isinstance(payload, (bytes, str)):
        raise InvalidInput('the body must be JSON (Content-Type: application/json) with an "instances" list')
    if not isinstance(payload, dict) or "instances" not in payload:
        raise InvalidInput('the body must be a JSON object with an "instances" list of texts')
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise InvalidInput(f'"instances" must be a list of texts, got {type(instances).__name__}')
    values = []
    for index, instance in enumerate(instances):
        if isinstance(instance, dict):
            if "text" not in instance:
                raise InvalidInput(f'instances[{index}]: an object needs a "text" field')
            instance = instance["text"]
        values.append(instance)
    return _checked(values, "instances", max_text_chars, max_instances)


def v2_texts(request, *, max_text_chars: int, max_instances: int) -> list[str]:
    """The texts of an Open Inference Protocol request (a ``kserve.InferRequest``)."""
    inputs = list(request.inputs or [])
    if len(inputs) != 1:
        raise InvalidInput(f"expected exactly one input (the texts), got {len(inputs)}")
    tensor = inputs[0]
    where = f"input {tensor.name!r}"
    if tensor.datatype != V2_TEXT_DATATYPE:
        raise InvalidInput(f"{where} must have datatype {V2_TEXT_DATATYPE} (texts), got {tensor.datatype}")
    shape = list(tensor.shape or [])
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise InvalidInput(f"{where} must have shape [n] or [n, 1], got {shape}")
    data = tensor.data
    if isinstance(data, np.ndarray):
        data = data.tolist()
    if not isinstance(data, list):
        raise InvalidInput(f"{where}: data must be a list of texts")
    values = [v[0] if isinstance(v, list) and len(v) == 1 else v for v in data]
    if len(values) != shape[0]:
        raise InvalidInput(f"{where}: shape says {shape[0]} texts, data holds {len(values)}")
    return _checked(values, where, max_text_chars, max_instances)


def v1_response(probabilities: np.ndarray) -> dict[str, Any]:
    """One prediction per text: its label and its probabilities, as predict writes them."""
    return {
        "predictions": [
            {
                "label": LABELS[int(row.argmax())],
                "probabilities": {name: round(float(p), 6) for name, p in zip(LABELS, row, strict=True)},
            }
            for row in probabilities
        ]
    }


def v2_response(probabilities: np.ndarray, model_name: str, request_id: str | None, *, backend: str):
    labels = [LABELS[int(row.argmax())] for row in probabilities]
    outputs = [
        InferOutput("label", [len(labels)], V2_TEXT_DATATYPE, data=labels),
        InferOutput(
            "probabilities",
            [len(labels), len(LABELS)],
            "FP32",
            data=np.asarray(probabilities, dtype=np.float32).flatten().tolist(),
            parameters={"labels": ",".join(LABELS)},
        ),
    ]
    return InferResponse(
        response_id=request_id or "",
        model_name=model_name,
        infer_outputs=outputs,
        parameters={"backend": backend},
    )
