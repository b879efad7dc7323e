// Issue 4 end to end: the operator as users deploy it, run by control-plane-single.test.ts on its
// cluster once the CLI has moved the control plane to containerd. Build the image here, load it
// into the control plane, apply manifests/ with kustomize, label the Docker worker and watch the
// leader migrate it; delete the leader pod mid-migration and see the other replica finish; check
// that the ServiceAccount may do nothing beyond what manifests/rbac.yaml lists.
// Then the Helm chart (issue 9): helm template renders what kubectl kustomize does. The chart
// installed with `helm install` (into a namespace of its own, its ServiceAccount's rights
// checked) migrates the control planes in control-plane-ha.test.ts.
import { describe, it, expect, beforeAll } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { waitFor, type Cluster } from "./harness.js";
import type { Api } from "./ops.js";
import { comparable, helmTemplate, parseObjects, ruleList } from "../packaging.js";
import { canI, clusterWide, inOwnNamespace } from "./rbac.js";

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const ns = "cri-migrator";
const sa = `system:serviceaccount:${ns}:cri-migrator`;
const big = { maxBuffer: 64 << 20 };

/**
 * The in-cluster cases on the cluster `get` gives: its control plane on containerd (the image is
 * loaded there, where both replicas run), one worker on Docker. The latest Kubernetes version is
 * enough: what these cases add (image, manifests, RBAC, leader election in pods) does not depend
 * on the node's source runtime, which the migration suites cover.
 */
