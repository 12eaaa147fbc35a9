import { factoryOf } from '../src/call/registry.js';
import type { TaskDefinition } from '../src/call/task.js';
import { getConfig } from '../src/config.js';
import { DeferralError } from '../src/errors.js';
import { show } from '../src/options.js';
import type { RecordedCall } from './recorded-call.js';

/** What `assertDeferred` takes as its model: an entity class or name, a record (or an array of them), a repository, a task. */
export type DeferredTarget = string | object;

/** A target as recorded calls name it: the name, and the kinds of call it can be. */
export interface TargetName {
  name: string;
  kinds?: ReadonlyArray<RecordedCall['kind']>;
}

const ENTITY_KINDS = ['model', 'records'] as const;

function isTaskDefinition(value: object): value is TaskDefinition {
  const t = value as Partial<TaskDefinition>;
  return typeof t.name === 'string' && typeof t.handler === 'function' && !('repositoryName' in value);
}

/** The entity name of a class: its TypeORM metadata name in a configured data source, else the class name. */
function entityName(cls: Function): string {
  let dataSources: object[] = [];
  try {
    dataSources = Object.values(getConfig().dataSources);
  } catch {
    // Not configured: nothing can have been recorded anyway; the class name is what a message can say.
  }
  for (const ds of dataSources as Array<{ hasMetadata(t: Function): boolean; getMetadata(t: Function): { name: string } }>) {
    if (ds.hasMetadata(cls)) return ds.getMetadata(cls).name;
  }
  return cls.name;
}

/** The name and kinds a target stands for, or DEFER_ERR_INVALID_OPTION for something that names no target. */
export function targetOf(model: DeferredTarget): TargetName {
  if (typeof model === 'string' && model) return { name: model };
  const factory = factoryOf(model);
  if (factory) return { name: factory.repositoryName, kinds: ['repository'] };
  if (typeof model === 'function') return { name: entityName(model), kinds: ENTITY_KINDS };
  if (Array.isArray(model) && model.length > 0) return targetOf(model[0] as DeferredTarget);
  if (typeof model === 'object' && model !== null && !Array.isArray(model)) {
    if (isTaskDefinition(model)) return { name: model.name, kinds: ['task'] };
    const ctor = (model as { constructor?: unknown }).constructor;
    if (typeof ctor === 'function' && ctor !== Object) return { name: entityName(ctor), kinds: ENTITY_KINDS };
  }
  throw new DeferralError('DEFER_ERR_INVALID_OPTION', `assertDeferred: ${show(model)} is not an entity class or name, a record, a registered repository or a task`, { option: 'model', value: model });
}

/** True when a recorded call is on `target`, calling `method` (any method when undefined). */
export function callMatches(call: RecordedCall, target: TargetName, method: string | undefined): boolean {
  if (call.model !== target.name) return false;
  if (target.kinds && !target.kinds.includes(call.kind)) return false;
  return method === undefined || call.method === method;
}
