#!/usr/bin/env bash
# Start/stop a real, minimal Kubernetes control plane (etcd + kube-apiserver) on
# 127.0.0.1 for the cluster test suite. No controller-manager, scheduler or kubelet.
#
#   eval "$(scripts/cluster/control-plane.sh start)"   # prints export lines
#   scripts/cluster/control-plane.sh env                # same export lines again
#   scripts/cluster/control-plane.sh status
#   scripts/cluster/control-plane.sh stop               # kills what start started, removes the state dir
#
# See scripts/cluster/README.md for the environment variables.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${SLUICE_CLUSTER_DIR:-/tmp/sluice-cluster}"
# Canonical path (the pid checks compare it with the processes' command lines).
if [[ -d "$DIR" ]]; then DIR="$(cd "$DIR" && pwd -P)"; fi
MARKER="$DIR/.sluice-control-plane"
START_TIMEOUT="${SLUICE_CLUSTER_START_TIMEOUT:-120}"   # seconds
STOP_TIMEOUT="${SLUICE_CLUSTER_STOP_TIMEOUT:-20}"      # seconds per process before SIGKILL

log() { printf 'control-plane: %s\n' "$*" >&2; }
die() { printf 'control-plane: error: %s\n' "$*" >&2; exit 1; }

usage() {
  cat >&2 <<'EOF'
usage: control-plane.sh start|stop|env|status
  start   start etcd + kube-apiserver on 127.0.0.1, wait until ready, print export lines
  stop    stop exactly the processes start recorded and remove the state dir
  env     print the export lines of the running control plane
  status  exit 0 if the recorded processes are alive and /readyz answers ok
EOF
  exit 2
}

# ---- helpers -------------------------------------------------------------------
now_ms() { date +%s%3N; }

# pid_alive NAME: the pid recorded for NAME is alive and is still the binary we started.
pid_alive() {
  local name="$1" pid exe
  [[ -f "$DIR/$name.pid" ]] || return 1
  pid="$(<"$DIR/$name.pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -d "/proc/$pid" ]] || return 1
  # Guard against pid reuse: the process must run the recorded binary and refer to
  # our state dir on its command line.
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  exe="${exe% (deleted)}"
  [[ -f "$DIR/$name.exe" && "$exe" == "$(<"$DIR/$name.exe")" ]] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR" || return 1
  # A zombie (exited but not yet reaped) counts as dead.
  [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]] || return 1
}

show_log() {
  local name="$1" f="$DIR/$1.log"
  if [[ -f "$f" ]]; then
    printf -- '---- last 30 lines of %s ----\n' "$f" >&2
    tail -n 30 "$f" >&2
    printf -- '---- end of %s ----\n' "$f" >&2
  fi
}

# port_free PORT: nothing listens on PORT (any address, TCP).
port_free() { [[ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]; }

# pick_port: a free TCP port below the kernel's ephemeral range (so outgoing
# connections can't grab it between our check and the bind), not in $TAKEN.
TAKEN=" "
pick_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 12000))
    [[ "$TAKEN" != *" $p "* ]] || continue
    if port_free "$p"; then TAKEN+="$p "; echo "$p"; return 0; fi
  done
  die "could not find a free TCP port in 20000-31999."
}

# port_or_pick VALUE: VALUE if it is a non-zero port (checked free), else pick one.
port_or_pick() {
  local v="${1:-0}" what="$2"
  [[ "$v" =~ ^[0-9]+$ ]] || die "$what must be a port number, got '$v'."
  if [[ "$v" == 0 ]]; then pick_port; return; fi
  port_free "$v" || die "$what=$v is already in use on this machine."
  TAKEN+="$v "
  echo "$v"
}

# spawn NAME BIN ARGS...: start BIN detached (own session, so the caller's Ctrl-C or
# exit doesn't reach it), log to $DIR/NAME.log, record pid and binary.
spawn() {
  local name="$1" bin="$2"; shift 2
  local exe
  exe="$(readlink -f "$bin")"
  printf '%s\n' "$exe" >"$DIR/$name.exe"
  printf '%q ' "$exe" "$@" >"$DIR/$name.cmdline"; echo >>"$DIR/$name.cmdline"
  # setsid execs in place (we are not a process-group leader here), so $! is the pid.
  setsid "$exe" "$@" </dev/null >>"$DIR/$name.log" 2>&1 &
  echo $! >"$DIR/$name.pid"
}

