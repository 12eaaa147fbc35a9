import { expect } from 'vitest';
import { DeferralError } from '../src/index.js';

/** Runs `fn`, expects it to throw a DeferralError, and returns it. */
export function thrown(fn: () => unknown): DeferralError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a DeferralError to be thrown').toBeInstanceOf(DeferralError);
  return caught as DeferralError;
}

/** Awaits `promise`, expects it to reject with a DeferralError, and returns it. */
export async function failure(promise: Promise<unknown>): Promise<DeferralError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DeferralError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}
