#!/usr/bin/env bash
# Ensure the real Kubernetes test binaries exist (kube-apiserver, kubectl, etcd,
# etcdctl, helm) and print `export VAR=path` lines for them on stdout:
#
#   eval "$(scripts/cluster/assets.sh)"
#
# Everything else (progress, build output) goes to stderr. Binaries are built
# from the Go module proxy with the local Go toolchain and cached outside the
# repository; a cached binary is reused when it runs and reports the pinned
# version. Pre-built binaries can be supplied envtest-style through
# TEST_ASSET_KUBE_APISERVER, TEST_ASSET_KUBECTL, TEST_ASSET_ETCD,
# TEST_ASSET_ETCDCTL and TEST_ASSET_HELM. See scripts/cluster/README.md.
set -euo pipefail

# ---- pinned versions (override only if you know what you are doing) ---------
K8S_VERSION="${SLUICE_K8S_VERSION:-v1.37.2}"    # k8s.io/kubernetes
ETCD_VERSION="${SLUICE_ETCD_VERSION:-v3.7.3}"   # go.etcd.io/etcd (k8s 1.37 defaults to etcd 3.7.0)
HELM_VERSION="${SLUICE_HELM_VERSION:-v3.22.0}"  # helm.sh/helm/v3

ASSETS_DIR="${SLUICE_ASSETS_DIR:-${HOME:?HOME is not set}/.cache/sluice/k8s-assets/${K8S_VERSION}}"

log() { printf 'assets: %s\n' "$*" >&2; }
die() { printf 'assets: error: %s\n' "$*" >&2; exit 1; }

# ---- Go toolchain ------------------------------------------------------------
GO="$(command -v go 2>/dev/null || true)"
if [[ -z "$GO" && -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go; fi

need_go() {
  [[ -n "$GO" ]] || die "the Go toolchain ('go') is required to build the Kubernetes test binaries but was not found on PATH or at /usr/local/go/bin/go."
}

# Builds are statically linked, niced (the machine is shared) and never touch the
# repository. GOFLAGS from the caller could break `go get` in a temp module
# (e.g. -mod=vendor), so it is reset to what we need.
gorun() {
  (cd "$BUILD_MOD" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false GO111MODULE=on nice -n 10 "$GO" "$@") >&2
}

WORK=""
cleanup() { [[ -n "$WORK" && -d "$WORK" ]] && rm -rf "$WORK"; return 0; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

workdir() {
  if [[ -z "$WORK" ]]; then
    mkdir -p "$ASSETS_DIR"
    # Inside the cache dir so the final `mv` is a same-filesystem atomic rename.
    WORK="$(mktemp -d "$ASSETS_DIR/.build.XXXXXX")"
  fi
}

# new_module NAME: empty Go module in $WORK/NAME, path in $BUILD_MOD. Returns 1
# if it already existed in this run (i.e. it is already resolved).
new_module() {
  workdir
  BUILD_MOD="$WORK/$1"
  [[ ! -d "$BUILD_MOD" ]] || return 1
  mkdir -p "$BUILD_MOD"
  printf 'module sluice.local/assets/%s\n\ngo 1.26.0\n' "$1" >"$BUILD_MOD/go.mod"
}

# install_bin SRC NAME: move a freshly built binary into the cache atomically.
install_bin() {
  local src="$1" name="$2"
  chmod 0755 "$src"
  mv -f "$src" "$ASSETS_DIR/$name"
}

# ---- version checks for cached / supplied binaries ---------------------------
# has_version BIN WANT: BIN runs and its version output contains WANT.
has_version() {
  local bin="$1" want="$2" out
  [[ -x "$bin" ]] || return 1
  case "$(basename "$bin")" in
    kubectl*) out="$("$bin" version --client 2>/dev/null)" || return 1 ;;
    helm*)    out="$("$bin" version --short 2>/dev/null)" || return 1 ;;
    etcdctl*) out="$("$bin" version 2>/dev/null)" || return 1 ;;
    *)        out="$("$bin" --version 2>/dev/null)" || return 1 ;;
  esac
  # whole-word match, so v1.37.2 doesn't accept v1.37.20
  out="${out//$'\n'/ }"
  [[ " $out " == *" $want "* ]]
}

