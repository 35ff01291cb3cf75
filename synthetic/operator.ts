/**
 * Synthetic operator: creates an iGaming back-office database in PostgreSQL or MySQL with 90 days
 * of realistic activity, in the operator's own native table and column names (those of
 * config/operators/acme-casino.yaml), deterministic by seed, and able to move time forward with
 * new rows, updates and a late-committed row. Used by the sandbox stage, the demo, the tests and
 * the benchmark.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { openSqlSession } from '../local/sql-session.ts';
import { Prng } from './prng.ts';

export type Engine = 'postgres' | 'mysql';

export interface SyntheticOptions {
  readonly engine: Engine;
  /** Connection URL of a user allowed to create the schema (postgres://… or mysql://…). */
  readonly url: string;
  /** PostgreSQL schema or MySQL database created for the operator (dropped first if it exists). */
  readonly schema: string;
  readonly seed?: number;
  /** Number of players; every other volume scales with it. @default 500 */
  readonly players?: number;
  /** Days of history. @default 90 */
  readonly days?: number;
  /** End of the generated history. @default now */
  readonly now?: Date;
  /** Zone the back office stores its naive timestamps in. @default Europe/Malta */
  readonly timeZone?: string;
}

export interface TableCounts {
  readonly [table: string]: number;
}

const COUNTRIES = ['MT', 'DE', 'SE', 'FI', 'NO', 'GB', 'IE', 'CA', 'NZ', 'BR'] as const;
const CURRENCY: Record<string, string> = {
  MT: 'EUR',
  DE: 'EUR',
  SE: 'SEK',
  FI: 'EUR',
  NO: 'NOK',
  GB: 'GBP',
  IE: 'EUR',
  CA: 'CAD',
  NZ: 'NZD',
  BR: 'BRL',
};
const GAMES = [
  ['starburst', 'NetEnt'],
  ['book-of-dead', "Play'n GO"],
  ['sweet-bonanza', 'Pragmatic Play'],
  ['lightning-roulette', 'Evolution'],
  ['blackjack-classic', 'Evolution'],
  ['gates-of-olympus', 'Pragmatic Play'],
  ['mega-moolah', 'Microgaming'],
  ['reactoonz', "Play'n GO"],
] as const;
const PLATFORMS = ['desktop', 'mobile-web', 'ios-app', 'android-app'] as const;
const METHODS = ['card', 'bank_transfer', 'trustly', 'skrill', 'paypal', 'crypto'] as const;

interface Column {
  readonly name: string;
  readonly pg: string;
  readonly mysql: string;
}
interface Table {
  readonly name: string;
  readonly key: string;
  readonly cursor: string;
  readonly columns: readonly Column[];
}

const c = (name: string, pgType: string, mysqlType = pgType): Column => ({ name, pg: pgType, mysql: mysqlType });
const TS = (name: string, nullable = true) =>
  c(name, `timestamp(6)${nullable ? '' : ' NOT NULL'}`, `datetime(6)${nullable ? '' : ' NOT NULL'}`);
const MONEY = (name: string) => c(name, 'numeric(18,2)', 'decimal(18,2)');

