// The images a node needs once it runs containerd, and what else depended on Docker there. Pure,
// but for the read-only probe script (imagesScript) the facts run.
//
// containerd does not see Docker's images: every image a container of the node uses (pods,
// DaemonSet and static pods alike) and the sandbox image must be in containerd's k8s.io namespace
// before the kubelet starts on it, or an air-gapped node comes back with ImagePullBackOff. The
// list is kept beside the run's backups (<backupDir>.images), so a retry after Docker has been
// stopped still knows what had to be carried.
import { shQuote, SYSTEMD_DEFAULT_PATH } from './shell.js';

export interface DockerContainer {
  id: string;
  /** The image as the container asked for it (Config.Image): a reference, or an image ID. */
  image: string;
  /** The image ID it runs (sha256:...). */
  imageId: string;
  name: string;
  running: boolean;
  /** io.kubernetes.pod.namespace/name, when the kubelet (dockershim or cri-dockerd) made it. */
  pod?: string;
}

export interface DockerImage {
  id: string;
  tags: string[];
  /** name@sha256:... as pulled from a registry. */
  digests: string[];
  sizeBytes: number;
}

export interface ImageFacts {
  dockerRunning: boolean;
  /** Docker is not running yet but on its way: docker.service activating, or systemd still booting the node. */
  starting: boolean;
  containers: DockerContainer[];
  images: DockerImage[];
  /** Images the static pod manifests (/etc/kubernetes/manifests) name. */
  staticPodImages: string[];
  /** References present in containerd's k8s.io namespace. */
  inContainerd: string[];
  /**
   * Image references in containerd's moby namespace: where Docker keeps its images when it uses the
   * containerd image store (Engine 29+ by default, or features.containerd-snapshotter); empty with
   * a graph driver. Read from containerd, so known while Docker is stopped too. Each image is
   * looked up there: no store-wide flag is needed.
   */
  inMoby: string[];
  /** The list an earlier attempt of this run carried (or was to carry), if any. */
  recordedList: string[] | undefined;
}

/** The fields of Docker's Engine API answers the probe reads. */
interface EngineContainer {
  Id?: string;
  Name?: string;
  Image?: string;
  Config?: { Image?: string; Labels?: Record<string, string> | null };
  State?: { Running?: boolean };
}
interface EngineImage {
  Id?: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Size?: number;
}

const MARK = '@@cri-migrator-images:';
/** The last line of the images probe's output: it ran to its end. */
export const IMAGES_END = `${MARK}end`;

/** The file beside the run's backup directory that lists the images to carry. */
export function imageListPath(backupDir: string): string {
  return `${backupDir.replace(/\/+$/, '')}.images`;
}

/** Where Docker's Engine API answers on a default install (what the docker CLI talks to). */
const DOCKER_SOCKET = '/var/run/docker.sock';

/**
 * Read-only probe of Docker's containers and images and containerd's k8s.io images. Docker is
 * asked through its Engine API on its socket when curl is there: the same objects `docker
 * inspect` prints, in 6-8 ms a call on a kind worker, where each docker CLI call took 0.09-0.22 s
 * (four of them: 0.4 s of every facts read). Without curl or the socket, the docker CLI. The
 * containers, the images, containerd's k8s.io list and the rest are asked at once, each part into
 * its own file of a temporary directory (removed at the end); where no directory can be made, or a
 * part's file is cut short, one after another. On a kind worker without curl the probe took
 * 0.53-0.73 s one after another.
 */
