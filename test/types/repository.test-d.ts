// A repository made by registerRepository as the `model`: both the factory and
// a repository it made offer the methods given to extend(), and only those.
import { Repository } from 'typeorm';
import { Deferred, HighPriorityDeferred, LowPriorityDeferredType, registerRepository, type DeferredJob, type RepositoryFactory, type RepositoryMethodNames } from '../../src/index.js';
import { ds, Invoice, invoice, InvoiceRepository, manager } from './entities.js';
import { expectExact, type Equal, type Expect } from './type-assert.js';

// The brief's shape, inline.
const Repo = registerRepository(Invoice, (base) => base.extend({ async closeMonth(m: string) { return 1; } }));
type _factory = Expect<Equal<typeof Repo, RepositoryFactory<Repository<Invoice> & { closeMonth(m: string): Promise<number> }>>>;
type _ownMethods = Expect<Equal<RepositoryMethodNames<ReturnType<typeof Repo>>, 'closeMonth'>>;
type _ownMethods2 = Expect<Equal<RepositoryMethodNames<ReturnType<typeof InvoiceRepository>>, 'closeMonth' | 'totals'>>;

// The factory and a repository it made (from a DataSource or an EntityManager).
expectExact<Promise<DeferredJob<number>>>()(Deferred(Repo, ds, 1, 'closeMonth', '2026-11'));
expectExact<Promise<DeferredJob<number>>>()(Deferred(Repo(ds), ds, 1, 'closeMonth', '2026-11'));
expectExact<Promise<DeferredJob<number>>>()(Deferred(Repo(manager), manager, 'u1', 'closeMonth', '2026-11'));
expectExact<Promise<DeferredJob<Map<string, number>>>>()(Deferred(InvoiceRepository, 'main', 1, 'totals', 'ACME'));
expectExact<Promise<DeferredJob<Map<string, number>>>>()(Deferred(InvoiceRepository(ds), ds, 1, 'totals', 'ACME', new Date()));
expectExact<Promise<DeferredJob<number>>>()(HighPriorityDeferred(Repo, ds, 1, 'closeMonth', '2026-11'));
expectExact<Promise<DeferredJob<number>>>()(LowPriorityDeferredType({ attempts: 2 })(Repo(ds), ds, 1, 'closeMonth', '2026-11'));

// Wrong custom method names.
// @ts-expect-error: no such custom method (factory)
Deferred(Repo, ds, 1, 'closeYear', '2026');
// @ts-expect-error: no such custom method (repository instance)
Deferred(Repo(ds), ds, 1, 'closeYear', '2026');

// Base Repository methods are not deferrable (the worker refuses them too).
// @ts-expect-error: 'remove' is a base Repository method (factory)
Deferred(Repo, ds, 1, 'remove', invoice);
// @ts-expect-error: 'query' is a base Repository method (factory)
Deferred(Repo, ds, 1, 'query', 'DELETE FROM invoice');
// @ts-expect-error: 'save' is a base Repository method (factory)
Deferred(Repo, ds, 1, 'save', invoice);
// @ts-expect-error: 'extend' is a base Repository method (factory)
Deferred(Repo, ds, 1, 'extend', {});
// @ts-expect-error: the factory's own properties are not methods
Deferred(Repo, ds, 1, 'repositoryName');

// Base Repository methods on a repository instance do not compile; neither does an unregistered repository's.
function baseMethodsOnRepositoryInstance() {
  // @ts-expect-error: remove is a base Repository method, not deferrable
  const removeJob = Deferred(Repo(ds), ds, 1, 'remove', invoice);
  // @ts-expect-error: query is a base Repository method, not deferrable
  const queryJob = Deferred(Repo(ds), ds, 1, 'query', 'DELETE FROM invoice');
  // @ts-expect-error: a plain repository has no deferrable methods
  const plainRepoJob = Deferred(ds.getRepository(Invoice), ds, 1, 'delete', 1);
  return [removeJob, queryJob, plainRepoJob];
}

// Wrong, missing and extra arguments.
// @ts-expect-error: month must be a string (factory)
Deferred(Repo, ds, 1, 'closeMonth', 11);
// @ts-expect-error: month must be a string (instance)
Deferred(Repo(ds), ds, 1, 'closeMonth', 11);
// @ts-expect-error: month is required
Deferred(Repo, ds, 1, 'closeMonth');
// @ts-expect-error: closeMonth takes one argument
Deferred(Repo(ds), ds, 1, 'closeMonth', '2026-11', true);
// @ts-expect-error: `since` must be a Date
Deferred(InvoiceRepository, ds, 1, 'totals', 'ACME', '2026-01-01');

// registerRepository itself: the builder must return a Repository of that entity.
// @ts-expect-error: the builder must return a Repository
registerRepository(Invoice, () => ({ closeMonth: async () => 1 }));

export { baseMethodsOnRepositoryInstance };
