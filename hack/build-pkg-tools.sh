#!/usr/bin/env bash
# Builds the packaging tools from the Go module proxy, each cached by version under $BIN_CACHE:
#   helm                    charts/cri-migrator: lint, template, install (tests and users)
#   krew                    installs plugins/cri-migrate.yaml with the archive we build (tests)
#   validate-krew-manifest  krew-index's own manifest check (tests)
# Usage: build-pkg-tools.sh [--cached] [TOOL...]   (default: all three)
# Prints the path of each tool's binary on stdout, in the order asked. With --cached nothing is
# built: a tool that is not built yet prints nothing and the exit status is 3 (tests skip then).
source "$(dirname "$0")/lib.sh"

cached_only=0
if [[ ${1:-} == --cached ]]; then cached_only=1; shift; fi
(($#)) || set -- helm krew validate-krew-manifest

helm_dir="$BIN_CACHE/helm-$HELM_VERSION"
krew_dir="$BIN_CACHE/krew-$KREW_VERSION"

# The release ldflags of Helm's Makefile, so that `helm version` prints the version. (Helm v4
# takes its default .Capabilities.KubeVersion from the client-go it is built with.)
build_helm() {
  local module=helm.sh/helm/${HELM_VERSION%%.*}
  GOTOOLCHAIN=$HELM_GOTOOLCHAIN CGO_ENABLED=0 GOBIN="$helm_dir" go install "${GO_BUILD_FLAGS[@]}" -ldflags "-s -w
    -X $module/internal/version.version=$HELM_VERSION -X $module/internal/version.metadata=
    -X $module/internal/version.gitTreeState=clean" "$module/cmd/helm@$HELM_VERSION"
}

build_krew() {
  GOTOOLCHAIN=${TOOLS_GOTOOLCHAIN:-go1.23.12} CGO_ENABLED=0 GOBIN="$krew_dir" go install "${GO_BUILD_FLAGS[@]}" \
    -ldflags "-s -w -X sigs.k8s.io/krew/internal/version.gitTag=$KREW_VERSION" \
    "sigs.k8s.io/krew/cmd/krew@$KREW_VERSION" "sigs.k8s.io/krew/cmd/validate-krew-manifest@$KREW_VERSION"
}

# tool NAME DIR BUILD: the binary's path, built once per version (DIR/.complete marks it done).
tool() {
  local name=$1 dir=$2 build=$3
  if [[ ! -f $dir/.complete ]]; then
    ((cached_only == 0)) || exit 3
    log "$name: building"
    local t0=$SECONDS
    rm -rf "$dir" && mkdir -p "$dir"
    ("$build") || die "building $name failed"
    touch "$dir/.complete"
    log "$name: built in $((SECONDS - t0))s"
  fi
  echo "$dir/$name"
}

for t in "$@"; do
  case $t in
    helm) tool helm "$helm_dir" build_helm ;;
    krew | validate-krew-manifest) tool "$t" "$krew_dir" build_krew ;;
    *) die "unknown tool '$t': helm, krew, validate-krew-manifest" ;;
  esac
done
