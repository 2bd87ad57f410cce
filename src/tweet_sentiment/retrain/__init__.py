"""The retrain check: train only when it pays, and say why (issue 19).

Task: ``check-retrain`` (components/check_retrain.py), on a CPU, uncached, before the train loop;
the pipeline wraps train -> select -> evaluate -> register in ``dsl.If`` on its ``decision``.
Entry point: :func:`tweet_sentiment.retrain.step.run_check_retrain`.

Config: :class:`tweet_sentiment.retrain.config.RetrainConfig` (``retrain_policy`` always / on_change /
when_needed, ``max_champion_age_days`` and one threshold per measure), registered in
``tweet_sentiment.settings``. The reference profile's own settings are ``ProfileConfig``.

Reads: the preprocess Dataset (``stats.json`` fingerprint and source, the train split, the eval
split), the registry's ``champion`` alias, that version's metadata, model and ``profile.json``.
Writes: the decision as Markdown (verdict, reasons, each measure against its threshold, the
champion's figures at registration and today), the Evidently drift report as HTML, the figures as
Metrics; returns the decision record (``decision`` train/skip and ``summary`` "trained: ..." /
"skipped: ...").

Modules: ``profile`` (what a registered version keeps about its data; written at registration),
``drift`` (the measures: Evidently for label / length / text / prediction drift, by hand for the
vocabulary), ``decision`` (pure: policy + figures -> train or skip with reasons), ``report``
(Markdown), ``step`` (the task). Everything else here is free to change.
"""
