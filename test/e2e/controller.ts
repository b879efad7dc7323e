// Runs the real controller (`cri-migrator run`) as a child process against a kind cluster.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Cluster } from "./harness.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** Writes a controller config for `cluster`: its SSH key and known_hosts, plus `extra` YAML lines. */
export async function writeConfig(cluster: Cluster, extra = ""): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "crim-e2e-"));
  const path = join(dir, "config.yaml");
  await writeFile(
    path,
    [
      "ssh:",
      `  privateKeyPath: ${cluster.sshKey}`,
      `  knownHostsPath: ${cluster.knownHosts}`,
      "leaderElection:",
      "  namespace: cri-migrator",
      extra,
    ].join("\n"),
  );
  return path;
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
    { cwd: repoRoot, env: { ...process.env, POD_NAME: `e2e-${name}` }, stdio: ["ignore", "pipe", "pipe"] },
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

/** Runs the CLI once (`cri-migrator ARGS --kubeconfig ... --config ...`); resolves with its output and exit code. */
export async function runCli(cluster: Cluster, configPath: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/main.ts", ...args, "--kubeconfig", cluster.kubeconfig, "--config", configPath],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? -1)));
  return { code, stdout, stderr };
}
