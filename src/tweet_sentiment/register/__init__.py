"""Step package of the ``register`` task (``components/register.py`` -> :func:`step.run_register`).

Config: ``onnx_export.OnnxExportConfig`` and ``tweet_sentiment.registry.mirrors.MirrorConfig``. Reads the
Model and Dataset artifacts and evaluate's JSON result (``tweet_sentiment.registry.evaluation``); writes a
new registry version (champion moved only when the gate passed), an int8 ONNX copy kept only when its
accuracy drop is within bounds (``onnx_build``, ``onnx_export``), the mirrors, and the lineage artifact.

Everything else here is free to change.
"""
