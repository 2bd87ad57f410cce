"""Step package of the ``evaluate`` task (``components/evaluate.py`` -> :func:`step.run_evaluate`).

Config: ``config.EvaluateConfig`` (the gate's floors are its fields). Reads the Model and Dataset
artifacts and the registry's champion; writes Metrics, ClassificationMetrics, the HTML report
(``report``) and the JSON result that register reads (``tweet_sentiment.registry.evaluation``: the
contract). To change how the gate decides: ``gate.py``.

Modules: ``config``, ``gate``, ``run`` (scoring, champion comparison, misclassified examples),
``report`` (HTML), ``step``. Everything else here is free to change.
"""
