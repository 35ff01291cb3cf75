/**
 * The canonical iGaming data model: the one definition of every stream the connector lands.
 *
 * Imported by the CDK code (Glue tables), the extractors (Parquet schema, coercion), the file-drop
 * validators, the CLI (discovery, grant SQL) and the documentation generator. Nothing else in the
 * codebase may declare a stream, a field or a field type.
 */

/** How a field is treated with respect to personal data. */
export type PiiTreatment = 'keep' | 'pseudonymize' | 'drop';

/** Logical field types; each maps to exactly one Parquet logical type and one Glue/Athena type. */
export type FieldType =
  | { readonly kind: 'string' }
  | { readonly kind: 'int32' }
  | { readonly kind: 'int64' }
  | { readonly kind: 'boolean' }
  | { readonly kind: 'decimal'; readonly precision: number; readonly scale: number }
  /** An instant, stored as UTC with millisecond precision (Athena reads Parquet timestamps in ms). */
  | { readonly kind: 'timestamp' }
  /** A calendar date without time zone. */
  | { readonly kind: 'date' };

export interface CanonicalField {
  readonly name: string;
  readonly type: FieldType;
  readonly description: string;
  /** Whether the field may be NULL in landed data. Key and cursor fields never are. */
  readonly nullable: boolean;
  /** Default treatment; an operator config may override it (see `personal`). */
  readonly pii: PiiTreatment;
  /**
   * Personal data about a natural person. Overriding such a field to `keep` requires a written
   * justification in the operator config.
   */
  readonly personal: boolean;
  /** For enumerations: the canonical values. Operator values are mapped onto these in config. */
  readonly values?: readonly string[];
  /** Money amounts; summed per window for reconciliation. */
  readonly money?: boolean;
  /**
   * The stream whose primary key this field refers to (`player_id` → players). A key or reference
   * field is pseudonymized in the source's key form, so it joins as in the source.
   */
  readonly references?: StreamName;
}

export interface CanonicalStream {
  readonly name: StreamName;
  readonly description: string;
  /** Primary key field (unique per row version together with the cursor). */
  readonly primaryKey: string;
  /** Default incremental cursor field; an operator may use another source column. */
  readonly cursor: string;
  readonly fields: readonly CanonicalField[];
}

export const STREAM_NAMES = [
  'players',
  'sessions',
  'payments',
  'wallet_transactions',
  'game_rounds',
  'bonuses',
  'compliance_events',
] as const;
export type StreamName = (typeof STREAM_NAMES)[number];

/** Value an enumeration takes when the operator's value has no mapping; the original is kept in `<field>_source`. */
export const UNMAPPED_VALUE = 'unmapped';

/** Default precision and scale for money: wide enough for any fiat or crypto amount seen in practice. */
export const DEFAULT_MONEY_TYPE: FieldType = { kind: 'decimal', precision: 38, scale: 10 };

const STRING: FieldType = { kind: 'string' };
const TIMESTAMP: FieldType = { kind: 'timestamp' };
const INT32: FieldType = { kind: 'int32' };
const INT64: FieldType = { kind: 'int64' };

interface FieldOptions {
  nullable?: boolean;
  pii?: PiiTreatment;
  personal?: boolean;
  values?: readonly string[];
  money?: boolean;
  references?: StreamName;
}

function field(name: string, type: FieldType, description: string, opts: FieldOptions = {}): CanonicalField {
  return {
    name,
    type,
    description,
    nullable: opts.nullable ?? true,
    pii: opts.pii ?? 'keep',
    personal: opts.personal ?? false,
    ...(opts.values ? { values: opts.values } : {}),
    ...(opts.money ? { money: true } : {}),
    ...(opts.references ? { references: opts.references } : {}),
  };
}

const key = (name: string, description: string): CanonicalField =>
  field(name, STRING, description, { nullable: false });
/** The player of a row: the key of players, a reference to it everywhere else. */
const playerId = (references?: StreamName): CanonicalField =>
  field(
    'player_id',
    STRING,
    'Player identifier, pseudonymized with the operator key so joins across streams still work.',
    {
      nullable: false,
      pii: 'pseudonymize',
      personal: true,
      ...(references ? { references } : {}),
    },
  );
