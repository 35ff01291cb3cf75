/**
 * Proposes how an operator's tables map onto the canonical streams, from names and types alone:
 * table and column names are split into words, common synonyms are folded (customer → player,
 * modified → updated, amt → amount, …) and each canonical field takes the column whose words
 * match it best; the key is the table's primary key and the cursor a timestamp column, preferably
 * indexed. Enumeration values are matched the same way. The result is a starting point a person
 * reviews, never applied unseen.
 */
import {
  CANONICAL_STREAMS,
  type CanonicalField,
  STREAM_NAMES,
  type StreamName,
  UNMAPPED_VALUE,
} from '#shared/canonical';
import { isCompatible } from '#shared/mapping/coerce';
import { type CatalogColumn, type CatalogTable, hasLeadingIndex, isTimeKind } from './catalog.ts';

/** Words folded onto one canonical word wherever they appear. */
const WORD_SYNONYMS: Record<string, string> = {
  customer: 'player',
  customers: 'player',
  cust: 'player',
  user: 'player',
  users: 'player',
  member: 'player',
  members: 'player',
  punter: 'player',
  players: 'player',
  account: 'player',
  accounts: 'player',
  modified: 'updated',
  modify: 'updated',
  changed: 'updated',
  mod: 'updated',
  upd: 'updated',
  update: 'updated',
  lastmod: 'updated',
  ts: 'at',
  time: 'at',
  timestamp: 'at',
  datetime: 'at',
  dt: 'at',
  date: 'at',
  on: 'at',
  amt: 'amount',
  amnt: 'amount',
  ccy: 'currency',
  curr: 'currency',
  cur: 'currency',
  state: 'status',
  stat: 'status',
  mail: 'email',
  sess: 'session',
  sessions: 'session',
  start: 'started',
  begin: 'started',
  end: 'ended',
  finished: 'ended',
  txn: 'txn',
  trans: 'txn',
  tx: 'txn',
  transaction: 'txn',
  transactions: 'txn',
  payments: 'payment',
  rounds: 'round',
  games: 'game',
  bonuses: 'bonus',
  awards: 'award',
  events: 'event',
  identifier: 'id',
  no: 'id',
  num: 'id',
};

/**
 * Per canonical field, alternatives in order of preference: each is a set of (folded) words that
 * must all appear in the column name.
 */
const FIELD_WORDS: Record<string, readonly (readonly string[])[]> = {
  player_id: [['player', 'id'], ['player']],
  registered_at: [['registered'], ['signup'], ['registration'], ['register'], ['joined'], ['created']],
  updated_at: [['updated'], ['last', 'change']],
  country: [['country'], ['cntry'], ['nation']],
  currency: [['currency']],
  status: [['status']],
  kyc_status: [['kyc', 'status'], ['kyc'], ['verification', 'status']],
  vip_level: [['vip'], ['tier'], ['loyalty'], ['level']],
  email: [['email']],
  birth_date: [['birth'], ['dob'], ['birthday'], ['born']],
  affiliate_id: [['affiliate'], ['aff'], ['btag'], ['campaign']],
  session_id: [['session', 'id'], ['id']],
  started_at: [['started'], ['login'], ['opened']],
  ended_at: [['ended'], ['logout'], ['closed']],
  device: [['device'], ['platform'], ['channel'], ['client']],
  ip: [['ip'], ['address']],
  payment_id: [['payment', 'id'], ['txn', 'id'], ['id']],
  direction: [['direction'], ['dir'], ['txn', 'type'], ['type'], ['kind']],
  method: [['method'], ['psp'], ['provider'], ['channel']],
  amount: [['amount'], ['value'], ['sum']],
  created_at: [['created'], ['requested'], ['inserted'], ['booked'], ['posted']],
  transaction_id: [['txn', 'id'], ['entry', 'id'], ['ledger', 'id'], ['id']],
  type: [['type'], ['kind'], ['category']],
  balance_after: [['balance', 'after'], ['balance']],
  round_id: [['round', 'id'], ['round'], ['id']],
  game_id: [['game', 'id'], ['game', 'code'], ['game']],
  provider: [['provider'], ['studio'], ['vendor'], ['supplier']],
  stake: [['stake'], ['bet', 'amount'], ['bet'], ['wager']],
  payout: [['payout'], ['win', 'amount'], ['win'], ['winnings'], ['won']],
  bonus_stake: [
    ['bonus', 'stake'],
    ['bonus', 'bet'],
    ['bonus', 'wager'],
  ],
  settled_at: [['settled'], ['closed'], ['ended'], ['resolved']],
  bonus_id: [['bonus', 'id'], ['award', 'id'], ['promo', 'id'], ['reward', 'id'], ['id']],
  wagering_requirement: [['wagering'], ['wager'], ['rollover'], ['playthrough'], ['wr']],
  granted_at: [['granted'], ['awarded'], ['issued'], ['created']],
  expires_at: [['expires'], ['expiry'], ['expiration'], ['valid', 'until']],
  event_id: [['event', 'id'], ['id']],
  kind: [['kind'], ['event', 'type'], ['type']],
  value: [['value'], ['detail'], ['details'], ['data'], ['info'], ['description']],
  occurred_at: [['occurred'], ['event', 'at'], ['happened'], ['created']],
};

