"""The container tier's Docker engine, shared by its test files."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.containers.build import ROOT


@pytest.fixture(scope="session")
def engine():
    import docker

    result = subprocess.run(
        [str(ROOT / "scripts" / "private-dockerd.sh")], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        pytest.fail(f"no Docker engine for the container tier: {result.stderr.strip()}")
    os.environ["DOCKER_HOST"] = result.stdout.strip()
    client = docker.from_env()
    yield client
    client.close()
