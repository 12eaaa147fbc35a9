// Which method names each model form offers. A wrong name is compared with these lists, so the
// compiler's message names the method and the valid ones (test/unit/types.error-messages.test.ts
// checks the text; here only that the names and the call forms compile or not).
import { Repository } from 'typeorm';
import { Deferred, DeferredType, HighPriorityDeferred, LowPriorityDeferredType, type DeferredJob, type MethodNames } from '../../src/index.js';
import type { DeferrableMethodNames } from '../../src/enqueue/deferred.js';
import { ds, Invoice, invoice, InvoiceRepository, invoices, readonlyInvoices, Report, report } from './entities.js';
import { expectExact, type Equal, type Expect } from './type-assert.js';

type _names = [
  Expect<Equal<DeferrableMethodNames<typeof Invoice>, 'closeAll' | 'count' | 'merge'>>,
  Expect<Equal<DeferrableMethodNames<Invoice>, 'recompute' | 'sendReminder' | 'archive'>>,
  Expect<Equal<DeferrableMethodNames<Invoice[]>, 'recompute' | 'sendReminder' | 'archive'>>,
  Expect<Equal<DeferrableMethodNames<readonly Invoice[]>, 'recompute' | 'sendReminder' | 'archive'>>,
  Expect<Equal<DeferrableMethodNames<typeof InvoiceRepository>, 'closeMonth' | 'totals'>>,
  Expect<Equal<DeferrableMethodNames<ReturnType<typeof InvoiceRepository>>, 'closeMonth' | 'totals'>>,
  // A plain repository has no method of its own.
  Expect<Equal<DeferrableMethodNames<Repository<Invoice>>, never>>,
  // An entity name: any string (not type-checked).
  Expect<Equal<DeferrableMethodNames<'Invoice'>, string>>,
  // BaseEntity's own methods are left out, on the class and on the record.
  Expect<Equal<DeferrableMethodNames<typeof Report>, 'rebuildAll'>>,
  Expect<Equal<DeferrableMethodNames<Report>, 'generate'>>,
  // MethodNames itself stays the plain list of function-valued members.
  Expect<Equal<MethodNames<Invoice>, 'recompute' | 'sendReminder' | 'archive'>>,
];

// ---------------------------------------------------------------------------
// An Active Record entity (extends BaseEntity): its own methods are typed.
// ---------------------------------------------------------------------------
expectExact<Promise<DeferredJob<string>>>()(Deferred(report, ds, 1, 'generate', 'pdf'));
expectExact<Promise<DeferredJob<string[]>>>()(Deferred([report], ds, 1, 'generate', 'csv'));
expectExact<Promise<DeferredJob<number>>>()(Deferred(Report, 'main', 1, 'rebuildAll'));
expectExact<Promise<DeferredJob<number>>>()(HighPriorityDeferred(Report, ds, 1, 'rebuildAll', new Date()));

// @ts-expect-error: misspelt instance method
Deferred(report, ds, 1, 'genrate', 'pdf');
// @ts-expect-error: misspelt static method
Deferred(Report, ds, 1, 'rebuild');
// @ts-expect-error: 'docx' is not a format generate() takes
Deferred(report, ds, 1, 'generate', 'docx');
// @ts-expect-error: BaseEntity#save cannot be marked @Deferrable()
Deferred(report, ds, 1, 'save');
// @ts-expect-error: BaseEntity#reload cannot be marked @Deferrable()
Deferred(report, ds, 1, 'reload');
// @ts-expect-error: BaseEntity.find cannot be marked @Deferrable()
Deferred(Report, ds, 1, 'find');
// @ts-expect-error: BaseEntity.create cannot be marked @Deferrable()
LowPriorityDeferredType()(Report, ds, 1, 'create');

// ---------------------------------------------------------------------------
// A wrong name is an error whatever else is right or wrong in the call.
// ---------------------------------------------------------------------------
// @ts-expect-error: misspelt, with arguments that would fit the right method
Deferred(invoice, ds, 1, 'recomput', 2);
// @ts-expect-error: misspelt, with no argument
Deferred(invoices, ds, 1, 'archiv');
// @ts-expect-error: misspelt on a readonly array
DeferredType({ countdown: 1 })(readonlyInvoices, ds, 1, 'archiv');
// @ts-expect-error: the method name must be a string literal of the model's methods, not any string
Deferred(invoice, ds, 1, 'recompute' as string, 2);

// ---------------------------------------------------------------------------
// A union of valid names types the arguments and the result as unions.
// ---------------------------------------------------------------------------
declare const either: 'recompute' | 'archive';
expectExact<Promise<DeferredJob<number | void>>>()(Deferred(invoice, ds, 1, either, 2));
