#!/usr/bin/env bash
# Everything the end-to-end suites build, one step after another. Each step is cached by version,
# so on a warm machine this takes seconds.
# Usage: build-e2e.sh [first|rest]   (the Kubernetes minors of E2E_K8S, default 1.23,1.32, as the suites)
#   first  what the first two suites (migrate-132, control-plane-ha) need to create their
#          clusters: the tools, the newest Kubernetes and its node image, the app image
#   rest   the others, in the order the suites reach them: Helm and krew, the load balancer,
#          containerd 2.x and its node images, Docker 26's (nodes.test.ts), the older Kubernetes and its node
#          image (migrate-123, which runs last but one)
#   (none) all of it
# hack/test.sh (`make test`) builds `first` on a quiet machine, then `rest` in the background at
# the lowest priority while the suites run; a suite that needs a step of `rest` first runs that
# step's script itself, which waits for the background build of it (hack/lib.sh's build lock).
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

if [[ $part != rest ]]; then
  timed "tools" "$HACK_DIR/build-tools.sh"
  kubernetes "$newest"
  timed "app image" "$HACK_DIR/build-app-image.sh" >/dev/null
fi
if [[ $part != first ]]; then
  timed "Helm and krew" "$HACK_DIR/build-pkg-tools.sh" >/dev/null
  timed "load balancer image" "$HACK_DIR/build-lb.sh" >/dev/null
  # The containerd 2.x workers of nodes.test.ts (1.32 only).
  if [[ ",$wanted," == *,1.32,* ]]; then
    kubernetes 1.32  # their base
    for version in "$CONTAINERD2_VERSION" "$CONTAINERD2_NEW_VERSION"; do
      timed "containerd $version" "$HACK_DIR/build-containerd.sh" "$version"
      timed "node image 1.32 with containerd $version" "$HACK_DIR/build-node.sh" 1.32 --containerd "$version" >/dev/null
    done
    # nodes.test.ts's cd2new+dockerstore worker: Docker 26 with its containerd image store.
    timed "node image 1.32 with containerd $CONTAINERD2_NEW_VERSION and Docker 26" \
      "$HACK_DIR/build-node-dockerstore.sh" 1.32 "$CONTAINERD2_NEW_VERSION" >/dev/null
  fi
  for minor in "${minors[@]}"; do kubernetes "$minor"; done
fi
