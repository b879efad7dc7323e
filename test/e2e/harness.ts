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
  /**
   * What the harness made the node as: a control plane's runtime ("containerd" or "docker"), or
   * a worker's entry of `--workers` in canonical form ("docker", "cd2", "cd2new", "cd2v3",
   * "daemonjson", "extcontainer", or several joined with "+", e.g. "cd2v3+daemonjson").
   */
  variant: string;
}

/** The options of `hack/cluster.sh up` that pick the cluster's nodes (see its usage). */
export interface ClusterShape {
  /** One entry per worker, comma separated; default "docker,docker". */
  workers: string;
  /** "docker-only": nodes whose kubelet runs on Docker have the images in Docker alone. */
  images: "both" | "docker-only";
  controlPlanes: 1 | 3;
  cpRuntime: "containerd" | "docker";
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
  shape: ClusterShape;
  nodes: ClusterNode[];
}

/**
 * E2E_LONG=1 (make test-long): also the cases that repeat a capability make test already proves
 * elsewhere (each such case says where).
 */
export const LONG = process.env.E2E_LONG === "1";

/** Kubernetes minors under test; E2E_K8S=1.32 narrows a run to one. */
export const k8sMinors: string[] = (process.env.E2E_K8S ?? "1.23,1.32").split(",").map((v) => v.trim());

/**
 * A suite's cluster name, crim-<minor digits><suffix> (crim-132-ic), or with E2E_CLUSTER_PREFIX
 * in place of crim- (e.g. crim-p-132-ic), to run beside another run's clusters.
 */
export function clusterName(minor: string, suffix = ""): string {
  return `${process.env.E2E_CLUSTER_PREFIX ?? "crim-"}${minor.replace(".", "")}${suffix}`;
}

/** A name a suite spelled out (crim-123-mig) with E2E_CLUSTER_PREFIX in place of crim-, once. */
function prefixed(name: string): string {
  const prefix = process.env.E2E_CLUSTER_PREFIX;
  if (!prefix || name.startsWith(prefix) || !name.startsWith("crim-")) return name;
  return prefix + name.slice("crim-".length);
}

/**
 * Runs `hack/cluster.sh up` (idempotent: reuses a running cluster of the same shape) and reads
 * cluster.json. `name` picks a cluster other than the default crim-<minor> (suites that must not
 * share one; E2E_CLUSTER_PREFIX replaces its crim- as in clusterName); `shape` asks for other
 * nodes than the default (one containerd control plane, two Docker workers).
 */
export async function ensureCluster(minor: string, name?: string, shape: Partial<ClusterShape> = {}): Promise<Cluster> {
  const script = `${repoRoot}/hack/cluster.sh`;
  const args = ["--k8s", minor, "--name", name ? prefixed(name) : clusterName(minor)];
  if (shape.workers !== undefined) args.push("--workers", shape.workers);
  if (shape.images !== undefined) args.push("--images", shape.images);
  if (shape.controlPlanes !== undefined) args.push("--control-planes", String(shape.controlPlanes));
  if (shape.cpRuntime !== undefined) args.push("--cp-runtime", shape.cpRuntime);
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
    batch: kc.makeApiClient(k8s.BatchV1Api),
    node: kc.makeApiClient(k8s.NodeV1Api),
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

/**
 * The environment for cri-migrator processes the tests start: this one without the harness's
 * own CRI_MIGRATOR_CACHE, which cri-migrator would read as a setting of its own (it reads every
 * CRI_MIGRATOR_* variable) and refuse as unknown.
 */
export function productEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { CRI_MIGRATOR_CACHE: _harnessCache, ...env } = process.env;
  return { ...env, ...extra };
}

export async function readText(path: string): Promise<string> {
  return readFile(path, "utf8");
}
