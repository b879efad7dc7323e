// What the control-plane suites (control-plane-ha.test.ts, control-plane-single.test.ts) watch:
// the API server's answers and etcd's members, and the static pods of a node.
import type { Api } from "./ops.js";

export const components = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"];

/** Every request to the API server (through the load balancer) every 250 ms: failures and the longest gap between answers. */
export function watchApi(api: Api) {
  let stopped = false;
  let failures = 0;
  let requests = 0;
  let lastOk = Date.now();
  let longestGapMs = 0;
  let minEtcdReady = Infinity;
  const loop = (async () => {
    while (!stopped) {
      requests++;
      try {
        const pods = await api.core.listNamespacedPod({ namespace: "kube-system", labelSelector: "component=etcd" });
        const now = Date.now();
        longestGapMs = Math.max(longestGapMs, now - lastOk);
        lastOk = now;
        minEtcdReady = Math.min(minEtcdReady, pods.items.filter((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")).length);
      } catch {
        failures++;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { requests, failures, longestGapMs: Math.max(longestGapMs, Date.now() - lastOk), minEtcdReady };
    },
  };
}

export async function staticPodsOn(api: Api, node: string) {
  const pods = (await api.core.listNamespacedPod({ namespace: "kube-system", labelSelector: "tier=control-plane", fieldSelector: `spec.nodeName=${node}` })).items;
  return pods.map((p) => ({
    component: p.metadata?.labels?.["component"] ?? "",
    ready: p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    runtime: (p.status?.containerStatuses?.[0]?.containerID ?? "").split("://")[0],
  }));
}

