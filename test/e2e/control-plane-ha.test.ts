// Issue 12 end to end: an HA control plane on Docker (three control planes behind kind's load
// balancer, stacked etcd, one worker), Kubernetes 1.32 (E2E_CP_MINORS=1.23,1.32 adds 1.23). The
// in-cluster controller, installed with Helm into a namespace of its own (its ServiceAccount's
// rights checked there), first rolls back a control plane whose containerd is broken and halts
// there (no other node touched), then migrates the three control planes, one at a time, while a
// watcher records every failed API request and etcd's members, and the worker.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterName, ensureCluster, kubeClients, releaseCluster, sshRun, type Cluster } from "./harness.js";
import { runCli, writeConfig } from "./controller.js";
import { annotationsOf, isReady, MIGRATE_LABEL, mergePatch, phaseOf, PREFIX, runtimeOf, timeline, watchNode, type Api } from "./ops.js";
import { components, staticPodsOn, watchApi } from "./control-plane.js";
import { canI, clusterWide, inOwnNamespace } from "./rbac.js";

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const big = { maxBuffer: 64 << 20 };
// The API through the load balancer while a control plane switches: a node's etcd leaving (a
// leader election) and kind's haproxy noticing a stopped API server (3 checks, 5 s apart) cost a
// few seconds; an API server stopped after its etcd held requests until it was killed (28-31 s).
const API_GAP_LIMIT_MS = 15_000;
const cpMinors = (process.env.E2E_CP_MINORS ?? "1.32").split(",").map((m) => m.trim());

