/**
 * The wallet ledger audit end to end on one engine, through the synthesized state machines: the
 * synthetic ledger chains in the source, a snapshot's publish audits it clean, and an incremental
 * run that lands a gap, a duplicate and a mis-signed entry for three players makes the publish's
 * audit report exactly those three, with pseudonymized players and exact balances in the
 * encrypted report object and nothing but counts in the execution. wallet-ledger-postgres.test.ts
 * and wallet-ledger-mysql.test.ts run it, one engine per file.
 */
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrinoSQL } from 'dt-sql-parser';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalKeyService } from '#shared/adapters/kms-local';
import type { WalletAuditResult } from '#shared/contracts/steps';
import type { WalletAuditReport } from '#shared/integrity/wallet-ledger';
import { WALLET_AUDIT_PREFIX } from '#shared/layout';
import { loadPseudonymKey } from '#shared/pii/key';
import { S3Sink } from '#shared/sink/s3';
import { formatStatus, readStatus } from '../../cli/commands/status.ts';
import { type DynaliteHandle, type S3rverHandle, startDynalite, startS3rver } from '../../local/engines.ts';
import { createLocalPipeline, type LocalPipeline, type PublishRun } from '../../local/pipeline-runner.ts';
import { createSyntheticOperator, syntheticOperatorConfig, WallClock } from '../../synthetic/operator.ts';
import { HOUR, MINUTE, openSourceDb, type SourceDb } from '../extract/fixtures.ts';
import { type Engine, engineUrl, uniqueName } from '../helpers/databases.ts';
import { silenceMetricsWarnings } from '../helpers/quiet-metrics.ts';

const OPERATOR = 'ledger-casino';
const trino = new TrinoSQL();

/** The wallet audit a publish ran (its state output), or undefined when it ran none. */
function auditOf(publish: PublishRun | undefined): WalletAuditResult | undefined {
  return (publish?.execution.output as { walletAudit?: WalletAuditResult } | undefined)?.walletAudit;
}

