// The `model` argument of Deferred and its variants: entity class (static
// @Deferrable methods), entity instance / array of instances (record-level),
// and entity name string (untyped). Method names and arguments are checked
// against the model; the handle's type follows the method's awaited result.
import {
  Deferred,
  DeferredType,
  HighPriorityDeferred,
  HighPriorityDeferredType,
  LowPriorityDeferred,
  LowPriorityDeferredType,
  type DeferredFunction,
  type DeferredJob,
} from '../../src/index.js';
import { ds, Invoice, invoice, invoices, readonlyInvoices } from './entities.js';
import { expectExact, type Equal, type Expect } from './type-assert.js';

// ---------------------------------------------------------------------------
// Every variant has exactly the signature of Deferred.
// ---------------------------------------------------------------------------
const Typed = DeferredType({ countdown: 5 });
const HighTyped = HighPriorityDeferredType({ attempts: 3 });
const LowTyped = LowPriorityDeferredType({ countdown: 60 });
type _variants = [
  Expect<Equal<typeof Deferred, DeferredFunction>>,
  Expect<Equal<typeof Typed, DeferredFunction>>,
  Expect<Equal<typeof HighPriorityDeferred, DeferredFunction>>,
  Expect<Equal<typeof LowPriorityDeferred, DeferredFunction>>,
  Expect<Equal<typeof HighTyped, DeferredFunction>>,
  Expect<Equal<typeof LowTyped, DeferredFunction>>,
  Expect<Equal<ReturnType<typeof DeferredType>, DeferredFunction>>,
  Expect<Equal<ReturnType<typeof HighPriorityDeferredType>, DeferredFunction>>,
  Expect<Equal<ReturnType<typeof LowPriorityDeferredType>, DeferredFunction>>,
];

// ---------------------------------------------------------------------------
// 1. Entity class: a static method (model-level call).
// ---------------------------------------------------------------------------
const closeAll = Deferred(Invoice, ds, 1, 'closeAll', '2026-11');
expectExact<Promise<DeferredJob<{ closed: number; dryRun: boolean }>>>()(closeAll);
// The optional argument may be given.
expectExact<Promise<DeferredJob<{ closed: number; dryRun: boolean }>>>()(Deferred(Invoice, ds, 1, 'closeAll', '2026-11', true));
// A synchronous static method: R is its plain return type.
expectExact<Promise<DeferredJob<number>>>()(Deferred(Invoice, ds, 1, 'count'));
// Entity instances as arguments.
expectExact<Promise<DeferredJob<Invoice>>>()(Deferred(Invoice, ds, 1, 'merge', invoice, invoices));

async function resultsAreTyped() {
  const job = await Deferred(Invoice, ds, 1, 'closeAll', '2026-11');
  const value = await job.result({ timeoutMs: 1000 });
  type _ = Expect<Equal<typeof value, { closed: number; dryRun: boolean }>>;
}

// Wrong method names.
// @ts-expect-error: no such static method
Deferred(Invoice, ds, 1, 'closeEverything', '2026-11');
// @ts-expect-error: 'recompute' is an instance method; a class model only offers static methods
Deferred(Invoice, ds, 1, 'recompute', 2);
// @ts-expect-error: 'prototype' is not a method
Deferred(Invoice, ds, 1, 'prototype');
// @ts-expect-error: 'name' (Function.name) is not a method
Deferred(Invoice, ds, 1, 'name');

// Wrong argument types.
// @ts-expect-error: month must be a string
Deferred(Invoice, ds, 1, 'closeAll', 202611);
// @ts-expect-error: dryRun must be a boolean
Deferred(Invoice, ds, 1, 'closeAll', '2026-11', 'yes');
// @ts-expect-error: merge takes an Invoice and an Invoice[]
Deferred(Invoice, ds, 1, 'merge', invoice, invoice);

// Missing arguments.
// @ts-expect-error: month is required
Deferred(Invoice, ds, 1, 'closeAll');
// @ts-expect-error: the method name is required
Deferred(Invoice, ds, 1);

// Too many arguments.
// @ts-expect-error: closeAll takes at most two arguments
Deferred(Invoice, ds, 1, 'closeAll', '2026-11', true, 'extra');
// @ts-expect-error: count takes no argument
Deferred(Invoice, ds, 1, 'count', 1);

// ---------------------------------------------------------------------------
// 2. Entity instance, array and readonly array of instances (record-level).
// ---------------------------------------------------------------------------
expectExact<Promise<DeferredJob<number>>>()(Deferred(invoice, ds, 1, 'recompute', 1.2));
expectExact<Promise<DeferredJob<void>>>()(Deferred(invoice, ds, 1, 'archive'));
expectExact<Promise<DeferredJob<{ sent: boolean; copies: number }>>>()(Deferred(invoice, ds, 1, 'sendReminder', 'second notice', new Date()));
expectExact<Promise<DeferredJob<{ sent: boolean; copies: number }>>>()(Deferred(invoice, ds, 1, 'sendReminder', 'second notice', new Date(), 2));

// An array: one result per record.
expectExact<Promise<DeferredJob<number[]>>>()(Deferred(invoices, ds, 1, 'recompute', 1.2));
expectExact<Promise<DeferredJob<number[]>>>()(Deferred(readonlyInvoices, ds, 1, 'recompute', 1.2));
expectExact<Promise<DeferredJob<number[]>>>()(Deferred([invoice, invoice], ds, 1, 'recompute', 1.2));
expectExact<Promise<DeferredJob<number[]>>>()(Deferred([invoice, invoice] as const, ds, 1, 'recompute', 1.2));
expectExact<Promise<DeferredJob<void[]>>>()(Deferred(invoices, ds, 1, 'archive'));

