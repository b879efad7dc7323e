#!/usr/bin/env bash
# The kind harness: `cluster.sh up --k8s 1.32`, `cluster.sh down --k8s 1.32`,
# `cluster.sh info --k8s 1.32`. `up` installs host prerequisites, builds (or
# reuses) binaries and images, creates the cluster if it is not running, and
# writes $CACHE_DIR/clusters/NAME/cluster.json for tests and tools:
#   {name, k8sVersion, kubeconfig, kubectl, kind, sshUser, sshKey, knownHosts, testImage,
#    shape: {workers, images, controlPlanes, cpRuntime},
#    nodes: [{name, role, ip, runtime, variant}]}   (nodes as they were when the cluster was made)
# The shape options (see usage) pick the nodes real users have; the defaults give one control
# plane on containerd and two Docker workers.
source "$(dirname "$0")/lib.sh"

usage() {
  cat >&2 <<USAGE
usage: cluster.sh up|down|info [--k8s MINOR] [--name NAME] [--workers SPEC] [--images both|docker-only]
                               [--control-planes N] [--cp-runtime containerd|docker]
  MINOR: ${!K8S_PATCH[*]} (default 1.32); NAME: default crim-<minor digits>, e.g. crim-132
  SPEC: one entry per worker, comma separated (default docker,docker); an entry is a variant or
        several joined with '+', e.g. cd2+daemonjson:
          docker        Docker (dockershim on 1.23, cri-dockerd later), Debian's containerd 1.6
                        beside it configured as Docker's package ships it (CRI disabled)
          cd2           the same with containerd $CONTAINERD2_VERSION (built from the Go module proxy)
          cd2new        the same with containerd $CONTAINERD2_NEW_VERSION
          cd2v3         cd2 (or cd2new, with it: as after an upgrade) whose config.toml is what
                        \`containerd config default\` of $CONTAINERD2_VERSION writes (version 3, CRI enabled)
                        plus local settings (debug log level, SystemdCgroup, sandbox, an nvidia runtime)
          cd2v4         cd2new whose config.toml is its own \`containerd config default\` (version 4)
                        with the same local settings
          daemonjson    daemon.json with registry-mirrors, insecure-registries, log-opts and an
                        nvidia runtime (a wrapper that logs to /var/log/nvidia-wrapper.log)
          extcontainer  one container Docker runs outside Kubernetes (crim-external), from boot
          dockerstore   with cd2 or cd2new: Docker Engine 26 (Debian trixie) with its containerd
                        image store on (features.containerd-snapshotter): Docker's images are in
                        containerd's moby namespace (hack/build-node-dockerstore.sh)
  --images: docker-only (default): nodes whose kubelet runs on Docker have the images in Docker
        alone, as real Docker nodes do (a migration must carry them into containerd);
        both: in containerd's k8s.io namespace and in Docker on every node
  --control-planes: 1 (default) or 3 (stacked etcd, behind kind's haproxy load balancer)
  --cp-runtime: the control planes' runtime, containerd (default) or docker (like the workers)
USAGE
  exit 2
}
action=${1:-}; shift || true
minor=1.32 name="" workers_spec=docker,docker images=docker-only control_planes=1 cp_runtime=containerd
while (($#)); do
  case $1 in
    --k8s) minor=${2:?--k8s needs a version}; shift 2 ;;
    --k8s=*) minor=${1#--k8s=}; shift ;;
    --name) name=${2:?--name needs a value}; shift 2 ;;
    --name=*) name=${1#--name=}; shift ;;
    --workers) workers_spec=${2:?--workers needs a list}; shift 2 ;;
    --workers=*) workers_spec=${1#--workers=}; shift ;;
    --images) images=${2:?--images needs a value}; shift 2 ;;
    --images=*) images=${1#--images=}; shift ;;
    --control-planes) control_planes=${2:?--control-planes needs a number}; shift 2 ;;
    --control-planes=*) control_planes=${1#--control-planes=}; shift ;;
    --cp-runtime) cp_runtime=${2:?--cp-runtime needs a value}; shift 2 ;;
    --cp-runtime=*) cp_runtime=${1#--cp-runtime=}; shift ;;
    *) usage ;;
  esac
done
version=$(k8s_version "$minor")
name=${name:-crim-${minor/./}}
[[ $name =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || die "--name '$name': use lowercase letters, digits and '-' (at most 31 characters)"
[[ $images == both || $images == docker-only ]] || die "--images '$images': use both or docker-only"
[[ $control_planes == 1 || $control_planes == 3 ]] || die "--control-planes '$control_planes': use 1 or 3"
[[ $cp_runtime == containerd || $cp_runtime == docker ]] || die "--cp-runtime '$cp_runtime': use containerd or docker"
dir="$CACHE_DIR/clusters/$name"
KIND="$BIN_CACHE/kind-$KIND_VERSION/kind"
KUBECTL="$BIN_CACHE/kubernetes-$version/kubectl"

# parse_variant ENTRY: sets v_name (canonical: tokens in a fixed order, "docker" alone when
# nothing else), v_containerd (1.6|cd2|cd2new), v_config (docker-package|v3), v_daemonjson,
# v_ext, v_nvidia and v_dockerstore (0|1), v_image (the key of its node image), v_cd_version (the
# containerd 2.x release, empty for 1.6), or dies naming what is wrong.
parse_variant() {
  local entry=$1 token
  local -A has=()
  [[ -n $entry ]] || die "--workers '$workers_spec': an empty entry"
  IFS=+ read -r -a tokens <<<"$entry"
  for token in "${tokens[@]}"; do
    case $token in
      docker|cd2|cd2new|cd2v3|cd2v4|daemonjson|extcontainer|dockerstore) has[$token]=1 ;;
      *) die "--workers: unknown variant '$token' in '$entry' (docker, cd2, cd2new, cd2v3, cd2v4, daemonjson, extcontainer, dockerstore)" ;;
    esac
  done
  [[ -n ${has[cd2]:-} && -n ${has[cd2new]:-} ]] && die "--workers '$entry': cd2 and cd2new are two containerd versions; pick one"
  [[ -n ${has[cd2]:-} && -n ${has[cd2v4]:-} ]] && die "--workers '$entry': cd2v4 is a config of cd2new, not of cd2"
  [[ -n ${has[cd2v3]:-} && -n ${has[cd2v4]:-} ]] && die "--workers '$entry': cd2v3 and cd2v4 are two config.toml files; pick one"
  v_containerd=1.6 v_config=docker-package v_daemonjson=0 v_ext=0 v_nvidia=0 v_dockerstore=0
  [[ -n ${has[cd2]:-} || -n ${has[cd2v3]:-} ]] && v_containerd=cd2
  [[ -n ${has[cd2new]:-} || -n ${has[cd2v4]:-} ]] && v_containerd=cd2new
  [[ -n ${has[cd2v3]:-} ]] && v_config=v3 v_nvidia=1
  [[ -n ${has[cd2v4]:-} ]] && v_config=v4 v_nvidia=1
  [[ -n ${has[daemonjson]:-} ]] && v_daemonjson=1 v_nvidia=1
  [[ -n ${has[extcontainer]:-} ]] && v_ext=1
  if [[ -n ${has[dockerstore]:-} ]]; then
    [[ $v_containerd != 1.6 ]] || die "--workers '$entry': dockerstore needs containerd 2.x (add cd2 or cd2new)"
    v_dockerstore=1
  fi
  v_image=$v_containerd
  ((v_dockerstore == 0)) || v_image+=-dockerstore
  v_cd_version=""
  [[ $v_containerd == cd2 ]] && v_cd_version=$CONTAINERD2_VERSION
  [[ $v_containerd == cd2new ]] && v_cd_version=$CONTAINERD2_NEW_VERSION
  local parts=()
  [[ $v_containerd == cd2new && $v_config != v4 ]] && parts+=(cd2new)
  [[ $v_containerd == cd2 && $v_config != v3 ]] && parts+=(cd2)
  [[ $v_config == v3 ]] && parts+=(cd2v3)
  [[ $v_config == v4 ]] && parts+=(cd2v4)
  ((v_dockerstore)) && parts+=(dockerstore)
  ((v_daemonjson)) && parts+=(daemonjson)
  ((v_ext)) && parts+=(extcontainer)
  ((${#parts[@]})) || parts=(docker)
  v_name=$(IFS=+; echo "${parts[*]}")
}

# The worker entries, checked before anything is built; the shape as cluster.json records it.
IFS=, read -r -a worker_entries <<<"$workers_spec"
((${#worker_entries[@]})) || die "--workers '$workers_spec': at least one worker"
canonical_workers=()
for entry in "${worker_entries[@]}"; do parse_variant "$entry"; canonical_workers+=("$v_name"); done
shape=$(jq -cn --arg workers "$(IFS=,; echo "${canonical_workers[*]}")" --arg images "$images" \
  --argjson cps "$control_planes" --arg cpr "$cp_runtime" \
  '{workers: $workers, images: $images, controlPlanes: $cps, cpRuntime: $cpr}')

# `kind get clusters` asks Docker, which a loaded machine has been seen to answer with an error
# once: three tries before saying no.
cluster_exists() {
  [[ -x $KIND && -f $dir/cluster.json ]] || return 1
  local _
  for _ in 1 2 3; do
    "$KIND" get clusters 2>/dev/null | grep -qx "$name" && return 0
    sleep 1
  done
  return 1
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

# The cluster's Kubernetes nodes (every container kind made but the load balancer).
kube_nodes() {
  docker ps -a --filter "label=io.x-k8s.kind.cluster=$name" --format '{{.Names}} {{.Label "io.x-k8s.kind.role"}}' |
    awk '$2 == "control-plane" || $2 == "worker" {print $1}' | sort
}
container_ip() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }

# Bridge CNI on every node: what kindnetd would do, done once from here because no image of it
# can be pulled. The routes to the other nodes follow with the node names (write_node_net).
setup_pod_network() {
  local node cidr
  while read -r node cidr; do
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
  done < <("$KUBECTL" --kubeconfig "$dir/kubeconfig" get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.spec.podCIDR}{"\n"}{end}')
}

# Per node, /kind/harness/node-net (the node's harness directory is mounted from here): a route
# to each other node's pod CIDR, and every node's name (and the load balancer's) for /etc/hosts.
# Docker's embedded DNS answers the node names on the node itself, but not in pods: kube-proxy
# (hostNetwork, kubeconfig server https://NAME-control-plane:6443, or the load balancer)
# resolves through kubelet's resolvConf and gets no answer on the workers, leaving them without
# Service rules. node-net applies the file now and its boot unit again after a restart of the
# node container, which loses both. kubelet copies the node's /etc/hosts into hostNetwork pods
# when it creates them, so kube-proxy's pods are recreated afterwards.
write_node_net() {
  local nodes node cidr ip peer pcidr pip lb
  nodes=$("$KUBECTL" --kubeconfig "$dir/kubeconfig" get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}')
  lb="$name-external-load-balancer"
  while read -r node cidr ip; do
    {
      echo "# written by hack/cluster.sh; applied by /usr/local/bin/node-net"
      while read -r peer pcidr pip; do
        [[ $peer == "$node" ]] || echo "route $pcidr $pip"
      done <<<"$nodes"
      while read -r peer pcidr pip; do echo "host $pip $peer"; done <<<"$nodes"
      if docker inspect "$lb" >/dev/null 2>&1; then echo "host $(container_ip "$lb") $lb"; fi
    } > "$dir/nodes/$node/node-net"
    node_exec "$node" /usr/local/bin/node-net >/dev/null
  done <<<"$nodes"
  "$KUBECTL" --kubeconfig "$dir/kubeconfig" -n kube-system delete pod -l k8s-app=kube-proxy --wait=false >/dev/null
  "$KUBECTL" --kubeconfig "$dir/kubeconfig" -n kube-system rollout status daemonset/kube-proxy --timeout=180s >/dev/null
}

write_known_hosts() {
  local node ip key
  : > "$dir/known_hosts.tmp"
  for node in $(kube_nodes); do
    ip=$(container_ip "$node")
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
  local variants='{}' node
  for node in $(kube_nodes); do
    variants=$(jq -c --arg n "$node" --arg v "$(cat "$dir/nodes/$node/variant")" '. + {($n): $v}' <<<"$variants")
  done
  "$KUBECTL" --kubeconfig "$dir/kubeconfig" get nodes -o json | jq \
    --arg name "$name" --arg version "$version" --arg dir "$dir" --arg image "$TEST_APP_IMAGE" \
    --arg kubectl "$KUBECTL" --arg kind "$KIND" --argjson shape "$shape" --argjson variants "$variants" '{
      name: $name, k8sVersion: $version,
      kubeconfig: ($dir + "/kubeconfig"), kubectl: $kubectl, kind: $kind, sshUser: "root", testImage: $image,
      sshKey: ($dir + "/id_ed25519"), knownHosts: ($dir + "/known_hosts"),
      shape: $shape,
      nodes: [.items[] | {
        name: .metadata.name,
        role: (if .metadata.labels["node-role.kubernetes.io/control-plane"] != null then "control-plane" else "worker" end),
        ip: (.status.addresses[] | select(.type == "InternalIP") | .address),
        runtime: .status.nodeInfo.containerRuntimeVersion,
        variant: $variants[.metadata.name] }] }' > "$dir/cluster.json"
}

# node_config NODE ROLE RUNTIME IMAGE CONTAINERD_CONFIG DAEMON_JSON NVIDIA EXT VARIANT
# Writes the node's harness directory (node.env, what node-setup and preload-images read at its
# first boot) and prints its entry for the kind config.
node_config() {
  local node=$1 role=$2 runtime=$3 image=$4 cconf=$5 djson=$6 nvidia=$7 ext=$8 variant=$9
  local hdir="$dir/nodes/$node"
  mkdir -p "$hdir"
  echo "$variant" > "$hdir/variant"
  {
    echo "# hack/cluster.sh: the harness's settings for $node"
    printf 'CRIM_ROLE=%q\nCRIM_RUNTIME=%q\nCRIM_VARIANT=%q\nCRIM_IMAGES=%q\n' "$role" "$runtime" "$variant" "$images"
    printf 'CRIM_CONTAINERD_CONFIG=%q\nCRIM_DAEMON_JSON=%q\nCRIM_NVIDIA_RUNTIME=%q\nCRIM_EXTCONTAINER=%q\nCRIM_TEST_IMAGE=%q\n' \
      "$cconf" "$(((djson)) && echo extended || echo base)" "$nvidia" "$ext" "$TEST_APP_IMAGE"
  } > "$hdir/node.env"
  cat <<YAML
- role: $role
  image: "$image"
  extraMounts:
  - {hostPath: "$dir/authorized_keys", containerPath: /root/.ssh/authorized_keys, readOnly: true}
  - {hostPath: "$hdir", containerPath: /kind/harness, readOnly: true}
YAML
  [[ $runtime == docker ]] || return 0
  echo "  kubeadmConfigPatches:"
  local kind
  # The first control plane is made by kubeadm init, the others and the workers by join.
  for kind in InitConfiguration JoinConfiguration; do
    [[ $kind == InitConfiguration && $role != control-plane ]] && continue
    cat <<YAML
  - |
    kind: $kind
    nodeRegistration:
      criSocket: "$cri_socket"
YAML
  done
}

# The kind config of the requested shape; the node images it needs are built first.
render_kind_config() {
  local -A image_for=()
  image_for[1.6]=$base_image
  local entry i node
  for entry in "${worker_entries[@]}"; do
    parse_variant "$entry"
    [[ -n ${image_for[$v_image]:-} ]] || image_for[$v_image]=$(variant_image)
  done
  sed -e "s|@NAME@|$name|" -e "s|@ETCD_TAG@|${ETCD_VERSION#v}-0|" -e "s|@COREDNS_TAG@|$COREDNS_VERSION|" \
    "$HACK_DIR/kind/cluster.yaml.tmpl"
  for ((i = 1; i <= control_planes; i++)); do
    # kind names nodes NAME-ROLE, NAME-ROLE2, ... in the order of the config.
    node="$name-control-plane" && ((i > 1)) && node+=$i
    if [[ $cp_runtime == docker ]]; then
      node_config "$node" control-plane docker "$base_image" docker-package 0 0 0 docker
    else
      node_config "$node" control-plane containerd "$base_image" node 0 0 0 containerd
    fi
  done
  i=0
  for entry in "${worker_entries[@]}"; do
    i=$((i + 1))
    parse_variant "$entry"
    node="$name-worker" && ((i > 1)) && node+=$i
    node_config "$node" worker docker "${image_for[$v_image]}" "$v_config" "$v_daemonjson" "$v_nvidia" "$v_ext" "$v_name"
  done
}

# The builds a shape needs, before the cluster lock: each build script holds a lock of its own
# (hack/lib.sh), so a suite waiting for a build (hack/test.sh builds some in the background) does
# not hold back another suite's cluster creation.
build_for_shape() {
  mkdir -p "$CACHE_DIR"
  timed "host setup" flock -o "$CACHE_DIR/host-setup.lock" "$HACK_DIR/host-setup.sh"
  timed "tools" "$HACK_DIR/build-tools.sh"
  timed "Kubernetes $version" "$HACK_DIR/build-k8s.sh" "$minor"
  "$HACK_DIR/build-node.sh" "$minor" >/dev/null
  ((control_planes == 1)) || timed "load balancer image" "$HACK_DIR/build-lb.sh" >/dev/null
  local entry
  for entry in "${worker_entries[@]}"; do
    parse_variant "$entry"
    [[ -z $v_cd_version ]] || timed "containerd $v_cd_version" "$HACK_DIR/build-containerd.sh" "$v_cd_version"
    variant_image >/dev/null
  done
}

# variant_image: the node image of the variant parse_variant last parsed (built if need be).
variant_image() {
  if [[ -z $v_cd_version ]]; then "$HACK_DIR/build-node.sh" "$minor"
  elif ((v_dockerstore)); then "$HACK_DIR/build-node-dockerstore.sh" "$minor" "$v_cd_version"
  else "$HACK_DIR/build-node.sh" "$minor" --containerd "$v_cd_version"
  fi
}

up() {
  build_for_shape
  # Suites run two at a time: cluster creation goes one at a time (two kind creations at once
  # only slow each other down on two cores).
  exec 9>"$CACHE_DIR/cluster-up.lock"
  local waited=$SECONDS
  flock 9
  ((SECONDS - waited < 2)) || log "waited $((SECONDS - waited))s for another cluster.sh up to finish"
  if cluster_running; then
    local running
    running=$(jq -c '.shape // {workers: "docker,docker", images: "both", controlPlanes: 1, cpRuntime: "containerd"}' "$dir/cluster.json")
    [[ $running == "$shape" ]] || die "cluster $name is running with shape $running, not $shape: run cluster.sh down --k8s $minor --name $name first"
    log "cluster $name ($version) is running: $dir/cluster.json"; return
  fi
  local up_start=$SECONDS
  base_image=$("$HACK_DIR/build-node.sh" "$minor")  # cached by build_for_shape
  "$KIND" delete cluster --name "$name" >/dev/null 2>&1 || true
  rm -rf "$dir"; mkdir -p "$dir"
  ssh-keygen -q -t ed25519 -N '' -C "cri-migrator-$name" -f "$dir/id_ed25519"
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  cri_socket=unix:///var/run/cri-dockerd.sock
  [[ $minor == 1.23 ]] && cri_socket=/var/run/dockershim.sock
  render_kind_config > "$dir/kind.yaml"
  log "creating kind cluster $name ($shape)"
  # Seen once in about 20 creations on this machine, cause not found: all new node containers
  # stopped about 12 s after starting and kubeadm init died with them (exit 137). One more try.
  local attempt t0
  for attempt in 1 2; do
    t0=$SECONDS
    # No --image: it would override the per-node images of the config (kind's create.go).
    if "$KIND" create cluster --config "$dir/kind.yaml" --kubeconfig "$dir/kubeconfig" --retain; then
      log "kind create cluster took $((SECONDS - t0))s"
      break
    fi
    ((attempt < 2)) || die "kind create cluster failed twice for $name; its output is above"
    log "kind create cluster failed after $((SECONDS - t0))s; removing what it left and trying once more"
    "$KIND" delete cluster --name "$name" >/dev/null 2>&1 || true
  done
  local kc=("$KUBECTL" --kubeconfig "$dir/kubeconfig")
  timed "pod network" setup_pod_network
  timed "routes and node names" write_node_net
  timed "nodes Ready" "${kc[@]}" wait --for=condition=Ready nodes --all --timeout=300s
  # Cluster DNS answers before the cluster is handed over: pods started right after `up`
  # resolve Service names.
  timed "CoreDNS available" "${kc[@]}" -n kube-system rollout status deployment/coredns --timeout=300s
  write_known_hosts
  write_cluster_json
  "${kc[@]}" get nodes -o wide
  log "cluster $name is up in $((SECONDS - up_start))s: $dir/cluster.json"
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
