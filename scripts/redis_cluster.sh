#!/usr/bin/env bash
# A real 6-node Redis Cluster on loopback (3 primaries + 3 replicas) for the remote-table tests,
# the bench and local trials: redis-server --cluster-enabled yes on ports P..P+5 of 127.0.0.1,
# joined by `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`.
#
#   scripts/redis_cluster.sh start  [--base-port P] [--dir D]   # waits for cluster_state:ok
#   scripts/redis_cluster.sh status [--base-port P] [--dir D]   # exit 0 when up and all slots ok
#   scripts/redis_cluster.sh stop   [--base-port P] [--dir D]   # stops the nodes, removes D
#
# Defaults: P = 7100, D = ${TMPDIR:-/tmp}/rankopt_redis_cluster_P. Every wait is bounded (start
# gives up after ~30 s and stops what it started); nodes run daemonized with their pid files in D,
# so stop ends exactly the processes start made. Exit codes: 0 ok, 1 failure, 2 usage, 3 no
# redis-server/redis-cli on PATH (callers skip on 3).
set -uo pipefail

usage() {
  echo "usage: $0 start|stop|status [--base-port P] [--dir D]" >&2
  exit 2
}

[[ $# -ge 1 ]] || usage
command=$1
shift
base_port=7100
dir=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --base-port) base_port=${2:-}; shift 2 || usage ;;
    --dir) dir=${2:-}; shift 2 || usage ;;
    *) usage ;;
  esac
done
[[ $base_port =~ ^[0-9]+$ ]] && ((base_port >= 1024 && base_port <= 55000)) || {
  echo "$0: --base-port must be a number in [1024, 55000] (the cluster bus uses port + 10000)" >&2
  exit 2
}
[[ -n $dir ]] || dir="${TMPDIR:-/tmp}/rankopt_redis_cluster_${base_port}"
ports=()
for i in 0 1 2 3 4 5; do ports+=($((base_port + i))); done

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "$0: redis-server / redis-cli not found (Debian: apt-get install redis-server redis-tools)" >&2
  exit 3
fi

cli() { timeout 5 redis-cli -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null; }

# 0 when every node answers and the cluster reports ok with all 16384 slots assigned and ok, and
# every primary has its replica in sync (a replica that fails over before its first sync would
# serve an empty shard).
cluster_ok() {
  local p info
  for p in "${ports[@]}"; do
    info=$(cli "$p" cluster info) || return 1
    grep -q '^cluster_state:ok' <<<"$info" || return 1
    grep -q '^cluster_slots_ok:16384' <<<"$info" || return 1
    info=$(cli "$p" info replication) || return 1
    if grep -q '^role:master' <<<"$info"; then
      grep -q '^slave0:.*state=online' <<<"$info" || return 1
    fi
  done
  return 0
}

stop_nodes() {
  local p pid
  for p in "${ports[@]}"; do
    [[ -f $dir/$p/redis.pid ]] || continue
    pid=$(cat "$dir/$p/redis.pid" 2>/dev/null)
    [[ $pid =~ ^[0-9]+$ ]] || continue
    kill -CONT "$pid" 2>/dev/null  # a test may have stopped it (SIGSTOP)
    kill -TERM "$pid" 2>/dev/null
  done
  for _ in $(seq 50); do
    local alive=0
    for p in "${ports[@]}"; do
      pid=$(cat "$dir/$p/redis.pid" 2>/dev/null) || continue
      [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && alive=1
    done
    ((alive)) || break
    sleep 0.1
  done
  for p in "${ports[@]}"; do
    pid=$(cat "$dir/$p/redis.pid" 2>/dev/null) || continue
    [[ $pid =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null
  done
  return 0
}

case $command in
  start)
    if cluster_ok; then
      echo "redis cluster already up on 127.0.0.1:${ports[0]}-${ports[5]}"
      exit 0
    fi
    mkdir -p "$dir" || exit 1
    for p in "${ports[@]}"; do
      rm -rf "${dir:?}/$p"
      mkdir -p "$dir/$p"
      # No persistence (tests publish what they read); fast failure detection for the fault
      # tests (node timeout 2 s); replicas may serve reads only when asked (READONLY).
      if ! redis-server --port "$p" --bind 127.0.0.1 --protected-mode no --daemonize yes \
          --dir "$dir/$p" --pidfile "$dir/$p/redis.pid" --logfile "$dir/$p/redis.log" \
          --cluster-enabled yes --cluster-config-file "$dir/$p/nodes.conf" \
          --cluster-node-timeout 2000 --cluster-replica-validity-factor 0 \
          --appendonly no --save "" --maxclients 1000 --repl-diskless-sync-delay 0; then
        echo "$0: redis-server on port $p did not start" >&2
        stop_nodes
        exit 1
      fi
    done
    for p in "${ports[@]}"; do
      for _ in $(seq 100); do
        [[ $(cli "$p" ping) == PONG ]] && break
        sleep 0.1
      done
      if [[ $(cli "$p" ping) != PONG ]]; then
        echo "$0: node $p does not answer PING (log: $dir/$p/redis.log)" >&2
        stop_nodes
        exit 1
      fi
    done
    nodes=()
    for p in "${ports[@]}"; do nodes+=("127.0.0.1:$p"); done
    if ! timeout 30 redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes \
        >"$dir/create.log" 2>&1; then
      echo "$0: redis-cli --cluster create failed (log: $dir/create.log)" >&2
      stop_nodes
      exit 1
    fi
    for _ in $(seq 150); do
      cluster_ok && break
      sleep 0.2
    done
    if ! cluster_ok; then
      echo "$0: the cluster did not reach cluster_state:ok with all slots in 30 s" >&2
      stop_nodes
      exit 1
    fi
    echo "redis cluster up on 127.0.0.1:${ports[0]}-${ports[5]} (dir $dir)"
    ;;
  status)
    if cluster_ok; then
      echo "redis cluster ok on 127.0.0.1:${ports[0]}-${ports[5]}"
      exit 0
    fi
    echo "redis cluster on 127.0.0.1:${ports[0]}-${ports[5]} is not ok" >&2
    exit 1
    ;;
  stop)
    stop_nodes
    rm -rf "${dir:?}"
    echo "redis cluster on 127.0.0.1:${ports[0]}-${ports[5]} stopped"
    ;;
  *) usage ;;
esac
