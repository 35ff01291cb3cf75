/**
 * Schema drift end to end on a real engine: the incremental-sync handler runs against a synthetic
 * operator (s3rver, dynalite), the test alters the source tables between runs (ALTER TABLE add,
 * widen, retype, rename, drop) and checks what each run reports or how it fails, that only the
 * drifted stream fails, that the fingerprint moves only with a successful run, and what
 * `connector status` says.
 */

import { type CfnElement, Stack } from 'aws-cdk-lib';
import type { Context } from 'aws-lambda';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamName } from '#shared/canonical';
import { operatorConfigSchema } from '#shared/config/schema';
import type { IncrementalSyncResult } from '#shared/contracts/steps';
import { SchemaLedger } from '#shared/state/schemas';
import { SyncStateStore } from '#shared/state/store';
import { formatStatus, readStatus } from '../../../cli/commands/status.ts';
import { INCREMENTAL_STATES } from '../../../lib/constructs/pipeline/index.ts';
import {
  type CfnTemplate,
  type LambdaHandler,
  resolveDefinition,
  runStateMachine,
} from '../../../local/sfn-harness.ts';
import { createSyntheticOperator, syntheticOperatorConfig } from '../../../synthetic/operator.ts';
import { type LocalAws, lambdaContext, setHandlerEnv, startLocalAws } from '../../extract/fixtures.ts';
import { type Engine, engineUrl, uniqueName } from '../../helpers/databases.ts';
import { synthesize } from '../../lib/helpers.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export function describeSchemaDrift(engine: Engine, available: boolean): void {
  describe.skipIf(!available)(`schema drift on ${engine}`, () => {
    const url = engineUrl(engine);
    const schema = uniqueName('drift');
    const context: Context = lambdaContext(() => 900_000);
    let aws: LocalAws;
    let store: SyncStateStore;
    let ledger: SchemaLedger;
    let sync: (stream: StreamName, runId: string) => Promise<IncrementalSyncResult>;
    let exec: (sql: string) => Promise<void>;
    let close: () => Promise<void>;
    let config: Record<string, unknown>;
    let run = 0;

    const table = (name: string) => (engine === 'postgres' ? `"${schema}"."${name}"` : `\`${schema}\`.\`${name}\``);
    const retype = (name: string, column: string, type: string) =>
      engine === 'postgres'
        ? `ALTER TABLE ${table(name)} ALTER COLUMN ${column} TYPE ${type} USING ${column}::${type}`
        : `ALTER TABLE ${table(name)} MODIFY COLUMN ${column} ${type}`;
    const rename = (name: string, from: string, to: string) =>
      `ALTER TABLE ${table(name)} RENAME COLUMN ${from} TO ${to}`;
    const failure = async (stream: StreamName, runId: string): Promise<Error> => {
      try {
        await sync(stream, runId);
      } catch (e) {
        return e as Error;
      }
      throw new Error(`the ${stream} run did not fail`);
    };
    const nextRun = () => `incr-drift-${++run}`;
    const tableName = (t: string) => `${schema}.${t}`;

    beforeAll(async () => {
      aws = await startLocalAws();
      const now = Math.floor((Date.now() - HOUR) / MINUTE) * MINUTE;
      await createSyntheticOperator({ engine, url, schema, players: 6, days: 1, now: new Date(now), seed: 5 });
      config = syntheticOperatorConfig({ engine, url, schema, operatorId: `drift-${engine}` });
      await setHandlerEnv({ aws, config, sourceUrl: url, reserveMs: 60_000 });
      const incremental = await import('../../../lambdas/incremental-sync/handler.ts');
      sync = (stream, runId) => incremental.handler({ runId, stream }, context) as Promise<IncrementalSyncResult>;
      store = new SyncStateStore(aws.dynamo.doc, aws.table);
      ledger = new SchemaLedger(aws.dynamo.doc, aws.table);
      const streams = Object.keys(config.streams as object) as StreamName[];
      // A completed snapshot without windows: every stream's watermark starts at its cutoff.
      await store.snapshots.start({ snapshotId: 'snap-drift', cutoff: new Date(now), streams, windows: [] });
      await store.snapshots.complete('snap-drift');
      if (engine === 'postgres') {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        exec = async (sql) => void (await client.query(sql));
        close = () => client.end();
      } else {
        const conn = await mysql.createConnection(url);
        exec = async (sql) => void (await conn.query(sql));
        close = () => conn.end();
      }
    });

    afterAll(async () => {
      await exec?.(
        engine === 'postgres' ? `DROP SCHEMA IF EXISTS "${schema}" CASCADE` : `DROP DATABASE IF EXISTS \`${schema}\``,
      );
      await close?.();
      await aws?.stop();
    });

    it('reports nothing on the first run and keeps what it saw as the fingerprint', async () => {
      const runId = nextRun();
      for (const stream of ['players', 'payments'] as const) {
        const result = await sync(stream, runId);
        expect(result.status).toBe('complete');
        expect('schemaDrift' in result ? result.schemaDrift : undefined).toEqual([]);
        const state = await ledger.get(stream);
        expect(state.accepted?.runId).toBe(runId);
        expect(state.lastDrift).toBeUndefined();
      }
      const players = await ledger.get('players');
      expect(players.accepted?.columns.map((c) => c.name)).toContain('phone_number');
    });

    it('reports a new column (name and type, never read) and an absorbed widening, then accepts them', async () => {
      await exec(`ALTER TABLE ${table('customers')} ADD COLUMN loyalty_code varchar(12)`);
      await exec(retype('customers', 'email_address', 'varchar(320)'));
      await exec(retype('customers', 'vip_tier', 'integer'));
      const runId = nextRun();
      const result = await sync('players', runId);
      expect(result.status).toBe('complete');
      const drift = 'schemaDrift' in result ? result.schemaDrift : undefined;
      expect(drift).toEqual(
        expect.arrayContaining([
          {
            change: 'added',
            column: 'loyalty_code',
            to: 'varchar(12)'.replace('varchar', engine === 'postgres' ? 'character varying' : 'varchar'),
          },
          expect.objectContaining({ change: 'widened', column: 'email_address' }),
          expect.objectContaining({ change: 'widened', column: 'vip_tier' }),
        ]),
      );
      expect(drift).toHaveLength(3);
      const state = await ledger.get('players');
      expect(state.accepted?.runId).toBe(runId);
      expect(state.lastDrift).toMatchObject({ runId, failed: false, source: tableName('customers') });
      // Accepted: the next run sees nothing new.
      const again = await sync('players', nextRun());
      expect('schemaDrift' in again ? again.schemaDrift : undefined).toEqual([]);
    });

    it('fails only the stream whose mapped column was retyped beyond its landed type, naming table, column, types and config', async () => {
      await exec(retype('cashier_transactions', 'amount', engine === 'postgres' ? 'text' : 'varchar(40)'));
      const runId = nextRun();
      const error = await failure('payments', runId);
      expect(error.name).toBe('SchemaDriftError');
      expect((error as { retryable?: boolean }).retryable).toBe(false);
      expect(error.message).toContain(`table ${tableName('cashier_transactions')}`);
      expect(error.message).toContain('column amount (field amount)');
      expect(error.message).toMatch(/(numeric|decimal)\(18,2\) → (text|varchar\(40\))/);
      expect(error.message).toContain('streams.payments.columns.amount');
      // The other streams of the same run are not affected.
      expect((await sync('players', runId)).status).toBe('complete');
      // Not accepted: the fingerprint still has the old type, and the next run fails the same way.
      const state = await ledger.get('payments');
      expect(state.accepted?.columns.find((c) => c.name === 'amount')?.type).toMatch(/^(numeric|decimal)\(18,2\)$/);
      expect(state.lastDrift).toMatchObject({ runId, failed: true });
      expect((await failure('payments', nextRun())).name).toBe('SchemaDriftError');

      const status = await readStatus(store, operatorConfigSchema.parse(config), new Date(), ledger);
      expect(status.ok).toBe(false);
      const line = formatStatus(status)
        .split('\n')
        .find((l) => l.trimStart().startsWith('payments:'));
      expect(line).toContain('FAILS THE STREAM');
      expect(line).toContain('amount (field amount): incompatible');

      await exec(retype('cashier_transactions', 'amount', engine === 'postgres' ? 'numeric(18,2)' : 'decimal(18,2)'));
      expect((await sync('payments', nextRun())).status).toBe('complete');
      const resolved = await readStatus(store, operatorConfigSchema.parse(config), new Date(), ledger);
      expect(resolved.streams.find((s) => s.stream === 'payments')?.schemaDrift).toMatchObject({
        failed: true,
        resolved: true,
      });
    });

    it('fails a renamed mapped column and says which config key to set', async () => {
      await exec(rename('customers', 'country_code', 'country_iso'));
      const error = await failure('players', nextRun());
      expect(error.name).toBe('SchemaDriftError');
      expect(error.message).toContain('column country_code (field country) is gone (was');
      expect(error.message).toContain('set streams.players.columns.country to country_iso');
      await exec(rename('customers', 'country_iso', 'country_code'));
      expect((await sync('players', nextRun())).status).toBe('complete');
    });

    it('fails a dropped mapped column, and an int widened beyond the landed INT', async () => {
      await exec(`ALTER TABLE ${table('customers')} DROP COLUMN email_address`);
      const dropped = await failure('players', nextRun());
      expect(dropped.name).toBe('SchemaDriftError');
      expect(dropped.message).toContain('column email_address (field email) is gone (was');
      expect(dropped.message).toContain(
        'map streams.players.columns.email to the column that replaced it, or remove the mapping',
      );
      await exec(`ALTER TABLE ${table('customers')} ADD COLUMN email_address varchar(320)`);
      await exec(retype('customers', 'vip_tier', 'bigint'));
      const wide = await failure('players', nextRun());
      expect(wide.message).toMatch(/column vip_tier \(field vip_level\) retyped (integer|int\(11\)) → bigint/);
      expect(wide.message).toContain('INT does not hold bigint');
    });

    it('through the incremental state machine: the drift reaches the Fail cause, is not retried, and the other streams land', async () => {
      // vip_tier is still bigint (previous test): players fails, every other stream syncs.
      const parsed = operatorConfigSchema.parse(config);
      const { stack, template } = synthesize(parsed);
      const pipeline = stack.pipeline!;
      const id = (c: { node: { defaultChild?: unknown } }) =>
        Stack.of(pipeline).getLogicalId((c.node.defaultChild ?? c) as CfnElement);
      const definition = resolveDefinition(template.toJSON() as CfnTemplate, id(pipeline.incrementalStateMachine));
      const runLock = (await import('../../../lambdas/run-lock/handler.ts')).handler as LambdaHandler;
      const incremental = (await import('../../../lambdas/incremental-sync/handler.ts')).handler as LambdaHandler;
      const result = await runStateMachine({
        definition,
        shortenWaits: true,
        lambdaHandlers: {
          [id(pipeline.runLock.function)]: runLock,
          [id(stack.extractors!.incrementalSync.function)]: incremental,
        },
        serviceHandlers: {
          'states:startExecution.sync:2': () => ({ ExecutionArn: 'arn:publish', Status: 'SUCCEEDED' }),
        },
      });
      expect(result.status).toBe('FAILED');
      expect(result.error).toBe('IncrementalSyncFailed');
      expect(result.cause).toContain('failed for 1 stream(s): stream players (SchemaDriftError – ');
      expect(result.cause).toContain('column vip_tier (field vip_level) retyped');
      const retries = result.events.filter(
        (e) => e.type === 'StateRetried' && e.state.name === INCREMENTAL_STATES.sync,
      );
      expect(retries).toHaveLength(0);
      const released = result.events.find(
        (e) => e.type === 'StateExited' && e.state.name === INCREMENTAL_STATES.release,
      );
      expect((released as unknown as { state: { output: { end: unknown } } }).state.output.end).toMatchObject({
        released: true,
        failed: 1,
      });
      // Synthesis and seven real stream syncs: slow on a shared machine.
    }, 300_000);
  });
}
