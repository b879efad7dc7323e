// Runs the real controller (`cri-migrator run`) as a child process against a kind cluster.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { productEnv, type Cluster } from "./harness.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Writes a controller config for `cluster`: its SSH key and known_hosts, with each of `extras`
 * (YAML documents) merged over them in turn, key by key (a later drain.timeoutSeconds joins an
 * earlier drain.evictionRetrySeconds; extra's leaderElection.namespace replaces the default one).
 */
export async function writeConfig(cluster: Cluster, ...extras: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "crim-e2e-"));
  const path = join(dir, "config.yaml");
  let config: Record<string, unknown> = { ssh: { privateKeyPath: cluster.sshKey, knownHostsPath: cluster.knownHosts }, leaderElection: { namespace: "cri-migrator" } };
  for (const extra of extras) config = merge(config, (YAML.parse(extra) as Record<string, unknown> | null) ?? {});
  await writeFile(path, YAML.stringify(config));
  return path;
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  for (const [k, v] of Object.entries(b)) out[k] = isMap(out[k]) && isMap(v) ? merge(out[k], v) : v;
  return out;
}

export interface RunningController {
  child: ChildProcess;
  logPath: string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `cri-migrator run`; its JSON log goes to a file named in test output on failure. */
export async function startController(cluster: Cluster, configPath: string, name: string): Promise<RunningController> {
  const logPath = join(tmpdir(), `crim-e2e-${cluster.name}-${name}-${Date.now()}.log`);
  const log = createWriteStream(logPath);
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/main.ts", "run", "--kubeconfig", cluster.kubeconfig, "--config", configPath],
    { cwd: repoRoot, env: productEnv({ POD_NAME: `e2e-${name}` }), stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    logPath,
    exited,
    async kill(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface RunningCli {
  child: ChildProcess;
  done: Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Starts the CLI (`cri-migrator ARGS --kubeconfig ... --config ...`) without waiting for it. */
export function startCli(cluster: Cluster, configPath: string, args: string[]): RunningCli {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/main.ts", ...args, "--kubeconfig", cluster.kubeconfig, "--config", configPath],
    { cwd: repoRoot, env: productEnv(), stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    child.on("exit", (c, signal) => resolve({ code: c ?? (signal ? 128 : -1), stdout, stderr })),
  );
  return { child, done };
}

/** Runs the CLI once (`cri-migrator ARGS --kubeconfig ... --config ...`); resolves with its output and exit code. */
export async function runCli(cluster: Cluster, configPath: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return startCli(cluster, configPath, args).done;
}
