// What README "In the cluster" documents for the ServiceAccount, and `kubectl auth can-i --list`
// read back as resource -> verbs (incluster.ts for the kustomize install,
// control-plane-ha.test.ts for the Helm install in a namespace of its own).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Cluster } from "./harness.js";

const run = promisify(execFile);

// resource -> verbs, as `kubectl auth can-i --list` shows them.
export const clusterWide = {
  nodes: ["get", "list", "patch", "watch"],
  pods: ["get", "list", "watch"],
  "pods/eviction": ["create"],
  events: ["create", "patch"],
  "poddisruptionbudgets.policy": ["get"],
};
// In its own namespace, also the Lease, the smoke pod (and its Events) and the rollout's pause ConfigMap.
export const inOwnNamespace = {
  ...clusterWide,
  pods: ["create", "delete", "get", "list", "watch"],
  "leases.coordination.k8s.io": ["create", "get", "update"],
  configmaps: ["get"],
  events: ["create", "list", "patch"],
};

/** What `user` may do, cluster-wide or with `scope` (e.g. -n NS). */
export async function canI(cluster: Cluster, user: string, ...scope: string[]): Promise<Record<string, string[]>> {
  const { stdout } = await run(cluster.kubectl, ["--kubeconfig", cluster.kubeconfig, "auth", "can-i", "--list", `--as=${user}`, ...scope], { maxBuffer: 64 << 20 });
  // Columns: Resources, Non-Resource URLs, Resource Names, Verbs. Non-resource rows (discovery
  // URLs like /api, /healthz) have no Resources cell: 3 fields. kubectl merges rules per resource.
  const rows = stdout
    .split("\n").slice(1).filter(Boolean)
    .map((line) => line.trim().split(/\s{2,}/))
    .filter((fields) => fields.length === 4)
    .map(([resource, , names, verbs]) => ({ resource: resource!, names, verbs }))
    // Every authenticated user may review its own access: not ours to grant.
    .filter((r) => !/^self\w+reviews\./.test(r.resource));
  if (scope.length) console.table(rows);
  const out: Record<string, string[]> = {};
  for (const r of rows) out[r.resource] = [...new Set([...(out[r.resource] ?? []), ...(r.verbs ?? "").replace(/[[\]]/g, "").split(" ")])].sort();
  return out;
}