/** Defines the wallet ledger tests of one engine. */
export function describeWalletLedger(engine: Engine, available: boolean): void {
  describe.skipIf(!available)(
    `wallet ledger audit on ${engine === 'postgres' ? 'PostgreSQL' : 'MariaDB/MySQL'}`,
    () => {
      const url = engineUrl(engine);
      const schema = uniqueName(`wl_${engine}`);
      const H0 = Math.floor((Date.now() - 2 * HOUR) / MINUTE) * MINUTE;
      const clock = new WallClock('Europe/Malta');

      let s3: S3rverHandle;
      let dynamo: DynaliteHandle;
      let pipeline: LocalPipeline;
      let db: SourceDb;
      let scratch: string;
      let pseudonymKey: Buffer;
      const sent: string[] = [];

      const ledger = () => db.table('wallet_ledger');

      /** Breaks of the source ledger by the synthetic operator's own convention (signed amounts). */
      async function sourceBreaks(): Promise<number> {
        const rows = await db.rows(
          `SELECT count(*) AS n FROM (SELECT ${db.q('balance')} AS b, ${db.q('amount')} AS a, ` +
            `LAG(${db.q('balance')}) OVER (PARTITION BY ${db.q('customer_id')}, ${db.q('currency_code')} ORDER BY ${db.q('booked_ts')}, ${db.q('entry_id')}) AS prev ` +
            `FROM ${ledger()}) AS chain WHERE prev IS NOT NULL AND b <> prev + a`,
        );
        return Number(rows[0]?.n);
      }

      beforeAll(async () => {
        silenceMetricsWarnings();
        [s3, dynamo] = await Promise.all([startS3rver(), startDynalite()]);
        scratch = await mkdtemp(join(tmpdir(), 'e2e-wallet-'));
        await createSyntheticOperator({ engine, url, schema, players: 12, days: 2, now: new Date(H0), seed: 23 });
        const base = syntheticOperatorConfig({ engine, url, schema, operatorId: OPERATOR });
        const config = { ...base, snapshot: { ...(base.snapshot as object), days: 2 } };
        pipeline = await createLocalPipeline({
          config,
          engines: { s3, dynamo, source: { url } },
          shortenWaits: true,
          dir: scratch,
        });
        db = await openSourceDb(engine, schema);
        pseudonymKey = await loadPseudonymKey({
          keys: new LocalKeyService({
            keyFile: pipeline.environment.CONNECTOR_LOCAL_KMS_KEY_FILE!,
            operatorId: OPERATOR,
          }),
          store: pipeline.store,
          keyId: pipeline.environment.CONNECTOR_KMS_KEY_ARN!,
          cache: false,
        });
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

      it('the synthetic back office books a consistent ledger', async () => {
        const entries = await db.rows(`SELECT count(*) AS n FROM ${ledger()}`);
        expect(Number(entries[0]?.n)).toBeGreaterThan(100);
        expect(await sourceBreaks()).toBe(0);
      });

      it('audits the players a snapshot published: a clean ledger has no break and leaves no report', async () => {
        const run = await pipeline.runSnapshot({}, { executionName: 'ledger-snapshot' });
        expect(run.status, run.cause).toBe('SUCCEEDED');
        const publish = pipeline.publishes.at(-1);
        expect(auditOf(publish)).toMatchObject({ status: 'audited', breaks: 0 });
        sent.push(...(publish?.statements ?? []));
        const sink = new S3Sink({ client: s3.client, bucket: pipeline.bucket });
        expect(await sink.listKeys(WALLET_AUDIT_PREFIX)).toEqual([]);
      });

      it('finds a gap, a duplicate and a mis-signed entry landed by an incremental run, and reports them', async () => {
        // Three players with a ledger, each with its last balance.
        const last = await db.rows(
          `SELECT ${db.q('customer_id')} AS c, ${db.q('balance')} AS b, ${db.q('currency_code')} AS cur FROM (` +
            `SELECT ${db.q('customer_id')}, ${db.q('balance')}, ${db.q('currency_code')}, ROW_NUMBER() OVER (PARTITION BY ${db.q('customer_id')} ORDER BY ${db.q('booked_ts')} DESC, ${db.q('entry_id')} DESC) AS rn ` +
            `FROM ${ledger()}) AS l WHERE rn = 1 ORDER BY ${db.q('customer_id')} LIMIT 3`,
        );
        expect(last).toHaveLength(3);
        const [a, b, c] = last as { c: string; b: string; cur: string }[];
        const maxId = Number((await db.rows(`SELECT max(${db.q('entry_id')}) AS m FROM ${ledger()}`))[0]?.m);
        const cents = (text: string) => Math.round(Number(text) * 100);
        const money = (n: number) =>
          `${n < 0 ? '-' : ''}${Math.floor(Math.abs(n) / 100)}.${String(Math.abs(n) % 100).padStart(2, '0')}`;
        const at = Date.now() - 10 * MINUTE;
        const t = (s: number) => clock.text(at + s * 1000);
        const A = cents(a!.b);
        const B = cents(b!.b);
        const C = cents(c!.b);
        const id = (n: number) => maxId + n;
        const rows: (string | number | null)[][] = [
          // A: deposit 10, (a bet of 3 is missing), bet 5: the second entry breaks.
          [id(1), a!.c, 'DEP', '10.00', money(A + 1000), a!.cur, null, t(1)],
          [id(2), a!.c, 'BET', '-5.00', money(A + 1000 - 300 - 500), a!.cur, null, t(2)],
          // B: a deposit of 20 booked twice under two ids: the copy breaks.
          [id(3), b!.c, 'DEP', '20.00', money(B + 2000), b!.cur, null, t(3)],
          [id(4), b!.c, 'DEP', '20.00', money(B + 2000), b!.cur, null, t(4)],
          // C: a win of 15 that debited the wallet: it breaks.
          [id(5), c!.c, 'WIN', '15.00', money(C - 1500), c!.cur, null, t(5)],
        ];
        await db.insert(
          'wallet_ledger',
          ['entry_id', 'customer_id', 'entry_type', 'amount', 'balance', 'currency_code', 'round_ref', 'booked_ts'],
          rows,
        );
        expect(await sourceBreaks()).toBe(3);

        const run = await pipeline.runIncremental({ executionName: 'ledger-incremental' });
        expect(run.status, run.cause).toBe('SUCCEEDED');
        const publish = pipeline.publishes.at(-1);
        sent.push(...(publish?.statements ?? []));
        const audit = auditOf(publish);
        expect(audit).toMatchObject({ status: 'audited', breaks: 3 });
        // The execution carries counts and the report's location, no row value.
        const history = JSON.stringify(publish?.execution);
        for (const player of [a!.c, b!.c, c!.c]) expect(history).not.toContain(player);
        expect(history).not.toContain(money(A + 1000 - 800));

        const sink = new S3Sink({ client: s3.client, bucket: pipeline.bucket });
        const keys = await sink.listKeys(WALLET_AUDIT_PREFIX);
        expect(keys).toHaveLength(1);
        expect(audit?.status === 'audited' && audit.report).toBe(sink.location(keys[0]!));
        const report = JSON.parse(Buffer.from((await sink.getObject(keys[0]!))!).toString('utf8')) as WalletAuditReport;
        expect(report.breaks).toBe(3);
        const pseudonym = (player: string) => createHmac('sha256', pseudonymKey).update(player, 'utf8').digest('hex');
        const byId = new Map(report.examples.map((e) => [e.transactionId, e]));
        expect([...byId.keys()].sort()).toEqual([String(id(2)), String(id(4)), String(id(5))].sort());
        expect(byId.get(String(id(2)))).toMatchObject({
          playerId: pseudonym(a!.c),
          previousTransactionId: String(id(1)),
          type: 'bet',
          expectedBalance: money(A + 1000 - 500),
          actualBalance: money(A + 1000 - 800),
        });
        expect(byId.get(String(id(4)))).toMatchObject({
          playerId: pseudonym(b!.c),
          previousTransactionId: String(id(3)),
          expectedBalance: money(B + 4000),
          actualBalance: money(B + 2000),
        });
        expect(byId.get(String(id(5)))).toMatchObject({
          playerId: pseudonym(c!.c),
          type: 'win',
          expectedBalance: money(C + 1500),
          actualBalance: money(C - 1500),
        });
      });

      it('shows the last audit in connector status, and fails the status while it found breaks', async () => {
        const status = await readStatus(pipeline.store, pipeline.config);
        expect(status.walletLedger).toMatchObject({ breaks: 3, publish: expect.any(String) });
        expect(status.walletLedger?.report).toContain('/_integrity/wallet/');
        expect(status.ok).toBe(false);
        const text = formatStatus(status);
        expect(text).toMatch(
          /Wallet ledger: 3 BREAKS in the last audit .*_integrity\/wallet\/.*docs\/runbook\.md#wallet-ledger-breaks/,
        );
      });

      it('sends only statements the Trino grammar accepts', () => {
        expect(sent.length).toBeGreaterThan(0);
        for (const sql of sent) expect(trino.validate(sql), sql).toEqual([]);
      });
    },
  );
}
