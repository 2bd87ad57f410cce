"""Concurrent requests scored together: one model call for the texts of every request that is waiting.

Requests put their texts on a queue and wait; one worker takes the first request, adds those that
queued behind it (up to ``max_batch_size`` texts, waiting at most ``max_delay_s`` for more), scores
them in one call of the scorer in a thread (the event loop keeps accepting requests meanwhile) and
hands each request its own rows back. Under load, requests that arrive while a batch is scored form
the next batch, so the model runs few large batches instead of many of one text; with one client a
request waits for nobody (``max_delay_s`` 0).

Hand-written rather than KServe's batcher: that one is the Go agent sidecar of an InferenceService
(``spec.predictor.batcher``) and exists only on a cluster; this one also batches under ``docker run``
and on Vertex AI. The scorer itself sorts a batch's texts by length (``inference.score_encoded``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class BatchStats:
    """Counts since the start: model calls and the texts they scored (batch size = texts / batches)."""

    batches: int = 0
    texts: int = 0
    largest: int = 0

    def add(self, size: int) -> None:
        self.batches += 1
        self.texts += size
        self.largest = max(self.largest, size)


class MicroBatcher:
    """``await batcher.score(texts)`` -> the probabilities of ``texts``, scored with other requests'."""

    def __init__(
        self,
        scorer: Callable[[list[str]], np.ndarray],
        *,
        max_batch_size: int = 64,
        max_delay_s: float = 0.0,
        on_batch: Callable[[int], None] | None = None,
    ):
        self.scorer = scorer
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_s
        self.on_batch = on_batch
        self.stats = BatchStats()
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None

    async def score(self, texts: Sequence[str]) -> np.ndarray:
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._run())
        future = loop.create_future()
        self._queue.put_nowait((list(texts), future))
        return await future

    async def _collect(self) -> list[tuple[list[str], asyncio.Future]]:
        """The next batch: the first waiting request and those behind it, up to ``max_batch_size`` texts."""
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        size = len(batch[0][0])
        deadline = loop.time() + self.max_delay_s
        while size < self.max_batch_size:
            if not self._queue.empty():
                item = self._queue.get_nowait()
            else:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            batch.append(item)
            size += len(item[0])
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            texts = [text for request_texts, _ in batch for text in request_texts]
            try:
                probabilities = await loop.run_in_executor(None, self.scorer, texts)
            except Exception as exc:  # each waiting request gets the failure; the worker goes on
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.stats.add(len(texts))
            if self.on_batch is not None:
                self.on_batch(len(texts))
            start = 0
            for request_texts, future in batch:
                if not future.done():  # a client that went away cancelled its future
                    future.set_result(probabilities[start : start + len(request_texts)])
                start += len(request_texts)
