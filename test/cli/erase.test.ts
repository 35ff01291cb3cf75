/**
 * `connector erase`: the player id never comes from the command line, and, end to end on a local
 * run's directory, a player landed from MariaDB by the real pipeline (synthesized state machines,
 * real handlers) and published into the serving tables is erased from every table and every
 * committed part, with the id given in another letter case and with trailing spaces (the operator
 * compares keys case-insensitively, ignoring trailing spaces). What is left is read back with
 * DuckDB; the clear id appears nowhere: not in the audit, the output or the progress lines.
 */
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import type { StreamName } from '#shared/canonical';
import type { ErasureReport } from '#shared/erasure/erase';
import { readPseudonymKey } from '#shared/pii/key';
import { SyncStateStore } from '#shared/state/store';
import { landedTableFiles } from '../../local/lake.ts';
import { localStatePaths, openLocalLake } from '../../local/local-lake.ts';
import { synthesizeOperatorStack } from '../../local/pipeline-runner.ts';
import { createSyntheticOperator, syntheticOperatorConfig } from '../../synthetic/operator.ts';
import { HOUR, openSourceDb, type SourceDb } from '../extract/fixtures.ts';
import { engineAvailable, engineUrl, uniqueName } from '../helpers/databases.ts';
import { type DuckDbHandle, openDuckDb, parquetSource } from '../helpers/duckdb.ts';
import { silenceMetricsWarnings } from '../helpers/quiet-metrics.ts';
import { runCli } from './run.ts';

const ID = 'C0000003';

describe('connector erase: the player id', () => {
  const refusal = /never taken from the command line .*pipe it on stdin .*--player-file PATH/;

  it.each([
    [['erase', 'acme-casino', ID]],
    [['erase', 'acme-casino', '--player', ID]],
    [['erase', 'acme-casino', `--player=${ID}`]],
    [['erase', 'acme-casino', '--dry-run', '--', ID]],
  ])('is refused on the command line, without being repeated: %j', async (argv) => {
    const run = await runCli(argv, { stdin: `${ID}\n` });
    expect(run.code).toBe(2);
    expect(run.err).toMatch(refusal);
    expect(`${run.out}${run.err}`).not.toContain(ID);
  });

  it('is not repeated when a mistyped option carries it', async () => {
    const run = await runCli(['erase', 'acme-casino', `--playr=${ID}`]);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/--playr/);
    expect(run.err).not.toContain(ID);
  });

  it('must be one non-empty line on stdin or in the file', async () => {
    const empty = await runCli(['erase', 'acme-casino', '--bucket', 'b', '--table', 't'], { stdin: '\n' });
    expect(empty.code).toBe(2);
    expect(empty.err).toMatch(/stdin holds no player id/);
    const two = await runCli(['erase', 'acme-casino', '--bucket', 'b', '--table', 't'], { stdin: `${ID}\nC0000004\n` });
    expect(two.code).toBe(2);
    expect(two.err).toMatch(/stdin holds several lines; erase one player per run/);
    expect(two.err).not.toContain(ID);
    const missing = await runCli(['erase', 'acme-casino', '--player-file', '/nonexistent/id.txt']);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/--player-file \/nonexistent\/id\.txt cannot be read \(ENOENT\)/);
  });

  it('reads the landing bucket and sync-state table from the stack outputs, and says when it is not deployed', async () => {
    const cfn = mockClient(CloudFormationClient);
    try {
      cfn
        .on(DescribeStacksCommand)
        .rejects(
          Object.assign(new Error('Stack with id acme-casino-sandbox does not exist'), { name: 'ValidationError' }),
        );
      const run = await runCli(['erase', 'acme-casino'], {
        stdin: ID,
        env: { CONNECTOR_LANDING_BUCKET: undefined, CONNECTOR_SYNC_STATE_TABLE: undefined },
      });
      expect(run.code).toBe(4);
      expect(run.err).toMatch(/erase: stack acme-casino-sandbox is not deployed .*npx cdk deploy acme-casino-sandbox/s);
      expect(cfn.commandCalls(DescribeStacksCommand)[0]!.args[0].input).toEqual({ StackName: 'acme-casino-sandbox' });
      expect(run.err).not.toContain(ID);
    } finally {
      cfn.restore();
    }
  });

  it('refuses a reference that holds the id', async () => {
    const run = await runCli(['erase', 'acme-casino', '--reference', `ticket for ${ID.toLowerCase()}`], {
      stdin: ID,
    });
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/--reference contains the player id/);
    expect(run.err).not.toContain(ID.toLowerCase());
  });
});

