#!/usr/bin/env bash
# Builds containerd releases from the Go module proxy (only the daemon: it is all the check needs)
# and runs test/integration/containerd-config-roundtrip.test.ts against them and the system's
# /usr/bin/containerd: each release must boot with the config.toml cri-migrator generates for it,
# without migrating it and without ignoring a key. Needs root (containerd mounts and owns sockets).
#   bash hack/containerd-config-roundtrip.sh [VERSION...]   (default: v2.2.9 v2.4.2)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${CRI_MIGRATOR_CACHE:-/var/cache/cri-migrator}/containerd-config-check"
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(v2.2.9 v2.4.2)
binaries=()
[ -x /usr/bin/containerd ] && binaries+=(/usr/bin/containerd)
for v in "${versions[@]}"; do
  dir="$CACHE/$v"
  if [ ! -x "$dir/containerd" ]; then
    echo "building containerd $v into $dir (about 3 minutes)" >&2
    mkdir -p "$dir"
    GOBIN="$dir" GOFLAGS=-mod=mod CGO_ENABLED=0 go install -tags no_btrfs "github.com/containerd/containerd/v2/cmd/containerd@$v"
  fi
  binaries+=("$dir/containerd")
done
CRI_MIGRATOR_CONTAINERD_BINARIES="$(IFS=:; echo "${binaries[*]}")" npx vitest run test/integration/containerd-config-roundtrip.test.ts
