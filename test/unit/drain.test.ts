// drainNode on its own: what a failing API server does to the drain's two halves (evictions, and
// the watch for the pods' deletion started beside them).
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ApiUnavailableError } from '../../src/domain/errors.js';
import { drainNode } from '../../src/drain/drain.js';
import { FakeClock, FakeEvictor, makePod, silentLog } from './fakes.js';

describe('drainNode', () => {
  it('an eviction the paused API server fails ends the drain with that error; the deletion watch failing after it is no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const clock = new FakeClock();
      const evictor = new FakeEvictor([makePod('web-1')]);
      evictor.evict = async () => {
        throw new ApiUnavailableError('the API server did not answer');
      };
      // The watch fails a moment later, as a list against a paused API server does.
      evictor.waitForDeletion = () => new Promise((_, reject) => setTimeout(() => reject(new Error('listing the pods on w1 failed')), 20));
      const config = loadConfig({});
      const drained = drainNode({ nodeName: 'w1', deadline: new Date(clock.now().getTime() + 60_000), config, evictor, clock, log: silentLog, onBlocked: async () => undefined });
      await expect(drained).rejects.toBeInstanceOf(ApiUnavailableError);
      await new Promise((r) => setTimeout(r, 100)); // the watch's rejection has happened by now
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
