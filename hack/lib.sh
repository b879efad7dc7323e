#!/usr/bin/env bash
# Shared helpers for the cluster harness: cache layout, logging, pinned versions.
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HACK_DIR/.." && pwd)
# Built binaries and images outlive a checkout: they are keyed by version and reused.
CACHE_DIR=${CRI_MIGRATOR_CACHE:-/var/cache/cri-migrator}
BIN_CACHE="$CACHE_DIR/bin"
mkdir -p "$BIN_CACHE"

# Pinned versions. A change here rebuilds only what depends on it.
KIND_VERSION=v0.30.0
ETCD_VERSION=v3.5.16
COREDNS_VERSION=v1.11.3
# CoreDNS is built with only the plugins of the Corefile kubeadm writes (errors, health, ready,
# kubernetes, prometheus = plugin/metrics, forward, cache, loop, reload, loadbalance) and log:
# 688 Go packages to compile where the full set is 1,057 (no cloud DNS SDKs, no tracer).
COREDNS_PLUGINS=(errors health ready kubernetes metrics forward cache loop reload loadbalance log)
CNI_PLUGINS_VERSION=v1.6.2
CRI_DOCKERD_VERSION=v0.3.14
# Packaging tools (hack/build-pkg-tools.sh): Helm for the chart, krew for the plugin manifest.
# Helm v4 (v3 gets security fixes only); it needs Go 1.26, the machine's own toolchain.
HELM_VERSION=v4.3.2
HELM_GOTOOLCHAIN=go1.26.8
KREW_VERSION=v0.4.3
# containerd 2.x for the node image variants (hack/build-containerd.sh): cd2 is the 2.2 line
# that issue 10 was tried on; cd2new is the newest release the module proxy here serves.
CONTAINERD2_VERSION=v2.2.9
CONTAINERD2_NEW_VERSION=v2.4.2
# The load balancer image kind v0.30.0 runs in front of several control planes
# (sigs.k8s.io/kind pkg/cluster/internal/loadbalancer/const.go). It cannot be pulled here:
# hack/build-lb.sh builds one from Debian's haproxy under this name.
KIND_HAPROXY_IMAGE=docker.io/kindest/haproxy:v20230606-42a2262b
# The workload image of the tests, preloaded on every node.
TEST_APP_IMAGE=cri-migrator.local/testapp:1
# Kubernetes versions the harness knows, and the Go toolchain each is built with.
# v1.23 is the last release with the built-in dockershim; go1.21 is the oldest
# toolchain the Go command can fetch by itself.
declare -A K8S_PATCH=([1.23]=v1.23.17 [1.32]=v1.32.2)
declare -A K8S_GOTOOLCHAIN=([1.23]=go1.21.13 [1.32]=go1.23.12)
# Build tags per version. Up to 1.30 kubelet, kube-apiserver and kube-controller-manager compile
# the in-tree cloud providers (the AWS, Azure, GCE, OpenStack and vSphere SDKs) unless built with
# `providerless`, Kubernetes' own tag for leaving them out; kind nodes run without a cloud
# provider. For 1.23's seven commands the tag takes the Go source compiled from 129.6 MB to
# 83.3 MB (2712 packages to 2472). 1.31+ has no provider in tree: the tag would change nothing.
declare -A K8S_BUILD_TAGS=([1.23]=providerless [1.32]=)

# Debian packages of the node image (what a kubeadm node with Docker has) and of
# the kube-proxy image (iptables and friends).
NODE_PACKAGES=systemd,systemd-sysv,dbus,docker.io,containerd,runc,openssh-server,iptables,ipset,conntrack,socat,ethtool,ebtables,kmod,iproute2,iputils-ping,procps,util-linux,mount,ca-certificates,jq,sudo,less,lsof
PROXY_PACKAGES=iptables,ipset,conntrack,kmod,iproute2

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Every hack/build-*.sh holds a lock named after itself and its arguments while it runs, so two
# builds of one thing never run at once: hack/test.sh's background builder and a suite's set-up
# that needs the same thing (the second waits, then finds it cached). A build that has to wait
# lifts the holder's process group to normal CPU and IO priority (the background builder runs at
# the lowest), since a suite now waits for it. `flock -o`: a daemon a build starts (dockerd, from
# host-setup.sh) does not inherit the lock. Set here, in the sourced library, so that the build
# scripts, whose text is part of their images' cache keys, stay as they are.
if [[ $(basename "$0") == build-*.sh && -z ${CRIM_NO_BUILD_LOCK:-} ]]; then
  build_lock_key=$(printf '%s' "$(basename "$0" .sh) $*" | tr -c 'A-Za-z0-9._-' '_')
  build_lock_file="$CACHE_DIR/locks/$build_lock_key.lock"
  if [[ ${CRIM_BUILD_LOCK_HELD:-} != "$build_lock_file" ]]; then
    mkdir -p "$CACHE_DIR/locks"
    if ! flock -n "$build_lock_file" true; then
      build_lock_pgid=$(cat "$build_lock_file.pgid" 2>/dev/null || true)
      printf '\033[1m==> %s\033[0m\n' "waiting for another build of: $(basename "$0") $* (process group ${build_lock_pgid:-?})" >&2
      if [[ $build_lock_pgid =~ ^[0-9]+$ ]]; then
        renice -n 0 -g "$build_lock_pgid" >/dev/null 2>&1 || true
        ionice -c 2 -n 4 -P "$build_lock_pgid" >/dev/null 2>&1 || true
      fi
    fi
    CRIM_BUILD_LOCK_HELD=$build_lock_file exec flock -o "$build_lock_file" bash "$0" "$@"
  fi
  ps -o pgid= -p $$ | tr -d ' ' > "$build_lock_file.pgid"
