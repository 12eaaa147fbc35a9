import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Deferred, DeferredJobRecord, DeferredType, relayPendingJobs } from '../../src/index.js';
import { producerQueue } from '../../src/queues.js';
import { failure } from '../assert.js';
import { Account, ENTITIES } from '../fixtures/entities.js';
import { setup, type Harness } from '../helpers.js';

const exporter = new InMemorySpanExporter();

describe('OpenTelemetry traces: a producer span at Deferred(), a consumer span per attempt', () => {
  let h: Harness | undefined;
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  });
  afterAll(() => {
    trace.disable();
    context.disable();
  });
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
    exporter.reset();
  });

  const start = async () => {
    h = await setup('sqlite', {}, false, { entities: [...ENTITIES, DeferredJobRecord] });
    return h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 't', balance: 1, note: null }));
  };
  /** Runs `fn` inside a span of the application's own, as a request handler would. */
  const inRequest = <T>(fn: () => Promise<T>) => trace.getTracer('app').startActiveSpan('POST /accounts', async (span) => {
    try {
      return { value: await fn(), root: span.spanContext() };
    } finally {
      span.end();
    }
  });
  const spans = (name: string) => exporter.getFinishedSpans().filter((s) => s.name === name);
  const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

  it('the producer span is a child of the caller\'s span; the consumer span is its child and links to it, with messaging and deferred attributes', async () => {
    const a = await start();
    const { value: job, root } = await inRequest(() => Deferred(a, h!.dataSource, 'ann', 'deposit', 1));
    await h!.startWorker({ relay: false });
    await job.result({ timeoutMs: 10_000 });
    const [producer] = spans('publish default');
    expect(producer).toBeDefined();
    expect(producer!.kind).toBe(SpanKind.PRODUCER);
    expect(producer!.spanContext().traceId).toBe(root.traceId);
    expect(parentOf(producer!)).toBe(root.spanId);
    expect(producer!.attributes).toMatchObject({
      'messaging.system': 'bullmq', 'messaging.operation.type': 'send', 'messaging.destination.name': 'default',
      'messaging.message.id': job.id, 'deferred.call': 'Account.deposit', 'deferred.queue': 'default',
    });
    const [consumer] = spans('process default');
    expect(consumer!.kind).toBe(SpanKind.CONSUMER);
    expect(consumer!.spanContext().traceId).toBe(root.traceId);
    expect(parentOf(consumer!)).toBe(producer!.spanContext().spanId);
    expect(consumer!.links.map((l) => l.context.spanId)).toEqual([producer!.spanContext().spanId]);
    expect(consumer!.attributes).toMatchObject({
      'messaging.system': 'bullmq', 'messaging.operation.type': 'process', 'messaging.message.id': job.id,
      'deferred.call': 'Account.deposit', 'deferred.queue': 'default', 'deferred.attempt': 1,
    });
    expect(consumer!.status.code).not.toBe(SpanStatusCode.ERROR);
    // The job row carries the trace context too, so a relayed job keeps it.
    const row = await h!.dataSource.manager.findOneByOrFail(DeferredJobRecord, { id: job.id });
    expect(JSON.parse(row.payload).trace).toBe(`00-${root.traceId}-${producer!.spanContext().spanId}-01`);
  });

  it('each attempt has its own consumer span; a failed one is marked as an error with the exception', async () => {
    const a = await start();
    const { value: job } = await inRequest(() => DeferredType({ attempts: 2 })(a, h!.dataSource, 'ann', 'depositThenFail', 1, 'traced failure'));
    await h!.startWorker({ relay: false });
    await failure(job.result({ timeoutMs: 10_000 }));
    const attempts = spans('process default');
    expect(attempts.map((s) => s.attributes['deferred.attempt'])).toEqual([1, 2]);
    for (const s of attempts) {
      expect(s.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'traced failure' });
      expect(s.events.map((e) => e.name)).toContain('exception');
    }
  });

  it('a job pushed later by the relay (from its row) still joins the caller\'s trace', async () => {
    const a = await start();
    const { value: job, root } = await inRequest(() => Deferred(a, h!.dataSource, 'ann', 'deposit', 1));
    // As if Redis had refused the push: the BullMQ job is gone and the row waits for the relay.
    await producerQueue('default').remove(job.id);
    await h!.dataSource.manager.update(DeferredJobRecord, { id: job.id }, { state: 'pending' });
    expect(await relayPendingJobs({ olderThanMs: 0 })).toBe(1);
    await h!.startWorker({ relay: false });
    await job.result({ timeoutMs: 10_000 });
    const [producer] = spans('publish default');
    const [consumer] = spans('process default');
    expect(consumer!.spanContext().traceId).toBe(root.traceId);
    expect(parentOf(consumer!)).toBe(producer!.spanContext().spanId);
  });

  it('a forged trace context is ignored: the attempt gets a span of its own, with no parent and no link', async () => {
    const a = await start();
    const job = await Deferred(a, h!.dataSource, 'ann', 'deposit', 1);
    const data = (await producerQueue('default').getJob(job.id))!.data;
    await producerQueue('default').remove(job.id);
    await producerQueue('default').add('Account.deposit', { ...data, trace: '00-zzzz-not-a-traceparent' }, { jobId: job.id });
    await h!.startWorker({ relay: false });
    await job.result({ timeoutMs: 10_000 });
    const [consumer] = spans('process default');
    expect([parentOf(consumer!), consumer!.links]).toEqual([undefined, []]);
  });

  it('configure({ telemetry }) passes BullMQ\'s own telemetry through to its queues and workers', async () => {
    // A Telemetry as bullmq-otel makes one, recording the spans BullMQ starts.
    const started: string[] = [];
    const span = { setSpanOnContext: (c: unknown) => c, setAttribute() {}, setAttributes() {}, addEvent() {}, recordException() {}, end() {} };
    const telemetry = {
      tracer: { startSpan: (name: string) => (started.push(name), span) },
      contextManager: { with: (_c: unknown, fn: () => unknown) => fn(), active: () => ({}), getMetadata: () => '', fromMetadata: (c: unknown) => c },
    };
    h = await setup('sqlite', { telemetry: telemetry as never }, false);
    const a = await h.dataSource.manager.save(h.dataSource.manager.create(Account, { name: 't', balance: 1, note: null }));
    const job = await Deferred(a, h.dataSource, 'ann', 'deposit', 1);
    await h.startWorker({ relay: false });
    await job.result({ timeoutMs: 10_000 });
    expect(started).toEqual(expect.arrayContaining([expect.stringMatching(/^add default/), expect.stringMatching(/^process default/)]));
  });
});