/** Words in table names that point at a stream. */
const STREAM_WORDS: Record<StreamName, readonly string[]> = {
  players: ['player', 'profile'],
  sessions: ['session', 'login', 'logins'],
  payments: ['payment', 'cashier', 'deposit', 'deposits', 'withdrawal', 'withdrawals'],
  wallet_transactions: ['wallet', 'ledger', 'balance'],
  game_rounds: ['round', 'game', 'spin', 'spins', 'bet', 'bets', 'casino'],
  bonuses: ['bonus', 'award', 'promo', 'promotion', 'promotions', 'reward', 'rewards'],
  compliance_events: ['rg', 'compliance', 'responsible', 'limit', 'limits', 'exclusion', 'aml', 'kyc', 'event'],
};

/** Operator values (normalized) that mean a canonical value. */
const VALUE_SYNONYMS: Record<string, readonly string[]> = {
  active: ['enabled', 'open'],
  suspended: ['blocked', 'block', 'locked', 'frozen', 'disabled', 'suspend'],
  closed: ['deleted', 'terminated', 'close'],
  self_excluded: ['self_excl', 'selfexcl', 'self_exclusion', 'excluded', 'se'],
  none: ['no', 'not_started', 'new', 'unverified'],
  pending: ['waiting', 'processing', 'in_progress', 'review', 'pend', 'requested'],
  verified: ['ok', 'passed', 'approved', 'done', 'success', 'valid'],
  rejected: ['failed', 'fail', 'denied', 'declined', 'invalid'],
  deposit: ['dep', 'deposit_in', 'in'],
  withdrawal: ['wdr', 'withdraw', 'wd', 'out', 'cashout'],
  approved: ['ok', 'success', 'successful', 'completed', 'done', 'paid', 'accepted', 'settled'],
  declined: ['failed', 'fail', 'rejected', 'denied', 'error'],
  cancelled: ['canceled', 'cancel', 'void', 'voided', 'aborted'],
  refunded: ['refund', 'reversed'],
  chargeback: ['cb', 'disputed'],
  bet: ['stake', 'wager', 'debit'],
  win: ['payout', 'won', 'credit'],
  bonus_credit: ['bonus_in', 'bonus'],
  bonus_debit: ['bonus_out', 'bonus_expired', 'bonus_forfeit'],
  refund: ['rollback', 'reversal'],
  adjustment: ['adj', 'correction', 'manual'],
  open: ['pending', 'running', 'started', 'active'],
  settled: ['closed', 'finished', 'complete', 'completed', 'resolved', 'done'],
  granted: ['awarded', 'issued', 'new'],
  completed: ['done', 'finished', 'released', 'wagered', 'complete'],
  expired: ['expire', 'lapsed'],
  forfeited: ['forfeit', 'lost', 'revoked'],
  kyc: ['verification', 'identity'],
  self_exclusion: ['self_excl', 'selfexclusion', 'exclusion', 'se'],
  cool_off: ['cooloff', 'time_out', 'timeout', 'break'],
  deposit_limit: ['dep_limit', 'dl'],
  loss_limit: ['lossl'],
  session_limit: ['time_limit'],
  reality_check: ['rc'],
  aml_alert: ['aml', 'suspicious', 'sar'],
};

/** Lower-case words of an identifier (snake_case, camelCase, kebab-case), synonyms folded. */
export function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '')
    .map((w) => WORD_SYNONYMS[w] ?? w);
}

/** How well a column name matches a field: 0 (no) to 1 (exactly), earlier alternatives first. */
export function fieldScore(field: string, column: string): number {
  const colWords = words(column);
  if (column.toLowerCase() === field) return 1.5;
  const alternatives = FIELD_WORDS[field] ?? [words(field)];
  let best = 0;
  alternatives.forEach((alt, i) => {
    if (alt.every((w) => colWords.includes(w))) {
      best = Math.max(best, alt.length / colWords.length - i * 0.01);
    }
  });
  return best;
}

function typeFits(field: CanonicalField, column: CatalogColumn): boolean {
  if (field.type.kind === 'timestamp' || field.type.kind === 'date') return isTimeKind(column.kind);
  if (field.money) return column.kind === 'decimal' || column.kind === 'integer';
  if (field.type.kind === 'int32' || field.type.kind === 'int64') return column.kind === 'integer';
  return isCompatible(column.kind, field.type);
}

/** A proposed mapping of one field. */
export interface ProposedField {
  readonly field: string;
  readonly column: string;
  readonly score: number;
}

