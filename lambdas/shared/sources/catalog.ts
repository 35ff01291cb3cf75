/**
 * The columns of source tables as the database's catalog describes them: name, declared type, the
 * readers' classification and DECIMAL precision/scale. Shared by the CLI's discovery (`discover`,
 * `check`) and by the schema-drift check every run makes before it reads.
 *
 * Only the catalog is read (never a row), in one statement under the session's statement timeout.
 * PostgreSQL: `pg_catalog` (readable by any user, and it lists every column of a table even when
 * the user was granted SELECT on some columns only). MySQL/MariaDB: `information_schema.COLUMNS`,
 * which lists only the columns the user holds a privilege on (see docs/architecture.md, *Schema
 * drift*).
 */
import type { SourceKind } from '../types.ts';
import { mysqlKind } from './mysql.ts';
import { postgresKind } from './postgres.ts';
import type { SourceConnection } from './source.ts';

/** A column as the catalog describes it. */
export interface CatalogColumn {
  readonly name: string;
  /** Type as the database shows it, e.g. `numeric(18,2)`, `datetime(6)`. */
  readonly type: string;
  /** How the connector reads it (the readers' classification). */
  readonly kind: SourceKind;
  readonly nullable: boolean;
  /** DECIMAL precision and scale, when the type is a decimal with both. */
  readonly precision?: number;
  readonly scale?: number;
}

/** A table to read the columns of. */
export interface TableRef {
  readonly schema: string;
  readonly table: string;
}

const num = (v: string | null | undefined): number | undefined =>
  v === null || v === undefined || v === '' ? undefined : Number(v);

/**
 * A PostgreSQL column from `pg_attribute`: name, `format_type(...)`, the base type's `typname`
 * (domains resolved), nullability and the numeric typmod's precision and scale.
 */
export function postgresCatalogColumn(row: {
  readonly name: string;
  readonly type: string;
  readonly baseType: string;
  readonly nullable: string | null;
  readonly precision: string | null;
  readonly scale: string | null;
}): CatalogColumn {
  const p = num(row.precision);
  const s = num(row.scale);
  return {
    name: row.name,
    type: row.type,
    kind: postgresKind(row.baseType),
    nullable: row.nullable === 't' || row.nullable === 'true',
    ...(p !== undefined && s !== undefined ? { precision: p, scale: s } : {}),
  };
}

/** A MySQL/MariaDB column from `information_schema.COLUMNS`. */
export function mysqlCatalogColumn(row: {
  readonly name: string;
  readonly columnType: string;
  readonly dataType: string;
  readonly nullable: string | null;
  readonly precision: string | null;
  readonly scale: string | null;
}): CatalogColumn {
  const kind = mysqlKind(row.dataType, row.columnType);
  const p = num(row.precision);
  const s = num(row.scale);
  return {
    name: row.name,
    type: row.columnType,
    kind,
    nullable: row.nullable === 'YES',
    ...(kind === 'decimal' && p !== undefined && s !== undefined ? { precision: p, scale: s } : {}),
  };
}

/** SQL fragments of the PostgreSQL column query (shared with the CLI's whole-schema read). */
export const PG_COLUMN_SELECT = `a.attname, format_type(a.atttypid, a.atttypmod), bt.typname, NOT a.attnotnull,
              CASE WHEN bt.typname = 'numeric' AND a.atttypmod > 0 THEN ((a.atttypmod - 4) >> 16) & 65535 END,
              CASE WHEN bt.typname = 'numeric' AND a.atttypmod > 0 THEN (a.atttypmod - 4) & 65535 END`;
export const PG_COLUMN_FROM = `pg_catalog.pg_attribute a
         JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
         JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END`;
export const PG_COLUMN_WHERE = `c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped`;

/** Most tables one catalog read names (a bound on the statement's size). */
export const MAX_CATALOG_TABLES = 100;

/**
 * The columns of the given tables, in column order, keyed `schema.table`, read in one statement.
 * A table the catalog does not show (missing, or no privilege on it) has no entry.
 */
export async function readTableColumns(
  conn: SourceConnection,
  tables: readonly TableRef[],
): Promise<Map<string, CatalogColumn[]>> {
  const out = new Map<string, CatalogColumn[]>();
  const unique = [...new Map(tables.map((t) => [tableKey(t), t])).values()];
  if (unique.length === 0) return out;
  if (unique.length > MAX_CATALOG_TABLES) {
    throw new RangeError(`a catalog read names at most ${MAX_CATALOG_TABLES} tables, got ${unique.length}`);
  }
  const push = (key: string, column: CatalogColumn) => {
    const list = out.get(key) ?? [];
    list.push(column);
    out.set(key, list);
  };
  if (conn.engine === 'postgres') {
    const params = unique.flatMap((t) => [t.schema, t.table]);
    const pairs = unique.map((_, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(', ');
    const rows = await conn.query(
      `SELECT n.nspname, c.relname, ${PG_COLUMN_SELECT}
         FROM ${PG_COLUMN_FROM}
        WHERE ${PG_COLUMN_WHERE} AND (n.nspname, c.relname) IN (${pairs})
        ORDER BY n.nspname, c.relname, a.attnum`,
      params,
    );
    for (const [schema, table, name, type, base, nullable, precision, scale] of rows) {
      push(
        tableKey({ schema: schema ?? '', table: table ?? '' }),
        postgresCatalogColumn({
          name: name ?? '',
          type: type ?? '',
          baseType: base ?? '',
          nullable: nullable ?? null,
          precision: precision ?? null,
          scale: scale ?? null,
        }),
      );
    }
  } else {
    // Identifier comparison follows the server (case-insensitive table names on some platforms):
    // results are keyed by the names the config gives.
    const byLower = new Map(unique.map((t) => [tableKey(t).toLowerCase(), tableKey(t)]));
    const params = unique.flatMap((t) => [t.schema, t.table]);
    const pairs = unique.map(() => '(?, ?)').join(', ');
    const rows = await conn.query(
      `SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, NUMERIC_PRECISION, NUMERIC_SCALE
         FROM information_schema.COLUMNS
        WHERE (TABLE_SCHEMA, TABLE_NAME) IN (${pairs})
        ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION`,
      params,
    );
    for (const [schema, table, name, columnType, dataType, nullable, precision, scale] of rows) {
      const key = tableKey({ schema: schema ?? '', table: table ?? '' });
      push(
        byLower.get(key.toLowerCase()) ?? key,
        mysqlCatalogColumn({
          name: name ?? '',
          columnType: columnType ?? '',
          dataType: dataType ?? '',
          nullable: nullable ?? null,
          precision: precision ?? null,
          scale: scale ?? null,
        }),
      );
    }
  }
  return out;
}

/** `schema.table` */
export function tableKey(t: TableRef): string {
  return `${t.schema}.${t.table}`;
}

/** A column of a table by name (case-insensitive on MySQL, exact on PostgreSQL). */
export function findCatalogColumn<C extends { readonly name: string }>(
  columns: readonly C[],
  name: string,
  engine: 'postgres' | 'mysql',
): C | undefined {
  return engine === 'postgres'
    ? columns.find((c) => c.name === name)
    : columns.find((c) => c.name.toLowerCase() === name.toLowerCase());
}
