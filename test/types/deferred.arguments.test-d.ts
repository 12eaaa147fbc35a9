// The `db` and `uid` arguments of Deferred and its variants.
import { Deferred, DeferredType, HighPriorityDeferred, type DbArgument, type DeferredJob, type Uid } from '../../src/index.js';
import { ds, Invoice, invoice, manager } from './entities.js';
import { expectExact, type Equal, type Expect } from './type-assert.js';

type _db = Expect<Equal<DbArgument, import('typeorm').DataSource | import('typeorm').EntityManager | string>>;
type _uid = Expect<Equal<Uid, string | number>>;

// ---------------------------------------------------------------------------
// 5. db: a DataSource, its registered name, or an EntityManager.
// ---------------------------------------------------------------------------
expectExact<Promise<DeferredJob<number>>>()(Deferred(Invoice, ds, 1, 'count'));
expectExact<Promise<DeferredJob<number>>>()(Deferred(Invoice, 'main', 1, 'count'));
expectExact<Promise<DeferredJob<number>>>()(Deferred(Invoice, manager, 1, 'count'));
expectExact<Promise<DeferredJob<number>>>()(Deferred(invoice, ds.manager, 1, 'recompute', 2));
expectExact<Promise<DeferredJob<unknown>>>()(Deferred('Invoice', manager, 1, 'count'));
async function insideTransaction() {
  await ds.transaction(async (tx) => {
    expectExact<Promise<DeferredJob<number>>>()(Deferred(invoice, tx, 1, 'recompute', 2));
  });
}

// @ts-expect-error: a number is not a data source
Deferred(Invoice, 1, 1, 'count');
// @ts-expect-error: a number is not a data source (record-level)
Deferred(invoice, 1, 1, 'recompute', 2);
// @ts-expect-error: a number is not a data source (entity name)
Deferred('Invoice', 1, 1, 'count');
// @ts-expect-error: null is not a data source
Deferred(Invoice, null, 1, 'count');
// @ts-expect-error: undefined is not a data source
HighPriorityDeferred(Invoice, undefined, 1, 'count');
// @ts-expect-error: a repository is not a data source
DeferredType({ countdown: 1 })(Invoice, ds.getRepository(Invoice), 1, 'count');

// ---------------------------------------------------------------------------
// 6. uid: a string or a number.
// ---------------------------------------------------------------------------
expectExact<Promise<DeferredJob<number>>>()(Deferred(Invoice, ds, 'user-1', 'count'));
expectExact<Promise<DeferredJob<number>>>()(Deferred(Invoice, ds, 42, 'count'));
declare const someUid: string | number;
expectExact<Promise<DeferredJob<number>>>()(Deferred(invoice, ds, someUid, 'recompute', 2));

// @ts-expect-error: an object is not a uid
Deferred(Invoice, ds, { id: 1 }, 'count');
// @ts-expect-error: an object is not a uid (record-level)
Deferred(invoice, ds, { id: 1 }, 'recompute', 2);
// @ts-expect-error: an object is not a uid (entity name)
Deferred('Invoice', ds, { id: 1 }, 'count');
// @ts-expect-error: undefined is not a uid
Deferred(Invoice, ds, undefined, 'count');
// @ts-expect-error: a bigint is not a uid
Deferred(Invoice, ds, 1n, 'count');

export { insideTransaction };
