import { InstanceChecker, MongoRepository, Repository, TreeRepository, type DataSource, type EntityManager, type ObjectLiteral } from 'typeorm';
import { getConfig } from '../config.js';
import { DeferralError } from '../errors.js';
import { nameProblem } from '../limits.js';
import { show } from '../options.js';

type AnyClass = abstract new (...args: never[]) => unknown;

// Marks live beside the classes, never on them, so a payload cannot forge one.
const instanceMarks = new WeakMap<object, Set<string>>();
const staticMarks = new WeakMap<object, Set<string>>();

// Names no payload may call, even on a class that (wrongly) marked them.
const FORBIDDEN = new Set(['constructor', '__proto__', 'prototype', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__']);

/**
 * Marks an entity method (instance or static) as callable by workers. Workers
 * refuse every method without this mark, whatever a payload in Redis says.
 *
 * @example
 * ```ts
 * class Invoice { @Deferrable() async recompute(rate: number) { … } }
 * ```
 */
export function Deferrable(): MethodDecorator {
  return (target, key, descriptor) => {
    if (typeof key !== 'string' || FORBIDDEN.has(key) || typeof descriptor.value !== 'function') {
      throw new DeferralError('DEFER_ERR_METHOD_NOT_DEFERRABLE', `@Deferrable() goes on a named method, not on ${String(key)}`, { method: String(key) });
    }
    const [marks, owner] = typeof target === 'function' ? [staticMarks, target] : [instanceMarks, target.constructor];
    let set = marks.get(owner);
    if (!set) marks.set(owner, (set = new Set()));
    set.add(key);
  };
}

/** True when `name` was marked with @Deferrable() on `cls` or a class it extends. */
export function isDeferrable(cls: AnyClass, name: string, kind: 'static' | 'instance'): boolean {
  if (FORBIDDEN.has(name)) return false;
  const marks = kind === 'static' ? staticMarks : instanceMarks;
  for (let c: object | null = cls; c && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
    if (marks.get(c)?.has(name)) {
      const holder = kind === 'static' ? cls : cls.prototype;
      return typeof (holder as Record<string, unknown>)[name] === 'function';
    }
  }
  return false;
}

/** A custom repository made by {@link registerRepository}: call it with a DataSource or EntityManager. */
export interface RepositoryFactory<R> {
  (source: DataSource | EntityManager): R;
  /** The name payloads carry; the same in every process. */
  readonly repositoryName: string;
  /** The entity class the repository is for. */
  readonly entity: AnyClass;
}

const factoriesByName = new Map<string, RepositoryFactory<unknown>>();
const factoryOfInstance = new WeakMap<object, RepositoryFactory<unknown>>();

/**
 * Registers a custom repository. Its own methods (those given to `extend`) are
 * deferrable; the base Repository methods (`remove`, `query`, …) are not.
 *
 * @example
 * ```ts
 * export const InvoiceRepository = registerRepository(Invoice, (base) => base.extend({
 *   async closeMonth(month: string) { … },
 * }))
 * await Deferred(InvoiceRepository(dataSource), dataSource, uid, 'closeMonth', '2026-11')
 * ```
 */
export function registerRepository<E extends ObjectLiteral, R extends Repository<E>>(
  entity: abstract new (...args: never[]) => E,
  build: (base: Repository<E>) => R,
  options: { name?: string } = {},
): RepositoryFactory<R> {
  const repositoryName = options.name ?? `${entity?.name}Repository`;
  if (typeof entity !== 'function' || typeof build !== 'function') {
    throw new DeferralError('DEFER_ERR_INVALID_OPTION', 'registerRepository(Entity, base => base.extend({...}), { name? }) takes an entity class and a builder', { entity, repositoryName });
  }
  // The name travels in payloads and is kept in the job table's model column (varchar(255)).
  const problem = nameProblem(repositoryName);
  if (problem) throw new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid option name: ${show(repositoryName)} ${problem}`, { option: 'name', value: repositoryName });
  const factory = Object.assign(
    (source: DataSource | EntityManager): R => {
      const manager = InstanceChecker.isDataSource(source) ? source.manager : source;
      const repo = build(manager.getRepository(entity as never) as Repository<E>);
      factoryOfInstance.set(repo, factory as RepositoryFactory<unknown>);
      return repo;
    },
    { repositoryName, entity },
  ) as RepositoryFactory<R>;
  // The last registration wins, so module reloads in development do not fail.
  factoriesByName.set(repositoryName, factory as RepositoryFactory<unknown>);
  return factory;
}

/** The factory behind a repository instance, or the factory itself. */
export function factoryOf(value: unknown): RepositoryFactory<unknown> | undefined {
  if (typeof value === 'function' && factoriesByName.get((value as RepositoryFactory<unknown>).repositoryName) === value) {
    return value as RepositoryFactory<unknown>;
  }
  return typeof value === 'object' && value !== null ? factoryOfInstance.get(value) : undefined;
}

/** A registered repository by the name a payload carries. */
export function factoryByName(name: string): RepositoryFactory<unknown> | undefined {
  return factoriesByName.get(name);
}

const BASE_REPOSITORIES: readonly object[] = [Repository.prototype, TreeRepository.prototype, MongoRepository.prototype];

/** True when `name` is one of the repository's own (custom) methods. */
export function isRepositoryMethod(repo: object, name: string): boolean {
  if (FORBIDDEN.has(name)) return false;
  for (let p: object | null = Object.getPrototypeOf(repo); p && !BASE_REPOSITORIES.includes(p); p = Object.getPrototypeOf(p)) {
    if (Object.prototype.hasOwnProperty.call(p, name)) return typeof (p as Record<string, unknown>)[name] === 'function';
  }
  return false;
}

/** A data source and the name it is registered under. */
export interface NamedDataSource {
  name: string;
  dataSource: DataSource;
}

/** Finds a configured data source by name, by identity, or through an EntityManager. */
export function resolveDataSource(db: DataSource | EntityManager | string): NamedDataSource {
  const { dataSources } = getConfig();
  if (typeof db === 'string') {
    const dataSource = Object.prototype.hasOwnProperty.call(dataSources, db) ? dataSources[db] : undefined;
    if (dataSource) return { name: db, dataSource };
    throw new DeferralError('DEFER_ERR_UNKNOWN_DATA_SOURCE', `No data source named ${JSON.stringify(db)} in configure({ dataSources }) (known: ${Object.keys(dataSources).join(', ') || 'none'})`, { dataSource: db });
  }
  const target = InstanceChecker.isDataSource(db) ? db : (db as EntityManager | undefined)?.dataSource;
  for (const [name, dataSource] of Object.entries(dataSources)) if (dataSource === target) return { name, dataSource };
  throw new DeferralError('DEFER_ERR_UNKNOWN_DATA_SOURCE', 'This DataSource is not registered in configure({ dataSources }); pass a registered DataSource, its name, or one of its EntityManagers', {});
}
