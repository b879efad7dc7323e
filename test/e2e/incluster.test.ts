// Issue 4 end to end: the operator as users deploy it. Build the image here, load it into the
// kind nodes, apply manifests/ with kustomize, label a worker and watch the leader migrate it;
// delete the leader pod mid-migration and see the other replica finish; check that the
// ServiceAccount may do nothing beyond what manifests/rbac.yaml lists.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { ensureCluster, k8sMinors, kubeClients, releaseCluster, waitFor, type Cluster } from "./harness.js";

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const ns = "cri-migrator";
const sa = `system:serviceaccount:${ns}:cri-migrator`;
const big = { maxBuffer: 64 << 20 };

// The latest version is enough here: what this suite adds (image, manifests, RBAC, leader
// election in pods) does not depend on the node's source runtime, which migrate.test.ts covers.
const minor = k8sMinors[k8sMinors.length - 1]!;

describe(`in-cluster deployment on Kubernetes ${minor}`, () => {
  let cluster: Cluster;
  let api: ReturnType<typeof kubeClients>;
  let kubectl: (...args: string[]) => Promise<string>;
  let image: string;

  beforeAll(async () => {
    const built = await run("bash", [`${repoRoot}/hack/build-app-image.sh`], big);
    image = built.stdout.trim().split("\n").pop()!;
    cluster = await ensureCluster(minor, `crim-${minor.replace(".", "")}-ic`);
    api = kubeClients(cluster);
    kubectl = async (...args) => (await run(cluster.kubectl, ["--kubeconfig", cluster.kubeconfig, ...args], big)).stdout;
    // The manifests tolerate and prefer the control plane, where the replicas land on this cluster.
    // kind imports into containerd only, and the Docker workers' containerd has no CRI config yet.
    const controlPlane = cluster.nodes.find((n) => n.role === "control-plane")!.name;
    await run(cluster.kind, ["load", "docker-image", image, "--name", cluster.name, "--nodes", controlPlane], big);
    await kubectl("create", "namespace", ns);
    await kubectl("-n", ns, "create", "secret", "generic", "cri-migrator-ssh",
      `--from-file=id_ed25519=${cluster.sshKey}`, `--from-file=known_hosts=${cluster.knownHosts}`);
    // No registry here: the image exists on the control plane only, so both replicas go there
    // (the shipped manifests merely prefer it, and spread replicas across nodes).
    const rendered = (await kubectl("kustomize", `${repoRoot}/manifests`))
      .replaceAll("cri-migrator.local/cri-migrator:dev", image)
      .replace(/^(\s+)serviceAccountName: cri-migrator$/m, '$1serviceAccountName: cri-migrator\n$1nodeSelector: {"node-role.kubernetes.io/control-plane": ""}');
    expect(rendered).toContain("nodeSelector");
    const apply = execFile(cluster.kubectl, ["--kubeconfig", cluster.kubeconfig, "apply", "-f", "-"], big);
    apply.stdin!.end(rendered);
    await new Promise<void>((resolve, reject) => apply.on("exit", (c) => (c === 0 ? resolve() : reject(new Error(`kubectl apply exited ${c}`)))));
    await kubectl("-n", ns, "rollout", "status", "deployment/cri-migrator", "--timeout=300s");
  }, 90 * 60_000);

  afterAll(async () => releaseCluster(cluster), 120_000);

  it("gives the ServiceAccount nothing beyond the documented rules", async () => {
    // `kubectl auth can-i --list` columns: Resources, Non-Resource URLs, Resource Names, Verbs.
    // Non-resource rows (discovery URLs like /api, /healthz) have no Resources cell: 3 fields.
    const rules = async (...scope: string[]) =>
      (await kubectl("auth", "can-i", "--list", `--as=${sa}`, ...scope))
        .split("\n").slice(1).filter(Boolean)
        .map((line) => line.trim().split(/\s{2,}/))
        .filter((fields) => fields.length === 4)
        .map(([resource, , names, verbs]) => ({ resource: resource!, names, verbs }))
        // Every authenticated user may review its own access: not ours to grant.
        .filter((r) => !/^self\w+reviews\./.test(r.resource));
    const cluster_ = await rules();
    const namespaced = await rules("-n", ns);
    console.table(namespaced);
    // kubectl merges rules per resource; compare resource -> verbs.
    const verbsByResource = (rs: { resource: string; verbs?: string }[]) => {
      const out: Record<string, string[]> = {};
      for (const r of rs) out[r.resource] = [...new Set([...(out[r.resource] ?? []), ...(r.verbs ?? "").replace(/[[\]]/g, "").split(" ")])].sort();
      return out;
    };
    const clusterWide = {
      nodes: ["get", "list", "patch", "watch"],
      pods: ["get", "list", "watch"],
      "pods/eviction": ["create"],
      events: ["create", "patch"],
    };
    expect(verbsByResource(cluster_)).toEqual(clusterWide);
    // In its own namespace, also the Lease and the smoke pod.
    expect(verbsByResource(namespaced)).toEqual({
      ...clusterWide,
      pods: ["create", "delete", "get", "list", "watch"],
      "leases.coordination.k8s.io": ["create", "get", "update"],
    });
  });

  it("migrates a labelled worker, and the standby replica finishes when the leader pod dies", async () => {
    const target = cluster.nodes.find((n) => n.role === "worker")!.name;
    const lease = () => api.coordination.readNamespacedLease({ namespace: ns, name: "cri-migrator" });
    const leader = (await waitFor("a leader", 120_000, async () => (await lease()).spec?.holderIdentity || undefined))!;
    await api.core.patchNode(
      { name: target, body: { metadata: { labels: { "cri-migrator.dev/migrate": "containerd" } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    const midway = await waitFor(`${target} past the drain`, 600_000, async () => {
      const n = await api.core.readNode({ name: target });
      const a = n.metadata?.annotations ?? {};
      return a["cri-migrator.dev/phase"] === "Drained" || a["cri-migrator.dev/intent"] === "RuntimeConfigured" ? a : undefined;
    });
    await kubectl("-n", ns, "delete", "pod", leader, "--grace-period=0", "--force", "--wait=false");
    console.log(`deleted leader ${leader} at phase ${midway["cri-migrator.dev/phase"]}, intent ${midway["cri-migrator.dev/intent"] ?? "-"}`);

    const done = await waitFor(`${target} Succeeded`, 15 * 60_000, async () => {
      const n = await api.core.readNode({ name: target });
      const phase = n.metadata?.annotations?.["cri-migrator.dev/phase"];
      if (phase === "RolledBack" || phase === "Failed") throw new Error(`${target} ended ${phase}: ${n.metadata?.annotations?.["cri-migrator.dev/last-error"]}`);
      return phase === "Succeeded" ? n : undefined;
    });
    const newLeader = (await lease()).spec?.holderIdentity;
    console.log(`${target} Succeeded; lease now held by ${newLeader}`);
    expect(newLeader).toBeTruthy();
    expect(newLeader).not.toBe(leader);
    expect(done.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
    expect(done.spec?.unschedulable ?? false).toBe(false);

    const metrics = await kubectl("get", "--raw", `/api/v1/namespaces/${ns}/services/cri-migrator-metrics:8080/proxy/metrics`);
    expect(metrics).toMatch(/^cri_migrator_nodes\{phase="Succeeded"\} 1$/m);
  });
});
