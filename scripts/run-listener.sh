#!/usr/bin/env bash
# Runs the listener on this host in one command, for trying checker out (as root):
#   bash scripts/run-listener.sh [listener flags...]
# On a fresh Debian machine it brings up what is missing first (scripts/lib/host.sh, the same
# pieces as setup-host.sh): a Docker engine when none answers, and an etcd when none answers at
# ${MON_ETCD_HOST:-127.0.0.1:2379} (a local one is started: data /var/lib/checker-etcd, log
# /var/log/checker-etcd.log, pid /var/run/checker-etcd.pid; both keep running after the listener).
# It builds the tools when they are not built, prints where to look, then runs the listener in
# the foreground with its log on stdout and, when this listener has --metrics, its HTTP
# endpoints on ${MON_METRICS:-127.0.0.1:9464}. Ctrl-C stops it (its monitors withdraw their records).
# It uses the `node` first on PATH: PATH=/opt/checker-node/24/bin:$PATH picks setup-host's Node 24.
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKER_LOG_TAG=run-listener
# shellcheck source=lib/host.sh
. scripts/lib/host.sh

# --etcd-host and --etcd-prefix given on the command line win, as they would for the listener.
ETCD_HOST=${MON_ETCD_HOST:-127.0.0.1:2379}
PREFIX=${MON_ETCD_PREFIX:-/SERVICE}
given_etcd=
for ((i = 1; i <= $#; i++)); do
  case ${!i} in
    --etcd-host | -etcd-host) j=$((i + 1)); ETCD_HOST=${!j:-$ETCD_HOST}; given_etcd=1 ;;
    --etcd-host=* | -etcd-host=*) ETCD_HOST=${!i#*=}; given_etcd=1 ;;
    --etcd-prefix | -etcd-prefix) j=$((i + 1)); PREFIX=${!j:-$PREFIX} ;;
    --etcd-prefix=* | -etcd-prefix=*) PREFIX=${!i#*=} ;;
  esac
done
METRICS=${MON_METRICS:-127.0.0.1:9464}

checker_ensure_docker
checker_ensure_etcd "$ETCD_HOST"

command -v node >/dev/null || checker_die "no node on PATH: bash scripts/setup-host.sh installs Node 24 in /opt/checker-node/24"
major=$(node -p 'process.versions.node.split(".")[0]')
if ((major < 22)); then
  checker_log "warning: Node $(node --version) is out of support; Node 24: PATH=/opt/checker-node/24/bin:\$PATH bash $0"
fi
if [ ! -f packages/listener/dist/cli.bundle.js ] || [ ! -f packages/monitor/dist/child.bundle.js ]; then
  checker_log "building the tools (npm ci, npm run build)"
  # node-gyp builds the optional syslog addon against the running node's own headers.
  headers=$(checker_node_headers node)
  [ -n "$headers" ] && export npm_config_nodedir=$headers
  npm ci --no-audit --no-fund
  npm run build
fi

listener=(node packages/listener/bin/run.js)
args=(--stdout)
[ -n "$given_etcd" ] || args+=(--etcd-host "$ETCD_HOST")
# --metrics (/metrics, /status, /healthz) where this listener has it, unless given already.
metrics=
if "${listener[@]}" --help 2>/dev/null | grep -q -- '--metrics' && [[ " $* " != *" --metrics"* ]]; then
  args+=(--metrics "$METRICS")
  metrics=$METRICS
fi

checker_log "records:  ETCDCTL_API=3 etcdctl --endpoints $ETCD_HOST get --prefix $PREFIX"
checker_log "watch:    ETCDCTL_API=3 etcdctl --endpoints $ETCD_HOST watch --prefix $PREFIX"
if [ -n "$metrics" ]; then
  checker_log "status:   curl http://$metrics/status    (and /metrics, /healthz)"
fi
checker_log "starting the listener (node $(node --version)); Ctrl-C stops it"
exec "${listener[@]}" "${args[@]}" "$@"
