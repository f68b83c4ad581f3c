#!/usr/bin/env bash
# Builds a Node base image `checker/node:<major>` offline, from a node binary on this host, so the
# tools' Dockerfiles build where no image can be pulled:
#   docker build --build-arg BASE_IMAGE=checker/node:24 -f Dockerfile.listener .
#
# The image holds: node and the shared libraries it links (with the loader), glibc's NSS and
# resolver modules (DNS from inside containers), a static busybox with every applet installed
# as a symlink (/bin/sh, /usr/bin/env for npm's shebang, …), the host's npm (+ npx), the host's
# CA bundle, and /etc/passwd + /etc/group with root and `node` (uid/gid 1000). Layout as the
# official image: node in /usr/local/bin, npm in /usr/local/lib/node_modules/npm.
# NODE_EXTRA_CA_CERTS names the bundle: npm in a build reaches the registry only through a
# TLS-re-signing proxy whose CA is in this host's bundle.
#
# Usage: bash scripts/make-node-image.sh [--node PATH] [--force]
#   --node: the node binary (default: `node` on PATH; /opt/checker-node/24/bin/node is Node 24).
#   Prints the image's tag on stdout. Skips when the tag exists and was made from the same node
#   version; --force rebuilds.
#   Env: IMAGE (default checker/node:<major of that node>), DOCKER (default /usr/bin/docker).
# Needs: root (for file ownership in the image), busybox-static, a running dockerd
# (`bash scripts/setup-host.sh`).
set -euo pipefail

DOCKER=${DOCKER:-/usr/bin/docker}
[ -x "$DOCKER" ] || DOCKER=docker
FORCE=0
NODE_ARG=
while (($#)); do
  case "$1" in
    --force) FORCE=1 ;;
    --node)
      [ $# -ge 2 ] || { echo "make-node-image: --node needs a path" >&2; exit 2; }
      NODE_ARG=$2
      shift
      ;;
    --node=*) NODE_ARG=${1#--node=} ;;
    -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "make-node-image: unknown argument '$1' (--node PATH, --force)" >&2; exit 2 ;;
  esac
  shift
done

log() { printf 'make-node-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

timeout 5 "$DOCKER" version >/dev/null 2>&1 ||
  die "Docker is not reachable: run \`bash scripts/setup-host.sh\` (as root) to install and start dockerd"

NODE_BIN=$(readlink -f "$(command -v "${NODE_ARG:-node}")") || die "no node at ${NODE_ARG:-node} (PATH)"
[ -x "$NODE_BIN" ] || die "$NODE_BIN is not executable"
NPM_CLI=$(readlink -f "$(command -v npm)") || die "npm is not on PATH"
NPM_DIR=$(dirname "$(dirname "$NPM_CLI")") # …/node_modules/npm/bin/npm-cli.js → …/node_modules/npm
[ -f "$NPM_DIR/package.json" ] || die "cannot find npm's folder (from $NPM_CLI)"
BUSYBOX=/bin/busybox
{ ldd "$BUSYBOX" 2>&1 || true; } | grep -q 'not a dynamic executable' ||
  die "$BUSYBOX is missing or not static: apt-get install busybox-static (or run scripts/setup-host.sh)"
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
[ -f "$CA_BUNDLE" ] || die "no CA bundle at $CA_BUNDLE: apt-get install ca-certificates"
NODE_VERSION=$("$NODE_BIN" --version) || die "$NODE_BIN does not run"
NODE_VERSION=${NODE_VERSION#v}
IMAGE=${IMAGE:-checker/node:${NODE_VERSION%%.*}}

# Several test files may ask for the image at once: one builds, the others wait and reuse it.
# The lock is taken on this script itself, so no lock file is left behind.
exec 9<"$0"
flock 9

# What the image is made of: the node version, and this script's recipe (bumped when the image's
# contents change, so an image made by an older script is made again).
RECIPE=2
old_id=$("$DOCKER" image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null) || old_id=
if [ "$FORCE" = 0 ] && [ -n "$old_id" ]; then
  env=$("$DOCKER" image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE")
  have=$(sed -n 's/^NODE_VERSION=//p' <<<"$env")
  recipe=$(sed -n 's/^CHECKER_NODE_IMAGE=//p' <<<"$env")
  if [ "$have" = "$NODE_VERSION" ] && [ "$recipe" = "$RECIPE" ]; then
    log "$IMAGE (node $NODE_VERSION) exists; --force rebuilds it"
    echo "$IMAGE"
    exit 0
  fi
  log "$IMAGE holds node ${have:-?} (recipe ${recipe:-1}); making it from node $NODE_VERSION (recipe $RECIPE)"
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

log "importing $IMAGE (node $NODE_VERSION from $NODE_BIN, npm $("$NODE_BIN" "$NPM_CLI" --version 2>/dev/null))"
id=$(tar --numeric-owner -C "$root" -c . |
  "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$NODE_VERSION" \
    --change "ENV NODE_EXTRA_CA_CERTS=$CA_BUNDLE" \
    --change "ENV CHECKER_NODE_IMAGE=$RECIPE" \
    --change 'CMD ["node"]' \
    - "$IMAGE")

# An image that cannot run node or npm is worse than none: remove it and fail.
if ! out=$("$DOCKER" run --rm "$IMAGE" sh -c 'node -e "process.stdout.write(process.version)" && npm --version && npx --version' 2>&1); then
  "$DOCKER" rmi "$id" >/dev/null 2>&1 || true
  die "the new image does not run node/npm: $out"
fi

# The image the tag named before is garbage now, unless containers or other images still use it.
[ -n "$old_id" ] && [ "$old_id" != "$id" ] && { "$DOCKER" rmi "$old_id" >/dev/null 2>&1 || true; }

end=$(date +%s.%N)
size=$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE")
log "built $IMAGE ${id#sha256:} in $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s, $((size / 1000000)) MB"
echo "$IMAGE"
