#!/usr/bin/env bash
# Prepares a Debian host (as root) for checker's tests, benchmarks and CI:
#   - installs what is missing: docker.io, docker-compose, etcd-server, etcd-client,
#     busybox-static, rsyslog, iproute2, openssl, ca-certificates
#   - installs the supported Node lines, 24 and 22, under /opt/checker-node/{24,22} (binary and
#     headers from the npm registry; the host's own node is left as it is)
#   - starts dockerd unless one answers (a stale /var/run/docker.pid must not stop it)
#   - starts rsyslogd on /dev/log unless something already listens there
# Safe to run again: every step checks before it acts (scripts/lib/host.sh).
set -euo pipefail
CHECKER_LOG_TAG=setup-host
# shellcheck source=lib/host.sh
. "$(dirname "$0")/lib/host.sh"

# openssl: the etcd TLS tests' certificates; ca-certificates: npm inside image builds;
# docker-compose and systemd-analyze: the tests of deploy/compose.yaml and the systemd unit.
checker_apt_need dockerd:docker.io docker-compose:docker-compose etcd:etcd-server etcdctl:etcd-client \
  dpkg:busybox-static rsyslogd:rsyslog ip:iproute2 openssl:openssl systemd-analyze:systemd
[ -f /etc/ssl/certs/ca-certificates.crt ] || checker_apt_need dpkg:ca-certificates

checker_ensure_node 24
checker_ensure_node 22
checker_ensure_docker
checker_ensure_syslog
