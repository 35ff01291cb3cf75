/**
 * The wallet ledger audit: for every player (and currency), consecutive entries of the
 * `wallet_transactions` serving table must roll forward,
 *
 *     balance_after[i] = balance_after[i-1] + delta(type[i], amount[i])
 *
 * where the ledger order is `created_at`, then the cursor at full precision (`_cursor_us`, when the
 * stream's cursor is `created_at`), then the transaction id (shorter first, so numeric ids sort as
 * numbers), and `delta` follows the direction of the entry's canonical type (config
 * `walletLedger.directions`, defaults in {@link DEFAULT_WALLET_DIRECTIONS}):
 *
 * - `credit`: `+abs(amount)` (the balance goes up, whatever sign the operator books the amount with);
 * - `debit`: `-abs(amount)`;
 * - `signed`: `amount` as booked (adjustments, unmapped types).
 *
 * A break (an entry whose balance is not its predecessor's plus its delta) means a ledger entry is
 * missing, duplicated, or mapped to the wrong type: what the operator calls a wallet discrepancy.
 * The first entry of a chain has no predecessor in the table and is not checked.
 *
 * After each publish that merged wallet entries, the players those entries belong to are audited
 * with one Athena statement ({@link walletAuditStatement}) over the serving table: window
 * functions, exact DECIMAL arithmetic, Trino SQL that DuckDB also runs. Its rows are the breaks
 * (up to {@link WalletLedgerSettings.maxExamples}), each carrying the total count; they are stored
 * as a KMS-encrypted JSON object under `_integrity/wallet/` for on-call, never logged and never
 * returned to the state machine: only the count is.
 */
import { CANONICAL_STREAMS } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import {
  DEFAULT_WALLET_DIRECTIONS,
  WALLET_TYPES,
  type WalletDirection,
  walletLedgerSettings,
} from '../config/wallet-ledger.ts';
import type { MergeSource } from '../contracts/steps.ts';
import { sourcePlan } from '../extract/source-plan.ts';
import { type LandedColumn, landedColumns } from '../landed-schema.ts';
import { ident, literal, qualified } from '../serving/sql.ts';
import { servingTableName } from '../serving/tables.ts';

export {
  DEFAULT_MAX_EXAMPLES,
  DEFAULT_WALLET_DIRECTIONS,
  WALLET_DIRECTIONS,
  WALLET_TYPES,
  type WalletDirection,
  type WalletLedgerSettings,
  walletLedgerMissingColumns,
  walletLedgerSettings,
} from '../config/wallet-ledger.ts';

/** The signed change an entry makes to the balance, in SQL: `delta` per {@link WalletDirection}. */
export function deltaExpression(directions: Readonly<Record<string, WalletDirection>>, alias = 'w'): string {
  const type = `${alias}.${ident('type')}`;
  const amount = `${alias}.${ident('amount')}`;
  const byDirection = (d: WalletDirection) =>
    WALLET_TYPES.filter((t) => (directions[t] ?? 'signed') === d).map(literal);
  const credit = byDirection('credit');
  const debit = byDirection('debit');
  const whens = [
    ...(credit.length > 0 ? [`WHEN ${type} IN (${credit.join(', ')}) THEN abs(${amount})`] : []),
    ...(debit.length > 0 ? [`WHEN ${type} IN (${debit.join(', ')}) THEN -abs(${amount})`] : []),
  ];
  return whens.length === 0 ? amount : `CASE ${whens.join(' ')} ELSE ${amount} END`;
}

/** The ledger order as an SQL `ORDER BY` list (see the module doc). */
export function ledgerOrder(config: OperatorConfig, alias = 'w'): string {
  const col = (name: string) => `${alias}.${ident(name)}`;
  const order = [col('created_at')];
  if (config.source.type !== 'files') {
    const plan = sourcePlan(config, 'wallet_transactions');
    const created = config.streams.wallet_transactions?.columns.created_at;
    const createdColumn = typeof created === 'string' ? created : created?.column;
    // `_cursor_us` is the cursor at microseconds: a finer created_at only when the cursor is created_at.
    if (createdColumn !== undefined && plan.cursorColumn === createdColumn) order.push(col('_cursor_us'));
  }
  order.push(`length(${col('transaction_id')})`, col('transaction_id'));
  return order.join(', ');
}

