#!/usr/bin/env bash
# Installs and starts what the harness needs on the host: Debian packages and a
# Docker engine whose default runtime is runc-nosysres (see that file for why).
source "$(dirname "$0")/lib.sh"

need_pkgs=(docker.io debootstrap jq openssh-client busybox-static hyperfine iproute2 curl ca-certificates)
missing=()
for p in "${need_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "Installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

install -m 0755 "$HACK_DIR/runc-nosysres" /usr/local/sbin/runc-nosysres
mkdir -p /etc/docker
want='{"default-runtime":"nosysres","runtimes":{"nosysres":{"path":"/usr/local/sbin/runc-nosysres"}},"storage-driver":"overlay2"}'
if [[ "$(cat /etc/docker/daemon.json 2>/dev/null)" != "$want" ]]; then
  echo "$want" > /etc/docker/daemon.json
  pkill -x dockerd 2>/dev/null && sleep 3 || true
fi

if ! docker info >/dev/null 2>&1; then
  log "Starting dockerd (log: /var/log/dockerd.log)"
  # No systemd on this host: run dockerd detached; it starts its own containerd.
  setsid nohup /usr/sbin/dockerd >>/var/log/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || die "dockerd did not start; see /var/log/dockerd.log"
fi
# kind's node containers run many processes and watches.
sysctl -qw fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512 || true
log "Docker $(docker version -f '{{.Server.Version}}') is up (default runtime: nosysres)"
