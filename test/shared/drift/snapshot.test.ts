/**
 * Schema drift when a snapshot is planned, on the local PostgreSQL (the catalog read itself is
 * covered on both engines by drift-*.test.ts): a drifted stream's windows are failed with the drift
 * and not run, the others are; the snapshot ends failed naming it; the fingerprint moves only when
 * a snapshot completes; a resume after the fix runs the drifted stream's windows.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamName } from '#shared/canonical';
import { operatorConfigSchema } from '#shared/config/schema';
import { acceptSchemas, checkSchemas } from '#shared/drift/check';
import { countNullCursors, finalizeSnapshot, type PlanDeps, planSnapshot } from '#shared/pipeline/snapshot';
import { openSource, type SourceConnection } from '#shared/sources/index';
import { SchemaLedger } from '#shared/state/schemas';
import { SyncStateStore } from '#shared/state/store';
import { createSyntheticOperator, syntheticOperatorConfig } from '../../../synthetic/operator.ts';
import { credentialsFor, engineAvailable, engineUrl, uniqueName } from '../../helpers/databases.ts';
import { type DynaliteHandle, startDynalite } from '../../helpers/dynalite.ts';

const available = await engineAvailable('postgres');

describe.skipIf(!available)('schema drift when a snapshot is planned (PostgreSQL)', () => {
  const url = engineUrl('postgres');
  const schema = uniqueName('driftsnap');
  const now = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
  let dynamo: DynaliteHandle;
  let admin: pg.Client;
  let source: SourceConnection;
  let store: SyncStateStore;
  let ledger: SchemaLedger;
  let deps: PlanDeps;
  const config = operatorConfigSchema.parse({
    ...syntheticOperatorConfig({ engine: 'postgres', url, schema, operatorId: 'drift-snap' }),
    snapshot: { days: 2, windowHours: 24 },
  });
  const streams = Object.keys(config.streams) as StreamName[];

  beforeAll(async () => {
    await createSyntheticOperator({ engine: 'postgres', url, schema, players: 4, days: 1, now, seed: 3 });
    dynamo = await startDynalite();
    const table = await dynamo.createSyncStateTable();
    store = new SyncStateStore(dynamo.doc, table);
    ledger = new SchemaLedger(dynamo.doc, table);
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
    source = await openSource(credentialsFor('postgres'), {
      applicationName: 'drift-snapshot-test',
      statementTimeoutSeconds: 30,
      timeZone: 'Europe/Malta',
    });
    deps = {
      config,
      store,
      countNullCursors: (s, id) => countNullCursors(source, config, s, id),
      checkSchemas: (s, id) => checkSchemas({ source, config, ledger, streams: s, runId: id }),
    };
  });

  afterAll(async () => {
    await source?.close();
    await admin?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin?.end();
    await dynamo?.stop();
  });

  const finishAll = async (snapshotId: string, only?: (stream: string) => boolean) => {
    for (const w of await store.snapshots.listWindows(snapshotId)) {
      if (w.status === 'done' || (only && !only(w.stream))) continue;
      await store.snapshots.markWindowDone(snapshotId, w.stream, w.windowId, { rows: 0, bytes: 0, manifestKey: 'm' });
    }
  };
  const finalize = (snapshotId: string) =>
    finalizeSnapshot(
      { config, store, acceptSchemas: (s, id) => acceptSchemas(ledger, s, id) },
      { snapshotId, remaining: 0, failures: [] },
    );

  it('a completed snapshot makes the columns its plan saw the fingerprint', async () => {
    const plan = await planSnapshot(deps, { executionName: 'first', startTime: now.toISOString() });
    expect(new Set(plan.windows.map((w) => w.s))).toEqual(new Set(streams));
    // Not before the snapshot succeeds.
    expect((await ledger.get('payments')).accepted).toBeUndefined();
    await finishAll(plan.snapshotId);
    expect((await finalize(plan.snapshotId)).status).toBe('completed');
    const accepted = (await ledger.get('payments')).accepted;
    expect(accepted?.runId).toBe(plan.snapshotId);
    expect(accepted?.columns.find((c) => c.name === 'amount')?.type).toBe('numeric(18,2)');
  });

  it('fails only the drifted stream’s windows, names the drift in the snapshot’s failure, and runs them after the fix', async () => {
    await admin.query(`ALTER TABLE "${schema}".cashier_transactions ALTER COLUMN amount TYPE text`);
    const plan = await planSnapshot(deps, { executionName: 'second', startTime: now.toISOString() });
    expect(plan.windows.some((w) => w.s === 'payments')).toBe(false);
    expect(new Set(plan.windows.map((w) => w.s))).toEqual(new Set(streams.filter((s) => s !== 'payments')));
    const payments = await store.snapshots.listWindows(plan.snapshotId, { stream: 'payments' });
    expect(payments.length).toBeGreaterThan(0);
    for (const w of payments) {
      expect(w.status).toBe('failed');
      expect(w.error).toMatch(
        /^SchemaDriftError: operator drift-snap, stream payments, table .+\.cashier_transactions: /,
      );
      expect(w.error).toContain('column amount (field amount) retyped numeric(18,2) → text');
    }
    // The other streams' windows run and land; the snapshot ends failed, naming the drift.
    await finishAll(plan.snapshotId, (s) => s !== 'payments');
    const failed = await finalize(plan.snapshotId);
    expect(failed.status).toBe('failed');
    expect(failed.summary).toContain('stream payments window');
    expect(failed.summary).toContain('SchemaDriftError');
    // The fingerprint did not move.
    expect((await ledger.get('payments')).accepted?.columns.find((c) => c.name === 'amount')?.type).toBe(
      'numeric(18,2)',
    );
    expect((await ledger.get('payments')).lastDrift).toMatchObject({ runId: plan.snapshotId, failed: true });

    // Fixed at the source: the resume runs exactly the drifted stream's windows.
    await admin.query(
      `ALTER TABLE "${schema}".cashier_transactions ALTER COLUMN amount TYPE numeric(18,2) USING amount::numeric`,
    );
    const resumed = await planSnapshot(deps, {
      executionName: 'resume',
      startTime: now.toISOString(),
      request: { snapshotId: plan.snapshotId },
    });
    expect(resumed.mode).toBe('resume');
    expect(resumed.windows.map((w) => w.s)).toEqual(payments.map(() => 'payments'));
    await finishAll(plan.snapshotId);
    expect((await finalize(plan.snapshotId)).status).toBe('completed');
  });
});