export interface WalletAuditInput {
  readonly config: OperatorConfig;
  /** The operator's Glue database. */
  readonly database: string;
  /** The committed windows whose players are audited (each as a publish batch names them). */
  readonly sources: readonly MergeSource[];
  /** @default the operator's `walletLedger.maxExamples` */
  readonly maxExamples?: number;
}

/** Columns of each row of {@link walletAuditStatement}: one break, with the audit's totals. */
export const WALLET_AUDIT_COLUMNS = [
  'player_id',
  'currency',
  'previous_transaction_id',
  'transaction_id',
  'type',
  'created_at',
  'previous_balance',
  'amount',
  'expected_balance',
  'balance_after',
  'breaks',
] as const;

/**
 * The audit statement: the breaks among the players of the given committed windows, earliest
 * first, at most `maxExamples` rows; every row carries `breaks`, the total count (no row: none).
 * Money is compared and returned as exact DECIMAL text.
 */
export function walletAuditStatement(input: WalletAuditInput): string {
  const { config, database, sources } = input;
  const settings = walletLedgerSettings(config);
  if (sources.length === 0) throw new Error('a wallet ledger audit names at least one committed window');
  const maxExamples = Math.max(1, Math.floor(input.maxExamples ?? settings.maxExamples));
  const list = (values: readonly string[]) => values.map(literal).join(', ');
  const windows = sources.map((s) => {
    if (s.runIds.length === 0 || s.windowIds.length === 0)
      throw new Error('a wallet ledger audit source names at least one run and one window');
    return `(${ident('run_id')} IN (${list(s.runIds)}) AND ${ident('window_id')} IN (${list(s.windowIds)}))`;
  });
  const partition = `PARTITION BY w.${ident('player_id')}, w.${ident('currency_key')}`;
  const over = `OVER (${partition} ORDER BY ${ledgerOrder(config)})`;
  const text = (expr: string, name: string) => `CAST(${expr} AS VARCHAR) AS ${ident(name)}`;
  const hasCurrency = landedColumns(config, 'wallet_transactions').some((c: LandedColumn) => c.name === 'currency');
  const currency = hasCurrency ? `${ident('currency')}` : 'CAST(NULL AS VARCHAR)';
  const key = ident(CANONICAL_STREAMS.wallet_transactions.primaryKey);
  return [
    'WITH touched AS (',
    `  SELECT DISTINCT ${ident('player_id')} FROM ${qualified(database, 'wallet_transactions_landed')}`,
    `  WHERE ${windows.join(' OR ')}`,
    '), ledger AS (',
    `  SELECT w.*, lag(w.${ident('balance_after')}) ${over} AS ${ident('previous_balance')},`,
    `    lag(w.${key}) ${over} AS ${ident('previous_transaction_id')},`,
    `    ${deltaExpression(settings.directions)} AS ${ident('delta')}`,
    `  FROM (SELECT *, coalesce(${currency}, '') AS ${ident('currency_key')} FROM ${qualified(database, servingTableName('wallet_transactions'))}) AS w`,
    `  WHERE w.${ident('player_id')} IN (SELECT ${ident('player_id')} FROM touched)`,
    '), checked AS (',
    `  SELECT l.*, l.${ident('previous_balance')} + l.${ident('delta')} AS ${ident('expected_balance')} FROM ledger AS l`,
    `  WHERE l.${ident('previous_balance')} IS NOT NULL`,
    ')',
    `SELECT c.${ident('player_id')}, ${hasCurrency ? `c.${ident('currency')}` : `CAST(NULL AS VARCHAR) AS ${ident('currency')}`}, c.${ident('previous_transaction_id')}, c.${key},`,
    `  c.${ident('type')}, ${text(`c.${ident('created_at')}`, 'created_at')},`,
    `  ${text(`c.${ident('previous_balance')}`, 'previous_balance')}, ${text(`c.${ident('amount')}`, 'amount')},`,
    `  ${text(`c.${ident('expected_balance')}`, 'expected_balance')}, ${text(`c.${ident('balance_after')}`, 'balance_after')},`,
    `  count(*) OVER () AS ${ident('breaks')}`,
    'FROM checked AS c',
    `WHERE c.${ident('balance_after')} IS DISTINCT FROM c.${ident('expected_balance')}`,
    `ORDER BY c.${ident('created_at')}, c.${ident('player_id')}, c.${key}`,
    `LIMIT ${maxExamples}`,
  ].join('\n');
}

