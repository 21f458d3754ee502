#!/usr/bin/env bash
# bench/ab.sh: the two goals of issue 5, measured A/B in alternating rounds, which is what a
# shared 2-core machine needs (one wrk run per configuration, as in `make bench`, varies by
# +-20% from run to run).
#
#   throughput: `gatewarden serve` + filter (cache on, default limits) vs the bare Go reverse
#               proxy (httputil, bench/cmd/proxy), wrk -t2 -c8, ROUNDS rounds, median ratio;
#   latency:    `gatewarden serve` + filter vs `gatewarden serve` without filter, one request
#               at a time (wrk -t1 -c1), ROUNDS rounds, median of each round's p50 difference;
#               plus the p50 of proxywasm_filter_duration_seconds over those runs.
#
# Run after `make bench` (it reuses build/bench: programs, token files, plugin configuration).
# Usage: bench/ab.sh [ROUNDS] (default 7). Prints a markdown table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds="${1:-7}"
b=build/bench
for f in "$b/bin/backend" "$b/bin/proxy" build/gatewarden "$b/plugin-cache-on.json" "$b/tokens/rs256-1.txt"; do
  [[ -e "$f" ]] || { echo "ab: $f missing; run make bench first" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "ab: wrk missing (apt-get install -y wrk)" >&2; exit 1; }

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
  echo $((20000 + RANDOM % 20000)); }
be=$(port); px=$(port); gw0=$(port); gw0a=$(port); gw1=$(port); gw1a=$(port)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT

"$b/bin/backend" -addr "127.0.0.1:$be" >"$b/ab-backend.log" 2>&1 & pids+=($!)
"$b/bin/proxy" -addr "127.0.0.1:$px" -backend "http://127.0.0.1:$be" >"$b/ab-proxy.log" 2>&1 & pids+=($!)
gwconf() { # name port admin [plugin]
  {
    printf 'admin:\n  address: 127.0.0.1:%s\naccess_log: false\ncache_dir: %s/wazero-cache\n' "$3" "$PWD/$b"
    printf 'listeners:\n  - name: ab\n    address: 127.0.0.1:%s\n' "$2"
    [[ -n "${4:-}" ]] && printf '    plugins: [gatewarden]\n'
    printf '    routes:\n      - prefix: /\n        upstream: backend\nupstreams:\n  - name: backend\n    urls: [http://127.0.0.1:%s]\n' "$be"
    if [[ -n "${4:-}" ]]; then
      printf 'plugins:\n  - name: gatewarden\n    path: %s\n    root_id: gatewarden\n    vm_id: gatewarden\n    vms: 2\n    configuration: |\n      %s\n' \
        "$PWD/build/gatewarden.wasm" "$(cat "$4")"
    fi
  } >"$b/ab-$1.yaml"
}
gwconf nofilter "$gw0" "$gw0a"
gwconf filter "$gw1" "$gw1a" "$b/plugin-cache-on.json"
build/gatewarden serve -log-level warn -config "$b/ab-nofilter.yaml" >"$b/ab-nofilter.log" 2>&1 & pids+=($!)
build/gatewarden serve -log-level warn -config "$b/ab-filter.yaml" >"$b/ab-filter.log" 2>&1 & pids+=($!)
tok="$b/tokens/rs256-1.txt"
for u in "$px" "$gw0" "$gw1"; do
  for _ in $(seq 1 300); do
    curl -fs -o /dev/null -H "Authorization: Bearer $(head -n1 "$tok")" "http://127.0.0.1:$u/" && break
    sleep 0.2
  done
done

field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
wrkrun() { # threads conns seconds port -> BENCHJSON line
  wrk -t"$1" -c"$2" -d"$3"s --timeout 5s -s bench/tokens.lua "http://127.0.0.1:$4/" -- "$tok" | grep BENCHJSON
}
filtertime() { # sum of bucket counts per le of proxywasm_filter_duration_seconds
  curl -fs "http://127.0.0.1:$gw1a/metrics" | grep '^proxywasm_filter_duration_seconds_bucket' |
    sed 's/.*le="\([^"]*\)".* \([0-9.e+]*\)$/\1 \2/'
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

ratios=() ; diffs=() ; p0s=() ; p1s=()
wrkrun 2 8 2 "$px" >/dev/null; wrkrun 2 8 2 "$gw1" >/dev/null # warm-up
f0=$(filtertime)
for r in $(seq 1 "$rounds"); do
  a=$(wrkrun 2 8 3 "$px" | field requests); c=$(wrkrun 2 8 3 "$gw1" | field requests)
  ratios+=("$(awk -v a="$a" -v c="$c" 'BEGIN {printf "%.3f", c/a}')")
  s0=$(wrkrun 1 1 2 "$gw0" | field p50_us); s1=$(wrkrun 1 1 2 "$gw1" | field p50_us)
  p0s+=("$s0"); p1s+=("$s1"); diffs+=($((s1 - s0)))
  echo "round $r: throughput filter/bare $a -> $c (${ratios[-1]}); p50 one at a time $s0 -> $s1 us" >&2
done
f1=$(filtertime)
# p50 of the filter-time histogram over all rounds (saturation and one-at-a-time runs together)
fp50=$(join <(echo "$f0" | sort) <(echo "$f1" | sort) | awk '$1 != "+Inf" {print $1, $3-$2}' | sort -g |
  awk '{le[NR]=$1; n[NR]=$2} END {tot=n[NR]; want=tot/2; pl=0; pn=0; for (i=1;i<=NR;i++) {if (n[i]>=want) {printf "%.0f", 1e6*(pl+(le[i]-pl)*(want-pn)/(n[i]-pn)); exit}; pl=le[i]; pn=n[i]}}')

echo "| measure ($rounds alternating rounds, $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1 /proc/loadavg)) | median | all rounds |"
echo "|---|---:|---|"
echo "| throughput, gatewarden serve + filter (cache hit) / bare Go proxy (goal >= 0.7) | $(printf '%s\n' "${ratios[@]}" | median) | ${ratios[*]} |"
echo "| p50 one request at a time, serve without filter (µs) | $(printf '%s\n' "${p0s[@]}" | median) | ${p0s[*]} |"
echo "| p50 one request at a time, serve + filter (µs) | $(printf '%s\n' "${p1s[@]}" | median) | ${p1s[*]} |"
echo "| p50 added by the filter, per round (µs; goal < 20) | $(printf '%s\n' "${diffs[@]}" | median) | ${diffs[*]} |"
echo "| p50 of proxywasm_filter_duration_seconds over all rounds (µs) | ${fp50:-?} | |"
