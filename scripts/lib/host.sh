# Host pieces shared by setup-host.sh, run-listener.sh and ci.sh (sourced, not run): Debian
# packages, dockerd, etcd, rsyslogd on /dev/log, and the supported Node lines under
# /opt/checker-node/<major>. Every function checks before it acts, so each is safe to call again.
# Callers set CHECKER_LOG_TAG (the prefix of their messages) and `set -euo pipefail`.

CHECKER_NODE_ROOT=${CHECKER_NODE_ROOT:-/opt/checker-node}
# The Debian CLI matches the 20.10 engine; a newer client may be first on PATH.
CHECKER_DOCKER=/usr/bin/docker
[ -x "$CHECKER_DOCKER" ] || CHECKER_DOCKER=docker

checker_log() { printf '%s: %s\n' "${CHECKER_LOG_TAG:-checker}" "$*" >&2; }
checker_die() {
  checker_log "error: $*"
  exit 1
}

# checker_apt_need CMD:PACKAGE... installs, in one apt-get run, the packages whose command is
# missing. A CMD of `dpkg:NAME` asks dpkg instead (busybox-static's command exists without it).
checker_apt_need() {
  local pair cmd pkg missing=()
  for pair in "$@"; do
    cmd=${pair%%:*}
    pkg=${pair#*:}
    if [ "$cmd" = dpkg ]; then
      dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    else
      command -v "$cmd" >/dev/null || missing+=("$pkg")
    fi
  done
  ((${#missing[@]})) || return 0
  [ "$(id -u)" = 0 ] || checker_die "${missing[*]} missing; install them as root (apt-get install ${missing[*]})"
  checker_log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # With recommends: docker.io's (apparmor, cgroupfs-mount) are what lets dockerd start
  # containers on hosts with AppArmor or without mounted cgroups.
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

checker_docker_up() { timeout 5 "$CHECKER_DOCKER" version >/dev/null 2>&1; }

# Starts dockerd (installing docker.io first) unless a daemon answers on the default socket.
checker_ensure_docker() {
  checker_apt_need dockerd:docker.io
  [ -x /usr/bin/docker ] && CHECKER_DOCKER=/usr/bin/docker
  if checker_docker_up; then
    checker_log "dockerd already running"
    return 0
  fi
  local pidfile=/var/run/docker.pid
  # A daemon that was killed leaves its pid file, and the next start refuses to run beside it.
  if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
    checker_log "removing stale $pidfile"
    rm -f "$pidfile"
  fi
  checker_log "starting dockerd (log: /var/log/dockerd.log)"
  # In a session of its own: a Ctrl-C meant for the caller (run-listener.sh) must not reach it.
  setsid nohup dockerd >/var/log/dockerd.log 2>&1 </dev/null &
  local _
  for _ in $(seq 1 60); do checker_docker_up && break; sleep 0.5; done
  if ! checker_docker_up; then
    tail -20 /var/log/dockerd.log >&2
    checker_die "dockerd did not come up; see /var/log/dockerd.log"
  fi
  checker_log "dockerd is up"
}

checker_etcd_up() { ETCDCTL_API=3 timeout 3 etcdctl --endpoints "$1" endpoint health >/dev/null 2>&1; }

# checker_ensure_etcd HOST:PORT: installs etcd, and starts a single-member etcd on loopback
# unless one answers at HOST:PORT. Data in /var/lib/checker-etcd, log /var/log/checker-etcd.log,
# pid in /var/run/checker-etcd.pid. An address that is not local is only asked, never started.
checker_ensure_etcd() {
  local endpoint=$1 port _
  checker_apt_need etcd:etcd-server etcdctl:etcd-client
  if checker_etcd_up "$endpoint"; then
    checker_log "etcd answers at $endpoint"
    return 0
  fi
  case "$endpoint" in
    127.0.0.1:* | localhost:* | http://127.0.0.1:* | http://localhost:*) ;;
    *) checker_die "no etcd answers at $endpoint (not a local address, so none is started here)" ;;
  esac
  port=${endpoint##*:}
  checker_log "starting etcd on 127.0.0.1:$port (data /var/lib/checker-etcd, log /var/log/checker-etcd.log)"
  mkdir -p /var/lib/checker-etcd
  # In a session of its own: a Ctrl-C meant for the caller (run-listener.sh) must not reach it.
  setsid nohup etcd --name checker --data-dir /var/lib/checker-etcd \
    --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
    --listen-peer-urls "http://127.0.0.1:$((port + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
    --initial-cluster "checker=http://127.0.0.1:$((port + 1))" >>/var/log/checker-etcd.log 2>&1 </dev/null &
  echo $! >/var/run/checker-etcd.pid
  for _ in $(seq 1 50); do checker_etcd_up "$endpoint" && break; sleep 0.2; done
  checker_etcd_up "$endpoint" || checker_die "etcd did not start; see /var/log/checker-etcd.log"
}

# rsyslog on /dev/log, so the tools' syslog lines have somewhere to go. "Something listens" is
# asked by sending a line: a /dev/log left by a syslog daemon that has gone is refused, and is
# replaced. (The tests do not depend on this: the syslog test runs an rsyslogd of its own.)
checker_syslog_up() { logger --socket-errors=on -u /dev/log -t checker-setup "checker: syslog probe" 2>/dev/null; }

checker_ensure_syslog() {
  checker_apt_need rsyslogd:rsyslog
  if checker_syslog_up; then
    checker_log "a syslog daemon listens on /dev/log"
    return 0
  fi
  local conf=/etc/checker-rsyslog.conf pidfile=/var/run/checker-rsyslogd.pid _
  cat >"$conf" <<'CONF'
module(load="imuxsock" SysSock.Name="/dev/log")
*.* /var/log/checker-syslog.log
CONF
  # Ours from an earlier run that lost its socket: end it (by its pidfile) before starting anew.
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
    kill "$(cat "$pidfile")"
    for _ in $(seq 1 20); do kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ -e /dev/log ]; then
    checker_log "removing /dev/log: nothing listens there"
    rm -f /dev/log
  fi
  rm -f "$pidfile"
  rsyslogd -f "$conf" -i "$pidfile"
  for _ in $(seq 1 20); do
    if checker_syslog_up; then
      checker_log "rsyslogd listening on /dev/log (writes /var/log/checker-syslog.log)"
      return 0
    fi
    sleep 0.2
  done
  checker_log "warning: rsyslogd does not answer on /dev/log"
}

# checker_ensure_node MAJOR: the newest Node MAJOR.x as $CHECKER_NODE_ROOT/MAJOR/{bin/node,
# include/node,share}. It comes from the npm registry package node-linux-<arch> (what the `node`
# package's install script fetches), unpacked directly so that no install script has to run; it
# carries the headers node-gyp builds native modules against, so no other download is needed.
# It has no npm of its own: the host's npm runs on it.
checker_ensure_node() {
  local major=$1 dir="$CHECKER_NODE_ROOT/$1" arch tmp tarball have
  if have=$("$dir/bin/node" --version 2>/dev/null) && [ "${have%%.*}" = "v$major" ] &&
    [ -f "$dir/include/node/node_version.h" ]; then
    checker_log "Node $have in $dir"
    return 0
  fi
  command -v npm >/dev/null || checker_die "npm is needed to fetch Node $major (apt-get install npm)"
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) checker_die "no Node package for $(uname -m)" ;;
  esac
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/checker-node.XXXXXX")
  # npm pack checks the tarball against the registry's integrity hash.
  if ! tarball=$(cd "$tmp" && npm pack --silent "node-linux-$arch@$major" 2>"$tmp/npm.err"); then
    cat "$tmp/npm.err" >&2
    rm -rf "$tmp"
    checker_die "could not fetch node-linux-$arch@$major from the npm registry"
  fi
  mkdir "$tmp/root"
  tar -xzf "$tmp/$tarball" -C "$tmp/root" --strip-components=1 --no-same-owner
  if ! have=$("$tmp/root/bin/node" --version) || [ "${have%%.*}" != "v$major" ]; then
    rm -rf "$tmp"
    checker_die "node-linux-$arch@$major does not run here (${have:-no version})"
  fi
  mkdir -p "$CHECKER_NODE_ROOT"
  rm -rf "$dir"
  mv "$tmp/root" "$dir"
  rm -rf "$tmp"
  checker_log "installed Node $have in $dir"
}

# checker_node_headers NODE: the prefix whose include/node holds NODE's own headers, for
# npm_config_nodedir; empty when there is none. The host's npm config points node-gyp at
# /usr (Node 20's headers), which would build native modules for the wrong ABI on any other Node.
checker_node_headers() {
  local node prefix version
  node=$(readlink -f "$(command -v "$1")") || return 0
  prefix=$(dirname "$(dirname "$node")")
  version=$("$node" -p 'process.versions.node') || return 0
  grep -qs "define NODE_MAJOR_VERSION ${version%%.*}\$" "$prefix/include/node/node_version.h" &&
    echo "$prefix"
  return 0
}

# checker_use_node MAJOR: puts $CHECKER_NODE_ROOT/MAJOR first on PATH and points node-gyp at its
# headers, for this shell and what it runs.
checker_use_node() {
  local dir="$CHECKER_NODE_ROOT/$1"
  [ -x "$dir/bin/node" ] || checker_die "no Node $1 in $dir: run \`bash scripts/setup-host.sh\` (as root)"
  export PATH="$dir/bin:$PATH"
  export npm_config_nodedir="$dir"
  hash -r
}
