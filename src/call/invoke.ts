import type { DataSource, EntityManager, ObjectLiteral } from 'typeorm';
import {
  decodeArgs, encodeArgs, idOf, loadRecord, loadRecords, loadRefs, PAYLOAD_VERSION, targetName,
  type CallInfo, type CallPayload, type CallTarget, type Uid,
} from './call.js';
import { DeferralError } from '../errors.js';
import { uidProblem } from '../limits.js';
import { show } from '../options.js';
import { checkArgs, checkRecordKey } from './references.js';
import { connectionErrorKind } from '../worker/transient.js';
import { factoryByName, factoryOf, isDeferrable, isRepositoryMethod, type NamedDataSource } from './registry.js';
import { runTask, taskNamed, unknownTask } from './task.js';

type AnyClass = abstract new (...args: never[]) => unknown;

function notDeferrable(model: string, method: string, why: string): DeferralError {
  return new DeferralError('DEFER_ERR_METHOD_NOT_DEFERRABLE', `${model}.${method} cannot be deferred: ${why}`, { model, method });
}

/** The entity class behind an entity name or class, or DEFER_ERR_UNKNOWN_MODEL. */
function entityClass(dataSource: DataSource, model: string | AnyClass): { name: string; cls: AnyClass } {
  const metadata = dataSource.hasMetadata(model as string) ? dataSource.getMetadata(model as string) : undefined;
  if (!metadata || typeof metadata.target !== 'function') {
    const label = typeof model === 'string' ? JSON.stringify(model) : model?.name ?? show(model);
    throw new DeferralError('DEFER_ERR_UNKNOWN_MODEL', `${label} is not an entity class of this data source`, { model: label });
  }
  return { name: metadata.name, cls: metadata.target as AnyClass };
}

function checkEntityMethod(cls: AnyClass, name: string, method: unknown, kind: 'static' | 'instance'): string {
  if (typeof method !== 'string' || !method) throw notDeferrable(name, String(method), 'the method name must be a non-empty string');
  if (!isDeferrable(cls, method, kind)) {
    const exists = typeof (kind === 'static' ? (cls as unknown as Record<string, unknown>)[method] : (cls.prototype as Record<string, unknown>)[method]) === 'function';
    throw notDeferrable(name, method, exists ? `the ${kind} method is not marked with @Deferrable()` : `there is no ${kind} method of that name`);
  }
  return method;
}

/** The options a payload carries for the worker. */
export type PayloadOptions = CallPayload['opts'];

/**
 * Builds the payload of a call made in this process, checking everything that can
 * be checked before enqueueing: model, deferrable mark, records saved, arguments serializable.
 */
export function buildPayload(model: unknown, db: NamedDataSource, uid: Uid, method: string, args: readonly unknown[], opts: PayloadOptions): CallPayload {
  const problem = uidProblem(uid);
  if (problem) throw new DeferralError('DEFER_ERR_INVALID_OPTION', `Invalid uid: ${show(uid)} ${problem}`, { option: 'uid', value: uid });
  const { dataSource } = db;
  let target: CallTarget;
  const factory = factoryOf(model);
  if (factory) {
    const repo = factory(dataSource) as object;
    if (typeof method !== 'string' || !isRepositoryMethod(repo, method)) {
      throw notDeferrable(factory.repositoryName, String(method), 'only the methods given to extend() in registerRepository() can be deferred');
    }
    target = { kind: 'repository', name: factory.repositoryName };
  } else if (typeof model === 'string' || typeof model === 'function') {
    const { name, cls } = entityClass(dataSource, model as string | AnyClass);
    checkEntityMethod(cls, name, method, 'static');
    target = { kind: 'model', entity: name };
  } else if (Array.isArray(model) || (typeof model === 'object' && model !== null)) {
    const records = (Array.isArray(model) ? model : [model]) as ObjectLiteral[];
    if (records.length === 0) throw new DeferralError('DEFER_ERR_UNKNOWN_MODEL', 'model is an empty array: there is no record to call the method on', {});
    const refs = records.map((r, i) => idOf(dataSource, r, Array.isArray(model) ? `model[${i}]` : 'model'));
    const entity = refs[0].entity;
    if (refs.some((r) => r.entity !== entity)) throw new DeferralError('DEFER_ERR_UNKNOWN_MODEL', `model mixes records of several entities (${[...new Set(refs.map((r) => r.entity))].join(', ')})`, {});
    const { cls } = entityClass(dataSource, entity);
    checkEntityMethod(cls, entity, method, 'instance');
    target = { kind: 'records', entity, ids: refs.map((r) => r.id), many: Array.isArray(model) };
  } else {
    throw new DeferralError('DEFER_ERR_UNKNOWN_MODEL', `model ${show(model)} is not an entity class, entity name, record, array of records or registered repository`, {});
  }
  return { v: PAYLOAD_VERSION, ds: db.name, target, method, uid, args: encodeArgs(args, dataSource), opts };
}

/** A checked payload, ready to run on a transaction's EntityManager. */
export interface PreparedCall {
  dataSource: DataSource;
  info: CallInfo;
  run(manager: EntityManager): Promise<unknown>;
}