# wait_until DESC NAME DEADLINE_MS CMD...: poll CMD until it succeeds; fail early if
# process NAME died, or at the deadline. Short poll interval, no fixed sleeps.
wait_until() {
  local desc="$1" name="$2" deadline="$3"; shift 3
  local delay=0.05
  while true; do
    if "$@"; then return 0; fi
    if ! pid_alive "$name"; then
      log "$name exited while waiting for $desc."
      show_log "$name"
      stop_processes >/dev/null 2>&1 || true
      die "$name failed to start (state and logs kept in $DIR)."
    fi
    if (($(now_ms) > deadline)); then
      log "timed out after ${START_TIMEOUT}s waiting for $desc."
      show_log "$name"
      stop_processes >/dev/null 2>&1 || true
      die "$name did not become ready in time (state and logs kept in $DIR; raise SLUICE_CLUSTER_START_TIMEOUT if the machine is busy)."
    fi
    sleep "$delay"
    # back off gently up to 0.5s
    case "$delay" in 0.05) delay=0.1 ;; 0.1) delay=0.2 ;; *) delay=0.5 ;; esac
  done
}

etcd_healthy() {
  curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" 2>/dev/null | grep -q '"health":"true"'
}

api_get() {  # api_get PATH: GET against the apiserver as admin, body on stdout
  curl -fsS --max-time 5 --cacert "$DIR/pki/ca.crt" \
    -H "Authorization: Bearer $ADMIN_TOKEN" "https://127.0.0.1:$APISERVER_PORT$1"
}
apiserver_ready() { [[ "$(api_get /readyz 2>/dev/null)" == ok ]]; }
default_ns_exists() { api_get /api/v1/namespaces/default >/dev/null 2>&1; }

# stop_processes: SIGTERM then (after STOP_TIMEOUT) SIGKILL, apiserver before etcd.
stop_processes() {
  local name pid deadline
  for name in kube-apiserver etcd; do
    if pid_alive "$name"; then
      pid="$(<"$DIR/$name.pid")"
      log "stopping $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      deadline=$(($(now_ms) + STOP_TIMEOUT * 1000))
      while pid_alive "$name" && (($(now_ms) < deadline)); do sleep 0.1; done
      if pid_alive "$name"; then
        log "$name did not exit after ${STOP_TIMEOUT}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$(($(now_ms) + 5000))
        while pid_alive "$name" && (($(now_ms) < deadline)); do sleep 0.1; done
      fi
    fi
    rm -f "$DIR/$name.pid"
  done
}

