#!/usr/bin/env bash
# Builds the non-Kubernetes binaries from the Go module proxy, each cached by
# version under $BIN_CACHE: kind, etcd, CoreDNS, crictl, CNI plugins, cri-dockerd,
# and our own pause. Prints nothing but progress; safe to run again.
source "$(dirname "$0")/lib.sh"

export GOTOOLCHAIN=${TOOLS_GOTOOLCHAIN:-go1.23.12} CGO_ENABLED=0

# cached NAME DIR CMD...: run CMD (which fills DIR) unless DIR is complete.
cached() {
  local name=$1 dir=$2; shift 2
  if [[ -f "$dir/.complete" ]]; then log "$name: cached"; return; fi
  log "$name: building"
  rm -rf "$dir" && mkdir -p "$dir"
  "$@"
  touch "$dir/.complete"
}

build_kind() { GOBIN="$1" go install "${GO_BUILD_FLAGS[@]}" -ldflags=-s "sigs.k8s.io/kind@$KIND_VERSION"; }

build_etcd() {
  local work="$CACHE_DIR/src/etcd-$ETCD_VERSION"
  wrapper_module "$work" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
  cat > "$work/main.go" <<'GO'
// etcd's own main is this one call; its module cannot be `go install`ed.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 && GOFLAGS=-mod=mod go build "${GO_BUILD_FLAGS[@]}" -ldflags=-s -o "$1/etcd" .)
}

# CoreDNS's own main (coredns.go) is coremain.Run() with every plugin linked in
# (core/plugin); ours links the plugins of COREDNS_PLUGINS (hack/lib.sh) only.
build_coredns() {
  local work="$CACHE_DIR/src/coredns-$COREDNS_VERSION" p
  wrapper_module "$work" github.com/coredns/coredns "$COREDNS_VERSION"
  {
    echo "// CoreDNS with the plugins kubeadm's Corefile uses (hack/lib.sh COREDNS_PLUGINS)."
    echo "package main"
    echo "import ("
    echo '  "github.com/coredns/coredns/coremain"'
    for p in "${COREDNS_PLUGINS[@]}"; do echo "  _ \"github.com/coredns/coredns/plugin/$p\""; done
    echo ")"
    echo "func main() { coremain.Run() }"
  } > "$work/main.go"
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 &&
    GOFLAGS=-mod=mod go build "${GO_BUILD_FLAGS[@]}" -ldflags=-s -o "$1/coredns" .)
  "$1/coredns" -plugins | grep -q 'dns.kubernetes' || die "CoreDNS built without its kubernetes plugin"
}

# sigs.k8s.io/cri-tools is not served by the module proxy here, so the nodes get
# our own minimal CRI client with crictl's command line (hack/tools/crictl).
build_crictl() { (cd "$HACK_DIR/tools/crictl" && go build "${GO_BUILD_FLAGS[@]}" -ldflags=-s -o "$1/crictl" .); }

build_cni() {
  local base=github.com/containernetworking/plugins/plugins p
  for p in main/bridge main/loopback main/ptp ipam/host-local meta/portmap; do
    GOBIN="$1" go install "${GO_BUILD_FLAGS[@]}" \
      -ldflags "-s -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" \
      "$base/$p@$CNI_PLUGINS_VERSION"
  done
}

build_cri_dockerd() {
  local work="$CACHE_DIR/src/cri-dockerd-$CRI_DOCKERD_VERSION"
  wrapper_module "$work" github.com/Mirantis/cri-dockerd "$CRI_DOCKERD_VERSION"
  printf '//go:build tools\npackage tools\nimport _ "github.com/Mirantis/cri-dockerd"\n' > "$work/tools.go"
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 &&
    GOFLAGS=-mod=mod go build "${GO_BUILD_FLAGS[@]}" \
      -ldflags "-s -X github.com/Mirantis/cri-dockerd/cmd/version.Version=${CRI_DOCKERD_VERSION#v}" \
      -o "$1/cri-dockerd" github.com/Mirantis/cri-dockerd)
}

build_pause() { (cd "$HACK_DIR/images/pause" && go build "${GO_BUILD_FLAGS[@]}" -ldflags=-s -o "$1/pause" .); }

cached "kind $KIND_VERSION" "$BIN_CACHE/kind-$KIND_VERSION" build_kind "$BIN_CACHE/kind-$KIND_VERSION"
cached "etcd $ETCD_VERSION" "$BIN_CACHE/etcd-$ETCD_VERSION" build_etcd "$BIN_CACHE/etcd-$ETCD_VERSION"
cached "CoreDNS $COREDNS_VERSION" "$(coredns_dir)" build_coredns "$(coredns_dir)"
cached "CNI plugins $CNI_PLUGINS_VERSION" "$BIN_CACHE/cni-$CNI_PLUGINS_VERSION" build_cni "$BIN_CACHE/cni-$CNI_PLUGINS_VERSION"
cached "cri-dockerd $CRI_DOCKERD_VERSION" "$BIN_CACHE/cri-dockerd-$CRI_DOCKERD_VERSION" build_cri_dockerd "$BIN_CACHE/cri-dockerd-$CRI_DOCKERD_VERSION"
cached "pause" "$(pause_dir)" build_pause "$(pause_dir)"
cached "crictl" "$(crictl_dir)" build_crictl "$(crictl_dir)"
