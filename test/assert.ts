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
