#!/usr/bin/env bash
# Builds the kind node image for one Kubernetes version, plus every image it
# preloads (control plane, kube-proxy, etcd, CoreDNS, pause, the test app), all
# from binaries built here and Debian packages. Prints the node image reference.
# With --containerd VERSION (a 2.x release, see hack/build-containerd.sh) it prints the
# reference of a variant of that image whose containerd, ctr and containerd-shim-runc-v2 are
# that release instead of Debian's 1.6 (the cd2 and cd2new worker variants of cluster.sh).
# Usage: build-node.sh MINOR [--containerd VERSION]
source "$(dirname "$0")/lib.sh"

usage() { die "usage: build-node.sh MINOR [--containerd VERSION]"; }
minor=${1:-}; [[ -n $minor ]] || usage; shift
containerd2=""
while (($#)); do
  case $1 in
    --containerd) containerd2=${2:-}; [[ -n $containerd2 ]] || usage; shift 2 ;;
    *) usage ;;
  esac
done
version=$(k8s_version "$minor")
k8s_bin="$BIN_CACHE/kubernetes-$version"
[[ -f $k8s_bin/.complete ]] || die "Kubernetes $version binaries missing: run hack/build-k8s.sh $minor"

pause_bin=$(pause_dir) crictl_bin=$(crictl_dir)
[[ -f $pause_bin/.complete && -f $crictl_bin/.complete ]] || die "pause or crictl missing: run hack/build-tools.sh"

# Kubernetes <= 1.23 runs Docker through the built-in dockershim; later ones
# need cri-dockerd. kind uses the cgroupfs driver before 1.24 and systemd after.
if [[ $minor == 1.23 ]]; then cgroup_driver=cgroupfs; with_cri_dockerd=false
else cgroup_driver=systemd; with_cri_dockerd=true; fi

node_base=$("$HACK_DIR/build-rootfs.sh" node-base "$NODE_PACKAGES")
proxy_base=$("$HACK_DIR/build-rootfs.sh" proxy-base "$PROXY_PACKAGES")

# The image tag is a hash of everything that goes into it.
key=$( {
  echo "$version $cgroup_driver $ETCD_VERSION $COREDNS_VERSION $CNI_PLUGINS_VERSION $CRI_DOCKERD_VERSION"
  echo "$pause_bin $crictl_bin $(coredns_dir) $node_base $proxy_base"
  cat "$k8s_bin/.complete" "$0"; find "$HACK_DIR/node" "$HACK_DIR/runc-nosysres" "$HACK_DIR/kind/containerd-docker-package.toml" -type f | sort | xargs cat
} | sha256sum | cut -c1-12)
node_image="cri-migrator.local/node:$version-$key"

# A build context of its own per run: two builds of the same version never share one.
mkdir -p "$CACHE_DIR/build"
ctx=$(mktemp -d "$CACHE_DIR/build/node-$version.XXXXXX")
trap 'rm -rf "$ctx"' EXIT

