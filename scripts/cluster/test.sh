#!/usr/bin/env bash
# The cluster suite (`npm run test:cluster`): a real etcd + kube-apiserver (control-plane.sh),
# real backends in network namespaces, sluice as a real process, kubectl and helm.
#
#   npm run test:cluster                      # everything
#   npm run test:cluster -- --grep RBAC       # extra arguments go to mocha
#
# Needs root (network namespaces) and the binaries from assets.sh (built once, then cached).
# Everything it starts is stopped again, also when a test fails or the run is interrupted.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# The pinned Node (node_modules/.bin/node) and mocha, also when run as plain `bash test.sh`.
export PATH="$ROOT/node_modules/.bin:$PATH"

log() { printf 'test:cluster: %s\n' "$*" >&2; }

if [[ "$(id -u)" != 0 ]]; then
  log "needs root: the test backends live in network namespaces (ip netns)."
  exit 1
fi
for tool in ip mocha node; do
  command -v "$tool" >/dev/null 2>&1 || { log "'$tool' is required (npm ci installs mocha and node; apt-get install iproute2)."; exit 1; }
done

RUN="$$"
export SLUICE_TEST_RUN="$RUN"
export SLUICE_CLUSTER_DIR
SLUICE_CLUSTER_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sluice-cluster-test.XXXXXX")"
STARTED=$SECONDS
STATUS=1
TEST_PGID=""

cleanup() {
  local ns pid i
  # The test run's process group: mocha and whatever a failed or interrupted test left running
  # (sluice processes, backend servers). SIGTERM first, so sluice shuts down cleanly.
  if [[ -n "$TEST_PGID" ]] && kill -0 -- "-$TEST_PGID" 2>/dev/null; then
    kill -TERM -- "-$TEST_PGID" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 -- "-$TEST_PGID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$TEST_PGID" 2>/dev/null || true
  fi
  # Network namespaces a killed run left behind (the suite removes its own), with their servers.
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^sluice-test-${RUN}-" || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  if [[ "$STATUS" != 0 && -d "$SLUICE_CLUSTER_DIR" ]]; then
    local keep="${TMPDIR:-/tmp}/sluice-cluster-logs-${RUN}"
    mkdir -p "$keep"
    cp "$SLUICE_CLUSTER_DIR"/*.log "$keep"/ 2>/dev/null || true
    log "control plane logs kept in $keep"
  fi
  scripts/cluster/control-plane.sh stop >/dev/null 2>&1 || log "control-plane.sh stop failed; state in $SLUICE_CLUSTER_DIR"
  rm -rf "$SLUICE_CLUSTER_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

eval "$(scripts/cluster/assets.sh)"
log "starting etcd + kube-apiserver ${SLUICE_K8S_VERSION:-}"
eval "$(scripts/cluster/control-plane.sh start)"

REPORT="$SLUICE_CLUSTER_DIR/mocha.out"
RC_FILE="$SLUICE_CLUSTER_DIR/mocha.rc"
# In a process group of its own (job control on), so cleanup can end everything the tests
# started, and `wait` below returns at once when this script gets a signal.
set -m
# Temporary files of the tests (sluice configs, kubeconfigs) live in the state dir and go with it.
mkdir -p "$SLUICE_CLUSTER_DIR/tmp"
{ TMPDIR="$SLUICE_CLUSTER_DIR/tmp" mocha --config test/cluster/.mocharc.json "$@" 2>&1; echo "$?" >"$RC_FILE"; } | tee "$REPORT" &
set +m
TEST_PGID="$(ps -o pgid= -p "$!" | tr -d ' ')"
wait "$!" || true
STATUS="$(cat "$RC_FILE" 2>/dev/null || echo 1)"

count() { { grep -Eo "^ *[0-9]+ $1" "$REPORT" || true; } | grep -Eo '[0-9]+' | tail -1 || true; }
passed="$(count passing)"
failed="$(count failing)"
echo "cluster suite: ${passed:-0} passed, ${failed:-0} failed in $((SECONDS - STARTED))s (kube-apiserver ${SLUICE_K8S_VERSION:-?})"
exit "$STATUS"
