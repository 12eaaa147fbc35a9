import 'reflect-metadata';
import { setTimeout as delay } from 'node:timers/promises';
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { currentJob, Deferrable, DeferredJobRecord, iterAndReport, reportProgress } from '../../src/index.js';

/** Stripe's test number for a card that is always declined. */
export const DECLINED_CARD = '4000 0000 0000 0002';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Cents as dollars: 12345 → "$123.45". */
export const money = (cents: number) => `$${(cents / 100).toFixed(2)}`;

// Column types are spelled out: TypeORM must not depend on decorator metadata to guess them.

@Entity()
export class Customer {
  @PrimaryGeneratedColumn() id!: number;
  @Column('varchar') name!: string;
  @Column('varchar') email!: string;
  @Column('varchar') card!: string;

  /** Urgent work for the `high` queue. */
  @Deferrable()
  async sendPasswordReset(): Promise<string> {
    await sleep(50);
    return `password reset link sent to ${this.email}`;
  }

  /**
   * A model-level job that takes a few seconds and says how far it is.
   * iterAndReport() moves the bar; reportProgress() adds a message per customer.
   * The wait stops at once when the job is cancelled (the progress page has a button).
   */
  @Deferrable()
  static async rebuildStatements(msPerCustomer: number): Promise<{ statements: number; billed: string }> {
    const { manager, signal } = currentJob()!;
    const customers = await manager.find(Customer, { order: { id: 'ASC' } });
    let billed = 0;
    let done = 0;
    for await (const customer of iterAndReport(customers, { valuemax: customers.length })) {
      reportProgress({ message: `statement for ${customer.name} (${++done}/${customers.length})` });
      const invoices = await manager.findBy(Invoice, { customerId: customer.id });
      billed += invoices.reduce((sum, i) => sum + i.amount, 0);
      await delay(msPerCustomer, undefined, { signal });
    }
    return { statements: customers.length, billed: money(billed) };
  }
}

@Entity()
export class Invoice {
  @PrimaryGeneratedColumn() id!: number;
  @Column('varchar') number!: string;
  @Column('integer') customerId!: number;
  /** In cents. */
  @Column('integer') amount!: number;
  @Column('varchar', { default: 'open' }) status!: 'open' | 'sent' | 'paid';
  @Column('datetime', { nullable: true }) sentAt!: Date | null;

  /** A model-level call: what is still owed. */
  @Deferrable()
  static async outstanding(): Promise<{ invoices: number; total: string }> {
    const open = await currentJob()!.manager.find(Invoice);
    const unpaid = open.filter((i) => i.status !== 'paid');
    return { invoices: unpaid.length, total: money(unpaid.reduce((sum, i) => sum + i.amount, 0)) };
  }

  /** A record-level call: the worker reloads this invoice and calls send() on it. */
  @Deferrable()
  async send(note: string): Promise<{ invoice: string; to: string; note: string; sentAt: Date }> {
    const { manager } = currentJob()!;
    const customer = await manager.findOneByOrFail(Customer, { id: this.customerId });
    this.status = 'sent';
    this.sentAt = new Date();
    await manager.save(this);
    return { invoice: this.number, to: customer.email, note, sentAt: this.sentAt };
  }

  /** Called on an array of invoices: the result is one value per invoice. */
  @Deferrable()
  async addLateFee(percent: number): Promise<string> {
    const before = this.amount;
    this.amount = Math.round(before * (1 + percent / 100));
    await currentJob()!.manager.save(this);
    return `${this.number} ${money(before)} → ${money(this.amount)}`;
  }

  /** A short reminder, used with a countdown. */
  @Deferrable()
  async remind(): Promise<string> {
    const customer = await currentJob()!.manager.findOneByOrFail(Customer, { id: this.customerId });
    return `reminder for ${this.number} (${money(this.amount)}) sent to ${customer.email}`;
  }

  /** Marks the invoice paid, then fails when the card is declined: the transaction rolls the change back. */
  @Deferrable()
  async charge(): Promise<string> {
    const { manager } = currentJob()!;
    const customer = await manager.findOneByOrFail(Customer, { id: this.customerId });
    this.status = 'paid';
    await manager.save(this);
    if (customer.card === DECLINED_CARD) {
      throw new Error(`card ending ${customer.card.slice(-4)} was declined for ${this.number} (insufficient funds)`);
    }
    return `${this.number} paid`;
  }
}

// DeferredJobRecord: the job table, so jobs deferred in a transaction go out only if it commits.
export const ENTITIES = [Customer, Invoice, DeferredJobRecord];
