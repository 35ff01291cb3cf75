/**
 * The columns landed for one stream of one operator: the canonical fields the operator's treatment
 * keeps, with its decimal overrides, a `<field>_source` column beside each enumeration, and the
 * connector's metadata columns. Used for the Glue table and for the Parquet schema, so the two
 * can never disagree. Treatments and types come from the stream's resolved plan
 * (config/stream-plan.ts), the one reading of the mapping.
 */
import { createHash } from 'node:crypto';
import {
  type FieldType,
  METADATA_FIELDS,
  MONEY_TOTALS,
  type PiiTreatment,
  type StreamName,
  sourceValueColumn,
} from './canonical.ts';
import type { OperatorConfig } from './config/schema.ts';
import { landedTypeOf, resolveStreamPlan, type StreamPlan, treatmentOf } from './config/stream-plan.ts';

export { landedTypeOf, treatmentOf };

export interface LandedColumn {
  readonly name: string;
  readonly type: FieldType;
  readonly nullable: boolean;
  readonly description: string;
  /** Canonical field the column carries (the enumeration it shadows for `_source` columns). */
  readonly field?: string;
  /** The PII treatment applied; pseudonymized columns hold a hex HMAC. */
  readonly treatment?: PiiTreatment;
  readonly money?: boolean;
}

/** Columns of the landed Parquet files and of the Glue table of a stream, in order. */
export function landedColumns(config: OperatorConfig, name: StreamName): LandedColumn[] {
  return landedColumnsOf(resolveStreamPlan(config, name));
}

/** Columns of the landed Parquet files and of the Glue table of a resolved stream plan, in order. */
export function landedColumnsOf(plan: StreamPlan): LandedColumn[] {
  const columns: LandedColumn[] = [];
  for (const { field, treatment, landedType } of plan.fields) {
    if (treatment === 'drop') continue;
    columns.push({
      name: field.name,
      type: landedType,
      nullable: field.nullable,
      description: treatment === 'pseudonymize' ? `${field.description} (HMAC-SHA256 pseudonym)` : field.description,
      field: field.name,
      treatment,
      ...(field.money ? { money: true } : {}),
    });
    if (field.values) {
      columns.push({
        name: sourceValueColumn(field.name),
        type: { kind: 'string' },
        nullable: true,
        description: `Operator's original value of ${field.name}, kept so unmapped values stay visible.`,
        field: field.name,
        treatment: 'keep',
      });
    }
  }
  for (const meta of METADATA_FIELDS) {
    columns.push({ name: meta.name, type: meta.type, nullable: meta.nullable, description: meta.description });
  }
  return columns;
}

/** Stable fingerprint of a landed schema (names, types, nullability), recorded in every manifest. */
export function schemaFingerprint(columns: readonly LandedColumn[]): string {
  const canonical = columns.map((c) => [c.name, c.type, c.nullable]);
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex').slice(0, 16);
}

/**
 * Indices of the landed columns a window's money sums are grouped by for the money totals
 * (`MONEY_TOTALS`): `currency` then the stream's classifying enumeration fields. Empty when the
 * stream has no money totals or one of them does not land as the canonical value (unmapped,
 * dropped or pseudonymized).
 */
export function moneyGroupIndices(stream: string | undefined, columns: readonly LandedColumn[]): number[] {
  const definition = stream === undefined ? undefined : MONEY_TOTALS[stream as StreamName];
  if (!definition) return [];
  const indices = ['currency', ...definition.classifiedBy].map((name) =>
    columns.findIndex((c) => c.name === name && c.field === name && (c.treatment ?? 'keep') === 'keep'),
  );
  return indices.every((i) => i >= 0) ? indices : [];
}
