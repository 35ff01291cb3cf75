/**
 * Reads and validates operator config files. Used by `bin/app.ts` (nothing is synthesized when a
 * file is invalid), the CLI's `validate` command and the tests, so all print the same messages.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { isMap, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { didYouMean } from './did-you-mean.ts';
import { type OperatorConfig, operatorConfigSchema } from './schema.ts';
import { findSecrets, type SemanticIssue, validateSemantics } from './validate.ts';

export interface ConfigIssue {
  readonly file: string;
  /** Dotted path inside the file, e.g. `streams.payments.columns.amount`; empty for the whole file. */
  readonly path: string;
  readonly line?: number;
  readonly message: string;
  readonly expected?: string;
  readonly example?: string;
}

/** Raised when one or more operator config files are invalid; `message` lists every problem. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(formatIssues(issues));
  }
}

export function formatIssue(issue: ConfigIssue): string {
  const where = `${issue.file}${issue.line ? `:${issue.line}` : ''}`;
  const lines = [`${where}: ${issue.path || '(file)'}: ${issue.message}`];
  if (issue.expected) lines.push(`    expected: ${issue.expected}`);
  if (issue.example) {
    const [first, ...rest] = issue.example.split('\n');
    lines.push(`    example:  ${first}`, ...rest.map((l) => `              ${l}`));
  }
  return lines.join('\n');
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  const n = issues.length;
  return `Invalid operator config (${n} problem${n === 1 ? '' : 's'}):\n${issues.map(formatIssue).join('\n')}`;
}

type Path = readonly PropertyKey[];

// biome-ignore lint/suspicious/noExplicitAny: walking zod internals
type AnySchema = any;

/** Follows a path through the schema, unwrapping optional/default/union wrappers. */
function schemaAt(root: AnySchema, path: Path): AnySchema[] {
  let current: AnySchema[] = [root];
  for (const key of path) {
    const next: AnySchema[] = [];
    for (const s of current.flatMap(unwrap)) {
      const def = s?._zod?.def;
      if (!def) continue;
      if (def.type === 'object' && typeof key === 'string' && def.shape[key]) next.push(def.shape[key]);
      else if (def.type === 'record') next.push(def.valueType);
      else if (def.type === 'array' && typeof key === 'number') next.push(def.element);
    }
    current = next;
  }
  return current;
}

function unwrap(s: AnySchema): AnySchema[] {
  const def = s?._zod?.def;
  if (!def) return [];
  if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable' || def.type === 'prefault')
    return [s, ...unwrap(def.innerType)];
  if (def.type === 'pipe') return [s, ...unwrap(def.in)];
  if (def.type === 'union') return [s, ...def.options.flatMap(unwrap)];
  return [s];
}

function exampleFor(path: Path, key: string | undefined): string | undefined {
  for (const s of schemaAt(operatorConfigSchema, path).flatMap(unwrap)) {
    const meta = s.meta?.();
    const ex = meta?.examples?.[0];
    if (ex !== undefined) return `${key ?? String(path[path.length - 1] ?? '')}: ${JSON.stringify(ex)}`;
  }
  return undefined;
}

function knownKeys(path: Path): string[] {
  const keys = new Set<string>();
  for (const s of schemaAt(operatorConfigSchema, path).flatMap(unwrap)) {
    if (s._zod.def.type === 'object') for (const k of Object.keys(s._zod.def.shape)) keys.add(k);
  }
  return [...keys];
}

function describeExpected(issue: z.core.$ZodIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      return issue.expected;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return issue.origin === 'array' ? `at least ${issue.minimum} item(s)` : `a value ≥ ${issue.minimum}`;
    case 'too_big':
      return issue.origin === 'array' ? `at most ${issue.maximum} item(s)` : `a value ≤ ${issue.maximum}`;
    default:
      return undefined;
  }
}

