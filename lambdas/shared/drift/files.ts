/**
 * Schema drift of file-drop streams. A file's header must hold exactly the stream's agreed columns
 * (a new column quarantines the file with `UNEXPECTED_COLUMN`, a missing one with
 * `MISSING_COLUMN`), so drift shows in two ways, both reported like a database table's:
 *
 * - a quarantined file whose header has a column the previous accepted file did not have, or lacks
 *   one it had: `added` / `removed` (the file is not landed, the fingerprint is kept);
 * - a landed file whose columns differ from the previous accepted file's (the agreed list changed
 *   in config between the two): `added` / `removed` / `retyped`, and its columns become the
 *   stream's fingerprint.
 *
 * Column names only come from a header row the reader recognized as one (a header that matches no
 * mapped column may be data, and is never quoted).
 */
import type { StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { planFile } from '../files/plan.ts';
import type { QuarantineReason } from '../files/reason.ts';
import type { SchemaLedger } from '../state/schemas.ts';
import { type ColumnChange, compareSchema, fingerprintOf, type SeenColumn } from './compare.ts';

/** The columns a landed file of the stream had: its agreed columns (as configured), dropped ones included. */
export function fileColumns(config: OperatorConfig, stream: StreamName): SeenColumn[] {
  const plan = planFile(config, stream);
  return [
    ...plan.columns.map((c) => ({ name: c.name, type: c.sourceType, kind: c.kind })),
    ...plan.dropped.map((name) => ({ name, type: 'text', kind: 'text' as const })),
  ];
}

/** Column changes a quarantined file's reason shows against the previous accepted file's columns. */
export function quarantineDrift(reason: QuarantineReason, previous: readonly SeenColumn[] | undefined): ColumnChange[] {
  const has = (name: string) => previous?.some((c) => c.name.toLowerCase() === name.toLowerCase()) ?? false;
  const changes: ColumnChange[] = [];
  for (const p of reason.errors) {
    if (p.column === null) continue;
    if (p.code === 'UNEXPECTED_COLUMN' && !has(p.column) && p.column.trim() !== '') {
      changes.push({ change: 'added', column: p.column });
    } else if (p.code === 'MISSING_COLUMN' && (previous === undefined || has(p.column))) {
      changes.push({ change: 'removed', column: p.column });
    }
  }
  return changes;
}

/**
 * Records what a file showed of its stream's columns: a landed file's columns become the fingerprint
 * (reporting how they differ from the previous accepted file's); a quarantined file's new or missing
 * header columns are reported. Returns the changes (for the metric).
 */
export async function recordFileSchema(
  deps: { readonly config: OperatorConfig; readonly ledger: SchemaLedger },
  file:
    | { readonly status: 'landed'; readonly stream: StreamName; readonly runId: string; readonly key: string }
    | {
        readonly status: 'quarantined';
        readonly stream: StreamName;
        readonly runId: string;
        readonly key: string;
        readonly reason: QuarantineReason;
      },
): Promise<ColumnChange[]> {
  const { config, ledger } = deps;
  const previous = (await ledger.get(file.stream)).accepted?.columns;
  if (file.status === 'quarantined') {
    const changes = quarantineDrift(file.reason, previous);
    if (changes.length > 0) {
      await ledger.observe(
        file.stream,
        { hash: '', columns: [], runId: file.runId },
        { source: file.key, changes, failed: true },
      );
    }
    return changes;
  }
  const live = fileColumns(config, file.stream);
  const changes = previous
    ? // Header names match the agreed columns case-insensitively, as the MySQL comparison does.
      compareSchema({ engine: 'mysql', stream: file.stream, needed: [], live, previous })
    : [];
  const fingerprint = fingerprintOf(live);
  await ledger.observe(
    file.stream,
    { hash: fingerprint.hash, columns: fingerprint.columns, runId: file.runId },
    { source: file.key, changes, failed: false },
  );
  await ledger.accept(file.stream, file.runId);
  return changes;
}
