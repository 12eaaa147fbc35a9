import { DataSource, type DataSourceOptions } from 'typeorm';
import { afterEach, describe, expect, it } from 'vitest';
import { CreateDeferredJobTable1795400000000, Deferred, DeferredJobRecord, jobsFor, setDeferredJobTable } from '../../src/index.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { ALL_DB_KINDS, makeDataSource, setup, type Harness, type TestDataSource } from '../helpers.js';

// Before any data source is built: this file runs in its own process, so the rename stays here.
setDeferredJobTable('app_background_jobs');

describe.each(ALL_DB_KINDS)('a renamed job table on %s', (kind) => {
  let h: Harness | undefined;
  let db: TestDataSource | undefined;
  let migrated: DataSource | undefined;
  afterEach(async () => {
    await h?.cleanup();
    if (migrated?.isInitialized) await migrated.destroy();
    await db?.drop();
    h = db = migrated = undefined;
  });

  it('records jobs in the table named by setDeferredJobTable()', async () => {
    h = await setup(kind, {}, { relay: false }, { entities: [...ENTITIES, DeferredJobRecord] });
    const a = await h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 'n', balance: 1, note: null }));
    const job = await h.dataSource.transaction((manager) => Deferred(a, manager, 'ann', 'deposit', 2));
    expect(await job.result({ timeoutMs: 10_000 })).toBe(3);
    const table = h.dataSource.getMetadata(DeferredJobRecord);
    expect(table.tableName).toBe('app_background_jobs');
    const rows = await h.dataSource.createQueryBuilder().select('j.id', 'id').addSelect('j.state', 'state').from(table.tablePath, 'j').getRawMany();
    expect(rows).toEqual([{ id: job.id, state: 'completed' }]);
    expect((await jobsFor(a)).map((r) => r.id)).toEqual([job.id]);
  });

  it('the migration creates the renamed table', async () => {
    db = await makeDataSource(kind, [], { sqliteFile: true });
    migrated = new DataSource({ ...db.options, entities: [DeferredJobRecord], migrations: [CreateDeferredJobTable1795400000000] } as DataSourceOptions);
    await migrated.initialize();
    await migrated.runMigrations();
    const runner = migrated.createQueryRunner();
    try {
      expect(await runner.hasTable('app_background_jobs')).toBe(true);
      expect(await runner.hasTable('deferred_job')).toBe(false);
    } finally {
      await runner.release();
    }
  });
});
