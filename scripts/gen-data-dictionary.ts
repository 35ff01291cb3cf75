/**
 * Generates docs/data-dictionary.md, the analysts' reference to the serving tables, from the
 * canonical model (lambdas/shared/canonical.ts), the serving table definitions
 * (lambdas/shared/serving/tables.ts) and an operator config, by default the example operator
 * config/operators/acme-casino.yaml: `npm run docs`. A test regenerates it in memory and fails when
 * the committed file differs, and runs every example query of it on the local engine.
 *
 * For another operator's analysts:
 * `npx tsx scripts/gen-data-dictionary.ts --config config/operators/<id>.yaml [--out FILE]`
 * (without --out the document is printed).
 */
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  CANONICAL_STREAMS,
  type CanonicalField,
  getField,
  LANDED_PARTITION_COLUMNS,
  STREAM_NAMES,
  type StreamName,
  sourceValueColumn,
  UNMAPPED_VALUE,
} from '../lambdas/shared/canonical.ts';
import { loadOperatorConfigFiles } from '../lambdas/shared/config/load.ts';
import type { OperatorConfig } from '../lambdas/shared/config/schema.ts';
import { treatmentOf } from '../lambdas/shared/landed-schema.ts';
import { qualified } from '../lambdas/shared/serving/sql.ts';
import {
  SERVING_LAYOUTS,
  SERVING_ROWS,
  type ServingColumn,
  servingColumns,
  servingLayout,
  servingTableName,
} from '../lambdas/shared/serving/tables.ts';
import { glueDatabaseName, landedTableName } from '../lib/constructs/data-catalog.ts';
import { cell, code } from './markdown.ts';

/** Where the generated dictionary lives, relative to the repository root. */
export const DATA_DICTIONARY_PATH = 'docs/data-dictionary.md';

/** The operator config the committed dictionary is generated for. */
export const DICTIONARY_EXAMPLE_CONFIG = 'config/operators/acme-casino.yaml';

/** Marks the fenced SQL block that follows it as an example query (`<!-- query: <id> -->`). */
export const QUERY_MARKER = /<!-- query: ([a-z0-9-]+) -->\n```sql\n([\s\S]*?)```/g;

/** The Athena (DML) type of an Iceberg column type. */
export function athenaType(icebergType: string): string {
  switch (icebergType) {
    case 'string':
      return 'varchar';
    case 'int':
      return 'integer';
    case 'long':
      return 'bigint';
    default:
      // boolean, date, timestamp and decimal(p,s) have the same name in Athena.
      return icebergType;
  }
}

/** What the metadata columns of a serving table mean, for an analyst. */
const METADATA_MEANING: Readonly<Record<string, string>> = {
  _cursor:
    "The source's change time of this version (UTC, millisecond precision): the value of the stream's change-time column.",
  _run_id:
    'The run that landed this version: a snapshot, a replay, an incremental run or a dropped file. Quote it when you report a problem with a row.',
  _extracted_at:
    'When the connector read this version (by the connector clock). Not an order of versions: a replay reads an old version later.',
  _cursor_us:
    "The source's change time at full precision, in microseconds since 1970-01-01 UTC. First part of the version order.",
  _source_seq:
    'Tie-break between versions with the same `_cursor_us`: the greater value is the later version. Second part of the version order.',
};

/** An example query of the dictionary, for the operator's database. */
interface ExampleQuery {
  readonly id: string;
  readonly title: string;
  /** What the query answers and how to read it (Markdown). */
  readonly intro: string;
  /** Streams the query reads: it is shown only when the operator lands all of them. */
  readonly streams: readonly StreamName[];
  readonly sql: (table: (stream: StreamName) => string) => string;
}

const MARCH = {
  from: "TIMESTAMP '2026-03-01 00:00:00'",
  to: "TIMESTAMP '2026-04-01 00:00:00'",
};

