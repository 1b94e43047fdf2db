"""The deployment files against the project: real settings, real commands, and no real secrets."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from enhanceit.cli.main import parser as _parser
from enhanceit.config import Settings
from tests.deploy import files
from tests.deploy.files import Doc

ENV_NAME = re.compile(r"\bENHANCEIT_[A-Z0-9_]*[A-Z0-9]\b")
#: Read by enhanceit.config.config_file(), not a Settings field.
NOT_FIELDS = {"ENHANCEIT_CONFIG"}
#: Names the deployment needs that were not in Settings when these files were written: ENHANCEIT_QUEUE_URL
#: and ENHANCEIT_API_KEYS are in DESIGN.md's contract, ENHANCEIT_WEBHOOK_SECRET comes with the webhooks.
#: They arrive with the jobs/API layer; once Settings has them for good this list may be emptied.
PENDING_SETTINGS = {"ENHANCEIT_QUEUE_URL", "ENHANCEIT_API_KEYS", "ENHANCEIT_WEBHOOK_SECRET"}

#: The commands the deployment runs, as DESIGN.md and the scale-out plan name them.
CONTRACT_COMMANDS = {("serve",), ("worker",), ("storage", "init"), ("models", "install")}
#: Sub-commands that arrive with the service; while the CLI lacks one, only the contract above is checked.
PENDING_COMMANDS = {"serve", "worker", "storage"}

#: The only values allowed in the Kubernetes Secret (placeholders to be replaced).
SECRET_PLACEHOLDER = "change-me"
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEYS?$|ACCESS_KEY|SIGNING_KEY|PRIVATE", re.IGNORECASE)
TOKEN_PATTERNS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[0-9A-Za-z-]{10,}"),
}
LONG_TOKEN = re.compile(r"[A-Za-z0-9+/]{32,}")  # base64-like: AWS secret keys, most API tokens


def settings_env_names() -> set[str]:
    """Every ENHANCEIT_* variable Settings reads: top-level fields, and sub-model fields as PREFIX_MODEL_FIELD."""
    names = set(NOT_FIELDS)
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= {f"ENHANCEIT_{name}_{sub}".upper() for sub in annotation.model_fields}
        else:
            names.add(f"ENHANCEIT_{name}".upper())
    return names


# -- settings ----------------------------------------------------------------------------------------------


def test_the_settings_names_are_derived_correctly() -> None:
    names = settings_env_names()
    assert {"ENHANCEIT_DATA_DIR", "ENHANCEIT_S3_ENDPOINT_URL", "ENHANCEIT_ENGINE_THREADS"} <= names
    assert "ENHANCEIT_S3" not in names, "a sub-model is not a variable of its own"


@pytest.mark.parametrize("path", files.deploy_text_files(), ids=lambda p: str(p.relative_to(files.ROOT)))
def test_every_enhanceit_variable_is_a_setting(path: Path) -> None:
    known = settings_env_names() | PENDING_SETTINGS
    unknown = sorted(set(ENV_NAME.findall(path.read_text())) - known)
    assert not unknown, f"{path.name} uses {unknown}, which enhanceit.config.Settings does not read"


# -- commands ----------------------------------------------------------------------------------------------


def _deploy_commands() -> list[tuple[str, list[str]]]:
    """(where, argv) of every enhanceit command the deployment files run."""
    found: list[tuple[str, list[str]]] = []
    for path in files.DOCKERFILES:
        for ins in files.dockerfile(path):
            if ins.keyword == "RUN":
                found += [(f"{path.name}:{ins.line}", argv) for argv in files.enhanceit_commands_in_shell(ins.args)]
            if ins.keyword == "CMD":
                found.append((f"{path.name}:{ins.line}", ins.exec_form()))
    pods: list[tuple[str, Doc]] = list(files.pod_specs())
    pods.append(("knative", files.knative_service()["spec"]["template"]["spec"]))
    for name, pod in pods:
        for container in pod["containers"]:
            argv = [*container.get("command", []), *container.get("args", [])]
            if argv and argv[0] == "enhanceit":
                found.append((name, argv))
    for name, service in files.compose()["services"].items():
        command = service.get("command")
        if isinstance(command, list) and command and command[0] == "enhanceit":
            found.append((f"compose {name}", command))
    return found


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_the_deployment_runs_each_contract_command() -> None:
    used = {tuple(argv[1:3]) if argv[1] in ("storage", "models") else (argv[1],) for _, argv in _deploy_commands()}
    assert used == CONTRACT_COMMANDS


@pytest.mark.parametrize("where,argv", _deploy_commands(), ids=lambda v: v if isinstance(v, str) else None)
def test_commands_are_the_clis(where: str, argv: list[str]) -> None:
    assert argv[0] == "enhanceit"
    parser = _parser()
    if argv[1] not in _subcommands(parser):
        assert argv[1] in PENDING_COMMANDS, f"{where}: 'enhanceit {argv[1]}' is not a command"
        pytest.skip(f"'enhanceit {argv[1]}' is not in the CLI yet")
    try:
        parser.parse_args(argv[1:])
    except SystemExit as exc:  # argparse reports bad usage by exiting
        pytest.fail(f"{where}: {' '.join(argv)} is not valid CLI usage ({exc.code})")


def test_docs_mention_only_real_commands() -> None:
    """`enhanceit X` at a command position (line start, code span, $(...), a venv's bin/) is a command."""
    commands = re.compile(r"(?m)(?:^\s*|`|\(|/bin/)enhanceit ([a-z]+)")
    known = {"upscale", "models", "serve", "worker", "storage"}
    for path in sorted(files.DOCS.glob("*.md")):
        used = set(commands.findall(path.read_text()))
        assert used <= known, f"{path.name} names commands the CLI does not have: {sorted(used - known)}"


# -- secrets -----------------------------------------------------------------------------------------------


def test_the_kubernetes_secret_holds_only_placeholders() -> None:
    (secret,) = files.k8s_objects("Secret")
    assert "data" not in secret, "base64 'data' hides what is in it; use stringData placeholders"
    assert set(secret["stringData"]) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "ENHANCEIT_API_KEYS",
        "ENHANCEIT_SIGNING_KEY",
        "ENHANCEIT_WEBHOOK_SECRET",
    }
    assert set(secret["stringData"].values()) == {SECRET_PLACEHOLDER}


