import type { DataSource } from 'typeorm';
import { Customer, DECLINED_CARD, Invoice } from './entities.js';

const NAMES = ['Alice Martin', 'Bob Chen', 'Carol Diaz', 'Dan Okafor', 'Eve Novak', 'Farid Haddad', 'Grace Kim', 'Hugo Laurent', 'Ines Costa', 'Jonas Berg', 'Kenji Sato', 'Lea Fischer'];

/** The records the demo works on. */
export interface SampleData {
  customers: Customer[];
  invoices: Invoice[];
}

/** Creates the sample customers and invoices; Bob's card is always declined. */
export async function seed(dataSource: DataSource): Promise<SampleData> {
  return dataSource.transaction(async (manager) => {
    const customers = await manager.save(NAMES.map((name, i) => manager.create(Customer, {
      name,
      email: `${name.split(' ')[0].toLowerCase()}@example.com`,
      card: i === 1 ? DECLINED_CARD : '4242 4242 4242 4242',
    })));
    const amounts = [12_000, 4_550, 31_000, 8_900, 15_075, 2_500];
    const invoices = await manager.save(amounts.map((amount, i) => manager.create(Invoice, {
      number: `INV-${1001 + i}`,
      customerId: customers[i % 3].id,
      amount,
      status: 'open' as const,
      sentAt: null,
    })));
    return { customers, invoices };
  });
}