/** One break, as on-call reads it in the examples object. */
export interface WalletBreak {
  /** The player (pseudonym, as in the serving tables). */
  readonly playerId: string;
  readonly currency: string | null;
  readonly previousTransactionId: string | null;
  readonly transactionId: string;
  readonly type: string | null;
  readonly createdAt: string | null;
  readonly previousBalance: string | null;
  readonly amount: string | null;
  /** previousBalance + the type's delta of amount. */
  readonly expectedBalance: string | null;
  /** The balance_after the entry carries. */
  readonly actualBalance: string | null;
}

/** What an audit found: the total count and the first breaks. */
export interface WalletAuditFindings {
  readonly breaks: number;
  readonly examples: readonly WalletBreak[];
}

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** Reads the rows of {@link walletAuditStatement}. */
export function parseWalletAudit(rows: readonly Record<string, unknown>[]): WalletAuditFindings {
  const examples = rows.map((r) => ({
    playerId: String(r.player_id),
    currency: str(r.currency),
    previousTransactionId: str(r.previous_transaction_id),
    transactionId: String(r.transaction_id),
    type: str(r.type),
    createdAt: str(r.created_at),
    previousBalance: str(r.previous_balance),
    amount: str(r.amount),
    expectedBalance: str(r.expected_balance),
    actualBalance: str(r.balance_after),
  }));
  const breaks = rows.length === 0 ? 0 : Number(rows[0]?.breaks ?? rows.length);
  if (!Number.isInteger(breaks) || breaks < rows.length) {
    throw new Error(`the wallet ledger audit returned an invalid break count ${JSON.stringify(rows[0]?.breaks)}`);
  }
  return { breaks, examples };
}

/**
 * The balance an entry should carry, computed exactly on decimal text (the same rule as the SQL):
 * for unit tests and tools that check a chain outside Athena.
 */
export function expectedBalance(
  previous: string,
  type: string,
  amount: string,
  directions: Readonly<Record<string, WalletDirection>> = DEFAULT_WALLET_DIRECTIONS,
): string {
  const scale = Math.max(scaleOf(previous), scaleOf(amount));
  const a = unscaled(amount, scale);
  const abs = a < 0n ? -a : a;
  const direction = directions[type] ?? 'signed';
  const delta = direction === 'credit' ? abs : direction === 'debit' ? -abs : a;
  return decimalText(unscaled(previous, scale) + delta, scale);
}

function scaleOf(text: string): number {
  return text.split('.')[1]?.length ?? 0;
}

function unscaled(text: string, scale: number): bigint {
  const m = /^([+-]?)(\d+)(?:\.(\d*))?$/.exec(text.trim());
  if (!m) throw new Error(`not a decimal: ${JSON.stringify(text)}`);
  const value = BigInt(`${m[2]}${(m[3] ?? '').padEnd(scale, '0')}`);
  return m[1] === '-' ? -value : value;
}

function decimalText(value: bigint, scale: number): string {
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(scale + 1, '0');
  const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return negative ? `-${text}` : text;
}

/** The examples object stored for on-call (see the runbook): counts, the windows audited and the first breaks. */
export interface WalletAuditReport {
  readonly operator: string;
  /** The publish execution that ran the audit. */
  readonly publish: string;
  readonly auditedAt: string;
  readonly windows: readonly MergeSource[];
  readonly breaks: number;
  readonly examples: readonly WalletBreak[];
  readonly rule: string;
}

/** What the report says the rule is (so the object explains itself). */
export function ruleText(config: OperatorConfig): string {
  const { directions } = walletLedgerSettings(config);
  const list = WALLET_TYPES.map((t) => `${t}: ${directions[t] ?? 'signed'}`).join(', ');
  return `per player and currency, in the order created_at, transaction_id: balance_after = previous balance_after + abs(amount) for a credit type, - abs(amount) for a debit type, + amount for a signed type (${list})`;
}
