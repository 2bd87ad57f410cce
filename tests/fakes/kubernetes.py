"""A loopback fake of the Kubernetes API server for one custom resource (KServe InferenceServices)."""

from __future__ import annotations

import copy

from tests.fakes.http_stub import Reply


class FakeKubernetes:
    """Just enough of the API server for one custom resource: GET, POST (create), PATCH (merge), dryRun."""

    def __init__(self):
        self.objects: dict[str, dict] = {}

    def __call__(self, request) -> Reply:
        dry_run = request.query.get("dryRun") == ["All"]
        name = request.path.split("/inferenceservices", 1)[1].strip("/")
        if request.method == "GET":
            if name in self.objects:
                return Reply(body=self.objects[name])
            return Reply(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404})
        if request.method == "POST" and not name:
            body = request.json()
            if body["metadata"]["namespace"] == "forbidden":
                return Reply(
                    403, {"kind": "Status", "message": "inferenceservices is forbidden", "code": 403}
                )
            if not dry_run:
                self.objects[body["metadata"]["name"]] = body
            return Reply(201, body)
        if request.method == "PATCH" and name in self.objects:
            assert request.headers["Content-Type"] == "application/merge-patch+json"
            merged = _merge(copy.deepcopy(self.objects[name]), request.json())
            if not dry_run:
                self.objects[name] = merged
            return Reply(body=merged)
        return Reply(405, {"kind": "Status", "message": f"{request.method} {request.path}", "code": 405})


def _merge(target, patch):
    for key, value in patch.items():
        target[key] = _merge(target.get(key, {}), value) if isinstance(value, dict) else value
    return target
