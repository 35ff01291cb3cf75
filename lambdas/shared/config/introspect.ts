/**
 * Reads the operator config schema as data: which keys exist at a path, what a field expects, its
 * default and a valid example value. Shared by the error messages and the generated reference
 * (docs/config.md), so both describe a field in the same words.
 */
import type { z } from 'zod';

/** Any zod schema; the walk reads its `_zod.def`. */
export type Schema = z.core.$ZodType;
/** One step of a path inside a config file: a mapping key or a list index. */
export type PathKey = string | number;

/** The parts of zod's internal definitions this module reads. */
interface Def {
  readonly type: string;
  readonly innerType?: Schema;
  readonly in?: Schema;
  readonly shape?: Record<string, Schema>;
  readonly options?: readonly Schema[];
  readonly discriminator?: string;
  readonly element?: Schema;
  readonly valueType?: Schema;
  readonly values?: readonly unknown[];
  readonly entries?: Record<string, string | number>;
  readonly checks?: readonly { readonly _zod: { readonly def: CheckDef } }[];
  readonly defaultValue?: unknown;
}

interface CheckDef {
  readonly check: string;
  readonly format?: string;
  readonly value?: number | bigint;
  readonly inclusive?: boolean;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly length?: number;
  readonly error?: () => unknown;
}

/** Metadata the schema attaches with `.describe()` / `.meta()` (see schema.ts). */
export interface FieldMeta {
  readonly description?: string;
  readonly examples?: readonly unknown[];
  readonly whenAbsent?: string;
  readonly expected?: string;
}

const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch']);

/** The internal definition of a schema (its kind, shape, options, checks, ...). */
export function defOf(schema: Schema): Def {
  return schema._zod.def as unknown as Def;
}

/** The schema and every wrapper layer inside it (optional, default, pipe input), outermost first. */
export function layers(schema: Schema): Schema[] {
  const out: Schema[] = [schema];
  let def = defOf(schema);
  let current = schema;
  while (true) {
    const next = WRAPPERS.has(def.type) ? def.innerType : def.type === 'pipe' ? def.in : undefined;
    if (!next || next === current) return out;
    out.push(next);
    current = next;
    def = defOf(next);
  }
}

/** The schema without its optional/default wrappers. */
export function core(schema: Schema): Schema {
  const all = layers(schema);
  return all[all.length - 1] ?? schema;
}

/** Whether the key may be left out of the file (optional, or with a default). */
export function isOptional(schema: Schema): boolean {
  return layers(schema).some((s) => ['optional', 'default', 'prefault'].includes(defOf(s).type));
}

/** The value used when the key is absent, if the schema declares one. */
export function defaultOf(schema: Schema): { value: unknown } | undefined {
  for (const s of layers(schema)) {
    const def = defOf(s);
    if (def.type === 'default' || def.type === 'prefault') {
      const value = def.defaultValue;
      return { value: typeof value === 'function' ? (value as () => unknown)() : structuredClone(value) };
    }
  }
  return undefined;
}

/** Metadata merged over every layer; the outermost layer wins. */
export function metaOf(schema: Schema): FieldMeta {
  const merged: Record<string, unknown> = {};
  for (const s of layers(schema).reverse()) {
    const meta = (s as unknown as { meta?: () => Record<string, unknown> | undefined }).meta?.();
    if (meta) Object.assign(merged, meta);
  }
  return merged as FieldMeta;
}

/** The object variants of a schema: itself, or each option of a union of objects. */
export function objectVariants(schema: Schema): Schema[] {
  const c = core(schema);
  const def = defOf(c);
  if (def.type === 'object') return [c];
  if (def.type === 'union') return (def.options ?? []).flatMap(objectVariants);
  return [];
}

/** For a discriminated union, the options whose discriminator accepts `value`'s discriminator. */
function matchingOptions(def: Def, value: unknown): readonly Schema[] {
  const options = def.options ?? [];
  if (!def.discriminator || value === null || typeof value !== 'object') return options;
  const given = (value as Record<string, unknown>)[def.discriminator];
  const matched = options.filter((o) => discriminatorValues(o, def.discriminator ?? '').includes(given));
  return matched.length > 0 ? matched : options;
}

