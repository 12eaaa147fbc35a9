import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { defineConfig } from 'typeorm-deferred';
import { Report } from './report';

// `export =` is module.exports: what `deferred worker --config dist/config.js` reads as the default export.
export = defineConfig({
  connection: process.env.REDIS_URL,
  prefix: process.env.DEFERRED_PREFIX,
  dataSources: {
    main: new DataSource({ type: 'better-sqlite3', database: process.env.APP_SQLITE!, entities: [Report], synchronize: true }),
  },
});
