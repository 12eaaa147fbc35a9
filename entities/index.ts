// The entities typeorm-deferred ships, and their migration.
export { DeferredJobRecord, setDeferredJobTable, deferredJobTable, DEFAULT_JOB_TABLE } from './deferred-job-record.js';
export { CreateDeferredJobTable1795400000000 } from './create-deferred-job-table.js';
