// What the operations suites (faults, fleet) do to a kind cluster: follow a node through a watch,
// inject real faults at real points, and put a worker back on Docker between cases.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { PatchStrategy, setHeaderOptions, Watch } from "@kubernetes/client-node";
import type * as k8s from "@kubernetes/client-node";
import { kubeClients, sshRun, waitFor, type Cluster } from "./harness.js";

const run = promisify(execFile);
export const PREFIX = "cri-migrator.dev/";
export const MIGRATE_LABEL = "cri-migrator.dev/migrate";
export const mergePatch = () => setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export type Api = ReturnType<typeof kubeClients>;

export const annotationsOf = (n: k8s.V1Node) => n.metadata?.annotations ?? {};
export const phaseOf = (n: k8s.V1Node) => annotationsOf(n)[`${PREFIX}phase`];
export const intentOf = (n: k8s.V1Node) => annotationsOf(n)[`${PREFIX}intent`];
export const isReady = (n: k8s.V1Node) => n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
export const runtimeOf = (n: k8s.V1Node) => n.status?.nodeInfo?.containerRuntimeVersion ?? "";

/**
 * Resolves with the node once `predicate` holds, checked on every change the watch delivers (no
 * sampling: a phase that lasts milliseconds is still seen). Rejects after timeoutMs.
 */
export async function watchNode(api: Api, name: string, what: string, timeoutMs: number, predicate: (n: k8s.V1Node) => boolean): Promise<k8s.V1Node> {
  const deadline = Date.now() + timeoutMs;
  let last: k8s.V1Node | undefined;
  for (;;) {
    // A list (here: one read) and then a watch from its resourceVersion; resumed if the stream ends.
    try {
      last = await api.core.readNode({ name });
    } catch {
      // The API server may be paused by the fault under test: read again.
    }
    if (last && predicate(last)) return last;
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    const found = await new Promise<k8s.V1Node | undefined>((resolve) => {
      let request: AbortController | undefined;
      const timer = setTimeout(() => {
        request?.abort();
        resolve(undefined);
      }, Math.min(remaining, 60_000));
      new Watch(api.kc)
        .watch(
          "/api/v1/nodes",
          { fieldSelector: `metadata.name=${name}`, ...(last?.metadata?.resourceVersion ? { resourceVersion: last.metadata.resourceVersion } : {}) },
          (type: string, node: k8s.V1Node) => {
            if (type !== "ADDED" && type !== "MODIFIED") return;
            last = node;
            if (predicate(node)) {
              clearTimeout(timer);
              request?.abort();
              resolve(node);
            }
          },
          () => {
            clearTimeout(timer);
            resolve(undefined);
          },
        )
        .then((r) => (request = r), () => {
          clearTimeout(timer);
          setTimeout(() => resolve(undefined), 1_000);
        });
    });
    if (found) return found;
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${name} to ${what}; last seen: phase ${last ? phaseOf(last) : "?"}, intent ${last ? intentOf(last) : "?"}`);
}

/** Our Events on the node (since `since`, ms), oldest first, with seconds since the first. */
export async function timeline(api: Api, name: string, since = 0): Promise<{ t: string; reason: string; message: string }[]> {
  const events = (await api.core.listNamespacedEvent({ namespace: "default", fieldSelector: `involvedObject.name=${name}` })).items
    .filter((e) => e.reason?.startsWith("Migration") || e.reason === "DrainBlocked" || e.reason === "PreflightWarning")
    .map((e) => ({ reason: e.reason!, at: new Date(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? 0).getTime(), message: e.message ?? "" }))
    .filter((e) => e.at >= since - 1_000)
    .sort((a, b) => a.at - b.at);
  const t0 = events[0]?.at ?? 0;
  return events.map((e) => ({ t: ((e.at - t0) / 1000).toFixed(1), reason: e.reason, message: e.message.slice(0, 110) }));
}

function ipOf(cluster: Cluster, name: string): string {
  const node = cluster.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no node ${name} in ${cluster.name}`);
  return node.ip;
}

export const docker = (...args: string[]) => run("docker", args, { maxBuffer: 16 << 20 });
export const onNode = (node: string, script: string) => docker("exec", node, "bash", "-c", script);

/** The files a migration may change, with their sha256 (absent ones as such): compared byte for byte after a rollback. */
export async function fileDigests(cluster: Cluster, node: string): Promise<string> {
  const files = [
    "/etc/containerd/config.toml",
    "/etc/crictl.yaml",
    "/var/lib/kubelet/kubeadm-flags.env",
    "/var/lib/kubelet/config.yaml",
    "/etc/systemd/system/containerd.service.d/http-proxy.conf",
    "/etc/docker/daemon.json",
  ];
  const { stdout } = await sshRun(cluster, ipOf(cluster, node), files.map((f) => `if [ -e ${f} ]; then sha256sum ${f}; else echo "absent ${f}"; fi`).join("; "));
  return stdout;
}

/**
 * Puts a worker back the way the harness made it, on Docker, with no cri-migrator state: the
 * originals from its first backup restored, Docker's units started, kubelet restarted, our
 * annotations and labels removed, the cri-socket annotation as before, uncordoned.
 */
