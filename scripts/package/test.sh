#!/usr/bin/env bash
# npm run test:package — the package as a user gets it: `npm pack`, a fresh global install into a
# temporary prefix, then `sluice --version`, `sluice demo` (serves, rotates, /readyz, stops on
# SIGINT) on Node 24, and the one-sentence refusal on an older Node when the machine has one.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
NODE24_DIR="$ROOT/node_modules/node/bin"   # the project's own Node 24 (devDependency `node`)
[ -x "$NODE24_DIR/node" ] || { echo "test:package: run npm ci first (no $NODE24_DIR/node)" >&2; exit 1; }

WORK=$(mktemp -d)
DEMO_PID=""
cleanup() {
  [ -n "$DEMO_PID" ] && kill "$DEMO_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "test:package: FAIL: $*" >&2; exit 1; }
ok() { echo "  ok: $*"; }

echo "== npm pack (runs the build through prepack)"
TARBALL=$(PATH="$NODE24_DIR:$PATH" npm pack --silent --pack-destination "$WORK" | tail -1)
TARBALL="$WORK/$TARBALL"
FILES=$(tar -tzf "$TARBALL" | sed 's|^package/||' | sort)
echo "$FILES" | sed 's/^/    /'
echo "$FILES" | grep -qx 'dist/cli.js' || fail "the tarball has no dist/cli.js"
echo "$FILES" | grep -qx 'bin/sluice.js' || fail "the tarball has no bin/sluice.js"
echo "$FILES" | grep -qx 'LICENSE' || fail "the tarball has no LICENSE"
STRAY=$(echo "$FILES" | grep -E '^(src|test|bench|scripts|helm|deploy|docs|\.ci)/|\.ts$' || true)
[ -z "$STRAY" ] || fail "the tarball ships files that do not run: $STRAY"
ok "tarball $(basename "$TARBALL"): $(echo "$FILES" | wc -l) files, $(du -k "$TARBALL" | cut -f1) KB, only what runs"

echo "== npm i -g into a fresh prefix"
PREFIX="$WORK/prefix"
PATH="$NODE24_DIR:$PATH" npm i -g --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "$TARBALL" >/dev/null
SLUICE="$PREFIX/bin/sluice"
[ -x "$SLUICE" ] || fail "npm did not install $SLUICE"
INSTALLED="$PREFIX/lib/node_modules/sluice"
[ ! -e "$INSTALLED/src" ] || fail "the installed package has a src/ directory"

# Only Node 24 and the system tools on PATH, as on a user's machine: the bin's shebang finds node.
USER_PATH="$NODE24_DIR:/usr/local/bin:/usr/bin:/bin"
OUT=$(cd "$WORK" && PATH="$USER_PATH" "$SLUICE" --version)
[[ "$OUT" == "sluice $(node -p 'require("./package.json").version') (node v24."* ]] || fail "sluice --version said: $OUT"
ok "sluice --version: $OUT"

echo "== sluice demo (127.0.0.1:8080, admin 127.0.0.1:9901, backends 8081-8083)"
for port in 8080 8081 8082 8083 9901; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then fail "port $port is in use; the demo needs 8080-8083 and 9901"; fi
done
(cd "$WORK" && PATH="$USER_PATH" exec "$SLUICE" demo --log-level warn) >"$WORK/demo.out" 2>"$WORK/demo.err" &
DEMO_PID=$!
ready=""
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null http://127.0.0.1:9901/readyz 2>/dev/null; then ready=1; break; fi
  kill -0 "$DEMO_PID" 2>/dev/null || { cat "$WORK/demo.err" >&2; fail "sluice demo exited early"; }
  sleep 0.1
done
[ -n "$ready" ] || { cat "$WORK/demo.err" >&2; fail "sluice demo never answered /readyz 200"; }
ok "/readyz 200"
ANSWERS=$(for _ in 1 2 3 4 5 6; do curl -fsS http://127.0.0.1:8080/; done)
for b in backend-1 backend-2 backend-3; do
  echo "$ANSWERS" | grep -q "Hello from $b " || fail "no answer from $b in six requests: $ANSWERS"
done
ok "six requests reached backend-1, backend-2 and backend-3"
LISTEN=$(ss -Hltnp 2>/dev/null | grep -E ':(8080|9901) ' || true)
if [ -n "$LISTEN" ]; then
  echo "$LISTEN" | grep -vq '127.0.0.1:' && fail "the demo listens beyond loopback: $LISTEN"
  ok "listens on loopback only"
fi
kill -INT "$DEMO_PID"
code=0; wait "$DEMO_PID" || code=$?
DEMO_PID=""
[ "$code" = 0 ] || { cat "$WORK/demo.err" >&2; fail "sluice demo exited $code on SIGINT, not 0"; }
ok "SIGINT: exit 0"

echo "== an older Node"
OLD=""
for candidate in $(which -a node 2>/dev/null) /usr/bin/node; do
  [ -x "$candidate" ] || continue
  major=$("$candidate" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -lt 24 ]; then OLD=$candidate; break; fi
done
if [ -z "$OLD" ]; then
  echo "  skipped: no Node older than 24 on this machine"
else
  code=0
  ERR=$("$OLD" "$INSTALLED/bin/sluice.js" --version 2>&1 >/dev/null) || code=$?
  [ "$code" = 2 ] || fail "with $OLD ($("$OLD" --version)) sluice exited $code, not 2: $ERR"
  [ "$(echo "$ERR" | wc -l)" = 1 ] || fail "more than one line on an old Node: $ERR"
  [[ "$ERR" == *"24.11.0"*"$("$OLD" -p process.versions.node)"* ]] || fail "the message does not name both versions: $ERR"
  ok "$("$OLD" --version): exit 2, \"$ERR\""
  code=0
  ERR=$(PATH="$(dirname "$OLD"):/usr/bin:/bin" "$SLUICE" demo 2>&1 >/dev/null) || code=$?
  [ "$code" = 2 ] || fail "the installed sluice on $OLD exited $code, not 2: $ERR"
  ok "the installed command with $OLD first on PATH: exit 2"
fi
echo "test:package: all good"
