#!/usr/bin/env bash
# The tools as an operator installs them: the four workspaces packed (`npm pack`, the tarballs a
# registry would serve), installed together with `npm install -g` into a temporary prefix, and
# scripts/smoke.sh run on the installed bins (each --version, a check of a real container, the
# listener registering it and withdrawing it on SIGTERM). CI runs it on Node 22 after the smoke.
#   bash scripts/pack-install.sh        (after `npm run build`; the prefix is removed afterwards)
# npm takes the tarballs' own dependencies (dockerode, etcd3, oclif, pino…) from its cache where
# `npm ci` left them, else from the registry, as `npm ci` does: this is an install, like that one.
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKER_LOG_TAG=pack-install
# shellcheck source=lib/host.sh
. scripts/lib/host.sh

tmp=$(mktemp -d "${TMPDIR:-/tmp}/checker-pack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

mkdir "$tmp/packs"
npm pack --silent --pack-destination "$tmp/packs" \
  --workspace packages/core --workspace packages/check --workspace packages/monitor --workspace packages/listener \
  >/dev/null
checker_log "packed: $(cd "$tmp/packs" && echo *.tgz)"
npm install --global --prefix "$tmp/global" --prefer-offline --no-audit --no-fund --loglevel=error \
  "$tmp"/packs/*.tgz
checker_log "installed into $tmp/global"
SMOKE_BIN_DIR="$tmp/global/bin" bash scripts/smoke.sh
