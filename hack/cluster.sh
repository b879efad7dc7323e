#!/usr/bin/env bash
# The kind harness: `cluster.sh up --k8s 1.32`, `cluster.sh down --k8s 1.32`,
# `cluster.sh info --k8s 1.32`. `up` installs host prerequisites, builds (or
# reuses) binaries and images, creates the cluster if it is not running, and
# writes $CACHE_DIR/clusters/NAME/cluster.json for tests and tools:
#   {name, k8sVersion, kubeconfig, kubectl, kind, sshUser, sshKey, knownHosts, testImage,
#    nodes: [{name, role, ip, runtime}]}   (nodes as they were when the cluster was made)
source "$(dirname "$0")/lib.sh"

usage() {
  echo "usage: cluster.sh up|down|info [--k8s MINOR] [--name NAME]" >&2
  echo "  MINOR: ${!K8S_PATCH[*]} (default 1.32); NAME: default crim-<minor digits>, e.g. crim-132" >&2
  exit 2
}
action=${1:-}; shift || true
minor=1.32 name=""
while (($#)); do
  case $1 in
    --k8s) minor=${2:?--k8s needs a version}; shift 2 ;;
    --k8s=*) minor=${1#--k8s=}; shift ;;
    --name) name=${2:?--name needs a value}; shift 2 ;;
    --name=*) name=${1#--name=}; shift ;;
    *) usage ;;
  esac
