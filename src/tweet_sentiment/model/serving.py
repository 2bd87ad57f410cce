"""The serving contract: the image, port, name and routes of the model server (``tweet_sentiment.serve``).

The server listens on them; the Vertex AI mirror uploads model versions with them (a Vertex AI model
names its container's port, predict route and health route); ``models deploy`` renders them into a
KServe InferenceService. One place, so that the three cannot drift apart.
"""

from __future__ import annotations

# The serving image `images build` makes: components/_images.py's ImageSet().serve (a test keeps the
# two equal; the package may not import components). On Vertex AI use the copy pushed to your
# Artifact Registry (images build --registry us-docker.pkg.dev/PROJECT/REPO --push).
SERVING_IMAGE = "ghcr.io/tweet-sentiment/tweet-sentiment-serve:0.2.0"
HTTP_PORT = 8080  # KServe's and Vertex AI's default container port
MODEL_NAME = "tweet-sentiment"  # the name in the URLs
PREDICT_ROUTE = f"/v1/models/{MODEL_NAME}:predict"  # KServe V1; also what Vertex AI forwards to
HEALTH_ROUTE = f"/v1/models/{MODEL_NAME}"  # 200 once the model is loaded, 503 before
READY_ROUTE = "/v2/health/ready"
LIVE_ROUTE = "/v2/health/live"
