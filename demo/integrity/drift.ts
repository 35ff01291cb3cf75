/**
 * The demo's schema-drift anomaly: a column added to the players' source table before the second
 * incremental run. The connector must report it (name and type, never its values) in that run's
 * result as `players.<column>`, and nothing else; the stream keeps landing, and the column is not
 * copied (the lake's players tables keep their columns).
 */
import type { SourceEngine } from '../../local/engines.ts';
import type { IncrementalRun } from '../../local/pipeline-runner.ts';
import type { IntegrityCheck } from '../integrity.ts';

/** The column the demo adds (a typical back-office change the mapping does not know). */
export const DRIFT_COLUMN = 'marketing_opt_in';
const DRIFT_TABLE = 'customers';
const DRIFT_STREAM = 'players';

/** Adds the column to the source table; returns what the connector must report. */
export async function addSourceColumn(
  db: { exec(sql: string): Promise<void> },
  engine: SourceEngine,
  schema: string,
): Promise<string[]> {
  const table = engine === 'postgres' ? `"${schema}"."${DRIFT_TABLE}"` : `\`${schema}\`.\`${DRIFT_TABLE}\``;
  await db.exec(`ALTER TABLE ${table} ADD COLUMN ${DRIFT_COLUMN} varchar(8) DEFAULT 'no'`);
  return [`${DRIFT_STREAM}.${DRIFT_COLUMN}`];
}

/** Every column the incremental runs reported as drifted, as `<stream>.<column>`, sorted. */
export function reportedDrift(runs: readonly IncrementalRun[]): string[] {
  const out = new Set<string>();
  for (const run of runs) {
    for (const result of run.streams) {
      const drift = 'schemaDrift' in result ? result.schemaDrift : undefined;
      for (const c of drift ?? []) out.add(`${result.stream}.${c.column}`);
    }
  }
  return [...out].sort();
}

/** The demo's schemaDrift check: what the runs reported against the column the demo added. */
export function schemaDriftCheck(runs: readonly IncrementalRun[], expected: readonly string[]): IntegrityCheck {
  return { field: 'schemaDrift', observed: reportedDrift(runs), expected: [...expected].sort() };
}
