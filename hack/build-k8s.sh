#!/usr/bin/env bash
# Builds the Kubernetes commands for one version from the Go module proxy.
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces the staging
# modules with local paths. We build from a wrapper module (see wrapper_module)
# that maps each staging module to its published v0.X.Y release.
# Usage: build-k8s.sh MINOR   (e.g. 1.32)
source "$(dirname "$0")/lib.sh"

# tagged_pkgs MODULE DIR: import paths of the packages of MODULE (source in DIR)
# that ask for OpenAPI definitions with a `+k8s:openapi-gen=` comment tag.
tagged_pkgs() {
  (cd "$2" && grep -rlE --include='*.go' --exclude='*_test.go' '^// *\+k8s:openapi-gen=' . || true) |
    sed -e 's|/[^/]*$||' -e "s|^\.|$1|"
}

# generate_openapi WORK: writes pkg/generated/openapi/zz_generated.openapi.go
# into the source copy WORK/kubernetes, as the Makefile of releases that do not
# ship it does (build/root/Makefile.generated_files, target gen_openapi): run
# openapi-gen of the kube-openapi version Kubernetes pins over every tagged
# package of k8s.io/kubernetes and of its staging modules, except code-generator
# and sample-apiserver (they have their own definitions).
generate_openapi() {
  local work=$1 m dir
  local out=$work/openapi-gen.out pkg=k8s.io/kubernetes/pkg/generated/openapi
  # Built inside the wrapper module: kube-openapi and gengo at Kubernetes' versions.
  (cd "$work" && go build "${GO_BUILD_FLAGS[@]}" -o "$work/bin/openapi-gen" k8s.io/kube-openapi/cmd/openapi-gen)
  {
    tagged_pkgs k8s.io/kubernetes "$work/kubernetes"
    for m in $(awk '$2 == "=>" && $3 ~ /^\.\/staging\/src\// {print $1}' "$work/kubernetes/go.mod"); do
      case $m in k8s.io/code-generator | k8s.io/sample-apiserver) continue ;; esac
      (cd "$work" && go list -m "$m" >/dev/null 2>&1) || continue  # not in the build graph
      dir=$(cd "$work" && go mod download -json "$m" | jq -r .Dir)
      tagged_pkgs "$m" "$dir"
    done
  } | LC_ALL=C sort -u > "$work/openapi-packages.txt"
  log "Kubernetes $version: generating OpenAPI definitions for $(wc -l < "$work/openapi-packages.txt") packages"
  echo "// Generated at build time by cri-migrator's hack/build-k8s.sh." > "$work/boilerplate.go.txt"
  # Run from the wrapper module so gengo resolves packages through its module
  # graph. The output base is GOPATH-style: the file lands in $out/$pkg. API
  # rule violations go to a report (Kubernetes only diffs it against a list).
  rm -rf "$out"
  (cd "$work" && export GO111MODULE=on && quiet bin/openapi-gen -i "$(paste -sd, openapi-packages.txt)" \
    -p "$pkg" -O zz_generated.openapi -h boilerplate.go.txt -o "$out" -r "$out/violations.report")
  cp "$out/$pkg/zz_generated.openapi.go" "$work/kubernetes/pkg/generated/openapi/"
}

minor=${1:?usage: build-k8s.sh MINOR}
version=$(k8s_version "$minor")
out="$BIN_CACHE/kubernetes-$version"
cmds=(kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)

tags=${K8S_BUILD_TAGS[$minor]:-}
# Cached when built with the same tags (an older cache, built with others, is built again).
if [[ -f "$out/.complete" && $(cat "$out/.complete") == "$version tags=${tags:-none}" ]]; then
  log "Kubernetes $version binaries: cached in $out"
  exit 0
fi

export GOTOOLCHAIN=${K8S_GOTOOLCHAIN[$minor]} CGO_ENABLED=0 GOFLAGS=-mod=mod
work="$CACHE_DIR/src/kubernetes-$version"
rm -rf "$work"
log "Kubernetes $version: resolving modules (toolchain $GOTOOLCHAIN)"
wrapper_module "$work" k8s.io/kubernetes "$version" "v0.${version#v1.}"
tools=("${cmds[@]/#/k8s.io/kubernetes/cmd/}")
# Releases up to v1.23 do not ship the generated OpenAPI definitions that
# kube-apiserver needs: build those from a writable copy of the module source.
src=$(cd / && GOFLAGS= go mod download -json "k8s.io/kubernetes@$version" | jq -r .Dir)
gen_openapi=false
if [[ ! -f "$src/pkg/generated/openapi/zz_generated.openapi.go" ]]; then
  gen_openapi=true
  cp -r "$src" "$work/kubernetes" && chmod -R u+w "$work/kubernetes"
  printf '\nreplace k8s.io/kubernetes => ./kubernetes\n' >> "$work/go.mod"
  tools+=(k8s.io/kube-openapi/cmd/openapi-gen)
fi
# A blank import per command lets `go mod tidy` resolve their whole graph.
{
  echo "//go:build tools"
  echo "package tools"
  echo "import ("
  for t in "${tools[@]}"; do echo "  _ \"$t\""; done
  echo ")"
} > "$work/tools.go"
(cd "$work" && go mod tidy) 2>&1 | grep -v '^go: downloading' >&2 || true
if $gen_openapi; then timed "OpenAPI generation" generate_openapi "$work"; fi

# What `kubelet --version` and friends report, as the release build sets it.
git_commit=$(cd / && GOFLAGS= go mod download -json "k8s.io/kubernetes@$version" | jq -r '.Origin.Hash // empty')
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
(cd "$work" && go build "${GO_BUILD_FLAGS[@]}" ${tags:+-tags "$tags"} -ldflags "$ldflags" -o "$out.tmp/" "${pkgs[@]}")
"$out.tmp/kubelet" --version >&2
# What the binaries were built with: part of the node image's key (hack/build-node.sh).
echo "$version tags=${tags:-none}" > "$out.tmp/.complete"
rm -rf "$out" && mv "$out.tmp" "$out"
log "Kubernetes $version binaries: $out"
