/**
 * The wallet part of the demo's integrity report:
 *
 * - {@link injectWalletGap} deletes one wallet ledger entry in the middle of a player's chain from
 *   the source before the snapshot (the synthetic ledger is otherwise consistent), so the audit the
 *   snapshot's publish runs must find exactly one break;
 * - {@link observedWalletBreaks} reads the audit reports the publishes wrote under
 *   `_integrity/wallet/` and counts the distinct breaks (an incremental audit that touches the same
 *   player reports the same break again);
 * - {@link moneyTotals} sums, per currency, approved deposits and withdrawals, settled stakes and
 *   payouts and GGR (stakes − payouts) in the source (exact decimals over the rows the runs could
 *   read) and in the serving tables (Athena SQL on the local engine), for the report.
 */
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { OperatorConfig } from '#shared/config/schema';
import { sourcePlan } from '#shared/extract/source-plan';
import type { WalletAuditReport } from '#shared/integrity/wallet-ledger';
import { WALLET_AUDIT_PREFIX } from '#shared/layout';
import { localWallTimeToUtc } from '#shared/mapping/time';
import type { IntegrityCheck } from '../integrity.ts';

/** What the wallet checks need of the demo's source database. */
export interface WalletDemoDb {
  select(schema: string, table: string, columns: readonly string[]): Promise<(string | null)[][]>;
  exec(sql: string): Promise<void>;
}

/** The injected gap: the deleted entry (the operator's id) and its player. */
export interface InjectedGap {
  readonly entryId: string;
  readonly player: string;
}

/**
 * Deletes the middle entry (by booking time) of the chain of the player with the most entries, among
 * entries with a non-zero amount booked at least `notBefore` (so the snapshot lands its neighbours).
 */
export async function injectWalletGap(
  db: WalletDemoDb,
  config: OperatorConfig,
  notBefore: number,
): Promise<InjectedGap> {
  const plan = sourcePlan(config, 'wallet_transactions');
  const column = (field: string) => {
    const m = config.streams.wallet_transactions?.columns[field];
    return typeof m === 'string' ? m : m?.column;
  };
  const [id, player, amount, booked] = ['transaction_id', 'player_id', 'amount', 'created_at'].map((f) => column(f)!);
  const zone = config.source.type === 'files' ? 'UTC' : config.source.timeZone;
  const rows = await db.select(plan.schema, plan.table, [id!, player!, amount!, booked!]);
  const byPlayer = new Map<string, { id: string; amount: string; at: number }[]>();
  for (const [i, p, a, b] of rows) {
    if (i == null || p == null || a == null || b == null) continue;
    const at = localWallTimeToUtc(b, zone);
    if (at < notBefore) continue;
    byPlayer.set(p, [...(byPlayer.get(p) ?? []), { id: i, amount: a, at }]);
  }
  const [chosen, entries] =
    [...byPlayer].sort((x, y) => y[1].length - x[1].length || x[0].localeCompare(y[0]))[0] ?? [];
  if (!chosen || !entries || entries.length < 3) throw new Error('the synthetic ledger has no chain to cut');
  entries.sort((x, y) => x.at - y.at || Number(x.id) - Number(y.id));
  const middle = entries.slice(1, -1).find((e, i, list) => i >= Math.floor(list.length / 2) && Number(e.amount) !== 0);
  if (!middle) throw new Error('the synthetic ledger has no entry to delete');
  const q = config.source.type === 'mysql' ? (s: string) => `\`${s}\`` : (s: string) => `"${s}"`;
  await db.exec(`DELETE FROM ${q(plan.schema)}.${q(plan.table)} WHERE ${q(id!)} = ${Number(middle.id)}`);
  return { entryId: middle.id, player: chosen };
}

/** Distinct breaks (by transaction id) over every wallet ledger audit report in the bucket. */
export async function observedWalletBreaks(s3: S3Client, bucket: string): Promise<number> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: WALLET_AUDIT_PREFIX, ContinuationToken: token }),
    );
    keys.push(...(page.Contents ?? []).map((o) => o.Key!).filter(Boolean));
    token = page.NextContinuationToken;
  } while (token);
  const breaks = new Set<string>();
  for (const key of keys) {
    const body = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
    const report = JSON.parse(body) as WalletAuditReport;
    for (const e of report.examples) breaks.add(`${e.playerId}/${e.transactionId}`);
  }
  return breaks.size;
}

