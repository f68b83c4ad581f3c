#!/usr/bin/env bash
# Runs the listener on this host in one line, for trying checker out:
#   bash scripts/run-listener.sh [listener flags...]
# It builds the tools if needed, uses the local Docker, and uses the etcd at
# ${MON_ETCD_HOST:-127.0.0.1:2379}; when none answers there it starts one from the `etcd`
# binary with its data in /var/lib/checker-etcd (log: /var/log/checker-etcd.log).
set -euo pipefail
cd "$(dirname "$0")/.."

ETCD_HOST=${MON_ETCD_HOST:-127.0.0.1:2379}
[ -f packages/listener/dist/index.js ] || { npm ci && npm run build; }

etcd_up() { ETCDCTL_API=3 timeout 3 etcdctl --endpoints "$ETCD_HOST" endpoint health >/dev/null 2>&1; }
if ! etcd_up; then
  case "$ETCD_HOST" in
    127.0.0.1:*|localhost:*) ;;
    *) echo "run-listener: no etcd answers at $ETCD_HOST (and it is not local, so none is started)" >&2; exit 1 ;;
  esac
  port=${ETCD_HOST##*:}
  echo "run-listener: starting etcd on 127.0.0.1:$port (data /var/lib/checker-etcd)" >&2
  mkdir -p /var/lib/checker-etcd
  nohup etcd --name checker --data-dir /var/lib/checker-etcd \
    --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
    --listen-peer-urls "http://127.0.0.1:$((port + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
    --initial-cluster "checker=http://127.0.0.1:$((port + 1))" >/var/log/checker-etcd.log 2>&1 &
  for _ in $(seq 1 50); do etcd_up && break; sleep 0.2; done
  etcd_up || { echo "run-listener: etcd did not start; see /var/log/checker-etcd.log" >&2; exit 1; }
fi

exec node packages/listener/bin/run.js --etcd-host "$ETCD_HOST" --stdout "$@"
