// Issues 7 and 8 end to end, run by migrate.test.ts on its Kubernetes 1.32 cluster (two Docker
// workers) after its own cases:
// - faults: each cell real faults (sshd down, host key changed, SIGKILL of the actor, API server
//   paused, power loss of the node), each injected when a phase starts, for the controller and the
//   CLI; every cell must end Succeeded, or RolledBack with the node Ready on docker://, uncordoned
//   and its files restored byte for byte; never Failed. `make test` runs every fault kind once, in
//   two cells (one per actor, both workers at once); E2E_FAULT_MATRIX=1 (make
//   fault-matrix) runs every fault at every phase, one per cell, and writes docs/fault-matrix.md.
// - fleet: one actor per node (CLI and controller at once, two CLIs), a closed maintenance window,
//   a blocking pod selector, then concurrency 2 (both workers at once); halt on failure until
//   resume with E2E_LONG=1 (make test proves it on the control planes, control-plane-ha.test.ts).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LONG, sshRun, type Cluster } from "./harness.js";
import { startCli, startController, writeConfig, type RunningController } from "./controller.js";
import {
  annotationsOf, faults, fileDigests, guardedDeployment, intentOf, isReady, MIGRATE_LABEL, mergePatch, phaseOf, PREFIX,
  readyReplicas, resetWorker, runtimeOf, timeline, watchNode, type Api,
} from "./ops.js";

const ns = "e2e-ops";
const MATRIX = process.env.E2E_FAULT_MATRIX === "1";
const PHASES = ["Preflight", "Cordoned", "Drained", "RuntimeConfigured", "KubeletSwitched", "Verified"] as const;
type InjectPhase = (typeof PHASES)[number];
/** Phases whose step connects to the node over SSH (verify reads the sandbox image for its smoke pod). */
const SSH_PHASES: readonly InjectPhase[] = ["Preflight", "RuntimeConfigured", "KubeletSwitched", "Verified"];
type FaultKind = "ssh-3s" | "ssh-60s" | "host-key-changed" | "sigkill" | "api-paused-30s" | "node-restarted";
type Actor = "controller" | "cli";
interface Injection { fault: FaultKind; phase: InjectPhase }
/** One migration by one actor, with faults injected in phase order. */
interface Cell { faults: Injection[]; actor: Actor }
interface Result extends Cell { outcome: string; seconds: number; note: string }
const faultsOf = (cell: Cell) => cell.faults.map((f) => `${f.fault} at ${f.phase}`).join(", ");

/**
 * Every fault kind once (sshd down 3 s; its 60 s form runs in the matrix), SIGKILL for both
 * actors: two migrations, run at once on the two workers (the API pause holds up both).
 */
const QUICK: Cell[] = [
  // sshd comes back 3 s into the runtime step; the controller is killed while it waits its backoff.
  { actor: "controller", faults: [{ fault: "ssh-3s", phase: "Drained" }, { fault: "sigkill", phase: "RuntimeConfigured" }, { fault: "node-restarted", phase: "KubeletSwitched" }, { fault: "api-paused-30s", phase: "Verified" }] },
  { actor: "cli", faults: [{ fault: "host-key-changed", phase: "RuntimeConfigured" }, { fault: "sigkill", phase: "KubeletSwitched" }] },
];
const KINDS: FaultKind[] = ["ssh-3s", "ssh-60s", "host-key-changed", "sigkill", "api-paused-30s", "node-restarted"];
/**
 * The matrix in parts (it takes hours): E2E_FAULTS=ssh-3s,sigkill runs those rows only, in that
 * order; `ssh-3s@Preflight` one phase of a row, `ssh-3s@Preflight/cli` one cell. The table keeps
 * the other cells' last results.
 */