export function describeInCluster(get: () => { cluster: Cluster; api: Api }): void {
describe("in-cluster deployment", () => {
  let cluster: Cluster;
  let api: Api;
  let kubectl: (...args: string[]) => Promise<string>;
  let image: string;
  let helm: string;
  /** `kubectl kustomize manifests` as it is, before the test's image and nodeSelector. */
  let kustomized: string;

  const migrated = async (target: string) => waitFor(`${target} Succeeded`, 15 * 60_000, async () => {
    const n = await api.core.readNode({ name: target });
    const phase = n.metadata?.annotations?.["cri-migrator.dev/phase"];
    if (phase === "RolledBack" || phase === "Failed") throw new Error(`${target} ended ${phase}: ${n.metadata?.annotations?.["cri-migrator.dev/last-error"]}`);
    return phase === "Succeeded" ? n : undefined;
  });
  const label = (target: string) => api.core.patchNode(
    { name: target, body: { metadata: { labels: { "cri-migrator.dev/migrate": "containerd" } } } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  const apply = async (verb: "apply" | "delete", yaml: string, ...extra: string[]) => {
    const child = execFile(cluster.kubectl, ["--kubeconfig", cluster.kubeconfig, verb, "-f", "-", ...extra], big);
    child.stdin!.end(yaml);
    await new Promise<void>((resolve, reject) => child.on("exit", (c) => (c === 0 ? resolve() : reject(new Error(`kubectl ${verb} exited ${c}`)))));
  };

  beforeAll(async () => {
    helm = (await run("bash", [`${repoRoot}/hack/build-pkg-tools.sh`, "helm"], big)).stdout.trim();
    // E2E_APP_IMAGE: another tag than cri-migrator.local/cri-migrator:dev, beside another run.
    const built = await run("bash", [`${repoRoot}/hack/build-app-image.sh`, ...(process.env.E2E_APP_IMAGE ? [process.env.E2E_APP_IMAGE] : [])], big);
    image = built.stdout.trim().split("\n").pop()!;
    ({ cluster, api } = get());
    kubectl = async (...args) => (await run(cluster.kubectl, ["--kubeconfig", cluster.kubeconfig, ...args], big)).stdout;
    // The manifests tolerate and prefer the control plane, where the replicas land on this cluster.
    // kind imports into containerd only: the control plane runs on it since the CLI's case, the
    // Docker worker's containerd has no CRI config yet.
    const controlPlane = cluster.nodes.find((n) => n.role === "control-plane")!.name;
    await run(cluster.kind, ["load", "docker-image", image, "--name", cluster.name, "--nodes", controlPlane], big);
    // The CLI's cases before these may have made it already.
    await api.core.createNamespace({ body: { metadata: { name: ns } } }).catch(() => undefined);
    await kubectl("-n", ns, "create", "secret", "generic", "cri-migrator-ssh",
      `--from-file=id_ed25519=${cluster.sshKey}`, `--from-file=known_hosts=${cluster.knownHosts}`);
    // No registry here: the image exists on the control plane only, so both replicas go there
    // (the shipped manifests merely prefer it, and spread replicas across nodes).
    kustomized = await kubectl("kustomize", `${repoRoot}/manifests`);
    const rendered = kustomized
      .replaceAll("cri-migrator.local/cri-migrator:dev", image)
      .replace(/^(\s+)serviceAccountName: cri-migrator$/m, '$1serviceAccountName: cri-migrator\n$1nodeSelector: {"node-role.kubernetes.io/control-plane": ""}');
    expect(rendered).toContain("nodeSelector");
    await apply("apply", rendered);
    await kubectl("-n", ns, "rollout", "status", "deployment/cri-migrator", "--timeout=300s");
  }, 90 * 60_000);

  it("gives the ServiceAccount nothing beyond the documented rules", async () => {
    expect(await canI(cluster, sa)).toEqual(clusterWide);
    expect(await canI(cluster, sa, "-n", ns)).toEqual(inOwnNamespace);
  });

  it("migrates a labelled worker, and the standby replica finishes when the leader pod dies", async () => {
    const target = cluster.nodes.find((n) => n.role === "worker")!.name;
    expect((await api.core.readNode({ name: target })).status?.nodeInfo?.containerRuntimeVersion).toMatch(/^docker:\/\//);
    const lease = () => api.coordination.readNamespacedLease({ namespace: ns, name: "cri-migrator" });
    const leader = (await waitFor("a leader", 120_000, async () => (await lease()).spec?.holderIdentity || undefined))!;
    await label(target);
    const midway = await waitFor(`${target} past the drain`, 600_000, async () => {
      const n = await api.core.readNode({ name: target });
      const a = n.metadata?.annotations ?? {};
      return a["cri-migrator.dev/phase"] === "Drained" || a["cri-migrator.dev/intent"] === "RuntimeConfigured" ? a : undefined;
    });
    await kubectl("-n", ns, "delete", "pod", leader, "--grace-period=0", "--force", "--wait=false");
    console.log(`deleted leader ${leader} at phase ${midway["cri-migrator.dev/phase"]}, intent ${midway["cri-migrator.dev/intent"] ?? "-"}`);

    const done = await migrated(target);
    const newLeader = (await lease()).spec?.holderIdentity;
    console.log(`${target} Succeeded; lease now held by ${newLeader}`);
    expect(newLeader).toBeTruthy();
    expect(newLeader).not.toBe(leader);
    expect(done.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
    expect(done.spec?.unschedulable ?? false).toBe(false);

    // Every node carrying our state is counted: the worker, and the control plane the CLI moved.
    const succeeded = (await api.core.listNode()).items.filter((n) => n.metadata?.annotations?.["cri-migrator.dev/phase"] === "Succeeded").length;
    expect(succeeded).toBe(2);
    const metrics = await kubectl("get", "--raw", `/api/v1/namespaces/${ns}/services/cri-migrator-metrics:8080/proxy/metrics`);
    expect(metrics).toMatch(new RegExp(`^cri_migrator_nodes\\{phase="Succeeded"\\} ${succeeded}$`, "m"));
  });

  it("helm template renders the objects kubectl kustomize does (RBAC rules and Deployment spec included)", () => {
    const chart = comparable(helmTemplate(helm, "cri-migrator", ns, "--set", "namespace.create=true"));
    const kustomize = comparable(parseObjects(kustomized));
    for (const kind of ["ClusterRole", "Role"]) expect(ruleList(chart[`${kind}/cri-migrator`]), kind).toEqual(ruleList(kustomize[`${kind}/cri-migrator`]));
    expect(chart["Deployment/cri-migrator"]!.spec).toEqual(kustomize["Deployment/cri-migrator"]!.spec);
    expect(chart).toEqual(kustomize);
  });
});
}
