// Issue 3 end to end: the controller migrates a Docker worker that runs a PDB-guarded
// Deployment; a broken containerd config is rolled back; a controller killed mid-migration
// is replaced by one that finishes it (E2E_LONG=1; make test covers it with the SIGKILL fault
// cells on 1.32). Each Kubernetes version gets a fresh cluster of its own (the workers start on
// Docker), removed afterwards unless E2E_KEEP=1.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { PatchStrategy, setHeaderOptions, Watch } from "@kubernetes/client-node";
import type * as k8s from "@kubernetes/client-node";
import { ensureCluster, k8sMinors, kubeClients, LONG, readText, releaseCluster, sshRun, waitFor, type Cluster } from "./harness.js";

const run = promisify(execFile);
import { runCli, startController, writeConfig, type RunningController } from "./controller.js";
import { describeOperations } from "./operations.js";

/** The version whose cluster also runs the operations cases (faults, fleet policy). */
const OPERATIONS_MINOR = "1.32";

const ns = "e2e-migrate";
const label = "cri-migrator.dev/migrate";
const replicas = 4;
const maxUnavailable = 1;

/**
 * The migration suite on one Kubernetes version (migrate-123.test.ts and migrate-132.test.ts, so
 * that the two run in parallel with the other suites); skipped when E2E_K8S leaves it out.
 */
