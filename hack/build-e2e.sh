#!/usr/bin/env bash
# Everything the end-to-end suites build, one step after another. Each step is cached by version,
# so on a warm machine this takes seconds.
# Usage: build-e2e.sh [first|rest]   (the Kubernetes minors of E2E_K8S, default 1.23,1.32, as the suites)
#   first  what the first two suites (migrate-132, control-plane-ha) need to create their
#          clusters: the tools, the newest Kubernetes and its node image, the app image. Three
#          chains run at once (tools; Kubernetes; the Debian roots and the app image): on a cold
#          machine a good part of each is waiting on the Go module proxy and the Debian mirror
#          (the tools alone, cold: 576 s wall for 675 s of CPU, where a warm module cache makes it
#          337 s), and the others use that time.
#   rest   the others, in the order the suites reach them: the load balancer, Helm and krew,
#          containerd 2.x and its node images, Docker 26's (nodes.test.ts), the older Kubernetes and its node
#          image (migrate-123, which runs last but one)
#   (none) all of it
# hack/test.sh (`make test`) starts `rest` in the background (nice 19, a session of its own), then builds
# `first` in the foreground and runs the suites; `rest` shares the CPU with them (hack/test.sh
# says how), and a suite that needs a step of `rest` before it is done runs
# that step's script itself, which waits for the background build of it (hack/lib.sh's build lock).
source "$(dirname "$0")/lib.sh"

part=${1:-all}
[[ $part == first || $part == rest || $part == all ]] || die "usage: build-e2e.sh [first|rest]"
wanted=${E2E_K8S:-1.23,1.32}
IFS=, read -r -a minors <<<"$wanted"
for minor in "${minors[@]}"; do k8s_version "$minor" >/dev/null; done
newest=$(printf '%s\n' "${minors[@]}" | sort -V | tail -n 1)

declare -A built=()
kubernetes() {  # once per run
  [[ -z ${built[$1]:-} ]] || return 0
  timed "Kubernetes $1" "$HACK_DIR/build-k8s.sh" "$1"
  timed "node image $1" "$HACK_DIR/build-node.sh" "$1" >/dev/null
  built[$1]=1
}

# together NAME CMD...: runs CMD in the background, its output lines prefixed with [NAME];
# joined: waits for all of them, and fails (after all ended) if any failed, naming it.
pids=() names=()
together() {
  local name=$1; shift
  ( set -o pipefail; "$@" 2>&1 | sed -u "s/^/[$name] /" >&2 ) &
  pids+=("$!"); names+=("$name")
}
joined() {
  local i failed=()
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed+=("${names[$i]}"); done
  pids=() names=()
  ((${#failed[@]} == 0)) || die "failed: ${failed[*]} (its lines above start with its name)"
}
roots_and_app() {
  "$HACK_DIR/build-rootfs.sh" node-base "$NODE_PACKAGES" >/dev/null
  "$HACK_DIR/build-rootfs.sh" proxy-base "$PROXY_PACKAGES" >/dev/null
  timed "app image" "$HACK_DIR/build-app-image.sh" >/dev/null
}

if [[ $part != rest ]]; then
  together tools timed "tools" "$HACK_DIR/build-tools.sh"
  together "k8s $newest" timed "Kubernetes $newest" "$HACK_DIR/build-k8s.sh" "$newest"
  together images roots_and_app
  joined
  kubernetes "$newest"  # its node image (the binaries are built)
fi
if [[ $part != first ]]; then
  # The load balancer first: the HA suite, second to start, creates its cluster with it at once
  # (and needs Helm a few minutes later).
  timed "load balancer image" "$HACK_DIR/build-lb.sh" >/dev/null
  timed "Helm and krew" "$HACK_DIR/build-pkg-tools.sh" >/dev/null
  # The containerd 2.x workers of nodes.test.ts (1.32 only).
  if [[ ",$wanted," == *,1.32,* ]]; then
    # The binaries first: they do not need Kubernetes 1.32, which `first` may still be building.
    for version in "$CONTAINERD2_VERSION" "$CONTAINERD2_NEW_VERSION"; do
      timed "containerd $version" "$HACK_DIR/build-containerd.sh" "$version"
    done
    kubernetes 1.32  # their base
    for version in "$CONTAINERD2_VERSION" "$CONTAINERD2_NEW_VERSION"; do
      timed "node image 1.32 with containerd $version" "$HACK_DIR/build-node.sh" 1.32 --containerd "$version" >/dev/null
    done
    # nodes.test.ts's cd2new+dockerstore worker: Docker 26 with its containerd image store.
    timed "node image 1.32 with containerd $CONTAINERD2_NEW_VERSION and Docker 26" \
      "$HACK_DIR/build-node-dockerstore.sh" 1.32 "$CONTAINERD2_NEW_VERSION" >/dev/null
  fi
  for minor in "${minors[@]}"; do kubernetes "$minor"; done
fi
