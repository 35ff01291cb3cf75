/**
 * What the documentation tells users about the tables they query.
 *
 * - docs/data-dictionary.md: generated from the canonical model, the serving table definitions and
 *   the example operator's config; its tables match the synthesized Iceberg tables, and every example
 *   query in it parses with the Trino grammar and returns, on the local engine over a known data set
 *   landed and published through the product's path, what the test computes from that data set by
 *   itself.
 * - The runbook's Athena queries run against the stack's tables, and no doc or help text points users
 *   at a "current" view the stack does not create.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TrinoSQL } from 'dt-sql-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CANONICAL_STREAMS, STREAM_NAMES, type StreamName } from '#shared/canonical';
import { createPseudonymizer } from '#shared/pii/pseudonymizer';
import { servingColumns, servingLayout } from '#shared/serving/tables';
import type { LandedValue } from '#shared/types';
import {
  DATA_DICTIONARY_PATH,
  DICTIONARY_EXAMPLE_CONFIG,
  generateDataDictionary,
  QUERY_MARKER,
} from '../../../scripts/gen-data-dictionary.ts';
import { exampleConfig } from '../../lib/helpers.ts';
import { landedRow, ServingLake } from './lake.ts';

const REPO = join(import.meta.dirname, '..', '..', '..');
const trino = new TrinoSQL();

const config = exampleConfig('acme-casino');
const docs = generateDataDictionary(config, DICTIONARY_EXAMPLE_CONFIG);

/** The example queries of a dictionary, by id. */
function queries(text: string): Map<string, string> {
  return new Map([...text.matchAll(QUERY_MARKER)].map((m) => [m[1]!, m[2]!]));
}

/** The rows of the column table of a stream's section: name → [type, nullable, pii, meaning]. */
function columnTable(text: string, stream: StreamName): Map<string, string[]> {
  const section = text.split(`\n### ${stream}\n`)[1]?.split('\n### ')[0] ?? '';
  const table = section.split('| Column | Athena type | Nullable | PII | Meaning |')[1]?.split('\n\n')[0] ?? '';
  const rows = new Map<string, string[]>();
  for (const line of table.split('\n').slice(2)) {
    const cells = line.split(' | ').map((c) => c.replace(/^\| |\|$/g, '').trim());
    const name = /^`([^`]+)`/.exec(cells[0] ?? '')?.[1];
    if (name) rows.set(name, cells.slice(1));
  }
  return rows;
}

describe('docs/data-dictionary.md', () => {
  it('is up to date with the canonical model, the serving tables and the example config', () => {
    const committed = readFileSync(join(REPO, DATA_DICTIONARY_PATH), 'utf8');
    expect(committed, `${DATA_DICTIONARY_PATH} is out of date: run \`npm run docs\` and commit the result`).toBe(docs);
  });

  it('documents every column of every serving table, with its key, partition column, nullability and PII', () => {
    for (const stream of STREAM_NAMES) {
      const rows = columnTable(docs, stream);
      expect([...rows.keys()], stream).toEqual(servingColumns(config, stream).map((c) => c.name));
      for (const column of servingColumns(config, stream)) {
        expect(rows.get(column.name)?.[1], `${stream}.${column.name}`).toBe(column.nullable ? 'yes' : 'no');
      }
      expect(docs).toContain(`| \`${CANONICAL_STREAMS[stream].primaryKey}\` (key`);
      expect(docs, stream).toContain(`**Key**: \`${CANONICAL_STREAMS[stream].primaryKey}\``);
      const { partition } = servingLayout(config, stream);
      expect(docs).toMatch(new RegExp(`\\| \`${partition.column}\` \\((key, )?partition\\)`));
    }
    expect(columnTable(docs, 'payments').get('player_id')?.[2]).toBe('pseudonym');
    expect(columnTable(docs, 'players').get('email')?.[2]).toBe('pseudonym');
    expect(columnTable(docs, 'payments').get('amount')?.[0]).toBe('decimal(18,2)');
    // Dropped fields are absent, unmapped ones always NULL.
    expect(columnTable(docs, 'players').has('birth_date')).toBe(false);
    expect(docs).toContain('**Not in this table**: `birth_date`');
    expect(columnTable(docs, 'players').get('affiliate_id')?.[3]).toContain('Not provided by this operator');
    expect(columnTable(docs, 'players').get('country')?.[3]).not.toContain('Not provided');
    // Enumerations with the operator's codes.
    expect(docs).toContain('`DEP` → `deposit`');
    expect(docs).toContain('| `status` (original in `status_source`) | `pending`, `approved`');
    // Freshness from the config.
    expect(docs).toContain('| `payments` | 30 |');
    expect(docs).toContain('| `players` | 120 |');
    expect(docs).toContain('(`rate(15 minutes)`)');
  });

  it('answers the business questions, each query parsing with the Trino grammar', () => {
    const found = queries(docs);
    expect([...found.keys()]).toEqual([
      'deposits-per-day',
      'ggr-per-game',
      'active-players',
      'deposits-by-country',
      'unmapped-values',
      'freshness',
    ]);
    // The grammar check is not vacuous.
    expect(trino.validate('SELECT count(* FROM "db"."payments"').length).toBeGreaterThan(0);
    for (const [id, sql] of found) expect(trino.validate(sql), id).toEqual([]);
  });

  it('is generated for a file-drop operator, with only the queries its streams can answer', () => {
    const files = exampleConfig('lucky-files');
    const text = generateDataDictionary(files, 'config/operators/lucky-files.yaml');
    expect(text).toContain('`connector_lucky_files_sandbox`');
    expect(text).toContain('This operator delivers files.');
    expect(text).not.toContain('**Incremental runs**');
    expect([...queries(text).keys()]).toEqual([
      'deposits-per-day',
      'deposits-by-country',
      'unmapped-values',
      'freshness',
    ]);
    for (const sql of queries(text).values()) expect(trino.validate(sql)).toEqual([]);
  });
});

