#!/usr/bin/env bash
# Builds the Kubernetes commands for one version from the Go module proxy.
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces the staging
# modules with local paths. We build from a wrapper module (see wrapper_module)
# that maps each staging module to its published v0.X.Y release.
# Usage: build-k8s.sh MINOR   (e.g. 1.32)
source "$(dirname "$0")/lib.sh"

minor=${1:?usage: build-k8s.sh MINOR}
version=$(k8s_version "$minor")
out="$BIN_CACHE/kubernetes-$version"
cmds=(kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)

if [[ -f "$out/.complete" ]]; then
  log "Kubernetes $version binaries: cached in $out"
  exit 0
fi

export GOTOOLCHAIN=${K8S_GOTOOLCHAIN[$minor]} CGO_ENABLED=0 GOFLAGS=-mod=mod
work="$CACHE_DIR/src/kubernetes-$version"
rm -rf "$work"
log "Kubernetes $version: resolving modules (toolchain $GOTOOLCHAIN)"
wrapper_module "$work" k8s.io/kubernetes "$version" "v0.${version#v1.}"
# A blank import per command lets `go mod tidy` resolve their whole graph.
{
  echo "//go:build tools"
  echo "package tools"
  echo "import ("
  for c in "${cmds[@]}"; do echo "  _ \"k8s.io/kubernetes/cmd/$c\""; done
  echo ")"
} > "$work/tools.go"
(cd "$work" && go mod tidy) 2>&1 | grep -v '^go: downloading' >&2 || true

# What `kubelet --version` and friends report, as the release build sets it.
git_commit=$(cd "$work" && go list -m -json k8s.io/kubernetes | jq -r '.Origin.Hash // empty')
ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor#1.}"
  ldflags+=" -X $pkg.gitCommit=${git_commit:-unknown} -X $pkg.gitTreeState=clean"
  ldflags+=" -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
done
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
log "Kubernetes $version: building ${cmds[*]} (minutes on a cold cache)"
# One `go build` for all commands: shared packages compile once, links run in parallel.
pkgs=(); for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
(cd "$work" && go build -trimpath -ldflags "$ldflags" -o "$out.tmp/" "${pkgs[@]}")
"$out.tmp/kubelet" --version >&2
rm -rf "$out" && mv "$out.tmp" "$out" && touch "$out/.complete"
log "Kubernetes $version binaries: $out"
