/**
 * The mapping of `lambdas/shared/mapping/mapper.ts` as one DuckDB SELECT, for the DuckDB prototype
 * benchmark (`npm run bench:duckdb`). Not a product path: it covers the landed types the benchmark
 * streams use (string, decimal, timestamp and the metadata columns) and refuses anything else.
 *
 * Exactness, where DuckDB's own casts differ from the connector's:
 * - decimals: DuckDB's VARCHAR → DECIMAL cast rounds (`'12.345'` → 12.35) and trims blanks, so every
 *   value is matched against a regular expression of the landed precision and scale first; a value
 *   that would need rounding or does not fit raises an error naming the column and the row ordinal
 *   (never the value). Exponent notation (`1.5E+3`), which the connector accepts, is refused.
 * - timestamps: a naive wall time is read in the zone with ICU (`timezone(zone, ts)`). ICU resolves
 *   a repeated time (clocks going back) to the LATER instant and reads a skipped time with the
 *   offset before the change; the connector takes the earlier instant and lands skipped times on
 *   the instant of the change. Both are corrected: near a change (found by reading the wall time
 *   with the offsets of a day before and after) a repeated time takes the earlier valid reading,
 *   and a skipped time (its round trip differs) the change instant from {@link zoneGaps},
 *   computed with the connector's own zone rules.
 * - pseudonyms: DuckDB has `sha256` but no HMAC; the pseudonym of each distinct value is computed in
 *   JS ({@link hmacHex}) and joined, or, for comparison, built from two `sha256` calls
 *   ({@link sqlHmac}).
 * - texts of PostgreSQL's COPY text format are unescaped in SQL ({@link copyUnescape}).
 */
import { createHmac } from 'node:crypto';
import { CANONICAL_STREAMS, type StreamName, UNMAPPED_VALUE } from '#shared/canonical';
import { cursorColumnOf, mappedColumn } from '#shared/config/columns';
import type { OperatorConfig } from '#shared/config/schema';
import { type LandedColumn, landedColumns } from '#shared/landed-schema';
import { zoneConverter, zoneOffsetAt } from '#shared/mapping/time';
import type { SourceSeq } from '#shared/mapping/version';
import { pseudonymInput } from '#shared/pii/pseudonymizer';

/** A source column as the prototype reads it: every value arrives as VARCHAR. */
export interface SqlSourceColumn {
  readonly name: string;
  /** `timestamp`: a naive wall time in the source's zone; `text`: anything else. */
  readonly kind: 'text' | 'timestamp';
}

export interface SqlMappingOptions {
  readonly config: OperatorConfig;
  readonly stream: StreamName;
  readonly sourceColumns: readonly SqlSourceColumn[];
  readonly runId: string;
  readonly extractedAt: Date;
  readonly sourceSeq: SourceSeq;
  /** The input uses PostgreSQL's COPY text escapes (`\t`, `\n`, `\\`). */
  readonly copyText: boolean;
  /** Pseudonyms from `p_<landed column>(v, p)` tables (`join`) or computed per row in SQL (`sql`). */
  readonly pseudonyms: 'join' | 'sql';
  /** The HMAC key, only for `pseudonyms: 'sql'`. */
  readonly key?: Buffer;
}

/** One pseudonymized landed column: its source column and how a value becomes the HMAC input. */
export interface PseudonymColumn {
  readonly landed: string;
  readonly source: string;
  readonly table: string;
  readonly input: (value: string) => string;
}

export interface SqlMapping {
  readonly columns: readonly LandedColumn[];
  readonly pseudonymColumns: readonly PseudonymColumn[];
  /**
   * The SELECT of the landed columns plus `dt` (the partition date) from `raw`, a table of the
   * source columns as VARCHAR whose `rowid` is the row's ordinal within the chunk; `rowOffset`
   * is the ordinal of the chunk's first row in the input.
   */
  select(rowOffset: number): string;
}

const quote = (text: string) => `'${text.replaceAll("'", "''")}'`;
const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** The HMAC-SHA256 pseudonym of one value, as `createPseudonymizer` computes it. */
export function hmacHex(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('hex');
}

/** HMAC-SHA256 of `expr` (VARCHAR) as lower-case hex, from two DuckDB `sha256` calls over BLOBs. */
export function sqlHmac(key: Buffer, expr: string): string {
  const block = Buffer.alloc(64);
  (key.length > 64 ? createHmac('sha256', '').update(key).digest() : key).copy(block);
  const pad = (byte: number) => `unhex('${Buffer.from(block.map((b) => b ^ byte)).toString('hex')}')`;
  return `sha256(${pad(0x5c)} || unhex(sha256(${pad(0x36)} || encode(${expr}))))`;
}