/** Docs and help texts that tell users where the data is. */
const USER_TEXTS = [
  'README.md',
  ...readdirSync(join(REPO, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  ...readdirSync(join(REPO, 'docs/operators')).map((f) => `docs/operators/${f}`),
  ...readdirSync(join(REPO, 'cli/commands')).map((f) => `cli/commands/${f}`),
];

/** The Athena queries of the runbook: SQL blocks that name the Glue database or say they are for Athena. */
function runbookAthenaQueries(): string[] {
  const runbook = readFileSync(join(REPO, 'docs/runbook.md'), 'utf8');
  return [...runbook.matchAll(/```sql\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .filter((sql) => sql.includes('<GLUE_DB>') || /^-- Athena/m.test(sql));
}

describe('docs and help texts', () => {
  it('point users at the tables the stack creates, never at "current" views', () => {
    expect(USER_TEXTS.length).toBeGreaterThan(8);
    for (const file of USER_TEXTS) {
      const text = readFileSync(join(REPO, file), 'utf8');
      expect(text, file).not.toMatch(/current["”]?\s+views?\b|\w_current\b|"current"/i);
    }
  });

  it('give Athena queries in the runbook that parse with the Trino grammar', () => {
    const found = runbookAthenaQueries();
    expect(found.length).toBeGreaterThanOrEqual(3);
    for (const sql of found) expect(trino.validate(sql.replace(/;\s*$/, '')), sql).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// The example queries on a known data set.

const H = 3_600_000;
const D = 24 * H;
const MARCH = Date.UTC(2026, 2, 1);
const APRIL = Date.UTC(2026, 3, 1);
const NOW = Date.now();
/** Midnight UTC today. */
const TODAY = Math.floor(NOW / D) * D;
const ago = (days: number, hours = 0) => NOW - days * D + hours * H;

const pseudonymizer = createPseudonymizer(Buffer.alloc(32, 7));
const pid = (name: string) => pseudonymizer.pseudonymize(name);

type Values = Record<string, LandedValue>;
interface Landed {
  readonly stream: StreamName;
  readonly run: 'snap-1' | 'incr-1' | 'audit-1';
  readonly values: Values;
  readonly deleted?: boolean;
}
const RUNS = {
  'snap-1': { window: 'w1', seq: 100n, extractedAt: NOW - 3 * H },
  'incr-1': { window: 'incr', seq: 200n, extractedAt: NOW - 2 * H },
  'audit-1': { window: 'tombstones', seq: 300n, extractedAt: NOW - H },
} as const;

function player(id: string, country: string | null, updatedAt: number): Values {
  return {
    player_id: pid(id),
    registered_at: MARCH - 100 * D,
    updated_at: updatedAt,
    country,
    currency: 'EUR',
    status: 'active',
    status_source: 'ACTIVE',
  };
}

function payment(
  id: string,
  who: string,
  direction: 'deposit' | 'withdrawal',
  amount: string,
  currency: string,
  status: string,
  createdAt: number,
  updatedAt = createdAt + 60_000,
  statusSource = status.toUpperCase(),
): Values {
  return {
    payment_id: id,
    player_id: pid(who),
    direction,
    direction_source: direction === 'deposit' ? 'DEP' : 'WDR',
    method: 'card',
    amount,
    currency,
    status,
    status_source: statusSource,
    created_at: createdAt,
    updated_at: updatedAt,
  };
}

function round(
  id: string,
  who: string,
  game: string,
  currency: string,
  stake: string,
  payout: string | null,
  status: 'open' | 'settled' | 'cancelled',
  startedAt: number,
  updatedAt = startedAt + 60_000,
): Values {
  return {
    round_id: id,
    player_id: pid(who),
    game_id: game,
    provider: 'studio',
    stake,
    payout,
    bonus_stake: '0.00',
    currency,
    status,
    status_source: status.toUpperCase(),
    started_at: startedAt,
    settled_at: status === 'settled' ? updatedAt : null,
    updated_at: updatedAt,
  };
}

function session(id: string, who: string, startedAt: number, endedAt: number | null = null): Values {
  return { session_id: id, player_id: pid(who), started_at: startedAt, ended_at: endedAt, device: 'mobile' };
}

const DATA: readonly Landed[] = [
  // Players: alice moves from MT to DE; bob is re-read by the lookback; carol and dave have no country;
  // eve pays and plays but is not in players.
  { stream: 'players', run: 'snap-1', values: player('alice', 'MT', MARCH - 10 * D) },
  { stream: 'players', run: 'snap-1', values: player('bob', 'MT', MARCH - 9 * D) },
  { stream: 'players', run: 'snap-1', values: player('carol', null, MARCH - 8 * D) },
  { stream: 'players', run: 'snap-1', values: player('dave', null, MARCH - 7 * D) },
  { stream: 'players', run: 'incr-1', values: player('alice', 'DE', MARCH + 5 * D) },
  { stream: 'players', run: 'incr-1', values: player('bob', 'MT', MARCH - 9 * D) },

  {
    stream: 'payments',
    run: 'snap-1',
    values: payment('pay1', 'alice', 'deposit', '10.00', 'EUR', 'pending', MARCH + 10 * H),
  },
  {
    stream: 'payments',
    run: 'snap-1',
    values: payment('pay2', 'bob', 'deposit', '25.50', 'EUR', 'approved', MARCH + 12 * H),
  },
  {
    stream: 'payments',
    run: 'snap-1',
    values: payment('pay3', 'bob', 'deposit', '5.00', 'GBP', 'approved', MARCH + D + 9 * H),
  },
  {
    stream: 'payments',
    run: 'snap-1',
    values: payment('pay4', 'carol', 'deposit', '100.00', 'EUR', 'approved', MARCH + D + 11 * H),
  },
  {
    stream: 'payments',
    run: 'snap-1',
    values: payment('pay5', 'alice', 'withdrawal', '20.00', 'EUR', 'approved', MARCH + D + 13 * H),
  },
  {
    stream: 'payments',
    run: 'snap-1',
    values: payment('pay6', 'eve', 'deposit', '7.25', 'EUR', 'approved', MARCH + 2 * D + 8 * H),
  },
  {
    stream: 'payments',
    run: 'snap-1',
    values: payment('pay7', 'dave', 'deposit', '1.00', 'EUR', 'approved', MARCH - 1),
  },
  { stream: 'payments', run: 'snap-1', values: payment('pay8', 'dave', 'deposit', '2.00', 'EUR', 'approved', APRIL) },
  {
    stream: 'payments',
    run: 'snap-1',
    values: payment('pay9', 'carol', 'deposit', '3.33', 'EUR', 'unmapped', MARCH + 4 * D, undefined, 'ON_HOLD'),
  },
  {
    stream: 'payments',
    run: 'snap-1',
    values: payment('pay11', 'bob', 'deposit', '3.00', 'EUR', 'approved', MARCH + 14 * H),
  },
  {
    stream: 'payments',
    run: 'snap-1',
    values: payment('pay12', 'dave', 'deposit', '4.00', 'EUR', 'approved', MARCH + 9 * D + 15 * H),
  },
  {
    stream: 'payments',
    run: 'snap-1',
    values: payment('payR1', 'alice', 'deposit', '1.00', 'EUR', 'unmapped', ago(1), undefined, 'ON_HOLD'),
  },
  {
    stream: 'payments',
    run: 'snap-1',
    values: payment('payR2', 'bob', 'deposit', '1.00', 'EUR', 'unmapped', ago(2), undefined, 'REVIEW'),
  },
  {
    stream: 'payments',
    run: 'snap-1',
    values: payment('payR3', 'carol', 'deposit', '1.00', 'EUR', 'unmapped', ago(3), undefined, 'ON_HOLD'),
  },
  {
    stream: 'payments',
    run: 'snap-1',
    values: payment('payR4', 'dave', 'deposit', '1.00', 'EUR', 'unmapped', ago(20), undefined, 'X'),
  },
  { stream: 'payments', run: 'snap-1', values: payment('payR5', 'eve', 'deposit', '1.00', 'EUR', 'approved', ago(1)) },
  // Updates: pay1 approved, pay4 declined, payR2 no longer unmapped; pay2 re-read by the lookback.
  {
    stream: 'payments',
    run: 'incr-1',
    values: payment(
      'pay1',
      'alice',
      'deposit',
      '10.00',
      'EUR',
      'approved',
      MARCH + 10 * H,
      MARCH + 10 * H + 5 * 60_000,
    ),
  },
  {
    stream: 'payments',
    run: 'incr-1',
    values: payment('pay4', 'carol', 'deposit', '100.00', 'EUR', 'declined', MARCH + D + 11 * H, MARCH + 2 * D),
  },
  {
    stream: 'payments',
    run: 'incr-1',
    values: payment('payR2', 'bob', 'deposit', '1.00', 'EUR', 'approved', ago(2), ago(2, 1)),
  },
  {
    stream: 'payments',
    run: 'incr-1',
    values: payment('pay2', 'bob', 'deposit', '25.50', 'EUR', 'approved', MARCH + 12 * H),
  },
  // pay11 was deleted at the source.
  {
    stream: 'payments',
    run: 'audit-1',
    values: payment('pay11', 'bob', 'deposit', '3.00', 'EUR', 'approved', MARCH + 14 * H, MARCH + 20 * D),
    deleted: true,
  },

  {
    stream: 'game_rounds',
    run: 'snap-1',
    values: round('r1', 'alice', 'starburst', 'EUR', '1.00', null, 'open', MARCH + 3 * D),
  },
  {
    stream: 'game_rounds',
    run: 'snap-1',
    values: round('r2', 'bob', 'starburst', 'EUR', '2.00', '3.00', 'settled', MARCH + 3 * D + H),
  },
  {
    stream: 'game_rounds',
    run: 'snap-1',
    values: round('r3', 'bob', 'starburst', 'GBP', '1.00', '0.00', 'settled', MARCH + 3 * D + 2 * H),
  },
  {
    stream: 'game_rounds',
    run: 'snap-1',
    values: round('r4', 'carol', 'book-of-dead', 'EUR', '5.00', '0.00', 'settled', MARCH + 4 * D),
  },
  {
    stream: 'game_rounds',
    run: 'snap-1',
    values: round('r5', 'carol', 'book-of-dead', 'EUR', '4.00', null, 'open', MARCH + 4 * D + H),
  },
  {
    stream: 'game_rounds',
    run: 'snap-1',
    values: round('r6', 'alice', 'book-of-dead', 'EUR', '10.00', '2.00', 'cancelled', MARCH + 5 * D),
  },
  {
    stream: 'game_rounds',
    run: 'snap-1',
    values: round('r7', 'alice', 'starburst', 'EUR', '50.00', '0.00', 'settled', APRIL),
  },
  {
    stream: 'game_rounds',
    run: 'snap-1',
    values: round('r8', 'dave', 'starburst', 'EUR', '0.50', null, 'settled', MARCH + 6 * D),
  },
  {
    stream: 'game_rounds',
    run: 'snap-1',
    values: round('rR1', 'dave', 'starburst', 'EUR', '1.00', '0.50', 'settled', ago(5)),
  },
  {
    stream: 'game_rounds',
    run: 'snap-1',
    values: round('rR2', 'eve', 'starburst', 'EUR', '1.00', null, 'open', ago(3)),
  },
  {
    stream: 'game_rounds',
    run: 'snap-1',
    values: round('rR3', 'bob', 'starburst', 'EUR', '1.00', '1.00', 'settled', ago(45)),
  },
  // r1 settles; r4 is re-read by the lookback.
  {
    stream: 'game_rounds',
    run: 'incr-1',
    values: round(
      'r1',
      'alice',
      'starburst',
      'EUR',
      '1.00',
      '0.50',
      'settled',
      MARCH + 3 * D,
      MARCH + 3 * D + 5 * 60_000,
    ),
  },
  {
    stream: 'game_rounds',
    run: 'incr-1',
    values: round('r4', 'carol', 'book-of-dead', 'EUR', '5.00', '0.00', 'settled', MARCH + 4 * D),
  },

  { stream: 'sessions', run: 'snap-1', values: session('s1', 'alice', ago(2)) },
  { stream: 'sessions', run: 'snap-1', values: session('s2', 'carol', ago(40)) },
  { stream: 'sessions', run: 'snap-1', values: session('s3', 'eve', ago(10)) },
  { stream: 'sessions', run: 'snap-1', values: session('s4', 'dave', ago(1)) },
  // s1 ends: same start (the cursor), a later read.
  { stream: 'sessions', run: 'incr-1', values: session('s1', 'alice', ago(2), ago(2, 1)) },
];

/** The current state of a stream computed from DATA: the latest version of each key, tombstones applied. */
function currentRows(stream: StreamName): Values[] {
  const key = CANONICAL_STREAMS[stream].primaryKey;
  const cursor = CANONICAL_STREAMS[stream].cursor;
  const latest = new Map<string, { at: number; seq: bigint; landed: Landed }>();
  for (const landed of DATA.filter((d) => d.stream === stream)) {
    const id = String(landed.values[key]);
    const at = landed.values[cursor] as number;
    const seq = RUNS[landed.run].seq;
    const held = latest.get(id);
    if (!held || at > held.at || (at === held.at && seq > held.seq)) latest.set(id, { at, seq, landed });
  }
  return [...latest.values()]
    .filter((v) => !v.landed.deleted)
    .map((v) => ({ ...v.landed.values, _extracted_at: RUNS[v.landed.run].extractedAt, _cursor: v.at }));
}

/** Decimal text → hundredths. */
const cents = (text: LandedValue | undefined) => BigInt(String(text).replace('.', ''));
const money = (c: bigint) =>
  `${c < 0n ? '-' : ''}${(c < 0n ? -c : c) / 100n}.${String((c < 0n ? -c : c) % 100n).padStart(2, '0')}`;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const inMarch = (ms: LandedValue | undefined) => typeof ms === 'number' && ms >= MARCH && ms < APRIL;

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) out.set(key(item), [...(out.get(key(item)) ?? []), item]);
  return out;
}

/** What each example query must return, computed from DATA without SQL. */
const EXPECTED: Record<string, () => Record<string, string | null>[]> = {
  'deposits-per-day': () => {
    const approved = currentRows('payments').filter(
      (p) => p.direction === 'deposit' && p.status === 'approved' && inMarch(p.created_at),
    );
    return [...groupBy(approved, (p) => `${day(p.created_at as number)}|${p.currency}`)]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, ps]) => ({
        day: k.split('|')[0]!,
        currency: k.split('|')[1]!,
        deposits: String(ps.length),
        amount: money(ps.reduce((s, p) => s + cents(p.amount), 0n)),
      }));
  },
  'ggr-per-game': () => {
    const settled = currentRows('game_rounds').filter((r) => r.status === 'settled' && inMarch(r.started_at));
    return [...groupBy(settled, (r) => `${r.game_id}|${r.currency}`)]
      .map(([k, rs]) => {
        const payouts = rs.filter((r) => r.payout !== null);
        const ggr = rs.reduce((s, r) => s + cents(r.stake) - (r.payout === null ? 0n : cents(r.payout)), 0n);
        return {
          game_id: k.split('|')[0]!,
          currency: k.split('|')[1]!,
          rounds: String(rs.length),
          stake: money(rs.reduce((s, r) => s + cents(r.stake), 0n)),
          payout: payouts.length === 0 ? null : money(payouts.reduce((s, r) => s + cents(r.payout), 0n)),
          ggr: money(ggr),
          order: ggr,
        };
      })
      .sort((a, b) =>
        a.order !== b.order
          ? Number(b.order - a.order)
          : `${a.game_id}|${a.currency}` < `${b.game_id}|${b.currency}`
            ? -1
            : 1,
      )
      .map(({ order: _, ...row }) => row);
  },
  'active-players': () => {
    const since = TODAY - 30 * D;
    const players = new Set([
      ...currentRows('game_rounds')
        .filter((r) => r.status === 'settled' && (r.started_at as number) >= since)
        .map((r) => r.player_id),
      ...currentRows('sessions')
        .filter((s) => (s.started_at as number) >= since)
        .map((s) => s.player_id),
    ]);
    return [{ active_players: String(players.size) }];
  },
  'deposits-by-country': () => {
    const countries = new Map(currentRows('players').map((p) => [p.player_id, p.country]));
    const approved = currentRows('payments').filter(
      (p) => p.direction === 'deposit' && p.status === 'approved' && inMarch(p.created_at),
    );
    return [...groupBy(approved, (p) => `${countries.get(p.player_id) ?? 'unknown'}|${p.currency}`)]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, ps]) => ({
        country: k.split('|')[0]!,
        currency: k.split('|')[1]!,
        deposits: String(ps.length),
        depositors: String(new Set(ps.map((p) => p.player_id)).size),
        amount: money(ps.reduce((s, p) => s + cents(p.amount), 0n)),
      }));
  },
  'unmapped-values': () => {
    const since = TODAY - 7 * D;
    const unmapped = currentRows('payments').filter(
      (p) => p.status === 'unmapped' && (p.created_at as number) >= since,
    );
    return [...groupBy(unmapped, (p) => String(p.status_source))]
      .sort(([a, x], [b, y]) => y.length - x.length || (a < b ? -1 : 1))
      .map(([source, ps]) => ({ status_source: source, payments: String(ps.length) }));
  },
  freshness: () => {
    const payments = currentRows('payments');
    const max = (column: string) => new Date(Math.max(...payments.map((p) => p[column] as number))).toISOString();
    return [{ newest_change: max('_cursor'), last_read: max('_extracted_at') }];
  },
};

/** A result value as text: timestamps as ISO instants, everything else as DuckDB prints it. */
function normalize(row: Record<string, unknown>): Record<string, string | null> {
  return Object.fromEntries(
    Object.entries(row).map(([k, v]) => {
      if (v === null || v === undefined) return [k, null];
      const text = String(v);
      return [
        k,
        /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}/.test(text) ? new Date(`${text.replace(' ', 'T')}Z`).toISOString() : text,
      ];
    }),
  );
}

describe('the example queries of the data dictionary, on a known data set', () => {
  let lake: ServingLake;

  beforeAll(async () => {
    lake = await ServingLake.open(config);
    const streams = [...new Set(DATA.map((d) => d.stream))];
    for (const run of Object.keys(RUNS) as (keyof typeof RUNS)[]) {
      const { window, seq, extractedAt } = RUNS[run];
      for (const stream of streams) {
        const rows = DATA.filter((d) => d.stream === stream && d.run === run).map((d) =>
          landedRow(config, stream, d.values, { runId: run, seq, extractedAt, deleted: d.deleted ?? false }),
        );
        if (rows.length === 0) continue;
        await lake.land(stream, run, window, rows);
        await lake.publish(stream, [run], [window]);
      }
    }
  });

  afterAll(async () => {
    await lake?.close();
  });

  it('queries the database the dictionary names', () => {
    expect(docs).toContain(`\`${lake.database}\``);
  });

  it('describes the serving tables as the stack defines them (columns, Athena types)', () => {
    const athenaType: Record<string, string> = { string: 'varchar', int: 'integer', long: 'bigint' };
    for (const stream of STREAM_NAMES) {
      const table = lake.tables.find((t) => t.database === lake.database && t.name === stream);
      expect(table?.format, stream).toBe('iceberg');
      const documented = columnTable(docs, stream);
      expect(
        [...documented].map(([name, cells]) => [name, cells[0]]),
        stream,
      ).toEqual(table?.columns.map((c) => [c.name, athenaType[c.type] ?? c.type]));
    }
  });

  it('holds a data set in which every query has several rows to tell apart', () => {
    expect(EXPECTED['deposits-per-day']!().length).toBeGreaterThanOrEqual(3);
    expect(EXPECTED['ggr-per-game']!().length).toBeGreaterThanOrEqual(3);
    expect(Number(EXPECTED['active-players']!()[0]!.active_players)).toBeGreaterThanOrEqual(3);
    expect(EXPECTED['deposits-by-country']!().map((r) => r.country)).toContain('unknown');
    expect(EXPECTED['unmapped-values']!().length).toBeGreaterThanOrEqual(1);
  });

  it("runs every Athena query of the runbook against the stack's tables", async () => {
    for (const query of runbookAthenaQueries()) {
      const sql = query.replaceAll('<GLUE_DB>', lake.database).replaceAll('<snapshotId>', 'snap-1');
      await expect(lake.athena.execute(sql), sql).resolves.toBeDefined();
    }
  });

  for (const [id, sql] of queries(docs)) {
    it(`${id}: returns what the data set says`, async () => {
      const expected = EXPECTED[id];
      expect(expected, `no expected result for the example query ${id}`).toBeDefined();
      const { rows } = await lake.athena.execute(sql);
      expect(rows.map(normalize)).toEqual(expected!());
    });
  }
});
