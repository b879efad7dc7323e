// Leader election with a coordination.k8s.io/v1 Lease: acquire when free or expired, renew while
// held; every write carries the resourceVersion read, so two candidates cannot both win.
import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import { LeaseNamespaceMissingError, type Clock, type Lock } from '../ports.js';
import { statusCode } from './convert.js';

export interface LeaseOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
}

export class LeaseLock implements Lock {
  constructor(
    private readonly api: CoordinationV1Api,
    private readonly clock: Clock,
    private readonly options: LeaseOptions,
  ) {}

  async tryAcquire(): Promise<boolean> {
    const { namespace, name, identity, leaseDurationSeconds } = this.options;
    const now = this.clock.now();
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (statusCode(err) !== 404) throw new Error(`reading lease ${namespace}/${name} failed`, { cause: err });
      try {
        await this.api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: new V1MicroTime(now), renewTime: new V1MicroTime(now), leaseTransitions: 0 },
          },
        });
        return true;
      } catch (createErr) {
        if (statusCode(createErr) === 409) return false; // another candidate created it first
        if (statusCode(createErr) === 404) throw new LeaseNamespaceMissingError(namespace, { cause: createErr });
        throw new Error(`creating lease ${namespace}/${name} failed`, { cause: createErr });
      }
    }
    const spec = lease.spec ?? {};
    const heldByUs = spec.holderIdentity === identity;
    const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
    const expired = !spec.holderIdentity || renewed + (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000 < now.getTime();
    if (!heldByUs && !expired) return false;
    const next: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds,
        renewTime: new V1MicroTime(now),
        ...(heldByUs ? {} : { acquireTime: new V1MicroTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
      },
    };
    try {
      await this.api.replaceNamespacedLease({ name, namespace, body: next });
      return true;
    } catch (err) {
      if (statusCode(err) === 409) return false; // someone else wrote it since our read
      throw new Error(`updating lease ${namespace}/${name} failed`, { cause: err });
    }
  }

  async release(): Promise<void> {
    const { namespace, name, identity } = this.options;
    try {
      const lease = await this.api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      const { holderIdentity: _holder, ...rest } = lease.spec;
      await this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: { ...rest, leaseDurationSeconds: 1 } } });
    } catch (err) {
      if (statusCode(err) === 404 || statusCode(err) === 409) return;
      throw new Error(`releasing lease ${namespace}/${name} failed`, { cause: err });
    }
  }
}