describe.each(cpMinors)("an HA control plane on Docker, Kubernetes %s", (minor) => {
  let cluster: Cluster;
  let api: Api;
  let helm: string;
  // A namespace other than the manifests' own: the chart's namespacing is what is tested.
  const releaseNs = "cri-migrator-helm";
  /** The nodes asked for: the three control planes and the worker. */
  let asked: Cluster["nodes"];
  const kubectl = async (...args: string[]) => (await run(cluster.kubectl, ["--kubeconfig", cluster.kubeconfig, ...args], big)).stdout;
  const label = (name: string) => api.core.patchNode({ name, body: { metadata: { labels: { [MIGRATE_LABEL]: "containerd" } } } }, mergePatch());
  const terminal = (name: string) => watchNode(api, name, "end Succeeded, RolledBack or Failed", 20 * 60_000, (n) => ["Succeeded", "RolledBack", "Failed"].includes(phaseOf(n) ?? ""));

  beforeAll(async () => {
    helm = (await run("bash", [`${repoRoot}/hack/build-pkg-tools.sh`, "helm"], big)).stdout.trim();
    const built = await run("bash", [`${repoRoot}/hack/build-app-image.sh`], big);
    const image = built.stdout.trim().split("\n").pop()!;
    cluster = await ensureCluster(minor, clusterName(minor, "-ha"), { controlPlanes: 3, cpRuntime: "docker", workers: "docker" });
    api = kubeClients(cluster);
    // No registry: the controller's image into Docker (where it runs now) and into containerd's
    // k8s.io namespace (where it runs after a node is migrated) of every node.
    // (kind load cannot read the containerd config of a node set up the way Docker's package is.)
    // Saved once (264 MB), loaded from that file into each node.
    const tar = join(mkdtempSync(join(tmpdir(), "crim-ha-image-")), "image.tar");
    await run("docker", ["save", "-o", tar, image], big);
    for (const n of cluster.nodes) {
      await run("bash", ["-c", 'docker exec -i "$1" docker load -q < "$2" && docker exec -i "$1" ctr -n k8s.io images import - < "$2"', "load", n.name, tar], big);
    }
    rmSync(tar);
    asked = cluster.nodes;
    await kubectl("create", "namespace", releaseNs).catch(() => "");
    await kubectl("label", "namespace", releaseNs, "pod-security.kubernetes.io/enforce=baseline");
    await kubectl("-n", releaseNs, "create", "secret", "generic", "cri-migrator-ssh", `--from-file=id_ed25519=${cluster.sshKey}`, `--from-file=known_hosts=${cluster.knownHosts}`);
    const values = join(mkdtempSync(join(tmpdir(), "crim-cp-")), "values.json");
    const colon = image.lastIndexOf(":");
    writeFileSync(values, JSON.stringify({
      image: { repository: image.slice(0, colon), tag: image.slice(colon + 1), pullPolicy: "Never" },
      // Concurrency 2: the worker may move beside a control plane, but control planes go one at a
      // time whatever the concurrency (what the main case checks).
      config: { allowControlPlane: true, concurrency: 2, drain: { evictionRetrySeconds: 1 }, retries: { maxAttempts: 2, initialBackoffSeconds: 2 } },
    }));
    const t0 = Date.now();
    await run(helm, ["--kubeconfig", cluster.kubeconfig, "install", "cri-migrator", `${repoRoot}/charts/cri-migrator`, "--namespace", releaseNs, "--values", values, "--wait", "--timeout", "300s"], big);
    console.log(`helm install until both replicas were ready: ${Math.round((Date.now() - t0) / 1000)} s`);
  }, 90 * 60_000);

  afterAll(async () => releaseCluster(cluster), 180_000);

  it("helm install gives the chart's ServiceAccount exactly the documented rights, in the release namespace", async () => {
    const sa = `system:serviceaccount:${releaseNs}:cri-migrator`;
    expect(await canI(cluster, sa)).toEqual(clusterWide);
    expect(await canI(cluster, sa, "-n", releaseNs)).toEqual(inOwnNamespace);
  });

  it("a broken containerd on one control plane is rolled back to Docker with etcd healthy, and the rollout stops there", async () => {
    const cps = cluster.nodes.filter((n) => n.role === "control-plane");
    const broken = cps[1]!;
    await sshRun(cluster, broken.ip, `cp -a /etc/containerd/config.toml /root/config.toml.orig && printf 'version = 2\\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\\n[plugins."io.containerd.grpc.v1.cri".containerd]\\n  snapshotter = "no-such-snapshotter"\\n' > /etc/containerd/config.toml && systemctl restart containerd`);
    const watcher = watchApi(api);
    await label(broken.name);
    const done = await terminal(broken.name);
    console.table(await timeline(api, broken.name));
    expect(phaseOf(done)).toBe("RolledBack");
    expect(runtimeOf(done)).toMatch(/^docker:\/\//);
    expect((await staticPodsOn(api, broken.name)).every((p) => p.ready && p.runtime === "docker")).toBe(true);
    // The others are asked for too, and none starts: the rollout is halted.
    for (const n of asked.filter((x) => x.name !== broken.name)) await label(n.name);
    for (const n of asked.filter((x) => x.name !== broken.name)) {
      const node = await watchNode(api, n.name, "be held by the halt", 120_000, (x) => /rollout halted/.test(annotationsOf(x)[`${PREFIX}blocked-by`] ?? ""));
      expect(phaseOf(node) ?? "Pending", n.name).toBe("Pending");
      expect(node.spec?.unschedulable ?? false, n.name).toBe(false);
      expect(annotationsOf(node)[`${PREFIX}blocked-by`] ?? "", n.name).toMatch(/rollout halted/);
    }
    const seen = await watcher.stop();
    console.log(`during the rollback: ${seen.requests} API requests, ${seen.failures} failed, longest gap ${seen.longestGapMs} ms, at least ${seen.minEtcdReady} etcd members Ready`);
    expect(seen.minEtcdReady).toBeGreaterThanOrEqual(2);
    expect(seen.longestGapMs, "the API through the load balancer went unanswered too long").toBeLessThan(API_GAP_LIMIT_MS);
    // Fixed: the original config back, the node's state cleared for a new start, the rollout resumed.
    await sshRun(cluster, broken.ip, "mv -f /root/config.toml.orig /etc/containerd/config.toml && systemctl restart containerd");
    const clear = Object.fromEntries(Object.keys(annotationsOf(done)).filter((k) => k.startsWith(PREFIX)).map((k) => [k, null]));
    await api.core.patchNode({ name: broken.name, body: { metadata: { annotations: clear } } }, mergePatch());
    const config = await writeConfig(cluster, `leaderElection:\n  namespace: ${releaseNs}\nrollout:\n  namespace: ${releaseNs}\n`);
    const resume = await runCli(cluster, config, ["resume"]);
    expect(resume.code, resume.stderr).toBe(0);
  }, 30 * 60_000);

  it("the in-cluster controller (helm install) migrates the three control planes one at a time and the worker, the API answering all along", async () => {
    const cps = cluster.nodes.filter((n) => n.role === "control-plane").map((n) => n.name);
    const watcher = watchApi(api);
    const intervals = new Map<string, { from?: number; to?: number }>();
    const t0 = Date.now();
    const done = await Promise.all(asked.map((n) =>
      watchNode(api, n.name, "end", 40 * 60_000, (node) => {
        const i = intervals.get(n.name) ?? {};
        const moving = (annotationsOf(node)[`${PREFIX}intent`] ?? phaseOf(node) ?? "Pending") !== "Pending" && !["Succeeded", "RolledBack", "Failed"].includes(phaseOf(node) ?? "");
        if (moving && i.from === undefined) i.from = Date.now();
        if (!moving && i.from !== undefined && i.to === undefined) i.to = Date.now();
        intervals.set(n.name, i);
        return ["Succeeded", "RolledBack", "Failed"].includes(phaseOf(node) ?? "");
      })));
    const seen = await watcher.stop();
    const rows = asked.map((n) => ({ node: n.name, role: n.role, started: ((intervals.get(n.name)!.from! - t0) / 1000).toFixed(0), ended: ((intervals.get(n.name)!.to ?? Date.now()) - t0) / 1000 }));
    console.table(rows);
    console.log(`API: ${seen.requests} requests through the load balancer, ${seen.failures} failed, longest gap ${seen.longestGapMs} ms; at least ${seen.minEtcdReady} of 3 etcd members Ready all along`);
    expect(done.map(phaseOf)).toEqual(asked.map(() => "Succeeded"));
    // One control plane at a time, though concurrency 2 lets the worker move beside one.
    const spans = cps.map((n) => intervals.get(n)!).sort((a, b) => a.from! - b.from!);
    for (let i = 1; i < spans.length; i++) expect(spans[i]!.from!).toBeGreaterThanOrEqual(spans[i - 1]!.to!);
    expect(seen.minEtcdReady).toBeGreaterThanOrEqual(2); // quorum never lost
    expect(seen.longestGapMs, "the API through the load balancer went unanswered too long").toBeLessThan(API_GAP_LIMIT_MS);
    for (const n of asked) {
      const node = await watchNode(api, n.name, "be Ready on containerd", 300_000, (x) => isReady(x) && runtimeOf(x).startsWith("containerd://"));
      expect(node.spec?.unschedulable ?? false).toBe(false);
    }
    for (const cp of cps) {
      const pods = await staticPodsOn(api, cp);
      expect(pods.map((p) => p.component).sort(), cp).toEqual(components);
      expect(pods.every((p) => p.ready && p.runtime === "containerd"), `${cp}: ${JSON.stringify(pods)}`).toBe(true);
    }
    // kubeadm reads the CRI socket from the node: an upgrade plan on a migrated control plane works.
    const first = cluster.nodes.find((n) => n.role === "control-plane")!;
    const plan = await sshRun(cluster, first.ip, `kubeadm upgrade plan ${cluster.k8sVersion} --ignore-preflight-errors=all 2>&1 | tail -n 25`);
    console.log(plan.stdout);
    expect(plan.stdout).not.toMatch(/docker|dockershim|cri-dockerd/i);
    expect(annotationsOf(await api.core.readNode({ name: first.name }))["kubeadm.alpha.kubernetes.io/cri-socket"]).toBe("unix:///run/containerd/containerd.sock");
  }, 60 * 60_000);
});