function selectCells(spec: string): Cell[] {
  const actors = ["controller", "cli"] as const;
  return spec.split(",").map((k) => k.trim()).filter(Boolean).flatMap((entry) => {
    const m = /^([a-z0-9-]+)(?:@([A-Za-z]+)(?:\/([a-z]+))?)?$/.exec(entry);
    const fault = m?.[1] as FaultKind | undefined;
    if (!m || !KINDS.includes(fault!)) throw new Error(`E2E_FAULTS: "${entry}" is not a fault (one of ${KINDS.join(", ")}), optionally @phase and /actor, e.g. ssh-3s@Preflight/cli`);
    const phase = m[2] as InjectPhase | undefined;
    if (phase !== undefined && !PHASES.includes(phase)) throw new Error(`E2E_FAULTS: "${entry}": phase "${phase}" is not one of ${PHASES.join(", ")}`);
    const actor = m[3] as Actor | undefined;
    if (actor !== undefined && !actors.includes(actor as never)) throw new Error(`E2E_FAULTS: "${entry}": actor "${actor}" is not controller or cli`);
    return (phase ? [phase] : PHASES).flatMap((p) => (actor ? [actor] : actors).map((a) => ({ actor: a, faults: [{ fault: fault!, phase: p }] })));
  });
}
const FULL: Cell[] = selectCells(process.env.E2E_FAULTS || KINDS.join(","));
const MATRIX_DOC = fileURLToPath(new URL("../../docs/fault-matrix.md", import.meta.url));
const TABLE_HEAD = "| fault | injected at the start of | actor | outcome | seconds | note | run |";

/** The matrix's rows: this run's results over the ones already in docs/fault-matrix.md, in matrix order. */
function matrixRows(results: Result[], cluster: Cluster): string[] {
  const key = (fault: string, phase: string, actor: string) => `${fault}|${phase}|${actor}`;
  const rows = new Map<string, string>();
  if (existsSync(MATRIX_DOC)) {
    for (const line of readFileSync(MATRIX_DOC, "utf8").split("\n")) {
      const cells = line.split("|").map((c) => c.trim());
      if (cells.length >= 8 && KINDS.includes(cells[1] as FaultKind)) rows.set(key(cells[1]!, cells[2]!, cells[3]!), line);
    }
  }
  const day = new Date().toISOString().slice(0, 10);
  for (const r of results) {
    const f = r.faults[0]!;
    rows.set(key(f.fault, f.phase, r.actor), `| ${f.fault} | ${f.phase} | ${r.actor} | ${r.outcome} | ${r.seconds.toFixed(0)} | ${r.note} | ${day}, ${cluster.k8sVersion} |`);
  }
  const ordered = KINDS.flatMap((fault) => PHASES.flatMap((phase) => (["controller", "cli"] as const).map((actor) => rows.get(key(fault, phase, actor)))));
  return ordered.filter((r): r is string => r !== undefined);
}

function writeMatrix(results: Result[], cluster: Cluster): void {
  const rows = matrixRows(results, cluster);
  const total = KINDS.length * PHASES.length * 2;
  const passed = rows.filter((r) => /\| (Succeeded|RolledBack) \|/.test(r)).length;
  mkdirSync(fileURLToPath(new URL("../../docs/", import.meta.url)), { recursive: true });
  writeFileSync(
    MATRIX_DOC,
    `# Fault matrix\n\n${rows.length} of ${total} cells run, ${passed} ended Succeeded or RolledBack as required` +
      `${rows.length < total ? ` (the rest not run yet: \`make fault-matrix FAULTS=...\` runs the missing rows)` : ""}. ` +
      `Kind on a 2-core machine. ` +
      `Made by \`make fault-matrix\` (E2E_FAULT_MATRIX=1, test/e2e/operations.ts run by migrate-132.test.ts; ` +
      `\`FAULTS=ssh-3s,sigkill\` runs those rows only, \`FAULTS=ssh-3s@Preflight/cli\` one cell, and keeps the others): each cell injects a real fault when ` +
      `the phase starts (its intent is written on the Node). ssh-Ns: sshd refuses connections from then until N s after the ` +
      `next step that connects over SSH has begun; host-key-changed: the node presents another host key for 20 s; sigkill: ` +
      `the actor is killed with SIGKILL and started again (the controller as a new pod would be, the CLI run again); ` +
      `api-paused-30s: the control-plane node is frozen (docker pause) for 30 s; node-restarted: docker restart of the ` +
      `node (power loss). A cell passes only if the node ends Succeeded, or RolledBack ` +
      `Ready on docker:// with its files restored byte for byte, uncordoned, and the guarded pods back. Seconds are from ` +
      `labelling the node (or starting migrate) to the end.\n\n${[TABLE_HEAD, "| --- | --- | --- | --- | --- | --- | --- |", ...rows].join("\n")}\n`,
  );
}