export async function resetWorker(cluster: Cluster, api: Api, name: string): Promise<void> {
  const node = await api.core.readNode({ name });
  const a = annotationsOf(node);
  const previousSocket = a[`${PREFIX}previous-cri-socket`];
  const onDocker = runtimeOf(node).startsWith("docker://");
  const script = [
    "set -e",
    'B=$(ls -d /var/lib/cri-migrator/backup/*/ 2>/dev/null | sort | head -n1)',
    'if [ -n "$B" ]; then',
    '  cd "$B"',
    '  find . -type f | while read -r f; do t="/${f#./}"; case "$t" in *.absent) rm -f "${t%.absent}" ;; *) mkdir -p "$(dirname "$t")"; cp -a "$f" "$t" ;; esac; done',
    "fi",
    "rm -rf /var/lib/cri-migrator/backup",
    ...(onDocker
      ? []
      : [
          "systemctl stop kubelet",
          "systemctl daemon-reload",
          "systemctl restart containerd",
          "for u in docker.socket docker.service cri-docker.socket cri-docker.service; do if systemctl cat $u >/dev/null 2>&1; then systemctl enable $u >/dev/null 2>&1; systemctl start $u; fi; done",
          "systemctl start kubelet",
        ]),
  ].join("\n");
  await onNode(name, script);
  const clear: Record<string, string | null> = {};
  for (const key of Object.keys(a)) if (key.startsWith(PREFIX)) clear[key] = null;
  if (previousSocket !== undefined) clear["kubeadm.alpha.kubernetes.io/cri-socket"] = previousSocket === "" ? null : previousSocket;
  const labels: Record<string, string | null> = {};
  for (const key of Object.keys(node.metadata?.labels ?? {})) if (key.startsWith(PREFIX)) labels[key] = null;
  await api.core.patchNode({ name, body: { metadata: { annotations: clear, labels }, spec: { unschedulable: null } } }, mergePatch());
  await watchNode(api, name, "be Ready on Docker again", 240_000, (n) => isReady(n) && runtimeOf(n).startsWith("docker://"));
}

/** A Deployment guarded by a PodDisruptionBudget, its pods spread over the workers. */
export async function guardedDeployment(cluster: Cluster, api: Api, ns: string, name: string, replicas: number, pdb: { maxUnavailable: number }): Promise<void> {
  await api.core.createNamespace({ body: { metadata: { name: ns } } }).catch(() => undefined);
  const labels = { app: name };
  // A kept cluster (E2E_KEEP=1) may have them from a run before: start from scratch.
  await api.apps.deleteNamespacedDeployment({ namespace: ns, name }).catch(() => undefined);
  await api.policy.deleteNamespacedPodDisruptionBudget({ namespace: ns, name }).catch(() => undefined);
  await waitFor(`${ns}/${name} gone`, 120_000, async () => (await api.apps.readNamespacedDeployment({ namespace: ns, name }).then(() => undefined, () => true)));
  await api.apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name },
      spec: {
        replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            terminationGracePeriodSeconds: 2,
            containers: [{ name: "app", image: cluster.testImage, imagePullPolicy: "Never", command: ["sh", "-c", "exec sleep 100000"] }],
          },
        },
      },
    },
  });
  await api.policy.createNamespacedPodDisruptionBudget({ namespace: ns, body: { metadata: { name }, spec: { maxUnavailable: pdb.maxUnavailable, selector: { matchLabels: labels } } } });
  await waitFor(`${ns}/${name} available`, 180_000, async () => {
    const d = await api.apps.readNamespacedDeployment({ namespace: ns, name });
    return d.status?.readyReplicas === replicas ? d : undefined;
  });
}

export async function readyReplicas(api: Api, ns: string, name: string): Promise<number> {
  return (await api.apps.readNamespacedDeployment({ namespace: ns, name })).status?.readyReplicas ?? 0;
}

/** Ends every open SSH session on the node (sshd's per-session processes are titled "sshd: user@tty"). */
const CUT_SESSIONS = "pkill -f '^sshd: [^ ]+@' || true";

/** Faults, each injected now and undone after `ms` (returns when undone). */
export const faults = {
  /**
   * sshd stops taking connections for `ms`, and then until `until` resolves when given; the
   * sessions already open are cut too (as a network blip would), so the actor's kept connection
   * breaks and it must connect again.
   */
  async sshDown(node: string, ms: number, until?: () => Promise<void>): Promise<void> {
    await onNode(node, `systemctl stop ssh.service; ${CUT_SESSIONS}`);
    try {
      await new Promise((r) => setTimeout(r, ms));
      await until?.();
    } finally {
      await onNode(node, "systemctl start ssh.service");
    }
  },
  /** The node presents another host key (a reinstalled node, or a man in the middle), then its own again. */
  async hostKeyChanged(node: string, ms: number): Promise<void> {
    await onNode(node, `set -e; cd /etc/ssh; cp -a ssh_host_ed25519_key k.orig; cp -a ssh_host_ed25519_key.pub k.pub.orig; rm -f ssh_host_ed25519_key ssh_host_ed25519_key.pub; ssh-keygen -q -t ed25519 -N '' -f ssh_host_ed25519_key; systemctl restart ssh.service; ${CUT_SESSIONS}`);
    await new Promise((r) => setTimeout(r, ms));
    await onNode(node, "set -e; cd /etc/ssh; mv -f k.orig ssh_host_ed25519_key; mv -f k.pub.orig ssh_host_ed25519_key.pub; systemctl restart ssh.service");
  },
  /** The API server stops answering: the control-plane node's container is frozen. */
  async apiPaused(controlPlane: string, ms: number): Promise<void> {
    // The cgroup freezer can fail to freeze a busy node at once ("OCI runtime pause failed:
    // unable to freeze"): a few more tries, a second apart, before the fault counts as not injected.
    for (let attempt = 1; ; attempt++) {
      try {
        await docker("pause", controlPlane);
        break;
      } catch (err) {
        await docker("unpause", controlPlane).catch(() => undefined); // a half-frozen node thawed
        if (attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
    try {
      await new Promise((r) => setTimeout(r, ms));
    } finally {
      await docker("unpause", controlPlane);
    }
  },
  /** Power loss: the node's container restarts (every process on the node with it). */
  async nodeRestarted(node: string): Promise<void> {
    await docker("restart", "-t", "0", node);
  },
};
