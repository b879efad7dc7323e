#!/usr/bin/env bash
# The dockerstore worker variant (hack/cluster.sh --workers cd2new+dockerstore): the containerd 2.x
# node image of hack/build-node.sh MINOR --containerd VERSION with Docker Engine 26 from Debian
# trixie (docker.io and docker-cli, whose dependencies bookworm's packages satisfy) in place of
# bookworm's 20.10, and Docker's containerd image store turned on (daemon.json
# features.containerd-snapshotter): Docker keeps its images in containerd's moby namespace, as
# Docker Engine 29+ does by default on fresh installs. Prints the image reference.
# Usage: build-node-dockerstore.sh MINOR CONTAINERD_VERSION   (e.g. 1.32 v2.4.2)
source "$(dirname "$0")/lib.sh"

minor=${1:?usage: build-node-dockerstore.sh MINOR CONTAINERD_VERSION}
containerd2=${2:?usage: build-node-dockerstore.sh MINOR CONTAINERD_VERSION}
base=$("$HACK_DIR/build-node.sh" "$minor" --containerd "$containerd2")

# The packages, downloaded once with the host's apt from trixie (a sources list and lists of
# their own; the host's apt state is not touched).
debs="$BIN_CACHE/docker-trixie-debs"
if [[ ! -f $debs/.complete ]]; then
  log "Docker from Debian trixie: downloading docker.io and docker-cli"
  apt_dir="$CACHE_DIR/apt-trixie"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  echo "deb ${DEBIAN_MIRROR:-http://deb.debian.org/debian} trixie main" > "$apt_dir/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=- \
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
  quiet apt-get "${apt_opts[@]}" update
  rm -rf "$debs.tmp" && mkdir -p "$debs.tmp"
  (cd "$debs.tmp" && quiet apt-get "${apt_opts[@]}" download docker.io docker-cli)
  touch "$debs.tmp/.complete"
  rm -rf "$debs" && mv "$debs.tmp" "$debs"
fi

key=$( { echo "$base"; sha256sum "$debs"/*.deb | cut -d' ' -f1; cat "$0"; } | sha256sum | cut -c1-12)
image="${base}-dockerstore-$key"
if docker image inspect "$image" >/dev/null 2>&1; then
  log "$image: cached"; echo "$image"; exit 0
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$debs"/*.deb "$ctx/"
cat > "$ctx/Dockerfile" <<'DOCKERFILE'
ARG BASE
FROM $BASE
COPY *.deb /tmp/debs/
# No service starts while the image is built (policy-rc.d); the units are enabled as before.
# docker.io first: docker-cli breaks the old docker.io, which carried the CLI itself.
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
 && dpkg -i /tmp/debs/docker.io_*.deb && dpkg -i /tmp/debs/docker-cli_*.deb && rm -rf /tmp/debs /usr/sbin/policy-rc.d \
 && systemctl enable docker.service docker.socket \
 && jq '. + {"features": {"containerd-snapshotter": true}}' /etc/docker/daemon.json > /etc/docker/daemon.json.new \
 && mv /etc/docker/daemon.json.new /etc/docker/daemon.json \
 && dockerd --version | grep -q ' 26\.' && docker --version | grep -q ' 26\.'
DOCKERFILE
quiet docker build -q --build-arg "BASE=$base" -t "$image" "$ctx" >/dev/null
log "$image: built ($(docker run --rm --entrypoint dockerd "$image" --version))"
echo "$image"
