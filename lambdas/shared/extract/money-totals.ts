/**
 * Per-window money totals reconciled between the source and the lake: for each currency, the
 * totals the operator reports on (`MONEY_TOTALS` of the canonical model: approved deposits and
 * withdrawals, settled stakes and payouts, GGR = stakes − payouts, the wallet ledger's deposits,
 * withdrawals, bets and wins).
 *
 * **Source side.** One GROUP BY statement per invocation over the range it read (inside the same
 * REPEATABLE READ transaction as the read, so it describes exactly the rows read): rows and exact
 * money sums per distinct tuple of the source's currency and classifying columns
 * (`SourceConnection.groupedSums`). Each tuple is classified after converting its values the way the
 * mapper converts them (the operator's enumeration value maps, `landedTextOf`), so the source's own
 * values decide which total a row counts in.
 *
 * **Lake side.** The landed rows, as mapped: the window statistics group the money sums by the
 * landed currency and classifying columns (landing/stats.ts), batch by batch, in exact decimals.
 *
 * The window's count and column sums are reconciled already (a difference fails the window); these
 * totals catch what those cannot: a row landed under another currency, direction, status or type
 * than the source gives it. A difference is recorded in the window's manifest, returned in the
 * step result, emitted as `MoneyTotalsMismatches` and alarmed; the window still commits (the rows
 * are the source's rows; how they were classified is what on-call must look at).
 */
import { MONEY_TOTALS, type MoneyKind, type MoneyKindRule, type StreamName } from '../canonical.ts';
import { mappedColumn } from '../config/columns.ts';
import type { OperatorConfig } from '../config/schema.ts';
import type { MoneyGroup } from '../contracts/steps.ts';
import { landedColumns, moneyGroupIndices } from '../landed-schema.ts';
import type { MoneyTotalsReport } from '../landing/window.ts';
import { landedTextOf } from '../mapping/mapper.ts';
import { addDecimalTexts, decimalTextsEqual, subtractDecimalTexts } from '../parquet/decimal-text.ts';
import type { GroupSums } from '../sources/source.ts';

/** Exact decimal text per money kind, per currency (`""` for rows without a currency). */
export type MoneyTotals = Readonly<Record<string, Readonly<Partial<Record<MoneyKind, string>>>>>;

/** What reconciling a stream's money totals needs of its config. */
export interface MoneyTotalsPlan {
  /** `currency`, then the classifying enumeration fields. */
  readonly groupFields: readonly string[];
  /** The source columns of {@link groupFields}, in order. */
  readonly sourceGroupColumns: readonly string[];
  /** Money field → source column, for the fields the rules sum. */
  readonly sourceMoneyColumns: Readonly<Record<string, string>>;
  readonly rules: readonly MoneyKindRule[];
  /** Whether GGR (stakes − payouts) is reported. */
  readonly ggr: boolean;
  /** Per group field: a source value as it lands. */
  readonly landedText: readonly ((text: string | null) => string | null)[];
}

/**
 * The money totals plan of a database stream, or undefined when the stream has none, or when a
 * field they need is not mapped or does not land as the canonical value (dropped, pseudonymized).
 */
export function moneyTotalsPlan(config: OperatorConfig, stream: StreamName): MoneyTotalsPlan | undefined {
  const definition = MONEY_TOTALS[stream];
  const streamConfig = config.streams[stream];
  if (!definition || !streamConfig || config.source.type === 'files') return undefined;
  const columns = landedColumns(config, stream);
  if (moneyGroupIndices(stream, columns).length === 0) return undefined;
  const groupFields = ['currency', ...definition.classifiedBy];
  const sourceGroupColumns = groupFields.map((f) => mappedColumn(streamConfig.columns[f]));
  const amounts = [...new Set(definition.rules.map((r) => r.amount))];
  const sourceMoneyColumns: Record<string, string> = {};
  for (const field of amounts) {
    const column = mappedColumn(streamConfig.columns[field]);
    const landed = columns.find((c) => c.name === field);
    if (column === undefined || !landed?.money || landed.type.kind !== 'decimal') return undefined;
    sourceMoneyColumns[field] = column;
  }
  if (sourceGroupColumns.some((c) => c === undefined)) return undefined;
  return {
    groupFields,
    sourceGroupColumns: sourceGroupColumns as string[],
    sourceMoneyColumns,
    rules: definition.rules,
    ggr: definition.ggr === true,
    landedText: groupFields.map((f) => landedTextOf(config, stream, f)),
  };
}

