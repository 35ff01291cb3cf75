/**
 * `connector run <operator> --local --out DIR` end to end on one engine, as a user runs it: the
 * CLI in its own process against a synthetic operator database, a snapshot, then changes in the
 * source and `--incremental` in a new process on the same DIR. The Parquet files in DIR are read
 * back with DuckDB and compared with the source, through expectations computed independently of
 * the connector (test/extract/fixtures.ts).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { LocalKeyService } from '#shared/adapters/kms-local';
import { loadPseudonymKey } from '#shared/pii/key';
import { SyncStateStore } from '#shared/state/store';
import { startDynalite } from '../../local/engines.ts';
import { createSyntheticOperator, syntheticOperatorConfig } from '../../synthetic/operator.ts';
import {
  comparable,
  DAY,
  expectedRows,
  type LandedRow,
  MINUTE,
  openSourceDb,
  type SourceDb,
  syntheticExpectation,
  wallText,
} from '../extract/fixtures.ts';
import { type Engine, engineUrl, uniqueName } from '../helpers/databases.ts';
import { type DuckDbHandle, openDuckDb } from '../helpers/duckdb.ts';

const OPERATOR = 'run-local-casino';
const DAYS = 3;

interface Summary {
  ok: boolean;
  mode: string;
  id: string;
  out: string;
  units: { done: number; total: number; failed: number };
  streams: Record<string, { rows: number; committedRows: number; files: number; watermark: string | null }>;
}

/** Runs the CLI as a user does, in a new process; returns its exit code and output. */
async function connector(args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['bin/connector.mjs', ...args], {
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, CONNECTOR_ADAPTERS: '', CONNECTOR_SOURCE_URL: '' },
    });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

