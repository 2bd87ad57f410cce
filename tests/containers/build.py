"""What the container tier builds and with which commands: the base image, the images, the torch wheel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pipeline
from components._images import ImageSet

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/python-base:3.11-bookworm"
IMAGES = ImageSet("localhost/tweet-sentiment", "test")


def run_cli(argv: list[str]) -> int:
    """pipeline.main with its output shown live (pytest -s) and kept in the test log."""
    print("$ python pipeline.py " + " ".join(argv), flush=True)
    return pipeline.main(argv)


def host_cpu_torch_wheel(tmp_path_factory) -> str | None:
    """The CPU torch wheel this machine's pip resolves torch==PIN to, if it does (a local wheelhouse)."""
    import torch

    pin = torch.__version__.split("+")[0]
    dest = tmp_path_factory.mktemp("torch-wheel")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "--dest",
            str(dest),
            f"torch=={pin}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    wheels = sorted(dest.glob("torch-*+cpu-*.whl")) if result.returncode == 0 else []
    return str(wheels[0]) if wheels else None
