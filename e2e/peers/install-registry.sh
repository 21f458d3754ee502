#!/usr/bin/env bash
# install-registry.sh: installs the OCI registry the e2e tests push to and pull from: Debian's
# docker-registry package (CNCF distribution 2.8). Idempotent: when it is already installed it
# only prints the binary path. The tests start it themselves with a config of their own
# (loopback listener, storage in a temp dir); this script stops and disables the packaged
# service, whose default config listens on all interfaces.
#
# Usage: e2e/peers/install-registry.sh
# Prints the absolute path of the docker-registry binary on its last line of stdout.
# Env: DOCKER_REGISTRY_BIN (use this binary, install nothing).
set -euo pipefail

log() { echo "install-registry: $*" >&2; }

if [[ -n "${DOCKER_REGISTRY_BIN:-}" ]]; then
  echo "$DOCKER_REGISTRY_BIN"
  exit 0
fi

if ! command -v docker-registry >/dev/null 2>&1; then
  sudo=""
  if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo="sudo -n"
    else
      log "docker-registry is missing and installing it needs root: run as root or install sudo"
      exit 1
    fi
  fi
  log "apt-get install docker-registry"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >&2
  # The package enables a service on :5000 (all interfaces); the tests never use it.
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    $sudo systemctl disable --now docker-registry.service >&2 || log "could not disable docker-registry.service (continuing)"
  fi
fi

path="$(command -v docker-registry)"
if ! "$path" --version >&2; then
  log "$path does not run"
  exit 1
fi
echo "$path"
