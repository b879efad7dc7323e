// The configuration schema: every field with its default and description, validated by zod at
// start-up (src/config/loader.ts). The README's configuration reference is generated from it.
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { parseSelector } from '../domain/selector.js';

const seconds = (min: number, max: number) => z.number().int().min(min).max(max);

// A label selector in the equality form kubectl accepts: key=value, key!=value, key, !key; comma separated.
const labelSelectorPattern =
  /^\s*!?[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?(\s*(=|==|!=)\s*[A-Za-z0-9]?([-A-Za-z0-9_.]*[A-Za-z0-9])?)?\s*(,\s*!?[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?(\s*(=|==|!=)\s*[A-Za-z0-9]?([-A-Za-z0-9_.]*[A-Za-z0-9])?)?\s*)*$/;
const labelSelector = z
  .string()
  .regex(labelSelectorPattern, {
    message: 'must be a label selector such as "key=value" or "key!=value,other"',
  })
  .superRefine((text, ctx) => {
    // The same parser the engine matches with: what passes here is what runs later.
    try {
      parseSelector(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `${(err as Error).message.replace(/^invalid/, 'is an invalid')}` });
    }
  });

// host or host:port, as containerd names registries (docker.io, registry.local:5000).
const registryHost = z
  .string()
  .regex(/^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:\d{1,5})?$/, {
    message: 'must be a registry host such as "docker.io" or "registry.local:5000" (no scheme, no path)',
  });
const registryEndpoint = z.url({
  protocol: /^https?$/,
  message: 'must be an http:// or https:// URL such as "https://mirror.example.com"',
});
const imageReference = z
  .string()
  .regex(/^([A-Za-z0-9.-]+(:\d+)?\/)?[a-z0-9]+([._/-][a-z0-9]+)*(:[\w][\w.-]{0,127})?(@sha256:[a-f0-9]{64})?$/, {
    message: 'must be an image reference such as "registry.k8s.io/pause:3.9"',
  });
const weekday = z
  .string()
  .transform((d) => d.toLowerCase())
  .pipe(z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'], { message: 'must be a day such as "mon" or "monday"' }));
const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { message: 'must be a time of day HH:MM, e.g. "22:00"' });
const timeZone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be an IANA time zone such as "UTC" or "Europe/Berlin"' },
);
// Written into a systemd drop-in (escaped there); whitespace and control characters cannot be in a URL.
const proxyUrl = z.union([
  z.literal(''),
  z
    .url({ protocol: /^https?$/, message: 'must be an http(s):// proxy URL or empty' })
    .regex(/^[^\s\u0000-\u001f\u007f]*$/, { message: 'must not contain spaces or control characters (percent-encode them in the URL)' }),
]);
// "auto", 2, 3 or 4; environment variables and --set give strings.
const configVersion = z.preprocess(
  (value) => (typeof value === 'string' && /^[234]$/.test(value.trim()) ? Number(value) : value),
  z.union([z.literal('auto'), z.literal(2), z.literal(3), z.literal(4)], { message: 'must be auto, 2, 3 or 4' }),
);

