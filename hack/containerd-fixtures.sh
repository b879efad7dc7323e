#!/usr/bin/env bash
# Writes test/fixtures/containerd/ from the harness's node images: the default configs of the
# containerd releases the nodes run (the same files test/fixtures/containerd/README.md describes
# making with the binaries directly), Docker's packaged config and the cd2v3/cd2v4 workers'
# configs.
# Needs the node images of MINOR (default 1.32) with containerd 2.x: run
#   hack/cluster.sh up --workers cd2,cd2v4 (or hack/build-node.sh MINOR --containerd VERSION)
# first. Usage: containerd-fixtures.sh [MINOR]
source "$(dirname "$0")/lib.sh"

minor=${1:-1.32}
out="$REPO_DIR/test/fixtures/containerd"
mkdir -p "$out"
base=$("$HACK_DIR/build-node.sh" "$minor")
cd2=$("$HACK_DIR/build-node.sh" "$minor" --containerd "$CONTAINERD2_VERSION")
cd2new=$("$HACK_DIR/build-node.sh" "$minor" --containerd "$CONTAINERD2_NEW_VERSION")
# run_in IMAGE CMD...: CMD's stdout in a throwaway container of IMAGE (not booted; no systemd).
run_in() { local image=$1; shift; docker run --rm --entrypoint "$1" "$image" "${@:2}" 2>/dev/null; }
v16=$(run_in "$base" containerd --version | awk '{print $3}')
run_in "$base" containerd config default > "$out/default-${v16%%~*}-debian.toml"  # 1.6.20~ds1
run_in "$cd2" containerd config default > "$out/default-${CONTAINERD2_VERSION#v}.toml"
run_in "$cd2new" containerd config default > "$out/default-${CONTAINERD2_NEW_VERSION#v}.toml"
cp "$HACK_DIR/kind/containerd-docker-package.toml" "$out/docker-package.toml"
share=/usr/local/share/cri-migrator-harness
run_in "$cd2" cat "$share/containerd-v3.toml" > "$out/variant-cd2v3-k8s$minor.toml"
run_in "$cd2new" cat "$share/containerd-v4.toml" > "$out/variant-cd2v4-k8s$minor.toml"
log "containerd fixtures in $out: $(cd "$out" && ls | tr '\n' ' ')"
