#!/usr/bin/env bash
# Build an EnhanceIt image with Debian's podman/buildah, without Docker and without a registry.
#
#   deploy/podman/build.sh deploy/Dockerfile     localhost/enhanceit:dev
#   deploy/podman/build.sh deploy/Dockerfile.gpu localhost/enhanceit:dev-gpu
#
# BASE_IMAGE (environment) picks the base of both stages:
#   standin (the default here)  Debian 12 built by mmdebstrap and imported as localhost/enhanceit-base:bookworm,
#                               for machines that reach Debian's mirror and PyPI but no container registry
#   any image reference         e.g. docker.io/library/python:3.11-slim-bookworm, the Dockerfile's own default
#
# Run as root (or through sudo). The set-up suits a sandbox without CAP_SYS_RESOURCE and with cgroups v1
# (hybrid): a containers.conf that keeps the current resource limits, runc with cgroupfs, and buildah's
# chroot isolation, which needs no OCI runtime for RUN steps. The same containers.conf is what the tests
# and the benchmark run containers with (CONTAINERS_CONF). Layers are cached: an unchanged rebuild is quick.
# The docker format, not OCI: OCI images have no HEALTHCHECK, and buildah would drop it.
set -euo pipefail

dockerfile=${1:?usage: build.sh DOCKERFILE TAG}
tag=${2:?usage: build.sh DOCKERFILE TAG}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${PODMAN_WORK:-$root/build/podman}
base=${BASE_IMAGE:-standin}
standin=localhost/enhanceit-base:bookworm
mkdir -p "$work"

# Containers may not raise a resource limit here (no CAP_SYS_RESOURCE): keep the current ones.
nofile="$(ulimit -Sn):$(ulimit -Hn)"
nproc="32768:32768"
conf=$work/containers.conf
cat > "$conf.new" <<EOF
# Written by deploy/podman/build.sh; used through CONTAINERS_CONF by it, the tests and the benchmark.
[containers]
default_ulimits = ["nofile=$nofile", "nproc=$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
mv "$conf.new" "$conf"
export CONTAINERS_CONF=$conf

if [ "$base" = standin ]; then
  # python:3.11-slim-bookworm stood in for by Debian 12's own Python 3.11, trimmed like a slim image (no
  # manuals, documentation or translations). Built once and kept in podman's storage, so that a fresh
  # checkout finds the layers built on it cached; 'podman rmi localhost/enhanceit-base:bookworm' renews it.
  if ! podman image exists "$standin"; then
    echo "building the stand-in base (mmdebstrap, Debian bookworm)"
    rm -f "$work/base.tar"
    mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/info/*' --aptopt='Acquire::Languages "none"' \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
      bookworm "$work/base.tar"
    podman import --quiet "$work/base.tar" "$standin" >/dev/null
    rm -f "$work/base.tar"
  fi
  base=$standin
fi

# pip inside the build trusts the host's CA bundle (a TLS-inspecting proxy may sit between it and PyPI);
# mounted read-only for the build only, never stored in a layer.
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$work/pip.conf"

started=$(date +%s)
log=$work/$(basename "$dockerfile").log
if ! buildah bud --layers --isolation chroot --format docker \
  --ulimit "nofile=$nofile" --ulimit "nproc=$nproc" \
  --volume /etc/ssl/certs:/etc/ssl/certs:ro --volume "$work/pip.conf:/etc/pip.conf:ro" \
  --build-arg "BASE_IMAGE=$base" \
  --ignorefile "$root/$dockerfile.dockerignore" \
  --file "$root/$dockerfile" --tag "$tag" "$root" >"$log" 2>&1; then
  tail -n 40 "$log"
  echo "building $tag failed; the whole log is in $log" >&2
  exit 1
fi
size=$(podman image inspect --format '{{.Size}}' "$tag")
echo "built $tag from $base in $(($(date +%s) - started)) s: $((size / 1000000)) MB"
