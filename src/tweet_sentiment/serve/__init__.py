"""Serve a registered model over HTTP: a KServe model server (the ``serve`` image's entry point).

Not a pipeline step: it runs after the pipeline, in the ``tweet-sentiment-serve`` image, under KServe
(an ``InferenceService`` whose storage initializer puts the version in ``/mnt/models``), on a
Vertex AI endpoint (the model version's ``AIP_STORAGE_URI``) or under ``docker run``.

    python -m tweet_sentiment.serve --model-uri model_registry/versions/000003
    curl -d '{"instances": ["what a great game"]}' localhost:8080/v1/models/tweet-sentiment:predict

Where to change what:

* ``config.py``   ``ServeConfig``: every setting, its default and help; the server's flags are made from it.
* ``requests.py`` request validation (V1 ``instances``, V2 ``BYTES`` input; anything wrong -> 400 with one
  line) and the response shapes of both protocols.
* ``batching.py`` ``MicroBatcher``: concurrent requests' texts scored together in one model call.
* ``model.py``    ``SentimentModel`` (a ``kserve.Model``): finds the model in a registry version (local
  or ``gs://``), loads it with ``inference.Scorer`` (the int8 ONNX export where stored, else torch),
  scores raw texts with ``Scorer.score_raw`` (the model's tokenizer normalises them as training did).
* ``server.py``   the command line and the ``kserve.ModelServer`` (REST: V1, V2, health, /metrics).

It reads a registry version's directory; it writes nothing. Everything here is free to change as long
as the URLs, the request/response shapes (the README's serving section) and ``ServeConfig``'s flags
keep their meaning: the image, ``models deploy`` and the container tests rely on them.
"""