# ---- builders ----------------------------------------------------------------
# Each builder takes the binary name to build and leaves it in $ASSETS_DIR.
K8S_LDFLAGS=""

# Temp module for k8s.io/kubernetes (done once per run).
setup_kubernetes_module() {
  new_module kubernetes || return 0
  local json gomod info minor build_date
  json="$(cd "$BUILD_MOD" && "$GO" mod download -json "k8s.io/kubernetes@${K8S_VERSION}")" \
    || die "could not download k8s.io/kubernetes@${K8S_VERSION} from the Go module proxy."
  gomod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")"
  info="$(sed -n 's/^[[:space:]]*"Info": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")"
  [[ -f "$gomod" ]] || die "go mod download did not report a go.mod for k8s.io/kubernetes@${K8S_VERSION}."

  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with
  # ./staging/... -- which is ignored for a dependency. Map each required staging
  # module to its published tag instead: k8s v1.N.P <-> staging v0.N.P.
  local staging_version="v0.${K8S_VERSION#v1.}" mods m
  mods="$(awk '
      /^replace[[:space:]]*\(/ { inrep = 1; next }
      inrep && /^\)/           { inrep = 0; next }
      inrep && $2 == "=>" && $3 ~ /^\.\/staging\// { staged[$1] = 1 }
      /^replace[[:space:]]+[^(]/ && $3 == "=>" && $4 ~ /^\.\/staging\// { staged[$2] = 1 }
      /^require[[:space:]]*\(/ { inreq = 1; next }
      inreq && /^\)/           { inreq = 0; next }
      inreq && $2 == "v0.0.0"  { req[$1] = 1 }
      END { for (m in staged) if (m in req) print m }
    ' "$gomod" | sort)"
  [[ -n "$mods" ]] || die "found no staging modules in $gomod; the k8s.io/kubernetes layout changed."
  {
    printf '\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$K8S_VERSION"
    for m in $mods; do printf '\t%s => %s %s\n' "$m" "$m" "$staging_version"; done
    printf ')\n'
  } >>"$BUILD_MOD/go.mod"
  log "  mapped $(wc -w <<<"$mods") staging modules of k8s.io/kubernetes to ${staging_version}"

  gorun get "k8s.io/kubernetes/cmd/kube-apiserver@${K8S_VERSION}" "k8s.io/kubernetes/cmd/kubectl@${K8S_VERSION}" \
    || die "resolving the k8s.io/kubernetes ${K8S_VERSION} build module failed (see output above)."

  # The same version stamping hack/lib/version.sh does, so `--version`, /version and
  # the apiserver's compatibility version all report the real release.
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  build_date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$info" 2>/dev/null | sed 's/\.[0-9]*Z$/Z/')"
  [[ -n "$build_date" ]] || build_date="1970-01-01T00:00:00Z"
  local pkg
  K8S_LDFLAGS="-s -w"
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    K8S_LDFLAGS+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
    K8S_LDFLAGS+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${build_date}"
  done
}

build_kubernetes() {  # kube-apiserver | kubectl
  local name="$1" start=$SECONDS
  need_go
  log "building $name ${K8S_VERSION} from k8s.io/kubernetes (slow the first time) ..."
  setup_kubernetes_module
  BUILD_MOD="$WORK/kubernetes"
  mkdir -p "$WORK/out"
  gorun build -trimpath -ldflags "$K8S_LDFLAGS" -o "$WORK/out/$name" "k8s.io/kubernetes/cmd/$name" \
    || die "building $name ${K8S_VERSION} failed (see output above)."
  install_bin "$WORK/out/$name" "$name"
  log "  $name built in $((SECONDS - start))s"
}

