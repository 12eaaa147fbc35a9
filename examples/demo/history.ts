import type { DataSource } from 'typeorm';
import { Deferred, DeferredJobRecord, getJob, jobsFor, type Uid } from '../../src/index.js';
import { Invoice } from './entities.js';
import { cyan, dim, green, heading, red, say, show } from './output.js';
import type { SampleData } from './seed.js';

const RESULT_TIMEOUT_MS = 60_000;

/** Prints one checked step: ✔ or ✘, what was done, what it showed. */
function step(ok: boolean, label: string, what: string): boolean {
  say(`  ${ok ? green('✔') : red('✘')} ${label.padEnd(9)}  ${what}`);
  return ok;
}

/**
 * The job table (DeferredJobRecord) at work: a job deferred inside a transaction that commits
 * runs; one inside a transaction that rolls back leaves nothing behind; every job of a record is
 * in its history. Runs once the tour's jobs have ended: on SQLite the worker of this process shares
 * the one connection with these transactions. True when every step showed what it should.
 */
export async function transactionalTour(dataSource: DataSource, uid: Uid, data: SampleData): Promise<boolean> {
  heading('Transactional enqueue and job history (DeferredJobRecord)');
  const customerId = data.customers[0].id;
  const newInvoice = (number: string) => ({ number, customerId, amount: 9_900, status: 'open' as const, sentAt: null });

  const job = await dataSource.transaction(async (manager) => {
    const invoice = await manager.save(manager.create(Invoice, newInvoice('INV-1007')));
    return Deferred(invoice, manager, uid, 'send', 'Welcome aboard');
  });
  const sent = await job.result({ timeoutMs: RESULT_TIMEOUT_MS });
  const committed = step(sent.invoice === 'INV-1007', 'commit', `${cyan("INV-1007 saved + send() deferred in one transaction")} → the job ran after COMMIT: ${show(sent)}`);

  let rolledBackId = '';
  await dataSource.transaction(async (manager) => {
    const invoice = await manager.save(manager.create(Invoice, newInvoice('INV-1008')));
    rolledBackId = (await Deferred(invoice, manager, uid, 'send', 'never sent')).id;
    throw new Error('changed my mind');
  }).catch(() => undefined);
  const left = {
    invoice: await dataSource.manager.countBy(Invoice, { number: 'INV-1008' }),
    row: await dataSource.manager.countBy(DeferredJobRecord, { id: rolledBackId }),
    job: (await getJob(rolledBackId)) === undefined ? 0 : 1,
  };
  const rolledBack = step(left.invoice + left.row + left.job === 0, 'rollback', `${cyan('INV-1008 saved + send() deferred, then the transaction threw')} → no invoice, no job row, no job ${dim(show(left))}`);

  const first = data.invoices[0];
  const history = await jobsFor(first);
  const found = step(history.length > 0, 'history', `${cyan(`jobsFor(${first.number})`)} → ${history.length} job(s) from the table:`);
  for (const row of history) say(`      ${row.method.padEnd(10)} ${row.state.padEnd(9)} uid ${row.uid}  ${dim(`${row.id}, finished ${row.finishedAt ?? '-'}`)}`);
  return committed && rolledBack && found;
}