const EXAMPLES: readonly ExampleQuery[] = [
  {
    id: 'deposits-per-day',
    title: 'Deposits per day',
    intro:
      'Approved deposits of March 2026 per day and currency: how many and how much. A payment counts on the day it was requested (`created_at`, the partition column, so Athena reads only the days of March); its status is the latest one, so a deposit requested on 31 March and approved on 1 April counts here as approved. Amounts are summed exactly, per currency.',
    streams: ['payments'],
    sql: (t) => `SELECT CAST(created_at AS date) AS day,
       currency,
       count(*) AS deposits,
       sum(amount) AS amount
FROM ${t('payments')}
WHERE direction = 'deposit'
  AND status = 'approved'
  AND created_at >= ${MARCH.from}
  AND created_at < ${MARCH.to}
GROUP BY CAST(created_at AS date), currency
ORDER BY day, currency`,
  },
  {
    id: 'ggr-per-game',
    title: 'GGR per game',
    intro:
      'Gross gaming revenue per game and currency: stake minus payout of the settled rounds started in March 2026 (`started_at` is the partition column). Open and cancelled rounds are left out. A missing payout counts as 0. `bonus_stake` is the part of the stake paid with bonus money; subtract it for a GGR on cash stakes.',
    streams: ['game_rounds'],
    sql: (t) => `SELECT game_id,
       currency,
       count(*) AS rounds,
       sum(stake) AS stake,
       sum(payout) AS payout,
       sum(coalesce(stake, 0) - coalesce(payout, 0)) AS ggr
FROM ${t('game_rounds')}
WHERE status = 'settled'
  AND started_at >= ${MARCH.from}
  AND started_at < ${MARCH.to}
GROUP BY game_id, currency
ORDER BY ggr DESC, game_id, currency`,
  },
  {
    id: 'active-players',
    title: 'Active players',
    intro:
      'Players with a settled round or a session that started in the last 30 days: from midnight UTC 30 days ago up to now. A player active in both tables counts once: `player_id` is the same pseudonym in every table.',
    streams: ['game_rounds', 'sessions'],
    sql: (t) => `SELECT count(DISTINCT player_id) AS active_players
FROM (
  SELECT player_id
  FROM ${t('game_rounds')}
  WHERE status = 'settled'
    AND started_at >= current_date - INTERVAL '30' DAY
  UNION ALL
  SELECT player_id
  FROM ${t('sessions')}
  WHERE started_at >= current_date - INTERVAL '30' DAY
) AS activity`,
  },
  {
    id: 'deposits-by-country',
    title: 'Deposits by country of residence (a join on player_id)',
    intro:
      "Approved deposits of March 2026 by the depositing player's country, joined on `player_id`. The country is the player's current one. The join is a LEFT JOIN so that no deposit is lost: deposits of a player who is not in `players` (an account not changed since before the first snapshot, see [Freshness](#freshness)) or has no country count under `unknown`.",
    streams: ['payments', 'players'],
    sql: (t) => `SELECT coalesce(pl.country, 'unknown') AS country,
       p.currency,
       count(*) AS deposits,
       count(DISTINCT p.player_id) AS depositors,
       sum(p.amount) AS amount
FROM ${t('payments')} AS p
LEFT JOIN ${t('players')} AS pl ON pl.player_id = p.player_id
WHERE p.direction = 'deposit'
  AND p.status = 'approved'
  AND p.created_at >= ${MARCH.from}
  AND p.created_at < ${MARCH.to}
GROUP BY coalesce(pl.country, 'unknown'), p.currency
ORDER BY 1, 2`,
  },
  {
    id: 'unmapped-values',
    title: 'Values the mapping does not cover',
    intro: `Payment statuses of the last 7 days that the operator's mapping does not translate: they read \`${UNMAPPED_VALUE}\` in \`status\`, and \`status_source\` keeps the operator's own value. Send the list to the platform team to extend the mapping.`,
    streams: ['payments'],
    sql: (t) => `SELECT status_source, count(*) AS payments
FROM ${t('payments')}
WHERE status = '${UNMAPPED_VALUE}'
  AND created_at >= current_date - INTERVAL '7' DAY
GROUP BY status_source
ORDER BY payments DESC, status_source`,
  },
  {
    id: 'freshness',
    title: 'How recent a table is',
    intro:
      'The newest change time of any row in `payments` and when the connector last read a row that is still current. It reads only these two columns of the table.',
    streams: ['payments'],
    sql: (t) => `SELECT max(_cursor) AS newest_change,
       max(_extracted_at) AS last_read
FROM ${t('payments')}`,
  },
];

/** Whether the operator's mapping provides a field (else it is always NULL). */
function isProvided(config: OperatorConfig, stream: StreamName, field: string): boolean {
  const streamConfig = config.streams[stream];
  if (!streamConfig) return false;
  if (streamConfig.columns[field] !== undefined) return true;
  // The canonical cursor field, unmapped, carries the configured cursor column.
  return field === CANONICAL_STREAMS[stream].cursor && streamConfig.cursor !== undefined;
}