# Image names are what this kubeadm asks for, except etcd and CoreDNS, which we
# build once and point every cluster at (hack/kind/cluster.yaml.tmpl sets the tags).
etcd_tag="${ETCD_VERSION#v}-0"
declare -A image_of
while read -r ref; do
  case "$ref" in
    */etcd:*) ref="${ref%:*}:$etcd_tag" ;;
    */coredns:*) ref="${ref%:*}:$COREDNS_VERSION" ;;
  esac
  name=${ref##*/}; image_of[${name%%:*}]=$ref
done < <("$k8s_bin/kubeadm" config images list --kubernetes-version "$version" 2>/dev/null)
[[ -n ${image_of[kube-apiserver]:-} && -n ${image_of[pause]:-} ]] || die "kubeadm $version listed no images"

# image_from_scratch REF GROUP ENTRYPOINT_JSON FILE...: a FROM scratch image with FILEs in /usr/local/bin.
image_from_scratch() {
  local ref=$1 group=$2 entrypoint=$3; shift 3
  local dir; dir=$(mktemp -d "$ctx/img.XXXX")
  mkdir -p "$dir/usr/local/bin"; cp "$@" "$dir/usr/local/bin/"
  { echo "FROM scratch"; echo "COPY usr /usr"; echo "ENV PATH=/usr/local/bin:/usr/bin:/bin"
    [[ -n $entrypoint ]] && echo "ENTRYPOINT $entrypoint"; } > "$dir/Dockerfile"
  quiet docker build -q -t "$ref" "$dir" >/dev/null
  save_image "$ref" "$group"
}
save_image() { docker save "$1" -o "$ctx/images/$2/$(echo "${1##*/}" | tr ':' '_').tar"; }

build_base() {
  mkdir -p "$ctx"/{bin,cni,images/common,images/control-plane}
  log "$node_image: building component images"
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    image_from_scratch "${image_of[$c]}" control-plane "" "$k8s_bin/$c"
  done
  image_from_scratch "${image_of[etcd]}" control-plane "" "$BIN_CACHE/etcd-$ETCD_VERSION/etcd"
  image_from_scratch "${image_of[coredns]}" common '["/usr/local/bin/coredns"]' "$(coredns_dir)/coredns"
  image_from_scratch "${image_of[pause]}" common '["/usr/local/bin/pause"]' "$pause_bin/pause"
  proxy_dir=$(mktemp -d "$ctx/img.XXXX"); cp "$k8s_bin/kube-proxy" "$proxy_dir/"
  printf 'FROM %s\nCOPY kube-proxy /usr/local/bin/kube-proxy\n' "$proxy_base" > "$proxy_dir/Dockerfile"
  quiet docker build -q -t "${image_of[kube-proxy]}" "$proxy_dir" >/dev/null
  save_image "${image_of[kube-proxy]}" common
  # The workload image of the tests: busybox from Debian's busybox-static.
  app_dir=$(mktemp -d "$ctx/img.XXXX"); mkdir -p "$app_dir/root/bin"
  cp /bin/busybox "$app_dir/root/bin/busybox"
  for applet in $(/bin/busybox --list); do [[ $applet == busybox ]] || ln -s busybox "$app_dir/root/bin/$applet"; done
  printf 'FROM scratch\nCOPY root /\nENV PATH=/bin\nCMD ["sh"]\n' > "$app_dir/Dockerfile"
  quiet docker build -q -t "$TEST_APP_IMAGE" "$app_dir" >/dev/null
  save_image "$TEST_APP_IMAGE" common

  log "$node_image: assembling the node"
  cp -a "$HACK_DIR/node/files" "$ctx/files"
  install -m 0755 "$HACK_DIR/runc-nosysres" "$ctx/files/usr/local/sbin/runc-nosysres"
  # What node-setup writes for the worker variants (Docker's packaged containerd config).
  cp "$HACK_DIR/kind/containerd-docker-package.toml" "$ctx/files/usr/local/share/cri-migrator-harness/"
  cp "$k8s_bin"/{kubeadm,kubelet,kubectl} "$ctx/bin/"
  cp "$crictl_bin/crictl" "$ctx/files/usr/local/bin/crictl"
  cp "$BIN_CACHE/cni-$CNI_PLUGINS_VERSION"/* "$ctx/cni/"
  echo "$version" > "$ctx/files/kind/version"
  mkdir -p "$ctx/files/etc/containerd" "$ctx/files/etc/docker"
  systemd_cgroup=$([[ $cgroup_driver == systemd ]] && echo true || echo false)
  # containerd as the node image ships it: CRI on, the cgroup driver kubelet uses.
  cat > "$ctx/files/etc/containerd/config.toml" <<TOML
version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${image_of[pause]}"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = $systemd_cgroup
TOML
  printf '{\n  "exec-opts": ["native.cgroupdriver=%s"],\n  "log-driver": "json-file"\n}\n' "$cgroup_driver" \
    > "$ctx/files/etc/docker/daemon.json"
  enable_units="containerd.service docker.service ssh.service kubelet.service cri-migrator-preload.service"
  enable_units+=" cri-migrator-node-setup.service cri-migrator-node-net.service cri-migrator-external-container.service"
  if $with_cri_dockerd; then
    cp "$BIN_CACHE/cri-dockerd-$CRI_DOCKERD_VERSION/cri-dockerd" "$ctx/files/usr/local/bin/"
    cat > "$ctx/files/etc/systemd/system/cri-docker.socket" <<UNIT
[Unit]
Description=CRI socket of cri-dockerd
PartOf=cri-docker.service

[Socket]
ListenStream=%t/cri-dockerd.sock
SocketMode=0660
SocketUser=root
SocketGroup=root

[Install]
WantedBy=sockets.target
UNIT
    cat > "$ctx/files/etc/systemd/system/cri-docker.service" <<UNIT
[Unit]
Description=CRI interface for Docker (cri-dockerd)
After=network-online.target docker.service cri-docker.socket
Requires=cri-docker.socket docker.service

[Service]
ExecStart=/usr/local/bin/cri-dockerd --container-runtime-endpoint fd:// --network-plugin=cni --cni-bin-dir=/opt/cni/bin --cni-conf-dir=/etc/cni/net.d --pod-infra-container-image=${image_of[pause]}
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
UNIT
    enable_units+=" cri-docker.socket cri-docker.service"
  fi

  cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $node_base
COPY files/ /
COPY bin/ /usr/bin/
COPY cni/ /opt/cni/bin/
COPY images/ /kind/images/
RUN systemctl enable $enable_units \\
 && systemctl mask getty.target systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \\
      apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \\
 && systemctl set-default multi-user.target \\
 && mkdir -p /etc/cni/net.d /root/.ssh && chmod 700 /root/.ssh
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
DOCKERFILE
  quiet docker build -q -t "$node_image" "$ctx" >/dev/null
  log "$node_image: built ($(docker image inspect -f '{{.Size}}' "$node_image" | numfmt --to=iec))"
}

if docker image inspect "$node_image" >/dev/null 2>&1; then
  log "$node_image: cached"
else
  build_base
fi
[[ -n $containerd2 ]] || { echo "$node_image"; exit 0; }

# The containerd 2.x variant: the image above with containerd, ctr and containerd-shim-runc-v2
# of that release in /usr/bin, where Debian's package put its 1.6 (whose v1 shims go: 2.x has
# none). dpkg still lists containerd 1.6, as on nodes where containerd was upgraded by hand.
# Docker and kubelet find it where they found 1.6. It also carries the configs of the cd2v3
# and cd2v4 variants (see below).
cd_bin="$BIN_CACHE/containerd-$containerd2"
[[ -f $cd_bin/.complete ]] || die "containerd $containerd2 missing: run hack/build-containerd.sh $containerd2"
# The version 3 config comes from the 2.2 release (what 2.0-2.2 write; a node upgraded to a
# later 2.x keeps it), whichever release this image carries.
v3_bin="$BIN_CACHE/containerd-$CONTAINERD2_VERSION"
[[ -f $v3_bin/.complete ]] || "$HACK_DIR/build-containerd.sh" "$CONTAINERD2_VERSION" >&2
ckey=$( {
  echo "$node_image"; sha256sum "$cd_bin"/{containerd,ctr,containerd-shim-runc-v2} "$v3_bin/containerd" | cut -d' ' -f1
  sed -n '/^# The containerd 2.x variant/,$p' "$0"
} | sha256sum | cut -c1-12)
variant_image="cri-migrator.local/node:$version-$key-containerd-$containerd2-$ckey"
if docker image inspect "$variant_image" >/dev/null 2>&1; then
  log "$variant_image: cached"; echo "$variant_image"; exit 0
fi
vctx="$ctx/containerd2"
mkdir -p "$vctx/bin" "$vctx/share"
cp "$cd_bin"/{containerd,ctr,containerd-shim-runc-v2} "$vctx/bin/"

# local_config CONTAINERD OUT: what `CONTAINERD config default` writes (the file people who
# followed the Kubernetes docs have: CRI enabled), with the settings those docs and a GPU node
# add: SystemdCgroup matching kubelet's cgroup driver, the sandbox image kubelet uses, debug
# logging, and a second runtime (nvidia, through the harness's wrapper).
systemd_cgroup=$([[ $cgroup_driver == systemd ]] && echo true || echo false)
local_config() {
  local out=$2
  "$1" config default 2>/dev/null > "$out"
  # edit PATTERN REPLACEMENT: one line of the default, which must be there exactly once.
  edit() {
    [[ $(grep -c -- "$1" "$out") == 1 ]] || die "$out: expected one line matching '$1' in the default config"
    sed -i "s|$1|$2|" "$out"
  }
  edit "^  level = ''$" "  level = 'debug'"
  edit "^\( *\)SystemdCgroup = false$" "\1SystemdCgroup = $systemd_cgroup"
  edit "^\( *\)sandbox = '.*'$" "\1sandbox = '${image_of[pause]}'"
  # The nvidia runtime's tables follow runc's options, as nvidia-ctk writes them.
  awk -v cg="$systemd_cgroup" '
    { print }
    /^ *SystemdCgroup = / && !done {
      ind = $0; sub(/[^ ].*/, "", ind); base = substr(ind, 1, length(ind) - 4)
      t = "plugins.\047io.containerd.cri.v1.runtime\047.containerd.runtimes.nvidia"
      printf "\n%s[%s]\n%s  runtime_type = \047io.containerd.runc.v2\047\n", base, t, base
      printf "\n%s  [%s.options]\n%s    BinaryName = \047/usr/local/bin/nvidia-container-runtime\047\n%s    SystemdCgroup = %s\n", base, t, base, base, cg
      done = 1
    }' "$out" > "$out.new" && mv "$out.new" "$out"
  grep -q "runtimes.nvidia.options" "$out" || die "$out: no runc options to add nvidia after"
}
local_config "$v3_bin/containerd" "$vctx/share/containerd-v3.toml"
head -n1 "$vctx/share/containerd-v3.toml" | grep -qx 'version = 3' || die "containerd $CONTAINERD2_VERSION config default is not version 3"
# cd2v4: the same from a release whose default is version 4 (2.3+).
if "$cd_bin/containerd" config default 2>/dev/null | head -n1 | grep -qx 'version = 4'; then
  local_config "$cd_bin/containerd" "$vctx/share/containerd-v4.toml"
fi

{
  echo "FROM $node_image"
  echo "RUN rm -f /usr/bin/containerd-shim /usr/bin/containerd-shim-runc-v1"
  echo "COPY bin/ /usr/bin/"
  echo "COPY share/ /usr/local/share/cri-migrator-harness/"
  # Every config a worker of this image may get must load (the local ones with their runtimes).
  echo "RUN containerd --version | grep -qF ' $containerd2 ' \\"
  for f in "$vctx"/share/containerd-v*.toml; do
    echo " && containerd --config /usr/local/share/cri-migrator-harness/${f##*/} config dump | grep -q runtimes.nvidia \\"
  done
  echo " && containerd --config /usr/local/share/cri-migrator-harness/containerd-docker-package.toml config dump | grep -q \"disabled_plugins = \\[.io.containerd.grpc.v1.cri.\\]\""
} > "$vctx/Dockerfile"
quiet docker build -q -t "$variant_image" "$vctx" >/dev/null
log "$variant_image: built ($(docker image inspect -f '{{.Size}}' "$variant_image" | numfmt --to=iec))"
echo "$variant_image"
