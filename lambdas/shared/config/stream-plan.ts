/**
 * The resolved plan of one stream of an operator: everything the config says about the stream,
 * read once against the canonical model — the source table and the columns to select, the cursor
 * and key columns, the money columns and their currency column, each field's PII treatment and
 * landed type, the time zone naive times are read in, the file format of dropped files and the key
 * audit settings. The source plan, the mapper, the file-drop plan and the landed schema consume it
 * instead of reading the raw config, so no two of them can decide one of these differently.
 *
 * A plan is frozen: a consumer cannot change what another one sees.
 */
import {
  CANONICAL_STREAMS,
  type CanonicalField,
  type FieldType,
  type PiiTreatment,
  STREAM_NAMES,
  type StreamName,
} from '../canonical.ts';
import { cursorColumnOf, mappedColumn } from './columns.ts';
import {
  DEFAULT_KEY_AUDIT_SCHEDULE,
  type FileFormat,
  KEY_AUDIT_BY_DEFAULT,
  type KeyComparisonConfig,
  type OperatorConfig,
  type StreamConfig,
} from './schema.ts';

/** How one canonical field is fed and landed under the operator's mapping. */
export interface FieldPlan {
  readonly field: CanonicalField;
  readonly name: string;
  /** Source column the field is read from; undefined when the mapping does not name one. */
  readonly column: string | undefined;
  /** Where the field's mapping is in the config, for messages: `streams.<stream>.columns.<field>`. */
  readonly configPath: string;
  /** The effective treatment: the mapping's `pii`, else the canonical default. */
  readonly treatment: PiiTreatment;
  /** Values are personal data (personal by the model, or pseudonymized): never quoted in messages. */
  readonly personal: boolean;
  /** The type a source value must have: the canonical type, with the mapping's precision and scale for money. */
  readonly valueType: FieldType;
  /** The type that lands: `valueType`, or a string (the hex HMAC) when pseudonymized. */
  readonly landedType: FieldType;
  /** Operator value → canonical value, for enumerations whose mapping gives `values`. */
  readonly values: Readonly<Record<string, string>> | undefined;
}

/** The cursor of a stream. */
export interface CursorPlan {
  /** Canonical cursor field. */
  readonly field: string;
  /** `streams.<stream>.cursor`, else the column mapped to the canonical cursor; undefined when neither is set. */
  readonly column: string | undefined;
  /** Where the cursor column is configured, for messages. */
  readonly configPath: string;
  /** Whether `streams.<stream>.cursor` names the column (rather than the canonical cursor's mapping). */
  readonly explicit: boolean;
  /** `streams.<stream>.cursorType`: how the column stores time, when the config says. */
  readonly storage: 'naive' | 'zoned' | undefined;
}

/** The primary key of a stream. */
export interface KeyPlan {
  /** Canonical primary key field. */
  readonly field: string;
  /** Source column of the key; undefined when not mapped. */
  readonly column: string | undefined;
  readonly treatment: PiiTreatment;
}

/** The scheduled key audit of a stream (database sources). */
export interface KeyAuditPlan {
  readonly enabled: boolean;
  /** EventBridge Scheduler expression (UTC). */
  readonly schedule: string;
}

/** One stream of an operator, resolved from the config. */
export interface StreamPlan {
  readonly operatorId: string;
  readonly stream: StreamName;
  /** Whether the config names the stream; an unconfigured stream's plan has the canonical defaults and maps nothing. */
  readonly configured: boolean;
  readonly sourceType: OperatorConfig['source']['type'];
  /** Source schema (database sources): `streams.<stream>.schema`, else `source.schema`, else `source.database`. */
  readonly schema: string | undefined;
  /** Source table (database sources). */
  readonly table: string | undefined;
  /** Every canonical field of the stream, in canonical order. */
  readonly fields: readonly FieldPlan[];
  readonly cursor: CursorPlan;
  readonly key: KeyPlan;
  /**
   * The source columns selected from a database, in order: every mapped column of a field that is
   * not dropped (canonical order, each once), then the cursor and key columns if not among them.
   * Dropped fields are never selected: data minimization starts in the query.
   */
  readonly selectedColumns: readonly string[];
  /** Source column of every money field that lands, by landed column name. */
  readonly moneyColumns: Readonly<Record<string, string>>;
  /** Source column of the `currency` field the amounts are in, when it lands. */
  readonly currencyColumn: string | undefined;
  /**
   * Zone in which times written without an offset are read: `fileDrop.timeZone` for file drops,
   * `source.timeZone` for databases; UTC when neither is set.
   */
  readonly timeZone: string;
  /**
   * Zone in which timestamps of dropped files written without an offset are read (checked by the
   * file plan, converted by the mapper): `fileDrop.timeZone`, else UTC. The same as `timeZone` for a
   * file-drop operator; a database operator that also has a file drop may give the two different
   * zones.
   */
  readonly fileDropTimeZone: string;
  /** How the source compares key values (the key form of pseudonymized key and reference fields). */
  readonly keyComparison: KeyComparisonConfig;
  /** File format of dropped files, defaults filled in (file drops; the CSV defaults otherwise). */
  readonly format: FileFormat;
  /** The key audit (never enabled for file drops). */
  readonly keyAudit: KeyAuditPlan;
}

/** The format of files when a stream does not give one: CSV with the schema's defaults. */
const DEFAULT_FILE_FORMAT: FileFormat = Object.freeze({
  type: 'csv',
  delimiter: ',',
  quote: '"',
  encoding: 'utf-8',
  decimalSeparator: '.',
  timestampFormat: 'iso8601',
  dateFormat: 'yyyy-MM-dd',
});

