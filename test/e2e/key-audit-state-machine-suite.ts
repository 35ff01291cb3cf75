/**
 * The key-audit state machine end to end on one engine: the definition CDK synthesizes for the
 * operator's stack, run by aws-local-stepfunctions, its Lambda task bound to the real key-audit
 * handler (and the publish it starts to the real publish state machine and function), against the
 * engine's source database, s3rver, dynalite and the local Athena engine. A snapshot lands and
 * publishes the payments; then one payment is hard-deleted at the source and another deleted from
 * the serving table (a lost row). The execution must audit, tombstone the first, re-extract the
 * second, take the "Anything landed?" branch to the publish, and leave the serving table without
 * the first and with the second; a second execution finds nothing and ends without a publish.
 * key-audit-state-machine-postgres.test.ts and key-audit-state-machine-mysql.test.ts run it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { glueDatabaseName } from '../../lib/constructs/data-catalog.ts';
import { KEY_AUDIT_STATES } from '../../lib/constructs/key-audit.ts';
import { type DynaliteHandle, type S3rverHandle, startDynalite, startS3rver } from '../../local/engines.ts';
import { createLocalPipeline, type KeyAuditRun, type LocalPipeline } from '../../local/pipeline-runner.ts';
import { createSyntheticOperator, syntheticOperatorConfig } from '../../synthetic/operator.ts';
import { MINUTE, openSourceDb, type SourceDb } from '../extract/fixtures.ts';
import { type Engine, engineUrl, uniqueName } from '../helpers/databases.ts';
import { silenceMetricsWarnings } from '../helpers/quiet-metrics.ts';

const OPERATOR = 'audit-sm-casino';
const lit = (v: string) => `'${v.replaceAll("'", "''")}'`;

const entered = (run: KeyAuditRun) =>
  run.execution.events.filter((e) => e.type === 'StateEntered').map((e) => e.state.name);

/** Defines the key-audit state machine test of one engine. */
export function describeKeyAuditStateMachine(engine: Engine, available: boolean): void {
  describe.skipIf(!available)(
    `key-audit state machine on ${engine === 'postgres' ? 'PostgreSQL' : 'MariaDB/MySQL'}`,
    () => {
      const url = engineUrl(engine);
      const schema = uniqueName(`kasm_${engine}`);
      const H0 = Math.floor((Date.now() - 2 * 3_600_000) / MINUTE) * MINUTE;

      let s3: S3rverHandle;
      let dynamo: DynaliteHandle;
      let pipeline: LocalPipeline;
      let db: SourceDb;
      let scratch: string;
      let served: string;
      let sourceTable: string;
      let keyColumn: string;

      const servedKeys = async () =>
        (await pipeline.athena.execute(`SELECT CAST("payment_id" AS varchar) AS k FROM ${served}`)).rows
          .map((r) => String(r.k))
          .sort();

      beforeAll(async () => {
        silenceMetricsWarnings();
        [s3, dynamo] = await Promise.all([startS3rver(), startDynalite()]);
        scratch = await mkdtemp(join(tmpdir(), 'e2e-key-audit-'));
        await createSyntheticOperator({ engine, url, schema, players: 10, days: 2, now: new Date(H0), seed: 31 });
        const base = syntheticOperatorConfig({ engine, url, schema, operatorId: OPERATOR });
        const config = { ...base, snapshot: { ...(base.snapshot as object), days: 2 } };
        pipeline = await createLocalPipeline({
          config,
          engines: { s3, dynamo, source: { url } },
          shortenWaits: true,
          dir: scratch,
        });
        db = await openSourceDb(engine, schema);
        const payments = pipeline.config.streams.payments!;
        const key = payments.columns.payment_id!;
        keyColumn = (typeof key === 'string' ? key : key.column) as string;
        sourceTable = db.table(payments.table!);
        served = `"${glueDatabaseName(pipeline.config.operatorId, pipeline.config.stage)}"."payments"`;
      });

      afterAll(async () => {
        if (db) {
          await db
            .exec(
              engine === 'postgres'
                ? `DROP SCHEMA IF EXISTS "${schema}" CASCADE`
                : `DROP DATABASE IF EXISTS \`${schema}\``,
            )
            .finally(() => db.close());
        }
        await pipeline?.close();
        await Promise.allSettled([s3?.stop(), dynamo?.stop()]);
        if (scratch) await rm(scratch, { recursive: true, force: true });
        vi.restoreAllMocks();
      });

      it('synthesizes a key-audit state machine for the payments stream', () => {
        expect(pipeline.synthesized.keyAudit?.stateMachineName).toBe(`${OPERATOR}-sandbox-key-audit`);
        const states = Object.keys(
          (pipeline.synthesized.keyAudit!.definition as { States: Record<string, unknown> }).States,
        );
        expect(states.sort()).toEqual(Object.values(KEY_AUDIT_STATES).sort());
      });

      it('tombstones a hard delete, re-extracts a lost row and publishes both', async () => {
        const snapshot = await pipeline.runSnapshot({}, { executionName: 'audit-sm-snapshot' });
        expect(snapshot.status, snapshot.cause).toBe('SUCCEEDED');
        const before = await servedKeys();
        expect(before.length).toBeGreaterThan(10);
        // The snapshot's windows reconciled their money totals per currency with the source.
        for (const stream of ['payments', 'game_rounds', 'wallet_transactions']) {
          const totals = (await pipeline.store.watermarks.getState(stream)).moneyTotals;
          expect(totals?.last.mismatches, stream).toBe(0);
          expect(totals?.lastMismatch, stream).toBeUndefined();
        }

        // The two oldest served payments: long settled, nothing else changes them.
        const oldest = await pipeline.athena.execute(
          `SELECT CAST("payment_id" AS varchar) AS k FROM ${served} ORDER BY "_cursor_us", "payment_id" LIMIT 2`,
        );
        const [deleted, lost] = oldest.rows.map((r) => String(r.k));
        expect(deleted && lost).toBeTruthy();
        await db.exec(`DELETE FROM ${sourceTable} WHERE ${db.q(keyColumn)} = ${lit(deleted!)}`);
        await pipeline.athena.execute(`DELETE FROM ${served} WHERE "payment_id" = ${lit(lost!)}`);
        expect(await servedKeys()).not.toContain(lost);

        const publishes = pipeline.publishes.length;
        const run = await pipeline.runKeyAudit('payments', { executionName: 'audit-payments-1' });
        expect(run.status, run.cause).toBe('SUCCEEDED');
        expect(run.result).toMatchObject({
          status: 'completed',
          stream: 'payments',
          deletesDetected: 1,
          missingKeys: 1,
          rowsRepaired: 1,
          pendingKeys: 0,
        });
        expect(entered(run)).toEqual([
          KEY_AUDIT_STATES.audit,
          KEY_AUDIT_STATES.landed,
          KEY_AUDIT_STATES.publish,
          KEY_AUDIT_STATES.done,
        ]);
        // The publish the execution started merged the audit's windows.
        expect(pipeline.publishes).toHaveLength(publishes + 1);
        expect(pipeline.publishes.at(-1)?.status, pipeline.publishes.at(-1)?.cause).toBe('SUCCEEDED');
        expect((run.execution.output as { publish?: { status?: string } }).publish?.status).toBe('SUCCEEDED');

        const keys = await servedKeys();
        expect(keys).not.toContain(deleted);
        expect(keys).toContain(lost);
        expect(keys).toEqual(before.filter((k) => k !== deleted));
        // The execution carries counts and window names, never a key.
        const output = JSON.stringify(run.execution.output);
        expect(output).not.toContain(`"${deleted}"`);
        expect(output).not.toContain(`"${lost}"`);

        const state = await pipeline.store.watermarks.getState('payments');
        expect(state.keyAudit).toMatchObject({ status: 'completed', deletesDetected: 1, rowsRepaired: 1 });
      });

      it('ends without a publish when the lake matches the source', async () => {
        const publishes = pipeline.publishes.length;
        const run = await pipeline.runKeyAudit('payments', { executionName: 'audit-payments-2' });
        expect(run.status, run.cause).toBe('SUCCEEDED');
        expect(run.result).toMatchObject({ status: 'completed', deletesDetected: 0, rowsRepaired: 0, windows: [] });
        expect(entered(run)).toEqual([KEY_AUDIT_STATES.audit, KEY_AUDIT_STATES.landed, KEY_AUDIT_STATES.done]);
        expect(pipeline.publishes).toHaveLength(publishes);
      });
    },
  );
}
