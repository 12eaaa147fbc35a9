import type * as OtelApi from '@opentelemetry/api';
import { VERSION } from '../version.js';

type Api = typeof OtelApi;

/** What a span of ours describes. */
export interface SpanInfo {
  queue: string;
  call: string;
  jobId?: string;
  attempt?: number;
}

let loading: Promise<Api | undefined> | undefined;
// Once loaded, read without an await: spans wrap every enqueue and every attempt.
let loaded: { api: Api | undefined } | undefined;

/** @opentelemetry/api, or undefined when the application did not install it (tracing is then a no-op). */
function otel(): Api | undefined | Promise<Api | undefined> {
  if (loaded) return loaded.api;
  return (loading ??= import('@opentelemetry/api').then((m): Api => m, () => undefined).then((api) => {
    loaded = { api };
    return api;
  }));
}

/**
 * The API, or undefined when spans would record nothing: the API is missing, or no SDK registered a
 * tracer provider (the global one then only hands out no-op spans). Checked per span, so an SDK
 * registered later is used from then on; skipping the no-op spans saves their cost on every job.
 */
function tracing(found: Api | undefined): Api | undefined {
  if (!found) return undefined;
  const provider = found.trace.getTracerProvider() as { getDelegateTracer?: (name: string) => unknown };
  return typeof provider.getDelegateTracer === 'function' && provider.getDelegateTracer('typeorm-deferred') === undefined ? undefined : found;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The W3C `traceparent` of a span: what the job carries so its attempts join the caller's trace. */
function traceparent(span: OtelApi.Span): string | undefined {
  const c = span.spanContext();
  if (!span.isRecording() && c.traceFlags === 0) return undefined;
  return `00-${c.traceId}-${c.spanId}-${c.traceFlags.toString(16).padStart(2, '0')}`;
}

/** The producer's span context from a job, or undefined for a missing or malformed (forged) one. */
function producerContext(carried: unknown): OtelApi.SpanContext | undefined {
  const m = typeof carried === 'string' ? TRACEPARENT.exec(carried) : null;
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return undefined;
  return { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16), isRemote: true };
}

function attributes(info: SpanInfo, operation: 'send' | 'process'): OtelApi.Attributes {
  return {
    'messaging.system': 'bullmq',
    'messaging.operation.type': operation,
    'messaging.operation.name': operation === 'send' ? 'publish' : 'process',
    'messaging.destination.name': info.queue,
    ...(info.jobId ? { 'messaging.message.id': info.jobId } : {}),
    'deferred.call': info.call,
    'deferred.queue': info.queue,
    ...(info.attempt !== undefined ? { 'deferred.attempt': info.attempt } : {}),
  };
}

/** Runs `fn` in `span`, ending it with the outcome; an error (unless `failed` says it is none) is recorded and rethrown. */
async function inSpan<T>(api: Api, span: OtelApi.Span, fn: () => Promise<T>, failed: (err: unknown) => boolean = () => true): Promise<T> {
  try {
    return await api.context.with(api.trace.setSpan(api.context.active(), span), fn);
  } catch (err) {
    if (!failed(err)) throw err;
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: api.SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    throw err;
  } finally {
    span.end();
  }
}

/**
 * A producer span around an enqueue, inside the caller's trace. `fn` gets the `traceparent` to
 * carry in the job (undefined when nothing traces).
 */
export function producerSpan<T>(info: SpanInfo, fn: (traceparent: string | undefined) => Promise<T>): Promise<T> {
  const found = otel();
  if (found instanceof Promise) return found.then(() => producerSpan(info, fn));
  // Not an async function: with nothing to trace, the call costs no promise of its own.
  const api = tracing(found);
  if (!api) return fn(undefined);
  const span = api.trace.getTracer('typeorm-deferred', VERSION).startSpan(`publish ${info.queue}`, { kind: api.SpanKind.PRODUCER, attributes: attributes(info, 'send') });
  return inSpan(api, span, () => fn(traceparent(span)));
}

/**
 * A consumer span around one attempt: a child of the producer's span carried in the job, and
 * linked to it; the method runs inside it, so spans it starts join the trace. `failed` tells an
 * error from an attempt that ended without failing (put back on its queue).
 */
export function consumerSpan<T>(info: SpanInfo, carried: unknown, fn: () => Promise<T>, failed?: (err: unknown) => boolean): Promise<T> {
  const found = otel();
  if (found instanceof Promise) return found.then(() => consumerSpan(info, carried, fn, failed));
  const api = tracing(found);
  if (!api) return fn();
  const producer = producerContext(carried);
  const parent = producer ? api.trace.setSpanContext(api.context.active(), producer) : api.context.active();
  const span = api.trace.getTracer('typeorm-deferred', VERSION).startSpan(`process ${info.queue}`, {
    kind: api.SpanKind.CONSUMER, attributes: attributes(info, 'process'), links: producer ? [{ context: producer }] : [],
  }, parent);
  return inSpan(api, span, fn, failed);
}