/**
 * Resolves a payload against this process's data sources and registries. Trusts
 * nothing in it: the model must be an entity (or registered repository) and the
 * method must carry the deferrable mark, whoever wrote the payload.
 */
export function prepareCall(payload: CallPayload, dataSources: Record<string, DataSource>): PreparedCall {
  const dataSource = dataSourceNamed(dataSources, payload.ds);
  const { target, method } = payload;
  const args = decodeArgs(payload.args);
  // Every record reference is checked before any query runs: exactly a primary key, of the right types.
  args.forEach((arg, i) => checkArgs(arg, dataSource, `args[${i}]`));
  const info: CallInfo = { dataSource: payload.ds, kind: target.kind, model: '', method, args, uid: payload.uid };
  // No arguments, nothing to load (one promise less per job).
  const loadArgs = (manager: EntityManager) => (args.length === 0 ? args : loadRefs(args, manager) as Promise<unknown[]>);

  if (target.kind === 'task') {
    if (!taskNamed(target.name)) throw unknownTask(target.name);
    return {
      dataSource, info: { ...info, model: target.name },
      async run(manager) {
        const [taskPayload] = await loadArgs(manager);
        return runTask(target.name, taskPayload, manager);
      },
    };
  }

  if (target.kind === 'repository') {
    const factory = factoryByName(target.name);
    if (!factory) throw new DeferralError('DEFER_ERR_UNKNOWN_MODEL', `No repository registered as ${JSON.stringify(target.name)} in this worker`, { model: target.name });
    if (!isRepositoryMethod(factory(dataSource) as object, method)) throw notDeferrable(target.name, method, 'it is not one of the methods given to extend()');
    return {
      dataSource, info: { ...info, model: target.name },
      async run(manager) {
        const repo = factory(manager) as Record<string, (...a: unknown[]) => unknown>;
        return repo[method](...(await loadArgs(manager)));
      },
    };
  }

  const { name, cls } = entityClass(dataSource, target.entity);
  if (target.kind === 'model') {
    checkEntityMethod(cls, name, method, 'static');
    return {
      dataSource, info: { ...info, model: name },
      async run(manager) {
        const fn = (cls as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
        return fn.apply(cls, await loadArgs(manager));
      },
    };
  }

  checkEntityMethod(cls, name, method, 'instance');
  const metadata = dataSource.getMetadata(name);
  target.ids.forEach((id, i) => checkRecordKey(metadata, id, `target.ids[${i}]`));
  return {
    dataSource, info: { ...info, model: name, ids: target.ids },
    async run(manager) {
      const results: unknown[] = [];
      const records = target.ids.length === 1
        ? [await loadRecord(manager, name, target.ids[0]!, payload.opts.skipMissing, cls)].filter((r) => r !== undefined)
        : await loadRecords(manager, name, target.ids, payload.opts.skipMissing, cls);
      const callArgs = await loadArgs(manager);
      // One record after another: they share one transaction and often touch the same rows.
      for (const record of records) results.push(await (record as Record<string, (...a: unknown[]) => unknown>)[method](...callArgs));
      return target.many ? results : results[0];
    },
  };
}

/** A data source of this process by the name a payload carries, or DEFER_ERR_UNKNOWN_DATA_SOURCE. */
export function dataSourceNamed(dataSources: Record<string, DataSource>, name: string): DataSource {
  const dataSource = Object.prototype.hasOwnProperty.call(dataSources, name) ? dataSources[name] : undefined;
  if (!dataSource) throw new DeferralError('DEFER_ERR_UNKNOWN_DATA_SOURCE', `No data source named ${show(name)} in this worker's configure({ dataSources })`, { dataSource: name });
  return dataSource;
}

/**
 * Asks `configure({ authorize })`; a refusal, or an error inside it, is DEFER_ERR_NOT_AUTHORIZED,
 * except a connection error (the hook's database is down), which the worker waits out.
 */
export async function authorizeCall(authorize: ((uid: Uid, call: CallInfo) => boolean | Promise<boolean>) | undefined, info: CallInfo): Promise<void> {
  if (!authorize) return;
  let allowed: boolean;
  try {
    allowed = (await authorize(info.uid, info)) === true;
  } catch (cause) {
    if (connectionErrorKind(cause)) throw cause;
    throw new DeferralError('DEFER_ERR_NOT_AUTHORIZED', `authorize() threw for uid ${show(info.uid)} on ${info.model}.${info.method}`, { uid: info.uid, model: info.model, method: info.method }, { cause });
  }
  if (!allowed) throw new DeferralError('DEFER_ERR_NOT_AUTHORIZED', `uid ${show(info.uid)} may not call ${info.model}.${info.method}`, { uid: info.uid, model: info.model, method: info.method });
}

/** The BullMQ job name of a payload: `Model.method`, as bull-board lists it. */
export function jobName(payload: CallPayload): string {
  return payload.target.kind === 'task' ? payload.target.name : `${targetName(payload.target)}.${payload.method}`;
}
