#!/usr/bin/env bash
# Builds the Node base image `checker/node:20` offline, from this host's own node binary, so the
# tools' Dockerfiles (`FROM checker/node:20`) build where no image can be pulled.
#
# The image holds: node and the shared libraries it links (with the loader), glibc's NSS and
# resolver modules (DNS from inside containers), a static busybox with every applet installed
# as a symlink (/bin/sh, /usr/bin/env for npm's shebang, …), npm (+ npx), the host's CA bundle,
# and /etc/passwd + /etc/group with root and `node` (uid/gid 1000). Layout as the official
# image: node in /usr/local/bin, npm in /usr/local/lib/node_modules/npm.
#
# Usage: bash scripts/make-node-image.sh [--force]
#   Skips when the tag exists and was made from the same node version; --force rebuilds.
#   Env: IMAGE (default checker/node:20), DOCKER (default /usr/bin/docker, else `docker`).
# Needs: root (for file ownership in the image), busybox-static, a running dockerd
# (`bash scripts/setup-host.sh`).
set -euo pipefail

IMAGE=${IMAGE:-checker/node:20}
DOCKER=${DOCKER:-/usr/bin/docker}
[ -x "$DOCKER" ] || DOCKER=docker
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "make-node-image: unknown argument '$arg' (only --force)" >&2; exit 2 ;;
  esac
done

log() { printf 'make-node-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

timeout 5 "$DOCKER" version >/dev/null 2>&1 ||
  die "Docker is not reachable: run \`bash scripts/setup-host.sh\` (as root) to install and start dockerd"

NODE_BIN=$(readlink -f "$(command -v node)") || die "node is not on PATH"
NPM_CLI=$(readlink -f "$(command -v npm)") || die "npm is not on PATH"
NPM_DIR=$(dirname "$(dirname "$NPM_CLI")") # …/node_modules/npm/bin/npm-cli.js → …/node_modules/npm
[ -f "$NPM_DIR/package.json" ] || die "cannot find npm's folder (from $NPM_CLI)"
BUSYBOX=/bin/busybox
{ ldd "$BUSYBOX" 2>&1 || true; } | grep -q 'not a dynamic executable' ||
  die "$BUSYBOX is missing or not static: apt-get install busybox-static (or run scripts/setup-host.sh)"
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
[ -f "$CA_BUNDLE" ] || die "no CA bundle at $CA_BUNDLE: apt-get install ca-certificates"
NODE_VERSION=$("$NODE_BIN" --version)
NODE_VERSION=${NODE_VERSION#v}

# Several test files may ask for the image at once: one builds, the others wait and reuse it.
# The lock is taken on this script itself, so no lock file is left behind.
exec 9<"$0"
flock 9

if [ "$FORCE" = 0 ]; then
  # An image made from another node version (the host was upgraded) is rebuilt.
  have=$("$DOCKER" image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE" 2>/dev/null |
    sed -n 's/^NODE_VERSION=//p') || true
  if [ "$have" = "$NODE_VERSION" ]; then
    log "$IMAGE (node $NODE_VERSION) exists; --force rebuilds it"
    exit 0
  fi
  [ -n "$have" ] && log "$IMAGE holds node $have, the host has $NODE_VERSION: rebuilding"
fi

start=$(date +%s.%N)
root=$(mktemp -d "${TMPDIR:-/tmp}/checker-node-rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT

# Plain (not merged-/usr) layout: every path is what ldd and busybox name, no symlinked /lib.
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/local/lib/node_modules,etc/ssl/certs,root,home/node,tmp,dev,proc,sys}
chmod 1777 "$root/tmp"
chmod 700 "$root/root"

# Copies a file to the same absolute path inside the image, following symlinks to the real file.
copy_same_path() {
  mkdir -p "$root$(dirname "$1")"
  cp -L "$1" "$root$1"
}

cp "$NODE_BIN" "$root/usr/local/bin/node"

# The libraries node links against, the loader among them ("/lib64/ld-linux-x86-64.so.2 (0x…)").
ldd "$NODE_BIN" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
  while read -r lib; do copy_same_path "$lib"; done
# getaddrinfo loads these at run time (ldd cannot see them): without them no DNS, no user names.
libdir=$(dirname "$(ldd "$NODE_BIN" | awk '$1 == "libc.so.6" { print $3 }')")
for lib in libnss_files.so.2 libnss_dns.so.2 libresolv.so.2; do
  if [ -e "$libdir/$lib" ]; then copy_same_path "$libdir/$lib"; else log "note: no $libdir/$lib"; fi
done

# busybox and its applets as symlinks at the paths busybox itself names (bin/sh, usr/bin/env, …).
cp "$BUSYBOX" "$root/bin/busybox"
"$BUSYBOX" --list-full | while read -r applet; do
  [ -e "$root/$applet" ] || [ -L "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done

cp -a "$NPM_DIR" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

cp -L "$CA_BUNDLE" "$root$CA_BUNDLE"

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000:node:/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
node:x:1000:
nogroup:x:65534:
EOF
cat >"$root/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
chown 1000:1000 "$root/home/node"

log "importing $IMAGE (node $NODE_VERSION, npm $("$NODE_BIN" "$NPM_CLI" --version 2>/dev/null))"
id=$(tar --numeric-owner -C "$root" -c . |
  "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$NODE_VERSION" \
    --change 'CMD ["node"]' \
    - "$IMAGE")

# An image that cannot run node or npm is worse than none: remove it and fail.
if ! out=$("$DOCKER" run --rm "$IMAGE" sh -c 'node -e "process.stdout.write(process.version)" && npm --version && npx --version' 2>&1); then
  "$DOCKER" rmi "$id" >/dev/null 2>&1 || true
  die "the new image does not run node/npm: $out"
fi

end=$(date +%s.%N)
size=$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE")
log "built $IMAGE ${id#sha256:} in $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s, $((size / 1000000)) MB"