def test_no_secret_is_given_as_a_plain_value_in_kubernetes() -> None:
    for (config,) in [files.k8s_objects("ConfigMap")]:
        leaked = [key for key in config["data"] if SECRET_NAME.search(key)]
        assert not leaked, f"secret-looking keys in a ConfigMap: {leaked}"
    pods = [*files.pod_specs(), ("knative", files.knative_service()["spec"]["template"]["spec"])]
    for name, pod in pods:
        for container in pod["containers"]:
            for env in container.get("env", []):
                if SECRET_NAME.search(env["name"]):
                    assert "value" not in env, f"{name}: {env['name']} must come from a Secret"


def test_compose_secrets_are_the_development_placeholders() -> None:
    (identity,) = files.seaweedfs_config()["identities"]
    placeholders = {value for credential in identity["credentials"] for value in credential.values()}
    for name, service in files.compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert value in placeholders, f"compose {name}: {key} is not a documented dev placeholder"


@pytest.mark.parametrize("path", files.deploy_text_files(), ids=lambda p: str(p.relative_to(files.ROOT)))
def test_no_secret_looking_values(path: Path) -> None:
    text = path.read_text()
    for what, pattern in TOKEN_PATTERNS.items():
        assert not pattern.search(text), f"{path.name} contains what looks like a {what}"
    for token in LONG_TOKEN.findall(text):
        mixed = any(c.islower() for c in token) and any(c.isupper() for c in token) and any(c.isdigit() for c in token)
        assert not mixed, f"{path.name}: {token!r} looks like a credential"
