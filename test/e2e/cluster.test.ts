// The kind harness's long shapes (E2E_HARNESS_LONG=1): three Docker control planes behind the
// load balancer, and a worker restarted as after a power loss. The default shape's checks run in
// migrate.test.ts on its clusters, the variants' in nodes.test.ts: one cluster each.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as k8s from "@kubernetes/client-node";
import { clusterName, ensureCluster, k8sMinors, kubeClients, releaseCluster, sshRun, waitFor, readText, type Cluster } from "./harness.js";

const ns = "harness-smoke";
const run = promisify(execFile);

// Longer harness checks, E2E_HARNESS_LONG=1 (not in the default run; times in the README):
// three control planes on Docker behind kind's load balancer, and a worker restarted as after
// a power loss.
const harnessLong = process.env.E2E_HARNESS_LONG === "1";
// describe.each over no versions would leave the file without a suite, which vitest fails: the
// versions are always listed, and skipped without E2E_HARNESS_LONG.
describe.runIf(harnessLong).each(k8sMinors)("kind harness, HA control planes on Docker, Kubernetes %s", (minor) => {
  let cluster: Cluster;
  let api: ReturnType<typeof kubeClients>;

  beforeAll(async () => {
    cluster = await ensureCluster(minor, clusterName(minor, "-ha"),
      { controlPlanes: 3, cpRuntime: "docker", workers: "docker" });
    api = kubeClients(cluster);
    await api.core.createNamespace({ body: { metadata: { name: ns } } }).catch(() => undefined);
  }, 90 * 60_000);

  afterAll(async () => {
    await releaseCluster(cluster);
  }, 120_000);

  it("has three Ready control planes on Docker whose static pods run under Docker, with one etcd of three members", async () => {
    const cps = cluster.nodes.filter((n) => n.role === "control-plane");
    expect(cps).toHaveLength(3);
    expect(cluster.nodes.filter((n) => n.role === "worker")).toHaveLength(1);
    const nodes = (await api.core.listNode()).items;
    for (const n of nodes) {
      expect(n.status!.conditions!.find((c) => c.type === "Ready")!.status).toBe("True");
      expect(n.status!.nodeInfo!.containerRuntimeVersion).toMatch(/^docker:\/\/20\.10\./);
    }
    const readyz = await run(cluster.kubectl, ["--kubeconfig", cluster.kubeconfig, "get", "--raw", "/readyz/etcd"]);
    expect(readyz.stdout).toBe("ok");
    for (const cp of cps) {
      expect(cp.variant).toBe("docker");
      const { stdout } = await sshRun(cluster, cp.ip,
        "docker ps --filter label=io.kubernetes.pod.namespace=kube-system --format '{{.Label \"io.kubernetes.container.name\"}}' | sort -u | tr '\\n' ' '");
      expect(stdout.split(" ")).toEqual(expect.arrayContaining(["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]));
      // etcd's metrics port (kubeadm: http://127.0.0.1:2381): this member has a leader and two peers.
      const metrics = (await sshRun(cluster, cp.ip,
        "exec 3<>/dev/tcp/127.0.0.1/2381; printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3")).stdout;
      expect(metrics).toMatch(/^etcd_server_has_leader 1$/m);
      expect(metrics.match(/^etcd_network_active_peers\{.*\} 1$/gm)).toHaveLength(2);
    }
  });

  it("brings a worker restarted like after a power loss back Ready, its pods reaching a Service", async () => {
    const worker = cluster.nodes.find((n) => n.role === "worker")!;
    await run("docker", ["restart", worker.name]);
    const restarted = new Date();
    // The kubelet that renews the node's Lease after the restart is the new one.
    await waitFor(`${worker.name} Ready again after its restart`, 300_000, async () => {
      const lease = await api.coordination.readNamespacedLease({ namespace: "kube-node-lease", name: worker.name });
      const node = await api.core.readNode({ name: worker.name });
      const ready = node.status!.conditions!.find((c) => c.type === "Ready")!.status === "True";
      return ready && new Date(lease.spec!.renewTime!) > restarted ? true : undefined;
    });
    // What node-net put back: a route per other node's pod CIDR, every node and the load balancer by name.
    const { stdout } = await sshRun(cluster, worker.ip,
      "ip route | grep -c '^10\\.244\\.'; sed -n '/^# BEGIN cluster nodes/,/^# END cluster nodes/p' /etc/hosts | grep -vc '^#'");
    expect(stdout.trim().split("\n").map(Number)).toEqual([3, 5]);
    await run(cluster.kubectl, ["--kubeconfig", cluster.kubeconfig, "-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=180s"]);
    const dns = (await api.core.readNamespacedService({ namespace: "kube-system", name: "kube-dns" })).spec!.clusterIP!;
    const podName = "after-restart";
    await api.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: podName },
        spec: {
          nodeName: worker.name, restartPolicy: "Never",
          // Asked until it answers (60 s at most): right after the restart the node's CoreDNS
          // replicas can start before kube-proxy has written the rules for 10.96.0.1, and answer
          // NXDOMAIN until their informers catch up.
          containers: [{ name: "c", image: cluster.testImage, imagePullPolicy: "Never",
            command: ["sh", "-c", `for i in $(seq 30); do nslookup kubernetes.default.svc.cluster.local ${dns} && echo "answered at try $i" && exit 0; sleep 2; done; exit 1`] }],
        },
      },
    });
    const phase = await waitFor("pod after the restart to finish", 180_000, async () => {
      const pod = await api.core.readNamespacedPod({ namespace: ns, name: podName });
      return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed" ? pod.status.phase : undefined;
    });
    const log = await api.core.readNamespacedPodLog({ namespace: ns, name: podName });
    expect(phase, log).toBe("Succeeded");
    expect(log).toMatch(/Address:\s*10\.96\.0\.1\b/);
  });
});