/** The operator's values mapped onto each canonical value of an enumeration. */
function operatorValues(config: OperatorConfig, stream: StreamName, field: string): Record<string, string> {
  const mapping = config.streams[stream]?.columns[field];
  return mapping !== undefined && typeof mapping !== 'string' && mapping.values ? mapping.values : {};
}

function configuredStreams(config: OperatorConfig): StreamName[] {
  return STREAM_NAMES.filter((s) => config.streams[s] !== undefined);
}

function slaMinutes(config: OperatorConfig, stream: StreamName): number {
  return config.streams[stream]?.freshnessSlaMinutes ?? config.alerts.defaultFreshnessSlaMinutes;
}

/** The PII cell of a column. */
function piiOf(config: OperatorConfig, stream: StreamName, column: ServingColumn): string {
  const field = column.field ? getField(stream, column.field) : undefined;
  if (!field) return '—';
  const treatment = treatmentOf(field, config.streams[stream]);
  if (treatment === 'pseudonymize') return 'pseudonym';
  return field.personal ? 'personal data, in clear' : '—';
}

/** The meaning cell of a column. */
function meaningOf(config: OperatorConfig, stream: StreamName, column: ServingColumn): string {
  const canonical = CANONICAL_STREAMS[stream];
  const meta = METADATA_MEANING[column.name];
  if (column.field === undefined) {
    if (!meta) throw new Error(`the data dictionary has no meaning for the metadata column ${column.name}`);
    return 'Added by the connector; see [Metadata columns](#metadata-columns).';
  }
  const field = getField(stream, column.field) as CanonicalField;
  const parts: string[] = [];
  const isSource = column.name !== field.name;
  const pseudonymized = treatmentOf(field, config.streams[stream]) === 'pseudonymize';
  if (isSource) {
    parts.push(`The operator's own value of \`${field.name}\`, as its system holds it.`);
  } else {
    parts.push(field.description);
    if (field.values) {
      parts.push(`One of ${field.values.map(code).join(', ')}; see [Enumerations](#enumerations-${stream}).`);
    }
    if (field.money) parts.push('Exact decimal.');
  }
  if (pseudonymized) parts.push('Holds a pseudonym (see [Personal data](#types-personal-data-codes)).');
  if (field.name === canonical.primaryKey) parts.push('Unique in this table.');
  if (field.references) {
    const target = CANONICAL_STREAMS[field.references].primaryKey;
    parts.push(`Joins with ${code(`${field.references}.${target}`)}.`);
  }
  if (!isProvided(config, stream, field.name)) parts.push('**Not provided by this operator: always NULL.**');
  return parts.join(' ');
}

function nameCell(config: OperatorConfig, stream: StreamName, column: ServingColumn): string {
  const canonical = CANONICAL_STREAMS[stream];
  const tags: string[] = [];
  if (column.name === canonical.primaryKey) tags.push('key');
  if (column.name === servingLayout(config, stream).partition.column) tags.push('partition');
  return `${code(column.name)}${tags.length > 0 ? ` (${tags.join(', ')})` : ''}`;
}

function changeTimeText(config: OperatorConfig, stream: StreamName): string[] {
  const canonical = CANONICAL_STREAMS[stream];
  const overridden = config.streams[stream]?.cursor !== undefined;
  const column = overridden ? "the operator's change-time column" : code(canonical.cursor);
  const out = [`- **Change time**: ${code('_cursor')} is ${column}; a newer change replaces the row.`];
  const { partition } = SERVING_LAYOUTS[stream];
  if (!overridden && config.source.type !== 'files' && partition.column === canonical.cursor) {
    // Rows are read by their creation time: a later change is seen only while the lookback re-reads them.
    out.push(
      `- **Later changes**: this stream is read by the time a row was created (${code(canonical.cursor)}), so a change made to a row afterwards reaches the table only if it happens within about ${config.incremental.lookbackMinutes} minutes of that time (the lookback of the incremental runs).`,
    );
  }
  return out;
}