/** A proposed stream: the table and the column of each field that could be matched. */
export interface ProposedStream {
  readonly stream: StreamName;
  readonly table: CatalogTable;
  readonly fields: readonly ProposedField[];
  readonly score: number;
  /** Things a person should look at (a guessed key, an unindexed cursor, …). */
  readonly notes: readonly string[];
}

function tableScore(stream: StreamName, table: CatalogTable): number {
  const w = words(table.name);
  const hits = STREAM_WORDS[stream].filter((s) => w.includes(s)).length;
  return hits > 0 ? 1 : 0;
}

/** Maps one table onto one stream, or explains why it cannot. */
export function proposeStream(stream: StreamName, table: CatalogTable): ProposedStream | undefined {
  const canonical = CANONICAL_STREAMS[stream];
  const notes: string[] = [];
  const used = new Set<string>();
  const chosen = new Map<string, ProposedField>();
  // The key is the primary key when it is a single column.
  if (table.primaryKey.length === 1) {
    const pk = table.primaryKey[0]!;
    chosen.set(canonical.primaryKey, { field: canonical.primaryKey, column: pk, score: 1 });
    used.add(pk);
  }
  const candidates: ProposedField[] = [];
  for (const field of canonical.fields) {
    if (chosen.has(field.name)) continue;
    for (const column of table.columns) {
      if (used.has(column.name) || !typeFits(field, column)) continue;
      let score = fieldScore(field.name, column.name);
      if (score <= 0) continue;
      // The cursor should be indexed: prefer a timestamp column an index starts with.
      if (field.name === canonical.cursor && hasLeadingIndex(table, column.name)) score += 0.3;
      if (field.name === canonical.primaryKey && column.nullable) score -= 0.5;
      if (score > 0) candidates.push({ field: field.name, column: column.name, score });
    }
  }
  candidates.sort((a, b) => b.score - a.score);
  for (const c of candidates) {
    if (chosen.has(c.field) || used.has(c.column)) continue;
    chosen.set(c.field, c);
    used.add(c.column);
  }
  const required = canonical.fields.filter((f) => !f.nullable).map((f) => f.name);
  if (!required.every((f) => chosen.has(f))) return undefined;
  if (table.primaryKey.length !== 1) {
    notes.push(
      table.primaryKey.length === 0
        ? `${table.name} has no primary key: check that ${chosen.get(canonical.primaryKey)?.column} is unique and NOT NULL`
        : `${table.name} has a composite primary key (${table.primaryKey.join(', ')}): the connector needs one unique column`,
    );
  }
  const cursor = chosen.get(canonical.cursor)!.column;
  if (!hasLeadingIndex(table, cursor)) {
    notes.push(`no index starts with the cursor ${cursor}: \`connector check\` prints the CREATE INDEX to ask for`);
  }
  const fields = canonical.fields.flatMap((f) => {
    const c = chosen.get(f.name);
    return c ? [c] : [];
  });
  const coverage = fields.length / canonical.fields.length;
  return { stream, table, fields, score: tableScore(stream, table) + coverage, notes };
}

/** Picks at most one table per stream and one stream per table, best matches first. */
export function proposeStreams(tables: readonly CatalogTable[]): ProposedStream[] {
  const all: ProposedStream[] = [];
  for (const stream of STREAM_NAMES) {
    for (const table of tables) {
      const p = proposeStream(stream, table);
      // A table whose name does not point at the stream needs most fields to match.
      if (p && (tableScore(stream, table) > 0 || p.score >= 0.6)) all.push(p);
    }
  }
  all.sort((a, b) => b.score - a.score);
  const streams = new Set<StreamName>();
  const used = new Set<string>();
  const out: ProposedStream[] = [];
  for (const p of all) {
    const id = `${p.table.schema}.${p.table.name}`;
    if (streams.has(p.stream) || used.has(id)) continue;
    streams.add(p.stream);
    used.add(id);
    out.push(p);
  }
  return out.sort((a, b) => STREAM_NAMES.indexOf(a.stream) - STREAM_NAMES.indexOf(b.stream));
}

const normalizeValue = (v: string) =>
  v
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '');

/**
 * The canonical value an operator value most likely means, or `unmapped`: the same value, then a
 * known synonym, then a canonical value that starts with it (or it with the canonical value).
 */
export function proposeValue(field: CanonicalField, value: string): string {
  const values = (field.values ?? []).filter((v) => v !== UNMAPPED_VALUE);
  const v = normalizeValue(value);
  const exact = values.find((c) => c === v);
  if (exact) return exact;
  const synonym = values.find((c) => (VALUE_SYNONYMS[c] ?? []).includes(v));
  if (synonym) return synonym;
  if (v.length >= 3) {
    const prefix = values.find((c) => c.startsWith(v) || v.startsWith(c));
    if (prefix) return prefix;
  }
  return UNMAPPED_VALUE;
}
