"""The Kubernetes, KEDA and Knative manifests: schema-valid, secure, and wired to each other.

Core kinds are validated against the Kubernetes 1.30 OpenAPI schemas in strict mode (unknown fields are
errors) by ``kubernetes-validate``. It has no schemas for custom resources, so the KEDA ScaledObject and
the Knative Service are checked field by field here, and the Knative Service's pod template is also
validated as a core Pod.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError
from pydantic import BaseModel

from enhanceit.config import Settings
from tests.deploy import files
from tests.deploy.files import Doc

K8S_VERSION = "1.30"
NAMESPACE = "enhanceit"
IMAGE_UID = 10001  # USER in deploy/Dockerfile (test_dockerfiles checks the Dockerfile's side)
#: Custom resources kubernetes-validate has no schema for; each is checked explicitly below.
CUSTOM_KINDS = {("keda.sh/v1alpha1", "ScaledObject")}
API = "enhanceit-api"
WORKER = "enhanceit-worker"


def _doc_id(item: tuple[str, Doc]) -> str:
    name, doc = item
    return f"{name}:{doc['kind']}/{doc['metadata']['name']}"


def _validate(doc: Doc) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def _containers(pod: Doc) -> list[Doc]:
    return [*pod.get("initContainers", []), *pod["containers"]]


# -- schemas ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("item", files.k8s_docs(), ids=_doc_id)
def test_core_manifests_are_valid(item: tuple[str, Doc]) -> None:
    _, doc = item
    if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
        with pytest.raises(SchemaNotFoundError):  # if a schema appears, validate with it instead
            _validate(doc)
        return
    _validate(doc)


def test_strict_validation_catches_a_misspelt_field() -> None:
    """Guards the test above: a typo must fail, not be ignored."""
    deployment = copy.deepcopy(files.k8s_object("Deployment", API))
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(deployment)


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = files.load_yaml(files.K8S / "kustomization.yaml")
    on_disk = {p.name for p in files.K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(on_disk)
    images = {image["name"] for image in kustomization.get("images", [])}
    used = {c["image"].rsplit(":", 1)[0] for _, pod in files.pod_specs() for c in _containers(pod)}
    assert images <= used, "kustomization rewrites an image no manifest uses"


def test_everything_is_in_the_enhanceit_namespace() -> None:
    for name, doc in files.k8s_docs():
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == NAMESPACE
        else:
            assert doc["metadata"].get("namespace") == NAMESPACE, name
    assert files.knative_service()["metadata"]["namespace"] == NAMESPACE


def test_the_namespace_enforces_the_restricted_pod_security_standard() -> None:
    (namespace,) = files.k8s_objects("Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# -- every workload ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,pod", list(files.pod_specs()), ids=[n for n, _ in files.pod_specs()])
def test_every_workload_runs_non_root_without_privileges(name: str, pod: Doc) -> None:
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] > 0 and security["runAsGroup"] > 0
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False, "the app never calls the Kubernetes API"
    # Service links would inject e.g. ENHANCEIT_API_PORT=tcp://... into a process that reads ENHANCEIT_*.
    assert pod["enableServiceLinks"] is False
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for container in _containers(pod):
        ctx = container["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False, container["name"]
        assert ctx["readOnlyRootFilesystem"] is True, container["name"]
        assert ctx["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert "privileged" not in ctx
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in volumes, f"{name}: {mount['name']} is not a volume"
    for volume in volumes.values():
        if "persistentVolumeClaim" in volume:  # only Redis keeps data: its append-only file
            assert name.endswith("Deployment/redis") and volume["name"] == "data", f"{name}: {volume['name']}"
            continue
        assert set(volume) == {"name", "emptyDir"}, f"{name}: only emptyDir scratch volumes"
        assert "sizeLimit" in volume["emptyDir"], f"{name}: an unbounded emptyDir can fill the node's disk"


@pytest.mark.parametrize("name,pod", list(files.pod_specs()), ids=[n for n, _ in files.pod_specs()])
def test_every_container_has_requests_and_limits(name: str, pod: Doc) -> None:
    for container in _containers(pod):
        resources = container["resources"]
        for kind in ("requests", "limits"):
            assert set(resources[kind]) >= {"cpu", "memory"}, f"{name}/{container['name']} {kind}"


@pytest.mark.parametrize("name,pod", list(files.pod_specs()), ids=[n for n, _ in files.pod_specs()])
def test_enhanceit_containers_run_as_the_image_user_with_writable_scratch(name: str, pod: Doc) -> None:
    for container in _containers(pod):
        if "enhanceit" not in container["image"]:
            continue
        assert pod["securityContext"]["runAsUser"] == IMAGE_UID
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        # The root filesystem is read-only: DATA_DIR and the temp folder must be volumes.
        assert {"/data", "/tmp"} <= mounts, name


def test_env_from_references_exist() -> None:
    config_maps = {d["metadata"]["name"] for d in files.k8s_objects("ConfigMap")}
    secrets = {d["metadata"]["name"] for d in files.k8s_objects("Secret")}
    for name, pod in files.pod_specs():
        for container in _containers(pod):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps, name
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets, name


def test_threads_follow_the_cpu_limit() -> None:
    """ncnn defaults to one thread per core of the node, far more than the container's CPU limit."""
    for name, pod in files.pod_specs():
        for container in pod["containers"]:
            if container.get("command", [""])[0] != "enhanceit" or "storage" in container["command"]:
                continue
            env = {e["name"]: e for e in container.get("env", [])}
            source = env["ENHANCEIT_ENGINE_THREADS"]["valueFrom"]["resourceFieldRef"]
            assert source == {"resource": "limits.cpu", "divisor": "1"}, name