const mysqlAvailable = await engineAvailable('mysql');

describe.skipIf(!mysqlAvailable)(
  'connector erase --local on a MariaDB operator that ignores case and trailing spaces',
  () => {
    const url = engineUrl('mysql');
    const schema = uniqueName('erase_mysql');
    const OPERATOR = 'erase-casino';
    /** The tables of the streams and the player column, as the example mapping maps them. */
    const SOURCE_TABLES: Partial<Record<StreamName, string>> = {
      players: 'customers',
      sessions: 'login_sessions',
      payments: 'cashier_transactions',
      wallet_transactions: 'wallet_ledger',
      game_rounds: 'game_rounds',
      bonuses: 'bonus_awards',
      compliance_events: 'rg_events',
    };

    let dir: string;
    let configFile: string;
    let db: SourceDb;
    let duck: DuckDbHandle;
    let config: Record<string, unknown>;
    /** The player's pseudonym, computed here from the stored key with node:crypto. */
    let pseudonym: string;
    /** The player's rows per stream in the source. */
    const sourceRows: Partial<Record<StreamName, number>> = {};
    let rawBefore: Partial<Record<StreamName, string[]>>;
    const exportedBefore: Partial<Record<StreamName, string[]>> = {};
    let servingBefore: Partial<Record<StreamName, string[]>>;
    let objectsBefore: Record<string, string>;

    /** Opens the directory's engines, runs `fn`, closes them. */
    async function withLake<T>(fn: (lake: Awaited<ReturnType<typeof openLocalLake>>) => Promise<T>): Promise<T> {
      const { parseOperatorConfig } = await import('#shared/config/load');
      const lake = await openLocalLake(parseOperatorConfig(JSON.stringify(config), 'test').config!, dir);
      try {
        return await fn(lake);
      } finally {
        await lake.close();
      }
    }

    /** Every committed row of every stream (DuckDB), and every serving row, as sorted JSON per stream. */
    async function lakeRows(): Promise<{
      raw: Partial<Record<StreamName, string[]>>;
      serving: Partial<Record<StreamName, string[]>>;
      objects: Record<string, string>;
    }> {
      return withLake(async (lake) => {
        const raw: Partial<Record<StreamName, string[]>> = {};
        const serving: Partial<Record<StreamName, string[]>> = {};
        const synthesized = synthesizeOperatorStack(lake.config);
        const scratch = await mkdtemp(join(tmpdir(), 'erase-read-'));
        for (const stream of Object.keys(SOURCE_TABLES) as StreamName[]) {
          const files = await landedTableFiles(lake.s3.client, synthesized, stream);
          const paths = await lake.s3.download(
            lake.bucket,
            files.map((f) => f.key),
            join(scratch, stream),
          );
          raw[stream] =
            paths.length === 0
              ? []
              : (await duck.query(`SELECT * FROM ${parquetSource(paths, 'union_by_name = true')}`))
                  .map((r) => JSON.stringify(r))
                  .sort();
          serving[stream] = (await lake.athena.rows(lake.database, stream)).map((r) => JSON.stringify(r)).sort();
        }
        await rm(scratch, { recursive: true, force: true });
        const objects: Record<string, string> = {};
        let token: string | undefined;
        do {
          const page = await lake.s3.client.send(
            new ListObjectsV2Command({ Bucket: lake.bucket, ContinuationToken: token }),
          );
          for (const o of page.Contents ?? []) objects[o.Key!] = o.ETag ?? '';
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
        return { raw, serving, objects };
      });
    }

    /** Rows of the Parquet a local run exports under DIR/<stream>/, read by DuckDB. */
    async function exportedRows(stream: StreamName): Promise<string[]> {
      const rows = await duck.query(
        `SELECT * FROM read_parquet('${join(dir, stream)}/**/*.parquet', hive_partitioning = true, union_by_name = true)`,
      );
      return rows.map((r) => JSON.stringify(r)).sort();
    }

    const ofPlayer = (rows: readonly string[] = []) => rows.filter((r) => r.includes(`"player_id":"${pseudonym}"`));
    const notOfPlayer = (rows: readonly string[] = []) => rows.filter((r) => !r.includes(`"player_id":"${pseudonym}"`));

    beforeAll(async () => {
      silenceMetricsWarnings();
      dir = await mkdtemp(join(tmpdir(), 'erase-local-'));
      const _paths = localStatePaths(dir);
      const now = new Date(Math.floor((Date.now() - 3 * HOUR) / HOUR) * HOUR);
      await createSyntheticOperator({ engine: 'mysql', url, schema, players: 8, days: 3, now, seed: 11 });
      const base = syntheticOperatorConfig({ engine: 'mysql', url, schema, operatorId: OPERATOR });
      config = {
        ...base,
        source: { ...(base.source as object), keyComparison: { caseInsensitive: true, padSpace: true } },
        snapshot: { ...(base.snapshot as object), days: 5, windowHours: 48 },
      };
      configFile = join(dir, 'erase-casino.yaml');
      await writeFile(configFile, stringify(config));

      // A local run of the operator (`connector run --local`), its state kept in the directory.
      const run = await runCli([
        'run',
        OPERATOR,
        '--config',
        configFile,
        '--local',
        '--out',
        dir,
        '--url',
        url,
        '--json',
      ]);
      expect(run.code, run.err).toBe(0);
      // The expected pseudonym, from the stored key and the id's key form (case folded, no trailing spaces).
      await withLake(async (lake) => {
        const key = await readPseudonymKey({ keys: lake.keys, store: new SyncStateStore(lake.dynamo.doc, lake.table) });
        pseudonym = createHmac('sha256', key!).update(ID.toLowerCase()).digest('hex');
      });
      [db, duck] = await Promise.all([openSourceDb('mysql', schema), openDuckDb()]);
      for (const [stream, table] of Object.entries(SOURCE_TABLES)) {
        const [row] = await db.rows(`SELECT count(*) AS n FROM ${db.table(table)} WHERE customer_id = ?`, [ID]);
        sourceRows[stream as StreamName] = Number(row!.n);
      }
      const before = await lakeRows();
      for (const stream of Object.keys(SOURCE_TABLES) as StreamName[]) {
        exportedBefore[stream] = await exportedRows(stream);
      }
      rawBefore = before.raw;
      servingBefore = before.serving;
      objectsBefore = before.objects;
    }, 240_000);

    afterAll(async () => {
      if (db) await db.exec(`DROP DATABASE IF EXISTS \`${schema}\``).finally(() => db.close());
      duck?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
      vi.restoreAllMocks();
    });

    const erase = (...extra: string[]) =>
      runCli(['erase', OPERATOR, '--config', configFile, '--local', dir, '--json', ...extra], {
        stdin: `${ID.toLowerCase()}  \n`,
      });

    it('lands every row of the player from the source, under the pseudonym of its key form (the fixture)', () => {
      expect(sourceRows.players).toBe(1);
      expect(sourceRows.game_rounds).toBeGreaterThan(0);
      for (const [stream, n] of Object.entries(sourceRows)) {
        expect(ofPlayer(rawBefore[stream as StreamName]), stream).toHaveLength(n);
        expect(ofPlayer(servingBefore[stream as StreamName]), stream).toHaveLength(n);
        expect(ofPlayer(exportedBefore[stream as StreamName]), stream).toHaveLength(n);
      }
    });

    let dryRun: ErasureReport;

    it('dry run: counts the rows per table and the raw objects, and changes nothing', async () => {
      const run = await erase('--dry-run');
      expect(run.code, run.err).toBe(0);
      dryRun = JSON.parse(run.out) as ErasureReport;
      expect(dryRun.outcome).toBe('dry-run');
      expect(dryRun.pseudonym).toBe(pseudonym);
      for (const [stream, n] of Object.entries(sourceRows)) {
        expect(dryRun.streams[stream as StreamName], stream).toMatchObject({ servingRows: n, rawRows: n });
      }
      const after = await lakeRows();
      expect(after.objects).toEqual(objectsBefore);
      expect(after.serving).toEqual(servingBefore);
    });

    let report: ErasureReport;
    let output: string;

    it("erases the player's rows from every serving table and committed part, and nothing else", async () => {
      const run = await erase('--reference', 'DPO-2026-0042');
      output = `${run.out}${run.err}`;
      expect(run.code, run.err).toBe(0);
      report = JSON.parse(run.out) as ErasureReport;
      expect(report.outcome).toBe('erased');
      expect(report.pseudonym).toBe(pseudonym);
      for (const [stream, n] of Object.entries(sourceRows)) {
        expect(report.streams[stream as StreamName], stream).toMatchObject({ servingRows: n, rawRows: n });
        expect(report.streams[stream as StreamName]!.rawObjects).toEqual(
          dryRun.streams[stream as StreamName]!.rawObjects,
        );
      }
      const after = await lakeRows();
      for (const stream of Object.keys(SOURCE_TABLES) as StreamName[]) {
        expect(ofPlayer(after.raw[stream]), stream).toEqual([]);
        expect(ofPlayer(after.serving[stream]), stream).toEqual([]);
        expect(after.raw[stream], stream).toEqual(notOfPlayer(rawBefore[stream]));
        expect(after.serving[stream], stream).toEqual(notOfPlayer(servingBefore[stream]));
        // The Parquet the local run exported for people to read holds the same rows as the lake.
        const exported = await exportedRows(stream);
        expect(ofPlayer(exported), stream).toEqual([]);
        expect(exported, stream).toEqual(notOfPlayer(exportedBefore[stream]));
      }
    });

    it('records the audit entry without the clear id, which appears nowhere in the output either', async () => {
      const items = await withLake(async (lake) => {
        const out = await lake.dynamo.doc.send(new ScanCommand({ TableName: lake.table }));
        return out.Items ?? [];
      });
      const request = items.find(
        (i) => i.pk === `ERASURE#${pseudonym}` && String(i.sk) === `REQUEST#${report.erasureId}`,
      );
      expect(request).toMatchObject({
        status: 'complete',
        reference: 'DPO-2026-0042',
        keyComparison: { caseInsensitive: true, padSpace: true },
      });
      expect((request!.streams as Record<string, { rawRows: number }>).game_rounds!.rawRows).toBe(
        sourceRows.game_rounds,
      );
      const text = `${JSON.stringify(items)}\n${output}`.toLowerCase();
      expect(text).not.toContain(ID.toLowerCase());
    });

    it('says there is nothing more to erase when run again, and changes nothing', async () => {
      const before = await lakeRows();
      const run = await runCli(['erase', OPERATOR, '--config', configFile, '--local', dir], { stdin: ID });
      expect(run.code, run.err).toBe(0);
      expect(run.out).toMatch(
        /^Nothing more to erase: player [0-9a-f]{64} of erase-casino \(sandbox\) was erased before/,
      );
      expect(run.out).toMatch(/Nothing was changed or recorded\./);
      expect(await lakeRows()).toEqual(before);
    });

    it('refuses a directory that holds no local run', async () => {
      const empty = await mkdtemp(join(tmpdir(), 'erase-empty-'));
      const run = await runCli(['erase', OPERATOR, '--config', configFile, '--local', empty], { stdin: ID });
      expect(run.code).toBe(1);
      expect(run.err).toMatch(
        /holds no local run \(no \.connector\/ folder\): run `connector run erase-casino --local --out/,
      );
      await rm(empty, { recursive: true, force: true });
    });
  },
);