/** The literal values an object schema accepts for its discriminator key. */
export function discriminatorValues(schema: Schema, key: string): unknown[] {
  const field = defOf(core(schema)).shape?.[key];
  if (!field) return [];
  const def = defOf(core(field));
  return def.type === 'literal' ? [...(def.values ?? [])] : [];
}

function valueAtKey(value: unknown, key: PathKey): unknown {
  if (value === null || typeof value !== 'object') return undefined;
  return (value as Record<string, unknown>)[String(key)];
}

/**
 * The schemas found at `path`. Unions are expanded; when `raw` (the parsed file) is given, a
 * discriminated union only contributes the variant the file selected.
 */
export function schemasAt(root: Schema, path: readonly PathKey[], raw?: unknown): Schema[] {
  return walk(root, path, raw).map((c) => c.schema);
}

function walk(root: Schema, path: readonly PathKey[], raw: unknown): { schema: Schema; value: unknown }[] {
  let current: { schema: Schema; value: unknown }[] = [{ schema: root, value: raw }];
  for (const key of path) {
    const next: { schema: Schema; value: unknown }[] = [];
    const value = (v: unknown) => valueAtKey(v, key);
    for (const { schema, value: here } of current) {
      for (const s of expand(schema, here)) {
        const def = defOf(s);
        if (def.type === 'object' && typeof key === 'string' && def.shape?.[key])
          next.push({ schema: def.shape[key], value: value(here) });
        else if (def.type === 'record' && def.valueType) next.push({ schema: def.valueType, value: value(here) });
        else if (def.type === 'array' && typeof key === 'number' && def.element)
          next.push({ schema: def.element, value: value(here) });
      }
    }
    current = next;
  }
  return current;
}

function expand(schema: Schema, value: unknown): Schema[] {
  const c = core(schema);
  const def = defOf(c);
  if (def.type === 'union') return matchingOptions(def, value).flatMap((o) => expand(o, value));
  return [c];
}

/** The keys an object at `path` accepts (for the variant the file selected). */
export function knownKeys(root: Schema, path: readonly PathKey[], raw?: unknown): string[] {
  const keys = new Set<string>();
  for (const { schema, value } of walk(root, path, raw)) {
    for (const s of expand(schema, value)) for (const k of Object.keys(defOf(s).shape ?? {})) keys.add(k);
  }
  return [...keys];
}

const list = (items: readonly unknown[], last = 'or'): string => {
  const shown = items.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
  if (shown.length <= 1) return shown.join('');
  return `${shown.slice(0, -1).join(', ')} ${last} ${shown[shown.length - 1]}`;
};

/** "a or b", "one of a, b or c". */
const choice = (items: readonly unknown[]): string => (items.length > 2 ? `one of ${list(items)}` : list(items));

function bounds(def: Def): { min?: number; max?: number; int: boolean } {
  let min: number | undefined;
  let max: number | undefined;
  let int = false;
  for (const check of def.checks ?? []) {
    const c = check._zod.def;
    if (c.check === 'number_format' && (c.format === 'safeint' || c.format === 'int32')) int = true;
    if (c.check === 'greater_than') min = Number(c.value) + (c.inclusive ? 0 : 1);
    if (c.check === 'less_than') max = Number(c.value) - (c.inclusive ? 0 : 1);
    if (c.check === 'min_length') min = c.minimum;
    if (c.check === 'max_length') max = c.maximum;
    if (c.check === 'length_equals') {
      min = c.length;
      max = c.length;
    }
  }
  return { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}), int };
}

function customMessage(def: Def): string | undefined {
  // A format schema such as z.email() carries its check in its own definition.
  for (const c of [def as unknown as CheckDef, ...(def.checks ?? []).map((check) => check._zod.def)]) {
    if ((c.check === 'string_format' || c.check === 'custom') && typeof c.error === 'function') {
      const message = c.error();
      if (typeof message === 'string') return message.replace(/^must be /, '');
    }
  }
  return undefined;
}

