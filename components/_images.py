"""The one place that names the container images the components run in.

One image per dependency set: the CPU runtime serves preprocess, evaluate and register;
the CUDA runtime serves train. ``images/`` holds their Dockerfiles.
"""

IMAGE_REGISTRY = "ghcr.io/tweet-sentiment"
IMAGE_TAG = "0.1.0"
CPU_IMAGE = f"{IMAGE_REGISTRY}/tweet-sentiment-cpu:{IMAGE_TAG}"
GPU_IMAGE = f"{IMAGE_REGISTRY}/tweet-sentiment-gpu:{IMAGE_TAG}"