/** Defines the `run --local` tests of one engine. */
export function describeRunLocal(engine: Engine, available: boolean): void {
  describe.skipIf(!available)(
    `connector run --local on ${engine === 'postgres' ? 'PostgreSQL' : 'MariaDB/MySQL'}`,
    () => {
      const schema = uniqueName(`runlocal_${engine}`);
      let dir: string;
      let out: string;
      let configFile: string;
      let config: Record<string, unknown>;
      let db: SourceDb;
      let duck: DuckDbHandle;
      let url: string;

      beforeAll(async () => {
        dir = await mkdtemp(join(tmpdir(), 'run-local-'));
        out = join(dir, 'out');
        configFile = join(dir, `${OPERATOR}.yaml`);
        await createSyntheticOperator({ engine, url: engineUrl(engine), schema, players: 25, days: DAYS + 1 });
        config = {
          ...syntheticOperatorConfig({ engine, url: engineUrl(engine), schema, operatorId: OPERATOR }),
          snapshot: { days: DAYS, windowHours: 24, maxParallelWindows: 2 },
        };
        await writeFile(configFile, stringify(config));
        const u = new URL(engineUrl(engine));
        if (engine === 'mysql') u.pathname = `/${schema}`;
        url = u.toString();
        db = await openSourceDb(engine, schema);
        duck = await openDuckDb();
      });

      afterAll(async () => {
        await db?.exec(
          engine === 'postgres' ? `DROP SCHEMA IF EXISTS "${schema}" CASCADE` : `DROP DATABASE IF EXISTS \`${schema}\``,
        );
        await db?.close();
        duck?.close();
        await rm(dir, { recursive: true, force: true });
      });

      /** The pseudonym key the runs used: from the state the CLI left in DIR. */
      async function pseudonymKey(): Promise<Buffer> {
        const env = JSON.parse(await readFile(join(out, '.connector', 'environment.json'), 'utf8')) as Record<
          string,
          string
        >;
        const dynamo = await startDynalite({ path: join(out, '.connector', 'sync-state') });
        try {
          const store = new SyncStateStore(dynamo.doc, `${OPERATOR}-sandbox-sync-state`);
          return await loadPseudonymKey({
            keys: new LocalKeyService({ keyFile: join(out, '.connector', 'local-kms.key'), operatorId: OPERATOR }),
            store,
            keyId: env.CONNECTOR_KMS_KEY_ARN!,
            cache: false,
          });
        } finally {
          await dynamo.stop();
        }
      }

      /** Every row of a stream in DIR, as DuckDB reads the Hive-partitioned dataset. */
      async function landed(stream: string): Promise<LandedRow[]> {
        const source = `read_parquet('${join(out, stream)}/**/*.parquet', hive_partitioning = true)`;
        const described = await duck.query(`DESCRIBE SELECT * FROM ${source}`);
        const types = Object.fromEntries(described.map((d) => [String(d.column_name), String(d.column_type)]));
        const select = Object.entries(types)
          .filter(([name]) => name !== 'dt')
          .map(([name, type]) => {
            const c = `"${name}"`;
            if (type.startsWith('TIMESTAMP')) return `epoch_ms(${c}) AS ${c}`;
            if (type.startsWith('DECIMAL') || type === 'DATE' || type === 'BOOLEAN')
              return `CAST(${c} AS VARCHAR) AS ${c}`;
            return c;
          });
        const rows = await duck.query(`SELECT ${select.join(', ')} FROM ${source}`);
        return rows.map((row) =>
          Object.fromEntries(
            Object.entries(row).map(([name, value]) => [
              name,
              value === null ? null : types[name]?.startsWith('TIMESTAMP') ? Number(value) : (value as string | number),
            ]),
          ),
        );
      }

      const withoutRunId = (rows: readonly LandedRow[]) => rows.map(({ _run_id: _, ...rest }) => rest);

      let cutoff = 0;

      it('takes the snapshot into DIR as plain Parquet that equals the source', async () => {
        const r = await connector([
          'run',
          OPERATOR,
          '--config',
          configFile,
          '--local',
          '--out',
          out,
          '--url',
          url,
          '--json',
        ]);
        expect(r.code, r.err).toBe(0);
        const summary = JSON.parse(r.out) as Summary;
        expect(summary).toMatchObject({ ok: true, mode: 'snapshot' });
        expect(summary.units.done).toBe(summary.units.total);
        expect(summary.units.total).toBeGreaterThanOrEqual(7 * DAYS);
        expect(r.err).toMatch(/\[snapshot\] \d+\/\d+ windows, [\d,]+ rows, [\d,]+ rows\/s/);
        expect(r.err).not.toContain(new URL(url).password || '\u0000');
        expect(existsSync(join(out, '.connector', 's3'))).toBe(true);

        cutoff = Date.parse(summary.streams.payments!.watermark!);
        const key = await pseudonymKey();
        for (const stream of ['payments', 'game_rounds', 'players'] as const) {
          const table = { payments: 'cashier_transactions', game_rounds: 'game_rounds', players: 'customers' }[stream];
          const cursor = 'modified_ts';
          const source = await db.rowsInRange(table, cursor, new Date(cutoff - DAYS * DAY), new Date(cutoff));
          const expected = withoutRunId(expectedRows(syntheticExpectation(config, stream, key, 'x'), source));
          const rows = withoutRunId(await landed(stream));
          const id = { payments: 'payment_id', game_rounds: 'round_id', players: 'player_id' }[stream];
          expect(rows.length, stream).toBe(expected.length);
          expect(comparable(rows, id), stream).toEqual(comparable(expected, id));
          expect(summary.streams[stream]!.committedRows, stream).toBe(expected.length);
        }

        const again = await connector(['run', OPERATOR, '--config', configFile, '--local', '--out', out, '--url', url]);
        expect(again.code).toBe(1);
        expect(again.err).toContain('already holds the completed snapshot');
      }, 300_000);

      it('continues with --incremental in a new process, from the watermarks kept in DIR', async () => {
        // Changes after the snapshot: payments updated now (wall time of the source's zone).
        const now = Date.now() - 5 * MINUTE;
        const { q } = db;
        const changed = await db.rows(`SELECT txn_id FROM ${db.table('cashier_transactions')} ORDER BY txn_id LIMIT 3`);
        for (const row of changed) {
          await db.exec(
            `UPDATE ${db.table('cashier_transactions')} SET ${q('modified_ts')} = ${db.p(1)}, ${q('amount')} = ${q('amount')} + 1 WHERE ${q('txn_id')} = ${db.p(2)}`,
            [wallText(now), row.txn_id],
          );
        }
        const r = await connector([
          'run',
          OPERATOR,
          '--config',
          configFile,
          '--local',
          '--out',
          out,
          '--url',
          url,
          '--incremental',
          '--json',
        ]);
        expect(r.code, r.err).toBe(0);
        const summary = JSON.parse(r.out) as Summary;
        expect(summary).toMatchObject({ ok: true, mode: 'incremental' });
        expect(summary.units).toEqual({ done: 7, total: 7, failed: 0 });
        expect(summary.streams.payments!.rows).toBeGreaterThanOrEqual(changed.length);
        const watermark = Date.parse(summary.streams.payments!.watermark!);
        expect(watermark).toBeGreaterThan(cutoff);

        // The latest version of every payment in DIR equals the source now (same pseudonym key).
        const key = await pseudonymKey();
        const source = await db.rowsInRange(
          'cashier_transactions',
          'modified_ts',
          new Date(cutoff - DAYS * DAY),
          new Date(watermark),
        );
        const expected = withoutRunId(expectedRows(syntheticExpectation(config, 'payments', key, 'x'), source));
        const latest = new Map<string, LandedRow>();
        for (const row of withoutRunId(await landed('payments'))) {
          const seen = latest.get(String(row.payment_id));
          if (!seen || Number(row._cursor) > Number(seen._cursor)) latest.set(String(row.payment_id), row);
        }
        expect(comparable([...latest.values()], 'payment_id')).toEqual(comparable(expected, 'payment_id'));
        for (const row of changed) {
          expect(latest.get(String(row.txn_id))?._cursor).toBe(now);
        }
      }, 300_000);
    },
  );
}
