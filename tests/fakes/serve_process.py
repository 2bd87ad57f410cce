"""The model server as a process on a loopback port (python -m tweet_sentiment.serve), for tests and bench.

``ServerProcess`` also runs other servers that answer ``GET /v2/health/ready`` (bench/naive_server.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(url: str, body: bytes | dict, content_type: str = "application/json") -> tuple[int, dict]:
    """POST ``body`` (a dict is sent as JSON); the status and the JSON answer, errors included."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_ready(url: str, alive=lambda: True, timeout_s: float = 180) -> None:
    """Poll ``url``/v2/health/ready until it answers 200; raise when ``alive()`` turns False or on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("the server exited before it was ready")
        try:
            if get(url + "/v2/health/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready within {timeout_s:.0f} s")


class ServerProcess:
    """``with ServerProcess(["--model-uri", DIR]) as server: server.url``; stops the process on exit."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str] | None = None,
        module: str = "tweet_sentiment.serve",
        port_flag: str = "--http-port",
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.module = module
        self.args = [*args, port_flag, str(self.port)]
        self.env = {**os.environ, **(env or {})}
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "src"), str(ROOT), *filter(None, [self.env.get("PYTHONPATH")])]
        )
        self.process: subprocess.Popen | None = None
        # A file, not a pipe: nobody reads a pipe while the server runs, and a full one would block it.
        self._log_file = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 (closed in __exit__)
        self.log = ""

    def __enter__(self) -> ServerProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            env=self.env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(self.url, alive=lambda: self.process.poll() is None)
        except RuntimeError as exc:
            self.__exit__(None, None, None)
            raise RuntimeError(f"{exc}:\n{self.log[-3000:]}") from None
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __exit__(self, *exc_info) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log_file.seek(0)
        self.log = self._log_file.read()
        self._log_file.close()


class DockerServer:
    """The serving image as a container on a loopback port: ``with DockerServer(client, IMAGE, ARGS,
    volumes={host_dir: "/models"}) as server: server.url``; the container is removed on exit."""

    def __init__(
        self, client, image: str, args: list[str], volumes: dict[str, str] | None = None, **run_options
    ):
        self.client, self.image, self.args = client, image, args
        self.volumes = {host: {"bind": inside, "mode": "ro"} for host, inside in (volumes or {}).items()}
        self.run_options = run_options
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.container = None
        self.log = ""

    def __enter__(self) -> DockerServer:
        options = dict(self.run_options)
        if options.get("network_mode") == "host":  # the server takes the port as Vertex AI gives it
            options["environment"] = {**options.get("environment", {}), "AIP_HTTP_PORT": str(self.port)}
        else:
            options["ports"] = {"8080/tcp": ("127.0.0.1", self.port)}
        self.container = self.client.containers.run(
            self.image, self.args, detach=True, volumes=self.volumes, **options
        )
        try:
            wait_ready(self.url, alive=self.alive)
        except RuntimeError as exc:
            self.__exit__(None, None, None)
            raise RuntimeError(f"{exc}:\n{self.log[-3000:]}") from None
        return self

    def alive(self) -> bool:
        self.container.reload()
        return self.container.status == "running"

    def restarts(self) -> int:
        self.container.reload()
        return int(self.container.attrs["RestartCount"])

    def __exit__(self, *exc_info) -> None:
        if self.container is None:
            return
        self.log = self.container.logs().decode(errors="replace")
        self.container.remove(force=True)
        self.container = None