/** The operator's native tables: names, keys and cursors match acme-casino.yaml. */
export const TABLES: readonly Table[] = [
  {
    name: 'customers',
    key: 'customer_id',
    cursor: 'modified_ts',
    columns: [
      c('customer_id', 'varchar(16) PRIMARY KEY'),
      TS('signup_ts'),
      TS('modified_ts', false),
      c('country_code', 'char(2)'),
      c('currency_code', 'char(3)'),
      c('account_state', 'varchar(16)'),
      c('kyc_state', 'varchar(16)'),
      c('vip_tier', 'smallint'),
      c('email_address', 'varchar(255)'),
      c('dob', 'date'),
      c('first_name', 'varchar(64)'),
      c('last_name', 'varchar(64)'),
      c('phone_number', 'varchar(32)'),
    ],
  },
  {
    name: 'login_sessions',
    key: 'sess_id',
    cursor: 'login_ts',
    columns: [
      c('sess_id', 'bigint PRIMARY KEY'),
      c('customer_id', 'varchar(16) NOT NULL'),
      TS('login_ts', false),
      TS('logout_ts'),
      c('platform', 'varchar(16)'),
      c('client_ip', 'varchar(45)'),
      c('user_agent', 'text'),
    ],
  },
  {
    name: 'cashier_transactions',
    key: 'txn_id',
    cursor: 'modified_ts',
    columns: [
      c('txn_id', 'bigint PRIMARY KEY'),
      c('customer_id', 'varchar(16) NOT NULL'),
      c('txn_type', 'varchar(8)'),
      c('payment_method', 'varchar(32)'),
      MONEY('amount'),
      c('currency_code', 'char(3)'),
      c('txn_status', 'varchar(16)'),
      TS('requested_ts'),
      TS('modified_ts', false),
      c('card_last4', 'char(4)'),
    ],
  },
  {
    name: 'wallet_ledger',
    key: 'entry_id',
    cursor: 'booked_ts',
    columns: [
      c('entry_id', 'bigint PRIMARY KEY'),
      c('customer_id', 'varchar(16) NOT NULL'),
      c('entry_type', 'varchar(16)'),
      MONEY('amount'),
      MONEY('balance'),
      c('currency_code', 'char(3)'),
      c('round_ref', 'varchar(24)'),
      TS('booked_ts', false),
    ],
  },
  {
    name: 'game_rounds',
    key: 'round_id',
    cursor: 'modified_ts',
    columns: [
      c('round_id', 'varchar(24) PRIMARY KEY'),
      c('customer_id', 'varchar(16) NOT NULL'),
      c('game_code', 'varchar(32)'),
      c('studio', 'varchar(32)'),
      MONEY('bet_amount'),
      MONEY('win_amount'),
      MONEY('bonus_bet_amount'),
      c('currency_code', 'char(3)'),
      c('round_state', 'varchar(8)'),
      TS('started_ts'),
      TS('settled_ts'),
      TS('modified_ts', false),
    ],
  },
  {
    name: 'bonus_awards',
    key: 'award_id',
    cursor: 'modified_ts',
    columns: [
      c('award_id', 'bigint PRIMARY KEY'),
      c('customer_id', 'varchar(16) NOT NULL'),
      c('bonus_kind', 'varchar(24)'),
      MONEY('amount'),
      MONEY('wager_req'),
      c('currency_code', 'char(3)'),
      c('award_state', 'varchar(16)'),
      TS('granted_ts'),
      TS('expires_ts'),
      TS('modified_ts', false),
    ],
  },
  {
    name: 'rg_events',
    key: 'event_id',
    cursor: 'event_ts',
    columns: [
      c('event_id', 'bigint PRIMARY KEY'),
      c('customer_id', 'varchar(16) NOT NULL'),
      c('event_type', 'varchar(24)'),
      c('detail', 'text', 'text'),
      TS('event_ts', false),
    ],
  },
];

type Row = (string | number | null)[];
type Rows = Record<string, Row[]>;

/** Converts UTC instants to the back office's naive wall-clock text, caching the offset per hour. */
export class WallClock {
  private readonly offsets = new Map<number, number>();
  private readonly fmt: Intl.DateTimeFormat;

  constructor(readonly timeZone: string) {
    this.fmt = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
  }

  private offsetMs(ms: number): number {
    const hour = Math.floor(ms / 3_600_000);
    let offset = this.offsets.get(hour);
    if (offset === undefined) {
      const parts = Object.fromEntries(
        this.fmt.formatToParts(new Date(hour * 3_600_000)).map((p) => [p.type, p.value]),
      );
      const wall = Date.UTC(
        Number(parts.year),
        Number(parts.month) - 1,
        Number(parts.day),
        Number(parts.hour),
        Number(parts.minute),
        Number(parts.second),
      );
      offset = wall - hour * 3_600_000;
      this.offsets.set(hour, offset);
    }
    return offset;
  }

  /** `YYYY-MM-DD HH:MM:SS.ffffff` wall-clock text of an instant (microseconds from `micros`). */
  text(ms: number, micros = 0): string {
    const wall = new Date(ms + this.offsetMs(ms)).toISOString();
    return `${wall.slice(0, 10)} ${wall.slice(11, 23)}${String(micros).padStart(3, '0')}`;
  }
}

interface Player {
  id: string;
  country: string;
  currency: string;
  registered: number;
  balanceCents: number;
}

