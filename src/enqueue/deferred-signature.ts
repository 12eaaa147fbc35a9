// The type of `Deferred` and its variants: which method names and arguments a model accepts.
// Type-only: nothing here exists at run time.
import type { BaseEntity, DataSource, EntityManager, Repository } from 'typeorm';
import type { Uid } from '../call/call.js';
import type { DeferredJob } from '../job/job.js';
import type { RepositoryFactory } from '../call/registry.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (...args: any[]) => any;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyClass = abstract new (...args: any[]) => any;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyRepository = Repository<any>;

// Through a property, so compiler messages print the names ('"a" | "b"') and not 'MethodNames<Invoice>'.
type Named<T> = { names: { [K in keyof T]-?: T[K] extends Fn ? K : never }[keyof T] & string };
/** The names of the function-valued members of T. */
export type MethodNames<T> = Named<T>['names'];
/** The custom methods of a repository: those that are not Repository's own. */
export type RepositoryMethodNames<R> = Exclude<MethodNames<R>, keyof Repository<never>>;

// BaseEntity's own methods (save, find, reload…) cannot carry @Deferrable(): leaving them out
// keeps the list of names in a compiler error down to the entity's own methods.
type StaticMethodNames<C> = C extends typeof BaseEntity ? Exclude<MethodNames<C>, keyof typeof BaseEntity> : MethodNames<C>;
// A repository is never a record: without this, its base methods would pass as record methods.
type RecordMethodNames<E> = E extends AnyRepository ? never
  : E extends BaseEntity ? Exclude<MethodNames<E>, keyof BaseEntity> : MethodNames<E>;

/** Where the call's data lives: a registered DataSource, its name, or one of its EntityManagers. */
export type DbArgument = DataSource | EntityManager | string;

/** What `Deferred` accepts as its model. */
export type DeferredModel = string | object;

/**
 * What a model offers to a deferred call. One conditional type instead of one overload per form:
 * with overloads, a wrong name or argument fell through to the untyped entity-name overload and
 * the compiler blamed the model ("… is not assignable to parameter of type 'string'").
 */
type Target<T> =
  [T] extends [string] ? { untyped: true }
  : [T] extends [RepositoryFactory<infer R>] ? { on: R; names: RepositoryMethodNames<R>; many: false }
  : [T] extends [AnyRepository] ? { on: T; names: RepositoryMethodNames<T>; many: false }
  : [T] extends [AnyClass] ? { on: T; names: StaticMethodNames<T>; many: false }
  : [T] extends [readonly (infer E)[]] ? { on: E; names: RecordMethodNames<E>; many: true }
  : { on: T; names: RecordMethodNames<T>; many: false };

/** The method names `Deferred` accepts for this model: any string for an entity name. */
export type DeferrableMethodNames<T> = Target<T> extends { names: infer N } ? N : string;

// The `method` parameter. Not a constraint on M: a name outside a constraint would make the compiler
// retry with every name at once, and the call's result type would then need every method's return
// type (circular inside the entity's own methods). Here M keeps the name written, and a wrong one
// is compared with the valid names: `'"genrate"' is not assignable to '"generate" | "archive"'`.
type MethodParameter<T, M> = M extends DeferrableMethodNames<T> ? M : DeferrableMethodNames<T>;

/** The arguments of `model.method` (anything for an entity name or an unknown method). */
export type DeferredArgs<T, M> =
  Target<T> extends { on: infer O } ? M extends keyof O ? O[M] extends Fn ? Parameters<O[M]> : unknown[] : unknown[] : unknown[];

/** What the job's result resolves to: the method's awaited result, one per record for an array. */
export type DeferredResult<T, M> =
  Target<T> extends { on: infer O; many: infer Many }
    ? M extends keyof O ? O[M] extends Fn ? Many extends true ? Array<Awaited<ReturnType<O[M]>>> : Awaited<ReturnType<O[M]>> : unknown : unknown
    : unknown;

/**
 * The signature of `Deferred` and of every variant made by `DeferredType()`.
 *
 * `model` is an entity class (its static methods), an entity instance or an array of them (their
 * instance methods), a repository from `registerRepository` or its factory (its own methods), or
 * an entity name (not type-checked). For a typed model the compiler checks `method` against the
 * model's method names and `args` against that method's parameters.
 */
export interface DeferredFunction {
  <T extends DeferredModel, M extends string>(
    model: T, db: DbArgument, uid: Uid, method: MethodParameter<T, M>, ...args: DeferredArgs<T, M>
  ): Promise<DeferredJob<DeferredResult<T, M>>>;
}
