/**
 * How a run reports a stream's schema check: the `SchemaDriftColumns` metric (every check, 0
 * included, so its alarm resolves) and one warning log line naming the drifted columns and their
 * types. Names and types only: a catalog or a header holds no row value.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DIMENSIONS, METRICS } from '../contracts/metrics.ts';
import type { SchemaDriftSummary } from '../contracts/steps.ts';
import { type ColumnChange, describeChange, isBreaking } from '../drift/compare.ts';
import type { Observability } from './observability.ts';

export function summarize(changes: readonly ColumnChange[]): SchemaDriftSummary[] {
  return changes.map((c) => ({
    change: c.change,
    column: c.column,
    ...(c.from !== undefined ? { from: c.from } : {}),
    ...(c.to !== undefined ? { to: c.to } : {}),
  }));
}

/** Emits the metric of one stream's check and logs its drift. */
export function reportSchemaCheck(
  obs: Observability,
  stream: string,
  where: string,
  changes: readonly ColumnChange[],
): void {
  const single = obs.metrics.singleMetric();
  single.addDimension(DIMENSIONS.stream, stream);
  single.addMetric(METRICS.schemaDriftColumns, MetricUnit.Count, changes.length);
  if (changes.length === 0) return;
  const breaking = changes.some(isBreaking);
  const message = breaking
    ? 'schema drift in mapped columns: the stream fails until the config matches; see the runbook section "Schema drift"'
    : 'schema drift: columns changed that the mapping absorbs or does not read; see the runbook section "Schema drift"';
  obs.logger.warn(message, { stream, source: where, schemaDrift: changes.map(describeChange) });
}