function partitionText(config: OperatorConfig, stream: StreamName): string[] {
  const { partition, reason } = servingLayout(config, stream);
  const column = servingColumns(config, stream).find((c) => c.name === partition.column);
  if (partition.transform === 'day') {
    const nullable = column?.nullable ?? true;
    return [
      `- **Partitioned by** the UTC day of ${code(partition.column)}. ${reason}`,
      `- **To read less** (Athena bills by the bytes it reads), filter on ${code(partition.column)} itself with a range: ${code(`${partition.column} >= ${MARCH.from} AND ${partition.column} < ${MARCH.to}`)} reads only the days of March 2026. A condition on an expression of the column (\`CAST(${partition.column} AS date) = …\`, \`year(${partition.column}) = …\`) may make Athena read every day.${nullable ? ` Rows whose ${code(partition.column)} is NULL are in a partition of their own, which such a range skips (and does not count).` : ''}`,
    ];
  }
  return [
    `- **Partitioned by** ${partition.buckets} buckets of ${code(partition.column)} (a hash of it). ${reason}`,
    `- **To read less**, filter on ${code(partition.column)} with \`=\` or \`IN (…)\`: Athena then reads only the buckets of those values. Any other query reads the whole table.`,
  ];
}

function enumerationSection(config: OperatorConfig, stream: StreamName): string[] {
  const fields = CANONICAL_STREAMS[stream].fields.filter(
    (f) => f.values && treatmentOf(f, config.streams[stream]) !== 'drop',
  );
  if (fields.length === 0) return [];
  const out = [
    `<a id="enumerations-${stream}"></a>**Enumerations.** The column holds the canonical value; ${code('<column>_source')} beside it holds the operator's own value. A value the mapping does not translate reads ${code(UNMAPPED_VALUE)}, with the original in ${code('<column>_source')}.`,
    '',
    "| Column | Canonical values | This operator's values |",
    '| --- | --- | --- |',
  ];
  for (const field of fields) {
    const map = operatorValues(config, stream, field.name);
    const entries = Object.entries(map);
    const theirs =
      entries.length > 0
        ? entries.map(([from, to]) => `${code(from)} → ${code(to)}`).join(', ')
        : 'delivered as canonical values';
    const provided = isProvided(config, stream, field.name) ? theirs : 'not provided (always NULL)';
    out.push(
      `| ${code(field.name)} (original in ${code(sourceValueColumn(field.name))}) | ${(field.values ?? []).map(code).join(', ')} | ${cell(provided)} |`,
    );
  }
  out.push('');
  return out;
}

function streamSection(config: OperatorConfig, stream: StreamName, database: string): string[] {
  const canonical = CANONICAL_STREAMS[stream];
  const streamConfig = config.streams[stream];
  const columns = servingColumns(config, stream);
  const dropped = canonical.fields.filter((f) => treatmentOf(f, streamConfig) === 'drop').map((f) => f.name);
  const out: string[] = [
    `### ${stream}`,
    '',
    `${code(qualified(database, servingTableName(stream)))}`,
    '',
    `- **One row per** ${SERVING_ROWS[stream]}, in its latest version.`,
    `- **Key**: ${code(canonical.primaryKey)}, unique in the table.`,
    ...changeTimeText(config, stream),
    ...partitionText(config, stream),
    `- **Freshness target**: ${slaMinutes(config, stream)} minutes (see [Freshness](#freshness)).`,
    '',
    '| Column | Athena type | Nullable | PII | Meaning |',
    '| --- | --- | --- | --- | --- |',
    ...columns.map(
      (c) =>
        `| ${nameCell(config, stream, c)} | ${athenaType(c.icebergType)} | ${c.nullable ? 'yes' : 'no'} | ${piiOf(config, stream, c)} | ${cell(meaningOf(config, stream, c))} |`,
    ),
    '',
  ];
  if (dropped.length > 0) {
    out.push(
      `**Not in this table**: ${dropped.map(code).join(', ')} (personal data the operator's configuration does not copy at all).`,
      '',
    );
  }
  out.push(...enumerationSection(config, stream));
  return out;
}