function range(what: string, b: { min?: number; max?: number }, unit = ''): string {
  if (b.min !== undefined && b.max !== undefined)
    return b.min === b.max ? `${what} of exactly ${b.min}${unit}` : `${what} from ${b.min} to ${b.max}${unit}`;
  if (b.min !== undefined) return `${what} of at least ${b.min}${unit}`;
  if (b.max !== undefined) return `${what} of at most ${b.max}${unit}`;
  return what;
}

/** What a value at this schema must be, in words ("an integer from 1 to 16", "one of csv, jsonl or parquet"). */
export function expectedOf(schema: Schema): string {
  const meta = metaOf(schema);
  if (meta.expected) return meta.expected;
  const c = core(schema);
  const def = defOf(c);
  switch (def.type) {
    case 'literal':
      return choice(def.values ?? []);
    case 'enum':
      return choice(Object.values(def.entries ?? {}));
    case 'boolean':
      return 'true or false';
    case 'number': {
      const b = bounds(def);
      const big = (n: number | undefined) => n !== undefined && Math.abs(n) >= Number.MAX_SAFE_INTEGER;
      return range(b.int ? 'an integer' : 'a number', {
        ...(big(b.min) || b.min === undefined ? {} : { min: b.min }),
        ...(big(b.max) || b.max === undefined ? {} : { max: b.max }),
      });
    }
    case 'string': {
      const custom = customMessage(def);
      if (custom) return custom;
      const b = bounds(def);
      if (b.min === 1 && b.max === 1) return 'a single character';
      if (b.min === 1 && b.max === undefined) return 'non-empty text';
      return range('text', b, ' characters');
    }
    case 'array':
      return `a list${def.element ? ` of items, each ${expectedOf(def.element)}` : ''}`;
    case 'object': {
      const shape = def.shape ?? {};
      const required = Object.keys(shape).filter((k) => !isOptional(shape[k] as Schema));
      const keys = Object.keys(shape);
      return required.length > 0
        ? `a mapping with ${list(required, 'and')}${keys.length > required.length ? ' (and optional keys)' : ''}`
        : `a mapping with any of ${list(keys, 'and')}`;
    }
    case 'record':
      return `a mapping whose values are each ${def.valueType ? expectedOf(def.valueType) : 'anything'}`;
    case 'union': {
      if (def.discriminator) {
        const values = (def.options ?? []).flatMap((o) => discriminatorValues(o, def.discriminator ?? ''));
        return `a mapping with ${def.discriminator}: ${list(values)}`;
      }
      return list((def.options ?? []).map(expectedOf));
    }
    default:
      return def.type;
  }
}

/** Placeholder used when a field has no example; a test makes sure no field needs it. */
export const NO_EXAMPLE = '<value>';

/**
 * A valid value for the schema: its example, else its default, else one built from its parts
 * (an object shows its required keys, or all its defaults when nothing is required).
 */
export function sampleOf(schema: Schema): unknown {
  const meta = metaOf(schema);
  if (meta.examples && meta.examples.length > 0) return structuredClone(meta.examples[0]);
  const c = core(schema);
  const def = defOf(c);
  const dflt = defaultOf(schema);
  const empty = Array.isArray(dflt?.value) && dflt.value.length === 0;
  if (dflt && def.type !== 'object' && !empty) return dflt.value;
  switch (def.type) {
    case 'literal':
      return def.values?.[0];
    case 'enum':
      return Object.values(def.entries ?? {})[0];
    case 'boolean':
      return true;
    case 'number': {
      const b = bounds(def);
      return b.min ?? 1;
    }
    case 'array':
      return def.element ? [sampleOf(def.element)] : [];
    case 'object': {
      const shape = def.shape ?? {};
      const required = Object.entries(shape).filter(([, s]) => !isOptional(s));
      const shown = required.length > 0 ? required : Object.entries(shape).filter(([, s]) => defaultOf(s));
      return Object.fromEntries(shown.map(([k, s]) => [k, sampleOf(s)]));
    }
    case 'record':
      return { key: def.valueType ? sampleOf(def.valueType) : NO_EXAMPLE };
    case 'union':
      return def.options?.[0] ? sampleOf(def.options[0]) : NO_EXAMPLE;
    default:
      return NO_EXAMPLE;
  }
}
