/** Operator configs and source batches shared by the mapping tests and the throughput script. */
import { randomBytes } from 'node:crypto';
import { type OperatorConfig, type OperatorConfigInput, operatorConfigSchema } from '#shared/config/schema';
import type { SourceColumn, SourceKind } from '#shared/types';

/** A valid PostgreSQL operator in Europe/Malta, with the given streams. */
export function operatorConfig(
  streams: OperatorConfigInput['streams'],
  overrides: { timeZone?: string; operatorId?: string } = {},
): OperatorConfig {
  return operatorConfigSchema.parse({
    operatorId: overrides.operatorId ?? 'acme-casino',
    displayName: 'Acme Casino Ltd',
    stage: 'sandbox',
    account: '111111111111',
    region: 'eu-west-1',
    source: {
      type: 'postgres',
      host: 'db.example.com',
      database: 'backoffice',
      timeZone: overrides.timeZone ?? 'Europe/Malta',
      network: { mode: 'created' },
    },
    streams,
  });
}

export const GAME_ROUNDS_STREAM = {
  table: 'game_rounds',
  columns: {
    round_id: 'round_id',
    player_id: 'customer_id',
    game_id: 'game_code',
    provider: 'studio',
    stake: { column: 'bet_amount', precision: 18, scale: 2 },
    payout: { column: 'win_amount', precision: 18, scale: 2 },
    bonus_stake: { column: 'bonus_bet_amount', precision: 18, scale: 2 },
    currency: 'currency_code',
    status: { column: 'round_state', values: { OPEN: 'open', CLOSED: 'settled', VOID: 'cancelled' } },
    started_at: 'started_ts',
    settled_at: 'settled_ts',
    updated_at: 'modified_ts',
  },
} as const;

export function col(name: string, kind: SourceKind, sourceType: string = kind): SourceColumn {
  return { name, kind, sourceType };
}

export const GAME_ROUNDS_COLUMNS: readonly SourceColumn[] = [
  col('round_id', 'text', 'character varying(24)'),
  col('customer_id', 'text', 'character varying(16)'),
  col('game_code', 'text', 'character varying(32)'),
  col('studio', 'text', 'character varying(32)'),
  col('bet_amount', 'decimal', 'numeric(18,2)'),
  col('win_amount', 'decimal', 'numeric(18,2)'),
  col('bonus_bet_amount', 'decimal', 'numeric(18,2)'),
  col('currency_code', 'text', 'character(3)'),
  col('round_state', 'text', 'character varying(8)'),
  col('started_ts', 'timestamp', 'timestamp without time zone'),
  col('settled_ts', 'timestamp', 'timestamp without time zone'),
  col('modified_ts', 'timestamp', 'timestamp without time zone'),
];

const GAMES = ['starburst', 'book-of-dead', 'sweet-bonanza', 'lightning-roulette'];
const STUDIOS = ['NetEnt', "Play'n GO", 'Pragmatic Play', 'Evolution'];
const STATES = ['OPEN', 'CLOSED', 'CLOSED', 'CLOSED', 'VOID'];

function wall(ms: number, micros: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}.${String(micros).padStart(6, '0')}`;
}

/** `n` game rounds of ~5,000 players over ~30 days of Malta wall-clock time, deterministic. */
export function gameRoundRows(n: number): (string | null)[][] {
  const rows: (string | null)[][] = new Array(n);
  const start = Date.UTC(2024, 2, 1);
  for (let i = 0; i < n; i++) {
    const at = start + i * 5_000;
    const stake = 10 + (i % 997) * 5;
    const state = STATES[i % STATES.length]!;
    rows[i] = [
      `R${String(i).padStart(10, '0')}`,
      `C${(i * 7919) % 5000}`,
      GAMES[i % GAMES.length]!,
      STUDIOS[i % STUDIOS.length]!,
      `${Math.floor(stake / 100)}.${String(stake % 100).padStart(2, '0')}`,
      i % 3 === 0 ? `${Math.floor((stake * 2) / 100)}.${String((stake * 2) % 100).padStart(2, '0')}` : '0.00',
      i % 10 === 0 ? '0.50' : '0.00',
      'EUR',
      state,
      wall(at, (i * 37) % 1_000_000),
      state === 'OPEN' ? null : wall(at + 3_000, 123456),
      wall(at + 3_000, 654321),
    ];
  }
  return rows;
}

export const TEST_KEY = randomBytes(32);