# -- API ---------------------------------------------------------------------------------------------------


def _api_container() -> Doc:
    (container,) = files.k8s_object("Deployment", API)["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def test_api_serves_on_port_8000_with_probes() -> None:
    container = _api_container()
    assert container["command"] == ["enhanceit", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert container["ports"] == [{"name": "http", "containerPort": 8000}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "512Mi"},
        "limits": {"cpu": "2", "memory": "1Gi"},
    }


def test_api_service_and_autoscaler_point_at_the_api() -> None:
    deployment = files.k8s_object("Deployment", API)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert "replicas" not in deployment["spec"], "the HorizontalPodAutoscaler owns the replica count"

    service = files.k8s_object("Service", API)
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (80, "http")

    hpa = files.k8s_object("HorizontalPodAutoscaler", API)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": API}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}

    pdb = files.k8s_object("PodDisruptionBudget", API)
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"], "a drain must be able to proceed"


# -- workers, queue, KEDA ----------------------------------------------------------------------------------


def test_worker_runs_the_worker_and_may_finish_its_job() -> None:
    deployment = files.k8s_object("Deployment", WORKER)
    assert "replicas" not in deployment["spec"], "KEDA owns the replica count"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 600
    (container,) = pod["containers"]
    assert container["command"] == ["enhanceit", "worker"]
    assert "ports" not in container
    assert container["resources"] == {
        "requests": {"cpu": "2", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }


def _queue_url() -> Any:
    (config,) = files.k8s_objects("ConfigMap")
    return urlsplit(config["data"]["ENHANCEIT_QUEUE_URL"])


def test_the_queue_url_names_the_redis_service() -> None:
    url = _queue_url()
    service = files.k8s_object("Service", url.hostname)
    assert url.scheme == "redis"
    assert url.port in {p["port"] for p in service["spec"]["ports"]}
    redis = files.k8s_object("Deployment", "redis")
    assert service["spec"]["selector"].items() <= redis["spec"]["template"]["metadata"]["labels"].items()


def _queue_name() -> str:
    """The Dramatiq queue the jobs use: ENHANCEIT_QUEUE_NAME in the ConfigMap, else the setting's default."""
    (config,) = files.k8s_objects("ConfigMap")
    default = "enhance"
    queue = Settings.model_fields.get("queue")
    if queue is not None and isinstance(queue.annotation, type) and issubclass(queue.annotation, BaseModel):
        default = queue.annotation.model_fields["name"].default
    name: str = config["data"].get("ENHANCEIT_QUEUE_NAME", default)
    return name


def test_keda_scales_the_worker_on_the_dramatiq_queue() -> None:
    (scaled,) = files.k8s_objects("ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == WORKER
    assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    assert files.k8s_object("Deployment", WORKER)  # the target exists
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (1, 20)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "redis"
    metadata = trigger["metadata"]
    assert all(isinstance(v, str) for v in metadata.values()), "KEDA trigger metadata values are strings"
    # Dramatiq's RedisBroker keeps a queue's waiting message ids in the list "<namespace>:<queue>"
    # (namespace "dramatiq", the broker's default; the jobs use the queue "enhance").
    assert metadata["listName"] == "dramatiq:enhance" == f"dramatiq:{_queue_name()}"
    assert metadata["listLength"] == "2"
    url = _queue_url()
    assert metadata["address"] == f"{url.hostname}.{NAMESPACE}.svc.cluster.local:{url.port}"
    assert metadata.get("databaseIndex", "0") == (url.path.strip("/") or "0")
    allowed = {"apiVersion", "kind", "metadata", "spec"}
    assert set(scaled) == allowed
    known = {
        "scaleTargetRef",
        "pollingInterval",
        "cooldownPeriod",
        "initialCooldownPeriod",
        "idleReplicaCount",
        "minReplicaCount",
        "maxReplicaCount",
        "fallback",
        "advanced",
        "triggers",
    }
    assert set(spec) <= known, f"unknown ScaledObject fields: {set(spec) - known}"


def test_the_keda_scale_down_behaviour_is_a_valid_hpa_behaviour() -> None:
    """KEDA passes advanced.horizontalPodAutoscalerConfig.behavior to the HPA it creates; check it as one."""
    (scaled,) = files.k8s_objects("ScaledObject")
    behavior = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    hpa = copy.deepcopy(files.k8s_object("HorizontalPodAutoscaler", API))
    hpa["spec"]["behavior"] = behavior
    _validate(hpa)


# -- Knative -----------------------------------------------------------------------------------------------


def test_knative_service_is_one_request_per_container_scaling_to_zero() -> None:
    service = files.knative_service()
    assert service["apiVersion"] == "serving.knative.dev/v1"
    assert service["kind"] == "Service"
    template = service["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/min-scale"] == "0"  # a string: annotations are strings
    assert int(annotations["autoscaling.knative.dev/max-scale"]) >= 1
    spec = template["spec"]
    assert spec["containerConcurrency"] == 1
    assert spec["timeoutSeconds"] == 300
    (container,) = spec["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["ports"] == [{"containerPort": 8000}]
    assert container["resources"] == _api_container()["resources"]
    names = {e["name"] for e in container["env"]}
    assert "ENHANCEIT_QUEUE_URL" not in names, "the embedded mode has no queue"
    assert "command" not in container, "the image's default command serves on port 8000"


def test_knative_secrets_come_from_the_secret() -> None:
    (secret,) = files.k8s_objects("Secret")
    (container,) = files.knative_service()["spec"]["template"]["spec"]["containers"]
    for env in container["env"]:
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["name"] == secret["metadata"]["name"]
            assert ref["key"] in secret["stringData"]


def test_knative_pod_template_is_a_valid_pod() -> None:
    """Knative's template is a core PodSpec plus a few fields of its own; validate the core part."""
    spec = copy.deepcopy(files.knative_service()["spec"]["template"]["spec"])
    for knative_only in ("containerConcurrency", "timeoutSeconds", "responseStartTimeoutSeconds", "idleTimeoutSeconds"):
        spec.pop(knative_only, None)
    for index, container in enumerate(spec["containers"]):
        container.setdefault("name", f"user-container-{index}")  # optional in Knative, required in a Pod
        for probe in ("readinessProbe", "livenessProbe"):
            # Knative probes the serving port when a probe names none; a Pod must name it.
            action = container.get(probe, {}).get("httpGet")
            if action is not None:
                action.setdefault("port", container["ports"][0]["containerPort"])
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "knative-template"}, "spec": spec}
    _validate(pod)
    # Hardened as far as Knative allows without volumes (the image's /data and /tmp are writable).
    (container,) = spec["containers"]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_yaml_documents_need_no_custom_tags() -> None:
    """Plain YAML: every file loads with the safe loader (kubectl, kustomize and Knative read the same)."""
    for path in [*files.K8S.glob("*.yaml"), *files.KNATIVE.glob("*.yaml"), files.COMPOSE]:
        with path.open() as f:
            assert list(yaml.safe_load_all(f)), path


def test_redis_keeps_an_append_only_file_on_a_persistent_volume() -> None:
    """Defect 6: without persistence a Redis restart lost every job record (33 accepted jobs became 404)."""
    redis = files.k8s_object("Deployment", "redis")
    pod = redis["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--dir") + 1] == "/data"
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/data"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    claim = files.k8s_object("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert redis["spec"]["strategy"]["type"] == "Recreate"  # the old pod lets go of the volume first