const money = (name: string, description: string, nullable = true): CanonicalField =>
  field(name, DEFAULT_MONEY_TYPE, description, { money: true, nullable });
const currency = (): CanonicalField => field('currency', STRING, 'ISO 4217 currency code of the amounts.');
const ts = (name: string, description: string, nullable = true): CanonicalField =>
  field(name, TIMESTAMP, description, { nullable });
const enumeration = (name: string, values: readonly string[], description: string): CanonicalField =>
  field(name, STRING, description, { values: [...values, UNMAPPED_VALUE] });

/** The canonical streams, in the order they are documented and deployed. */
export const CANONICAL_STREAMS: Readonly<Record<StreamName, CanonicalStream>> = {
  players: {
    name: 'players',
    description: 'One row per player account version.',
    primaryKey: 'player_id',
    cursor: 'updated_at',
    fields: [
      playerId(),
      ts('registered_at', 'When the account was registered.'),
      ts('updated_at', 'Last change to the account.', false),
      field('country', STRING, 'ISO 3166-1 alpha-2 country of residence.'),
      currency(),
      enumeration('status', ['active', 'suspended', 'closed', 'self_excluded'], 'Account status.'),
      enumeration('kyc_status', ['none', 'pending', 'verified', 'rejected'], 'Know-your-customer status.'),
      field('vip_level', INT32, 'Loyalty or VIP tier, 0 when none.'),
      field('email', STRING, 'E-mail address (lower-cased before pseudonymization).', {
        pii: 'pseudonymize',
        personal: true,
      }),
      field('birth_date', { kind: 'date' }, 'Date of birth.', { pii: 'drop', personal: true }),
      field('affiliate_id', STRING, 'Acquisition affiliate or campaign code.'),
    ],
  },
  sessions: {
    name: 'sessions',
    description: 'One row per player session (login to logout).',
    primaryKey: 'session_id',
    cursor: 'started_at',
    fields: [
      key('session_id', 'Session identifier.'),
      playerId('players'),
      ts('started_at', 'Session start.', false),
      ts('ended_at', 'Session end, NULL while open.'),
      field('device', STRING, 'Device class or platform (desktop, mobile, app, ...).'),
      field('ip', STRING, 'Client IP address.', { pii: 'pseudonymize', personal: true }),
      field('country', STRING, 'ISO 3166-1 alpha-2 country the session came from.'),
    ],
  },
  payments: {
    name: 'payments',
    description: 'Deposits and withdrawals, one row per payment version.',
    primaryKey: 'payment_id',
    cursor: 'updated_at',
    fields: [
      key('payment_id', 'Payment identifier.'),
      playerId('players'),
      enumeration('direction', ['deposit', 'withdrawal'], 'Money in or out of the player wallet.'),
      field('method', STRING, 'Payment method (card, bank_transfer, e-wallet, crypto, ...).'),
      money('amount', 'Amount in `currency`.'),
      currency(),
      enumeration(
        'status',
        ['pending', 'approved', 'declined', 'cancelled', 'refunded', 'chargeback'],
        'Payment status.',
      ),
      ts('created_at', 'When the payment was requested.'),
      ts('updated_at', 'Last status change.', false),
    ],
  },
  wallet_transactions: {
    name: 'wallet_transactions',
    description: 'Immutable ledger of wallet movements.',
    primaryKey: 'transaction_id',
    cursor: 'created_at',
    fields: [
      key('transaction_id', 'Ledger entry identifier.'),
      playerId('players'),
      enumeration(
        'type',
        ['bet', 'win', 'deposit', 'withdrawal', 'bonus_credit', 'bonus_debit', 'refund', 'adjustment'],
        'Kind of movement.',
      ),
      money('amount', 'Signed amount in `currency` (negative debits the wallet).'),
      money('balance_after', 'Wallet balance after the movement.'),
      currency(),
      field('round_id', STRING, 'Game round that caused the movement, if any.', { references: 'game_rounds' }),
      ts('created_at', 'When the movement was booked.', false),
    ],
  },
  game_rounds: {
    name: 'game_rounds',
    description: 'One row per game round version (bet to settlement).',
    primaryKey: 'round_id',
    cursor: 'updated_at',
    fields: [
      key('round_id', 'Round identifier.'),
      playerId('players'),
      field('game_id', STRING, 'Game identifier.'),
      field('provider', STRING, 'Game provider or studio.'),
      money('stake', 'Total stake in `currency` (cash and bonus).'),
      money('payout', 'Total payout in `currency`.'),
      money('bonus_stake', 'Part of the stake paid with bonus money.'),
      currency(),
      enumeration('status', ['open', 'settled', 'cancelled'], 'Round status.'),
      ts('started_at', 'When the round started.'),
      ts('settled_at', 'When the round was settled, NULL while open.'),
      ts('updated_at', 'Last change to the round.', false),
    ],
  },
  bonuses: {
    name: 'bonuses',
    description: 'Bonuses granted to players, one row per bonus version.',
    primaryKey: 'bonus_id',
    cursor: 'updated_at',
    fields: [
      key('bonus_id', 'Bonus identifier.'),
      playerId('players'),
      field('type', STRING, 'Bonus type (deposit_match, free_spins, cashback, ...).'),
      money('amount', 'Bonus amount in `currency`.'),
      money('wagering_requirement', 'Amount that must be wagered before release.'),
      currency(),
      enumeration('status', ['granted', 'active', 'completed', 'expired', 'forfeited', 'cancelled'], 'Bonus status.'),
      ts('granted_at', 'When the bonus was granted.'),
      ts('expires_at', 'When the bonus expires.'),
      ts('updated_at', 'Last change to the bonus.', false),
    ],
  },
  compliance_events: {
    name: 'compliance_events',
    description: 'Responsible-gaming and compliance events (KYC, limits, exclusions, AML).',
    primaryKey: 'event_id',
    cursor: 'occurred_at',
    fields: [
      key('event_id', 'Event identifier.'),
      playerId('players'),
      enumeration(
        'kind',
        [
          'kyc',
          'self_exclusion',
          'cool_off',
          'deposit_limit',
          'loss_limit',
          'session_limit',
          'reality_check',
          'aml_alert',
        ],
        'Kind of event.',
      ),
      field('value', STRING, 'Event detail (new limit, KYC outcome, exclusion period, ...).'),
      ts('occurred_at', 'When the event happened.', false),
    ],
  },
};