/** A COPY text field decoded: `\\` pairs first (split), then the control-character escapes. */
export function copyUnescape(expr: string): string {
  const escapes: [string, number][] = [
    ['\\t', 9],
    ['\\n', 10],
    ['\\r', 13],
    ['\\b', 8],
    ['\\f', 12],
    ['\\v', 11],
  ];
  const inner = escapes.reduce((acc, [esc, code]) => `replace(${acc}, ${quote(esc)}, chr(${code}))`, 's');
  return `CASE WHEN contains(${expr}, '\\') THEN array_to_string(list_transform(string_split(${expr}, '\\\\'), s -> ${inner}), '\\') ELSE ${expr} END`;
}

/** A skipped wall-clock interval of a zone and the instant every wall time in it lands on. */
export interface ZoneGap {
  /** Wall time (ms, read as if UTC) of the first skipped time. */
  readonly wallFrom: number;
  /** Wall time of the first time after the gap. */
  readonly wallTo: number;
  /** UTC ms of the change: where the connector lands every skipped time. */
  readonly jump: number;
}

const DAY_MS = 86_400_000;

/** Every gap (clocks going forward) of `zone` between two UTC instants, by the connector's rules. */
export function zoneGaps(zone: string, fromMs: number, toMs: number): ZoneGap[] {
  const gaps: ZoneGap[] = [];
  const converter = zoneConverter(zone);
  let prev = zoneOffsetAt(zone, fromMs);
  for (let t = fromMs + DAY_MS; t <= toMs + DAY_MS; t += DAY_MS) {
    const offset = zoneOffsetAt(zone, t);
    if (offset > prev) {
      // The first instant with the new offset in (t - 1 day, t].
      let lo = t - DAY_MS;
      let hi = t;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (zoneOffsetAt(zone, mid) === offset) hi = mid;
        else lo = mid;
      }
      const wallFrom = hi + prev;
      // The connector's own resolution of the first skipped time is the change instant.
      gaps.push({ wallFrom, wallTo: hi + offset, jump: converter.toUtc(wallFrom) });
    }
    prev = offset;
  }
  return gaps;
}

const wallLiteral = (ms: number) => `TIMESTAMP '${new Date(ms).toISOString().replace('T', ' ').replace('Z', '')}'`;
const instantLiteral = (ms: number) =>
  `TIMESTAMPTZ '${new Date(ms).toISOString().replace('T', ' ').replace('Z', '+00')}'`;

