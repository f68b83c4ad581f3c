#!/usr/bin/env bash
# Prepares a Debian host (as root) for checker's tests and benchmarks:
#   - installs what is missing: docker.io, etcd-server, etcd-client, busybox-static, rsyslog,
#     iproute2, openssl, ca-certificates
#   - starts dockerd unless one answers (a stale /var/run/docker.pid must not stop it)
#   - starts rsyslogd on /dev/log unless something already listens there
# Safe to run again: every step checks before it acts.
set -euo pipefail

log() { printf 'setup-host: %s\n' "$*"; }

need_pkgs=()
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
command -v etcd >/dev/null || need_pkgs+=(etcd-server)
command -v etcdctl >/dev/null || need_pkgs+=(etcd-client)
dpkg -s busybox-static >/dev/null 2>&1 || need_pkgs+=(busybox-static)
command -v rsyslogd >/dev/null || need_pkgs+=(rsyslog)
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v openssl >/dev/null || need_pkgs+=(openssl)               # etcd TLS test certificates
[ -f /etc/ssl/certs/ca-certificates.crt ] || need_pkgs+=(ca-certificates) # npm in image builds
if ((${#need_pkgs[@]})); then
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # With recommends: docker.io's (apparmor, cgroupfs-mount) are what lets dockerd start
  # containers on hosts with AppArmor or without mounted cgroups.
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# The Docker CLI on PATH may be newer than the engine; the Debian one matches it.
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=docker

docker_up() { timeout 5 "$DOCKER" version >/dev/null 2>&1; }

if docker_up; then
  log "dockerd already running"
else
  pidfile=/var/run/docker.pid
  if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
    log "removing stale $pidfile"
    rm -f "$pidfile"
  fi
  log "starting dockerd (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker_up && break; sleep 0.5; done
  docker_up || { log "dockerd did not come up; see /var/log/dockerd.log"; tail -20 /var/log/dockerd.log; exit 1; }
  log "dockerd is up"
fi

# rsyslog on /dev/log, so the tools' syslog lines have somewhere to go. "Something listens"
# is asked by sending a line: a /dev/log socket left by a syslog daemon that has gone is
# refused, and is replaced. (The tests do not depend on this: the syslog test runs an
# rsyslogd of its own.)
syslog_up() { logger --socket-errors=on -u /dev/log -t checker-setup "setup-host: syslog probe" 2>/dev/null; }

if syslog_up; then
  log "a syslog daemon listens on /dev/log"
else
  conf=/etc/checker-rsyslog.conf
  pidfile=/var/run/checker-rsyslogd.pid
  cat >"$conf" <<'CONF'
module(load="imuxsock" SysSock.Name="/dev/log")
*.* /var/log/checker-syslog.log
CONF
  # Ours from an earlier run that lost its socket: end it (by its pidfile) before starting anew.
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
    kill "$(cat "$pidfile")"
    for _ in $(seq 1 20); do kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
  fi
  [ -e /dev/log ] && { log "removing /dev/log: nothing listens there"; rm -f /dev/log; }
  rm -f "$pidfile"
  rsyslogd -f "$conf" -i "$pidfile"
  up=false
  for _ in $(seq 1 20); do syslog_up && { up=true; break; }; sleep 0.2; done
  if $up; then
    log "rsyslogd listening on /dev/log (writes /var/log/checker-syslog.log)"
  else
    log "warning: rsyslogd does not answer on /dev/log"
  fi
fi