/**
 * Columns the connector adds to every landed row. `_cursor_us` and `_source_seq` are the row's
 * version: the current version of a key is the one with the greatest (`_cursor_us`,
 * `_source_seq`), see {@link LATEST_VERSION_FIRST}.
 */
export const METADATA_FIELDS: readonly CanonicalField[] = [
  field('_cursor', TIMESTAMP, 'Source cursor value of the row version (UTC, milliseconds).', {
    nullable: false,
  }),
  field('_run_id', STRING, 'Run that landed the row (snapshot or incremental run identifier).', { nullable: false }),
  field('_extracted_at', TIMESTAMP, 'When the connector read the row (by the Lambda clock; not a version order).', {
    nullable: false,
  }),
  field(
    '_cursor_us',
    INT64,
    'Source cursor value at full precision: microseconds since 1970-01-01 UTC. First part of the version order.',
    { nullable: false },
  ),
  field(
    '_source_seq',
    INT64,
    'Tie-break between versions with the same `_cursor_us`, in source order: when the source transaction took its ' +
      'snapshot, in microseconds since the epoch (database reads), or the receive second * 1e9 + row number (file drops).',
    { nullable: false },
  ),
  field(
    '_deleted',
    { kind: 'boolean' },
    "True for a tombstone: the key audit found the key deleted at the source. A tombstone is the key's last served row re-landed with this flag set and a newer version (`_cursor`/`_cursor_us` the detection time, or the row's own cursor when later; `_source_seq` the detection time), so it carries the partition column the publish bounds its MERGE with; publishing deletes the key. False for every row read from the source.",
    { nullable: false },
  ),
];

/**
 * The version order as an SQL `ORDER BY` list, latest version first: the current version of a key
 * is the first row of its partition (`row_number() OVER (PARTITION BY <key> ORDER BY …) = 1`).
 */
export const LATEST_VERSION_FIRST = '_cursor_us DESC, _source_seq DESC';

