/**
 * What to read from the source for one stream: the table, the mapped columns the landed schema
 * needs (dropped fields are never selected — data minimization starts in the query), the cursor
 * and key columns, and the money columns reconciled against the landed sums. All of it comes from
 * the stream's resolved plan (config/stream-plan.ts); this module only refuses a plan a database
 * cannot be read by.
 */
import type { StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { resolveStreamPlan, type StreamPlan } from '../config/stream-plan.ts';

export interface SourcePlan {
  readonly schema: string;
  readonly table: string;
  readonly columns: readonly string[];
  readonly cursorColumn: string;
  readonly keyColumn: string;
  /** Source column of every money field that lands, by landed column name. */
  readonly moneyColumns: Readonly<Record<string, string>>;
}

/** The stream or source cannot be read as configured (a config problem, never retryable). */
export class SourcePlanError extends Error {
  override readonly name = 'SourcePlanError';
}

/** The source plan of a stream of the config. */
export function sourcePlan(config: OperatorConfig, stream: StreamName): SourcePlan {
  return sourcePlanOf(resolveStreamPlan(config, stream));
}

/** The source plan of a resolved stream plan; throws {@link SourcePlanError} when a database cannot be read by it. */
export function sourcePlanOf(plan: StreamPlan): SourcePlan {
  const where = `${plan.operatorId}/${plan.stream}`;
  if (plan.sourceType === 'files') throw new SourcePlanError(`${where}: a file-drop operator has no source database`);
  if (!plan.table || plan.schema === undefined) {
    throw new SourcePlanError(`${where}: streams.${plan.stream}.table is not configured`);
  }
  const keyColumn = plan.key.column;
  const cursorColumn = plan.cursor.column;
  if (!keyColumn || !cursorColumn) {
    throw new SourcePlanError(`${where}: the primary key and the cursor must be mapped`);
  }
  return {
    schema: plan.schema,
    table: plan.table,
    columns: plan.selectedColumns,
    cursorColumn,
    keyColumn,
    moneyColumns: plan.moneyColumns,
  };
}