/** Builds the SELECT of one stream's landed columns. Throws on a landed type the prototype does not cover. */
export function sqlMapping(options: SqlMappingOptions): SqlMapping {
  const { config, stream, sourceColumns } = options;
  const streamConfig = config.streams[stream];
  if (!streamConfig) throw new Error(`stream ${stream} is not configured`);
  const canonical = CANONICAL_STREAMS[stream];
  const zone =
    config.source.type === 'files' ? (config.fileDrop?.timeZone ?? 'UTC') : (config.source.timeZone ?? 'UTC');
  const columns = landedColumns(config, stream);
  const cursorColumn = cursorColumnOf(stream, streamConfig);
  if (cursorColumn === undefined) throw new Error(`no cursor column for ${stream}`);
  // Gaps of the zone from 1970 to 2100: a few hundred at most, looked up only for skipped times.
  const gaps = zone === 'UTC' ? [] : zoneGaps(zone, 0, Date.UTC(2100, 0, 1));
  const gapList = `[${gaps.map((g) => `{f: ${wallLiteral(g.wallFrom)}, t: ${wallLiteral(g.wallTo)}, j: ${instantLiteral(g.jump)}}`).join(', ')}]`;

  const source = (name: string): SqlSourceColumn => {
    const found = sourceColumns.find((c) => c.name === name);
    if (!found) throw new Error(`source column ${name} is missing`);
    return found;
  };
  const text = (name: string) => (options.copyText ? copyUnescape(`raw.${ident(name)}`) : `raw.${ident(name)}`);
  /** Raises an error naming the column and the row's ordinal in the input, never the value. */
  const fail = (column: string, problem: string, row = 'raw.__row') =>
    `error(${quote(`${column} ${problem} (row `)} || (${row} + $offset) || ')')`;

  /**
   * Naive wall times (VARCHAR) → instants (TIMESTAMPTZ, µs) by the connector's zone rules, in three
   * nested projections per timestamp column: the validated wall time or the instant of a text
   * with an offset (`__w`, `__o`), ICU's instant (`__u`), and the instant with skipped times on
   * the change (`__t`).
   */
  const instants = new Map<string, number>();
  const instant = (column: string): string => {
    let i = instants.get(column);
    if (i === undefined) {
      i = instants.size;
      instants.set(column, i);
    }
    return `__t${i}`;
  };
  const naive = `'[0-9]{4}-[0-9]{2}-[0-9]{2}([ Tt][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,6})?)?)?'`;
  const withOffset = `'[0-9]{4}-[0-9]{2}-[0-9]{2}[ Tt][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,6})?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)'`;
  const wallLevel = (column: string, i: number): string => {
    const expr = text(column);
    const wall = `try_cast(upper(${expr}) AS TIMESTAMP)`;
    const bad = fail(
      column,
      'is not a valid timestamp (expected YYYY-MM-DD HH:MM:SS[.ffffff] with an optional offset)',
      'raw.rowid',
    );
    return `CASE WHEN ${expr} IS NULL THEN NULL WHEN regexp_full_match(${expr}, ${naive}) THEN coalesce(${wall}, ${bad}) END AS __w${i},
    CASE WHEN ${expr} IS NULL OR regexp_full_match(${expr}, ${naive}) THEN NULL
      WHEN regexp_full_match(${expr}, ${withOffset}) THEN coalesce(try_cast(upper(${expr}) AS TIMESTAMPTZ), ${bad})
      ELSE ${bad} END AS __o${i}`;
  };
  // ICU's candidate (`__u`) and the wall time read with the offset of a day before (`__e`) and a
  // day after (`__g`): the three agree except within a day of a change. There, a repeated time
  // (ICU takes the later instant) lands on the earlier valid candidate, and a skipped time (the
  // round trip differs) on the change instant.
  const zoned = (i: number) =>
    zone === 'UTC'
      ? `coalesce(__o${i}, __w${i}::TIMESTAMPTZ) AS __u${i}, __u${i} AS __e${i}, __u${i} AS __g${i}`
      : `coalesce(__o${i}, timezone(${quote(zone)}, __w${i})) AS __u${i},
      timezone(${quote(zone)}, __w${i} - INTERVAL 1 DAY) + INTERVAL 1 DAY AS __e${i},
      timezone(${quote(zone)}, __w${i} + INTERVAL 1 DAY) - INTERVAL 1 DAY AS __g${i}`;
  const resolved = (i: number) =>
    zone === 'UTC'
      ? `__u${i} AS __t${i}`
      : `CASE WHEN __w${i} IS NULL OR (__e${i} = __u${i} AND __g${i} = __u${i}) THEN __u${i}
      WHEN __e${i} <> __u${i} AND timezone(${quote(zone)}, __e${i}) = __w${i} THEN least(__e${i}, __u${i})
      WHEN timezone(${quote(zone)}, __u${i}) = __w${i} THEN __u${i}
      ELSE list_filter(${gapList}, g -> __w${i} >= g.f AND __w${i} < g.t)[1].j END AS __t${i}`;

  const decimal = (expr: string, column: string, precision: number, scale: number): string => {
    const intDigits = precision - scale;
    const exact = `'[+-]?0*[0-9]{0,${intDigits}}(\\.[0-9]{0,${scale}}0*)?'`;
    return `CASE WHEN ${expr} IS NULL THEN NULL
      WHEN regexp_full_match(${expr}, ${exact}) AND regexp_matches(${expr}, '[0-9]') THEN ${expr}::DECIMAL(${precision},${scale})
      WHEN regexp_full_match(${expr}, '[+-]?[0-9]*\\.[0-9]*[1-9]0*') AND regexp_full_match(${expr}, '[+-]?[0-9]*\\.?[0-9]*') AND NOT regexp_full_match(${expr}, '[+-]?[0-9]*(\\.[0-9]{0,${scale}}0*)?')
        THEN ${fail(column, `has more decimals than the landed type DECIMAL(${precision},${scale})`)}
      WHEN regexp_full_match(${expr}, '[+-]?[0-9]+(\\.[0-9]*)?') THEN ${fail(column, `has more integer digits than the landed type DECIMAL(${precision},${scale})`)}
      ELSE ${fail(column, `is not a decimal number (for DECIMAL(${precision},${scale}))`)} END`;
  };

  const pseudonymColumns: PseudonymColumn[] = [];
  const joins: string[] = [];
  const selects: string[] = [];

  for (const landed of columns) {
    const name = ident(landed.name);
    let expr: string;
    if (landed.name === '_run_id') expr = quote(options.runId);
    else if (landed.name === '_deleted') expr = 'false';
    else if (landed.name === '_extracted_at') expr = instantLiteral(options.extractedAt.getTime());
    else if (landed.name === '_source_seq') {
      expr =
        options.sourceSeq.kind === 'constant'
          ? `${options.sourceSeq.value}::BIGINT`
          : `(${options.sourceSeq.start}::BIGINT + raw.__row + $offset)`;
    } else if (landed.name === '_cursor' || landed.name === '_cursor_us') {
      if (source(cursorColumn).kind !== 'timestamp') throw new Error('the cursor must be a timestamp column');
      const cursor = instant(cursorColumn);
      expr = landed.name === '_cursor' ? `date_trunc('millisecond', ${cursor})` : `epoch_us(${cursor})`;
    } else {
      const field = canonical.fields.find((f) => f.name === (landed.field ?? landed.name));
      if (!field) throw new Error(`landed column ${landed.name} has no canonical field`);
      const mapping = streamConfig.columns[field.name];
      const column = mappedColumn(mapping) ?? (field.name === canonical.cursor ? cursorColumn : undefined);
      if (column === undefined) {
        expr = 'NULL';
      } else {
        const src = source(column);
        const value = text(column);
        if (landed.treatment === 'pseudonymize') {
          const table = `p_${landed.name}`;
          pseudonymColumns.push({
            landed: landed.name,
            source: column,
            table,
            input: pseudonymInput(stream, field.name, config.source.keyComparison),
          });
          if (options.pseudonyms === 'sql') {
            const cmp = config.source.keyComparison;
            if (cmp.caseInsensitive || cmp.padSpace || field.name === 'email') {
              throw new Error('SQL pseudonyms cover exact key comparison only');
            }
            if (!options.key) throw new Error('pseudonyms: sql needs the key');
            expr = sqlHmac(options.key, value);
          } else {
            joins.push(`LEFT JOIN ${table} ON ${table}.v = ${value}`);
            expr = `${table}.p`;
          }
        } else if (landed.name !== field.name) {
          expr = value; // the operator's original value of an enumeration
        } else if (field.values) {
          const map = new Map<string, string>(
            typeof mapping !== 'string' && mapping?.values ? Object.entries(mapping.values) : [],
          );
          for (const v of field.values) if (!map.has(v)) map.set(v, v);
          const lookup = (e: string) =>
            `CASE ${e} ${[...map].map(([k, v]) => `WHEN ${quote(k)} THEN ${quote(v)}`).join(' ')} END`;
          expr = `CASE WHEN ${value} IS NULL THEN NULL ELSE coalesce(${lookup(value)}, ${lookup(`trim(${value})`)}, ${quote(UNMAPPED_VALUE)}) END`;
        } else if (landed.type.kind === 'string') {
          expr = value;
        } else if (landed.type.kind === 'decimal') {
          expr = decimal(value, landed.name, landed.type.precision, landed.type.scale);
        } else if (landed.type.kind === 'timestamp') {
          if (src.kind !== 'timestamp') throw new Error(`${landed.name}: only naive timestamps are covered`);
          expr = `date_trunc('millisecond', ${instant(column)})`;
        } else {
          throw new Error(`${landed.name}: landed type ${landed.type.kind} is not covered by the prototype`);
        }
      }
    }
    if (!landed.nullable) expr = `coalesce(${expr}, ${fail(landed.name, 'is NULL but the column is required')})`;
    selects.push(`${expr} AS ${name}`);
  }

  const cursor = instant(cursorColumn);
  const levels = [...instants];
  const body = `SELECT ${selects.join(',\n  ')},
  strftime(timezone('UTC', ${cursor}), '%Y-%m-%d') AS dt
FROM (SELECT *, ${levels.map(([, i]) => resolved(i)).join(', ')}
  FROM (SELECT *, ${levels.map(([, i]) => zoned(i)).join(', ')}
    FROM (SELECT raw.*, raw.rowid AS __row, ${levels.map(([c, i]) => wallLevel(c, i)).join(',\n    ')} FROM raw) raw) raw) raw
${joins.join('\n')}`;
  return {
    columns,
    pseudonymColumns,
    select: (rowOffset) => body.replaceAll('$offset', String(rowOffset)),
  };
}
