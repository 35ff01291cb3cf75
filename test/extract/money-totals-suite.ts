/**
 * Per-window money totals, source vs lake, through the real extract-window handler: payments whose
 * direction and status the operator codes (`1`/`2`, `OK`/`PEND`) and game rounds with their own
 * status codes, in three currencies including one that differs from another only by letter case
 * (MariaDB runs under the case-insensitive `utf8mb4_general_ci`, so a collation-aware GROUP BY
 * would merge them). The totals the manifest records are checked against totals the test computes
 * from the rows it inserted (integer cents), the metric against the handler's EMF output and the
 * `connector status` record against the sync state.
 *
 * A mapping defect (a deposit landed as a withdrawal, so the window's count and amount sum still
 * reconcile) is injected into the row mapper the handler loads: only the money totals catch it.
 *
 * money-totals-mysql.test.ts and money-totals-postgres.test.ts run it, one engine per file, because
 * the handlers build their runtime from the environment once per process.
 */
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ExtractResult, ExtractWindowInput } from '#shared/contracts/steps';
import type { MoneyTotalsReport } from '#shared/landing/window';
import { SyncStateStore } from '#shared/state/store';
import type { LandedBatch } from '#shared/types';
import { type Engine, engineUrl } from '../helpers/databases.ts';
import {
  createScratchSchema,
  getManifest,
  HOUR,
  type LocalAws,
  lambdaContext,
  setHandlerEnv,
  startLocalAws,
} from './fixtures.ts';

type ExtractWindowModule = typeof import('../../lambdas/extract-window/handler.ts');
type MapperModule = typeof import('../../lambdas/shared/mapping/mapper.ts');
type ScratchDb = Awaited<ReturnType<typeof createScratchSchema>>;

const CURRENCIES = ['EUR', 'eur', 'SEK'] as const;
/** Operator codes: direction 1 deposit, 2 withdrawal; status OK approved, PEND pending. */
const DIRECTION = { '1': 'deposit', '2': 'withdrawal' } as const;
const PAYMENT_STATUS = { OK: 'approved', PEND: 'pending' } as const;
const ROUND_STATUS = { S: 'settled', O: 'open' } as const;

/** A payment: id, direction code, status code, amount in cents, currency, minutes into its window. */
type Payment = readonly [number, '1' | '2', 'OK' | 'PEND', number, string, number];
/** A round: id, status code, stake and payout in cents, currency, minutes into its window. */
type Round = readonly [number, 'S' | 'O', number, number, string, number];

function payments(window: number): Payment[] {
  const rows: Payment[] = [];
  for (let i = 0; i < 60; i++) {
    const id = window * 1000 + i;
    rows.push([
      id,
      i % 3 === 0 ? '2' : '1',
      i % 5 === 0 ? 'PEND' : 'OK',
      ((id * 7919) % 100_000) + 1,
      CURRENCIES[i % CURRENCIES.length]!,
      i * 7,
    ]);
  }
  return rows;
}

function rounds(window: number): Round[] {
  const rows: Round[] = [];
  for (let i = 0; i < 45; i++) {
    const id = window * 1000 + i;
    rows.push([
      id,
      i % 4 === 0 ? 'O' : 'S',
      ((id * 104_729) % 50_000) + 10,
      (id * 31) % 60_000,
      CURRENCIES[i % 3]!,
      i * 9,
    ]);
  }
  return rows;
}

const cents = (n: bigint) => {
  const neg = n < 0n;
  const v = neg ? -n : n;
  return `${neg ? '-' : ''}${v / 100n}.${String(v % 100n).padStart(2, '0')}`;
};