/** The effective treatment of a field under a stream's mapping: the mapping's `pii`, else the canonical default. */
export function treatmentOf(field: CanonicalField, stream: StreamConfig | undefined): PiiTreatment {
  const mapping = stream?.columns[field.name];
  if (mapping && typeof mapping !== 'string' && mapping.pii) return mapping.pii;
  return field.pii;
}

/** The type of a field's values: the canonical type, with the operator's precision/scale for money. */
export function landedTypeOf(field: CanonicalField, stream: StreamConfig | undefined): FieldType {
  const mapping = stream?.columns[field.name];
  if (field.type.kind === 'decimal' && mapping && typeof mapping !== 'string') {
    return {
      kind: 'decimal',
      precision: mapping.precision ?? field.type.precision,
      scale: mapping.scale ?? field.type.scale,
    };
  }
  return field.type;
}

/** The zone naive times of an operator's source are read in. */
export function sourceTimeZone(config: OperatorConfig): string {
  return config.source.type === 'files' ? (config.fileDrop?.timeZone ?? 'UTC') : (config.source.timeZone ?? 'UTC');
}

function resolveField(stream: StreamName, field: CanonicalField, streamConfig: StreamConfig | undefined): FieldPlan {
  const mapping = streamConfig?.columns[field.name];
  const treatment = treatmentOf(field, streamConfig);
  const valueType = landedTypeOf(field, streamConfig);
  const values =
    field.values && mapping !== undefined && typeof mapping !== 'string' && mapping.values
      ? Object.freeze({ ...mapping.values })
      : undefined;
  return Object.freeze({
    field,
    name: field.name,
    column: mappedColumn(mapping),
    configPath: `streams.${stream}.columns.${field.name}`,
    treatment,
    personal: field.personal || treatment === 'pseudonymize',
    valueType,
    landedType: treatment === 'pseudonymize' ? { kind: 'string' as const } : valueType,
    values,
  });
}

/**
 * Resolves the plan of one stream. Never throws: what a consumer needs and the config lacks (a
 * table, a key or cursor column) is left undefined for it to refuse in its own terms.
 */
export function resolveStreamPlan(config: OperatorConfig, stream: StreamName): StreamPlan {
  const source = config.source;
  const streamConfig = config.streams[stream];
  const canonical = CANONICAL_STREAMS[stream];
  const fields = Object.freeze(canonical.fields.map((f) => resolveField(stream, f, streamConfig)));
  const byName = new Map(fields.map((f) => [f.name, f]));

  const cursorColumn = streamConfig ? cursorColumnOf(stream, streamConfig) : undefined;
  const explicit = streamConfig?.cursor !== undefined;
  const cursor: CursorPlan = Object.freeze({
    field: canonical.cursor,
    column: cursorColumn,
    configPath: explicit ? `streams.${stream}.cursor` : `streams.${stream}.columns.${canonical.cursor}`,
    explicit,
    storage: streamConfig?.cursorType,
  });
  const keyField = byName.get(canonical.primaryKey);
  const key: KeyPlan = Object.freeze({
    field: canonical.primaryKey,
    column: keyField?.column,
    treatment: keyField?.treatment ?? 'keep',
  });

  const selected: string[] = [];
  const money: Record<string, string> = {};
  let currencyColumn: string | undefined;
  for (const f of fields) {
    if (f.column === undefined || f.treatment === 'drop') continue;
    if (!selected.includes(f.column)) selected.push(f.column);
    if (f.field.money) money[f.name] = f.column;
    if (f.name === 'currency') currencyColumn = f.column;
  }
  for (const c of [cursor.column, key.column]) if (c !== undefined && !selected.includes(c)) selected.push(c);

  const database = source.type === 'files' ? undefined : source;
  const auditEnabled =
    database !== undefined &&
    streamConfig !== undefined &&
    (streamConfig.keyAudit?.enabled ?? KEY_AUDIT_BY_DEFAULT[stream]);

  return Object.freeze({
    operatorId: config.operatorId,
    stream,
    configured: streamConfig !== undefined,
    sourceType: source.type,
    schema: database ? (streamConfig?.schema ?? database.schema ?? database.database) : undefined,
    table: streamConfig?.table,
    fields,
    cursor,
    key,
    selectedColumns: Object.freeze(selected),
    moneyColumns: Object.freeze(money),
    currencyColumn,
    timeZone: sourceTimeZone(config),
    fileDropTimeZone: config.fileDrop?.timeZone ?? 'UTC',
    keyComparison: Object.freeze({ ...source.keyComparison }),
    format: streamConfig?.format ? Object.freeze({ ...streamConfig.format }) : DEFAULT_FILE_FORMAT,
    keyAudit: Object.freeze({
      enabled: auditEnabled,
      schedule: streamConfig?.keyAudit?.schedule ?? DEFAULT_KEY_AUDIT_SCHEDULE,
    }),
  });
}

/** The plans of every stream the config names, in canonical stream order. */
export function resolvePlans(config: OperatorConfig): ReadonlyMap<StreamName, StreamPlan> {
  return new Map(
    STREAM_NAMES.filter((s) => config.streams[s] !== undefined).map((s) => [s, resolveStreamPlan(config, s)] as const),
  );
}

/** The plan of one canonical field of a stream. */
export function fieldPlan(plan: StreamPlan, name: string): FieldPlan | undefined {
  return plan.fields.find((f) => f.name === name);
}
