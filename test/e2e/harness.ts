// Test-side view of the kind harness (hack/cluster.sh): bring a cluster up or
// reuse a running one, and hand tests what they need to reach it.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

export interface ClusterNode {
  name: string;
  role: "control-plane" | "worker";
  ip: string;
  runtime: string;
}

export interface Cluster {
  name: string;
  k8sVersion: string;
  kubeconfig: string;
  /** The kubectl and kind binaries the harness built for this cluster. */
  kubectl: string;
  kind: string;
  sshUser: string;
  sshKey: string;
  knownHosts: string;
  /** Workload image preloaded on every node (no registry is reachable). */
  testImage: string;
  nodes: ClusterNode[];
}

/** Kubernetes minors under test; E2E_K8S=1.32 narrows a run to one. */
export const k8sMinors: string[] = (process.env.E2E_K8S ?? "1.23,1.32").split(",").map((v) => v.trim());

/**
 * Runs `hack/cluster.sh up` (idempotent: reuses a running cluster) and reads cluster.json.
 * `name` picks a cluster other than the default crim-<minor> (suites that must not share one).
 */
export async function ensureCluster(minor: string, name?: string): Promise<Cluster> {
  const script = `${repoRoot}/hack/cluster.sh`;
  const args = ["--k8s", minor, ...(name ? ["--name", name] : [])];
  const child = execFile("bash", [script, "up", ...args], { maxBuffer: 64 << 20 });
  // Progress of a cold build takes minutes: show it rather than sit silent.
  child.stderr?.pipe(process.stderr);
  await new Promise<void>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`hack/cluster.sh up ${args.join(" ")} exited ${code}`))));
  });
  const { stdout } = await run("bash", [script, "info", ...args]);
  return JSON.parse(stdout) as Cluster;
}

/** Deletes a suite's cluster when it is done, unless E2E_KEEP=1 (to look around afterwards). */
export async function releaseCluster(cluster: Cluster | undefined): Promise<void> {
  if (!cluster || process.env.E2E_KEEP === "1") return;
  const minor = cluster.k8sVersion.replace(/^v(\d+\.\d+)\..*$/, "$1");
  await run("bash", [`${repoRoot}/hack/cluster.sh`, "down", "--k8s", minor, "--name", cluster.name]);
}

export function kubeClients(cluster: Cluster) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    policy: kc.makeApiClient(k8s.PolicyV1Api),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
  };
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** ssh with host-key checking against the harness's known_hosts (no trust on first use). */
export async function sshRun(cluster: Cluster, host: string, command: string, knownHosts = cluster.knownHosts) {
  return run("ssh", [
    "-i", cluster.sshKey,
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${knownHosts}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "ConnectTimeout=10",
    `${cluster.sshUser}@${host}`,
    command,
  ]);
}

export async function readText(path: string): Promise<string> {
  return readFile(path, "utf8");
}
