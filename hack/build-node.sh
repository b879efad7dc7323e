#!/usr/bin/env bash
# Builds the kind node image for one Kubernetes version, plus every image it
# preloads (control plane, kube-proxy, etcd, CoreDNS, pause, the test app), all
# from binaries built here and Debian packages. Prints the node image reference.
# Usage: build-node.sh MINOR
source "$(dirname "$0")/lib.sh"

minor=${1:?usage: build-node.sh MINOR}
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
  echo "$pause_bin $crictl_bin $node_base $proxy_base"
  cat "$0"; find "$HACK_DIR/node" "$HACK_DIR/runc-nosysres" -type f | sort | xargs cat
} | sha256sum | cut -c1-12)
node_image="cri-migrator.local/node:$version-$key"
if docker image inspect "$node_image" >/dev/null 2>&1; then
  log "$node_image: cached"; echo "$node_image"; exit 0
fi

ctx="$CACHE_DIR/build/node-$version"
rm -rf "$ctx"; mkdir -p "$ctx"/{bin,cni,images/common,images/control-plane}
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

log "$node_image: building component images"
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  image_from_scratch "${image_of[$c]}" control-plane "" "$k8s_bin/$c"
done
image_from_scratch "${image_of[etcd]}" control-plane "" "$BIN_CACHE/etcd-$ETCD_VERSION/etcd"
image_from_scratch "${image_of[coredns]}" common '["/usr/local/bin/coredns"]' "$BIN_CACHE/coredns-$COREDNS_VERSION/coredns"
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
echo "$node_image"
