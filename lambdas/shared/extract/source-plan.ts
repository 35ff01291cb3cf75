/**
 * What to read from the source for one stream: the table, the mapped columns the landed schema
 * needs (dropped fields are never selected — data minimization starts in the query), the cursor
 * and key columns, and the money columns reconciled against the landed sums.
 */
import { CANONICAL_STREAMS, type StreamName } from '../canonical.ts';
import { cursorColumnOf, mappedColumn } from '../config/columns.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { treatmentOf } from '../landed-schema.ts';

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

export function sourcePlan(config: OperatorConfig, stream: StreamName): SourcePlan {
  const source = config.source;
  const streamConfig = config.streams[stream];
  const where = `${config.operatorId}/${stream}`;
  if (source.type === 'files') throw new SourcePlanError(`${where}: a file-drop operator has no source database`);
  if (!streamConfig?.table) throw new SourcePlanError(`${where}: streams.${stream}.table is not configured`);
  const canonical = CANONICAL_STREAMS[stream];
  const keyColumn = mappedColumn(streamConfig.columns[canonical.primaryKey]);
  const cursorColumn = cursorColumnOf(stream, streamConfig);
  if (!keyColumn || !cursorColumn) {
    throw new SourcePlanError(`${where}: the primary key and the cursor must be mapped`);
  }
  const columns: string[] = [];
  const moneyColumns: Record<string, string> = {};
  for (const field of canonical.fields) {
    const mapped = mappedColumn(streamConfig.columns[field.name]);
    if (mapped === undefined || treatmentOf(field, streamConfig) === 'drop') continue;
    if (!columns.includes(mapped)) columns.push(mapped);
    if (field.money) moneyColumns[field.name] = mapped;
  }
  for (const c of [cursorColumn, keyColumn]) if (!columns.includes(c)) columns.push(c);
  const schema: string = streamConfig.schema ?? source.schema ?? source.database;
  return { schema, table: streamConfig.table, columns, cursorColumn, keyColumn, moneyColumns };
}
