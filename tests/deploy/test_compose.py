"""deploy/docker-compose.yml: parses, mounts files that exist, and its services are wired together."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.deploy import files
from tests.deploy.files import Doc

APP_SERVICES = ("api", "worker", "init")


def _services() -> dict[str, Doc]:
    services: dict[str, Doc] = files.compose()["services"]
    return services


def _env(service: Doc) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the KEY=value list form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _depends(service: Doc) -> dict[str, Any]:
    depends = service.get("depends_on", {})
    return {name: {"condition": "service_started"} for name in depends} if isinstance(depends, list) else depends


def test_the_services() -> None:
    assert set(_services()) == {"api", "worker", "init", "redis", "seaweedfs"}


def test_app_services_build_the_cpu_image_from_the_repository_root() -> None:
    for name in APP_SERVICES:
        build = _services()[name]["build"]
        context = (files.DEPLOY / build["context"]).resolve()
        assert context == files.ROOT, name
        assert (context / build["dockerfile"]).resolve() == files.DEPLOY / "Dockerfile"
        assert _services()[name]["image"] == _services()["api"]["image"], "one image for all three"


def test_commands_per_role() -> None:
    services = _services()
    assert "command" not in services["api"], "the image's default: enhanceit serve --host 0.0.0.0 --port 8000"
    assert services["api"]["ports"] == ["127.0.0.1:8000:8000"]
    assert services["worker"]["command"] == ["enhanceit", "worker"]
    assert services["init"]["command"] == ["enhanceit", "storage", "init"]
    assert services["init"]["restart"] == "no"
    assert services["worker"]["deploy"]["replicas"] >= 2, "a pool, to show the distributed shape"


def test_startup_order() -> None:
    services = _services()
    for name in ("api", "worker"):
        depends = _depends(services[name])
        assert depends["init"]["condition"] == "service_completed_successfully", name
        assert depends["redis"]["condition"] == "service_healthy", name
    assert _depends(services["init"])["seaweedfs"]["condition"] == "service_healthy"


def test_health_checks() -> None:
    services = _services()
    for name in ("redis", "seaweedfs"):
        check = services[name]["healthcheck"]
        assert check["test"][0] == "CMD" and not check.get("disable"), name
    assert services["redis"]["healthcheck"]["test"][1:] == ["redis-cli", "ping"]
    assert "http://127.0.0.1:8333/healthz" in services["seaweedfs"]["healthcheck"]["test"]
    # The image's HEALTHCHECK probes the API port: meaningless for the worker and the one-shot init.
    for name in ("worker", "init"):
        assert services[name]["healthcheck"] == {"disable": True}, name


def test_app_environment() -> None:
    services = _services()
    envs = [_env(services[name]) for name in APP_SERVICES]
    assert envs[0] == envs[1] == envs[2]
    env = envs[0]
    assert env["ENHANCEIT_STORAGE"] == "s3"
    assert env["ENHANCEIT_S3_BUCKET"] == "enhanceit"
    assert env["ENHANCEIT_PUBLIC_URL"] == "http://localhost:8000"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    queue = urlsplit(env["ENHANCEIT_QUEUE_URL"])
    assert (queue.scheme, queue.hostname, queue.port, queue.path) == ("redis", "redis", 6379, "/0")
    assert queue.hostname in services
    endpoint = urlsplit(env["ENHANCEIT_S3_ENDPOINT_URL"])
    assert (endpoint.hostname, endpoint.port) == ("seaweedfs", 8333)


def test_bind_mounts_exist() -> None:
    for name, service in _services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume["source"]
            if source.startswith((".", "/")):
                assert (files.DEPLOY / source).exists(), f"{name} mounts {source}, which does not exist"


def test_seaweedfs_uses_the_mounted_identity_file() -> None:
    service = _services()["seaweedfs"]
    command = service["command"]
    assert command[:2] == ["server", "-s3"]
    (config_flag,) = [arg for arg in command if arg.startswith("-s3.config=")]
    target = config_flag.split("=", 1)[1]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"] if v.startswith(".")}
    assert (files.DEPLOY / mounts[target]).resolve() == files.SEAWEEDFS_CONFIG
    assert "-ip.bind=0.0.0.0" in command, "the health check connects to 127.0.0.1"
    assert service["image"].startswith("chrislusf/seaweedfs:") and not service["image"].endswith(":latest")


def test_the_s3_credentials_match_the_seaweedfs_identity() -> None:
    env = _env(_services()["api"])
    identities = files.seaweedfs_config()["identities"]
    assert len(identities) == 1, "one identity: SeaweedFS then refuses anonymous requests"
    (identity,) = identities
    (credentials,) = identity["credentials"]
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (
        credentials["accessKey"],
        credentials["secretKey"],
    )
    assert set(identity["actions"]) >= {"Admin", "Read", "Write", "List"}, "storage init creates the bucket"


def test_the_dev_credentials_are_marked_as_such() -> None:
    (identity,) = files.seaweedfs_config()["identities"]
    assert "development-only" in identity["name"]
    for credential in identity["credentials"]:
        assert all(value.startswith("dev-only-") for value in credential.values())
    assert "DEVELOPMENT ONLY" in Path(files.COMPOSE).read_text()


def test_redis_keeps_an_append_only_file_on_a_named_volume() -> None:
    redis = _services()["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--dir") + 1] == "/data"
    (volume,) = [v for v in redis["volumes"] if v.endswith(":/data")]
    assert volume.split(":")[0] in files.compose()["volumes"]
