/**
 * The key audit in the demo: one payment is hard-deleted at the source and another is deleted from
 * the lake's serving table (a lost row); the payments stream's key audit must find exactly one of
 * each, tombstone the first and re-extract the second, and its publish must leave the serving
 * table equal to the source's current rows (the demo's reconciliation checks that afterwards).
 */
import type { LocalAthena } from '../../local/athena.ts';
import type { LocalRunSession } from '../../local/run-local.ts';
import type { IntegrityCheck } from '../integrity.ts';

export interface KeyAuditDemoInput {
  readonly session: LocalRunSession;
  /** The operator's Glue database (the serving tables). */
  readonly database: string;
  /** Runs one statement on the source database as the demo's admin session. */
  readonly sourceExec: (sql: string) => Promise<void>;
  /** `schema.table` of the payments source table, quoted for the engine, and its key column quoted. */
  readonly paymentsTable: string;
  readonly paymentsKeyColumn: string;
}

export interface KeyAuditDemoOutcome {
  readonly checks: IntegrityCheck[];
  /** The payment deleted at the source (the reconciliation removes it from the source's current rows). */
  readonly deletedKey: string;
  /** The payment deleted from the lake and expected back. */
  readonly lostKey: string;
  /** A line for the demo's progress output. */
  readonly summary: string;
}

const lit = (v: string) => `'${v.replaceAll("'", "''")}'`;

/** Injects a hard delete and a lost row, runs the payments key audit, and reports what it found. */
export async function runKeyAuditDemo(input: KeyAuditDemoInput): Promise<KeyAuditDemoOutcome> {
  const athena: LocalAthena = input.session.pipeline.athena;
  const payments = `"${input.database}"."payments"`;
  // The two oldest served payments: long settled, so no later run changes them.
  const oldest = await athena.execute(
    `SELECT CAST("payment_id" AS varchar) AS k FROM ${payments} ORDER BY "_cursor_us", "payment_id" LIMIT 2`,
  );
  const [deletedKey, lostKey] = oldest.rows.map((r) => String(r.k));
  if (!deletedKey || !lostKey) throw new Error('the demo needs two served payments for the key audit');
  await input.sourceExec(`DELETE FROM ${input.paymentsTable} WHERE ${input.paymentsKeyColumn} = ${lit(deletedKey)}`);
  await athena.execute(`DELETE FROM ${payments} WHERE "payment_id" = ${lit(lostKey)}`);

  const run = await input.session.keyAudit('payments');
  const result = run.result;
  if (run.status !== 'SUCCEEDED' || result?.status !== 'completed') {
    throw new Error(
      `the payments key audit did not complete: ${run.error ?? run.status}: ${run.cause ?? JSON.stringify(result)}`,
    );
  }
  return {
    checks: [
      { field: 'deletesDetected', observed: result.deletesDetected, expected: 1 },
      { field: 'rowsRepaired', observed: result.rowsRepaired, expected: 1 },
    ],
    deletedKey,
    lostKey,
    summary:
      `payments: ${result.sourceKeys} source keys vs ${result.lakeKeys} lake keys in ${result.bucketsCompared} buckets ` +
      `(${result.passes} passes, ${result.keysListed} keys listed): ${result.deletesDetected} deleted (tombstoned), ` +
      `${result.rowsRepaired} lost row re-extracted, published`,
  };
}
