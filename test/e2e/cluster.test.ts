// Smoke test of the kind harness: the cluster shape every other e2e test relies on.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as k8s from "@kubernetes/client-node";
import { ensureCluster, k8sMinors, kubeClients, releaseCluster, sshRun, waitFor, readText, type Cluster } from "./harness.js";

const ns = "harness-smoke";

describe.each(k8sMinors)("kind harness, Kubernetes %s", (minor) => {
  let cluster: Cluster;
  let api: ReturnType<typeof kubeClients>;

  beforeAll(async () => {
    cluster = await ensureCluster(minor);
    api = kubeClients(cluster);
    await api.core.deleteNamespace({ name: ns }).catch(() => undefined);
    await waitFor(`namespace ${ns} gone`, 120_000, async () =>
      api.core.readNamespace({ name: ns }).then(() => undefined, () => true),
    );
    await api.core.createNamespace({ body: { metadata: { name: ns } } });
  }, 90 * 60_000);

  afterAll(async () => {
    await api?.core.deleteNamespace({ name: ns }).catch(() => undefined);
    await releaseCluster(cluster);
  }, 120_000);

  it("has one containerd control plane and two Docker workers, all Ready", async () => {
    const nodes = (await api.core.listNode()).items;
    const table = nodes.map((n) => ({
      name: n.metadata!.name!,
      ready: n.status!.conditions!.find((c) => c.type === "Ready")!.status,
      kubelet: n.status!.nodeInfo!.kubeletVersion,
      runtime: n.status!.nodeInfo!.containerRuntimeVersion,
      controlPlane: n.metadata!.labels!["node-role.kubernetes.io/control-plane"] !== undefined,
      criSocket: n.metadata!.annotations!["kubeadm.alpha.kubernetes.io/cri-socket"],
    }));
    console.table(table);
    expect(table).toHaveLength(3);
    for (const row of table) {
      expect(row.ready).toBe("True");
      expect(row.kubelet).toBe(cluster.k8sVersion);
    }
    const cp = table.find((r) => r.controlPlane)!;
    expect(cp.runtime).toMatch(/^containerd:\/\//);
    const workers = table.filter((r) => !r.controlPlane);
    expect(workers).toHaveLength(2);
    for (const w of workers) {
      expect(w.runtime).toMatch(/^docker:\/\/20\.10\./);
      expect(w.criSocket).toMatch(minor === "1.23" ? /dockershim\.sock$/ : /cri-dockerd\.sock$/);
    }
  });

  it("runs a pod on each worker with the locally built test image, reaching the API through its Service", async () => {
    const workers = cluster.nodes.filter((n) => n.role === "worker");
    const dns = (await api.core.readNamespacedService({ namespace: "kube-system", name: "kube-dns" })).spec!.clusterIP!;
    for (const w of workers) {
      await api.core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: `hello-${w.name}` },
          spec: {
            nodeName: w.name,
            restartPolicy: "Never",
            containers: [{
              name: "hello", image: cluster.testImage, imagePullPolicy: "Never",
              // The worker's kube-proxy rules carry the query to CoreDNS (on another node) through
              // the kube-dns Service, and CoreDNS answers from the API server: Services, pod
              // network and DNS in one line.
              command: ["sh", "-c", `echo hello from $(hostname); nslookup kubernetes.default.svc.cluster.local ${dns}`],
            }],
          },
        },
      });
    }
    for (const w of workers) {
      const phase = await waitFor(`pod on ${w.name} to finish`, 180_000, async () => {
        const pod = await api.core.readNamespacedPod({ namespace: ns, name: `hello-${w.name}` });
        return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed" ? pod.status.phase : undefined;
      });
      const log = await api.core.readNamespacedPodLog({ namespace: ns, name: `hello-${w.name}` });
      expect(phase, `pod on ${w.name} ended ${phase}; its log:\n${log}`).toBe("Succeeded");
      expect(log).toContain(`hello from hello-${w.name}`);
      expect(log).toMatch(/Address:\s*10\.96\.0\.1\b/);
    }
  });

  it("opens SSH to each worker with host-key checking, and refuses an unknown host key", async () => {
    const workers = cluster.nodes.filter((n) => n.role === "worker");
    for (const w of workers) {
      const { stdout } = await sshRun(cluster, w.ip, "hostname; systemctl is-active kubelet docker containerd");
      expect(stdout.split("\n")).toEqual([w.name, "active", "active", "active", ""]);
    }
    // The same connection against a known_hosts that pins another node's key must fail.
    const target = workers[0]!;
    const lines = (await readText(cluster.knownHosts)).trim().split("\n");
    const other = lines.find((l) => !l.startsWith(`${target.name},`))!;
    const wrong = join(await mkdtemp(join(tmpdir(), "kh-")), "known_hosts");
    await writeFile(wrong, `${target.name},${target.ip} ${other.split(" ").slice(1).join(" ")}\n`);
    await expect(sshRun(cluster, target.ip, "true", wrong)).rejects.toThrow(/host key|HOST IDENTIFICATION/i);
  });

  it("answers 429 to an eviction that a PodDisruptionBudget blocks", async () => {
    const worker = cluster.nodes.find((n) => n.role === "worker")!;
    const labels = { app: "guarded" };
    await api.apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: "guarded" },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              nodeName: worker.name,
              containers: [{ name: "app", image: cluster.testImage, imagePullPolicy: "Never", command: ["sleep", "3600"] }],
            },
          },
        },
      },
    });
    await api.policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: { metadata: { name: "guarded" }, spec: { minAvailable: 1, selector: { matchLabels: labels } } },
    });
    // kube-controller-manager computes the PDB status once the pod is Ready.
    await waitFor("PDB status currentHealthy=1", 180_000, async () => {
      const pdb = await api.policy.readNamespacedPodDisruptionBudget({ namespace: ns, name: "guarded" });
      return pdb.status?.currentHealthy === 1 && pdb.status.disruptionsAllowed === 0 ? pdb : undefined;
    });
    const pod = (await api.core.listNamespacedPod({ namespace: ns, labelSelector: "app=guarded" })).items[0]!;
    const eviction: k8s.V1Eviction = { metadata: { name: pod.metadata!.name!, namespace: ns } };
    const err = await api.core
      .createNamespacedPodEviction({ name: pod.metadata!.name!, namespace: ns, body: eviction })
      .then(() => undefined, (e: unknown) => e as { code?: number; body?: string });
    expect(err?.code).toBe(429);
    expect(String(err?.body)).toContain("disruption budget");
  });
});