build_etcd() {  # etcd | etcdctl
  local name="$1" start=$SECONDS pkg
  need_go
  log "building $name ${ETCD_VERSION} ..."
  # go.etcd.io/etcd/server/v3 is the etcd main package; its go.mod has replace
  # directives (../api, ...), so `go install pkg@version` refuses it: use a temp module.
  if new_module etcd; then
    gorun get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" "go.etcd.io/etcd/etcdctl/v3@${ETCD_VERSION}" \
      || die "resolving etcd ${ETCD_VERSION} from the Go module proxy failed (see output above)."
  fi
  BUILD_MOD="$WORK/etcd"
  case "$name" in
    etcd) pkg=go.etcd.io/etcd/server/v3 ;;
    etcdctl) pkg=go.etcd.io/etcd/etcdctl/v3 ;;
  esac
  mkdir -p "$WORK/out"
  gorun build -trimpath -ldflags "-s -w" -o "$WORK/out/$name" "$pkg" \
    || die "building $name ${ETCD_VERSION} failed (see output above)."
  install_bin "$WORK/out/$name" "$name"
  log "  $name built in $((SECONDS - start))s"
}

build_helm() {  # helm
  local start=$SECONDS
  need_go
  log "building helm ${HELM_VERSION} ..."
  new_module helm || true
  mkdir -p "$WORK/out"
  (cd "$BUILD_MOD" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN="$WORK/out" nice -n 10 \
      "$GO" install -trimpath \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
      "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}") >&2 \
    || die "building helm ${HELM_VERSION} failed (see output above)."
  install_bin "$WORK/out/helm" helm
  log "  helm built in $((SECONDS - start))s"
}

# ---- resolve one asset ---------------------------------------------------------
# resolve VAR NAME WANT BUILDER: print the path to use for asset NAME.
resolve() {
  local var="$1" name="$2" want="$3" builder="$4"
  local given="${!var:-}"
  if [[ -n "$given" ]]; then
    [[ -f "$given" && -x "$given" ]] || die "$var is set to '$given', which is not an executable file."
    log "$name: using $var=$given"
    RESOLVED="$given"
    return
  fi
  local cached="$ASSETS_DIR/$name"
  if ! has_version "$cached" "$want"; then
    "$builder" "$name"
    has_version "$cached" "$want" \
      || die "$cached was built but does not run or does not report version $want."
  else
    log "$name: cached $cached"
  fi
  RESOLVED="$cached"
}

main() {
  mkdir -p "$ASSETS_DIR"
  # Serialise concurrent runs (two test jobs starting at once would otherwise build twice).
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$ASSETS_DIR/.lock"
    if ! flock -n 9; then
      log "another assets.sh run holds $ASSETS_DIR/.lock; waiting ..."
      flock 9
    fi
    # Holding the lock, any leftover build dir belongs to an interrupted run.
    rm -rf "$ASSETS_DIR"/.build.* 2>/dev/null || true
  fi

  local etcd_want="${ETCD_VERSION#v}" out=()
  resolve TEST_ASSET_KUBE_APISERVER kube-apiserver "Kubernetes ${K8S_VERSION}" build_kubernetes
  out+=("TEST_ASSET_KUBE_APISERVER=$RESOLVED")
  resolve TEST_ASSET_KUBECTL kubectl "${K8S_VERSION}" build_kubernetes
  out+=("TEST_ASSET_KUBECTL=$RESOLVED")
  resolve TEST_ASSET_ETCD etcd "etcd Version: ${etcd_want}" build_etcd
  out+=("TEST_ASSET_ETCD=$RESOLVED")
  resolve TEST_ASSET_ETCDCTL etcdctl "etcdctl version: ${etcd_want}" build_etcd
  out+=("TEST_ASSET_ETCDCTL=$RESOLVED")
  resolve TEST_ASSET_HELM helm "${HELM_VERSION}" build_helm
  out+=("TEST_ASSET_HELM=$RESOLVED")

  local kv
  for kv in "${out[@]}"; do
    printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
  done
  printf 'export SLUICE_K8S_VERSION=%q\n' "$K8S_VERSION"
  printf 'export SLUICE_ASSETS_DIR=%q\n' "$ASSETS_DIR"
  log "ready."
}

main "$@"