/** The totals a window must report, computed from the inserted rows: currency → kind → cents. */
function expectedTotals(stream: 'payments' | 'game_rounds', window: number): Record<string, Record<string, bigint>> {
  const out: Record<string, Record<string, bigint>> = {};
  const add = (currency: string, kind: string, v: number) => {
    const row = out[currency] ?? {};
    out[currency] = row;
    row[kind] = (row[kind] ?? 0n) + BigInt(v);
  };
  if (stream === 'payments') {
    for (const currency of CURRENCIES) {
      add(currency, 'deposits', 0);
      add(currency, 'withdrawals', 0);
    }
    for (const [, dir, status, amount, currency] of payments(window)) {
      if (PAYMENT_STATUS[status] !== 'approved') continue;
      add(currency, DIRECTION[dir] === 'deposit' ? 'deposits' : 'withdrawals', amount);
    }
  } else {
    for (const currency of CURRENCIES) {
      add(currency, 'stakes', 0);
      add(currency, 'payouts', 0);
    }
    for (const [, status, stake, payout, currency] of rounds(window)) {
      if (ROUND_STATUS[status] !== 'settled') continue;
      add(currency, 'stakes', stake);
      add(currency, 'payouts', payout);
    }
    for (const row of Object.values(out)) row.ggr = row.stakes! - row.payouts!;
  }
  return out;
}

/** The report's totals as currency → kind → cents, one side. */
function reported(report: MoneyTotalsReport, side: 'source' | 'landed'): Record<string, Record<string, bigint>> {
  return Object.fromEntries(
    report.currencies.map((c) => [
      c.currency ?? '',
      Object.fromEntries(
        Object.entries(c.totals).map(([kind, t]) => {
          const [whole, fraction = ''] = t[side].replace('-', '').split('.');
          const v = BigInt(whole!) * 100n + BigInt(fraction.padEnd(2, '0').slice(0, 2) || '0');
          return [kind, t[side].startsWith('-') ? -v : v];
        }),
      ),
    ]),
  );
}

