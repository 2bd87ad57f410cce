"""The naive alternative to the model server: ``transformers.pipeline()`` behind ``http.server``.

    python -m bench.naive_server --model DIR --port 8090 [--threads 2]

What one writes in ten minutes: a threading HTTP server that answers the same V1 route
(``POST /v1/models/NAME:predict`` with ``{"instances": [...]}``) by calling the pipeline on the
request's texts, one request at a time (a lock: a fast tokenizer is not safe to call from several
threads at once). No batching across requests, no text normalisation, no validation beyond JSON.
It exists only as the baseline of ``bench/serve_load.py``.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_handler(classify):
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed
        # ACK (~40 ms a request on Linux). Off, as uvicorn has it, so that the baseline is not handicapped.
        disable_nagle_algorithm = True

        def _reply(self, status: int, body: dict) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self):  # noqa: N802 (http.server's naming)
            self._reply(200, {"ready": True})

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                texts = json.loads(body)["instances"]
                with lock:
                    outputs = classify(texts)
            except Exception as exc:  # the baseline answers 400 rather than dropping the connection
                self._reply(400, {"error": f"{type(exc).__name__}: {exc}"})
                return
            self._reply(200, {"predictions": [{"label": out["label"]} for out in outputs]})

        def log_message(self, *args):
            pass

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="save_pretrained directory")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args(argv)
    import torch
    from transformers import pipeline

    if args.threads:
        torch.set_num_threads(args.threads)
    classify = pipeline("text-classification", model=args.model, device=-1)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(classify))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