/**
 * Partition columns of every stream's landed table (`<stream>_landed`): one partition per committed
 * window, projected from the query's own values (Athena `injected` partition projection).
 */
export const LANDED_PARTITION_COLUMNS = [
  { name: 'run_id', description: 'Run of the committed window (snapshot, incremental or file run id).' },
  { name: 'window_id', description: 'Committed window of the run.' },
] as const;

export function isStreamName(name: string): name is StreamName {
  return (STREAM_NAMES as readonly string[]).includes(name);
}

export function getStream(name: StreamName): CanonicalStream {
  return CANONICAL_STREAMS[name];
}

export function getField(stream: StreamName, fieldName: string): CanonicalField | undefined {
  return CANONICAL_STREAMS[stream].fields.find((f) => f.name === fieldName);
}

/**
 * Whether a field is a key or a reference field of a stream: its primary key, or a field that
 * refers to another stream's primary key. These are the fields joins run on.
 */
export function isKeyField(stream: StreamName, fieldName: string): boolean {
  const canonical = CANONICAL_STREAMS[stream];
  return canonical.primaryKey === fieldName || getField(stream, fieldName)?.references !== undefined;
}

/** Name of the column that keeps the operator's original value of an enumeration field. */
export function sourceValueColumn(fieldName: string): string {
  return `${fieldName}_source`;
}

/** The Athena/Glue type of a field type. */
export function glueType(type: FieldType): string {
  switch (type.kind) {
    case 'string':
      return 'string';
    case 'int32':
      return 'int';
    case 'int64':
      return 'bigint';
    case 'boolean':
      return 'boolean';
    case 'decimal':
      return `decimal(${type.precision},${type.scale})`;
    case 'timestamp':
      return 'timestamp';
    case 'date':
      return 'date';
  }
}

/** A money total the operator reconciles per currency: deposits, withdrawals, stakes, payouts. */
export type MoneyKind = 'deposits' | 'withdrawals' | 'stakes' | 'payouts';

/** One money total of a stream: the sum of `amount` over the rows whose enumeration fields have the values of `when`. */
export interface MoneyKindRule {
  readonly kind: MoneyKind;
  /** Money field summed. */
  readonly amount: string;
  /** Enumeration field → canonical value a row must have to count. */
  readonly when: Readonly<Record<string, string>>;
}

/** The money totals of a stream, per value of its `currency` field. */
export interface MoneyTotalsDefinition {
  /** The enumeration fields the rules test (with `currency`, what a window's totals group by). */
  readonly classifiedBy: readonly string[];
  readonly rules: readonly MoneyKindRule[];
  /** Whether GGR (stakes − payouts) is reported: the stakes and payouts are unsigned amounts. */
  readonly ggr?: boolean;
}

/**
 * The per-window money totals each money stream is reconciled on between the source and the lake
 * (extract/money-totals.ts): approved deposits and withdrawals, settled stakes and payouts (GGR is
 * stakes − payouts), and the wallet ledger's deposits, withdrawals, bets and wins as booked (signed
 * as the operator books them).
 */
export const MONEY_TOTALS: Partial<Readonly<Record<StreamName, MoneyTotalsDefinition>>> = {
  payments: {
    classifiedBy: ['direction', 'status'],
    rules: [
      { kind: 'deposits', amount: 'amount', when: { direction: 'deposit', status: 'approved' } },
      { kind: 'withdrawals', amount: 'amount', when: { direction: 'withdrawal', status: 'approved' } },
    ],
  },
  game_rounds: {
    classifiedBy: ['status'],
    rules: [
      { kind: 'stakes', amount: 'stake', when: { status: 'settled' } },
      { kind: 'payouts', amount: 'payout', when: { status: 'settled' } },
    ],
    ggr: true,
  },
  wallet_transactions: {
    classifiedBy: ['type'],
    rules: [
      { kind: 'deposits', amount: 'amount', when: { type: 'deposit' } },
      { kind: 'withdrawals', amount: 'amount', when: { type: 'withdrawal' } },
      { kind: 'stakes', amount: 'amount', when: { type: 'bet' } },
      { kind: 'payouts', amount: 'amount', when: { type: 'win' } },
    ],
  },
};
