// defineTask / submitTask: the payload and result types flow from the definition.
import { defineTask, submitTask, type DeferredJob, type StandardSchemaV1 } from '../../src/index.js';
import { expectExact } from './type-assert.js';

const add = defineTask('add', ({ a, b }: { a: number; b: number }) => a + b);
const slow = defineTask('slow', async (name: string, ctx) => {
  expectExact<number | string>()(ctx.uid);
  return { greeting: `hi ${name}` };
}, { queue: 'low' });

expectExact<Promise<DeferredJob<number>>>()(submitTask(add, { a: 1, b: 2 }));
expectExact<Promise<DeferredJob<{ greeting: string }>>>()(submitTask(slow, 'ann', { uid: 7, countdown: 5, db: 'main' }));
// By name: untyped.
expectExact<Promise<DeferredJob<unknown>>>()(submitTask('add', { a: 1 }));

// @ts-expect-error the payload does not match the definition
void submitTask(add, { a: 1, b: 'two' });
// @ts-expect-error an option that does not exist
void submitTask(add, { a: 1, b: 2 }, { queues: 'low' });

// A Standard Schema (zod, valibot…) types the payload too.
declare const schema: StandardSchemaV1<unknown, { id: number }>;
const withSchema = defineTask('with-schema', (p) => p.id * 2, { validate: schema });
expectExact<Promise<DeferredJob<number>>>()(submitTask(withSchema, { id: 1 }));