function classify(
  plan: MoneyTotalsPlan,
  totals: Record<string, Partial<Record<MoneyKind, string>>>,
  values: readonly (string | null)[],
  sumOf: (field: string) => string,
): void {
  const currency = values[0] ?? '';
  for (const rule of plan.rules) {
    const matches = Object.entries(rule.when).every(
      ([field, value]) => values[plan.groupFields.indexOf(field)] === value,
    );
    if (!matches) continue;
    const byKind = totals[currency] ?? {};
    totals[currency] = byKind;
    byKind[rule.kind] = addDecimalTexts(byKind[rule.kind] ?? '0', sumOf(rule.amount));
  }
}

/** The source's totals from its grouped sums (values converted as the mapper converts them). */
export function sourceMoneyTotals(plan: MoneyTotalsPlan, groups: readonly GroupSums[]): MoneyTotals {
  const totals: Record<string, Partial<Record<MoneyKind, string>>> = {};
  for (const group of groups) {
    const values = group.values.map((v, i) => plan.landedText[i]!(v));
    classify(plan, totals, values, (field) => group.sums[plan.sourceMoneyColumns[field]!] ?? '0');
  }
  return totals;
}

/** The lake's totals from the window statistics' money groups (values as landed). */
export function landedMoneyTotals(plan: MoneyTotalsPlan, groups: readonly MoneyGroup[]): MoneyTotals {
  const totals: Record<string, Partial<Record<MoneyKind, string>>> = {};
  for (const group of groups) classify(plan, totals, group.values, (field) => group.sums[field] ?? '0');
  return totals;
}

/** `a + sign·b`, currency by currency and kind by kind. */
export function combineMoneyTotals(a: MoneyTotals, b: MoneyTotals, sign: 1 | -1 = 1): MoneyTotals {
  const out: Record<string, Partial<Record<MoneyKind, string>>> = {};
  for (const currency of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[currency] ?? {};
    const y = b[currency] ?? {};
    const kinds = new Set([...Object.keys(x), ...Object.keys(y)] as MoneyKind[]);
    const row: Partial<Record<MoneyKind, string>> = {};
    for (const kind of kinds) {
      const left = x[kind] ?? '0';
      const right = y[kind] ?? '0';
      row[kind] = sign === 1 ? addDecimalTexts(left, right) : subtractDecimalTexts(left, right);
    }
    out[currency] = row;
  }
  return out;
}

/**
 * Compares the source's totals with the lake's: every kind of the stream for every currency either
 * side has. A kind counts as a mismatch once per currency; GGR (where the stream has stakes and
 * payouts) is reported, not counted again.
 */
export function compareMoneyTotals(plan: MoneyTotalsPlan, source: MoneyTotals, landed: MoneyTotals): MoneyTotalsReport {
  const kinds = [...new Set(plan.rules.map((r) => r.kind))];
  let mismatches = 0;
  const currencies = [...new Set([...Object.keys(source), ...Object.keys(landed)])].sort().map((currency) => {
    const totals: Record<string, { source: string; landed: string }> = {};
    let equal = true;
    for (const kind of kinds) {
      const s = source[currency]?.[kind] ?? '0';
      const l = landed[currency]?.[kind] ?? '0';
      totals[kind] = { source: s, landed: l };
      if (!decimalTextsEqual(s, l)) {
        equal = false;
        mismatches++;
      }
    }
    if (plan.ggr) {
      totals.ggr = {
        source: subtractDecimalTexts(totals.stakes!.source, totals.payouts!.source),
        landed: subtractDecimalTexts(totals.stakes!.landed, totals.payouts!.landed),
      };
    }
    return { currency: currency === '' ? null : currency, equal, totals };
  });
  return { mismatches, currencies };
}
