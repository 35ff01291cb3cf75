/**
 * The wallet ledger rule and its audit statement: the sign rule on decimal text, the statement
 * parsed with a Trino grammar and run on DuckDB (the local Athena engine) over ledgers with a gap,
 * a duplicate, a mis-signed entry, several currencies and clean chains.
 */
import { TrinoSQL } from 'dt-sql-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperatorConfig } from '#shared/config/schema';
import {
  DEFAULT_WALLET_DIRECTIONS,
  deltaExpression,
  expectedBalance,
  parseWalletAudit,
  WALLET_TYPES,
  walletAuditStatement,
  walletLedgerSettings,
} from '#shared/integrity/wallet-ledger';
import { servingColumns } from '#shared/serving/tables';
import { duckType } from '../../../local/athena.ts';
import { type DuckDbHandle, openDuckDb } from '../../helpers/duckdb.ts';
import { exampleConfig } from '../../lib/helpers.ts';

const trino = new TrinoSQL();

describe('expectedBalance', () => {
  it('credits and debits by type, whatever sign the amount is booked with', () => {
    expect(expectedBalance('10.00', 'deposit', '5.50')).toBe('15.50');
    expect(expectedBalance('10.00', 'deposit', '-5.50')).toBe('15.50');
    expect(expectedBalance('10.00', 'bet', '2.25')).toBe('7.75');
    expect(expectedBalance('10.00', 'bet', '-2.25')).toBe('7.75');
    expect(expectedBalance('10.00', 'withdrawal', '-10.00')).toBe('0.00');
    expect(expectedBalance('0.00', 'win', '0.10')).toBe('0.10');
  });

  it('uses a signed type as booked, and an unknown type as signed', () => {
    expect(expectedBalance('10.00', 'adjustment', '-3.00')).toBe('7.00');
    expect(expectedBalance('10.00', 'adjustment', '3.00')).toBe('13.00');
    expect(expectedBalance('10.00', 'unmapped', '-0.01')).toBe('9.99');
    expect(expectedBalance('10.00', 'something-else', '1')).toBe('11.00');
  });

  it('is exact where a double is not', () => {
    expect(expectedBalance('0.1', 'win', '0.2')).toBe('0.3');
    expect(expectedBalance('12345678901234567890.1234567890', 'bet', '0.0000000001')).toBe(
      '12345678901234567890.1234567889',
    );
  });

  it('follows the operator directions over the defaults', () => {
    const config = exampleConfig('acme-casino', [[['walletLedger', 'directions'], { refund: 'debit' }]]);
    const { directions } = walletLedgerSettings(config);
    expect(directions.refund).toBe('debit');
    expect(directions.deposit).toBe('credit');
    expect(expectedBalance('10.00', 'refund', '1.00', directions)).toBe('9.00');
  });

  it('has a default direction for every canonical type', () => {
    for (const type of WALLET_TYPES) expect(DEFAULT_WALLET_DIRECTIONS[type], type).toBeDefined();
  });
});

describe('deltaExpression', () => {
  it('lists credit and debit types and keeps signed ones as booked', () => {
    const sql = deltaExpression(DEFAULT_WALLET_DIRECTIONS);
    expect(sql).toContain(`WHEN w."type" IN ('win', 'deposit', 'bonus_credit', 'refund') THEN abs(w."amount")`);
    expect(sql).toContain(`WHEN w."type" IN ('bet', 'withdrawal', 'bonus_debit') THEN -abs(w."amount")`);
    expect(sql).toMatch(/ELSE w\."amount" END$/);
  });
});

describe('walletLedgerSettings', () => {
  it('is enabled when the ledger columns are landed, and off when the config says so', () => {
    expect(walletLedgerSettings(exampleConfig('acme-casino')).enabled).toBe(true);
    expect(walletLedgerSettings(exampleConfig('acme-casino', [[['walletLedger', 'enabled'], false]])).enabled).toBe(
      false,
    );
    expect(
      walletLedgerSettings(
        exampleConfig('acme-casino', [[['streams', 'wallet_transactions', 'columns', 'balance_after'], undefined]]),
      ).enabled,
    ).toBe(false);
  });
});