const cents = (n: number): string => {
  const sign = n < 0 ? '-' : '';
  const a = Math.abs(n);
  return `${sign}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
};

/** Generates the rows of every table for activity in [from, to). Deterministic for the same inputs. */
class Activity {
  readonly rows: Rows = Object.fromEntries(TABLES.map((t) => [t.name, []]));
  private seq: Record<string, number>;
  private readonly pendingLedger: {
    readonly player: Player;
    readonly type: string;
    readonly amount: number;
    readonly roundId: string | null;
    readonly at: number;
    readonly micros: number;
    readonly order: number;
  }[] = [];

  constructor(
    private readonly rng: Prng,
    private readonly clock: WallClock,
    seqStart: Record<string, number>,
  ) {
    this.seq = { ...seqStart };
  }

  next(table: string): number {
    const n = (this.seq[table] ?? 0) + 1;
    this.seq[table] = n;
    return n;
  }

  get sequences(): Record<string, number> {
    return { ...this.seq };
  }

  private ts(ms: number): string {
    return this.clock.text(ms, this.rng.int(0, 999));
  }

  player(registered: number, now: number): Player {
    const rng = this.rng;
    const n = this.next('customers');
    const country = rng.pick(COUNTRIES);
    const p: Player = {
      id: `C${String(n).padStart(7, '0')}`,
      country,
      currency: CURRENCY[country] ?? 'EUR',
      registered,
      balanceCents: 0,
    };
    const modified = Math.min(now - 1000, registered + rng.int(0, 5) * 86_400_000);
    const birthYear = rng.int(1950, 2004);
    const first = rng.pick(['Ana', 'Björn', 'Chloé', 'Dário', 'Émile', 'Fiona', 'Gökhan', 'Hana', 'Jürgen', 'Łucja']);
    this.rows.customers?.push([
      p.id,
      this.ts(registered),
      this.ts(modified),
      country,
      p.currency,
      rng.weighted([
        ['ACTIVE', 90],
        ['BLOCKED', 3],
        ['CLOSED', 4],
        ['SELF_EXCL', 3],
      ]),
      rng.weighted([
        ['OK', 70],
        ['PENDING', 20],
        ['NONE', 8],
        ['FAILED', 2],
      ]),
      rng.weighted([
        [0, 80],
        [1, 12],
        [2, 6],
        [3, 2],
      ]),
      `${first.toLowerCase()}.${n}@example.${rng.pick(['com', 'de', 'se', 'mt'])}`,
      `${birthYear}-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}`,
      first,
      rng.pick(['Borg', 'Schmidt', 'Lindqvist', 'Virtanen', 'Ó Briain', 'Silva', 'Müller']),
      `+356${rng.int(20000000, 99999999)}`,
    ]);
    return p;
  }

  /** One session with its rounds, wallet entries and sometimes a deposit, withdrawal, bonus or RG event. */
  session(p: Player, start: number, end: number): void {
    const rng = this.rng;
    const sessId = this.next('login_sessions');
    const duration = rng.int(2, 90) * 60_000;
    const logout = start + duration;
    const open = logout >= end;
    this.rows.login_sessions?.push([
      sessId,
      p.id,
      this.ts(start),
      open ? null : this.ts(logout),
      rng.pick(PLATFORMS),
      `${rng.int(2, 223)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`,
      rng.pick([
        'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1)',
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64)',
        'CasinoApp/4.2 (Android 15)',
      ]),
    ]);
    let t = start + rng.int(5, 60) * 1000;
    if (p.balanceCents < 2000 || rng.chance(0.3)) this.payment(p, 'DEP', t, end);
    const [game, studio] = rng.pick(GAMES);
    const rounds = rng.int(3, 40);
    for (let i = 0; i < rounds && t < Math.min(logout, end); i++) {
      this.round(p, game, studio, t, end);
      t += rng.int(4, 45) * 1000;
    }
    if (p.balanceCents > 20000 && rng.chance(0.25)) this.payment(p, 'WDR', Math.min(t, end - 1), end);
    if (rng.chance(0.05)) this.bonus(p, Math.min(t, end - 1), end);
    if (rng.chance(0.02)) this.rgEvent(p, Math.min(t + 1000, end - 1));
  }

  payment(p: Player, type: 'DEP' | 'WDR', at: number, end: number): void {
    const rng = this.rng;
    const id = this.next('cashier_transactions');
    const amount = type === 'DEP' ? rng.amountCents(50) : Math.min(p.balanceCents, rng.amountCents(150));
    const pending = at + 3_600_000 > end && rng.chance(0.5);
    const status = pending
      ? 'PENDING'
      : rng.weighted([
          ['APPROVED', 88],
          ['DECLINED', 8],
          ['CANCELLED', 3],
          ['CHARGEBACK', 1],
        ]);
    const modified = pending ? at : Math.min(end - 1, at + rng.int(1, 300) * 1000);
    this.rows.cashier_transactions?.push([
      id,
      p.id,
      type,
      rng.pick(METHODS),
      cents(amount),
      p.currency,
      status,
      this.ts(at),
      this.ts(modified),
      String(rng.int(1000, 9999)),
    ]);
    if (status === 'APPROVED') {
      p.balanceCents += type === 'DEP' ? amount : -amount;
      this.ledger(p, type, type === 'DEP' ? amount : -amount, null, modified);
    }
  }

  round(p: Player, game: string, studio: string, at: number, end: number): void {
    const rng = this.rng;
    const id = `R${String(this.next('game_rounds')).padStart(10, '0')}`;
    const stake = Math.min(
      Math.max(p.balanceCents, 10),
      rng.weighted([
        [10, 30],
        [20, 25],
        [50, 20],
        [100, 15],
        [500, 8],
        [2500, 2],
      ]),
    );
    const bonusStake = rng.chance(0.1) ? Math.floor(stake / 2) : 0;
    // About 31% of rounds win, paying 3.1x the stake on average: a return to player near 96%.
    const win = rng.chance(0.31)
      ? Math.round(
          stake *
            rng.weighted([
              [0.5, 30],
              [1, 25],
              [2, 25],
              [5, 12],
              [10, 6],
              [50, 2],
            ]),
        )
      : 0;
    const settleAt = at + rng.int(2, 30) * 1000;
    const open = settleAt >= end;
    const cancelled = !open && rng.chance(0.01);
    this.rows.game_rounds?.push([
      id,
      p.id,
      game,
      studio,
      cents(stake),
      cents(open || cancelled ? 0 : win),
      cents(bonusStake),
      p.currency,
      open ? 'OPEN' : cancelled ? 'VOID' : 'CLOSED',
      this.ts(at),
      open ? null : this.ts(settleAt),
      this.ts(open ? at : settleAt),
    ]);
    p.balanceCents -= stake - bonusStake;
    this.ledger(p, 'BET', -(stake - bonusStake), id, at);
    if (!open && !cancelled && win > 0) {
      p.balanceCents += win;
      this.ledger(p, 'WIN', win, id, settleAt);
    }
  }

  /**
   * Books a wallet movement. Entries are kept until {@link flushLedger}, which orders them by
   * booking time and computes each player's balance_after in that order: a win settles after the
   * next bet was booked, a payment is booked when approved, so generation order is not ledger order.
   */
  ledger(p: Player, type: string, amount: number, roundId: string | null, at: number): void {
    const micros = this.rng.int(0, 999);
    this.pendingLedger.push({ player: p, type, amount, roundId, at, micros, order: this.pendingLedger.length });
  }

  /**
   * Writes the booked movements as wallet_ledger rows in booking order (ids ascending with it), each
   * balance_after rolling forward from the player's previous one (`opening`, else 0): a consistent
   * ledger, `balance_after[i] = balance_after[i-1] + amount[i]` per player.
   */
  flushLedger(opening: ReadonlyMap<string, number> = new Map()): void {
    const balances = new Map(opening);
    const entries = this.pendingLedger.splice(0);
    entries.sort((a, b) => a.at - b.at || a.micros - b.micros || a.order - b.order);
    for (const e of entries) {
      const balance = (balances.get(e.player.id) ?? 0) + e.amount;
      balances.set(e.player.id, balance);
      this.rows.wallet_ledger?.push([
        this.next('wallet_ledger'),
        e.player.id,
        e.type,
        cents(e.amount),
        cents(balance),
        e.player.currency,
        e.roundId,
        this.clock.text(e.at, e.micros),
      ]);
    }
  }

  bonus(p: Player, at: number, end: number): void {
    const rng = this.rng;
    const amount = rng.pick([1000, 2000, 5000, 10000]);
    const expires = at + 30 * 86_400_000;
    this.rows.bonus_awards?.push([
      this.next('bonus_awards'),
      p.id,
      rng.pick(['deposit_match', 'free_spins', 'cashback', 'reload']),
      cents(amount),
      cents(amount * rng.pick([20, 30, 35])),
      p.currency,
      expires < end ? 'EXPIRED' : rng.pick(['GRANTED', 'ACTIVE', 'DONE']),
      this.ts(at),
      this.ts(expires),
      this.ts(Math.min(end - 1, expires < end ? expires : at)),
    ]);
  }

  rgEvent(p: Player, at: number): void {
    const rng = this.rng;
    const kind = rng.pick(['KYC', 'DEP_LIMIT', 'LOSS_LIMIT', 'SESSION_LIMIT', 'REALITY_CHECK', 'COOL_OFF', 'AML']);
    const detail: Record<string, string> = {
      KYC: 'document verified: passport',
      DEP_LIMIT: `{"period":"monthly","amount":"${rng.pick([200, 500, 1000])}.00"}`,
      LOSS_LIMIT: `{"period":"weekly","amount":"${rng.pick([100, 250])}.00"}`,
      SESSION_LIMIT: '{"minutes":120}',
      REALITY_CHECK: 'acknowledged after 60 min',
      COOL_OFF: '7 days',
      AML: 'source of funds requested',
    };
    this.rows.rg_events?.push([this.next('rg_events'), p.id, kind, detail[kind] ?? null, this.ts(at)]);
  }
}

// ---------------------------------------------------------------------------------------------
// Database access (the dialects' differences in local/sql-session.ts; the DDL below).

interface Db {
  readonly engine: Engine;
  exec(sql: string): Promise<void>;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  insert(table: string, columns: readonly string[], rows: readonly Row[]): Promise<void>;
  close(): Promise<void>;
}

async function connect(engine: Engine, url: string, schema: string): Promise<Db> {
  const session = await openSqlSession(
    engine,
    url,
    engine === 'postgres' ? { applicationName: 'igaming-connector/synthetic' } : { charset: 'utf8mb4' },
  );
  return {
    engine,
    exec: (sql) => session.exec(sql),
    query: (sql, params) => session.rows(sql, params),
    insert: (table, columns, rows) => session.insert(`${session.q(schema)}.${session.q(table)}`, columns, rows, 2000),
    close: () => session.close(),
  };
}

function ddl(engine: Engine, schema: string, table: Table): string[] {
  const q = engine === 'postgres' ? (s: string) => `"${s}"` : (s: string) => `\`${s}\``;
  const cols = table.columns.map((col) => `${q(col.name)} ${engine === 'postgres' ? col.pg : col.mysql}`);
  const suffix = engine === 'mysql' ? ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin' : '';
  return [
    `CREATE TABLE ${q(schema)}.${q(table.name)} (${cols.join(', ')})${suffix}`,
    `CREATE INDEX ${q(`${table.name}_${table.cursor}_idx`)} ON ${q(schema)}.${q(table.name)} (${q(table.cursor)}, ${q(table.key)})`,
  ];
}

