"""A loopback fake of Vertex AI's Model Service and Endpoint Service (v1 REST) for the SDK's REST transport.

It keeps model versions, aliases and evaluations the way the Model Service does (an alias given to one
version leaves the others), and endpoints with their deployed models and traffic split; every request is
recorded by the StubServer it runs in, so tests check what the SDK really sends.
"""

from __future__ import annotations

from urllib.parse import unquote

from tests.fakes.http_stub import Reply

PROJECT, LOCATION = "proj", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
MODEL = f"{PARENT}/models/4242"


class FakeModelService:
    """Just enough of the Vertex AI Model Service (v1, REST) for upload, versions, aliases, evaluations."""

    def __init__(self):
        self.versions: list[dict] = []
        self.evaluations: dict[str, list[dict]] = {}
        self.endpoints: dict[str, dict] = {}  # endpoint id -> Endpoint

    def _version(self, path: str) -> dict:
        name = path.rsplit("/models/", 1)[1].split(":")[0].split("/")[0]
        version_id = name.split("@")[1] if "@" in name else None
        for version in self.versions:
            if version_id == version["versionId"] or (
                version_id is None and "default" in version["versionAliases"]
            ):
                return version
        raise KeyError(path)

    def _take_aliases(self, version: dict, aliases: list[str]) -> None:
        for other in self.versions:
            other["versionAliases"] = [a for a in other["versionAliases"] if a not in aliases]
        version["versionAliases"] = sorted(set(version["versionAliases"]) | set(aliases))

    def __call__(self, request) -> Reply:
        path = unquote(request.path)
        try:
            return self._route(request, path)
        except KeyError:
            return Reply(404, {"error": {"code": 404, "message": f"{path} not found", "status": "NOT_FOUND"}})

    def _route(self, request, path: str) -> Reply:
        if "/endpoints" in path:
            return self._endpoint_route(request, path)
        if request.method == "POST" and path.endswith("/models:upload"):
            body = request.json()
            version = {
                **body["model"],
                "name": MODEL,
                "versionId": str(len(self.versions) + 1),
                "versionAliases": [],
                # What Vertex AI says of a model with a custom serving container.
                "supportedDeploymentResourcesTypes": ["DEDICATED_RESOURCES"],
            }
            self.versions.append(version)
            self._take_aliases(version, body["model"].get("versionAliases", []))
            response = {
                "@type": "type.googleapis.com/google.cloud.aiplatform.v1.UploadModelResponse",
                "model": MODEL,
                "modelVersionId": version["versionId"],
            }
            return Reply(body={"name": f"{MODEL}/operations/1", "done": True, "response": response})
        if request.method == "GET" and path.endswith(f"{PARENT}/models"):
            wanted = request.query["filter"][0].split('"')[1]
            found = [
                v for v in self.versions if "default" in v["versionAliases"] and v["displayName"] == wanted
            ]
            return Reply(body={"models": found})
        if request.method == "GET" and path.endswith(":listVersions"):
            key, value = request.query["filter"][0].removeprefix("labels.").split("=")
            found = [v for v in self.versions if v.get("labels", {}).get(key) == value.strip('"')]
            return Reply(body={"models": found})
        if request.method == "POST" and path.endswith(":mergeVersionAliases"):
            version = self._version(path)
            self._take_aliases(version, request.json()["versionAliases"])
            return Reply(body=version)
        if path.endswith("/evaluations:import"):
            version = self._version(path)
            evaluation = {
                **request.json()["modelEvaluation"],
                "name": f"{MODEL}@{version['versionId']}/evaluations/1",
            }
            self.evaluations.setdefault(version["versionId"], []).append(evaluation)
            return Reply(body=evaluation)
        if request.method == "GET" and path.endswith("/evaluations"):
            return Reply(
                body={"modelEvaluations": self.evaluations.get(self._version(path)["versionId"], [])}
            )
        if request.method == "GET" and "/models/" in path:
            return Reply(body=self._version(path))
        raise KeyError(path)

    def _endpoint_route(self, request, path: str) -> Reply:
        """Endpoints: create, list by display name, get, deployModel (operations are done at once)."""
        endpoint_id = path.split("/endpoints", 1)[1].strip("/").split(":")[0]
        if request.method == "POST" and not endpoint_id:
            endpoint_id = str(900 + len(self.endpoints))
            endpoint = {
                **request.json(),
                "name": f"{PARENT}/endpoints/{endpoint_id}",
                "deployedModels": [],
                "trafficSplit": {},
            }
            self.endpoints[endpoint_id] = endpoint
            response = {"@type": "type.googleapis.com/google.cloud.aiplatform.v1.Endpoint", **endpoint}
            return Reply(
                body={"name": f"{endpoint['name']}/operations/1", "done": True, "response": response}
            )
        if request.method == "GET" and not endpoint_id:
            wanted = request.query.get("filter", ['display_name=""'])[0].split('"')[1]
            return Reply(
                body={"endpoints": [e for e in self.endpoints.values() if e["displayName"] == wanted]}
            )
        endpoint = self.endpoints[endpoint_id]
        if request.method == "POST" and path.endswith(":deployModel"):
            body = request.json()
            deployed = {**body["deployedModel"], "id": str(7000 + len(endpoint["deployedModels"]))}
            endpoint["deployedModels"].append(deployed)
            split = {key: value for key, value in body.get("trafficSplit", {}).items() if key != "0"}
            split[deployed["id"]] = body.get("trafficSplit", {}).get("0", 100)
            endpoint["trafficSplit"] = split
            response = {
                "@type": "type.googleapis.com/google.cloud.aiplatform.v1.DeployModelResponse",
                "deployedModel": deployed,
            }
            return Reply(
                body={"name": f"{endpoint['name']}/operations/2", "done": True, "response": response}
            )
        if request.method == "GET":
            return Reply(body=endpoint)
        raise KeyError(path)
