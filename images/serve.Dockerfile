# Model server for a registered version: KServe's ModelServer over tweet_sentiment.serve (V1, V2, health).
# Runs under a KServe InferenceService (models deploy --target kserve), on a Vertex AI endpoint
# (models deploy --target vertex) or with docker run:
#   docker run -p 8080:8080 -v $PWD/model_registry:/models:ro IMAGE --model-uri /models/versions/000003
# Build context: the repository root.  python pipeline.py images build --registry REGISTRY --tag TAG
#   --build-arg BASE_IMAGE=...       a Python 3.11 image with a pip-capable python3 on PATH (default: Docker Hub's)
#   a torch wheel in images/wheelhouse/ is installed instead of downloading from TORCH_INDEX_URL
ARG BASE_IMAGE=python:3.11.13-slim-bookworm

# ---------------------------------------------------------------- deps stage: a venv with the pinned dependencies
FROM ${BASE_IMAGE} AS deps
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/tweet-sentiment/bin:$PATH
RUN python3 -m venv /opt/tweet-sentiment

# torch first, the CPU build (a server scores on CPUs), so that resolving the pins below pulls no CUDA wheels.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY images/wheelhouse/ /tmp/wheelhouse/
RUN if find /tmp/wheelhouse -name "torch-2.13.0*.whl" | grep -q .; then \
        pip install --no-cache-dir --no-deps /tmp/wheelhouse/torch-2.13.0*.whl; \
    else \
        pip install --no-cache-dir "torch==2.13.0" --index-url "${TORCH_INDEX_URL}"; \
    fi

# The pinned dependencies and the "serve" extra (kserve), read from pyproject.toml: a layer of its own,
# so that a change to the code alone does not reinstall them. No kfp, no mirrors: the server needs neither.
WORKDIR /src
COPY pyproject.toml ./
ARG PACKAGE_EXTRAS=""
RUN python3 -c 'import sys, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
extras = ["serve"] + [e for e in sys.argv[1].split(",") if e]; \
print("\n".join(p["dependencies"] + [d for e in extras for d in p["optional-dependencies"][e]]))' \
        "${PACKAGE_EXTRAS}" > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt

# ---------------------------------------------------------------- build stage: the project itself
FROM deps AS build
COPY README.md ./
COPY src ./src
RUN pip install --no-cache-dir --no-deps --root /staging . \
    && cp -a /staging/. / \
    && pip check \
    && python3 -c "import kserve, onnxruntime, torch, tweet_sentiment.serve.model; assert not torch.version.cuda"

# ---------------------------------------------------------------- runtime stage: the venv, the project, a user
FROM ${BASE_IMAGE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/tweet-sentiment/bin:$PATH \
    HOME=/home/app \
    HF_HOME=/home/app/.cache/huggingface \
    HF_HUB_OFFLINE=1
# The image's user is 1000; HOME and its caches are writable by any user id too (KServe and Vertex AI
# may run the container as another uid). A gs:// model is downloaded under TMPDIR at start.
RUN useradd --create-home --uid 1000 --user-group app \
    && install -d -m 1777 /home/app/.cache "${HF_HOME}" \
    && chmod 1777 /home/app
COPY --from=deps /opt/tweet-sentiment /opt/tweet-sentiment
COPY --from=build /staging/ /
USER 1000:1000
WORKDIR /home/app
EXPOSE 8080
# KServe's storage initializer puts the InferenceService's storageUri in /mnt/models; Vertex AI passes
# AIP_STORAGE_URI instead (the server reads it when --model-uri is not given).
ENTRYPOINT ["python3", "-m", "tweet_sentiment.serve"]