function zodIssues(error: z.ZodError): SemanticIssue[] {
  const out: SemanticIssue[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    if (issue.code === 'unrecognized_keys') {
      const allowed = knownKeys(issue.path);
      for (const k of issue.keys) {
        const suggestion = didYouMean(k, allowed);
        out.push({
          path: [...path, k],
          message: `unknown key "${k}"${suggestion ? `. Did you mean "${suggestion}"?` : ''}`,
          expected: `one of ${allowed.join(', ')}`,
          ...(suggestion
            ? { example: exampleFor([...issue.path, suggestion], suggestion) ?? `${suggestion}: ...` }
            : {}),
        });
      }
      continue;
    }
    if (issue.code === 'invalid_union' && 'note' in issue && issue.note === 'No matching discriminator') {
      const discriminator = (issue as { discriminator?: string }).discriminator ?? 'type';
      const options = knownDiscriminatorValues(issue.path, discriminator);
      out.push({
        path: [...path, discriminator],
        message: `unsupported ${discriminator}`,
        expected: `one of ${options.join(', ')}`,
        example: `${discriminator}: ${options[0] ?? ''}`,
      });
      continue;
    }
    const missing = issue.code === 'invalid_type' && issue.input === undefined;
    const expected = describeExpected(issue);
    const example = exampleFor(issue.path, undefined);
    out.push({
      path,
      message: missing ? 'required field is missing' : issue.message,
      ...(expected ? { expected } : {}),
      ...(example ? { example } : {}),
    });
  }
  return out;
}

function knownDiscriminatorValues(path: Path, discriminator: string): string[] {
  const values: string[] = [];
  for (const s of schemaAt(operatorConfigSchema, path).flatMap(unwrap)) {
    const shape = s._zod.def.type === 'object' ? s._zod.def.shape : undefined;
    const lit = shape?.[discriminator]?._zod?.def;
    if (lit?.type === 'literal') values.push(...lit.values.map(String));
  }
  return values;
}

/** Validates one file's text. Returns the config, or the issues with line numbers. */
export function parseOperatorConfig(
  text: string,
  file: string,
): { config: OperatorConfig; issues: [] } | { config?: undefined; issues: ConfigIssue[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      issues: doc.errors.map((e) => ({
        file,
        path: '',
        line: e.linePos?.[0]?.line,
        message: `YAML syntax error: ${e.message.split('\n')[0]}`,
        example: 'key: value   (indent nested keys with spaces, never tabs)',
      })),
    };
  }
  if (!isMap(doc.contents)) {
    return {
      issues: [
        {
          file,
          path: '',
          message: 'the file must contain one YAML mapping (operatorId, stage, source, streams, ...)',
          example: 'operatorId: acme-casino',
        },
      ],
    };
  }
  const lineOf = (path: readonly (string | number)[]): number | undefined => {
    for (let n = path.length; n > 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node?.range) return lineCounter.linePos(node.range[0]).line;
      // A key whose value is missing: point at the parent mapping.
    }
    return undefined;
  };
  const toIssue = (i: SemanticIssue): ConfigIssue => ({
    file,
    path: i.path.join('.'),
    line: lineOf(i.path),
    message: i.message,
    ...(i.expected ? { expected: i.expected } : {}),
    ...(i.example ? { example: i.example } : {}),
  });

  const raw = doc.toJS();
  const secrets = findSecrets(raw);
  if (secrets.length > 0) return { issues: secrets.map(toIssue) };

  const parsed = operatorConfigSchema.safeParse(raw);
  if (!parsed.success) return { issues: zodIssues(parsed.error).map(toIssue) };
  const semantic = validateSemantics(parsed.data);
  if (semantic.length > 0) return { issues: semantic.map(toIssue) };
  return { config: parsed.data, issues: [] };
}

export interface LoadedConfig {
  readonly file: string;
  readonly config: OperatorConfig;
}

/** Loads and validates the given files; throws one ConfigError listing every problem in every file. */
export function loadOperatorConfigFiles(files: readonly string[], cwd = process.cwd()): LoadedConfig[] {
  const issues: ConfigIssue[] = [];
  const loaded: LoadedConfig[] = [];
  for (const path of files) {
    const file = relative(cwd, path) || basename(path);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      issues.push({ file, path: '', message: `cannot read file: ${(e as Error).message}` });
      continue;
    }
    const result = parseOperatorConfig(text, file);
    if (result.config) loaded.push({ file, config: result.config });
    else issues.push(...result.issues);
  }
  const seen = new Map<string, string>();
  for (const { file, config } of loaded) {
    const id = `${config.operatorId}/${config.stage}`;
    const other = seen.get(id);
    if (other) {
      issues.push({
        file,
        path: 'operatorId',
        message: `operator "${config.operatorId}" (stage ${config.stage}) is already defined in ${other}; each operator and stage has exactly one file`,
        expected: 'a unique operatorId per stage',
        example: `operatorId: ${config.operatorId}-2`,
      });
    } else {
      seen.set(id, file);
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return loaded;
}

/** Every `*.yaml` / `*.yml` file in a directory, sorted. */
export function listConfigFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

export function loadOperatorConfigDir(dir: string, cwd = process.cwd()): LoadedConfig[] {
  return loadOperatorConfigFiles(listConfigFiles(dir), cwd);
}
