import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { deferredJobTable } from './deferred-job-record.js';

/**
 * The migration that creates the job table, for data sources that do not use `synchronize`.
 *
 * @example
 * ```ts
 * new DataSource({ …, entities: [DeferredJobRecord], migrations: [CreateDeferredJobTable1795400000000] })
 * ```
 */
export class CreateDeferredJobTable1795400000000 implements MigrationInterface {
  name = 'CreateDeferredJobTable1795400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const name = deferredJobTable();
    const varchar = (column: string, length: number, nullable = false) => ({ name: column, type: 'varchar', length: String(length), isNullable: nullable });
    await queryRunner.createTable(new Table({
      name,
      columns: [
        { ...varchar('id', 128), isPrimary: true },
        varchar('queue', 16), varchar('model', 255), varchar('method', 255),
        { ...varchar('recordKeys', 2048), default: "''" },
        varchar('uid', 255), varchar('state', 16),
        { name: 'percent', type: 'integer', default: 0 },
        { name: 'message', type: 'text', isNullable: true },
        { name: 'attempts', type: 'integer', default: 0 },
        { name: 'result', type: 'text', isNullable: true },
        { name: 'error', type: 'text', isNullable: true },
        { name: 'payload', type: 'text' },
        { name: 'jobOptions', type: 'text' },
        varchar('createdAt', 24), varchar('scheduledAt', 24, true), varchar('startedAt', 24, true),
        varchar('finishedAt', 24, true), varchar('relayedAt', 24, true),
      ],
      indices: [
        new TableIndex({ columnNames: ['model', 'state'] }),
        new TableIndex({ columnNames: ['state'] }),
        new TableIndex({ columnNames: ['createdAt'] }),
      ],
    }), true);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(deferredJobTable(), true);
  }
}
