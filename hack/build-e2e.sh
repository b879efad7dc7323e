#!/usr/bin/env bash
# Everything the end-to-end suites build, one step after another, before any suite starts.
# Without it a cold machine builds inside the suites' set-up, beside the clusters of the suite
# already running, and each slows the other (a cold .ci/run took 83 min that way on this 2-core
# machine). Each step is cached by version, so on a warm machine this takes seconds.
# Usage: build-e2e.sh   (the Kubernetes minors of E2E_K8S, default 1.23,1.32, as the suites)
source "$(dirname "$0")/lib.sh"

wanted=${E2E_K8S:-1.23,1.32}
IFS=, read -r -a minors <<<"$wanted"
timed "tools" "$HACK_DIR/build-tools.sh"
for minor in "${minors[@]}"; do
  k8s_version "$minor" >/dev/null
  timed "Kubernetes $minor" "$HACK_DIR/build-k8s.sh" "$minor"
  timed "node image $minor" "$HACK_DIR/build-node.sh" "$minor" >/dev/null
done
# The containerd 2.x workers of nodes.test.ts (1.32 only).
if [[ ",$wanted," == *,1.32,* ]]; then
  for version in "$CONTAINERD2_VERSION" "$CONTAINERD2_NEW_VERSION"; do
    timed "containerd $version" "$HACK_DIR/build-containerd.sh" "$version"
    timed "node image 1.32 with containerd $version" "$HACK_DIR/build-node.sh" 1.32 --containerd "$version" >/dev/null
  done
fi
timed "load balancer image" "$HACK_DIR/build-lb.sh" >/dev/null
timed "app image" "$HACK_DIR/build-app-image.sh" >/dev/null
