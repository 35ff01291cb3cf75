/**
 * What a source database holds, read through the connector's own session (`SourceConnection.query`):
 * schemas, tables, columns with their types, primary keys, indexes and row estimates. Used by
 * `discover` (to propose a mapping) and `check` (to verify one).
 */
import {
  findCatalogColumn,
  mysqlCatalogColumn,
  PG_COLUMN_FROM,
  PG_COLUMN_SELECT,
  PG_COLUMN_WHERE,
  postgresCatalogColumn,
  type CatalogColumn as SourceCatalogColumn,
} from '#shared/sources/catalog';
import type { SourceConnection } from '#shared/sources/index';
import type { SourceKind } from '#shared/types';
import { type ColumnComparison, mysqlColumnComparison, postgresColumnComparison } from './collation.ts';

/** A column as the catalog describes it, with how a text column compares values. */
export interface CatalogColumn extends SourceCatalogColumn {
  /** How a text column compares values (collation, case, trailing spaces); absent for other types. */
  readonly comparison?: ColumnComparison;
}

export interface CatalogIndex {
  readonly name: string;
  readonly columns: readonly string[];
}

export interface CatalogTable {
  readonly schema: string;
  readonly name: string;
  readonly columns: readonly CatalogColumn[];
  readonly primaryKey: readonly string[];
  readonly indexes: readonly CatalogIndex[];
  /** Planner estimate; null when unknown (never analyzed). */
  readonly rowEstimate: number | null;
}

/** Whether a kind can be a time cursor (windows and watermarks are instants). */
export function isTimeKind(kind: SourceKind): boolean {
  return kind === 'timestamp' || kind === 'timestamptz' || kind === 'date';
}

const PG_SYSTEM = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg\\_%'";
const MYSQL_SYSTEM = "('mysql', 'information_schema', 'performance_schema', 'sys')";

/** The non-system schemas (PostgreSQL) or databases (MySQL) that hold tables. */
export async function listSchemas(conn: SourceConnection): Promise<string[]> {
  const rows =
    conn.engine === 'postgres'
      ? await conn.query(
          `SELECT DISTINCT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND ${PG_SYSTEM} ORDER BY 1`,
        )
      : await conn.query(
          `SELECT DISTINCT TABLE_SCHEMA FROM information_schema.TABLES
            WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ${MYSQL_SYSTEM} ORDER BY 1`,
        );
  return rows.map((r) => r[0] ?? '').filter((s) => s !== '');
}

const num = (v: string | null | undefined): number | undefined =>
  v === null || v === undefined || v === '' ? undefined : Number(v);

