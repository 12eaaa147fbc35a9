import { DataSource, type DataSourceOptions } from 'typeorm';
import { afterEach, describe, expect, it } from 'vitest';
import { CreateDeferredJobTable1795400000000, DeferredJobRecord } from '../../src/index.js';
import { ALL_DB_KINDS, makeDataSource, type TestDataSource } from '../helpers.js';

describe.each(ALL_DB_KINDS)('the job table migration on %s', (kind) => {
  let db: TestDataSource | undefined;
  let migrated: DataSource | undefined;
  afterEach(async () => {
    if (migrated?.isInitialized) await migrated.destroy();
    await db?.drop();
  });

  it('creates exactly the table the entity describes, and drops it again', async () => {
    db = await makeDataSource(kind, [], { sqliteFile: true });
    migrated = new DataSource({ ...db.options, entities: [DeferredJobRecord], migrations: [CreateDeferredJobTable1795400000000], synchronize: false } as DataSourceOptions);
    await migrated.initialize();
    await migrated.runMigrations();
    // Nothing left for synchronize to do: the migration and the entity agree.
    const diff = await migrated.driver.createSchemaBuilder().log();
    expect(diff.upQueries.map((q) => q.query)).toEqual([]);
    await migrated.manager.insert(DeferredJobRecord, { id: 'j1', queue: 'default', model: 'M', method: 'm', uid: '1', state: 'pending', payload: '{}', jobOptions: '{}', createdAt: new Date().toISOString() });
    expect(await migrated.manager.countBy(DeferredJobRecord, { state: 'pending' })).toBe(1);
    await migrated.undoLastMigration();
    expect(await migrated.createQueryRunner().hasTable(migrated.getMetadata(DeferredJobRecord).tableName)).toBe(false);
  });
});