// ------------------------------------------------------------------------------------- on DuckDB

/** One ledger entry: [id, player, type, amount, balance_after, currency, created_at (s after T0)]. */
type Entry = readonly [string, string, string, string, string | null, string, number];

const T0 = Date.UTC(2026, 5, 1);
let duck: DuckDbHandle;
let config: OperatorConfig;

async function load(entries: readonly Entry[], touched: readonly (readonly [string, string, string])[]) {
  const columns = servingColumns(config, 'wallet_transactions');
  await duck.query('DROP TABLE IF EXISTS db.wallet_transactions');
  await duck.query('DROP TABLE IF EXISTS db.wallet_transactions_landed');
  await duck.query(
    `CREATE TABLE db.wallet_transactions (${columns.map((c) => `"${c.name}" ${duckType(c.icebergType)}`).join(', ')})`,
  );
  await duck.query('CREATE TABLE db.wallet_transactions_landed (player_id VARCHAR, run_id VARCHAR, window_id VARCHAR)');
  for (const [id, player, type, amount, balance, currency, at] of entries) {
    const ms = T0 + at * 1000;
    const values: Record<string, string> = {
      transaction_id: `'${id}'`,
      player_id: `'${player}'`,
      type: `'${type}'`,
      amount,
      balance_after: balance ?? 'NULL',
      currency: `'${currency}'`,
      created_at: `make_timestamp(${ms * 1000})`,
      _cursor: `make_timestamp(${ms * 1000})`,
      _cursor_us: String(ms * 1000),
    };
    await duck.query(
      `INSERT INTO db.wallet_transactions (${Object.keys(values)
        .map((k) => `"${k}"`)
        .join(', ')}) VALUES (${Object.values(values).join(', ')})`,
    );
  }
  for (const [player, run, window] of touched) {
    await duck.query(`INSERT INTO db.wallet_transactions_landed VALUES ('${player}', '${run}', '${window}')`);
  }
}

async function audit(sources = [{ runIds: ['run-1'], windowIds: ['w-1'] }], maxExamples?: number) {
  const sql = walletAuditStatement({
    config,
    database: 'db',
    sources,
    ...(maxExamples ? { maxExamples } : {}),
  });
  expect(trino.validate(sql), sql).toEqual([]);
  return parseWalletAudit(await duck.query(sql));
}

/** A clean chain for a player: deposit 100, bet 10, win 25, bet 5, withdrawal 50 → 60. */
const clean = (player: string, prefix: string, currency = 'EUR', start = 0): Entry[] => [
  [`${prefix}1`, player, 'deposit', '100.00', '100.00', currency, start + 1],
  [`${prefix}2`, player, 'bet', '-10.00', '90.00', currency, start + 2],
  [`${prefix}3`, player, 'win', '25.00', '115.00', currency, start + 3],
  [`${prefix}4`, player, 'bet', '-5.00', '110.00', currency, start + 4],
  [`${prefix}5`, player, 'withdrawal', '-50.00', '60.00', currency, start + 5],
];

beforeAll(async () => {
  duck = await openDuckDb();
  await duck.query('CREATE SCHEMA db');
  config = exampleConfig('acme-casino');
});
afterAll(() => duck.close());

