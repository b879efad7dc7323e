#!/usr/bin/env bash
# Builds containerd 2.x (containerd, ctr, containerd-shim-runc-v2) from the Go module proxy,
# cached by version under $BIN_CACHE/containerd-VERSION. The node image variants cd2/cd2new
# (hack/build-node.sh --containerd VERSION) install them over Debian's containerd 1.6.
# Usage: build-containerd.sh VERSION   (e.g. v2.2.9)
source "$(dirname "$0")/lib.sh"

version=${1:?usage: build-containerd.sh VERSION}
[[ $version =~ ^v2\.[0-9]+\.[0-9]+$ ]] || die "containerd version '$version': expected v2.MINOR.PATCH"
out="$BIN_CACHE/containerd-$version"
if [[ -f $out/.complete ]]; then log "containerd $version: cached"; exit 0; fi

log "containerd $version: building (a few minutes cold)"
rm -rf "$out" "$out.tmp"; mkdir -p "$out.tmp"
module=github.com/containerd/containerd/v2
# Static binaries: no cgo (the shim and ctr need none), no btrfs snapshotter (its cgo headers
# are not installed). The version ldflags make `containerd --version`, Docker's `docker info`
# and kubelet's containerd://VERSION report the release instead of "+unknown".
(cd / && GOTOOLCHAIN=${CONTAINERD_GOTOOLCHAIN:-auto} CGO_ENABLED=0 GOFLAGS= GOBIN="$out.tmp" \
  go install "${GO_BUILD_FLAGS[@]}" -tags no_btrfs \
    -ldflags "-s -X $module/version.Version=$version -X $module/version.Revision=$version -X $module/version.Package=$module" \
    "$module/cmd/containerd@$version" "$module/cmd/ctr@$version" "$module/cmd/containerd-shim-runc-v2@$version")
"$out.tmp/containerd" --version | grep -q "$version" || die "built containerd does not report $version"
touch "$out.tmp/.complete"
mv "$out.tmp" "$out"
log "containerd $version: $("$out/containerd" --version)"
