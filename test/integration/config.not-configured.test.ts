import { describe, expect, it } from 'vitest';
import { Deferred, getJob, startWorker, type DeferralError } from '../../src/index.js';

// Its own file: vitest gives each file a fresh module state, so nothing here is configured.
describe('before configure()', () => {
  it('every entry point fails with DEFER_ERR_NOT_CONFIGURED', async () => {
    const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: DeferralError) => e.code);
    expect(await codeOf(Deferred('Account', 'main', 1, 'x'))).toBe('DEFER_ERR_NOT_CONFIGURED');
    expect(await codeOf(getJob('some-id'))).toBe('DEFER_ERR_NOT_CONFIGURED');
    expect(await codeOf(startWorker())).toBe('DEFER_ERR_NOT_CONFIGURED');
  });
});