function freshnessSection(config: OperatorConfig): string[] {
  const streams = configuredStreams(config);
  const out: string[] = ['## Freshness', ''];
  if (config.source.type === 'files') {
    out.push(
      'This operator delivers files. Rows appear in a table after a file has been delivered, checked and landed, and the table has been updated with it. A file that fails the checks lands nothing (the operator is told why and delivers it again). A table is as fresh as the newest file the operator delivered.',
      '',
    );
  } else {
    const { schedule, lookbackMinutes, safetyLagSeconds } = config.incremental;
    out.push(
      `- **History.** The tables start with the first snapshot, which copied the rows whose change time lies in the ${config.snapshot.days} days before it started. A row whose last change is older than that is not in the tables until it changes again (a player account that did not change in those ${config.snapshot.days} days is not in \`players\`); the platform team can copy an older range with a replay.`,
      `- **Incremental runs** (${code(schedule)}) then read the rows that changed since the previous run, up to ${safetyLagSeconds} seconds before the run started (changes still being written are left for the next run), re-reading the last ${lookbackMinutes} minutes to catch changes that committed late. When a run has landed its rows, the tables are updated with them. A change at the source therefore usually appears within one schedule interval plus ${safetyLagSeconds} seconds plus the few minutes a run takes.`,
    );
    out.push('');
  }
  out.push(
    'An alarm tells the on-call engineer when the newest landed data of a stream is older than its freshness target, or when no run reports at all:',
    '',
    '| Table | Freshness target (minutes) |',
    '| --- | --- |',
    ...streams.map((s) => `| ${code(s)} | ${slaMinutes(config, s)} |`),
    '',
    'The [freshness query](#how-recent-a-table-is) shows how recent a table is.',
    '',
  );
  return out;
}

function examplesSection(config: OperatorConfig, database: string): string[] {
  const streams = new Set(configuredStreams(config));
  const table = (stream: StreamName) => qualified(database, servingTableName(stream));
  const out: string[] = [
    '## Example queries',
    '',
    `Each query names its tables in full (${code(qualified(database, 'payments'))}), so it runs as it is in the Athena console; put your own database name in place of ${code(database)}. Every query below is run by the connector's tests against a known data set, and checked with the Trino grammar Athena uses.`,
    '',
  ];
  for (const example of EXAMPLES) {
    if (!example.streams.every((s) => streams.has(s))) continue;
    out.push(
      `### ${example.title}`,
      '',
      example.intro,
      '',
      `<!-- query: ${example.id} -->`,
      '```sql',
      example.sql(table),
      '```',
      '',
    );
  }
  return out;
}

