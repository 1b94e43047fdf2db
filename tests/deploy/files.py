"""Reading the deployment files: paths, YAML documents, Dockerfile instructions, pod specs.

Everything here is plain parsing of files in ``deploy/`` and ``docs/deploy/``; nothing is built, run or
sent anywhere.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KNATIVE = DEPLOY / "knative"
DOCS = ROOT / "docs" / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
SEAWEEDFS_CONFIG = DEPLOY / "seaweedfs" / "s3.json"
DOCKERFILES = [DEPLOY / "Dockerfile", DEPLOY / "Dockerfile.gpu"]

Doc = dict[str, Any]


def load_yaml(path: Path) -> list[Doc]:
    """Every non-empty document in a YAML file."""
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


@cache
def k8s_docs() -> tuple[tuple[str, Doc], ...]:
    """(file name, document) for every Kubernetes object in deploy/k8s (the kustomization excluded)."""
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found += [(path.name, doc) for doc in load_yaml(path)]
    return tuple(found)


def k8s_objects(kind: str) -> list[Doc]:
    return [doc for _, doc in k8s_docs() if doc["kind"] == kind]


def k8s_object(kind: str, name: str) -> Doc:
    matches = [doc for doc in k8s_objects(kind) if doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def knative_service() -> Doc:
    (doc,) = load_yaml(KNATIVE / "service.yaml")
    return doc


def compose() -> Doc:
    (doc,) = load_yaml(COMPOSE)
    return doc


def seaweedfs_config() -> Doc:
    config: Doc = json.loads(SEAWEEDFS_CONFIG.read_text())
    return config


def pod_specs() -> Iterator[tuple[str, Doc]]:
    """(kind/name, pod spec) of every workload in deploy/k8s."""
    for _, doc in k8s_docs():
        if doc["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]


def deploy_text_files() -> list[Path]:
    """Every text file under deploy/ and docs/deploy/."""
    paths = [p for p in sorted(DEPLOY.rglob("*")) if p.is_file()]
    paths += sorted(DOCS.rglob("*.md"))
    return paths


# -- Dockerfiles -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    line: int  # 1-based line of the instruction's first line
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest, continuation lines joined with spaces

    def exec_form(self) -> list[str]:
        """The JSON (exec) form's list, e.g. of CMD."""
        value = json.loads(self.args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
        return value


def dockerfile(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile: comments dropped, backslash continuations joined."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continuation
        if not pending:
            start = number
        continued = line.endswith("\\")
        pending.append(line[:-1].strip() if continued else line)
        if not continued:
            text = " ".join(part for part in pending if part)
            keyword, _, args = text.partition(" ")
            instructions.append(Instruction(start, keyword.upper(), args.strip()))
            pending = []
    assert not pending, f"{path}: the last instruction ends with a backslash"
    return instructions


def stages(path: Path) -> list[list[Instruction]]:
    """The Dockerfile split into build stages, each starting with its FROM (global ARGs left out)."""
    result: list[list[Instruction]] = []
    for ins in dockerfile(path):
        if ins.keyword == "FROM":
            result.append([])
        if not result and ins.keyword == "ARG":
            continue  # a global ARG, for the FROM lines: see global_args
        assert result, f"{path}: {ins.keyword} before the first FROM"
        result[-1].append(ins)
    return result


def global_args(path: Path) -> dict[str, str]:
    """The ARGs declared before the first FROM, with their defaults ("" for none)."""
    found: dict[str, str] = {}
    for ins in dockerfile(path):
        if ins.keyword == "FROM":
            break
        name, _, default = ins.args.partition("=")
        found[name] = default
    return found


def enhanceit_commands_in_shell(text: str) -> list[list[str]]:
    """``enhanceit ...`` invocations in a shell command line (split at ``&&``, ``;`` and ``|``)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands: list[list[str]] = []
    words: list[str] = []
    for token in [*lexer, ";"]:
        if token and set(token) <= set(";&|"):  # an operator ends a simple command
            if words and Path(words[0]).name == "enhanceit":
                commands.append(words)
            words = []
        else:
            words.append(token)
    return commands