export function imagesScript(backupDir: string): string {
  const list = shQuote(imageListPath(backupDir));
  return `set +e
export PATH=${SYSTEMD_DEFAULT_PATH}:$PATH
sec() { echo "${MARK}$1"; }
ds=$(systemctl is-active docker.service 2>/dev/null)
dapi() { [ -S ${DOCKER_SOCKET} ] && command -v curl >/dev/null 2>&1 && curl -sf --unix-socket ${DOCKER_SOCKET} "http://docker$1"; }
containers() {
  sec containers; [ "$ds" = active ] || return 0
  if list=$(dapi '/containers/json?all=1'); then
    printf '%s\n' "$list" | grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4 | sed 's|.*|http://docker/containers/&/json|' | xargs -r curl -s --unix-socket ${DOCKER_SOCKET} -w '\n' | sed -n 's/^{/json {/p'
  else
    docker ps -aq --no-trunc | xargs -r docker inspect --format '{{.Id}}	{{.Config.Image}}	{{.Image}}	{{.Name}}	{{.State.Running}}	{{with .Config.Labels}}{{index . "io.kubernetes.pod.namespace"}}{{end}}	{{with .Config.Labels}}{{index . "io.kubernetes.pod.name"}}{{end}}' 2>/dev/null
  fi
}
images() {
  sec images; [ "$ds" = active ] || return 0
  if list=$(dapi /images/json); then printf 'json %s\n' "$list"
  else docker images -q --no-trunc | sort -u | xargs -r docker image inspect --format '{{.Id}}	{{json .RepoTags}}	{{json .RepoDigests}}	{{.Size}}' 2>/dev/null
  fi
}
k8sio() { sec containerd; ctr -n k8s.io images ls -q 2>/dev/null; }
rest() {
  sec system-state; systemctl is-system-running 2>/dev/null
  sec static; cat /etc/kubernetes/manifests/*.yaml /etc/kubernetes/manifests/*.yml 2>/dev/null | sed -n 's/^[[:space:]-]*image:[[:space:]]*//p'
  sec moby; ctr -n moby images ls -q 2>/dev/null
  sec recorded; if [ -f ${list} ]; then echo present; cat ${list}; fi
}
sec docker-running; [ "$ds" = active ] && echo yes
sec docker-state; echo "$ds"
# Each part's file ends with a line of its own: a file cut short (a full disk) is not taken, and
# the parts are asked again one after another.
whole=${MARK}part-done
if t=$(mktemp -d 2>/dev/null); then
  { containers; echo "$whole"; } > "$t/1" & { images; echo "$whole"; } > "$t/2" &
  { k8sio; echo "$whole"; } > "$t/3" & { rest; echo "$whole"; } > "$t/4" & wait
  if [ "$(cat "$t/1" "$t/2" "$t/3" "$t/4" 2>/dev/null | grep -cxF "$whole")" = 4 ]; then
    cat "$t/1" "$t/2" "$t/3" "$t/4" | grep -vxF "$whole"
  else
    containers; images; k8sio; rest
  fi
  rm -rf "$t"
else
  containers; images; k8sio; rest
fi
sec end
`;
}

