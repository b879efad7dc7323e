#!/usr/bin/env bash
# Builds the cri-migrator container image on a machine that cannot pull from a
# container registry: the Dockerfile's bases are built here instead of pulled.
# Usage: build-app-image.sh [IMAGE]   (default cri-migrator.local/cri-migrator:dev)
#
#   runtime base  debootstrap'd Debian trixie (minbase) + nodejs (20.x in trixie)
#                 + ca-certificates; the image's final stage.
#   build base    the runtime base + Debian's npm; only the build stage uses it.
#
# Then `docker build --build-arg BASE_IMAGE=<runtime> --build-arg BUILD_IMAGE=<build>`.
# The build stage runs `npm ci` against the npm registry, as anywhere else. When
# the host trusts extra CAs (/usr/local/share/ca-certificates, e.g. an egress
# proxy's), they are added to the build base only, never to the runtime image.
#
# Not hack/build-rootfs.sh: its cache key hashes the script itself, so adding a
# suite parameter there would change the tag of every node image built from it.
source "$(dirname "$0")/lib.sh"

image=${1:-cri-migrator.local/cri-migrator:dev}
SUITE=trixie
RUNTIME_PACKAGES=nodejs,ca-certificates
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

command -v debootstrap >/dev/null && docker info >/dev/null 2>&1 || "$HACK_DIR/host-setup.sh"

# The runtime base: tagged by a hash of this script (which holds suite and packages).
runtime_key=$(sha256sum "$0" | cut -c1-12)
runtime_base="cri-migrator.local/node20-runtime:$runtime_key"
if docker image inspect "$runtime_base" >/dev/null 2>&1; then
  log "$runtime_base: cached"
else
  root="$CACHE_DIR/rootfs/node20-runtime-$runtime_key"
  rm -rf "$root"; mkdir -p "$root"
  log "$runtime_base: debootstrap $SUITE (+ $RUNTIME_PACKAGES)"
  debootstrap --variant=minbase --include="$RUNTIME_PACKAGES" "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; die "debootstrap failed; full log: $root.log"; }
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
  : > "$root/etc/machine-id"
  echo "deb $MIRROR $SUITE main" > "$root/etc/apt/sources.list"
  tar -C "$root" -c . | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$runtime_base" >/dev/null
  rm -rf "$root" "$root.log"
  log "$runtime_base: $(docker run --rm "$runtime_base" node --version)"
fi

# The build base: runtime base + npm (+ the host's extra CAs), tagged by what goes in.
ctx="$CACHE_DIR/build/node20-build"
rm -rf "$ctx"; mkdir -p "$ctx/ca"
trap 'rm -rf "$ctx"' EXIT
shopt -s nullglob
for crt in /usr/local/share/ca-certificates/*.crt; do cp "$crt" "$ctx/ca/"; done
shopt -u nullglob
cat > "$ctx/Dockerfile" <<EOF
FROM $runtime_base
COPY ca/ /usr/local/share/ca-certificates/
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null \\
 && update-ca-certificates >/dev/null && rm -rf /var/lib/apt/lists/*
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
EOF
build_key=$(cat "$ctx/Dockerfile" "$ctx"/ca/* 2>/dev/null | sha256sum | cut -c1-12)
build_base="cri-migrator.local/node20-build:$build_key"
if docker image inspect "$build_base" >/dev/null 2>&1; then
  log "$build_base: cached"
else
  log "$build_base: runtime base + npm"
  quiet docker build -t "$build_base" "$ctx"
  log "$build_base: npm $(docker run --rm "$build_base" npm --version 2>/dev/null)"
fi

log "building $image"
start=$SECONDS
DOCKER_BUILDKIT=0 docker build --build-arg BASE_IMAGE="$runtime_base" --build-arg BUILD_IMAGE="$build_base" \
  -t "$image" "$REPO_DIR" >&2
log "$image built in $((SECONDS - start))s ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
echo "$image"