describe('walletAuditStatement on the local engine', () => {
  it('finds nothing in clean chains', async () => {
    await load([...clean('p1', 'a'), ...clean('p2', 'b')], [['p1', 'run-1', 'w-1']]);
    expect(await audit()).toEqual({ breaks: 0, examples: [] });
  });

  it('finds a gap: one entry missing mid-chain, with expected and actual balance', async () => {
    const entries = clean('p1', 'a').filter(([id]) => id !== 'a3');
    await load(entries, [['p1', 'run-1', 'w-1']]);
    const found = await audit();
    expect(found.breaks).toBe(1);
    expect(found.examples).toEqual([
      {
        playerId: 'p1',
        currency: 'EUR',
        previousTransactionId: 'a2',
        transactionId: 'a4',
        type: 'bet',
        createdAt: expect.stringContaining('2026-06-01'),
        previousBalance: '90.00',
        amount: '-5.00',
        expectedBalance: '85.00',
        actualBalance: '110.00',
      },
    ]);
  });

  it('finds a duplicate: the same movement booked twice under another id', async () => {
    const entries = clean('p1', 'a');
    await load([...entries, ['a2x', 'p1', 'bet', '-10.00', '90.00', 'EUR', 2.5]], [['p1', 'run-1', 'w-1']]);
    const found = await audit();
    expect(found.breaks).toBe(1);
    expect(found.examples[0]).toMatchObject({ transactionId: 'a2x', expectedBalance: '80.00', actualBalance: '90.00' });
  });

  it('finds a mis-signed entry: a win that debited the balance', async () => {
    await load(
      [
        ['a1', 'p1', 'deposit', '100.00', '100.00', 'EUR', 1],
        ['a2', 'p1', 'win', '25.00', '75.00', 'EUR', 2],
        ['a3', 'p1', 'bet', '-5.00', '70.00', 'EUR', 3],
      ],
      [['p1', 'run-1', 'w-1']],
    );
    const found = await audit();
    expect(found.breaks).toBe(1);
    expect(found.examples[0]).toMatchObject({ transactionId: 'a2', expectedBalance: '125.00', actualBalance: '75.00' });
  });

  it('keeps one chain per currency, and audits only the players of the named windows', async () => {
    await load(
      [
        ...clean('p1', 'e', 'EUR'),
        ...clean('p1', 's', 'SEK', 1),
        // p2 has a gap, but no named window touched p2.
        ...clean('p2', 'b').filter(([id]) => id !== 'b2'),
      ],
      [
        ['p1', 'run-1', 'w-1'],
        ['p2', 'run-2', 'w-1'],
      ],
    );
    expect((await audit()).breaks).toBe(0);
    expect((await audit([{ runIds: ['run-2'], windowIds: ['w-1'] }])).breaks).toBe(1);
    expect(
      (
        await audit([
          { runIds: ['run-1'], windowIds: ['w-1'] },
          { runIds: ['run-2'], windowIds: ['w-1'] },
        ])
      ).breaks,
    ).toBe(1);
  });

  it('orders entries of one instant by transaction id as a number, and counts past the examples', async () => {
    const entries: Entry[] = [
      ['9', 'p1', 'deposit', '1.00', '1.00', 'EUR', 1],
      ['10', 'p1', 'deposit', '1.00', '2.00', 'EUR', 1],
      ['11', 'p1', 'bet', '1.00', '1.00', 'EUR', 1],
    ];
    await load(entries, [['p1', 'run-1', 'w-1']]);
    expect((await audit()).breaks).toBe(0);
    // Every entry of p2 after the first breaks the chain: three breaks, two kept as examples.
    await load(
      [
        ['1', 'p2', 'deposit', '10.00', '10.00', 'EUR', 1],
        ['2', 'p2', 'deposit', '10.00', '10.00', 'EUR', 2],
        ['3', 'p2', 'deposit', '10.00', '10.00', 'EUR', 3],
        ['4', 'p2', 'deposit', '10.00', '10.00', 'EUR', 4],
      ],
      [['p2', 'run-1', 'w-1']],
    );
    const found = await audit(undefined, 2);
    expect(found.breaks).toBe(3);
    expect(found.examples.map((e) => e.transactionId)).toEqual(['2', '3']);
  });

  it('counts an entry without a balance once', async () => {
    await load(
      [
        ['a1', 'p1', 'deposit', '100.00', '100.00', 'EUR', 1],
        ['a2', 'p1', 'bet', '-10.00', null, 'EUR', 2],
        ['a3', 'p1', 'bet', '-10.00', '80.00', 'EUR', 3],
      ],
      [['p1', 'run-1', 'w-1']],
    );
    const found = await audit();
    expect(found.breaks).toBe(1);
    expect(found.examples[0]).toMatchObject({ transactionId: 'a2', actualBalance: null });
  });

  it('refuses an audit of no window', () => {
    expect(() => walletAuditStatement({ config, database: 'db', sources: [] })).toThrow(/at least one/);
  });
});
