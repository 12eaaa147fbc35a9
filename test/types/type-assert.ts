// Shared helpers for the compile-time type tests under test/types (checked by
// `tsc -p test/types/tsconfig.json`, never run).

/** True when A and B are identical types (not merely mutually assignable). */
export type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;

/** Compiles only when T is `true`: `type _ = Expect<Equal<typeof x, Y>>`. */
export type Expect<T extends true> = T;

/**
 * Compiles only when `value` has exactly the type `Expected`:
 * `expectExact<Promise<number>>()(value)`.
 */
export declare function expectExact<Expected>(): <Actual>(
  value: Actual & (Equal<Actual, Expected> extends true ? unknown : { readonly __typeMismatch: [expected: Expected, actual: Actual] }),
) => void;