export function parseImagesFacts(output: string): ImageFacts {
  const sections = new Map<string, string[]>();
  let current: string | undefined;
  for (const line of output.split('\n')) {
    if (line.startsWith(MARK)) {
      current = line.slice(MARK.length).trim();
      sections.set(current, []);
    } else if (current !== undefined && line.trim() !== '') {
      sections.get(current)!.push(line);
    }
  }
  const lines = (name: string) => sections.get(name) ?? [];
  const json = <T>(text: string | undefined, fallback: T): T => {
    try {
      return text ? (JSON.parse(text) as T) : fallback;
    } catch {
      return fallback;
    }
  };
  const containers: DockerContainer[] = lines('containers').flatMap((line): DockerContainer[] => {
    if (line.startsWith('json ')) {
      // GET /containers/{id}/json: what `docker inspect` prints; a container gone meanwhile answers
      // {"message": ...} and is left out, as the CLI leaves it out.
      const o = json<EngineContainer | null>(line.slice(5), null);
      if (!o?.Id || !o.Config?.Image || !o.Image) return [];
      const labels = o.Config.Labels ?? {};
      const podName = labels['io.kubernetes.pod.name'];
      const podNs = labels['io.kubernetes.pod.namespace'] ?? '';
      return [{ id: o.Id, image: o.Config.Image, imageId: o.Image, name: (o.Name ?? '').replace(/^\//, ''), running: o.State?.Running === true, ...(podName ? { pod: `${podNs}/${podName}` } : {}) }];
    }
    // Go templates print "<no value>" for a label a nil map lacks: no label.
    const [id, image, imageId, name, running, podNs, podName] = line.split('\t').map((f) => (f === '<no value>' ? '' : f));
    if (!id || !image || !imageId) return [];
    return [{ id, image, imageId, name: (name ?? '').replace(/^\//, ''), running: running === 'true', ...(podName ? { pod: `${podNs}/${podName}` } : {}) }];
  });
  const images: DockerImage[] = lines('images').flatMap((line): DockerImage[] => {
    if (line.startsWith('json ')) {
      // GET /images/json: the top-level images, as `docker images -q` lists them.
      return (json<EngineImage[] | null>(line.slice(5), null) ?? []).flatMap((i) =>
        i.Id ? [{ id: i.Id, tags: (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'), digests: (i.RepoDigests ?? []).filter((d) => d !== '<none>@<none>'), sizeBytes: Number(i.Size) || 0 }] : [],
      );
    }
    const [id, tags, digests, size] = line.split('\t');
    if (!id) return [];
    return [{ id, tags: json<string[] | null>(tags, [])?.filter((t) => t !== '<none>:<none>') ?? [], digests: json<string[] | null>(digests, []) ?? [], sizeBytes: Number(size) || 0 }];
  });
  const recorded = lines('recorded');
  return {
    dockerRunning: lines('docker-running')[0] === 'yes',
    starting: ['activating', 'reloading'].includes(lines('docker-state')[0]?.trim() ?? '') || ['initializing', 'starting'].includes(lines('system-state')[0]?.trim() ?? ''),
    containers,
    images,
    staticPodImages: [...new Set(lines('static').map((l) => l.trim().replace(/^["']|["']$/g, '')).filter(Boolean))],
    inContainerd: lines('containerd').map((l) => l.trim()),
    inMoby: lines('moby').map((l) => l.trim()),
    recordedList: recorded[0] === 'present' ? recorded.slice(1).map((l) => l.trim()).filter(Boolean) : undefined,
  };
}

/**
 * Docker writes short names (nginx:1.25) the way the kubelet asked for them; containerd's CRI
 * stores the normalized reference (docker.io/library/nginx:1.25). Compare and import under that.
 */
export function normalizeReference(ref: string): string {
  let name = ref;
  const at = name.indexOf('@');
  const digest = at >= 0 ? name.slice(at) : '';
  if (at >= 0) name = name.slice(0, at);
  const slash = name.indexOf('/');
  const first = slash >= 0 ? name.slice(0, slash) : '';
  const hasRegistry = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasRegistry) name = `docker.io/${slash >= 0 ? name : `library/${name}`}`;
  const lastSlash = name.lastIndexOf('/');
  if (!digest && !name.slice(lastSlash + 1).includes(':')) name = `${name}:latest`;
  return name + digest;
}

export interface ImageToCarry {
  /** The reference as the node uses it (normalized). */
  ref: string;
  /** Docker's reference to save it by. */
  dockerRef: string;
  sizeBytes: number;
  /** Already in containerd's k8s.io namespace. */
  present: boolean;
  /**
   * In containerd's moby namespace (Docker's containerd image store): carried from there, its
   * blobs shared with k8s.io rather than copied, whether Docker runs or not.
   */
  fromMoby: boolean;
  /** Who needs it: a pod, a static pod manifest, the sandbox. */
  usedBy: string[];
}

export interface CarryPlan {
  images: ImageToCarry[];
  /** Bytes still to move (images not yet present). */
  bytesToMove: number;
  /** What cannot be carried, and why (a reference by digest, an image Docker does not have). */
  problems: string[];
  /** References left out by images.exclude. */
  excluded: string[];
  /** Containers Docker runs outside Kubernetes: they stop with Docker. */
  nonKubernetes: { name: string; image: string }[];
  /** Whether the list came from what an earlier attempt recorded (Docker already stopped). */
  fromRecord: boolean;
}

function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

/** Matches normalized references against images.include/exclude patterns (no tag in the pattern: any tag; "*": all). */
function referenceMatcher(patterns: readonly string[]): (ref: string) => boolean {
  const res = patterns.map((p) =>
    /^\*+$/.test(p) ? /^/ : globToRegExp(normalizeReference(p).replace(/:latest$/, p.includes(':') ? ':latest' : '*')),
  );
  return (ref) => res.some((re) => re.test(ref));
}

/**
 * The images the node needs in containerd, from what Docker runs there, the static pods, the
 * sandbox image and the images.include patterns.
 */
export function planCarry(facts: ImageFacts, options: { sandboxImage: string; include?: readonly string[]; exclude: readonly string[] }): CarryPlan {
  const isExcluded = referenceMatcher(options.exclude);
  const isIncluded = referenceMatcher(options.include ?? []);
  const present = new Set(facts.inContainerd.map(normalizeReference));
  const inMoby = new Set(facts.inMoby.map(normalizeReference));
  const nonKubernetes = facts.containers.filter((c) => c.pod === undefined && c.running).map((c) => ({ name: c.name, image: c.image }));

  const wanted = new Map<string, Set<string>>();
  const want = (ref: string, who: string) => {
    if (!wanted.has(ref)) wanted.set(ref, new Set());
    wanted.get(ref)!.add(who);
  };
  if (!facts.dockerRunning && facts.recordedList) {
    for (const ref of facts.recordedList) want(ref, 'recorded by an earlier attempt');
  } else {
    const byId = new Map(facts.images.map((i) => [i.id, i]));
    for (const c of facts.containers) {
      if (c.pod === undefined) continue;
      // A container made from an image ID: carry the image under the tags Docker knows it by.
      const refs = c.image.startsWith('sha256:') ? (byId.get(c.imageId)?.tags ?? [c.image]) : [c.image];
      for (const ref of refs) want(ref, c.pod);
    }
    for (const ref of facts.staticPodImages) want(ref, 'static pod manifest');
    for (const tag of facts.images.flatMap((i) => i.tags)) if (isIncluded(normalizeReference(tag))) want(tag, 'images.include');
    // What the node's pods used before the drain (their containers are gone once evicted).
    for (const ref of facts.recordedList ?? []) want(ref, 'recorded before the drain');
  }
  want(options.sandboxImage, 'sandbox image');

  const problems: string[] = [];
  const excluded: string[] = [];
  const images: ImageToCarry[] = [];
  for (const [raw, users] of wanted) {
    const ref = normalizeReference(raw);
    if (isExcluded(ref)) {
      excluded.push(ref);
      continue;
    }
    const isPresent = present.has(ref);
    const fromMoby = inMoby.has(ref);
    const image = facts.images.find((i) => i.tags.some((t) => normalizeReference(t) === ref) || i.digests.some((d) => normalizeReference(d) === ref) || i.id === raw);
    if (ref.includes('@sha256:') && !isPresent && !fromMoby) {
      // docker save writes a new manifest: the registry's digest cannot be reproduced.
      problems.push(`${ref} is used by digest (${[...users].join(', ')}): Docker cannot export it under that digest; pull it into containerd (ctr -n k8s.io images pull) or use a tag`);
      continue;
    }
    if (!image && !isPresent && !fromMoby) {
      if (facts.dockerRunning) problems.push(`${ref} (${[...users].join(', ')}) is neither in Docker nor in containerd`);
      else if (facts.recordedList) problems.push(`${ref} is not in containerd and Docker is stopped: start Docker (rollback does) to carry it`);
      continue;
    }
    const dockerRef = image?.tags.find((t) => normalizeReference(t) === ref) ?? raw;
    images.push({ ref, dockerRef, sizeBytes: image?.sizeBytes ?? 0, present: isPresent, fromMoby, usedBy: [...users] });
  }
  images.sort((a, b) => a.ref.localeCompare(b.ref));
  return {
    images,
    bytesToMove: images.filter((i) => !i.present).reduce((n, i) => n + i.sizeBytes, 0),
    problems,
    excluded,
    nonKubernetes,
    fromRecord: !facts.dockerRunning && facts.recordedList !== undefined,
  };
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** One image from Docker into containerd's k8s.io namespace, under the same reference. */
export function carryCommand(image: ImageToCarry): string {
  if (image.fromMoby) {
    // Docker's containerd image store: the image is already in this containerd, in the moby
    // namespace. ctr exports it from there and imports it into k8s.io under the same name and
    // digests; with containerd's default content_sharing_policy ("shared") the import finds each
    // blob in the store and adds it to k8s.io without writing it again (core/metadata/content.go).
    // Docker need not run. Only the node's platform: an index's other platforms are not in the store.
    // --local where ctr has it (2.x): through the transfer service ctr 2.4's export cut its stream
    // short in 4 of 15 tries here ("short read", "write /dev/stdout: file already closed"); locally
    // in none of 15.
    return (
      `l=; if ctr images export --help 2>&1 | grep -q -- --local; then l=--local; fi; ` +
      `ctr -n moby images export $l - ${shQuote(image.ref)} | ctr -n k8s.io images import $l - && ctr -n k8s.io images ls -q | grep -qxF ${shQuote(image.ref)}`
    );
  }
  // ctr imports a docker save archive under the names it holds; --all-platforms keeps an index
  // from being cut down to content the archive does not have (k3s#2198).
  // ctr names what it imports by the archive's tags, normalized as the CRI looks them up. sh has no
  // pipefail: that the reference is in k8s.io afterwards is what says the copy worked.
  return `docker save ${shQuote(image.dockerRef)} | ctr -n k8s.io images import --all-platforms - && ctr -n k8s.io images ls -q | grep -qxF ${shQuote(image.ref)}`;
}

/** Exit 0 when every listed image answers through the CRI (what the kubelet will ask for). */
export function verifyImagesScript(refs: readonly string[], socket: string): string {
  return [
    'missing=""',
    `for r in ${refs.map(shQuote).join(' ')}; do`,
    `  crictl --runtime-endpoint ${shQuote(socket)} inspecti "$r" >/dev/null 2>&1 || missing="$missing $r"`,
    'done',
    'if [ -n "$missing" ]; then echo "not in containerd\'s k8s.io namespace:$missing" >&2; exit 1; fi',
  ].join('\n');
}