/** The demo's check: the gap injected must be the one break the audits found. */
export function walletBreaksCheck(observed: number): IntegrityCheck<'walletBreaks'> {
  return { field: 'walletBreaks', observed, expected: 1 };
}

// ------------------------------------------------------------------------------------- money totals

/** The money totals of one currency, as exact decimal text. */
export interface MoneyTotals {
  readonly deposits: string;
  readonly withdrawals: string;
  readonly stakes: string;
  readonly payouts: string;
  readonly ggr: string;
}

export interface MoneyComparison {
  readonly currency: string;
  readonly source: MoneyTotals;
  readonly lake: MoneyTotals;
  readonly equal: boolean;
}

const SCALE = 10;

function unscaled(text: string): bigint {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text.trim());
  if (!m) throw new Error(`not a decimal: ${text}`);
  const v = BigInt(`${m[2] || '0'}${(m[3] ?? '').slice(0, SCALE).padEnd(SCALE, '0')}`);
  return m[1] === '-' ? -v : v;
}

function text(v: bigint): string {
  const neg = v < 0n;
  const digits = (neg ? -v : v).toString().padStart(SCALE + 1, '0');
  // Cents at least, more digits only where the amount has them.
  const t = `${digits.slice(0, -SCALE)}.${digits.slice(-SCALE).replace(/0+$/, '').padEnd(2, '0')}`;
  return neg ? `-${t}` : t;
}

type Sums = Map<string, { deposits: bigint; withdrawals: bigint; stakes: bigint; payouts: bigint }>;

const zero = () => ({ deposits: 0n, withdrawals: 0n, stakes: 0n, payouts: 0n });

function totals(s: { deposits: bigint; withdrawals: bigint; stakes: bigint; payouts: bigint }): MoneyTotals {
  return {
    deposits: text(s.deposits),
    withdrawals: text(s.withdrawals),
    stakes: text(s.stakes),
    payouts: text(s.payouts),
    ggr: text(s.stakes - s.payouts),
  };
}

/** The operator's column and value mapping of a field. */
function mapping(config: OperatorConfig, stream: 'payments' | 'game_rounds', field: string) {
  const m = config.streams[stream]?.columns[field];
  return typeof m === 'string' ? { column: m, values: undefined } : { column: m?.column, values: m?.values };
}

