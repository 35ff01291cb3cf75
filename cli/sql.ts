/**
 * SQL text shared by `grant-sql` and `check`: identifier quoting per dialect and the recommended
 * (cursor, key) index of a stream's table.
 */
export type Dialect = 'postgres' | 'mysql';

/** Quotes an identifier already checked against SAFE_IDENTIFIER (no escaping needed). */
export function quoteIdent(dialect: Dialect, name: string): string {
  return dialect === 'postgres' ? `"${name}"` : `\`${name}\``;
}

/** `schema.table`, quoted. */
export function qualified(dialect: Dialect, schema: string, table: string): string {
  return `${quoteIdent(dialect, schema)}.${quoteIdent(dialect, table)}`;
}

/** `<table>_<cursor>_<key>_idx`, shortened to the 63 (PostgreSQL) / 64 (MySQL) character limit. */
export function indexName(table: string, cursor: string, key: string): string {
  const full = `${table}_${cursor}_${key}_idx`;
  return full.length <= 63 ? full : `${full.slice(0, 55)}_idx`.replace(/_+idx$/, '_idx');
}

/**
 * The index every extractor query wants: ordered reads by (cursor, key) and range scans on the
 * cursor. PostgreSQL builds it CONCURRENTLY (no write lock on the operator's table).
 */
export function recommendedIndex(dialect: Dialect, schema: string, table: string, cursor: string, key: string): string {
  const name = quoteIdent(dialect, indexName(table, cursor, key));
  const cols = `${quoteIdent(dialect, cursor)}, ${quoteIdent(dialect, key)}`;
  return dialect === 'postgres'
    ? `CREATE INDEX CONCURRENTLY ${name} ON ${qualified(dialect, schema, table)} (${cols});`
    : `CREATE INDEX ${name} ON ${qualified(dialect, schema, table)} (${cols}) ALGORITHM=INPLACE LOCK=NONE;`;
}