done
version=$(k8s_version "$minor")
name=${name:-crim-${minor/./}}
[[ $name =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || die "--name '$name': use lowercase letters, digits and '-' (at most 31 characters)"
dir="$CACHE_DIR/clusters/$name"
KIND="$BIN_CACHE/kind-$KIND_VERSION/kind"
KUBECTL="$BIN_CACHE/kubernetes-$version/kubectl"

cluster_exists() {
  [[ -x $KIND ]] && "$KIND" get clusters 2>/dev/null | grep -qx "$name" && [[ -f $dir/cluster.json ]]
}

# Exists and its API server answers (a loaded machine can be slow: a few tries).
cluster_running() {
  cluster_exists || return 1
  local _
  for _ in 1 2 3; do
    "$KUBECTL" --kubeconfig "$dir/kubeconfig" --request-timeout=10s get --raw /readyz >/dev/null 2>&1 && return 0
    sleep 2
  done
  return 1
}

node_exec() { docker exec "$1" bash -c "$2" </dev/null; }
# node_write NODE PATH: stdin -> PATH on NODE.
node_write() { docker exec -i "$1" bash -c "cat > '$2'"; }

# Bridge CNI on every node plus a route per peer: what kindnetd would do, done once
# from here because no image of it can be pulled.
setup_pod_network() {
  local nodes node cidr ip peer
  nodes=$("$KUBECTL" --kubeconfig "$dir/kubeconfig" get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}')
  while read -r node cidr ip; do
    [[ -n $cidr ]] || die "node $node has no podCIDR yet"
    node_write "$node" /etc/cni/net.d/10-crim-bridge.conflist <<JSON
{
  "cniVersion": "0.4.0",
  "name": "crim",
  "plugins": [
    {"type": "bridge", "bridge": "crim0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
    while read -r peer pcidr pip; do
      [[ $peer == "$node" ]] && continue
      node_exec "$node" "ip route replace $pcidr via $pip"
    done <<<"$nodes"
  done <<<"$nodes"
}

# Every node's name in every node's /etc/hosts. Docker's embedded DNS answers the node names on
# the node itself, but not in pods: kube-proxy (hostNetwork, kubeconfig server
# https://NAME-control-plane:6443) resolves through kubelet's resolvConf and gets no answer on
# the workers, leaving them without Service rules. kubelet copies the node's /etc/hosts into
# hostNetwork pods when it creates them, so kube-proxy's pods are recreated afterwards.
write_node_hosts() {
  local entries node
  entries=$("$KUBECTL" --kubeconfig "$dir/kubeconfig" get nodes -o jsonpath='{range .items[*]}{.status.addresses[?(@.type=="InternalIP")].address} {.metadata.name}{"\n"}{end}')
  for node in $("$KIND" get nodes --name "$name"); do
    printf '# cluster nodes (hack/cluster.sh)\n%s\n' "$entries" | docker exec -i "$node" bash -c 'cat >> /etc/hosts'
  done
  "$KUBECTL" --kubeconfig "$dir/kubeconfig" -n kube-system delete pod -l k8s-app=kube-proxy --wait=false >/dev/null
  "$KUBECTL" --kubeconfig "$dir/kubeconfig" -n kube-system rollout status daemonset/kube-proxy --timeout=180s >/dev/null
}

write_known_hosts() {
  local node ip key
  : > "$dir/known_hosts.tmp"
  for node in $("$KIND" get nodes --name "$name"); do
    ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$node")
    for _ in $(seq 60); do
      key=$(docker exec "$node" cat /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null) && break; sleep 1
    done
    [[ -n $key ]] || die "$node: sshd did not generate a host key"
    # The key is read out of band (docker exec), so the first SSH connection is verified.
    echo "$node,$ip ${key% *}" >> "$dir/known_hosts.tmp"
  done
  mv "$dir/known_hosts.tmp" "$dir/known_hosts"
}

write_cluster_json() {
  "$KUBECTL" --kubeconfig "$dir/kubeconfig" get nodes -o json | jq \
    --arg name "$name" --arg version "$version" --arg dir "$dir" --arg image "$TEST_APP_IMAGE" \
    --arg kubectl "$KUBECTL" --arg kind "$KIND" '{
      name: $name, k8sVersion: $version,
      kubeconfig: ($dir + "/kubeconfig"), kubectl: $kubectl, kind: $kind, sshUser: "root", testImage: $image,
      sshKey: ($dir + "/id_ed25519"), knownHosts: ($dir + "/known_hosts"),
      nodes: [.items[] | {
        name: .metadata.name,
        role: (if .metadata.labels["node-role.kubernetes.io/control-plane"] != null then "control-plane" else "worker" end),
        ip: (.status.addresses[] | select(.type == "InternalIP") | .address),
        runtime: .status.nodeInfo.containerRuntimeVersion }] }' > "$dir/cluster.json"
}

up() {
  if cluster_running; then
    log "cluster $name ($version) is running: $dir/cluster.json"; return
  fi
  timed "host setup" "$HACK_DIR/host-setup.sh"
  timed "tools" "$HACK_DIR/build-tools.sh"
  timed "Kubernetes $version" "$HACK_DIR/build-k8s.sh" "$minor"
  local image; image=$("$HACK_DIR/build-node.sh" "$minor")
  "$KIND" delete cluster --name "$name" >/dev/null 2>&1 || true
  rm -rf "$dir"; mkdir -p "$dir"
  ssh-keygen -q -t ed25519 -N '' -C "cri-migrator-$name" -f "$dir/id_ed25519"
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  local cri_socket=unix:///var/run/cri-dockerd.sock
  [[ $minor == 1.23 ]] && cri_socket=/var/run/dockershim.sock
  sed -e "s|@NAME@|$name|" -e "s|@KEYS@|$dir/authorized_keys|" -e "s|@CRI_SOCKET@|$cri_socket|" \
      -e "s|@ETCD_TAG@|${ETCD_VERSION#v}-0|" -e "s|@COREDNS_TAG@|$COREDNS_VERSION|" \
      "$HACK_DIR/kind/cluster.yaml.tmpl" > "$dir/kind.yaml"
  log "creating kind cluster $name from $image"
  # Seen once in about 20 creations on this machine, cause not found: all new node containers
  # stopped about 12 s after starting and kubeadm init died with them (exit 137). One more try.
  local attempt t0
  for attempt in 1 2; do
    t0=$SECONDS
    if "$KIND" create cluster --config "$dir/kind.yaml" --image "$image" --kubeconfig "$dir/kubeconfig" --retain; then
      log "kind create cluster took $((SECONDS - t0))s"
      break
    fi
    ((attempt < 2)) || die "kind create cluster failed twice for $name; its output is above"
    log "kind create cluster failed after $((SECONDS - t0))s; removing what it left and trying once more"
    "$KIND" delete cluster --name "$name" >/dev/null 2>&1 || true
  done
  local kc=("$KUBECTL" --kubeconfig "$dir/kubeconfig")
  # Docker workers: containerd installed beside Docker, configured as Docker's
  # package ships it (CRI disabled), exactly what a migration starts from.
  local node
  for node in $("$KIND" get nodes --name "$name" | grep worker); do
    node_write "$node" /etc/containerd/config.toml < "$HACK_DIR/kind/containerd-docker-package.toml"
    node_exec "$node" "systemctl restart containerd"
  done
  timed "pod network" setup_pod_network
  timed "node names for pods" write_node_hosts
  timed "nodes Ready" "${kc[@]}" wait --for=condition=Ready nodes --all --timeout=300s
  # Cluster DNS answers before the cluster is handed over: pods started right after `up`
  # resolve Service names.
  timed "CoreDNS available" "${kc[@]}" -n kube-system rollout status deployment/coredns --timeout=300s
  write_known_hosts
  write_cluster_json
  "${kc[@]}" get nodes -o wide
  log "cluster $name is up: $dir/cluster.json"
}

# A pod's freezer cgroup left FROZEN inside a node (seen once) keeps Docker from removing
# the node container: thaw whatever is frozen under the cluster's containers first.
thaw_nodes() {
  local id state
  for id in $(docker ps -aq --no-trunc --filter "label=io.x-k8s.kind.cluster=$name"); do
    for state in /sys/fs/cgroup/freezer/docker/"$id"/{,*/,*/*/,*/*/*/,*/*/*/*/}freezer.state; do
      [[ -f $state ]] && grep -q FROZEN "$state" && echo THAWED > "$state" || true
    done
  done
}

down() {
  [[ -d /sys/fs/cgroup/freezer ]] && thaw_nodes
  [[ -x $KIND ]] && "$KIND" delete cluster --name "$name" || true
  rm -rf "$dir"
}

case $action in
  up) up ;;
  down) down ;;
  info) cluster_exists || die "cluster $name is not running: run cluster.sh up --k8s $minor --name $name"; cat "$dir/cluster.json" ;;
  *) usage ;;
esac