// Wrong method names.
// @ts-expect-error: no such instance method
Deferred(invoice, ds, 1, 'recalculate', 1.2);
// @ts-expect-error: 'closeAll' is static; a record offers only instance methods
Deferred(invoice, ds, 1, 'closeAll', '2026-11');
// @ts-expect-error: 'total' is a column, not a method
Deferred(invoice, ds, 1, 'total');
// @ts-expect-error: no such instance method on the records of an array
Deferred(invoices, ds, 1, 'recalculate', 1.2);
// @ts-expect-error: no such instance method on the records of a readonly array
Deferred(readonlyInvoices, ds, 1, 'recalculate', 1.2);
// @ts-expect-error: Array methods are not the records' methods
Deferred(invoices, ds, 1, 'slice', 0, 1);
// @ts-expect-error: Array methods are not the records' methods
Deferred(readonlyInvoices, ds, 1, 'map', (i: Invoice) => i.id);

// Wrong, missing and extra arguments.
// @ts-expect-error: rate must be a number
Deferred(invoice, ds, 1, 'recompute', '1.2');
// @ts-expect-error: `at` must be a Date
Deferred(invoice, ds, 1, 'sendReminder', 'second notice', '2026-11-01');
// @ts-expect-error: rate is required
Deferred(invoice, ds, 1, 'recompute');
// @ts-expect-error: recompute takes one argument
Deferred(invoice, ds, 1, 'recompute', 1.2, 3);
// @ts-expect-error: rate must be a number (array form)
Deferred(invoices, ds, 1, 'recompute', '1.2');
// @ts-expect-error: rate is required (readonly array form)
Deferred(readonlyInvoices, ds, 1, 'recompute');
// @ts-expect-error: archive takes no argument (array form)
Deferred(invoices, ds, 1, 'archive', true);

// ---------------------------------------------------------------------------
// 3. Entity name string: untyped, any method, any arguments.
// ---------------------------------------------------------------------------
expectExact<Promise<DeferredJob<unknown>>>()(Deferred('Invoice', ds, 1, 'closeAll', '2026-11'));
expectExact<Promise<DeferredJob<unknown>>>()(Deferred('Invoice', ds, 1, 'whateverMethod'));
expectExact<Promise<DeferredJob<unknown>>>()(Deferred('Invoice', 'main', 'u1', 'anything', 1, 'two', { three: 3 }, [4], invoice));
// The method name must still be a string.
// @ts-expect-error: method is a string
Deferred('Invoice', ds, 1, 42);

// ---------------------------------------------------------------------------
// The same checks hold for every variant.
// ---------------------------------------------------------------------------
const variants = { Typed, HighPriorityDeferred, LowPriorityDeferred, HighTyped, LowTyped, Inline: DeferredType({ eta: new Date(), queue: 'low' }) };
expectExact<Promise<DeferredJob<{ closed: number; dryRun: boolean }>>>()(variants.Typed(Invoice, ds, 1, 'closeAll', '2026-11'));
expectExact<Promise<DeferredJob<number>>>()(variants.HighPriorityDeferred(invoice, ds, 1, 'recompute', 2));
expectExact<Promise<DeferredJob<number[]>>>()(variants.LowPriorityDeferred(invoices, ds, 1, 'recompute', 2));
expectExact<Promise<DeferredJob<number>>>()(variants.HighTyped(Invoice, 'main', 'u1', 'count'));
expectExact<Promise<DeferredJob<void[]>>>()(variants.LowTyped(readonlyInvoices, ds, 1, 'archive'));
expectExact<Promise<DeferredJob<unknown>>>()(variants.Inline('Invoice', ds, 1, 'anything'));
expectExact<Promise<DeferredJob<number>>>()(DeferredType({ countdown: 5 })(invoice, ds, 1, 'recompute', 2));
expectExact<Promise<DeferredJob<number>>>()(HighPriorityDeferredType()(Invoice, ds, 1, 'count'));

// @ts-expect-error: wrong static method (DeferredType)
Typed(Invoice, ds, 1, 'closeEverything');
// @ts-expect-error: wrong argument type (DeferredType)
Typed(Invoice, ds, 1, 'closeAll', 202611);
// @ts-expect-error: wrong instance method (HighPriorityDeferred)
HighPriorityDeferred(invoice, ds, 1, 'recalculate', 2);
// @ts-expect-error: missing argument (HighPriorityDeferred)
HighPriorityDeferred(invoice, ds, 1, 'recompute');
// @ts-expect-error: wrong instance method on an array (LowPriorityDeferred)
LowPriorityDeferred(invoices, ds, 1, 'recalculate', 2);
// @ts-expect-error: too many arguments (LowPriorityDeferred)
LowPriorityDeferred(Invoice, ds, 1, 'count', 1);
// @ts-expect-error: wrong static method (HighPriorityDeferredType)
HighTyped(Invoice, ds, 1, 'recompute', 2);
// @ts-expect-error: wrong argument type (HighPriorityDeferredType)
HighTyped(invoice, ds, 1, 'recompute', 'two');
// @ts-expect-error: wrong method (LowPriorityDeferredType)
LowTyped(readonlyInvoices, ds, 1, 'closeAll', '2026-11');
// @ts-expect-error: extra argument (inline DeferredType(...)(...))
DeferredType({ queue: 'high' })(invoice, ds, 1, 'archive', 1);

export { resultsAreTyped };