export const ConfigSchema = z
  .object({
    selector: labelSelector
      .default('cri-migrator.dev/migrate=containerd')
      .describe('Label selector of the Nodes to migrate. Label a node with it to start its migration.'),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(50)
      .default(1)
      .describe('How many nodes may be migrating at once across the whole cluster.'),
    minReadyNodes: z
      .number()
      .int()
      .min(0)
      .default(1)
      .describe('A node is only taken out of service while at least this many OTHER nodes stay Ready.'),
    allowControlPlane: z
      .boolean()
      .default(false)
      .describe('Whether nodes labelled node-role.kubernetes.io/control-plane (or master) may be migrated.'),
    playbooksDir: z
      .string()
      .min(1)
      .default(fileURLToPath(new URL('../../playbooks', import.meta.url)))
      .describe('Directory holding migrate.yaml, the remote steps (written once for every source runtime, with per-source data).'),
    backupDir: z
      .string()
      .regex(/^\/[^\s'"]*[^/\s'"]$/, { message: 'must be an absolute path without spaces or quotes' })
      .default('/var/lib/cri-migrator/backup')
      .describe('Directory on each node where the original of every file we change is kept (written once).'),
    drain: z
      .object({
        timeoutSeconds: seconds(1, 86_400)
          .default(900)
          .describe('Overall time limit for draining one node, counted from the first attempt across all attempts; when it passes the node is rolled back.'),
        gracePeriodSeconds: z
          .number()
          .int()
          .min(0)
          .nullable()
          .default(null)
          .describe("Grace period given to evicted pods; null uses each pod's terminationGracePeriodSeconds."),
        deleteEmptyDirData: z
          .boolean()
          .default(false)
          .describe('Evict pods that use emptyDir volumes (their data is lost), like kubectl drain --delete-emptydir-data. Without it, pods annotated cluster-autoscaler.kubernetes.io/safe-to-evict: "true" (those of cri-migrator itself are) are still evicted.'),
        force: z
          .boolean()
          .default(false)
          .describe('Evict pods that no controller manages (they are not recreated), like kubectl drain --force.'),
        podSelector: z
          .union([z.literal(''), labelSelector])
          .default('')
          .describe('Only evict pods matching this label selector; empty evicts all pods.'),
        evictionRetrySeconds: seconds(1, 300)
          .default(5)
          .describe('Wait between eviction attempts of a pod that a PodDisruptionBudget protects (HTTP 429).'),
        skipWaitForDeleteTimeoutSeconds: seconds(0, 86_400)
          .default(0)
          .describe('Pods deleted longer ago than this are not waited for (0 waits for every pod).'),
      })
      .strict()
      .prefault({})
      .describe('How pods are moved off the node (kubectl drain semantics).'),
    ssh: z
      .object({
        user: z.string().regex(/^[a-z_][a-z0-9_-]*\$?$/, { message: 'must be a Unix user name' }).default('root').describe('SSH login user on the nodes.'),
        port: z.number().int().min(1).max(65_535).default(22).describe('SSH port on the nodes.'),
        addressType: z
          .enum(['InternalIP', 'ExternalIP', 'Hostname'])
          .default('InternalIP')
          .describe("Which of the Node's status.addresses to connect to."),
        privateKeyPath: z
          .string()
          .min(1)
          .default('/etc/cri-migrator/ssh/id_ed25519')
          .describe('Private key file used to log in (mounted from a Secret in the cluster). Never logged.'),
        knownHostsPath: z
          .string()
          .min(1)
          .default('/etc/cri-migrator/ssh/known_hosts')
          .describe('known_hosts file the node host keys are verified against (OpenSSH format, [host]:port supported).'),
        insecureAcceptNewHostKeys: z
          .boolean()
          .default(false)
          .describe('Trust on first use: accept host keys that are NOT in known_hosts. A mismatching key is still rejected.'),
        sudo: z
          .boolean()
          .default(false)
          .describe('Run remote commands through "sudo -n" (needed when ssh.user is not root).'),
        connectTimeoutSeconds: seconds(1, 600).default(15).describe('Time limit for establishing an SSH connection.'),
        commandTimeoutSeconds: seconds(1, 3_600)
          .default(300)
          .describe('Default time limit for one remote command; playbook steps may set their own.'),
      })
      .strict()
      .prefault({})
      .describe('How cri-migrator reaches the nodes.'),
    containerd: z
      .object({
        sandboxImage: z
          .union([z.literal(''), imageReference])
          .default('')
          .describe(
            "Pause image for containerd's sandbox_image. Empty uses kubelet's --pod-infra-container-image, else the default for the kubelet version.",
          ),
        registryMirrors: z
          .record(registryHost, z.array(registryEndpoint).min(1))
          .default({})
          .describe('Mirrors per registry host, e.g. {"docker.io": ["https://mirror.example.com"]}; written as hosts.toml under config_path.'),
        insecureRegistries: z
          .array(registryHost)
          .default([])
          .describe('Registries reached over HTTPS without verifying their certificate (skip_verify).'),
        plainHttpRegistries: z
          .array(registryHost)
          .default([])
          .describe('Registries reached over plain HTTP.'),
        httpProxy: proxyUrl.default('').describe('HTTP_PROXY for containerd (systemd drop-in); empty sets none.'),
        httpsProxy: proxyUrl.default('').describe('HTTPS_PROXY for containerd (systemd drop-in); empty sets none.'),
        noProxy: z
          .string()
          .regex(/^[^\s"'\\]*$/, { message: 'must be a comma separated list without spaces or quotes' })
          .default('')
          .describe('NO_PROXY for containerd, comma separated; only written when a proxy is set.'),
        configVersion: configVersion
          .default('auto')
          .describe(
            'config.toml version to write: auto follows the installed containerd (1.x reads 2, 2.0-2.2 read 3, 2.3+ read 4); an existing file is migrated to it, never replaced.',
          ),
        carryDockerSettings: z
          .boolean()
          .default(true)
          .describe(
            'Carry /etc/docker/daemon.json over: registry-mirrors and insecure-registries to hosts.toml, log-opts to the kubelet, runtimes and default-runtime to containerd; what cannot be carried is a preflight warning.',
          ),
        minFreeDiskMiB: z
          .number()
          .int()
          .min(0)
          .default(2_048)
          .describe('Preflight refuses a node with less free space than this under /var/lib/containerd.'),
      })
      .strict()
      .prefault({})
      .describe('The containerd configuration that is generated for each node.'),
    images: z
      .object({
        carryOver: z
          .boolean()
          .default(true)
          .describe(
            "Before Docker stops, copy the images the node's containers use (pods, DaemonSet and static pods) and the sandbox image from Docker into containerd's k8s.io namespace, so nothing has to be pulled after the switch (air-gapped nodes, private registries whose credentials were Docker's).",
          ),
        include: z
          .array(z.string().min(1).regex(/^[^\s'"]+$/, { message: 'must be an image reference or a pattern with * (no spaces or quotes)' }))
          .default([])
          .describe(
            'Images Docker holds on the node to carry as well, though no container there uses them now: references or patterns with *, e.g. ["registry.example.com/*"] (["*"]: every tagged image). On an air-gapped cluster, what pods evicted from the nodes still on Docker will need here.',
          ),
        exclude: z
          .array(z.string().min(1).regex(/^[^\s'"]+$/, { message: 'must be an image reference or a pattern with * (no spaces or quotes)' }))
          .default([])
          .describe('Images not to carry: references or patterns with *, e.g. ["docker.io/library/*"]. They are pulled after the switch.'),
        maxTotalMiB: z
          .number()
          .int()
          .min(0)
          .default(0)
          .describe('Preflight refuses a node whose images to carry add up to more than this (MiB); 0: no limit.'),
      })
      .strict()
      .prefault({})
      .describe("Images carried from Docker into containerd."),
    preflight: z
      .object({
        allowNonKubernetesContainers: z
          .boolean()
          .default(false)
          .describe(
            'Migrate a node on which Docker runs containers outside Kubernetes. They are stopped with Docker and not started again by anyone; without this the node is refused and the containers are named.',
          ),
      })
      .strict()
      .prefault({})
      .describe('What preflight lets through.'),
    verifyTimeoutSeconds: seconds(10, 7_200)
      .default(300)
      .describe('Time for the node to come back Ready reporting containerd:// (and, on rollback, docker://).'),
    smoke: z
      .object({
        enabled: z.boolean().default(true).describe('Run a smoke pod on the node after the switch, before uncordoning.'),
        namespace: z
          .string()
          .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { message: 'must be a namespace name' })
          .default('cri-migrator')
          .describe('Namespace the smoke pod is created in.'),
        image: z
          .union([z.literal(''), imageReference])
          .default('')
          .describe('Image of the smoke pod; empty uses the sandbox image, which every node already has.'),
        timeoutSeconds: seconds(5, 3_600).default(120).describe('Time for the smoke pod to reach Running, from when the node is Ready (the pod is created as verification starts, while the node comes back).'),
      })
      .strict()
      .prefault({})
      .describe('The verification pod run on a freshly migrated node.'),
    rollback: z
      .enum(['auto', 'never'])
      .default('auto')
      .describe('auto: when retries are exhausted, restore Docker and uncordon. never: stop in Failed, cordoned, for a human.'),
    retries: z
      .object({
        maxAttempts: z.number().int().min(1).max(20).default(3).describe('Attempts per phase before rolling back.'),
        initialBackoffSeconds: seconds(1, 3_600)
          .default(5)
          .describe('First wait after a failed attempt; doubles each time. The time of the next attempt is kept on the Node (cri-migrator.dev/next-attempt-at), so every actor honours it.'),
        maxBackoffSeconds: seconds(1, 86_400).default(300).describe('Longest wait between attempts.'),
        unavailableMaxBackoffSeconds: seconds(1, 3_600)
          .default(30)
          .describe(
            'Longest wait between attempts that found the API server or the node\'s sshd not answering. Those are retried until they answer and do not count against maxAttempts.',
          ),
        unavailableTimeoutSeconds: seconds(1, 86_400)
          .default(600)
          .describe(
            'The CLI gives up on a node after the API server has not answered for this long (state on the Node stays consistent; running it again resumes). The controller keeps trying.',
          ),
      })
      .strict()
      .prefault({})
      .describe('Retry policy for failed phases.'),
    rollout: z
      .object({
        haltOnFailure: z
          .boolean()
          .default(true)
          .describe(
            'After a node ends RolledBack or Failed, admit no new node until a human runs "cri-migrator resume" (or removes the cri-migrator.dev/halt annotation status names). Nodes in flight finish.',
          ),
        windows: z
          .array(
            z
              .object({
                days: z.array(weekday).min(1).describe('Days the window starts on: mon, tue, ... (or monday, ...).'),
                startTime: clockTime.describe('Start, HH:MM in timeZone.'),
                endTime: clockTime.describe('End, HH:MM in timeZone; an end not after the start runs past midnight.'),
                timeZone: timeZone.default('UTC').describe('IANA time zone, e.g. Europe/Berlin.'),
              })
              .strict(),
          )
          .default([])
          .describe(
            'Maintenance windows, e.g. [{"days":["sat","sun"],"startTime":"22:00","endTime":"06:00","timeZone":"Europe/Berlin"}]. Outside all of them no new node starts; empty: always.',
          ),
        blockingPodSelector: z
          .union([z.literal(''), labelSelector])
          .default('')
          .describe('No new node starts while a pod matching this label selector exists anywhere in the cluster (e.g. a backup job).'),
        canary: z
          .object({
            nodes: z.number().int().min(0).max(1_000).default(0).describe('Migrate this many nodes first; 0: no canary.'),
            soakSeconds: seconds(0, 7 * 86_400).default(600).describe('Then wait this long, with them Ready on containerd, before the rest.'),
          })
          .strict()
          .prefault({})
          .describe('Canary then the rest.'),
        namespace: z
          .union([z.literal(''), z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { message: 'must be a namespace name' })])
          .default('')
          .describe('Namespace of the ConfigMap cri-migrator-rollout that "pause" and "resume" write; empty: the Lease\'s namespace.'),
      })
      .strict()
      .prefault({})
      .describe('Fleet policy: what holds back new nodes. `status` shows why nothing moves.'),
    claims: z
      .object({
        leaseSeconds: seconds(10, 3_600)
          .default(60)
          .describe(
            'How long a claim on a node (cri-migrator.dev/holder) lasts without renewal. The actor renews it at every step and every third of this while a step runs; another actor may take over an expired claim (the controller at once, the CLI with --force).',
          ),
      })
      .strict()
      .prefault({})
      .describe('One actor per node: the claim every actor (controller or CLI) writes before acting on a node.'),
    leaderElection: z
      .object({
        namespace: z
          .union([z.literal(''), z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { message: 'must be a namespace name' })])
          .default('')
          .describe("Namespace of the Lease; empty uses the pod's own namespace (or cri-migrator outside a cluster)."),
        leaseName: z
          .string()
          .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, { message: 'must be a lowercase object name' })
          .default('cri-migrator')
          .describe('Name of the coordination.k8s.io Lease the replicas compete for.'),
        leaseDurationSeconds: seconds(5, 300).default(15).describe('How long a leader holds the Lease without renewing it.'),
      })
      .strict()
      .prefault({})
      .describe('Leader election between controller replicas: only the Lease holder acts.'),
    shutdownGraceSeconds: seconds(1, 3_600)
      .default(20)
      .describe(
        'On SIGTERM the controller starts nothing new and lets the steps in flight run this long to reach their next recorded state, then cancels them (they resume from the node\'s state) and releases the Lease. Keep it below the pod\'s terminationGracePeriodSeconds.',
      ),
    metricsPort: z
      .number()
      .int()
      .min(0)
      .max(65_535)
      .default(8080)
      .describe('Port of the HTTP server that `run` starts for /metrics (Prometheus), /healthz and /readyz; 0 starts none.'),
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info').describe('Log level.'),
      })
      .strict()
      .prefault({})
      .describe('Logging.'),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.retries.maxBackoffSeconds < cfg.retries.initialBackoffSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['retries', 'maxBackoffSeconds'],
        input: cfg.retries.maxBackoffSeconds,
        message: `must be >= retries.initialBackoffSeconds (${cfg.retries.initialBackoffSeconds})`,
      });
    }
    if (cfg.ssh.user !== 'root' && !cfg.ssh.sudo) {
      ctx.addIssue({
        code: 'custom',
        path: ['ssh', 'sudo'],
        input: cfg.ssh.sudo,
        message: `must be true when ssh.user is "${cfg.ssh.user}" (not root): the steps change system files`,
      });
    }
    const both = cfg.containerd.insecureRegistries.filter((h) => cfg.containerd.plainHttpRegistries.includes(h));
    if (both.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['containerd', 'insecureRegistries'],
        input: both,
        message: `lists ${both.join(', ')} also in containerd.plainHttpRegistries; keep each registry in one list`,
      });
    }
  });

export type Config = Readonly<z.infer<typeof ConfigSchema>>;
export type ConfigInput = z.input<typeof ConfigSchema>;

