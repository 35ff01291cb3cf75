/**
 * Powertools Logger, Metrics and Tracer with the connector's defaults, and the middy wrapper every
 * handler uses. Metric names live in contracts/metrics.ts, shared with the alarms and dashboards.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { DIMENSIONS, METRIC_NAMESPACE, SERVICE_NAME } from '../contracts/metrics.ts';

export interface Observability {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tracer: Tracer;
}

/**
 * What a handler logs of an error: its name, its message (the connector's own words), its code and
 * retry class. Never its `cause` chain or other fields, which for third-party errors can carry row
 * values, statements with bound values or request payloads (the Powertools logger would serialize
 * them all).
 */
export function loggableError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { name: typeof error, message: 'a non-Error value was thrown' };
  const { code, retryable } = error as { code?: unknown; retryable?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(typeof retryable === 'boolean' ? { retryable } : {}),
  };
}

/** One set per handler module, created at module scope. */
export function createObservability(operator: string): Observability {
  const logger = new Logger({ serviceName: SERVICE_NAME, persistentKeys: { operator } });
  const metrics = new Metrics({
    namespace: METRIC_NAMESPACE,
    serviceName: SERVICE_NAME,
    defaultDimensions: { [DIMENSIONS.operator]: operator },
    // Metrics' own warnings (e.g. an invocation with nothing to publish) go through the Logger,
    // at its level, instead of straight to the console.
    logger,
  });
  const tracer = new Tracer({ serviceName: SERVICE_NAME });
  return { logger, metrics, tracer };
}

/** Wraps a handler with tracing, metrics flushing and the Lambda context in every log line. */
export function wrapHandler<E, R>(
  obs: Observability,
  handler: (event: E, context: Context) => Promise<R>,
): middy.MiddyfiedHandler<E, R, Error, Context> {
  return middy(handler)
    .use(captureLambdaHandler(obs.tracer, { captureResponse: false }))
    .use(logMetrics(obs.metrics))
    .use(injectLambdaContext(obs.logger, { resetKeys: true }));
}
