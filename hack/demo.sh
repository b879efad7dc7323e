#!/usr/bin/env bash
# The demo behind `make demo`: a local kind cluster (Kubernetes 1.32, two workers on Docker through
# cri-dockerd), a Deployment guarded by a PodDisruptionBudget, `cri-migrator plan` on one worker,
# `cri-migrator migrate` on both with live progress, and the node table at the end.
# Needs dist/ (npm run build). Re-running it reuses the cluster; remove it with
#   bash hack/cluster.sh down --k8s 1.32 --name crim-demo
source "$(dirname "$0")/lib.sh"

name=${DEMO_CLUSTER:-crim-demo}
minor=1.32
[[ -f $REPO_DIR/dist/main.js ]] || die "dist/main.js is missing: run npm install && npm run build (make demo does)"

start=$SECONDS
bash "$HACK_DIR/cluster.sh" up --k8s "$minor" --name "$name"
json="$CACHE_DIR/clusters/$name/cluster.json"
kubeconfig=$(jq -r .kubeconfig "$json")
kubectl=("$BIN_CACHE/kubernetes-$(k8s_version "$minor")/kubectl" --kubeconfig "$kubeconfig")
mapfile -t workers < <(jq -r '.nodes[] | select(.role == "worker") | .name' "$json")
((${#workers[@]} >= 2)) || die "expected two workers in $json"

# The CLI from this checkout, with the cluster's SSH key and known_hosts (host keys read out of band).
# Without the harness's CRI_MIGRATOR_CACHE: the CLI reads CRI_MIGRATOR_* variables as its own
# settings and refuses one it does not know.
cri_migrator() {
  env -u CRI_MIGRATOR_CACHE node "$REPO_DIR/dist/main.js" "$@" --kubeconfig "$kubeconfig" \
    --set "ssh.privateKeyPath=$(jq -r .sshKey "$json")" --set "ssh.knownHostsPath=$(jq -r .knownHosts "$json")"
}

log "a workload guarded by a PodDisruptionBudget (at most 1 of 4 pods down at a time)"
"${kubectl[@]}" apply -f - <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: app
          image: $(jq -r .testImage "$json")
          imagePullPolicy: Never
          command: [sh, -c, "touch /ready && exec sleep 100000"]
          readinessProbe: {exec: {command: [cat, /ready]}, periodSeconds: 1}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: demo}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: web}}
EOF
"${kubectl[@]}" -n demo rollout status deployment/web --timeout=180s
"${kubectl[@]}" get nodes -o wide

log "cri-migrator check: what still depends on Docker"
cri_migrator check || true

log "cri-migrator plan ${workers[0]}: what would happen (nothing is changed)"
cri_migrator plan "${workers[0]}"

log "cri-migrator migrate ${workers[*]}"
migrate_start=$SECONDS
cri_migrator migrate "${workers[@]}"
log "migrated ${#workers[@]} workers in $((SECONDS - migrate_start))s"

cri_migrator status
"${kubectl[@]}" get nodes -o wide
"${kubectl[@]}" -n demo get pods -o wide
log "demo done in $((SECONDS - start))s; remove the cluster with: bash hack/cluster.sh down --k8s $minor --name $name"
