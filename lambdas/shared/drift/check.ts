/**
 * The schema-drift check of a run: one catalog read for the tables of the streams it is about to
 * read, compared with each stream's mapping and fingerprint (`compare.ts`), recorded in the sync
 * state (`state/schemas.ts`). A stream whose mapped columns drifted beyond what the mapping absorbs
 * gets a {@link SchemaDriftError}; the caller fails that stream, and only that one.
 */
import type { StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { sourcePlan } from '../extract/source-plan.ts';
import { readTableColumns, tableKey } from '../sources/catalog.ts';
import { SchemaDriftError } from '../sources/errors.ts';
import type { SourceConnection } from '../sources/source.ts';
import type { SchemaLedger } from '../state/schemas.ts';
import {
  type ColumnChange,
  compareSchema,
  describeChange,
  fingerprintOf,
  isBreaking,
  neededColumns,
  type SchemaFingerprint,
} from './compare.ts';

/** What the check found for one stream. */
export interface StreamSchemaCheck {
  readonly stream: StreamName;
  /** `schema.table` */
  readonly table: string;
  readonly fingerprint: SchemaFingerprint;
  /** Every drifted column (reported), breaking or not. */
  readonly changes: readonly ColumnChange[];
  /** Set when a change fails the stream. */
  readonly error?: SchemaDriftError;
}

/** `<stream>.<column>` of every drifted column, as runs report them. */
export function driftedColumns(stream: string, changes: readonly ColumnChange[]): string[] {
  return changes.map((c) => `${stream}.${c.column}`);
}

/** The error that fails a stream whose mapped columns drifted. */
export function schemaDriftError(
  config: OperatorConfig,
  stream: StreamName,
  table: string,
  changes: readonly ColumnChange[],
): SchemaDriftError {
  const breaking = changes.filter(isBreaking);
  return new SchemaDriftError(
    `the source table changed under the mapping: ${breaking.map(describeChange).join('; ')}. Nothing of this stream is read until the config matches the table (see the runbook, "Schema drift")`,
    { context: { operatorId: config.operatorId, stream, table } },
  );
}

/**
 * Reads the catalog of the streams' tables (one statement, under the session's statement timeout)
 * and compares each with its mapping and its fingerprint. Records what each stream saw as pending
 * (accepted by {@link acceptSchemas} when the run succeeds) and any drift. A table the catalog does
 * not show is left to the reader, whose error says whether it is missing or not granted.
 */
export async function checkSchemas(deps: {
  readonly source: SourceConnection;
  readonly config: OperatorConfig;
  readonly ledger: SchemaLedger;
  readonly streams: readonly StreamName[];
  /** The snapshot or incremental run. */
  readonly runId: string;
}): Promise<Partial<Record<StreamName, StreamSchemaCheck>>> {
  const { source, config, ledger, streams, runId } = deps;
  const plans = streams.map((stream) => ({ stream, plan: sourcePlan(config, stream) }));
  const catalog = await readTableColumns(
    source,
    plans.map(({ plan }) => ({ schema: plan.schema, table: plan.table })),
  );
  const states = new Map((await ledger.getMany(streams)).map((s) => [s.stream, s]));
  const out: Partial<Record<StreamName, StreamSchemaCheck>> = {};
  for (const { stream, plan } of plans) {
    const table = tableKey(plan);
    const live = catalog.get(table);
    if (!live) continue;
    const changes = compareSchema({
      engine: source.engine,
      stream,
      needed: neededColumns(config, stream),
      live,
      previous: states.get(stream)?.accepted?.columns,
    });
    const fingerprint = fingerprintOf(live);
    const failed = changes.some(isBreaking);
    await ledger.observe(
      stream,
      { hash: fingerprint.hash, columns: fingerprint.columns, runId },
      { source: table, changes, failed },
    );
    out[stream] = {
      stream,
      table,
      fingerprint,
      changes,
      ...(failed ? { error: schemaDriftError(config, stream, table, changes) } : {}),
    };
  }
  return out;
}

/** Makes what a successful run saw the streams' fingerprints. */
export async function acceptSchemas(ledger: SchemaLedger, streams: readonly string[], runId: string): Promise<void> {
  for (const stream of streams) await ledger.accept(stream, runId);
}