/** Defines the money totals test of one engine. */
export function describeMoneyTotals(engine: Engine, available: boolean): void {
  describe.skipIf(!available)(`per-window money totals on ${engine === 'postgres' ? 'PostgreSQL' : 'MariaDB'}`, () => {
    const operatorId = 'money-casino';
    const H0 = Math.floor((Date.now() - 3 * HOUR) / HOUR) * HOUR;
    const windowFrom = (w: number) => H0 - (3 - w) * 8 * HOUR;
    let aws: LocalAws;
    let db: ScratchDb;
    let store: SyncStateStore;
    let extract: ExtractWindowModule;
    /** When set, the next deposit the mapper maps lands as a withdrawal. */
    const defect = { armed: false, injected: 0 };
    const context: Context = lambdaContext(() => 900_000);
    const wall = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

    beforeAll(async () => {
      aws = await startLocalAws();
      db = await createScratchSchema(engine, `money_${engine}`, { mysqlCollation: 'utf8mb4_general_ci' });
      const time = engine === 'postgres' ? 'timestamp(3)' : 'datetime(3)';
      const money = engine === 'postgres' ? 'numeric(18,2)' : 'decimal(18,2)';
      await db.exec(
        `CREATE TABLE ${db.table('cashier')} (txn_id bigint PRIMARY KEY, customer_id varchar(16) NOT NULL,
           dir_code varchar(2) NOT NULL, state_code varchar(8) NOT NULL, amount ${money}, ccy varchar(3), modified_ts ${time} NOT NULL)`,
      );
      await db.exec(
        `CREATE TABLE ${db.table('rounds')} (round_id bigint PRIMARY KEY, customer_id varchar(16) NOT NULL,
           state_code varchar(2) NOT NULL, bet ${money}, win ${money}, ccy varchar(3), modified_ts ${time} NOT NULL)`,
      );
      for (const w of [0, 1]) {
        await db.insert(
          'cashier',
          ['txn_id', 'customer_id', 'dir_code', 'state_code', 'amount', 'ccy', 'modified_ts'],
          payments(w).map(([id, dir, status, amount, currency, minute]) => [
            String(id),
            `P${id % 11}`,
            dir,
            status,
            cents(BigInt(amount)),
            currency,
            wall(windowFrom(w) + minute * 60_000),
          ]),
        );
        await db.insert(
          'rounds',
          ['round_id', 'customer_id', 'state_code', 'bet', 'win', 'ccy', 'modified_ts'],
          rounds(w).map(([id, status, stake, payout, currency, minute]) => [
            String(id),
            `P${id % 11}`,
            status,
            cents(BigInt(stake)),
            cents(BigInt(payout)),
            currency,
            wall(windowFrom(w) + minute * 60_000),
          ]),
        );
      }

      const url = new URL(engineUrl(engine));
      const config = {
        operatorId,
        displayName: 'Money Casino',
        stage: 'sandbox',
        account: '111111111111',
        region: 'eu-west-1',
        source: {
          type: engine,
          host: url.hostname,
          port: Number(url.port || (engine === 'postgres' ? 5432 : 3306)),
          database: engine === 'postgres' ? decodeURIComponent(url.pathname.slice(1)) || 'postgres' : db.schema,
          ...(engine === 'postgres' ? { schema: db.schema } : {}),
          tls: 'disable',
          timeZone: 'UTC',
          network: { mode: 'created' },
        },
        streams: {
          payments: {
            table: 'cashier',
            columns: {
              payment_id: 'txn_id',
              player_id: 'customer_id',
              direction: { column: 'dir_code', values: DIRECTION },
              status: { column: 'state_code', values: PAYMENT_STATUS },
              amount: { column: 'amount', precision: 18, scale: 2 },
              currency: 'ccy',
              updated_at: 'modified_ts',
            },
          },
          game_rounds: {
            table: 'rounds',
            columns: {
              round_id: 'round_id',
              player_id: 'customer_id',
              status: { column: 'state_code', values: ROUND_STATUS },
              stake: { column: 'bet', precision: 18, scale: 2 },
              payout: { column: 'win', precision: 18, scale: 2 },
              currency: 'ccy',
              updated_at: 'modified_ts',
            },
          },
        },
      };
      await setHandlerEnv({ aws, config, sourceUrl: engineUrl(engine), reserveMs: 60_000 });
      // The injected defect: a wrapper around the real mapper the handler loads.
      vi.doMock('../../lambdas/shared/mapping/mapper.ts', async (importOriginal) => {
        const real = await importOriginal<MapperModule>();
        return {
          ...real,
          createRowMapper: (options: Parameters<MapperModule['createRowMapper']>[0]) => {
            const mapper = real.createRowMapper(options);
            const direction = mapper.columns.findIndex((c) => c.name === 'direction');
            return {
              ...mapper,
              map(batch: Parameters<typeof mapper.map>[0]): LandedBatch {
                const landed = mapper.map(batch);
                if (!defect.armed || direction < 0) return landed;
                const values = landed.columns[direction]!;
                const row = values.indexOf('deposit');
                if (row < 0) return landed;
                const columns = [...landed.columns];
                columns[direction] = values.map((v, i) => (i === row ? 'withdrawal' : v));
                defect.armed = false;
                defect.injected++;
                return { ...landed, columns };
              },
            };
          },
        };
      });
      extract = await import('../../lambdas/extract-window/handler.ts');
      store = new SyncStateStore(aws.dynamo.doc, aws.table);
      await store.snapshots.start({
        snapshotId: 'snap-money',
        cutoff: new Date(H0),
        streams: ['payments', 'game_rounds'],
        windows: (['payments', 'game_rounds'] as const).flatMap((stream) =>
          [0, 1].map((w) => ({
            stream,
            windowId: `w${w}`,
            from: new Date(windowFrom(w)),
            to: new Date(windowFrom(w + 1)),
          })),
        ),
      });
    });

    afterAll(async () => {
      vi.doUnmock('../../lambdas/shared/mapping/mapper.ts');
      await db?.drop();
      await aws?.stop();
    });

    /** Lands one window through the handler; returns its result and the metrics it emitted. */
    async function land(
      stream: 'payments' | 'game_rounds',
      w: number,
    ): Promise<{ result: Extract<ExtractResult, { status: 'complete' }>; metrics: Record<string, unknown>[] }> {
      const event: ExtractWindowInput = {
        snapshotId: 'snap-money',
        runId: 'snap-money',
        stream,
        windowId: `w${w}`,
        from: new Date(windowFrom(w)).toISOString(),
        to: new Date(windowFrom(w + 1)).toISOString(),
      };
      const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
      let result: ExtractResult;
      let written: string[];
      try {
        result = await extract.handler(event, context);
      } finally {
        written = out.mock.calls.map((c) => String(c[0]));
        out.mockRestore();
      }
      if (result.status !== 'complete') throw new Error(`${stream} did not complete: ${result.status}`);
      const metrics = written
        .flatMap((text) => text.split('\n'))
        .filter((line) => line.includes('"_aws"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      return { result, metrics };
    }

    const metricValue = (metrics: Record<string, unknown>[], name: string) =>
      metrics.map((m) => m[name]).filter((v) => v !== undefined);

    it('records per-currency totals equal to the source in the manifest, the metric and the sync state', async () => {
      for (const stream of ['payments', 'game_rounds'] as const) {
        const { result, metrics } = await land(stream, 0);
        expect(result.reconciliation).toMatchObject({ ok: true, moneyTotalsMismatches: 0 });
        const manifest = await getManifest(aws, result.manifestKey);
        const report = manifest!.moneyTotals!;
        expect(report.mismatches).toBe(0);
        // 'EUR' and 'eur' stay two currencies on both engines, as they land.
        expect(report.currencies.map((c) => c.currency)).toEqual(['EUR', 'SEK', 'eur']);
        expect(reported(report, 'source')).toEqual(expectedTotals(stream, 0));
        expect(reported(report, 'landed')).toEqual(expectedTotals(stream, 0));
        expect(report.currencies.every((c) => c.equal)).toBe(true);
        expect(metricValue(metrics, 'MoneyTotalsMismatches')).toEqual([0]);
        const state = await store.watermarks.getState(stream);
        expect(state.moneyTotals?.last).toMatchObject({ runId: 'snap-money', windowId: 'w0', mismatches: 0 });
        expect(state.moneyTotals?.lastMismatch).toBeUndefined();
      }
    });

    it('finds a deposit landed as a withdrawal, which the count and amount reconciliation cannot see', async () => {
      defect.armed = true;
      const { result, metrics } = await land('payments', 1);
      expect(defect.injected).toBe(1);
      // Same rows, same amount sum: the window reconciles and commits.
      expect(result.reconciliation.ok).toBe(true);
      expect(result.reconciliation.moneyTotalsMismatches).toBe(2);
      const report = (await getManifest(aws, result.manifestKey))!.moneyTotals!;
      expect(report.mismatches).toBe(2);
      const expected = expectedTotals('payments', 1);
      expect(reported(report, 'source')).toEqual(expected);
      const landed = reported(report, 'landed');
      const differing = report.currencies.filter((c) => !c.equal);
      expect(differing).toHaveLength(1);
      const currency = differing[0]!.currency!;
      const moved = expected[currency]!.deposits! - landed[currency]!.deposits!;
      expect(moved).toBeGreaterThan(0n);
      expect(landed[currency]!.withdrawals).toBe(expected[currency]!.withdrawals! + moved);
      expect(metricValue(metrics, 'MoneyTotalsMismatches')).toEqual([2]);
      const state = await store.watermarks.getState('payments');
      expect(state.moneyTotals?.lastMismatch).toMatchObject({
        windowId: 'w1',
        mismatches: 2,
        manifestKey: result.manifestKey,
      });

      // Rounds of the same window carry no defect.
      const rounds = await land('game_rounds', 1);
      expect(rounds.result.reconciliation.moneyTotalsMismatches).toBe(0);
      const roundReport = (await getManifest(aws, rounds.result.manifestKey))!.moneyTotals!;
      expect(reported(roundReport, 'landed')).toEqual(expectedTotals('game_rounds', 1));
    });
  });
}