/** Per currency, the totals in the source (rows with a cursor in each stream's [from, to)) and in the serving tables. */
export async function moneyTotals(
  db: WalletDemoDb,
  config: OperatorConfig,
  athena: { execute(sql: string): Promise<{ rows: Record<string, unknown>[] }> },
  database: string,
  ranges: Readonly<Record<'payments' | 'game_rounds', { readonly from: number; readonly to: number }>>,
): Promise<MoneyComparison[]> {
  const zone = config.source.type === 'files' ? 'UTC' : config.source.timeZone;
  const source: Sums = new Map();
  const add = (
    currency: string,
    key: 'deposits' | 'withdrawals' | 'stakes' | 'payouts',
    value: string | null | undefined,
  ) => {
    if (value == null) return;
    const s = source.get(currency) ?? zero();
    s[key] += unscaled(value);
    source.set(currency, s);
  };
  const canonical = (values: Record<string, string> | undefined, v: string | null | undefined) =>
    v == null ? null : (values?.[v] ?? v);

  const payments = sourcePlan(config, 'payments');
  const [dir, status, amount, currency] = ['direction', 'status', 'amount', 'currency'].map((f) =>
    mapping(config, 'payments', f),
  );
  for (const [cursor, d, st, a, c] of await db.select(payments.schema, payments.table, [
    payments.cursorColumn,
    dir!.column!,
    status!.column!,
    amount!.column!,
    currency!.column!,
  ])) {
    if (cursor == null) continue;
    const at = localWallTimeToUtc(cursor, zone);
    if (at < ranges.payments.from || at >= ranges.payments.to || canonical(status!.values, st) !== 'approved') continue;
    const direction = canonical(dir!.values, d);
    if (direction === 'deposit') add(c ?? '', 'deposits', a);
    if (direction === 'withdrawal') add(c ?? '', 'withdrawals', a);
  }
  const rounds = sourcePlan(config, 'game_rounds');
  const [rStatus, stake, payout, rCurrency] = ['status', 'stake', 'payout', 'currency'].map((f) =>
    mapping(config, 'game_rounds', f),
  );
  for (const [cursor, st, s, p, c] of await db.select(rounds.schema, rounds.table, [
    rounds.cursorColumn,
    rStatus!.column!,
    stake!.column!,
    payout!.column!,
    rCurrency!.column!,
  ])) {
    if (cursor == null) continue;
    const at = localWallTimeToUtc(cursor, zone);
    if (at < ranges.game_rounds.from || at >= ranges.game_rounds.to || canonical(rStatus!.values, st) !== 'settled')
      continue;
    add(c ?? '', 'stakes', s);
    add(c ?? '', 'payouts', p);
  }

  // The lake: the serving tables, in Athena SQL (Trino) that the local engine runs.
  const lake: Sums = new Map();
  const t = (table: string) => `"${database.replaceAll('"', '""')}"."${table}"`;
  const paid = await athena.execute(
    `SELECT coalesce("currency", '') AS "currency",
       CAST(coalesce(sum(CASE WHEN "direction" = 'deposit' THEN "amount" END), 0) AS VARCHAR) AS "deposits",
       CAST(coalesce(sum(CASE WHEN "direction" = 'withdrawal' THEN "amount" END), 0) AS VARCHAR) AS "withdrawals"
     FROM ${t('payments')} WHERE "status" = 'approved' GROUP BY 1`,
  );
  const played = await athena.execute(
    `SELECT coalesce("currency", '') AS "currency",
       CAST(coalesce(sum("stake"), 0) AS VARCHAR) AS "stakes", CAST(coalesce(sum("payout"), 0) AS VARCHAR) AS "payouts"
     FROM ${t('game_rounds')} WHERE "status" = 'settled' GROUP BY 1`,
  );
  for (const r of [...paid.rows, ...played.rows]) {
    const c = String(r.currency);
    const s = lake.get(c) ?? zero();
    for (const k of ['deposits', 'withdrawals', 'stakes', 'payouts'] as const) {
      if (r[k] !== undefined && r[k] !== null) s[k] += unscaled(String(r[k]));
    }
    lake.set(c, s);
  }
  const currencies = [...new Set([...source.keys(), ...lake.keys()])].sort();
  return currencies.map((c) => {
    const src = totals(source.get(c) ?? zero());
    const lk = totals(lake.get(c) ?? zero());
    return { currency: c || '(none)', source: src, lake: lk, equal: JSON.stringify(src) === JSON.stringify(lk) };
  });
}

/** The report lines of the money totals (source / lake per currency). */
export function moneyTotalsLines(comparisons: readonly MoneyComparison[]): string[] {
  const header = ['currency', 'deposits', 'withdrawals', 'stakes', 'payouts', 'GGR', 'source = lake'];
  const cell = (c: MoneyComparison, k: keyof MoneyTotals) =>
    c.source[k] === c.lake[k] ? c.source[k] : `${c.source[k]} / ${c.lake[k]}`;
  const rows = comparisons.map((c) => [
    c.currency,
    cell(c, 'deposits'),
    cell(c, 'withdrawals'),
    cell(c, 'stakes'),
    cell(c, 'payouts'),
    cell(c, 'ggr'),
    c.equal ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) =>
    r
      .map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [
    'Money totals per currency (approved deposits and withdrawals, settled stakes and payouts, GGR = stakes − payouts;',
    '  source rows the runs read vs the serving tables; a cell shows "source / lake" where they differ):',
    ...[header, header.map((_, i) => '-'.repeat(widths[i]!)), ...rows].map((r) => `  ${line(r)}`),
  ];
}