/** Every table of a schema with its columns, primary key, indexes and row estimate. */
export async function readSchema(conn: SourceConnection, schema: string): Promise<CatalogTable[]> {
  type Mutable = {
    schema: string;
    name: string;
    columns: CatalogColumn[];
    primaryKey: string[];
    indexes: Map<string, string[]>;
    rowEstimate: number | null;
  };
  const tables = new Map<string, Mutable>();
  const table = (name: string): Mutable => {
    let t = tables.get(name);
    if (!t) {
      t = { schema, name, columns: [], primaryKey: [], indexes: new Map(), rowEstimate: null };
      tables.set(name, t);
    }
    return t;
  };
  if (conn.engine === 'postgres') {
    // Nondeterministic collations exist from PostgreSQL 12 on; before, every collation is deterministic.
    const [[version]] = (await conn.query('SHOW server_version_num')) as [[string | null]];
    const deterministic = Number(version) >= 120000 ? 'co.collisdeterministic' : 'true';
    const columns = await conn.query(
      `SELECT c.relname, ${PG_COLUMN_SELECT},
              GREATEST(c.reltuples, 0)::bigint, c.reltuples < 0, co.collname, ${deterministic}
         FROM ${PG_COLUMN_FROM}
         LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND ${PG_COLUMN_WHERE}
        ORDER BY c.relname, a.attnum`,
      [schema],
    );
    for (const [tableName, name, type, base, nullable, precision, scale, tuples, unknown, collation, det] of columns) {
      const t = table(tableName ?? '');
      const column = postgresCatalogColumn({
        name: name ?? '',
        type: type ?? '',
        baseType: base ?? '',
        nullable: nullable ?? null,
        precision: precision ?? null,
        scale: scale ?? null,
      });
      t.columns.push({
        ...column,
        ...(column.kind === 'text' && collation
          ? {
              comparison: postgresColumnComparison({
                baseType: base ?? '',
                collation,
                deterministic: det !== 'f' && det !== 'false',
              }),
            }
          : {}),
      });
      t.rowEstimate = unknown === 't' || unknown === 'true' ? null : (num(tuples) ?? null);
    }
    const indexes = await conn.query(
      `SELECT t.relname, i.relname, x.indisprimary, a.attname, k.ord
         FROM pg_catalog.pg_index x
         JOIN pg_catalog.pg_class t ON t.oid = x.indrelid
         JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
         CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
        WHERE n.nspname = $1 AND x.indpred IS NULL
        ORDER BY t.relname, i.relname, k.ord`,
      [schema],
    );
    for (const [tableName, indexName, primary, column] of indexes) {
      const t = tables.get(tableName ?? '');
      if (!t) continue;
      const cols = t.indexes.get(indexName ?? '') ?? [];
      cols.push(column ?? '');
      t.indexes.set(indexName ?? '', cols);
      if (primary === 't' || primary === 'true') t.primaryKey.push(column ?? '');
    }
  } else {
    // MySQL 8 states each collation's pad attribute; MariaDB names its NO PAD collations `_nopad_`.
    const [[padColumn]] = (await conn.query(
      `SELECT COUNT(*) FROM information_schema.COLUMNS
        WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = 'COLLATIONS' AND COLUMN_NAME = 'PAD_ATTRIBUTE'`,
    )) as [[string | null]];
    const pad = Number(padColumn) > 0;
    const columns = await conn.query(
      `SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.DATA_TYPE, c.IS_NULLABLE, c.NUMERIC_PRECISION, c.NUMERIC_SCALE, t.TABLE_ROWS,
              c.COLLATION_NAME, ${pad ? 'co.PAD_ATTRIBUTE' : 'NULL'}
         FROM information_schema.COLUMNS c
         JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
         ${pad ? 'LEFT JOIN information_schema.COLLATIONS co ON co.COLLATION_NAME = c.COLLATION_NAME' : ''}
        WHERE c.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE'
        ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION`,
      [schema],
    );
    for (const [
      tableName,
      name,
      columnType,
      dataType,
      nullable,
      precision,
      scale,
      rows,
      collation,
      padAttribute,
    ] of columns) {
      const t = table(tableName ?? '');
      const column = mysqlCatalogColumn({
        name: name ?? '',
        columnType: columnType ?? '',
        dataType: dataType ?? '',
        nullable: nullable ?? null,
        precision: precision ?? null,
        scale: scale ?? null,
      });
      t.columns.push({
        ...column,
        ...(column.kind === 'text' && collation ? { comparison: mysqlColumnComparison(collation, padAttribute) } : {}),
      });
      t.rowEstimate = num(rows) ?? null;
    }
    const indexes = await conn.query(
      `SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
        WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`,
      [schema],
    );
    for (const [tableName, indexName, column] of indexes) {
      const t = tables.get(tableName ?? '');
      if (!t) continue;
      const cols = t.indexes.get(indexName ?? '') ?? [];
      cols.push(column ?? '');
      t.indexes.set(indexName ?? '', cols);
      if (indexName === 'PRIMARY') t.primaryKey.push(column ?? '');
    }
  }
  return [...tables.values()].map((t) => ({
    ...t,
    indexes: [...t.indexes].map(([name, columns]) => ({ name, columns })),
  }));
}

/** Whether some index of the table starts with `column` (and, when given, continues with `next`). */
export function hasLeadingIndex(table: CatalogTable, column: string, next?: string): boolean {
  const eq = (a: string | undefined, b: string) => a !== undefined && a.toLowerCase() === b.toLowerCase();
  return table.indexes.some((i) => eq(i.columns[0], column) && (next === undefined || eq(i.columns[1], next)));
}

/** A column of a table by name (case-insensitive on MySQL, exact on PostgreSQL). */
export function findColumn(table: CatalogTable, name: string, engine: 'postgres' | 'mysql'): CatalogColumn | undefined {
  return findCatalogColumn(table.columns, name, engine);
}
