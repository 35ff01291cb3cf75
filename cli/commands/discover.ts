/**
 * `connector discover --url <source>`: what the operator's database holds, and a proposed stream
 * mapping as YAML the platform team edits into the operator's config.
 */
import { stringify } from 'yaml';
import { CANONICAL_STREAMS, getField, isKeyField } from '#shared/canonical';
import { didYouMean } from '#shared/config/did-you-mean';
import { describeKeyComparison, type KeyComparison } from '#shared/pii/key-form';
import type { SourceConnection } from '#shared/sources/index';
import { type CatalogTable, listSchemas, readSchema } from '../catalog.ts';
import { type ColumnComparison, describeColumnComparison, keyComparisonOf } from '../collation.ts';
import { defineCommand } from '../command.ts';
import { CliError, COMMON_OPTIONS, EXIT, formatCount, printJson, UsageError } from '../io.ts';
import { type ProposedStream, proposeStreams, proposeValue } from '../proposal.ts';
import { connect, connectTimeout, credentialsFromUrl, TIMEOUT_HELP } from '../source.ts';
import { qualified, quoteIdent } from '../sql.ts';

const HELP = `Usage: connector discover --url <source> [--schema S]… [--json]

Lists the schemas, tables, columns, types and row estimates of a database, and proposes how its
tables map onto the canonical streams, as YAML to review and paste under \`streams:\` in the
operator's config. Names are matched with common synonyms (customer → player, txn → payment,
modified → updated_at, amt → amount, bet → stake, win → payout); the key is the primary key; the
cursor a timestamp column, preferably indexed; enumeration values are proposed from the distinct
values of the mapped columns (SELECT DISTINCT … LIMIT 21 on each). source.keyComparison (how
player ids compare: case, trailing spaces) is proposed from the collations of the key columns.

Options:
  --url URL        postgres://user:password@host:5432/db or mysql://user:password@host:3306/db
                   (default: CONNECTOR_SOURCE_URL; ?sslmode=require|verify-full for TLS)
  --schema S       only this schema (PostgreSQL) or database (MySQL); repeatable
                   (default: every non-system schema; on MySQL the URL's database)
  --no-values      do not read distinct values of enumeration columns
${TIMEOUT_HELP}
  --json           print the catalog and the proposal as JSON
  -h, --help       show this help

Exit codes: 0 a mapping was proposed, 1 no table matched a stream, 2 usage error, 3 cannot connect.`;

/** Most distinct values an enumeration column may have for a value map to be proposed. */
const MAX_ENUM_VALUES = 20;

/** The proposal as the `streams:` section of an operator config. */
export interface DiscoveryResult {
  readonly tables: readonly CatalogTable[];
  readonly proposals: readonly ProposedStream[];
  /** `streams:` mapping, ready for YAML. */
  readonly streams: Record<string, unknown>;
  /** The schema every proposed table is in, when there is one; otherwise each stream names its schema. */
  readonly schema?: string;
  /** The engine: on MySQL/MariaDB the schema is the database (`source.database`). */
  readonly engine: 'postgres' | 'mysql';
  /** `source.keyComparison` the key columns' collations call for, when they have one. */
  readonly keyComparison?: KeyComparison;
  /** Why: the collation the proposal follows, in words. */
  readonly keyComparisonFrom?: string;
  readonly notes: readonly string[];
}

async function distinctValues(
  conn: SourceConnection,
  table: CatalogTable,
  column: string,
): Promise<string[] | undefined> {
  const rows = await conn.query(
    `SELECT DISTINCT ${quoteIdent(conn.engine, column)} FROM ${qualified(conn.engine, table.schema, table.name)} WHERE ${quoteIdent(conn.engine, column)} IS NOT NULL ORDER BY 1 LIMIT ${MAX_ENUM_VALUES + 1}`,
  );
  if (rows.length > MAX_ENUM_VALUES) return undefined;
  return rows.map((r) => r[0] ?? '');
}

