"""Batched scoring shared by evaluation, training-time validation and prediction."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def choose_device(requested: str = "auto"):
    import torch

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def autocast_dtype(precision: str, device) -> object | None:
    """The autocast dtype for ``precision`` on ``device``; None means plain fp32."""
    import torch

    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    # auto: mixed precision where the hardware has it. On CPU, fp32 until measured otherwise.
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


def predict_probabilities(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int = 128,
    precision: str = "auto",
) -> np.ndarray:
    """Class probabilities for ``texts`` (shape ``[n, num_labels]``), in input order.

    Texts are scored in length-sorted batches so that padding stays small.
    """
    import torch

    if len(texts) == 0:
        return np.zeros((0, model.config.num_labels), dtype=np.float32)
    device = next(model.parameters()).device
    dtype = autocast_dtype(precision, device)
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    order = np.argsort([len(ids) for ids in encoded], kind="stable")
    probabilities = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    pad_id = tokenizer.pad_token_id or 0
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            input_ids, attention_mask = pad_batch([encoded[i] for i in index], pad_id)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                logits = model(
                    input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)
                ).logits
            probabilities[index] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    return probabilities


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int, multiple_of: int = 8):
    """Pad to the longest sequence in the batch (rounded up to ``multiple_of`` for tensor cores)."""
    import torch

    longest = max(len(s) for s in sequences)
    longest = -(-longest // multiple_of) * multiple_of
    input_ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask
