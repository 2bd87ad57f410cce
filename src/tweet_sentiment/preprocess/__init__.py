"""Step package of the ``preprocess`` task (``components/preprocess.py`` -> :func:`step.run_preprocess`).

Config: ``config.PreprocessConfig``. Reads a source (hub id, local or ``gs://`` directory, ``<prefix>/latest``
snapshot); writes the Dataset artifact: ``<split>.jsonl`` per split (``dev`` carved out of train when the
data brings no split for choices, see ``dev_split``), ``quarantine.jsonl`` (every bad row with its file and
row) and ``stats.json`` (counts, fingerprint, selection split). Readers of the artifact use
``tweet_sentiment.core.dataset``: that file layout is the contract.

Modules: ``sources`` (where rows come from), ``validate`` (row and file checks), ``dev_split``, ``run``
(:func:`run.preprocess`), ``step``. Everything else here is free to change.
"""
