#!/usr/bin/env bash
# Builds a Debian bookworm root with debootstrap and imports it as a Docker image.
# Usage: build-rootfs.sh NAME "pkg1,pkg2,..."   -> prints the image reference
# The image tag is a hash of the package list and this script, so a change to
# either rebuilds it and nothing else does.
source "$(dirname "$0")/lib.sh"

name=${1:?usage: build-rootfs.sh NAME PACKAGES}
packages=${2:?usage: build-rootfs.sh NAME PACKAGES}
key=$(printf '%s\n%s\n' "$packages" "$(cat "$0")" | sha256sum | cut -c1-12)
image="cri-migrator.local/$name:$key"
if docker image inspect "$image" >/dev/null 2>&1; then
  log "$image: cached"
  echo "$image"; exit 0
fi

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root="$CACHE_DIR/rootfs/$name-$key"
rm -rf "$root"; mkdir -p "$root"
log "$image: debootstrap bookworm (+ $packages)"
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$MIRROR" >"$root.log" 2>&1 \
  || { tail -20 "$root.log" >&2; die "debootstrap failed; full log: $root.log"; }
# Images are small and reproducible: no apt lists, docs, caches, or host identity.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* \
  "$root"/etc/ssh/ssh_host_*
: > "$root/etc/machine-id"
echo 'deb http://deb.debian.org/debian bookworm main' > "$root/etc/apt/sources.list"
tar -C "$root" -c . | docker import - "$image" >/dev/null
rm -rf "$root"
log "$image: imported"
echo "$image"