/** The complete text of the data dictionary of an operator. Pure: reads nothing from disk. */
export function generateDataDictionary(config: OperatorConfig, configFile: string): string {
  const database = glueDatabaseName(config.operatorId, config.stage);
  const streams = configuredStreams(config);
  const moneyTypes = [
    ...new Set(
      streams.flatMap((s) =>
        servingColumns(config, s)
          .filter((c) => c.money)
          .map((c) => athenaType(c.icebergType)),
      ),
    ),
  ];
  const zone = config.source.type === 'files' ? config.fileDrop?.timeZone : config.source.timeZone;
  const landedExample = `${qualified(database, landedTableName('payments'))}`;
  const parts: string[] = [
    '# Data dictionary',
    '',
    `<!-- Generated from lambdas/shared/canonical.ts, lambdas/shared/serving/tables.ts and ${configFile} by scripts/gen-data-dictionary.ts (\`npm run docs\`). Do not edit by hand. -->`,
    '',
    `The tables an analyst queries in Athena, their columns and how to query them. This copy is for the operator ${code(config.operatorId)} (${config.displayName}, stage ${config.stage}, configured in ${code(configFile)}). Every operator has the same tables and columns; what differs is listed per table: which fields the operator provides, the precision of money, the operator's own status codes, freshness. The platform team generates this document for any operator with \`npx tsx scripts/gen-data-dictionary.ts --config config/operators/<id>.yaml --out <file>\`.`,
    '',
    '## Where the tables are',
    '',
    `- One Glue database per operator and stage: ${code(database)} here (\`connector_<operator>_<stage>\`, the stack output \`GlueDatabaseName\`). Query it with Athena engine version 3, which reads Apache Iceberg tables.`,
    `- One table per stream, named like the stream: ${streams.map((s) => `[${code(s)}](#${s})`).join(', ')}. **These are the tables to query.**`,
    `- Each stream also has an internal table ${code('<stream>_landed')} (e.g. ${code(landedExample)}): every version of every row as the connector landed it, one partition per landed batch. It is the replayable record the tables are built from, not for analysis: it holds the same row several times (every change, re-reads, replays), and Athena refuses a query of it that does not name its ${LANDED_PARTITION_COLUMNS.map((c) => code(c.name)).join(' and ')} with \`=\` or \`IN (…)\`.`,
    '',
    '## Current state: what a row is',
    '',
    '- A table holds the **current state** of its stream: exactly one row per key (`payment_id`, `round_id`, …), the **latest version** the connector has read of it. A change at the source replaces the row: a payment that went from `pending` to `approved` is one row, `approved`. Count rows with `count(*)`: there is nothing to deduplicate.',
    '- **Latest** means the greatest change time at the source, `_cursor_us` (microseconds), and among versions with the same change time the greatest `_source_seq`. It never depends on when a version was read: re-reading a row (incremental runs re-read their last minutes, replays re-read whole ranges, an operator may upload a file again) never duplicates it and never brings back an older version.',
    '- **Deletes.** A key the connector knows to be deleted at the source is removed from its table. Incremental runs read rows by their change time, so they do not see a row deleted outright at the source: such a row stays in the table, at its last version, until the connector detects the delete. Statuses such as `closed` or `cancelled` are ordinary values.',
    '- **Only complete data.** Rows of a run that failed never appear; a later run reads them again.',
    '- A table holds no earlier versions of a row: every row is the latest version of its key.',
    '',
    '## Types, personal data, codes',
    '',
    `- **Money** is an exact decimal with the precision of the operator's source: ${moneyTypes.map(code).join(', ') || 'none here'} for this operator (\`decimal(38,10)\` where an operator states none). Sums are exact. Do not cast amounts to \`double\` or \`real\`, which round. Every amount is in the row's \`currency\`: group by \`currency\` rather than adding currencies.`,
    `- **Times** are \`timestamp\` columns holding UTC instants, at millisecond precision. Source times without a zone were converted from the operator's zone (${code(zone ?? 'UTC')} here). Athena's session time zone is UTC, so \`current_date\` and \`CAST(created_at AS date)\` are UTC days; for the operator's local time in Athena use \`at_timezone(with_timezone(created_at, 'UTC'), '${zone ?? 'UTC'}')\`.`,
    "- **Pseudonymized columns** (PII: `pseudonym`, e.g. `player_id`, `email`, `ip`) hold a pseudonym of the value: 64 hexadecimal characters, an HMAC-SHA256 under a key that only the operator's stack can use. The same player has the same `player_id` in every table, so **joins on `player_id` work as in the source**: ids that differ only in letter case or trailing spaces, where the operator's database ignores those, share one pseudonym. A pseudonym cannot be turned back into the id. E-mail addresses are trimmed and lower-cased before they are pseudonymized, so equal addresses have equal pseudonyms.",
    '- **Dropped fields** (e.g. `birth_date` by default) are not copied at all: the column is absent, not empty.',
    '- **Fields an operator does not provide** are columns that are always NULL (marked in each table). Required fields (every key, `player_id`, the change time) are always provided.',
    "- **Enumerations** (statuses, directions, kinds) hold canonical values, the same for every operator. The operator's own value is kept beside each in `<column>_source`; a value the operator's mapping does not translate reads `unmapped` (see [Values the mapping does not cover](#values-the-mapping-does-not-cover)).",
    '',
    '## Metadata columns',
    '',
    'Every table ends with the same columns, added by the connector:',
    '',
    '| Column | Athena type | Meaning |',
    '| --- | --- | --- |',
    ...(streams.length > 0
      ? servingColumns(config, streams[0] as StreamName)
          .filter((c) => c.field === undefined)
          .map((c) => `| ${code(c.name)} | ${athenaType(c.icebergType)} | ${cell(METADATA_MEANING[c.name] ?? '')} |`)
      : []),
    '',
    ...freshnessSection(config),
    '## Tables',
    '',
    ...streams.flatMap((s) => streamSection(config, s, database)),
    ...examplesSection(config, database),
  ];
  return `${parts.join('\n').trimEnd()}\n`;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const { values } = parseArgs({ options: { config: { type: 'string' }, out: { type: 'string' } } });
  const configFile = values.config ?? DICTIONARY_EXAMPLE_CONFIG;
  const [loaded] = loadOperatorConfigFiles(
    [values.config === undefined ? join(root, configFile) : resolve(configFile)],
    root,
  );
  if (!loaded) throw new Error(`no operator config in ${configFile}`);
  const text = generateDataDictionary(loaded.config, loaded.file);
  const out = values.out ?? (values.config === undefined ? join(root, DATA_DICTIONARY_PATH) : undefined);
  if (out === undefined) {
    process.stdout.write(text);
  } else {
    writeFileSync(out, text);
    console.log(`wrote ${values.out ?? DATA_DICTIONARY_PATH}`);
  }
}
