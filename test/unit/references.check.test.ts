import 'reflect-metadata';
import { Column, DataSource, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EntityRef } from '../../src/call/call.js';
import { checkArgs, checkRecordKey } from '../../src/call/references.js';
import { thrown } from '../assert.js';
import { Account, ENTITIES, Membership } from '../fixtures/entities.js';

@Entity()
class Ticket {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column('varchar') title!: string;
}

@Entity()
class Ledger {
  @PrimaryColumn('bigint') id!: string;
}

@Entity()
class Price {
  @PrimaryColumn('decimal', { precision: 10, scale: 2 }) amount!: string;
}

@Entity()
class Code {
  @PrimaryColumn('varchar', { length: 8 }) code!: string;
}

let dataSource: DataSource;
beforeAll(async () => {
  dataSource = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [...ENTITIES, Ticket, Ledger, Price, Code] });
  await dataSource.initialize();
});
afterAll(() => dataSource.destroy());

const meta = (entity: Function) => dataSource.getMetadata(entity);
const refusal = (entity: Function, id: unknown) => {
  const err = thrown(() => checkRecordKey(meta(entity), id, 'target.ids[0]'));
  expect(err.code).toBe('DEFER_ERR_BAD_PAYLOAD');
  expect(err.message).toContain('target.ids[0]');
  return err.message;
};

describe('checkRecordKey(): a record reference is exactly a primary key, of the column types', () => {
  it.each([
    [Account, { id: 7 }],
    [Membership, { team: 'core', member: 7 }],
    [Ticket, { id: '3f2b8c1e-9d4a-4e7b-a1c2-0123456789ab' }],
    [Ledger, { id: '9007199254740993' }],
    [Ledger, { id: 42 }],
    [Price, { amount: '12.50' }],
    [Price, { amount: 12.5 }],
    [Code, { code: 'ABCDEFGH' }],
  ] as const)('accepts %o %j', (entity, id) => {
    expect(checkRecordKey(meta(entity), id, 'id')).toBe(id);
  });

  it.each([
    [Account, {}, 'its key is id'],
    [Account, { name: 'victim' }, 'its key is id'],
    [Account, { id: 1, name: 'victim' }, 'its key is id'],
    [Account, [1], 'its key is id'],
    [Account, null, 'its key is id'],
    [Account, { id: 'abc' }, 'a whole number'],
    [Account, { id: '7' }, 'a whole number'],
    [Account, { id: 1.5 }, 'a whole number'],
    [Membership, { team: 'core' }, 'its key is team, member'],
    [Membership, { team: 7, member: 7 }, 'a string'],
    [Ticket, { id: 'not-a-uuid' }, 'a UUID'],
    [Ledger, { id: '12abc' }, 'digits'],
    [Price, { amount: '1e5' }, 'a number'],
    [Code, { code: 'ABCDEFGHI' }, 'at most 8 characters'],
    [Code, { code: 'a\u0000' }, 'without NUL'],
    [Account, { id: { $gt: 0 } }, 'a string or a number'],
  ] as const)('refuses %o %j: %s', (entity, id, says) => {
    expect(refusal(entity, id)).toContain(says);
  });
});

describe('checkArgs(): record references anywhere in the arguments', () => {
  it('accepts references with their exact keys, in arrays, objects, Maps and Sets', () => {
    const ref = new EntityRef('Account', { id: 1 });
    expect(() => checkArgs([ref, { nested: new Map([['k', new Set([ref])]]) }], dataSource, 'args')).not.toThrow();
  });

  it('refuses a reference with an empty key, naming where it is', () => {
    const err = thrown(() => checkArgs({ deep: [new EntityRef('Account', {})] }, dataSource, 'args[1]'));
    expect([err.code, err.message]).toEqual(['DEFER_ERR_BAD_PAYLOAD', expect.stringContaining('args[1].deep[0].id')]);
  });

  it('refuses a reference to an entity the data source does not have, with DEFER_ERR_UNKNOWN_MODEL', () => {
    expect(thrown(() => checkArgs(new EntityRef('Nope', { id: 1 }), dataSource, 'args[0]')).code).toBe('DEFER_ERR_UNKNOWN_MODEL');
    expect(thrown(() => checkArgs(new EntityRef(42 as never, { id: 1 }), dataSource, 'args[0]')).code).toBe('DEFER_ERR_UNKNOWN_MODEL');
  });
});
