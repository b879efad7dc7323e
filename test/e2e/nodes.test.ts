// Issues 10 and 11 end to end: nodes as users have them, on one kind cluster (Kubernetes 1.32):
// containerd 2.x beside Docker (2.2 with a version 3 config and local settings, 2.3+ with Docker's
// packaged config), /etc/docker/daemon.json with mirrors, insecure registries, log rotation and
// an nvidia runtime, a container Docker runs outside Kubernetes, Docker Engine 26 with its
// containerd image store, images only in Docker (no registry: nothing can be pulled). Real
// kubelet, real containerd, real Docker.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterName, ensureCluster, kubeClients, LONG, releaseCluster, sshRun, waitFor, type Cluster, type ClusterNode } from "./harness.js";
import { runCli, writeConfig } from "./controller.js";
import { annotationsOf, fileDigests, isReady, phaseOf, PREFIX, resetWorker, runtimeOf, timeline, watchNode, type Api } from "./ops.js";

const minor = "1.32";
const ns = "e2e-nodes";
const shape = { workers: "cd2v3+daemonjson+extcontainer,cd2new+dockerstore", images: "docker-only" } as const;

describe(`nodes as users have them, Kubernetes ${minor}`, () => {
  let cluster: Cluster;
  let api: Api;
  let full: ClusterNode; // containerd 2.2, version 3 config, daemon.json, a container outside Kubernetes
  let fresh: ClusterNode; // containerd 2.3+, Docker's packaged config, Docker 26 with the containerd image store
  const sh = async (node: ClusterNode, command: string) => (await sshRun(cluster, node.ip, command)).stdout.trim();
  const config = (extra = "") => writeConfig(cluster, `drain:\n  evictionRetrySeconds: 1\nrollout:\n  haltOnFailure: false\n${extra}`);

  /** Everything the migration may write on these nodes, hosts.toml included (absent before). */
  const digests = async (node: ClusterNode) =>
    `${await fileDigests(cluster, node.name)}${await sh(node, "find /etc/containerd/certs.d -type f 2>/dev/null | sort | xargs -r sha256sum; echo end")}`;

  /** Pulls on the node since `since`: the kubelet's Pulling events. */
  async function pullsOn(node: string, since: number): Promise<string[]> {
    const events = (await api.core.listEventForAllNamespaces({ fieldSelector: "reason=Pulling" })).items;
    return events
      .filter((e) => (e.source?.host ?? e.reportingInstance) === node && new Date(e.lastTimestamp ?? e.eventTime ?? 0).getTime() >= since)
      .map((e) => `${e.involvedObject?.name}: ${e.message}`);
  }

  /** A Deployment with one pod per worker, so each migrated node gets one back. */
  async function spreadDeployment(): Promise<void> {
    await api.apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: "web" },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: {
              terminationGracePeriodSeconds: 1,
              topologySpreadConstraints: [{ maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: { app: "web" } } }],
              containers: [{ name: "app", image: cluster.testImage, imagePullPolicy: "IfNotPresent", command: ["sh", "-c", "exec sleep 100000"] }],
            },
          },
        },
      },
    });
  }

  beforeAll(async () => {
    cluster = await ensureCluster(minor, clusterName(minor, "-var"), shape);
    api = kubeClients(cluster);
    [full, fresh] = cluster.nodes.filter((n) => n.role === "worker") as [ClusterNode, ClusterNode];
    for (const name of [ns, "cri-migrator"]) await api.core.createNamespace({ body: { metadata: { name } } }).catch(() => undefined);
    await spreadDeployment();
    await api.node.createRuntimeClass({ body: { metadata: { name: "nvidia" }, handler: "nvidia" } });
  }, 90 * 60_000);

  afterAll(async () => releaseCluster(cluster), 180_000);

  // The harness's variants first (its own check, on the cluster the migrations then use).
  it("brings up containerd 2.x, version 3 config, daemon.json, an outside container, Docker's containerd image store and images only in Docker", async () => {
    expect(cluster.shape).toMatchObject({ ...shape, controlPlanes: 1, cpRuntime: "containerd" });
    expect([full.variant, fresh.variant]).toEqual(["cd2v3+daemonjson+extcontainer", "cd2new+dockerstore"]);
    for (const w of [full, fresh]) {
      expect(w.runtime).toMatch(w === full ? /^docker:\/\/20\.10\./ : /^docker:\/\/26\./);
      // Docker runs on the containerd the image carries: it reports that release, and its
      // containers are tasks in that containerd's moby namespace.
      const want = w === full ? /^v2\.2\./ : /^v2\.[34]\./;
      expect(await sh(w, "docker info -f '{{.ContainerdCommit.ID}}'")).toMatch(want);
      expect(await sh(w, "containerd --version | cut -d' ' -f3")).toMatch(want);
      expect(Number(await sh(w, "ctr -n moby tasks ls -q | wc -l"))).toBeGreaterThan(0);
      // Images only in Docker: containerd's k8s.io namespace is empty, Docker has them.
      expect(await sh(w, "ctr -n k8s.io images ls -q")).toBe("");
      expect(await sh(w, `docker image inspect -f '{{.Id}}' ${cluster.testImage} >/dev/null && echo present`)).toBe("present");
    }
    // cd2v3: the config of `containerd config default` with local settings, CRI enabled.
    expect(await sh(full, "head -n1 /etc/containerd/config.toml")).toBe("version = 3");
    expect(await sh(full, "grep -c -e \"level = 'debug'\" -e 'runtimes.nvidia' /etc/containerd/config.toml")).toBe("3");
    const criPlugin = "ctr plugins ls | awk '$1 == \"io.containerd.grpc.v1\" && $2 == \"cri\" {print $4}'";
    expect(await sh(full, criPlugin)).toBe("ok");
    // dockerstore: Docker keeps its images in containerd (its moby namespace), the graph driver's don't.
    expect(await sh(fresh, "docker info -f '{{json .DriverStatus}}'")).toContain("io.containerd.snapshotter");
    expect(await sh(fresh, `ctr -n moby images ls -q | grep -cxF ${cluster.testImage}`)).toBe("1");
    expect(await sh(full, "ctr -n moby images ls -q")).toBe("");
    // cd2new keeps Docker's packaged config: CRI disabled.
    expect(await sh(fresh, "cat /etc/containerd/config.toml")).toContain('disabled_plugins = ["cri"]');
    expect(await sh(fresh, criPlugin)).toBe("");
    // daemonjson: the node's own keys and the added ones; the nvidia runtime leaves its mark.
    const daemon = JSON.parse(await sh(full, "cat /etc/docker/daemon.json")) as Record<string, unknown>;
    expect(Object.keys(daemon).sort()).toEqual(
      ["exec-opts", "insecure-registries", "log-driver", "log-opts", "registry-mirrors", "runtimes"]);
    expect(await sh(full, "docker info -f '{{json .Runtimes}}'")).toContain("nvidia");
    await sh(full, `: > /var/log/nvidia-wrapper.log; docker run --rm --runtime nvidia ${cluster.testImage} true`);
    expect(await sh(full, "grep -c ' create ' /var/log/nvidia-wrapper.log")).not.toBe("0");
    // extcontainer: one container outside Kubernetes, no io.kubernetes.* labels.
    expect(await sh(full, "docker inspect -f '{{.State.Running}} {{json .Config.Labels}}' crim-external"))
      .toMatch(/^true \{"cri-migrator\.dev\/harness":"external-container"\}$/);
    expect(await sh(fresh, "docker ps -aq --filter name=crim-external")).toBe("");
    // Pods run on both, from the images in Docker.
    for (const w of [full, fresh]) {
      await api.core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: `hello-${w.name}` },
          spec: {
            nodeName: w.name, restartPolicy: "Never",
            containers: [{ name: "hello", image: cluster.testImage, imagePullPolicy: "Never", command: ["echo", "hello"] }],
          },
        },
      });
    }
    for (const w of [full, fresh]) {
      const phase = await waitFor(`pod on ${w.name} to finish`, 180_000, async () => {
        const pod = await api.core.readNamespacedPod({ namespace: ns, name: `hello-${w.name}` });
        return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed" ? pod.status.phase : undefined;
      });
      expect(phase).toBe("Succeeded");
    }
  });

  it("check finds the workloads that depend on Docker, running or not", async () => {
    const hostPath = (path: string) => ({ volumes: [{ name: "v", hostPath: { path } }], containers: [{ name: "c", image: cluster.testImage, imagePullPolicy: "Never", command: ["true"], volumeMounts: [{ name: "v", mountPath: "/x" }] }] });
    await api.batch.createNamespacedCronJob({
      namespace: ns,
      body: { metadata: { name: "image-gc" }, spec: { schedule: "0 3 * * *", suspend: true, jobTemplate: { spec: { template: { spec: { restartPolicy: "Never", ...hostPath("/var/run/docker.sock") } } } } } },
    });
    await api.apps.createNamespacedDaemonSet({
      namespace: ns,
      body: {
        metadata: { name: "log-agent" },
        spec: {
          selector: { matchLabels: { app: "log-agent" } },
          // No node matches: a DaemonSet with no pod running still counts.
          template: { metadata: { labels: { app: "log-agent" } }, spec: { nodeSelector: { "e2e/none": "true" }, ...hostPath("/var/lib/docker/containers") } },
        },
      },
    });
    const check = await runCli(cluster, await config(), ["check", "-o", "json"]);
    expect(check.code).toBe(1);
    const report = JSON.parse(check.stdout) as { workloads: { kind: string; name: string; path: string; breaks: string }[] };
    expect(report.workloads).toEqual(expect.arrayContaining([
      expect.objectContaining({ kind: "CronJob", name: "image-gc", path: "/var/run/docker.sock", breaks: expect.stringMatching(/talks to Docker through its socket/) }),
      expect.objectContaining({ kind: "DaemonSet", name: "log-agent", path: "/var/lib/docker/containers", breaks: expect.stringMatching(/reads Docker's JSON log files/) }),
    ]));
    await api.batch.deleteNamespacedCronJob({ namespace: ns, name: "image-gc" });
    await api.apps.deleteNamespacedDaemonSet({ namespace: ns, name: "log-agent" });
  });

  it("refuses a node where Docker runs a container outside Kubernetes, naming it, and changes nothing", async () => {
    const before = await digests(full);
    const plan = await runCli(cluster, await config(), ["plan", full.name]);
    expect(plan.code).toBe(1);
    expect(plan.stdout).toMatch(/FAIL\s+non-kubernetes-containers\s+Docker runs containers outside Kubernetes on this node: crim-external/);
    expect(plan.stdout).toMatch(/writes config version 3: containerd 2\.2\.\d+ reads config version 3/);
    expect(plan.stdout).toMatch(/Carried over from \/etc\/docker\/daemon.json:/);
    expect(plan.stdout).toMatch(/Images carried from Docker into containerd/);
    expect(await digests(full)).toBe(before);
  });

  // One rollback proves two things: the daemon.json node's files restored byte for byte, and a
  // node without its images carried over failing verification with the missing image named.
  it("without image carry-over the daemon.json node cannot start its smoke pod and is rolled back byte for byte, naming the image", async () => {
    const before = await digests(full);
    const cfg = await config("preflight:\n  allowNonKubernetesContainers: true\nimages:\n  carryOver: false\nsmoke:\n  timeoutSeconds: 30\nretries:\n  maxAttempts: 1\n");
    const r = await runCli(cluster, cfg, ["migrate", full.name]);
    try {
      const node = await api.core.readNode({ name: full.name });
      console.table(await timeline(api, full.name));
      expect(r.code).toBe(1);
      expect(phaseOf(node)).toBe("RolledBack");
      expect(annotationsOf(node)[`${PREFIX}rollback-reason`]).toMatch(/smoke pod[\s\S]*pause/);
      expect(runtimeOf(node)).toMatch(/^docker:\/\//);
      expect(await digests(full)).toBe(before);
    } finally {
      await resetWorker(cluster, api, full.name);
    }
  }, 15 * 60_000);

  it("migrates the daemon.json node onto containerd 2.2: version 3 kept, mirrors and insecure registries in hosts.toml, log rotation in the kubelet, nvidia runs, nothing pulled", async () => {
    const since = Date.now();
    const r = await runCli(cluster, await config("preflight:\n  allowNonKubernetesContainers: true\n"), ["migrate", full.name]);
    console.log(r.stderr.split("\n").filter((l) => /carried|Succeeded|FAILED/.test(l)).join("\n"));
    expect(r.code, r.stderr).toBe(0);
    const node = await api.core.readNode({ name: full.name });
    expect(runtimeOf(node)).toMatch(/^containerd:\/\/(v)?2\.2\./);
    const toml = await sh(full, "cat /etc/containerd/config.toml");
    expect(toml).toMatch(/^version = 3$/m);
    expect(toml).toMatch(/level = ['"]debug['"]/); // the node's own setting, kept
    expect(toml).toContain('[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.nvidia');
    expect(toml).toMatch(/config_path = ['"]\/etc\/containerd\/certs.d['"]/);
    expect(await sh(full, "ctr plugins ls | awk '$2 == \"cri\" {print $1, $4}' | sort")).toMatch(/io\.containerd\.grpc\.v1 ok/);
    const hosts = await sh(full, "for f in $(find /etc/containerd/certs.d -name hosts.toml | sort); do echo \"== $f\"; cat $f; done");
    expect(hosts).toMatch(/== \/etc\/containerd\/certs.d\/docker.io\/hosts.toml[\s\S]*mirror/);
    expect(hosts).toMatch(/skip_verify = true/);
    const kubelet = await sh(full, "grep -E '^containerLog' /var/lib/kubelet/config.yaml");
    expect(kubelet).toContain("containerLogMaxSize: 10M");
    expect(kubelet).toContain("containerLogMaxFiles: 3");
    // A pod with RuntimeClass nvidia runs through the wrapper.
    await sh(full, ": > /var/log/nvidia-wrapper.log");
    await api.core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: "gpu" }, spec: { nodeName: full.name, runtimeClassName: "nvidia", restartPolicy: "Never", containers: [{ name: "c", image: cluster.testImage, imagePullPolicy: "Never", command: ["echo", "gpu"] }] } },
    });
    await waitFor("the nvidia pod to run", 180_000, async () => {
      const p = await api.core.readNamespacedPod({ namespace: ns, name: "gpu" });
      return p.status?.phase === "Succeeded" ? p : undefined;
    });
    expect(Number(await sh(full, "grep -c . /var/log/nvidia-wrapper.log"))).toBeGreaterThan(0);
    // kube-proxy (DaemonSet), the rescheduled web pod and the smoke pod started without a pull.
    await waitFor("a web pod Running on the node", 180_000, async () => {
      const pods = (await api.core.listNamespacedPod({ namespace: ns, labelSelector: "app=web", fieldSelector: `spec.nodeName=${full.name}` })).items;
      return pods.some((p) => p.status?.phase === "Running") ? pods : undefined;
    }).catch(async () => {
      await api.apps.patchNamespacedDeployment({ namespace: ns, name: "web", body: { spec: { replicas: 4 } } }, (await import("./ops.js")).mergePatch());
    });
    expect(await pullsOn(full.name, since)).toEqual([]);
    const events = await timeline(api, full.name, since);
    console.table(events); // the migration's time on this variant, from its Events
    const carried = events.find((e) => e.reason === "MigrationImagesCarried");
    console.log(`${full.name}: ${carried?.message}`);
    expect(carried?.message).toMatch(/^carried \d+ images, [\d.]+ MiB in [\d.]+s/);
  }, 15 * 60_000);

  // make test proves this on the daemon.json node above.
  it.runIf(LONG)("without image carry-over the containerd 2.3+ node cannot start its smoke pod and is rolled back naming the image", async () => {
    const before = await digests(fresh);
    const r = await runCli(cluster, await config("images:\n  carryOver: false\nsmoke:\n  timeoutSeconds: 30\nretries:\n  maxAttempts: 1\n"), ["migrate", fresh.name]);
    try {
      const node = await api.core.readNode({ name: fresh.name });
      console.table(await timeline(api, fresh.name));
      expect(r.code).toBe(1);
      expect(phaseOf(node)).toBe("RolledBack");
      expect(annotationsOf(node)[`${PREFIX}rollback-reason`]).toMatch(/smoke pod[\s\S]*pause/);
      expect(await digests(fresh)).toBe(before);
    } finally {
      await resetWorker(cluster, api, fresh.name);
    }
  }, 15 * 60_000);

  it("migrates the containerd 2.3+ node with Docker's containerd image store: images shared from moby (no blob written again), config version 4, the CRI plugin ok, pods run, nothing pulled", async () => {
    const since = Date.now();
    const blobs = "du -sb /var/lib/containerd/io.containerd.content.v1.content/blobs | cut -f1";
    const blobsBefore = Number(await sh(fresh, blobs));
    // The pod below uses the test image, which no container on this node may use by now (the
    // cases before moved the web pods around): named in images.include, as an air-gapped cluster
    // names what pods will need, it is carried whatever runs here.
    const r = await runCli(cluster, await config(`images:\n  include: ["${cluster.testImage}"]\n`), ["migrate", fresh.name]);
    expect(r.code, r.stderr).toBe(0);
    console.table(await timeline(api, fresh.name, since)); // the migration's time on this variant, from its Events
    // The cheap path: every image came from containerd's moby namespace (ctr export | ctr import);
    // with the shared content policy the import wrote no blob again.
    const carried = (await api.core.listNamespacedEvent({ namespace: "default", fieldSelector: `involvedObject.name=${fresh.name},reason=MigrationImagesCarried` })).items
      .filter((e) => new Date(e.lastTimestamp ?? e.eventTime ?? 0).getTime() >= since - 1_000)
      .map((e) => e.message ?? "");
    console.log([...carried.map((m) => `${fresh.name}: ${m}`), `content store blobs: ${blobsBefore} bytes before, ${await sh(fresh, blobs)} after`].join("\n"));
    expect(carried.length).toBeGreaterThan(0);
    for (const m of carried) expect(m).toMatch(/^carried ([1-9]\d*) images, .*; \1 from Docker's containerd image store \(moby namespace\), blobs shared, not copied$/);
    expect(Number(await sh(fresh, blobs)) - blobsBefore).toBeLessThan(1024 * 1024);
    expect(await sh(fresh, `ctr -n k8s.io images ls -q | grep -cxF ${cluster.testImage}`)).toBe("1");
    const node = await watchNode(api, fresh.name, "be Ready on containerd", 120_000, (n) => isReady(n) && runtimeOf(n).startsWith("containerd://"));
    expect(runtimeOf(node)).toMatch(/^containerd:\/\/(v)?2\.[3-9]\./);
    expect(await sh(fresh, "head -n3 /etc/containerd/config.toml | grep -c '^version = 4$'")).toBe("1");
    expect(await sh(fresh, "ctr plugins ls | awk '$2 == \"cri\" {print $1, $4}' | sort")).toMatch(/io\.containerd\.grpc\.v1 ok/);
    await api.core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: "hello-new" }, spec: { nodeName: fresh.name, restartPolicy: "Never", containers: [{ name: "c", image: cluster.testImage, imagePullPolicy: "IfNotPresent", command: ["echo", "hello"] }] } },
    });
    await waitFor("the pod to run", 180_000, async () => {
      const p = await api.core.readNamespacedPod({ namespace: ns, name: "hello-new" });
      return p.status?.phase === "Succeeded" ? p : undefined;
    });
    expect(await pullsOn(fresh.name, since)).toEqual([]);
  }, 15 * 60_000);
});
