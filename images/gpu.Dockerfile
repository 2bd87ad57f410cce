# CUDA runtime for the train component (scheduled on a GPU node; the node provides the driver).
# Build context: the repository root.  python pipeline.py images build --registry REGISTRY --tag TAG
FROM python:3.11.13-slim-bookworm

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

# The CUDA build of the torch release pinned in pyproject.toml: PyPI's Linux x86_64 wheel, which
# brings the CUDA runtime, cuDNN and NCCL as nvidia-* wheels, so a slim base image suffices.
# For another CUDA line: --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cuXYZ
ARG TORCH_INDEX_URL=https://pypi.org/simple
RUN pip install --no-cache-dir "torch==2.13.0" --index-url "${TORCH_INDEX_URL}"

WORKDIR /opt/tweet-sentiment
COPY pyproject.toml README.md ./
COPY src ./src
# The project's package with the versions pinned in pyproject.toml, and kfp itself so that the
# components run with install_kfp_package=False: nothing is pip-installed when a step starts.
RUN pip install --no-cache-dir . "kfp==2.17.3" \
    && pip check \
    && python -c "import kfp, torch, transformers, tweet_sentiment; assert torch.version.cuda, torch.__version__"

RUN useradd --create-home --uid 1000 --user-group app
ENV HOME=/home/app \
    HF_HOME=/home/app/.cache/huggingface
USER 1000:1000
WORKDIR /home/app
