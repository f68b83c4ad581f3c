#!/usr/bin/env bash
# CI, and the one command that sets up a fresh Debian machine (as root) and tests everything:
#   bash scripts/ci.sh
# 1. scripts/setup-host.sh: packages, dockerd, rsyslogd, Node 24 and 22 in /opt/checker-node.
# 2. Node 24 (the current LTS): `npm ci` and `npm test`, the whole suite (build, type-check,
#    lint, unit and integration tests, the images built on a Node 24 base).
# 3. Node 22 (the older maintained LTS): the native addon rebuilt for its ABI, the unit tests,
#    and scripts/smoke.sh (each tool's --version, a check of a real container, the listener
#    registering it in a private etcd), then the same smoke on the packed tarballs installed
#    together with `npm install -g` (scripts/pack-install.sh).
# 4. The native addon rebuilt for the host's own `node`, so `npm test` works on it afterwards.
# Ends with "ci: N passed, 0 failed" (vitest's and the smoke's counts).
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKER_LOG_TAG=ci
# shellcheck source=lib/host.sh
. scripts/lib/host.sh

report=$(mktemp -d "${TMPDIR:-/tmp}/checker-ci.XXXXXX")
trap 'rm -rf "$report"' EXIT
t0=$SECONDS
since() { echo "$((SECONDS - $1)) s"; }

bash scripts/setup-host.sh
checker_log "host ready in $(since "$t0")"

# Passed tests in a vitest JSON report (0 when it is missing).
passed_in() {
  node -e 'try { console.log(require(process.argv[1]).numPassedTests ?? 0) } catch { console.log(0) }' "$1"
}

t=$SECONDS
(
  checker_use_node 24
  checker_log "Node $(node --version): npm ci, npm test"
  npm ci --no-audit --no-fund
  npm test -- --reporter=default --reporter=json --outputFile.json="$report/node24.json"
)
n24=$(passed_in "$report/node24.json")
checker_log "Node 24: the whole suite, $n24 tests passed, in $(since "$t")"

t=$SECONDS
(
  checker_use_node 22
  checker_log "Node $(node --version): unit tests and smoke run"
  # npm ci built unix-dgram for Node 24's ABI; node-gyp takes Node 22's headers from npm_config_nodedir.
  npm rebuild unix-dgram
  npx vitest run --project unit --reporter=default --reporter=json --outputFile.json="$report/node22.json"
  bash scripts/smoke.sh | tee "$report/smoke.txt"
  bash scripts/pack-install.sh | tee "$report/installed.txt"
)
n22=$(passed_in "$report/node22.json")
smoke_steps() { sed -n 's/^smoke: \([0-9]*\) passed, 0 failed$/\1/p' "$1"; }
built=$(smoke_steps "$report/smoke.txt")
installed=$(smoke_steps "$report/installed.txt")
nsmoke=$((${built:-0} + ${installed:-0}))
checker_log "Node 22: $n22 unit tests and $nsmoke smoke steps (built and installed) passed, in $(since "$t")"

headers=$(checker_node_headers node)
if [ -n "$headers" ]; then npm_config_nodedir=$headers npm rebuild unix-dgram >/dev/null; else npm rebuild unix-dgram >/dev/null; fi
checker_log "done in $(since "$t0")"
echo "ci: $((n24 + n22 + nsmoke)) passed, 0 failed"