/** The error for a schema given with `--schema` that holds no table this user can see. */
async function missingSchema(conn: SourceConnection, schema: string): Promise<CliError> {
  const what = conn.engine === 'postgres' ? 'schema' : 'database';
  const existing = await listSchemas(conn);
  const exists =
    conn.engine === 'postgres'
      ? (await conn.query('SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1', [schema])).length > 0
      : (await conn.query('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [schema])).length > 0;
  const suggestion = didYouMean(schema, existing);
  const list = existing.length > 0 ? `; ${what}s with tables: ${existing.join(', ')}` : '';
  return new CliError(
    exists
      ? `discover: ${what} ${schema} holds no table this user can see (check the grants)${list}`
      : `discover: ${what} ${schema} does not exist${suggestion ? `; did you mean ${suggestion}?` : ''}${list}`,
    EXIT.problems,
  );
}

/** A proposed key or reference column with what the catalog says about its comparison. */
interface KeyColumn {
  readonly where: string;
  readonly comparison: ColumnComparison;
  /** Pseudonymized by default (player_id), so its pseudonym follows source.keyComparison. */
  readonly pseudonymized: boolean;
}

/**
 * The key comparison the proposed key columns call for: that of the player id columns (whose
 * pseudonyms must join across streams), preferring the players table's key when they disagree.
 */
export function proposeKeyComparison(proposals: readonly ProposedStream[]): {
  comparison?: KeyComparison;
  from?: string;
  notes: string[];
} {
  const columns: KeyColumn[] = [];
  for (const p of proposals) {
    for (const { field, column } of p.fields) {
      if (!isKeyField(p.stream, field)) continue;
      const comparison = p.table.columns.find((c) => c.name === column)?.comparison;
      if (!comparison) continue;
      columns.push({
        where: `${p.table.name}.${column}`,
        comparison,
        pseudonymized: getField(p.stream, field)?.pii === 'pseudonymize',
      });
    }
  }
  const notes: string[] = [];
  const keyed = columns.filter((c) => c.pseudonymized);
  if (keyed.length === 0) return { notes };
  const rules = new Map<string, KeyColumn[]>();
  for (const c of keyed) {
    const rule = JSON.stringify(keyComparisonOf(c.comparison));
    rules.set(rule, [...(rules.get(rule) ?? []), c]);
  }
  const players = proposals.find((p) => p.stream === 'players');
  const playersKey = players
    ? `${players.table.name}.${players.fields.find((f) => f.field === 'player_id')?.column}`
    : '';
  const chosen =
    keyed.find((c) => c.where === playersKey) ?? [...rules.values()].sort((a, b) => b.length - a.length)[0]![0]!;
  const comparison = keyComparisonOf(chosen.comparison);
  if (rules.size > 1) {
    notes.push(
      `player id columns compare differently (${keyed.map((c) => `${c.where} ${describeColumnComparison(c.comparison)}`).join('; ')}): the lake follows one rule, proposed from ${chosen.where}; \`connector check\` flags the others`,
    );
  }
  // One note per collation that equates more than the key form folds, naming its key columns.
  const beyond = new Map<string, { comparison: ColumnComparison; where: string[] }>();
  for (const c of columns) {
    if (!c.comparison.known) {
      notes.push(
        `${c.where}: collation ${c.comparison.collation} is not recognized; check source.keyComparison by hand`,
      );
    } else if (c.comparison.beyond.length > 0) {
      const entry = beyond.get(c.comparison.collation) ?? { comparison: c.comparison, where: [] };
      entry.where.push(c.where);
      beyond.set(c.comparison.collation, entry);
    }
  }
  for (const [collation, { comparison: c, where }] of beyond) {
    notes.push(
      `collation ${collation} (${where.join(', ')}) also equates ${c.beyond.join(', ')}, which the key form does not fold: \`connector check\` samples the key values to tell whether that matters`,
    );
  }
  return { comparison, from: `${chosen.where}, collation ${chosen.comparison.collation}`, notes };
}

/** Reads the catalog of `schemas` (default: all) and proposes a mapping. */
export async function discover(
  conn: SourceConnection,
  options: { schemas?: readonly string[]; values?: boolean; progress?: (line: string) => void } = {},
): Promise<DiscoveryResult> {
  const progress = options.progress ?? (() => {});
  const schemas = options.schemas && options.schemas.length > 0 ? options.schemas : await listSchemas(conn);
  const tables: CatalogTable[] = [];
  for (const schema of schemas) {
    progress(`reading schema ${schema}…`);
    const found = await readSchema(conn, schema);
    if (found.length === 0 && options.schemas && options.schemas.length > 0) {
      throw await missingSchema(conn, schema);
    }
    tables.push(...found);
  }
  const proposals = proposeStreams(tables);
  const proposedSchemas = [...new Set(proposals.map((p) => p.table.schema))];
  const oneSchema = proposedSchemas.length === 1 ? proposedSchemas[0] : undefined;
  const notes: string[] = [];
  const streams: Record<string, unknown> = {};
  const naive: string[] = [];
  for (const p of proposals) {
    const columns: Record<string, unknown> = {};
    for (const { field: name, column } of p.fields) {
      const field = getField(p.stream, name)!;
      const col = p.table.columns.find((c) => c.name === column)!;
      if (field.values) {
        const values = options.values === false ? undefined : await sampleValues(conn, p, column, progress);
        if (values === undefined) {
          columns[name] = column;
          if (options.values !== false) {
            notes.push(`${p.stream}.${name}: ${column} has more than ${MAX_ENUM_VALUES} values; map them by hand`);
          }
        } else {
          const map = Object.fromEntries(values.map((v) => [v, proposeValue(field, v)]));
          for (const [v, c] of Object.entries(map)) {
            if (c === 'unmapped')
              notes.push(`${p.stream}.${name}: value ${JSON.stringify(v)} matched no canonical value`);
          }
          columns[name] = Object.keys(map).length > 0 ? { column, values: map } : column;
        }
      } else if (field.money && col.precision !== undefined && col.scale !== undefined) {
        columns[name] = { column, precision: Math.min(col.precision, 38), scale: Math.min(col.scale, 38) };
      } else {
        columns[name] = column;
      }
    }
    const canonical = CANONICAL_STREAMS[p.stream];
    const cursor = p.fields.find((f) => f.field === canonical.cursor)?.column;
    const cursorColumn = p.table.columns.find((c) => c.name === cursor);
    if (cursorColumn?.kind === 'timestamp') naive.push(`${p.stream} (${cursor})`);
    for (const n of p.notes) notes.push(`${p.stream}: ${n}`);
    streams[p.stream] = {
      table: p.table.name,
      ...(oneSchema === undefined ? { schema: p.table.schema } : {}),
      columns,
    };
  }
  if (naive.length > 0) {
    notes.unshift(
      `cursors without time zone: ${naive.join(', ')}; set source.timeZone to the zone the database stores them in`,
    );
  }
  const unmatched = Object.keys(CANONICAL_STREAMS).filter((s) => !(s in streams));
  if (unmatched.length > 0) notes.push(`no table matched: ${unmatched.join(', ')}`);
  const keys = proposeKeyComparison(proposals);
  notes.push(...keys.notes);
  return {
    tables,
    proposals,
    streams,
    ...(oneSchema !== undefined ? { schema: oneSchema } : {}),
    engine: conn.engine,
    ...(keys.comparison ? { keyComparison: keys.comparison, keyComparisonFrom: keys.from } : {}),
    notes,
  };
}

async function sampleValues(
  conn: SourceConnection,
  p: ProposedStream,
  column: string,
  progress: (line: string) => void,
): Promise<string[] | undefined> {
  progress(`reading distinct values of ${p.table.schema}.${p.table.name}.${column}…`);
  return distinctValues(conn, p.table, column);
}

/** The catalog as YAML comments, then the proposal. */
export function discoveryYaml(result: DiscoveryResult, from: string): string {
  const lines: string[] = [
    `# Proposed by \`connector discover\` from ${from}. Review every line before using it:`,
    '# names were matched by similarity, and values by their spelling.',
    '#',
  ];
  const bySchema = new Map<string, CatalogTable[]>();
  for (const t of result.tables) bySchema.set(t.schema, [...(bySchema.get(t.schema) ?? []), t]);
  for (const [schema, tables] of bySchema) {
    lines.push(`# schema ${schema}: ${tables.length} table(s)`);
    for (const t of tables) {
      const rows = t.rowEstimate === null ? 'rows unknown' : `~${formatCount(t.rowEstimate)} rows`;
      const used = result.proposals.find((p) => p.table === t);
      lines.push(`#   ${t.name} (${rows})${used ? ` → ${used.stream}` : ''}`);
      for (const c of t.columns) {
        const tags = [
          t.primaryKey.includes(c.name) ? 'primary key' : '',
          t.indexes.some((i) => i.columns[0] === c.name && !t.primaryKey.includes(c.name)) ? 'indexed' : '',
          c.nullable ? '' : 'not null',
          c.comparison && c.comparison.collation !== 'default' ? `collation ${c.comparison.collation}` : '',
        ].filter((s) => s !== '');
        lines.push(`#     ${c.name} ${c.type}${tags.length ? ` (${tags.join(', ')})` : ''}`);
      }
    }
  }
  if (result.notes.length > 0) {
    lines.push('#', '# To review:', ...result.notes.map((n) => `#   - ${n}`));
  }
  lines.push('#');
  if (result.schema !== undefined) {
    lines.push(
      result.engine === 'mysql'
        ? `# Every table is in database ${result.schema}: set source.database: ${result.schema} (on MySQL a schema is a database)`
        : `# Every table is in ${result.schema}: set source.schema: ${result.schema}`,
    );
  }
  if (result.keyComparison) {
    const k = result.keyComparison;
    lines.push(
      `# Player ids compare ${describeKeyComparison(k)} (${result.keyComparisonFrom}): set source.keyComparison: { caseInsensitive: ${k.caseInsensitive}, padSpace: ${k.padSpace} }`,
    );
  }
  return `${lines.join('\n')}\n${stringify({ streams: result.streams }, { lineWidth: 0 })}`;
}

export const discoverCommand = defineCommand({
  name: 'discover',
  summary: 'list tables and columns of a database and propose a stream mapping',
  help: HELP,
  options: {
    ...COMMON_OPTIONS,
    url: { type: 'string' },
    schema: { type: 'string', multiple: true },
    'no-values': { type: 'boolean' },
    json: { type: 'boolean' },
    timeout: { type: 'string' },
  },
  async run({ values, io }) {
    const url = values.url ?? io.env.CONNECTOR_SOURCE_URL;
    if (!url)
      throw new UsageError(
        'discover: give the database with --url postgres://… or mysql://… (or CONNECTOR_SOURCE_URL)',
      );
    const { credentials } = credentialsFromUrl(url, values.url ? '--url' : 'CONNECTOR_SOURCE_URL');
    const from = `${credentials.engine}://${credentials.host}:${credentials.port}/${credentials.database}`;
    io.err(`connecting to ${from}…\n`);
    const conn = await connect(credentials, { connectTimeoutSeconds: connectTimeout('discover', values.timeout, url) });
    try {
      const schemas = values.schema ?? (credentials.engine === 'mysql' ? [credentials.database] : undefined);
      const result = await discover(conn, {
        ...(schemas ? { schemas } : {}),
        values: !values['no-values'],
        progress: (line) => io.err(`${line}\n`),
      });
      if (values.json) {
        printJson(io, {
          tables: result.tables,
          streams: result.streams,
          schema: result.schema ?? null,
          keyComparison: result.keyComparison ?? null,
          notes: result.notes,
        });
      } else {
        io.out(discoveryYaml(result, from));
      }
      return result.proposals.length > 0 ? EXIT.ok : EXIT.problems;
    } finally {
      await conn.close();
    }
  },
});
