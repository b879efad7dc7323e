// Issue 12 end to end: a single control plane on Docker (and one worker), Kubernetes 1.32,
// migrated from outside with the CLI, which rides out its API server's downtime. Then, on the
// same cluster, the operator deployed in it migrates the worker (incluster.ts, issue 4).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterName, ensureCluster, kubeClients, releaseCluster, waitFor, type Cluster } from "./harness.js";
import { runCli, writeConfig } from "./controller.js";
import { isReady, phaseOf, runtimeOf, type Api } from "./ops.js";
import { staticPodsOn, watchApi } from "./control-plane.js";
import { describeInCluster } from "./incluster.js";

describe(`a single control plane on Docker, Kubernetes 1.32`, () => {
  let cluster: Cluster;
  let api: Api;

  beforeAll(async () => {
    cluster = await ensureCluster("1.32", clusterName("1.32", "-1cp"), { controlPlanes: 1, cpRuntime: "docker", workers: "docker" });
    api = kubeClients(cluster);
    await api.core.createNamespace({ body: { metadata: { name: "cri-migrator" } } }).catch(() => undefined);
  }, 90 * 60_000);

  afterAll(async () => releaseCluster(cluster), 180_000);

  it("the CLI migrates it, riding out the API server's downtime", async () => {
    const cp = cluster.nodes.find((n) => n.role === "control-plane")!;
    const config = await writeConfig(cluster, "allowControlPlane: true\nminReadyNodes: 0\ndrain:\n  evictionRetrySeconds: 1\n");
    const plan = await runCli(cluster, config, ["plan", cp.name]);
    expect(plan.stdout).toMatch(/single control plane: the API server is unavailable from the kubelet's stop/);
    const watcher = watchApi(api);
    const t0 = Date.now();
    const r = await runCli(cluster, config, ["migrate", cp.name]);
    const seen = await watcher.stop();
    console.log(r.stderr.split("\n").slice(-25).join("\n"));
    console.log(`single control plane migrated in ${((Date.now() - t0) / 1000).toFixed(0)} s; API downtime (longest gap between answers): ${(seen.longestGapMs / 1000).toFixed(1)} s; ${seen.failures} of ${seen.requests} requests failed`);
    expect(r.code, r.stderr).toBe(0);
    const node = await waitFor("the control plane Ready on containerd", 300_000, async () => {
      const n = await api.core.readNode({ name: cp.name });
      return isReady(n) && runtimeOf(n).startsWith("containerd://") ? n : undefined;
    });
    expect(phaseOf(node)).toBe("Succeeded");
    const pods = await staticPodsOn(api, cp.name);
    expect(pods.every((p) => p.ready && p.runtime === "containerd"), JSON.stringify(pods)).toBe(true);
  }, 30 * 60_000);

  describeInCluster(() => ({ cluster, api }));
});
