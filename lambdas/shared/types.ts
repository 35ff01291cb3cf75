/**
 * Contracts between the stages of the data path:
 * source reader → (SourceBatch) → mapper → (LandedBatch) → Parquet writer → S3.
 */

/** How a source column's text is to be interpreted; decided by the reader from the catalog type. */
export type SourceKind =
  | 'text' // any character type, uuid, enum
  | 'json' // json/jsonb: kept as text
  | 'integer' // smallint/int/bigint: text of a base-10 integer (never a JS float)
  | 'decimal' // numeric/decimal: exact text, e.g. "-12345.6789"
  | 'float' // real/double: text
  | 'boolean' // text: "t"/"f" (PostgreSQL) or "1"/"0" (MySQL)
  | 'date' // "YYYY-MM-DD"
  | 'timestamp' // naive wall-clock "YYYY-MM-DD HH:MM:SS[.ffffff]" in the source's configured time zone
  | 'timestamptz'; // instant rendered in UTC by the session: "YYYY-MM-DD HH:MM:SS[.ffffff]+00" (or without offset)

export interface SourceColumn {
  /** Source column name, as in the config mapping. */
  readonly name: string;
  readonly kind: SourceKind;
  /** Catalog type as reported by the database, for error messages (e.g. "numeric(18,2)"). */
  readonly sourceType: string;
}

/**
 * A batch of source rows in the database's text form, row-major, aligned with `columns`.
 * Text form keeps every value exact (decimals, 64-bit integers, microsecond timestamps).
 */
export interface SourceBatch {
  readonly columns: readonly SourceColumn[];
  readonly rows: readonly (readonly (string | null)[])[];
  /**
   * The rows' undecoded PostgreSQL COPY text, when the reader was asked for it (`ReadSpec.copyText`):
   * `rows` then decodes it on first use, and the text can be handed to a worker thread instead.
   */
  readonly copyText?: SourceCopyText;
}

/** A batch's rows as PostgreSQL COPY text (see {@link SourceBatch.copyText}). */
export interface SourceCopyText {
  /** Lines in COPY text format, each ending with a newline. */
  readonly text: Uint8Array;
  /** Number of lines (rows). */
  readonly rowCount: number;
  /** The last row, decoded (a continuation's position is taken from it). */
  readonly lastRow: readonly (string | null)[];
}

/**
 * A value in a LandedBatch column, by landed type:
 * string → string; int32 → number; int64 → bigint; boolean → boolean;
 * decimal → bigint holding the unscaled value at the column's scale (12.34 at scale 4 → 123400n);
 * timestamp → number of milliseconds since the Unix epoch (UTC); date → number of days since 1970-01-01.
 */
export type LandedValue = string | number | bigint | boolean | null;

/** Column-major batch aligned with `landedColumns()` of the stream. */
export interface LandedBatch {
  readonly rowCount: number;
  readonly columns: readonly (readonly LandedValue[])[];
}

/**
 * TLS mode of a source session: `verify-full` encrypts and verifies the server certificate and host
 * name, `require` encrypts without verifying, `disable` does not encrypt. Ordered from strongest.
 */
export type TlsMode = 'verify-full' | 'require' | 'disable';

/**
 * Everything needed to open a source session: the connection settings come from the operator
 * config, the user name and password from the operator's secret (see sources/connect.ts).
 */
export interface SourceCredentials {
  readonly engine: 'postgres' | 'mysql';
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly username: string;
  readonly password: string;
  readonly tls: TlsMode;
  /** PEM certificates of the CAs trusted with `verify-full`; Node.js's public CAs when absent. */
  readonly ca?: readonly string[];
}

/**
 * What the operator's secret holds: `{username, password}`. A secret may also name a `tls` mode,
 * which can only raise the config's `source.tls` (a weaker one is refused).
 */
export interface SecretCredentials {
  readonly username: string;
  readonly password: string;
  readonly tls?: TlsMode;
}
