"""Step package of the ``batch-predict`` task (``components/batch_predict.py`` ->
:func:`step.run_batch_predict`) and of ``pipeline.py predict``.

Config: ``config.PredictConfig``. Reads a registry version (or a model folder) and a JSONL/CSV/TSV/text
input; writes one output row per input row, in order (``io``), and ``summary.json``.

Modules: ``config``, ``io`` (streaming readers and writers), ``cli`` (the command and
:func:`cli.run_predict`), ``step``. Everything else here is free to change.
"""
