"""Shared layer: what every step stands on. No step package is imported from here.

* ``errors`` — the package's error classes (one line each for the user; see ``TweetSentimentError``).
* ``labels`` — the label order (negative, neutral, positive) and its maps.
* ``text`` — the TweetEval tweet normalisation.
* ``storage`` — local / ``gs://`` / package / hub locations, transfers with retries.
* ``readers`` — the file formats a source or a predict input may come in.
* ``snapshots`` — ``<prefix>/latest``: the newest dated data snapshot.
* ``dataset`` — the Dataset artifact as the steps read it (``<split>.jsonl``, ``stats.json``).

Change here with care: every step depends on it. Imports only the standard library, numpy and storage
clients at module level.
"""
