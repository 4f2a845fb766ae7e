#!/usr/bin/env bash
# `rankopt tables publish|drop`, `rankopt optimize --tables-remote` and `rankopt serve --redis`
# end to end on a real Redis Cluster (scripts/redis_cluster.sh, loopback, stopped at exit): the
# remote package served over HTTP answers exactly what the local package answers, with the
# user/item result caches on too.
#   tables_cli_test.sh RANKOPT SOURCE_DIR
set -uo pipefail
rankopt=$1
src=$2
if ! command -v redis-server >/dev/null || ! command -v curl >/dev/null; then
  echo "SKIP: redis-server or curl is not installed"
  exit 0
fi
port=$((25000 + ($$ % 300) * 10))
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  bash "$src/scripts/redis_cluster.sh" stop --base-port "$port" --dir "$work/cluster" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
bash "$src/scripts/redis_cluster.sh" start --base-port "$port" --dir "$work/cluster" >/dev/null ||
  fail "cluster did not start"
seeds="127.0.0.1:$port,127.0.0.1:$((port + 1))"
model="$src/tests/data/peers/din.onnx"
config="$src/configs/din.yaml"
"$rankopt" optimize "$model" --features "$config" --int8 force --time-s 0 -o "$work/local.rkp" \
  >/dev/null || fail "optimize (local tables)"
"$rankopt" optimize "$model" --features "$config" --int8 force --time-s 0 -o "$work/remote.rkp" \
  --tables-remote all --redis "$seeds" >/dev/null 2>"$work/optimize.err" ||
  fail "optimize --tables-remote: $(cat "$work/optimize.err")"
grep -q "^remote table " "$work/optimize.err" || fail "optimize named no remote table"
[[ $(stat -c %s "$work/remote.rkp") -lt $(stat -c %s "$work/local.rkp") ]] ||
  fail "the remote package is not smaller than the local one"
# Not published yet: serving refuses it.
"$rankopt" serve "$work/remote.rkp" --port 0 --redis "$seeds" >/dev/null 2>"$work/refused.err" &
refused=$!
pids+=("$refused")
# It must exit with the error; wait for that (at most 30 s: a loaded CI machine is slow to start
# it), rather than a fixed sleep.
for _ in $(seq 300); do
  kill -0 "$refused" 2>/dev/null || break
  sleep 0.1
done
grep -q "not (completely) published" "$work/refused.err" || fail "unpublished tables were served"
"$rankopt" tables publish "$work/local.rkp" --redis "$seeds" >"$work/publish.out" 2>/dev/null ||
  fail "publish: $(cat "$work/publish.out")"
grep -q "verified" "$work/publish.out" || fail "publish did not verify: $(cat "$work/publish.out")"
again=$("$rankopt" tables publish "$work/local.rkp" --redis "$seeds" 2>/dev/null)
grep -q "already published" <<<"$again" || fail "publishing again was not a no-op: $again"
serve() {  # serve PACKAGE NAME [FLAGS...] -> sets url
  "$rankopt" serve "$1" --port 0 --redis "$seeds" --remote-cache-mb 1 "${@:3}" >"$work/$2.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/$2.out" | head -1)
    [[ -n $url ]] && return 0
    sleep 0.1
  done
  fail "serve $1 did not start: $(cat "$work/$2.out")"
}
serve "$work/local.rkp" local
local_url=$url
serve "$work/remote.rkp" remote
remote_url=$url
# The remote package with the user and item result caches on: the same answers, twice (the
# second time with the user part from the cache).
serve "$work/remote.rkp" cached --user-cache-mb 16 --item-cache-mb 16
cached_url=$url
[[ $local_url != "$remote_url" ]] || fail "both servers on $local_url"
n=0
for pass in 1 2; do
  while IFS= read -r request; do
    a=$(curl -s -X POST --data-binary "$request" "$local_url/v1/models/din:predict")
    b=$(curl -s -X POST --data-binary "$request" "$remote_url/v1/models/din:predict")
    c=$(curl -s -X POST --data-binary "$request" "$cached_url/v1/models/din:predict")
    [[ -n $a && $a == "$b" ]] || fail "request $n: local $a, remote $b"
    [[ $a == "$c" ]] || fail "request $n (pass $pass): local $a, remote with result caches $c"
    n=$((n + 1))
  done <"$src/tests/data/features/requests_din.jsonl"
done
((n > 0)) || fail "no request compared"
# `rankopt run` on the remote package prints what it prints on the local one; `rankopt bench`
# times it (the fetch included).
requests="$src/tests/data/features/requests_din.jsonl"
"$rankopt" run "$work/local.rkp" --requests "$requests" --json >"$work/run_local.json" ||
  fail "run local"
"$rankopt" run "$work/remote.rkp" --requests "$requests" --json --redis "$seeds" \
  >"$work/run_remote.json" 2>"$work/run_remote.err" || fail "run remote: $(cat "$work/run_remote.err")"
[[ -s $work/run_local.json ]] && cmp -s "$work/run_local.json" "$work/run_remote.json" ||
  fail "run: the remote package's outputs differ from the local one's"
"$rankopt" bench "$work/remote.rkp" --redis "$seeds" --candidates 16 --threads 1 --warmup-s 0.05 \
  --min-s 0.1 --no-profile >"$work/bench.out" 2>&1 || fail "bench remote: $(cat "$work/bench.out")"
grep -q "p50" "$work/bench.out" || fail "bench printed no latency: $(cat "$work/bench.out")"
metrics=$(curl -s "$remote_url/metrics")  # captured: grep -q would cut curl off (pipefail)
grep -Eq "^rankopt_remote_round_trips_total(\{[^}]*\})? [1-9]" <<<"$metrics" ||
  fail "no remote round trips in /metrics"
cached_metrics=$(curl -s "$cached_url/metrics")
grep -Eq 'cache="user"' <<<"$cached_metrics" || fail "no user cache in /metrics of the cached server"
dropped=$("$rankopt" tables drop "$work/local.rkp" --redis "$seeds")
grep -q "^dropped [1-9]" <<<"$dropped" || fail "drop removed nothing: $dropped"
echo "PASS: $n requests equal"