fi

# The Go compiler and linker of every build collect garbage less often: a cold build of etcd took
# 9 % less CPU at GOGC=400 than at the default 100 (user+sys, median of four runs each: 114 s
# against 125 s; peak memory of one compile 340-380 MB against 240-340 MB). Builds are most of a cold `make
# test`, and the machine is 2 cores with memory to spare.
if [[ $(basename "$0") == build-*.sh ]]; then export GOGC=${GOGC:-400}; fi

# The flags of every Go build: no paths of this machine in the binaries, and no DWARF debug
# information from the compiler (every binary is linked with -s, which drops it anyway). A cold
# build of kube-scheduler 1.32 took 482 s of CPU (353 user + 129 sys) with -dwarf=false against
# 564 s (416 + 148) without, 15 % less, for a binary of the same size (65,921,176 bytes).
GO_BUILD_FLAGS=(-trimpath -gcflags=all=-dwarf=false)

# k8s_version MINOR -> full version, or a clear error for an unknown minor.
k8s_version() {
  local minor=$1
  [[ -n "${K8S_PATCH[$minor]:-}" ]] || die "unknown Kubernetes version '$minor': use one of ${!K8S_PATCH[*]}"
  printf '%s\n' "${K8S_PATCH[$minor]}"
}

# quiet CMD...: runs CMD, showing its output only if it fails.
quiet() {
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  ((rc == 0)) || { printf '%s\n' "$out" >&2; die "failed ($rc): $*"; }
}

# timed NAME CMD...: runs CMD and reports how long it took.
# Its locals have names of their own: bash's dynamic scope would show a `name` or `dir` declared
# here to CMD in place of the caller's.
timed() {
  local timed_what=$1; shift
  local timed_start=$SECONDS
  "$@"
  log "$timed_what took $((SECONDS - timed_start))s"
}

# wrapper_module DIR MODULE VERSION [STAGING_VERSION]
# Writes DIR/go.mod for a module that requires MODULE@VERSION and repeats its
# replace block, because `go install`/`go build` ignore replace directives of
# dependencies. Local-path replaces (./staging/..., ../api) become the published
# module at the version upstream requires, or STAGING_VERSION where that is v0.0.0;
# local replaces of modules upstream does not require are dropped.
wrapper_module() {
  local dir=$1 module=$2 version=$3 staging=${4:-}
  mkdir -p "$dir"
  local upstream
  upstream=$(cd / && GOFLAGS= go mod download -json "$module@$version" | jq -r .GoMod)
  [[ -f "$upstream" ]] || die "cannot download $module@$version from the Go module proxy"
  {
    echo "module cri-migrator.local/build"
    echo
    grep -E '^go [0-9]' "$upstream" || echo "go 1.21"
    echo
    echo "require $module $version"
    echo
    echo "replace ("
    awk -v staging="$staging" '
      /^require \($/ {req=1; next} req && /^\)$/ {req=0}
      req && NF>=2 {v[$1]=$2}
      /^require [^(]/ {v[$2]=$3}
      /^replace \($/ {rep=1; next} rep && /^\)$/ {rep=0}
      rep && /=>/ {lines[++n]=$0}
      /^replace [^(]/ {sub(/^replace /, ""); lines[++n]=$0}
      END {
        for (i=1; i<=n; i++) {
          split(lines[i], parts, "=>"); split(parts[1], lhs, " "); split(parts[2], rhs, " ")
          if (rhs[1] ~ /^\.\.?\//) {
            ver = (lhs[1] in v) ? v[lhs[1]] : ""
            if (ver == "" || ver ~ /^v0\.0\.0/) ver = staging
            if (ver == "") continue  # upstream does not depend on it (a guard entry)
            printf "\t%s => %s %s\n", lhs[1], lhs[1], ver
          } else print lines[i]
        }
      }' "$upstream"
    echo ")"
  } > "$dir/go.mod"
}

# Our own small Go programs are cached by a hash of their sources.
source_key() { cat "$1"/* | sha256sum | cut -c1-12; }
coredns_dir() { echo "$BIN_CACHE/coredns-$COREDNS_VERSION-$(echo "${COREDNS_PLUGINS[*]}" | sha256sum | cut -c1-8)"; }
pause_dir() { echo "$BIN_CACHE/pause-$(source_key "$HACK_DIR/images/pause")"; }
crictl_dir() { echo "$BIN_CACHE/crictl-$(source_key "$HACK_DIR/tools/crictl")"; }
