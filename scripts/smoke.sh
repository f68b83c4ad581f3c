#!/usr/bin/env bash
# A short run of the three built tools on the `node` first on PATH (CI runs it on Node 22, the
# older supported line, after the unit tests): each tool's --version; `check` against a real
# container (healthy: 0, missing: 3); the listener, with a private etcd, registering that
# container and withdrawing its record on SIGTERM. About 5 s; leaves nothing behind.
#   bash scripts/smoke.sh          (after `npm run build`; needs dockerd, etcd, /bin/busybox)
#   SMOKE_BIN_DIR=<prefix>/bin bash scripts/smoke.sh   (the tools as installed there: the bins
#                                   of `npm install -g`, see scripts/pack-install.sh)
# Ends with "smoke: N passed, M failed"; exit 1 when anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKER_LOG_TAG=smoke
# shellcheck source=lib/host.sh
. scripts/lib/host.sh

passed=0
failed=0
ok() {
  passed=$((passed + 1))
  checker_log "ok: $*"
}
fail() {
  failed=$((failed + 1))
  checker_log "FAILED: $*"
}

bin_dir=${SMOKE_BIN_DIR:-}
for t in check monitor listener; do
  if [ -n "$bin_dir" ]; then
    [ -x "$bin_dir/$t" ] || checker_die "no $t in $bin_dir"
  else
    [ -f "packages/$t/dist/index.js" ] || checker_die "packages/$t is not built: npm run build"
  fi
done
checker_docker_up || checker_die "Docker does not answer: bash scripts/setup-host.sh"
command -v etcd >/dev/null || checker_die "no etcd on PATH: bash scripts/setup-host.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/checker-smoke.XXXXXX")
name=checker-smoke-$$-$RANDOM
container= etcd_pid= listener_pid= own_image=
cleanup() {
  set +e # every step, whatever the one before it did
  [ -n "$listener_pid" ] && kill -KILL "$listener_pid" 2>/dev/null
  [ -n "$etcd_pid" ] && kill -KILL "$etcd_pid" 2>/dev/null && wait "$etcd_pid" 2>/dev/null
  [ -n "$container" ] && "$CHECKER_DOCKER" rm -f -v "$container" >/dev/null 2>&1
  [ -n "$own_image" ] && "$CHECKER_DOCKER" rmi "$own_image" >/dev/null 2>&1
  rm -rf "$tmp"
  return 0
}
trap cleanup EXIT

# The tools as the tests run them: no MON_* from the caller's shell. `env` execs node (an
# installed bin through its `#!/usr/bin/env node` line), so a background tool's $! is node's own pid.
unset_mon=()
while IFS= read -r var; do unset_mon+=(-u "$var"); done < <(compgen -e | grep '^MON_' || true)
tool_cmd() {
  if [ -n "$bin_dir" ]; then echo "$bin_dir/$1"; else echo "node packages/$1/bin/run.js"; fi
}
tool() {
  local t=$1
  shift
  # shellcheck disable=SC2046 # the command is one path, or node and one path
  env "${unset_mon[@]}" $(tool_cmd "$t") "$@"
}

checker_log "node $(node --version) ($(command -v node)); tools: $(tool_cmd check | sed 's#/check$#/…#')"
for t in check monitor listener; do
  if v=$(tool "$t" --version 2>&1) && [[ "$v" == *"node-v$(node -p 'process.versions.node')"* ]]; then
    ok "$t --version: $v"
  else
    fail "$t --version: $v"
  fi
done

# The tests' busybox image when it is there; else the same one, made here and removed after.
image=checker-test/busybox:latest
if ! "$CHECKER_DOCKER" image inspect "$image" >/dev/null 2>&1; then
  image=checker-smoke/busybox:$$
  mkdir "$tmp/img"
  cp /bin/busybox "$tmp/img/busybox"
  printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n' >"$tmp/img/Dockerfile"
  DOCKER_BUILDKIT=0 "$CHECKER_DOCKER" build -q --force-rm -t "$image" "$tmp/img" >/dev/null
  own_image=$image
fi
container=$("$CHECKER_DOCKER" run -d --init --label checker.test=1 --name "$name" -e HEALTHCHECK=true "$image" sleep 600)

if out=$(tool check --no-syslog "$name" 2>&1); then ok "check $name: exit 0"; else fail "check $name: exit $? ($out)"; fi
set +e
out=$(tool check --no-syslog "$name-missing" 2>&1)
code=$?
set -e
if [ "$code" = 3 ]; then ok "check of a missing container: exit 3"; else fail "check of a missing container: exit $code ($out)"; fi

# A private etcd on two free loopback ports.
read -r client peer < <(node -e '
  const net = require("node:net");
  const take = () => new Promise((r) => { const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
  Promise.all([take(), take()]).then((ports) => console.log(ports.join(" ")));')
endpoint=127.0.0.1:$client
etcd --name smoke --data-dir "$tmp/etcd" \
  --listen-client-urls "http://$endpoint" --advertise-client-urls "http://$endpoint" \
  --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "smoke=http://127.0.0.1:$peer" >"$tmp/etcd.log" 2>&1 &
etcd_pid=$!
for _ in $(seq 1 50); do checker_etcd_up "$endpoint" && break; sleep 0.1; done
checker_etcd_up "$endpoint" || { cat "$tmp/etcd.log" >&2; checker_die "the private etcd did not start"; }

key=/SERVICE/busybox/$container
get_key() { ETCDCTL_API=3 etcdctl --endpoints "$endpoint" get "$key" --print-value-only; }
# shellcheck disable=SC2046
env "${unset_mon[@]}" $(tool_cmd listener) --etcd-host "$endpoint" --prefix "$name" \
  --no-syslog --stdout >"$tmp/listener.log" 2>&1 &
listener_pid=$!
value=
for _ in $(seq 1 150); do
  value=$(get_key) && [ -n "$value" ] && break
  sleep 0.1
done
if [[ "$value" == *"\"Name\":\"/$name\""* ]]; then
  ok "listener registered $key"
else
  fail "listener did not register $key: '$value'"
  tail -20 "$tmp/listener.log" >&2
fi

kill -TERM "$listener_pid"
set +e
wait "$listener_pid"
code=$?
set -e
listener_pid=
value=$(get_key)
if [ "$code" = 0 ] && [ -z "$value" ]; then
  ok "listener on SIGTERM: exit 0, record withdrawn"
else
  fail "listener on SIGTERM: exit $code, record '$value'"
  tail -20 "$tmp/listener.log" >&2
fi

echo "smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
