// schedule(): a deferred call's method and arguments are checked as Deferred() checks them; a task's payload as submitTask().
import { defineTask, schedule, type ScheduleDeclaration } from '../../src/index.js';
import { Invoice, Report } from './entities.js';

declare const invoice: Invoice;
const add = defineTask('add', ({ a, b }: { a: number; b: number }) => a + b);

void schedule('recompute', { every: 60_000 }, { model: invoice, db: 'main', uid: 1, method: 'recompute', args: [0.2] });
void schedule('close', { cron: '0 3 1 * *', tz: 'Europe/Paris' }, { model: Invoice, db: 'main', uid: 'system', method: 'closeAll', args: ['2026-11'] }, { queue: 'low', limit: 12 });
void schedule('rebuild', { cron: '*/5 * * * * *' }, { model: Report, db: 'main', uid: 'system', method: 'rebuildAll' });
void schedule('add', { every: 1_000 }, { task: add, payload: { a: 1, b: 2 } });
void schedule('by-name', { every: 1_000 }, { task: 'add', payload: { anything: true } });

// @ts-expect-error not a deferrable method of Invoice
void schedule('typo', { every: 60_000 }, { model: invoice, db: 'main', uid: 1, method: 'recomptue', args: [0.2] });
// @ts-expect-error recompute takes a number
void schedule('bad-arg', { every: 60_000 }, { model: invoice, db: 'main', uid: 1, method: 'recompute', args: ['0.2'] });
// @ts-expect-error the payload does not match the task's definition
void schedule('bad-payload', { every: 1_000 }, { task: add, payload: { a: 1, b: 'two' } });
// @ts-expect-error cron and every do not go together
void schedule('both', { cron: '* * * * *', every: 1_000 }, { task: add, payload: { a: 1, b: 2 } });
// @ts-expect-error a schedule's ticks make its job ids: no countdown
void schedule('delay', { every: 1_000 }, { task: add, payload: { a: 1, b: 2 } }, { countdown: 5 });

// In a config module: any model, any method (checked when a worker builds it).
const declared: Record<string, ScheduleDeclaration> = {
  nightly: { when: { cron: '0 3 * * *' }, target: { model: Report, db: 'main', uid: 'system', method: 'rebuildAll' } },
  beat: { when: { every: 5_000 }, target: { task: 'heartbeat' }, options: { queue: 'high' } },
};
void declared;
