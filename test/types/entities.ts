// Entities for the type tests. Only their types matter: nothing here runs.
import { BaseEntity, Column, DataSource, Entity, EntityManager, PrimaryGeneratedColumn } from 'typeorm';
import { Deferrable, registerRepository } from '../../src/index.js';

@Entity()
export class Invoice {
  @PrimaryGeneratedColumn() id!: number;
  @Column('integer') total!: number;
  @Column('varchar') customer!: string;

  /** Record-level: async, one argument. */
  @Deferrable()
  async recompute(rate: number): Promise<number> {
    return this.total * rate;
  }

  /** Record-level: synchronous, several arguments of different types, one optional. */
  @Deferrable()
  sendReminder(text: string, at: Date, copies?: number): { sent: boolean; copies: number } {
    return { sent: text.length > 0 && at.getTime() > 0, copies: copies ?? 1 };
  }

  /** Record-level: no arguments, nothing returned. */
  @Deferrable()
  async archive(): Promise<void> {}

  /** Model-level: async, one required and one optional argument. */
  @Deferrable()
  static async closeAll(month: string, dryRun?: boolean): Promise<{ closed: number; dryRun: boolean }> {
    return { closed: month.length, dryRun: dryRun ?? false };
  }

  /** Model-level: synchronous, no arguments. */
  @Deferrable()
  static count(): number {
    return 0;
  }

  /** Model-level: takes an entity instance (it travels as a reference). */
  @Deferrable()
  static async merge(into: Invoice, from: Invoice[]): Promise<Invoice> {
    return from.length ? into : into;
  }
}

/** A custom repository: only `closeMonth` and `totals` are its own methods. */
export const InvoiceRepository = registerRepository(Invoice, (base) => base.extend({
  async closeMonth(month: string) {
    return month.length;
  },
  totals(customer: string, since?: Date): Promise<Map<string, number>> {
    return Promise.resolve(new Map([[customer, since ? 1 : 0]]));
  },
}));

/** An Active Record entity: BaseEntity's own methods (save, find…) are not deferrable. */
@Entity()
export class Report extends BaseEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column('varchar') title!: string;

  @Deferrable()
  async generate(format: 'pdf' | 'csv'): Promise<string> {
    return `${this.title}.${format}`;
  }

  @Deferrable()
  static async rebuildAll(since?: Date): Promise<number> {
    return since ? 1 : 0;
  }
}

export declare const ds: DataSource;
export declare const manager: EntityManager;
export declare const invoice: Invoice;
export declare const invoices: Invoice[];
export declare const readonlyInvoices: readonly Invoice[];
export declare const report: Report;