export function describeMigration(minor: string): void {
describe.runIf(k8sMinors.includes(minor))(`migration on Kubernetes ${minor}`, () => {
  const clusterName = `crim-${minor.replace(".", "")}-mig`;
  let cluster: Cluster;
  let api: ReturnType<typeof kubeClients>;
  let configPath: string;
  let controller: RunningController | undefined;
  let workers: string[];

  const node = (name: string) => api.core.readNode({ name });
  const phaseOf = (n: k8s.V1Node) => n.metadata?.annotations?.["cri-migrator.dev/phase"];

  async function waitPhase(name: string, phases: string[], timeoutMs: number): Promise<k8s.V1Node> {
    return waitFor(`${name} to reach ${phases.join("|")}`, timeoutMs, async () => {
      const n = await node(name);
      const phase = phaseOf(n);
      if (phase === "Failed" && !phases.includes("Failed")) {
        throw new Error(`${name} ended Failed: ${n.metadata?.annotations?.["cri-migrator.dev/last-error"]}`);
      }
      return phase && phases.includes(phase) ? n : undefined;
    });
  }

  /**
   * Ready pods of the guarded Deployment, followed through a watch (a list, then every change
   * from its resourceVersion): the lowest count after any change, so no dip can fall between
   * two samples.
   */
  async function watchAvailability() {
    const isReady = (p: k8s.V1Pod) =>
      !p.metadata?.deletionTimestamp && (p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false);
    const list = await api.core.listNamespacedPod({ namespace: ns, labelSelector: "app=web" });
    const ready = new Map(list.items.map((p) => [p.metadata!.name!, isReady(p)]));
    const count = () => [...ready.values()].filter(Boolean).length;
    let min = count();
    let changes = 0;
    let resourceVersion = list.metadata!.resourceVersion!;
    let request: AbortController | undefined;
    let stopped = false;
    let failure: unknown;
    const watch = new Watch(api.kc);
    const start = async (): Promise<void> => {
      request = await watch.watch(
        `/api/v1/namespaces/${ns}/pods`,
        { labelSelector: "app=web", resourceVersion, allowWatchBookmarks: true },
        (type: string, pod: k8s.V1Pod) => {
          resourceVersion = pod.metadata?.resourceVersion ?? resourceVersion;
          if (type === "BOOKMARK") return;
          if (type === "ERROR") return void (failure = new Error(`pod watch error: ${JSON.stringify(pod)}`));
          changes++;
          if (type === "DELETED") ready.delete(pod.metadata!.name!);
          else ready.set(pod.metadata!.name!, isReady(pod));
          min = Math.min(min, count());
        },
        // A watch the server ends is resumed from the last resourceVersion seen.
        (err: unknown) => {
          if (stopped) return;
          if (err) failure = err;
          else void start().catch((e: unknown) => (failure = e));
        },
      );
    };
    await start();
    return {
      async stop() {
        stopped = true;
        request?.abort();
        if (failure) throw failure;
        return { min, changes };
      },
    };
  }

  /** Our Events on the node, oldest first, with seconds since the first. */
  async function timeline(name: string) {
    const events = (await api.core.listNamespacedEvent({ namespace: "default", fieldSelector: `involvedObject.name=${name}` })).items
      .filter((e) => e.reason?.startsWith("Migration"))
      .map((e) => ({ reason: e.reason!, at: new Date(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? 0).getTime(), message: e.message ?? "" }))
      .sort((a, b) => a.at - b.at);
    const t0 = events[0]?.at ?? 0;
    return events.map((e) => ({ t: ((e.at - t0) / 1000).toFixed(1), reason: e.reason, message: e.message.slice(0, 100) }));
  }

  beforeAll(async () => {
    cluster = await ensureCluster(minor, clusterName);
    api = kubeClients(cluster);
    workers = cluster.nodes.filter((n) => n.role === "worker").map((n) => n.name);
    for (const name of [ns, "cri-migrator"]) {
      await api.core.createNamespace({ body: { metadata: { name } } }).catch(() => undefined);
    }
    // Rollback must not take minutes: two attempts per phase, short backoff.
    configPath = await writeConfig(cluster, "retries:\n  maxAttempts: 2\n  initialBackoffSeconds: 2\n");
    const labels = { app: "web" };
    await api.apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: "web" },
        spec: {
          replicas,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              terminationGracePeriodSeconds: 2,
              containers: [{
                name: "app", image: cluster.testImage, imagePullPolicy: "Never",
                command: ["sh", "-c", "exec sleep 100000"],
                // No probe: Ready as soon as it runs, and only a pod going away counts against the
                // budget. An exec probe every second (what this had) cost four container execs a
                // second per cluster on this 2-core machine (each a runc exec, with the harness's runc
                // wrapper), and under load it timed out and turned all four pods unready at once.
              }],
            },
          },
        },
      },
    });
    await api.policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: { metadata: { name: "web" }, spec: { maxUnavailable, selector: { matchLabels: labels } } },
    });
    await waitFor("web Deployment available", 180_000, async () => {
      const d = await api.apps.readNamespacedDeployment({ namespace: ns, name: "web" });
      return d.status?.readyReplicas === replicas ? d : undefined;
    });
  }, 90 * 60_000);

  afterAll(async () => {
    await controller?.kill();
    await releaseCluster(cluster);
  }, 180_000);

  // The harness's default shape, checked first on the cluster the migrations then use: on 1.23 in
  // make test (the same checks on 1.32 in make test-long; every 1.32 case below stands on them too).
  describe.runIf(LONG || minor === "1.23")("the kind harness", () => {
    const smokeNs = "harness-smoke";
    beforeAll(async () => {
      await api.core.createNamespace({ body: { metadata: { name: smokeNs } } }).catch(() => undefined);
    });
    // Its pods (one pinned behind a PodDisruptionBudget) must not stand in the migrations' way.
    afterAll(async () => {
      await api.core.deleteNamespace({ name: smokeNs }).catch(() => undefined);
      await waitFor(`namespace ${smokeNs} gone`, 180_000, async () => api.core.readNamespace({ name: smokeNs }).then(() => undefined, () => true));
    }, 240_000);

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
          namespace: smokeNs,
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
          const pod = await api.core.readNamespacedPod({ namespace: smokeNs, name: `hello-${w.name}` });
          return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed" ? pod.status.phase : undefined;
        });
        const log = await api.core.readNamespacedPodLog({ namespace: smokeNs, name: `hello-${w.name}` });
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
        namespace: smokeNs,
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
        namespace: smokeNs,
        body: { metadata: { name: "guarded" }, spec: { minAvailable: 1, selector: { matchLabels: labels } } },
      });
      // kube-controller-manager computes the PDB status once the pod is Ready.
      await waitFor("PDB status currentHealthy=1", 180_000, async () => {
        const pdb = await api.policy.readNamespacedPodDisruptionBudget({ namespace: smokeNs, name: "guarded" });
        return pdb.status?.currentHealthy === 1 && pdb.status.disruptionsAllowed === 0 ? pdb : undefined;
      });
      const pod = (await api.core.listNamespacedPod({ namespace: smokeNs, labelSelector: "app=guarded" })).items[0]!;
      const eviction: k8s.V1Eviction = { metadata: { name: pod.metadata!.name!, namespace: smokeNs } };
      const err = await api.core
        .createNamespacedPodEviction({ name: pod.metadata!.name!, namespace: smokeNs, body: eviction })
        .then(() => undefined, (e: unknown) => e as { code?: number; body?: string });
      expect(err?.code).toBe(429);
      expect(String(err?.body)).toContain("disruption budget");
    });
  });

  // On 1.23 in make test; on 1.32 plan's output is checked by the PDB and nodes-as-users-have-them cases.
  it.runIf(LONG || minor === "1.23")("plans a migration and changes nothing: node, files and pods are the same before and after", async () => {
    const target = workers[0]!;
    const ip = ipOf(cluster, target);
    const snapshot = async () => {
      const n = await node(target);
      const pods = (await api.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${target}` })).items
        .map((p) => `${p.metadata?.namespace}/${p.metadata?.name} ${p.metadata?.uid} ${p.status?.phase}`).sort();
      const files = (await sshRun(cluster, ip,
        "sha256sum /etc/containerd/config.toml /var/lib/kubelet/kubeadm-flags.env /var/lib/kubelet/config.yaml; " +
        "test -e /etc/crictl.yaml && echo crictl.yaml present || echo crictl.yaml absent; " +
        "ls -A /var/lib/cri-migrator 2>/dev/null | wc -l; systemctl is-active docker kubelet containerd")).stdout;
      return { labels: n.metadata?.labels, annotations: n.metadata?.annotations, unschedulable: n.spec?.unschedulable ?? false, pods, files };
    };
    const before = await snapshot();
    const plan = await runCli(cluster, configPath, ["plan", target]);
    const after = await snapshot();
    console.log(plan.stdout);
    expect(plan.stderr).not.toMatch(/error/i);
    expect(plan.code).toBe(0);
    expect(after).toEqual(before);
    // What the plan shows: the guarded pods it would evict, the file diffs, the commands, the node patch.
    const guarded = before.pods.filter((p) => p.startsWith(`${ns}/web-`)).map((p) => p.split(" ")[0]!.split("/")[1]!);
    expect(guarded.length).toBeGreaterThan(0);
    for (const pod of guarded) expect(plan.stdout).toContain(pod);
    expect(plan.stdout).toContain("/etc/containerd/config.toml");
    expect(plan.stdout).toContain(`+SystemdCgroup = ${minor === "1.23" ? "false" : "true"}`);
    expect(plan.stdout).toContain("/var/lib/kubelet/kubeadm-flags.env");
    expect(plan.stdout).toContain("--container-runtime-endpoint=unix:///run/containerd/containerd.sock");
    expect(plan.stdout).toContain("systemctl restart containerd.service");
    expect(plan.stdout).toContain("kubeadm.alpha.kubernetes.io/cri-socket");
  });

  it("migrates a labelled Docker worker to containerd without violating the PDB", async () => {
    const target = workers[0]!;
    const before = await node(target);
    expect(before.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^docker:\/\//);
    const podsOnTarget = (await api.core.listNamespacedPod({ namespace: ns, fieldSelector: `spec.nodeName=${target}` })).items.length;

    controller = await startController(cluster, configPath, "first");
    const availability = await watchAvailability();
    const started = Date.now();
    await api.core.patchNode({ name: target, body: { metadata: { labels: { [label]: "containerd" } } } }, mergePatch());
    const done = await waitPhase(target, ["Succeeded", "RolledBack"], 15 * 60_000);
    const elapsed = (Date.now() - started) / 1000;
    const seen = await availability.stop();
    console.table(await timeline(target));
    console.log(`${target}: ${phaseOf(done)} in ${elapsed.toFixed(1)} s; ${podsOnTarget} guarded pods were on it; ` +
      `lowest Ready count of ${replicas} seen: ${seen.min} over ${seen.changes} pod changes (watched)`);

    expect(phaseOf(done)).toBe("Succeeded");
    expect(done.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
    expect(done.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    expect(done.spec?.unschedulable ?? false).toBe(false);
    expect(done.metadata?.labels?.["cri-migrator.dev/migrated"]).toBe("containerd");
    expect(done.metadata?.annotations?.["kubeadm.alpha.kubernetes.io/cri-socket"]).toBe("unix:///run/containerd/containerd.sock");
    expect(seen.changes).toBeGreaterThanOrEqual(podsOnTarget); // the watch saw the evictions at least
    expect(seen.min).toBeGreaterThanOrEqual(replicas - maxUnavailable);
    // The node's files are what containerd and kubelet need.
    const { stdout } = await sshRun(cluster, ipOf(cluster, target),
      "cat /var/lib/kubelet/kubeadm-flags.env; grep -c SystemdCgroup /etc/containerd/config.toml; grep SystemdCgroup /etc/containerd/config.toml; cat /etc/crictl.yaml; crictl info >/dev/null && echo CRI-OK");
    expect(stdout).toContain("--container-runtime-endpoint=unix:///run/containerd/containerd.sock");
    expect(stdout).not.toContain("--network-plugin");
    expect(stdout).toContain(minor === "1.23" ? "SystemdCgroup = false" : "SystemdCgroup = true");
    expect(stdout).toContain("runtime-endpoint: unix:///run/containerd/containerd.sock");
    expect(stdout).toContain("CRI-OK");
    // Pods come back: a pod scheduled onto the migrated node runs on containerd.
    await api.apps.patchNamespacedDeployment({ namespace: ns, name: "web", body: { spec: { replicas: replicas + 2 } } }, mergePatch());
    await waitFor("pods running on the migrated node", 180_000, async () => {
      const pods = (await api.core.listNamespacedPod({ namespace: ns, fieldSelector: `spec.nodeName=${target}` })).items;
      return pods.some((p) => p.status?.phase === "Running") ? pods : undefined;
    });
    await api.apps.patchNamespacedDeployment({ namespace: ns, name: "web", body: { spec: { replicas } } }, mergePatch());
  });

  // On 1.32 the operations cases below cover these (the control-plane suite's broken containerd
  // and E2E_LONG's halt case roll a broken config back, the SIGKILL cells resume).
  const ownRollbackCases = minor !== OPERATIONS_MINOR;

  it.runIf(ownRollbackCases)("rolls a worker with a broken containerd config back to Docker", async () => {
    const target = workers[1]!;
    const ip = ipOf(cluster, target);
    // containerd runs fine with this while CRI is disabled (Docker does not need CRI); once
    // the migration enables CRI (keeping the node's other settings), the CRI plugin cannot load
    // its snapshotter and containerd answers "unknown service runtime.v1.RuntimeService".
    const broken = [
      "version = 2",
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      "",
      '[plugins."io.containerd.grpc.v1.cri".containerd]',
      '  snapshotter = "no-such-snapshotter"',
      "",
    ].join("\n");
    await sshRun(cluster, ip, `cat > /etc/containerd/config.toml <<'TOML'\n${broken}TOML\nsystemctl restart containerd && systemctl is-active containerd docker`);

    const started = Date.now();
    await api.core.patchNode({ name: target, body: { metadata: { labels: { [label]: "containerd" } } } }, mergePatch());
    const done = await waitPhase(target, ["RolledBack", "Succeeded"], 15 * 60_000);
    console.table(await timeline(target));
    console.log(`${target}: ${phaseOf(done)} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${done.metadata?.annotations?.["cri-migrator.dev/rollback-reason"]}`);

    expect(phaseOf(done)).toBe("RolledBack");
    // Told apart from a slow start: the reason is the plugin that failed, and why.
    expect(done.metadata?.annotations?.["cri-migrator.dev/rollback-reason"]).toMatch(/CRI plugin failed to load[\s\S]*no-such-snapshotter/);
    const after = await waitFor(`${target} Ready on Docker`, 300_000, async () => {
      const n = await node(target);
      const ready = n.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
      return ready && n.status?.nodeInfo?.containerRuntimeVersion?.startsWith("docker://") ? n : undefined;
    });
    expect(after.spec?.unschedulable ?? false).toBe(false);
    expect(after.metadata?.annotations?.["kubeadm.alpha.kubernetes.io/cri-socket"]).toMatch(minor === "1.23" ? /dockershim\.sock$/ : /cri-dockerd\.sock$/);
    const { stdout } = await sshRun(cluster, ip, "cat /etc/containerd/config.toml; test -e /etc/crictl.yaml && echo CRICTL-LEFT || echo CRICTL-ABSENT; systemctl is-active docker kubelet");
    expect(stdout.startsWith(broken)).toBe(true); // restored byte for byte
    expect(stdout).toContain("CRICTL-ABSENT");
    expect(stdout).toMatch(/active\nactive/);
  });

  it.runIf(ownRollbackCases && LONG)("resumes a migration after the controller is killed in the middle", async () => {
    const target = workers[1]!;
    const ip = ipOf(cluster, target);
    // Give the worker back a healthy Docker-style containerd config and clear our state, as an operator would.
    await sshRun(cluster, ip, `printf 'disabled_plugins = ["cri"]\\n' > /etc/containerd/config.toml && systemctl restart containerd`);
    await api.core.patchNode({
      name: target,
      body: { metadata: { labels: { [label]: null }, annotations: Object.fromEntries(Object.keys((await node(target)).metadata?.annotations ?? {}).filter((k) => k.startsWith("cri-migrator.dev/")).map((k) => [k, null])) } },
    }, mergePatch());

    await api.core.patchNode({ name: target, body: { metadata: { labels: { [label]: "containerd" } } } }, mergePatch());
    // Kill while a remote step is in flight: the intent to configure the runtime is written.
    const midway = await waitFor(`${target} to start configuring the runtime`, 600_000, async () => {
      const n = await node(target);
      return n.metadata?.annotations?.["cri-migrator.dev/intent"] === "RuntimeConfigured" ? n : undefined;
    });
    const code = await controller!.kill("SIGKILL");
    console.log(`killed the controller (exit ${code}) at phase ${phaseOf(midway)}, intent RuntimeConfigured`);

    controller = await startController(cluster, configPath, "second");
    const done = await waitPhase(target, ["Succeeded", "RolledBack"], 15 * 60_000);
    console.table(await timeline(target));
    expect(phaseOf(done)).toBe("Succeeded");
    expect(done.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
    expect(done.spec?.unschedulable ?? false).toBe(false);
  });
  if (minor === OPERATIONS_MINOR) {
    // Kill the controller these cases ran (the operations start their own), and remove this
    // suite's guarded Deployment: with both workers cordoned at once (concurrency 2) its pods
    // would have nowhere to go, and its budget would hold the drains to their deadline.
    it("hands the cluster on to the operations cases", async () => {
      await controller?.kill();
      controller = undefined;
      await api.core.deleteNamespace({ name: ns });
      await waitFor(`namespace ${ns} gone`, 180_000, async () => api.core.readNamespace({ name: ns }).then(() => undefined, () => true));
    });
    describeOperations(() => ({ cluster, api }));
  }
});
}

function ipOf(cluster: Cluster, name: string): string {
  const found = cluster.nodes.find((n) => n.name === name);
  if (!found) throw new Error(`no node ${name} in ${cluster.name}`);
  return found.ip;
}

/** client-node sends patches as JSON Patch unless told otherwise. */
function mergePatch() {
  return setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
}