# ---- commands ------------------------------------------------------------------
cmd_start() {
  local p
  for p in openssl curl ss setsid base64; do
    command -v "$p" >/dev/null 2>&1 || die "'$p' is required but not installed (apt-get install openssl curl iproute2 util-linux coreutils)."
  done

  if [[ -e "$DIR" ]]; then
    if [[ -f "$MARKER" ]]; then
      if pid_alive etcd || pid_alive kube-apiserver; then
        die "a control plane is already running in $DIR; run '$0 stop' first (or set SLUICE_CLUSTER_DIR)."
      fi
      log "removing stale state dir $DIR"
      rm -rf "$DIR"
    elif [[ -n "$(ls -A "$DIR" 2>/dev/null)" ]]; then
      die "$DIR exists, is not empty and was not created by this script; refusing to use it."
    fi
  fi
  mkdir -p "$DIR"
  DIR="$(cd "$DIR" && pwd -P)"
  MARKER="$DIR/.sluice-control-plane"
  : >"$MARKER"

  # Binaries (cached builds, or TEST_ASSET_* overrides).
  local assets
  assets="$("$HERE/assets.sh")" || die "could not provide the Kubernetes binaries (see above)."
  eval "$assets"

  # (port_or_pick runs in a subshell, so record each choice in TAKEN here.)
  ETCD_CLIENT_PORT="$(port_or_pick "${SLUICE_ETCD_CLIENT_PORT:-0}" SLUICE_ETCD_CLIENT_PORT)"
  TAKEN+="$ETCD_CLIENT_PORT "
  ETCD_PEER_PORT="$(port_or_pick "${SLUICE_ETCD_PEER_PORT:-0}" SLUICE_ETCD_PEER_PORT)"
  TAKEN+="$ETCD_PEER_PORT "
  APISERVER_PORT="$(port_or_pick "${SLUICE_APISERVER_PORT:-0}" SLUICE_APISERVER_PORT)"
  TAKEN+="$APISERVER_PORT "
  [[ "$ETCD_CLIENT_PORT" != "$ETCD_PEER_PORT" && "$APISERVER_PORT" != "$ETCD_CLIENT_PORT" && "$APISERVER_PORT" != "$ETCD_PEER_PORT" ]] \
    || die "the etcd client, etcd peer and apiserver ports must differ."

  # ---- PKI: CA, apiserver serving cert, service-account key pair ------------------
  log "generating certificates in $DIR/pki"
  local pki="$DIR/pki"
  mkdir -p "$pki"
  chmod 0700 "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout ca.key -out ca.crt -days 30 -subj "/CN=sluice-test-ca" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    printf '%s\n' \
      "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
      >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out apiserver.crt -days 30 -extfile apiserver.ext 2>/dev/null
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
    openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f apiserver.csr
  ) || die "openssl failed to generate the test certificates."

  # ---- static token auth: one admin in system:masters ------------------------------
  ADMIN_TOKEN="$(openssl rand -hex 32)"
  printf '%s,sluice-admin,sluice-admin,"system:masters"\n' "$ADMIN_TOKEN" >"$pki/tokens.csv"
  chmod 0600 "$pki/tokens.csv"

  local deadline=$(($(now_ms) + START_TIMEOUT * 1000))

  # ---- etcd --------------------------------------------------------------------------
  log "starting etcd on 127.0.0.1:$ETCD_CLIENT_PORT (peer $ETCD_PEER_PORT)"
  local etcd_args=(
    --name=sluice
    --data-dir="$DIR/etcd-data"
    --listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT"
    --advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT"
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT"
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT"
    --initial-cluster="sluice=http://127.0.0.1:$ETCD_PEER_PORT"
    --initial-cluster-state=new
    --initial-cluster-token="sluice-$$"
    --unsafe-no-fsync   # throwaway test data: skip fsync, much faster on shared disks
    --log-level=warn
  )
  # shellcheck disable=SC2206  # extra args are deliberately word-split
  etcd_args+=(${SLUICE_ETCD_ARGS:-})
  spawn etcd "$TEST_ASSET_ETCD" "${etcd_args[@]}"
  wait_until "etcd /health" etcd "$deadline" etcd_healthy

  # ---- kube-apiserver -------------------------------------------------------------------
  log "starting kube-apiserver on https://127.0.0.1:$APISERVER_PORT"
  local api_args=(
    --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT"
    --bind-address=127.0.0.1
    --advertise-address=127.0.0.1
    --secure-port="$APISERVER_PORT"
    --cert-dir="$DIR/apiserver-certs"
    --tls-cert-file="$pki/apiserver.crt"
    --tls-private-key-file="$pki/apiserver.key"
    --client-ca-file="$pki/ca.crt"
    --token-auth-file="$pki/tokens.csv"
    --anonymous-auth=true
    --authorization-mode=RBAC
    --service-cluster-ip-range=10.96.0.0/16
    --service-account-issuer=https://kubernetes.default.svc.cluster.local
    --service-account-key-file="$pki/sa.pub"
    --service-account-signing-key-file="$pki/sa.key"
    # No controller-manager runs, so nothing creates the per-namespace "default"
    # ServiceAccount that this plugin insists on for Pods. ServiceAccounts, RBAC and
    # TokenRequest (kubectl create token) work without it.
    --disable-admission-plugins=ServiceAccount
    # Loopback addresses are invalid in Endpoints, so don't try to publish the
    # apiserver's own address in the "kubernetes" Service's endpoints.
    --endpoint-reconciler-type=none
    --profiling=false
    --v=1
  )
  # shellcheck disable=SC2206  # extra args are deliberately word-split
  api_args+=(${SLUICE_APISERVER_ARGS:-})
  spawn kube-apiserver "$TEST_ASSET_KUBE_APISERVER" "${api_args[@]}"
  wait_until "kube-apiserver /readyz" kube-apiserver "$deadline" apiserver_ready
  wait_until "the default namespace" kube-apiserver "$deadline" default_ns_exists

  # ---- kubeconfig + env file ----------------------------------------------------------
  local ca_b64
  ca_b64="$(base64 -w0 <"$pki/ca.crt")"
  cat >"$DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sluice
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $ca_b64
users:
- name: sluice-admin
  user:
    token: $ADMIN_TOKEN