const STATE_TABLE = '_synthetic_state';

async function loadState(db: Db, schema: string): Promise<{ seq: Record<string, number>; step: number }> {
  const q = db.engine === 'postgres' ? `"${schema}"."${STATE_TABLE}"` : `\`${schema}\`.\`${STATE_TABLE}\``;
  const rows = await db.query<{ state: string | object }>(`SELECT state FROM ${q}`);
  const raw = rows[0]?.state;
  if (raw === undefined) throw new Error(`schema ${schema} was not created by the synthetic operator generator`);
  return typeof raw === 'string' ? JSON.parse(raw) : (raw as { seq: Record<string, number>; step: number });
}

async function saveState(db: Db, schema: string, state: { seq: Record<string, number>; step: number }): Promise<void> {
  const q = db.engine === 'postgres' ? `"${schema}"."${STATE_TABLE}"` : `\`${schema}\`.\`${STATE_TABLE}\``;
  await db.exec(`DELETE FROM ${q}`);
  await db.query(`INSERT INTO ${q} (state) VALUES (${db.engine === 'postgres' ? '$1' : '?'})`, [JSON.stringify(state)]);
}

async function writeRows(db: Db, rows: Rows): Promise<void> {
  for (const table of TABLES) {
    const data = rows[table.name] ?? [];
    if (data.length > 0)
      await db.insert(
        table.name,
        table.columns.map((col) => col.name),
        data,
      );
  }
}

