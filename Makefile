# EnhanceIt — everything a fresh machine needs is installed by these targets.
#   make run     the service with embedded defaults (local storage, in-process worker)
#   make test    lint, type-check and the whole test suite
#   make bench   speed and memory figures
#   make fuzz    30 minutes of coverage-guided fuzzing around the decoders (FUZZ_SECONDS=N for another time)
#   make image   the CPU image with podman/buildah (make image-gpu: the GPU one)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

# Debian packages the tests start for real: Redis for the queue, Chromium for the web page, and
# podman/buildah/runc (mmdebstrap for the stand-in base) to build and run the images.
SYSTEM_COMMANDS := redis-server chromium podman buildah runc mmdebstrap
SYSTEM_PACKAGES := redis-server chromium podman buildah runc mmdebstrap

# The images: BASE_IMAGE=standin builds the base from Debian with mmdebstrap (no registry needed);
# any image reference, e.g. docker.io/library/python:3.11-slim-bookworm, uses that instead.
BASE_IMAGE ?= standin
IMAGE ?= localhost/enhanceit:dev
IMAGE_GPU ?= localhost/enhanceit:dev-gpu
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install system-deps image image-gpu run test lint typecheck pytest bench fuzz lock clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/enhanceit models install --all
	touch $(STAMP)

system-deps:
	@missing=""; for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y --no-install-recommends $(SYSTEM_PACKAGES); \
	fi

# Layer-cached: an unchanged tree rebuilds in seconds. Root's podman (as the container tests use it).
image: system-deps
	$(SUDO) env BASE_IMAGE=$(BASE_IMAGE) deploy/podman/build.sh deploy/Dockerfile $(IMAGE)

image-gpu: system-deps
	$(SUDO) env BASE_IMAGE=$(BASE_IMAGE) deploy/podman/build.sh deploy/Dockerfile.gpu $(IMAGE_GPU)

run: install
	$(BIN)/enhanceit serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench fuzz
	$(BIN)/ruff format --check src tests bench fuzz
	$(BIN)/lint-imports --no-cache  # layers: data flows down (pyproject.toml, [tool.importlinter])

typecheck: install
	$(BIN)/mypy

pytest: install system-deps image image-gpu
	$(BIN)/pytest

test: lint typecheck pytest

# make bench ONLY=photos runs one section (python bench/run.py --only photos).
ONLY ?=
bench: install
	$(BIN)/python bench/run.py $(if $(ONLY),--only $(ONLY))

# Not part of make test: atheris (libFuzzer for Python), each input in a child process with its own time and
# memory limits; findings land in fuzz/findings (see fuzz/pipeline.py).
FUZZ_SECONDS ?= 1800
fuzz: install
	$(BIN)/python -m pip install -q 'atheris==3.0.0'
	mkdir -p fuzz/corpus fuzz/findings
	$(BIN)/python fuzz/pipeline.py fuzz/corpus fuzz/seeds -fork=1 -ignore_crashes=1 -max_total_time=$(FUZZ_SECONDS) \
	  -timeout=20 -rss_limit_mb=1536 -artifact_prefix=fuzz/findings/ -print_final_stats=1

lock: install
	{ echo "# Exact versions the project is tested with (pip constraints; regenerate with 'make lock')."; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e'; } > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
