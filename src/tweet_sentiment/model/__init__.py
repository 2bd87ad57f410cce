"""Shared layer: the model as every step loads and scores it.

* ``loading`` — load a classifier and its tokenizer from a hub id, a local path or ``gs://``.
* ``inference`` — devices, precision, batching, the torch and ONNX scorers (``Scorer``).
* ``inference_settings`` — ``inference_settings.json``: what a saved model needs to be scored as trained.
* ``scoring`` — the one scoring function (``score_split`` / ``score_model``).
* ``serving`` — the model server's image, port, name and routes (serve, the Vertex AI mirror and
  ``models deploy`` read them).
* ``metrics`` and ``metric/`` — the classification report (scikit-learn) and the ``evaluate`` metric module.

Used by train, evaluate, register, predict and select-model; imports no step package.
"""