contexts:
- name: sluice
  context:
    cluster: sluice
    user: sluice-admin
    namespace: default
current-context: sluice
EOF
  chmod 0600 "$DIR/kubeconfig"

  {
    printf 'export %s=%q\n' \
      KUBECONFIG "$DIR/kubeconfig" \
      SLUICE_CLUSTER_DIR "$DIR" \
      SLUICE_KUBE_SERVER "https://127.0.0.1:$APISERVER_PORT" \
      SLUICE_KUBE_TOKEN "$ADMIN_TOKEN" \
      SLUICE_KUBE_CA_FILE "$pki/ca.crt" \
      SLUICE_APISERVER_PORT "$APISERVER_PORT" \
      SLUICE_ETCD_ENDPOINT "http://127.0.0.1:$ETCD_CLIENT_PORT" \
      SLUICE_ETCD_CLIENT_PORT "$ETCD_CLIENT_PORT" \
      SLUICE_ETCD_PEER_PORT "$ETCD_PEER_PORT"
    # binary paths (TEST_ASSET_*), SLUICE_K8S_VERSION, SLUICE_ASSETS_DIR
    printf '%s\n' "$assets"
  } >"$DIR/env"
  chmod 0600 "$DIR/env"

  log "ready: kube-apiserver https://127.0.0.1:$APISERVER_PORT, etcd http://127.0.0.1:$ETCD_CLIENT_PORT, state in $DIR"
  cat "$DIR/env"
}

cmd_stop() {
  if [[ ! -e "$DIR" ]]; then
    log "nothing to stop ($DIR does not exist)"
    return 0
  fi
  [[ -f "$MARKER" ]] || die "$DIR was not created by this script; refusing to touch it."
  stop_processes
  rm -rf "$DIR"
  log "stopped; removed $DIR"
}

cmd_env() {
  [[ -f "$MARKER" && -f "$DIR/env" ]] || die "no control plane is running in $DIR (run '$0 start')."
  pid_alive kube-apiserver || die "the control plane in $DIR is not running any more (run '$0 stop', then start)."
  cat "$DIR/env"
}

cmd_status() {
  [[ -f "$MARKER" && -f "$DIR/env" ]] || { log "not running ($DIR)"; return 1; }
  local ok=0 name
  for name in etcd kube-apiserver; do
    if pid_alive "$name"; then log "$name: running (pid $(<"$DIR/$name.pid"))"
    else log "$name: NOT running"; ok=1; fi
  done
  # shellcheck disable=SC1091
  (source "$DIR/env"
   r="$(curl -fsS --max-time 5 --cacert "$SLUICE_KUBE_CA_FILE" -H "Authorization: Bearer $SLUICE_KUBE_TOKEN" "$SLUICE_KUBE_SERVER/readyz" 2>&1)" || true
   log "kube-apiserver /readyz: ${r:-no answer}"
   [[ "$r" == ok ]]) || ok=1
  return "$ok"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  env) cmd_env ;;
  status) cmd_status ;;
  *) usage ;;
esac