/**
 * Quicker eviction retries than the default (the cases wait less, the behaviour is the same),
 * and the test image carried to every node whatever runs there: the cases reset the workers
 * to Docker in between, so a node is migrated while the pods that will be evicted onto it run on
 * the other one, and this cluster has no registry (images.include, what an air-gapped cluster sets).
 */
const opsConfig = (cluster: Cluster) => `drain:\n  evictionRetrySeconds: 1\nimages:\n  include: ["${cluster.testImage}"]\n`;

/** The operations cases, on the cluster `get` gives (its workers are reset to Docker first). */
export function describeOperations(get: () => { cluster: Cluster; api: Api }): void {
describe("operations", () => {
  let cluster: Cluster;
  let api: Api;
  let workers: string[];
  let controlPlane: string;
  let controller: RunningController | undefined;
  let config: string;

  async function restartController(extra = "", name = "ops"): Promise<void> {
    await controller?.kill();
    config = await writeConfig(cluster, opsConfig(cluster), extra);
    controller = await startController(cluster, config, name);
  }

  const label = (name: string) => api.core.patchNode({ name, body: { metadata: { labels: { [MIGRATE_LABEL]: "containerd" } } } }, mergePatch());
  const node = (name: string) => api.core.readNode({ name });
  const terminal = (name: string, timeoutMs = 15 * 60_000) =>
    watchNode(api, name, "end Succeeded, RolledBack or Failed", timeoutMs, (n) => ["Succeeded", "RolledBack", "Failed"].includes(phaseOf(n) ?? ""));

  beforeAll(async () => {
    ({ cluster, api } = get());
    workers = cluster.nodes.filter((n) => n.role === "worker").map((n) => n.name);
    controlPlane = cluster.nodes.find((n) => n.role === "control-plane")!.name;
    await api.core.createNamespace({ body: { metadata: { name: "cri-migrator" } } }).catch(() => undefined);
    // The cases before these left the workers migrated: back on Docker, with no state.
    for (const name of workers) await resetWorker(cluster, api, name);
    // Pods on both workers behind a budget that lets one go at a time.
    await guardedDeployment(cluster, api, ns, "web", 4, { maxUnavailable: 1 });
    config = await writeConfig(cluster, opsConfig(cluster));
  }, 90 * 60_000);

  afterAll(async () => {
    await controller?.kill();
  }, 180_000);

  describe("faults at every step", () => {
    const results: Result[] = [];
    let turn = 0;
    let restarts = 0;

    afterAll(() => {
      const rows = results.map((r) => `| ${r.faults.map((f) => f.fault).join(", ")} | ${r.faults.map((f) => f.phase).join(", ")} | ${r.actor} | ${r.outcome} | ${r.seconds.toFixed(0)} | ${r.note} |`);
      const table = ["| fault | injected at the start of | actor | outcome | seconds | note |", "| --- | --- | --- | --- | --- | --- |", ...rows].join("\n");
      console.log(`\nfault matrix (${results.length} cells):\n${table}\n`);
    });

    /** The guarded Deployment's 4 pods Ready again (3 min at most); where not, its pods are shown. */
    async function guardedPodsBack(): Promise<void> {
      const deadline = Date.now() + 180_000;
      while ((await readyReplicas(api, ns, "web")) < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2_000));
      const ready = await readyReplicas(api, ns, "web");
      if (ready !== 4) {
        const pods = (await api.core.listNamespacedPod({ namespace: ns, labelSelector: "app=web" })).items;
        console.table(pods.map((p) => ({
          pod: p.metadata?.name,
          node: p.spec?.nodeName ?? "-",
          phase: p.status?.phase,
          ready: p.status?.conditions?.find((c) => c.type === "Ready")?.status,
          why: p.status?.containerStatuses?.map((c) => c.state?.waiting?.reason ?? c.state?.terminated?.reason ?? "").join(",") ?? p.status?.conditions?.find((c) => c.status !== "True")?.message,
        })));
      }
      expect(ready).toBe(4);
    }

    /** alone: no other cell runs beside it, so the guarded pods are its own to check. */
    async function runCell(cell: Cell, target: string, alone = true): Promise<Result> {
      const before = await fileDigests(cluster, target);
      if (cell.actor === "controller" && !controller) await restartController();
      const started = Date.now();
      let cli = cell.actor === "cli" ? startCli(cluster, config, ["migrate", target]) : undefined;
      if (cell.actor === "controller") await label(target);

      const notes: string[] = [];
      const ip = cluster.nodes.find((n) => n.name === target)!.ip;
      for (const { fault, phase } of cell.faults) {
        const at = await watchNode(api, target, `start ${phase}`, 10 * 60_000, (n) => intentOf(n) === phase || phaseOf(n) === phase || ["Succeeded", "RolledBack", "Failed"].includes(phaseOf(n) ?? ""));
        if (["Succeeded", "RolledBack", "Failed"].includes(phaseOf(at) ?? "")) {
          notes.push(`ended ${phaseOf(at)} before ${fault} at ${phase}`);
          break;
        }
        if (intentOf(at) !== phase) notes.push(`${phase} passed before ${fault} (phase ${phaseOf(at)})`);
        switch (fault) {
          case "ssh-3s":
          case "ssh-60s": {
            // sshd refuses from the start of the phase until N s after the next step that connects
            // over SSH has begun (the phase itself, or the runtime step after a cordon or drain).
            const downFor = fault === "ssh-3s" ? 3_000 : 60_000;
            await faults.sshDown(target, 0, async () => {
              if (!SSH_PHASES.includes(phase)) {
                await watchNode(api, target, "start its next SSH step", 15 * 60_000, (n) => intentOf(n) === "RuntimeConfigured" || ["Succeeded", "RolledBack", "Failed"].includes(phaseOf(n) ?? "")).catch(() => undefined);
              }
              await new Promise((r) => setTimeout(r, downFor));
            });
            break;
          }
          case "host-key-changed":
            await faults.hostKeyChanged(target, 20_000);
            break;
          case "api-paused-30s":
            await faults.apiPaused(controlPlane, 30_000);
            break;
          case "node-restarted":
            await faults.nodeRestarted(target);
            break;
          case "sigkill":
            if (cell.actor === "controller") {
              await controller!.kill("SIGKILL");
              controller = await startController(cluster, config, `ops-${++restarts}`);
            } else {
              cli!.child.kill("SIGKILL");
              await cli!.done;
              // Run again, from the same host: it resumes from the node's state (its own dead claim).
              cli = startCli(cluster, config, ["migrate", target]);
            }
            break;
        }
      }
      const note = notes.join("; ");
      const done = await terminal(target);
      const seconds = (Date.now() - started) / 1000;
      const cliResult = cli ? await cli.done : undefined;
      const outcome = phaseOf(done) ?? "?";
      try {
        console.log(`${faultsOf(cell)} (${cell.actor}) on ${target}: ${outcome} in ${seconds.toFixed(1)} s${note ? ` (${note})` : ""}`);
        if (cliResult) console.log(`migrate exited ${cliResult.code}:\n${cliResult.stdout}${cliResult.stderr.split("\n").slice(-15).join("\n")}`);
        console.table(await timeline(api, target, started));
        expect(outcome, `never Failed for a transient fault: ${annotationsOf(done)[`${PREFIX}rollback-reason`]}`).not.toBe("Failed");
        expect(["Succeeded", "RolledBack"]).toContain(outcome);
        const settled = await watchNode(api, target, "be Ready again", 300_000, (n) => isReady(n));
        expect(settled.spec?.unschedulable ?? false).toBe(false);
        expect(annotationsOf(settled)[`${PREFIX}holder`]).toBeUndefined(); // released
        if (outcome === "RolledBack") {
          expect(runtimeOf(settled)).toMatch(/^docker:\/\//);
          expect(await fileDigests(cluster, target)).toBe(before);
        } else {
          expect(runtimeOf(settled)).toMatch(/^containerd:\/\//);
          expect((await sshRun(cluster, ip, "crictl info >/dev/null && echo CRI-OK")).stdout).toContain("CRI-OK");
        }
        // The message is the table's note when this fails: the last errors `migrate` printed.
        const said = (r: { code: number; stderr: string }) => {
          const lines = r.stderr.trim().split("\n").map((l) => l.trim()).filter(Boolean);
          const errors = lines.filter((l) => /error|fail/i.test(l)).slice(-2);
          return `migrate exited ${r.code}: ${(errors.length > 0 ? errors : lines.slice(-1)).join(" / ")}`;
        };
        if (cliResult) expect(cliResult.code, said(cliResult)).toBe(outcome === "Succeeded" ? 0 : 1);
        // The guarded pods come back. With another cell beside it, that cell may still hold its
        // node cordoned with one of the pods evicted (the budget allows it): checked after both.
        if (alone) await guardedPodsBack();
      } finally {
        await resetWorker(cluster, api, target);
      }
      return { ...cell, outcome, seconds, note };
    }

    if (MATRIX) {
      for (const cell of FULL) {
        it(`${faultsOf(cell)}, ${cell.actor}: Succeeded or RolledBack, never Failed`, async () => {
          const started = Date.now();
          try {
            results.push(await runCell(cell, workers[turn++ % workers.length]!));
          } catch (err) {
            // A failed cell is a row of the table too, with why.
            const why = (err instanceof Error ? err.message : String(err)).split("\n")[0]!.replace(/\|/g, "/").slice(0, 160);
            results.push({ ...cell, outcome: "FAILED CHECK", seconds: (Date.now() - started) / 1000, note: why });
            throw err;
          } finally {
            writeMatrix(results, cluster);
          }
        }, 20 * 60_000);
      }
    } else {
      it(`at once: the controller with ${faultsOf(QUICK[0]!)}; the CLI with ${faultsOf(QUICK[1]!)}: Succeeded or RolledBack, never Failed`, async () => {
        const settled = await Promise.allSettled(QUICK.map((cell, i) => runCell(cell, workers[i]!, false)));
        for (const r of settled) if (r.status === "fulfilled") results.push(r.value);
        for (const r of settled) if (r.status === "rejected") throw r.reason;
        await guardedPodsBack();
      }, 25 * 60_000);
    }

    // In the matrix only when its cell is among those run (FAULTS).
    const sshAtDrain = (c: Cell) => c.actor === "controller" && c.faults.some((f) => f.fault === "ssh-3s" && f.phase === "Drained");
    it.runIf(!MATRIX || FULL.some(sshAtDrain))("the controller with sshd down 3 s during a drain waits the backoff and ends Succeeded", () => {
      const cell = results.find(sshAtDrain);
      expect(cell?.outcome).toBe("Succeeded");
    });

    it("a PodDisruptionBudget with maxUnavailable 0 and drain.timeoutSeconds 30: rolled back at 30 s plus the rollback, not 3 x 30 s", async () => {
      const target = workers[0]!;
      await restartController("drain:\n  timeoutSeconds: 30\n", "ops-pdb");
      // Everything after the first object made is undone in finally, whatever fails.
      try {
        await api.apps.createNamespacedDeployment({
          namespace: ns,
          body: {
            metadata: { name: "pinned" },
            spec: {
              replicas: 1,
              selector: { matchLabels: { app: "pinned" } },
              template: {
                metadata: { labels: { app: "pinned" } },
                spec: {
                  nodeSelector: { "kubernetes.io/hostname": target },
                  terminationGracePeriodSeconds: 1,
                  containers: [{ name: "app", image: cluster.testImage, imagePullPolicy: "Never", command: ["sh", "-c", "exec sleep 100000"] }],
                },
              },
            },
          },
        });
        await api.policy.createNamespacedPodDisruptionBudget({ namespace: ns, body: { metadata: { name: "pinned" }, spec: { maxUnavailable: 0, selector: { matchLabels: { app: "pinned" } } } } });
        const deadline = Date.now() + 120_000;
        while ((await readyReplicas(api, ns, "pinned")) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1_000));
        // plan shows it as blocking and exits 1, naming the budget.
        const plan = await startCli(cluster, config, ["plan", target]).done;
        expect(plan.code).toBe(1);
        expect(plan.stdout).toMatch(new RegExp(`would NOT migrate: the drain would be blocked by PodDisruptionBudget ${ns}/pinned`));
        await label(target);
        const drainStart = await watchNode(api, target, "start draining", 300_000, (n) => intentOf(n) === "Drained");
        const since = new Date(annotationsOf(drainStart)[`${PREFIX}intent-since`]!).getTime();
        const done = await terminal(target);
        const end = new Date(annotationsOf(done)[`${PREFIX}finished-at`]!).getTime();
        console.table(await timeline(api, target));
        console.log(`drain started ${new Date(since).toISOString()}, rolled back after ${((end - since) / 1000).toFixed(1)} s`);
        expect(phaseOf(done)).toBe("RolledBack");
        expect(annotationsOf(done)[`${PREFIX}rollback-reason`]).toMatch(/timed out after 30s \(drain.timeoutSeconds, counted from the first attempt\)/);
        expect((end - since) / 1000).toBeGreaterThanOrEqual(30);
        // Three attempts of 30 s each would end after 90 s.
        expect((end - since) / 1000).toBeLessThan(75);
        expect(done.spec?.unschedulable ?? false).toBe(false);
      } finally {
        await api.policy.deleteNamespacedPodDisruptionBudget({ namespace: ns, name: "pinned" }).catch(() => undefined);
        await api.apps.deleteNamespacedDeployment({ namespace: ns, name: "pinned" }).catch(() => undefined);
        await resetWorker(cluster, api, target);
      }
    }, 20 * 60_000);
  });

  describe("one actor per node, and the fleet policy", () => {
    it("the CLI and the controller on one node at once, and two CLIs: exactly one acts, the other names the holder", async () => {
      const [a, b] = workers as [string, string];
      await restartController("", "ops-owner");
      const since = Date.now() - 1_000;
      // The CLI labels and claims a in one write; the controller watching that label sees it held.
      const cli = startCli(cluster, config, ["migrate", a]);
      // Two CLIs on b.
      const first = startCli(cluster, config, ["migrate", b]);
      const second = startCli(cluster, config, ["migrate", b]);
      const [ra, r1, r2] = await Promise.all([cli.done, first.done, second.done]);
      try {
        expect(ra.code, ra.stderr).toBe(0);
        const codes = [r1.code, r2.code].sort();
        expect(codes).toEqual([0, 1]);
        const loser = r1.code === 1 ? r1 : r2;
        expect(loser.stderr).toMatch(new RegExp(`${b} is held by cli@\\S+/\\d+ \\(since `));
        for (const name of [a, b]) {
          const events = (await api.core.listNamespacedEvent({ namespace: "default", fieldSelector: `involvedObject.name=${name}` })).items
            .filter((e) => new Date(e.lastTimestamp ?? e.eventTime ?? 0).getTime() >= since);
          for (const reason of ["MigrationPreflight", "MigrationRuntimeConfigured", "MigrationKubeletSwitched", "MigrationSucceeded"]) {
            const e = events.filter((x) => x.reason === reason);
            expect(e.length, `${name} ${reason}`).toBe(1);
            expect(e[0]!.count ?? 1, `${name} ${reason} counted once`).toBe(1);
          }
        }
      } finally {
        await resetWorker(cluster, api, a);
        await resetWorker(cluster, api, b);
      }
    }, 20 * 60_000);

    it("a closed maintenance window admits nothing; a blocking pod holds both workers until it is deleted; then concurrency 2 migrates both at once", async () => {
      const closedNow = new Date(Date.now() + 3 * 3600_000);
      const hhmm = (d: Date) => d.toISOString().slice(11, 16);
      const day = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"][closedNow.getUTCDay()];
      await restartController(
        `rollout:\n  windows:\n    - {days: [${day}], startTime: "${hhmm(closedNow)}", endTime: "${hhmm(new Date(closedNow.getTime() + 3600_000))}", timeZone: UTC}\n`,
        "ops-window",
      );
      try {
        await Promise.all(workers.map(label));
        for (const name of workers) {
          await watchNode(api, name, "wait for the window", 120_000, (n) => /outside the maintenance windows/.test(annotationsOf(n)[`${PREFIX}blocked-by`] ?? ""));
        }
        await new Promise((r) => setTimeout(r, 10_000));
        for (const name of workers) expect(phaseOf(await node(name)) ?? "Pending").toBe("Pending");
        expect((await startCli(cluster, config, ["status"]).done).stdout).toMatch(/^Rollout: outside the maintenance windows .*the next opens at/);

        // The same nodes under a blocking pod selector, two at a time: held while a backup pod exists.
        await api.core.createNamespacedPod({
          namespace: ns,
          body: { metadata: { name: "backup", labels: { app: "backup" } }, spec: { terminationGracePeriodSeconds: 0, containers: [{ name: "b", image: cluster.testImage, imagePullPolicy: "Never", command: ["sleep", "100000"] }] } },
        });
        // Both workers cordoned at once leave the guarded pods nowhere to go: under their budget the
        // second eviction would wait for a replacement that cannot schedule until the drain's
        // deadline. Concurrency 2 on a two-worker cluster is only safe for pods without a budget.
        await api.policy.deleteNamespacedPodDisruptionBudget({ namespace: ns, name: "web" });
        await restartController("concurrency: 2\nminReadyNodes: 1\nrollout:\n  blockingPodSelector: app=backup\n", "ops-blocking");
        for (const name of workers) {
          await watchNode(api, name, "wait for the backup pod", 120_000, (n) => /rollout.blockingPodSelector "app=backup".*e2e-ops\/backup/.test(annotationsOf(n)[`${PREFIX}blocked-by`] ?? ""));
          expect(phaseOf(await node(name)) ?? "Pending").toBe("Pending");
        }
        const cordoned = new Map<string, { from: number; to?: number }>();
        const watchers = workers.map((name) =>
          watchNode(api, name, "end", 6 * 60_000, (n) => {
            const now = Date.now();
            const entry = cordoned.get(name);
            if (n.spec?.unschedulable && !entry) cordoned.set(name, { from: now });
            if (!n.spec?.unschedulable && entry && entry.to === undefined) entry.to = now;
            return ["Succeeded", "RolledBack", "Failed"].includes(phaseOf(n) ?? "") && !n.spec?.unschedulable;
          }),
        );
        const t0 = Date.now();
        await api.core.deleteNamespacedPod({ namespace: ns, name: "backup", gracePeriodSeconds: 0 });
        const done = await Promise.all(watchers);
        const rows = workers.map((name) => ({ node: name, cordoned: ((cordoned.get(name)!.from - t0) / 1000).toFixed(1), uncordoned: ((cordoned.get(name)!.to! - t0) / 1000).toFixed(1) }));
        console.table(rows);
        expect(done.map(phaseOf)).toEqual(["Succeeded", "Succeeded"]);
        const [x, y] = workers.map((n) => cordoned.get(n)!);
        expect(x!.from < y!.to! && y!.from < x!.to!).toBe(true); // the two intervals overlap
      } finally {
        await api.core.deleteNamespacedPod({ namespace: ns, name: "backup", gracePeriodSeconds: 0 }).catch(() => undefined);
        for (const name of workers) await resetWorker(cluster, api, name);
        await guardedDeployment(cluster, api, ns, "web", 4, { maxUnavailable: 1 });
      }
    }, 20 * 60_000);

    // make test: control-plane-ha.test.ts halts at a control plane rolled back.
    it.runIf(LONG)("a failure halts the rollout: the next node is never cordoned until resume", async () => {
      const [a, b] = workers as [string, string];
      await restartController("", "ops-halt");
      const ip = cluster.nodes.find((n) => n.name === a)!.ip;
      // A containerd config whose CRI plugin cannot load once enabled: a is rolled back.
      await sshRun(cluster, ip, `cp /etc/containerd/config.toml /root/config.toml.orig && printf 'version = 2\\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\\n[plugins."io.containerd.grpc.v1.cri".containerd]\\n  snapshotter = "no-such-snapshotter"\\n' > /etc/containerd/config.toml && systemctl restart containerd`);
      try {
        await label(a);
        expect(phaseOf(await terminal(a))).toBe("RolledBack");
        expect(annotationsOf(await node(a))[`${PREFIX}halt`]).toMatch(/^ended RolledBack/);
        await label(b);
        const held = await watchNode(api, b, "be held by the halt", 120_000, (n) => /rollout halted/.test(annotationsOf(n)[`${PREFIX}blocked-by`] ?? ""));
        const status = await startCli(cluster, config, ["status"]).done;
        expect(status.stdout).toMatch(new RegExp(`^Rollout: rollout halted: ${a} ended RolledBack`));
        await new Promise((r) => setTimeout(r, 15_000));
        const still = await node(b);
        expect(phaseOf(still) ?? "Pending").toBe("Pending");
        expect(still.spec?.unschedulable ?? false).toBe(false);
        expect(held.spec?.unschedulable ?? false).toBe(false);
        const resume = await startCli(cluster, config, ["resume"]).done;
        expect(resume.stdout).toMatch(new RegExp(`rollout resumed: cleared the halt of ${a}`));
        expect(phaseOf(await terminal(b))).toBe("Succeeded");
      } finally {
        // The reset puts back what the migration backed up (the broken config); then the real original.
        await resetWorker(cluster, api, a);
        await resetWorker(cluster, api, b);
        await sshRun(cluster, ip, "mv -f /root/config.toml.orig /etc/containerd/config.toml && systemctl restart containerd");
      }
    }, 20 * 60_000);

  });
});
}
