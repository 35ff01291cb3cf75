/**
 * The wallet ledger audit's settings as the operator config gives them, defaults applied: which
 * types credit or debit the balance, whether the audit can run, how many examples it keeps. Read
 * by the CDK app (permissions, alarms) and by the audit (integrity/wallet-ledger.ts).
 */
import { getField } from '../canonical.ts';
import { landedColumns } from '../landed-schema.ts';
import type { OperatorConfig } from './schema.ts';

/** How an entry of a type moves the balance. */
export type WalletDirection = 'credit' | 'debit' | 'signed';

export const WALLET_DIRECTIONS: readonly WalletDirection[] = ['credit', 'debit', 'signed'];

/** Canonical wallet transaction types (the enumeration of `wallet_transactions.type`, with `unmapped`). */
export const WALLET_TYPES: readonly string[] = getField('wallet_transactions', 'type')?.values ?? [];

/**
 * The direction of each canonical type unless the operator's config says otherwise: money into
 * the wallet (deposit, win, bonus credit, refund) is a credit, money out (bet, withdrawal, bonus
 * debit) a debit; an adjustment goes either way and an unmapped type is unknown, so both use the
 * amount as booked.
 */
export const DEFAULT_WALLET_DIRECTIONS: Readonly<Record<string, WalletDirection>> = {
  bet: 'debit',
  win: 'credit',
  deposit: 'credit',
  withdrawal: 'debit',
  bonus_credit: 'credit',
  bonus_debit: 'debit',
  refund: 'credit',
  adjustment: 'signed',
  unmapped: 'signed',
};

/** Breaks kept as examples per audit by default. */
export const DEFAULT_MAX_EXAMPLES = 20;

/** The audit's settings for one operator, config defaults applied. */
export interface WalletLedgerSettings {
  readonly enabled: boolean;
  readonly directions: Readonly<Record<string, WalletDirection>>;
  readonly maxExamples: number;
}

/** The operator's settings: whether the audit can run (the stream and the columns it needs are landed) and how. */
export function walletLedgerSettings(config: OperatorConfig): WalletLedgerSettings {
  const own = config.walletLedger;
  const missing = walletLedgerMissingColumns(config);
  return {
    enabled: (own?.enabled ?? true) && missing.length === 0,
    directions: {
      ...DEFAULT_WALLET_DIRECTIONS,
      ...Object.fromEntries(Object.entries(own?.directions ?? {}).filter(([, d]) => d !== undefined)),
    } as Readonly<Record<string, WalletDirection>>,
    maxExamples: own?.maxExamples ?? DEFAULT_MAX_EXAMPLES,
  };
}

/** Columns the audit needs that the operator does not land (stream not configured, field unmapped or dropped). */
export function walletLedgerMissingColumns(config: OperatorConfig): string[] {
  if (!config.streams.wallet_transactions) return ['wallet_transactions (stream not configured)'];
  const landed = new Set(landedColumns(config, 'wallet_transactions').map((c) => c.name));
  const mapped = config.streams.wallet_transactions.columns;
  return ['player_id', 'type', 'amount', 'balance_after', 'created_at'].filter(
    (name) => !landed.has(name) || (config.source.type !== 'files' && mapped[name] === undefined),
  );
}