function count(rows: Rows): TableCounts {
  return Object.fromEntries(Object.entries(rows).map(([t, r]) => [t, r.length]));
}

/**
 * Creates (or re-creates) the operator schema and fills it with `days` of history ending at `now`.
 * Returns the number of rows written per table.
 */
export async function createSyntheticOperator(opts: SyntheticOptions): Promise<TableCounts> {
  const seed = opts.seed ?? 42;
  const players = opts.players ?? 500;
  const days = opts.days ?? 90;
  const now = (opts.now ?? new Date()).getTime();
  const clock = new WallClock(opts.timeZone ?? 'Europe/Malta');
  const rng = new Prng(seed);
  const db = await connect(opts.engine, opts.url, opts.schema);
  try {
    const q = opts.engine === 'postgres' ? `"${opts.schema}"` : `\`${opts.schema}\``;
    if (opts.engine === 'postgres') {
      await db.exec(`DROP SCHEMA IF EXISTS ${q} CASCADE`);
      await db.exec(`CREATE SCHEMA ${q}`);
    } else {
      await db.exec(`DROP DATABASE IF EXISTS ${q}`);
      await db.exec(`CREATE DATABASE ${q} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    }
    for (const table of TABLES) for (const stmt of ddl(opts.engine, opts.schema, table)) await db.exec(stmt);
    await db.exec(
      `CREATE TABLE ${q}.${opts.engine === 'postgres' ? `"${STATE_TABLE}"` : `\`${STATE_TABLE}\``} (state text)`,
    );

    const activity = new Activity(rng, clock, {});
    const start = now - days * 86_400_000;
    const roster: Player[] = [];
    for (let i = 0; i < players; i++) {
      // A fifth of the players registered before the history window.
      const registered = rng.chance(0.2)
        ? start - rng.int(1, 365) * 86_400_000
        : start + Math.floor(rng.next() * (now - start - 3_600_000));
      roster.push(activity.player(registered, now));
    }
    // Sessions in time order so wallet balances run forward.
    const sessions: [Player, number][] = [];
    for (const p of roster) {
      const from = Math.max(p.registered, start);
      const n = rng.int(2, 14);
      for (let i = 0; i < n; i++) sessions.push([p, from + Math.floor(rng.next() * (now - from))]);
    }
    sessions.sort((a, b) => a[1] - b[1]);
    for (const [p, at] of sessions) activity.session(p, at, now);
    activity.flushLedger();
    await writeRows(db, activity.rows);
    await saveState(db, opts.schema, { seq: activity.sequences, step: 0 });
    return count(activity.rows);
  } finally {
    await db.close();
  }
}

export interface AdvanceOptions extends SyntheticOptions {
  /** The previous end of time; new activity happens in [from, to). */
  readonly from: Date;
  readonly to: Date;
  /**
   * Also insert one late-committed row: a payment whose cursor is `lateByMs` before `from`
   * (an incremental run that already passed that point must catch it through its lookback).
   */
  readonly lateByMs?: number;
}

export interface AdvanceResult {
  readonly inserted: TableCounts;
  /** Rows updated per table (their cursor moved forward). */
  readonly updated: TableCounts;
  /** Key of the late-committed payment, if any. */
  readonly lateKey?: string;
}

/** Moves time forward: new players and activity, status updates on existing rows, and a late row. */
export async function advanceSyntheticOperator(opts: AdvanceOptions): Promise<AdvanceResult> {
  const db = await connect(opts.engine, opts.url, opts.schema);
  try {
    const state = await loadState(db, opts.schema);
    const step = state.step + 1;
    const rng = new Prng(((opts.seed ?? 42) * 7919 + step) >>> 0);
    const clock = new WallClock(opts.timeZone ?? 'Europe/Malta');
    const from = opts.from.getTime();
    const to = opts.to.getTime();
    const activity = new Activity(rng, clock, state.seq);
    const q =
      opts.engine === 'postgres'
        ? (s: string) => `"${opts.schema}"."${s}"`
        : (s: string) => `\`${opts.schema}\`.\`${s}\``;
    const p = (i: number) => (opts.engine === 'postgres' ? `$${i}` : '?');

    // Players whose ledger already runs past `from` (an earlier step overlapping this one) sit this
    // step out, so every player's new entries follow their last one and the balances chain on.
    const fromText = clock.text(from);
    const busy = new Set(
      (
        await db.query<{ customer_id: string }>(
          `SELECT DISTINCT customer_id FROM ${q('wallet_ledger')} WHERE booked_ts >= ${p(1)}`,
          [fromText],
        )
      ).map((r) => String(r.customer_id)),
    );
    const opening = new Map(
      (
        await db.query<{ customer_id: string; balance: string | number }>(
          `SELECT customer_id, balance FROM (SELECT customer_id, balance, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY booked_ts DESC, entry_id DESC) AS rn FROM ${q('wallet_ledger')}) AS last_entry WHERE rn = 1`,
        )
      ).map((r) => [String(r.customer_id), Math.round(Number(r.balance) * 100)]),
    );
    const existing = (
      await db.query<{ customer_id: string; country_code: string; currency_code: string }>(
        `SELECT customer_id, country_code, currency_code FROM ${q('customers')} ORDER BY customer_id LIMIT 200`,
      )
    ).filter((r) => !busy.has(String(r.customer_id)));
    const roster: Player[] = existing.map((r) => ({
      id: r.customer_id,
      country: r.country_code,
      currency: r.currency_code,
      registered: from - 86_400_000,
      balanceCents: opening.get(String(r.customer_id)) ?? 0,
    }));
    const newPlayers = Math.max(1, Math.round(roster.length / 50));
    for (let i = 0; i < newPlayers; i++) roster.push(activity.player(from + Math.floor(rng.next() * (to - from)), to));
    const sessionCount = Math.max(3, Math.round(roster.length / 10));
    const starts = Array.from({ length: sessionCount }, () => from + Math.floor(rng.next() * (to - from) * 0.8)).sort(
      (a, b) => a - b,
    );
    for (const at of starts) activity.session(rng.pick(roster), at, to);

    let lateKey: string | undefined;
    if (opts.lateByMs && roster[0]) {
      const p0 = roster[0];
      const id = activity.next('cashier_transactions');
      lateKey = String(id);
      const at = from - opts.lateByMs;
      activity.rows.cashier_transactions?.push([
        id,
        p0.id,
        'DEP',
        'bank_transfer',
        '250.00',
        p0.currency,
        'APPROVED',
        clock.text(at - 60_000),
        clock.text(at),
        null,
      ]);
    }
    activity.flushLedger(opening);
    await writeRows(db, activity.rows);

    // Updates: pending payments settle, open rounds close, a few players change KYC state.
    const touch = clock.text(to - 1000);
    const updated: Record<string, number> = {};
    const pending = await db.query<{ txn_id: string | number }>(
      `SELECT txn_id FROM ${q('cashier_transactions')} WHERE txn_status = 'PENDING' ORDER BY txn_id LIMIT 20`,
    );
    for (const r of pending) {
      await db.query(
        `UPDATE ${q('cashier_transactions')} SET txn_status = 'APPROVED', modified_ts = ${p(1)} WHERE txn_id = ${p(2)}`,
        [touch, r.txn_id],
      );
    }
    updated.cashier_transactions = pending.length;
    const open = await db.query<{ round_id: string }>(
      `SELECT round_id FROM ${q('game_rounds')} WHERE round_state = 'OPEN' ORDER BY round_id LIMIT 50`,
    );
    for (const r of open) {
      await db.query(
        `UPDATE ${q('game_rounds')} SET round_state = 'CLOSED', settled_ts = ${p(1)}, modified_ts = ${p(2)} WHERE round_id = ${p(3)}`,
        [touch, touch, r.round_id],
      );
    }
    updated.game_rounds = open.length;
    const kyc = await db.query<{ customer_id: string }>(
      `SELECT customer_id FROM ${q('customers')} WHERE kyc_state = 'PENDING' ORDER BY customer_id LIMIT 5`,
    );
    for (const r of kyc) {
      await db.query(
        `UPDATE ${q('customers')} SET kyc_state = 'OK', modified_ts = ${p(1)} WHERE customer_id = ${p(2)}`,
        [touch, r.customer_id],
      );
    }
    updated.customers = kyc.length;

    await saveState(db, opts.schema, { seq: activity.sequences, step });
    return { inserted: count(activity.rows), updated, ...(lateKey ? { lateKey } : {}) };
  } finally {
    await db.close();
  }
}

/**
 * Adds `count` players whose cursor (`customers.modified_ts`) is NULL, as a back office without a
 * default or trigger on that column ends up with: copies of the first players (at most as many as
 * there are) under new ids (`N0000001`, …), the column made nullable first. No snapshot window or
 * incremental range holds them, so the connector cannot land them and reports them instead.
 * Returns the ids of every player whose cursor is NULL.
 */
export async function addNullCursorPlayers(
  opts: Pick<SyntheticOptions, 'engine' | 'url' | 'schema'>,
  count: number,
): Promise<string[]> {
  const db = await connect(opts.engine, opts.url, opts.schema);
  try {
    const q = opts.engine === 'postgres' ? (s: string) => `"${s}"` : (s: string) => `\`${s}\``;
    const table = `${q(opts.schema)}.${q('customers')}`;
    await db.exec(
      opts.engine === 'postgres'
        ? `ALTER TABLE ${table} ALTER COLUMN modified_ts DROP NOT NULL`
        : `ALTER TABLE ${table} MODIFY modified_ts datetime(6) NULL`,
    );
    const columns = (TABLES.find((t) => t.name === 'customers')?.columns ?? []).map((c) => c.name);
    const copied = columns.filter((c) => c !== 'customer_id' && c !== 'modified_ts');
    const n = Math.max(0, Math.floor(count));
    const rank = 'ROW_NUMBER() OVER (ORDER BY customer_id)';
    const id =
      opts.engine === 'postgres' ? `'N' || lpad((${rank})::text, 7, '0')` : `CONCAT('N', LPAD(${rank}, 7, '0'))`;
    // Copied in SQL, so every value keeps its exact database form.
    await db.exec(
      `INSERT INTO ${table} (customer_id, modified_ts, ${copied.map(q).join(', ')})
       SELECT ${id}, NULL, ${copied.map(q).join(', ')} FROM ${table} WHERE customer_id NOT LIKE 'N%' ORDER BY customer_id LIMIT ${n}`,
    );
    const ids = (
      await db.query<{ customer_id: string }>(
        `SELECT customer_id FROM ${table} WHERE modified_ts IS NULL ORDER BY customer_id`,
      )
    ).map((r) => String(r.customer_id));
    return ids;
  } finally {
    await db.close();
  }
}

export interface SyntheticConfigOptions {
  readonly engine: Engine;
  /** Connection URL of the database the extractor reads (only host, port and database are used). */
  readonly url: string;
  readonly schema: string;
  /** @default 'synthetic-casino' */
  readonly operatorId?: string;
  /** @default Europe/Malta */
  readonly timeZone?: string;
}

/**
 * The operator config matching the synthetic database: the mapping of
 * config/operators/acme-casino.yaml (whose native names the generator uses), pointed at the
 * given database, sandbox stage, TLS off (a local server).
 */
export function syntheticOperatorConfig(opts: SyntheticConfigOptions): Record<string, unknown> {
  const base = parse(readFileSync(new URL('../config/operators/acme-casino.yaml', import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;
  const url = new URL(opts.url);
  const source = base.source as Record<string, unknown>;
  return {
    ...base,
    operatorId: opts.operatorId ?? 'synthetic-casino',
    displayName: 'Synthetic Casino',
    stage: 'sandbox',
    source: {
      type: opts.engine,
      host: url.hostname,
      port: Number(url.port || (opts.engine === 'postgres' ? 5432 : 3306)),
      database: opts.engine === 'postgres' ? decodeURIComponent(url.pathname.slice(1)) || 'postgres' : opts.schema,
      ...(opts.engine === 'postgres' ? { schema: opts.schema } : {}),
      tls: 'disable',
      timeZone: opts.timeZone ?? 'Europe/Malta',
      // The generated tables are utf8mb4_bin on MySQL: case-sensitive, PAD SPACE.
      keyComparison:
        opts.engine === 'mysql'
          ? { caseInsensitive: false, padSpace: true }
          : { caseInsensitive: false, padSpace: false },
      network: source.network,
    },
  };
}
