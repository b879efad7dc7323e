#!/usr/bin/env bash
# Builds the load balancer image that kind puts in front of several control planes, from
# Debian's haproxy, under the name kind v0.30.0 runs ($KIND_HAPROXY_IMAGE): kind finds it
# present and pulls nothing. What kind needs of it (kind's loadbalancer action): haproxy as
# PID 1 in master-worker mode with the config at /usr/local/etc/haproxy/haproxy.cfg, reloaded on
# SIGHUP; `mkdir` and `cp` (kind writes the config with them) and `kill` (it sends the SIGHUP).
# Prints the image reference.
source "$(dirname "$0")/lib.sh"

base=$("$HACK_DIR/build-rootfs.sh" lb-base haproxy,procps)
key=$( { echo "$base"; cat "$0" "$HACK_DIR/lb/haproxy.cfg"; } | sha256sum | cut -c1-12)
image="cri-migrator.local/haproxy:$key"
if ! docker image inspect "$image" >/dev/null 2>&1; then
  mkdir -p "$CACHE_DIR/build"
  ctx=$(mktemp -d "$CACHE_DIR/build/lb.XXXXXX")
  trap 'rm -rf "$ctx"' EXIT
  cp "$HACK_DIR/lb/haproxy.cfg" "$ctx/haproxy.cfg"
  cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $base
COPY haproxy.cfg /usr/local/etc/haproxy/haproxy.cfg
RUN /usr/sbin/haproxy -c -f /usr/local/etc/haproxy/haproxy.cfg
# haproxy stops gracefully on SIGUSR1 (kind's own image does the same).
STOPSIGNAL SIGUSR1
# -n caps maxconn over the config's (kind writes 100000): haproxy sizes its file descriptor
# limit from maxconn, and raising RLIMIT_NOFILE past the container's 20000 needs
# CAP_SYS_RESOURCE, which this host's containers lack ("Cannot raise FD limit", exit).
ENTRYPOINT ["/usr/sbin/haproxy", "-W", "-db", "-n", "4096", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
DOCKERFILE
  quiet docker build -q -t "$image" "$ctx" >/dev/null
  log "$image: built"
fi
# The name kind runs, pointed at this build (again, if it pointed at another).
if [[ $(docker image inspect -f '{{.Id}}' "$KIND_HAPROXY_IMAGE" 2>/dev/null) != "$(docker image inspect -f '{{.Id}}' "$image")" ]]; then
  docker tag "$image" "$KIND_HAPROXY_IMAGE"
fi
log "$KIND_HAPROXY_IMAGE: $image"
echo "$KIND_HAPROXY_IMAGE"
