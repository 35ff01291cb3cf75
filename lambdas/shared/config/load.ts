/**
 * Reads and validates operator config files. Used by `bin/app.ts` (nothing is synthesized when a
 * file is invalid), the CLI's `validate` command and the tests, so all print the same messages.
 *
 * Every problem names the file, the line, the path inside the file, what was expected and a valid
 * YAML example nested under its parent keys, e.g.
 *
 * ```
 * config/operators/acme.yaml:31: incremental.lookbackMinuts: "lookbackMinuts" is not a known key here; did you mean "lookbackMinutes"?
 *     expected: one of the keys schedule, lookbackMinutes, safetyLagSeconds
 *     example:
 *       incremental:
 *         lookbackMinutes: 60
 * ```
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLError } from 'yaml';
import { safeParse } from 'zod';
import { core, defOf, isOptional, type PathKey, sampleOf, schemasAt } from './introspect.ts';
import { type OperatorConfig, operatorConfigSchema } from './schema.ts';
import { findSecrets, type SemanticIssue, validateSemantics } from './validate.ts';
import { explainZodIssues, yamlEntry } from './zod-issues.ts';

/** One problem in one config file. */
export interface ConfigIssue {
  readonly file: string;
  /** Path inside the file, e.g. `streams.payments.columns.amount` or `alerts.emails[0]`; empty for the whole file. */
  readonly path: string;
  /** 1-based line of the value, or of its nearest parent present in the file. */
  readonly line?: number;
  /** 1-based column, for YAML syntax errors. */
  readonly column?: number;
  readonly message: string;
  readonly expected?: string;
  /** A valid YAML snippet, nested under the parent keys of `path`. */
  readonly example?: string;
}

/** Raised when one or more operator config files are invalid; `message` lists every problem. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly issues: readonly ConfigIssue[],
    options?: { cause?: unknown },
  ) {
    super(formatIssues(issues), options);
  }
}

/** One problem as printed: `file:line: path: message`, then the expectation and the example. */
export function formatIssue(issue: ConfigIssue): string {
  const where = `${issue.file}${issue.line ? `:${issue.line}` : ''}${issue.line && issue.column ? `:${issue.column}` : ''}`;
  const lines = [`${where}: ${issue.path || '(file)'}: ${issue.message}`];
  if (issue.expected) lines.push(`    expected: ${issue.expected}`);
  if (issue.example) lines.push('    example:', ...issue.example.split('\n').map((l) => `      ${l}`));
  return lines.join('\n');
}

/** Every problem, headed by how many there are. */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  const n = issues.length;
  return `Invalid operator config (${n} problem${n === 1 ? '' : 's'}):\n${issues.map(formatIssue).join('\n')}`;
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `streams.payments.columns.amount`, `alerts.emails[0]`, `...values["SELF EXCL"]`. */
export function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (PLAIN_KEY.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out;
}

/** Puts a YAML snippet under its parent keys so it can be pasted where it belongs. */
function nestExample(example: string, parents: readonly PathKey[]): string {
  const keys: string[] = [];
  for (const key of parents) {
    if (typeof key === 'number') break;
    keys.push(key);
  }
  const out = keys.map((k, i) => `${'  '.repeat(i)}${PLAIN_KEY.test(k) ? k : JSON.stringify(k)}:`);
  const indent = '  '.repeat(keys.length);
  for (const line of example.split('\n')) out.push(`${indent}${line}`);
  return out.join('\n');
}

interface Position {
  readonly line: number;
  readonly column: number;
}

/** The position of `path` in the document, or of its nearest parent that is present. */
function locate(doc: Document, lines: LineCounter, path: readonly PathKey[]): Position | undefined {
  const pos = (offset: number): Position => {
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
  let node: unknown = doc.contents;
  let best = (node as Node | null)?.range ? pos((node as Node).range?.[0] ?? 0) : undefined;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key));
      const keyNode = pair?.key as Node | undefined;
      if (!pair || !keyNode?.range) break;
      best = pos(keyNode.range[0]);
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key] as Node | undefined;
      if (!item?.range) break;
      best = pos(item.range[0]);
      node = item;
    } else {
      break;
    }
  }
  return best;
}

/** The path of the deepest key or value whose source range holds `offset`. */
function pathAtOffset(doc: Document, offset: number): PathKey[] {
  const path: PathKey[] = [];
  let node: unknown = doc.contents;
  const within = (n: unknown) => {
    const range = (n as Node | null)?.range;
    return range != null && offset >= range[0] && offset <= range[2];
  };
  while (true) {
    if (isMap(node)) {
      const pair = node.items.find((p) => within(p.key) || within(p.value));
      if (!pair || !isScalar(pair.key)) return path;
      path.push(String(pair.key.value));
      if (within(pair.key)) return path;
      node = pair.value;
    } else if (isSeq(node)) {
      const index = node.items.findIndex(within);
      if (index < 0) return path;
      path.push(index);
      node = node.items[index];
    } else {
      return path;
    }
  }
}

/** A valid example for the value at `path`, from the schema, as YAML at the level of `path`'s last key. */
function schemaExample(path: readonly PathKey[], raw?: unknown): string | undefined {
  const key = path[path.length - 1];
  const [schema] = schemasAt(operatorConfigSchema, path, raw);
  if (key === undefined || typeof key === 'number' || !schema) return undefined;
  return yamlEntry(key, sampleOf(schema));
}

const REQUIRED_TOP_LEVEL = (() => {
  const shape = defOf(core(operatorConfigSchema)).shape ?? {};
  return Object.entries(shape)
    .filter(([, s]) => !isOptional(s))
    .map(([k]) => k);
})();

/** The smallest valid config, generated from the schema's examples (shown for empty or malformed files). */
export function minimalConfigExample(): string {
  return REQUIRED_TOP_LEVEL.map((k) => schemaExample([k]) ?? '').join('\n');
}

interface Parsed {
  readonly result: ReturnType<typeof parseOperatorConfig>;
  readonly locate?: (path: readonly PathKey[]) => Position | undefined;
}

/**
 * The longest start of `path` that names a place in the schema. In a document with a syntax error
 * the parser may build odd keys (a value and the next line merged), which would only confuse.
 */
function schemaPrefix(path: readonly PathKey[]): PathKey[] {
  let n = path.length;
  while (n > 0 && schemasAt(operatorConfigSchema, path.slice(0, n)).length === 0) n--;
  return path.slice(0, n);
}

function yamlIssues(doc: Document, lines: LineCounter, file: string): ConfigIssue[] {
  // After the first syntax error the parser's further errors are mostly echoes of it; duplicate
  // keys are independent of each other, so each one is reported.
  const first = doc.errors[0];
  const selected = doc.errors.filter((e) => e === first || e.code === 'DUPLICATE_KEY');
  return selected.map((e: YAMLError) => {
    const offset = e.pos[0];
    const { line, col } = lines.linePos(offset);
    const path = e.code === 'MULTIPLE_DOCS' ? [] : schemaPrefix(pathAtOffset(doc, offset));
    const shown = { file, path: formatPath(path), line, column: col };
    if (e.code === 'DUPLICATE_KEY') {
      const firstAt = locate(doc, lines, path);
      const example = schemaExample(path);
      return {
        ...shown,
        message: `duplicate key "${String(path[path.length - 1] ?? '')}": it is already set${firstAt ? ` on line ${firstAt.line}` : ''}; keep only one of them`,
        expected: 'each key at most once in a mapping',
        ...(example ? { example: nestExample(example, path.slice(0, -1)) } : {}),
      };
    }
    const text =
      e.code === 'TAB_AS_INDENT'
        ? 'tabs are not allowed for indentation; indent with spaces'
        : e.code === 'MULTIPLE_DOCS'
          ? 'the file holds more than one YAML document (separated by ---); put one operator and stage per file'
          : e.message.split('\n')[0];
    const example = path.length > 0 ? schemaExample(path) : undefined;
    return {
      ...shown,
      message: `YAML syntax error: ${text}`,
      expected: 'valid YAML: `key: value` lines, nested keys indented by two spaces, lists as `- item` or `[a, b]`',
      example: example
        ? nestExample(example, path.slice(0, -1))
        : e.code === 'MULTIPLE_DOCS'
          ? '# config/operators/acme-casino-production.yaml\noperatorId: acme-casino\nstage: production'
          : 'source:\n  type: postgres\n  host: casino-db.internal.example.com',
    };
  });
}

/**
 * The cross-field checks of a file that failed the schema, limited to its valid top-level
 * sections, so that one run reports as much as it can (an unmapped key next to a bad region).
 */
function partialSemantics(raw: unknown): SemanticIssue[] {
  if (raw === null || typeof raw !== 'object') return [];
  const shape = defOf(core(operatorConfigSchema)).shape ?? {};
  const sections: Record<string, unknown> = {};
  const failed = new Set<string>();
  for (const [key, schema] of Object.entries(shape)) {
    const result = safeParse(schema, (raw as Record<string, unknown>)[key]);
    if (result.success) sections[key] = result.data;
    else failed.add(key);
  }
  // Every cross-field rule reads the source, the streams or the stage.
  if (failed.has('source') || failed.has('streams') || failed.has('stage')) return [];
  return validateSemantics(sections as OperatorConfig).filter((i) => !failed.has(String(i.path[0])));
}

function parse(text: string, file: string): Parsed {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) return { result: { issues: yamlIssues(doc, lines, file) } };

  const contents = doc.contents;
  if (!isMap(contents)) {
    const found =
      contents === null || (isScalar(contents) && contents.value === null)
        ? 'the file is empty'
        : isSeq(contents)
          ? 'the file holds a list'
          : 'the file holds a single value';
    const at = locate(doc, lines, []) ?? { line: 1 };
    return {
      result: {
        issues: [
          {
            file,
            path: '',
            line: at.line,
            message: `${found}; an operator config is one YAML mapping of keys to values`,
            expected: `a mapping with ${REQUIRED_TOP_LEVEL.join(', ')}`,
            example: minimalConfigExample(),
          },
        ],
      },
    };
  }

  const at = (path: readonly PathKey[]) => locate(doc, lines, path);
  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (e) {
    // e.g. more aliases than the parser expands (a "billion laughs" document).
    return {
      result: {
        issues: [
          {
            file,
            path: '',
            line: 1,
            message: `the YAML cannot be read: ${(e as Error).message}`,
            expected: 'plain YAML without anchors and aliases',
            example: minimalConfigExample(),
          },
        ],
      },
    };
  }
  const toIssue = (i: SemanticIssue): ConfigIssue => {
    const line = at(i.path)?.line;
    return {
      file,
      path: formatPath(i.path),
      ...(line !== undefined ? { line } : {}),
      message: i.message,
      ...(i.expected ? { expected: i.expected } : {}),
      ...(i.example ? { example: nestExample(i.example, i.exampleAt ?? i.path.slice(0, -1)) } : {}),
    };
  };
  const done = (issues: SemanticIssue[]): Parsed => ({
    result: { issues: issues.map(toIssue).sort((a, b) => (a.line ?? 0) - (b.line ?? 0)) },
    locate: at,
  });

  const secrets = findSecrets(raw);
  const parsed = operatorConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const under = (path: readonly PathKey[], prefix: readonly PathKey[]) => prefix.every((k, n) => path[n] === k);
    // A credential key is also an unknown key; say it once, as a credential.
    const schemaIssues = explainZodIssues(operatorConfigSchema, parsed.error, raw).filter(
      (i) => !secrets.some((s) => under(i.path, s.path)),
    );
    return done([...secrets, ...schemaIssues, ...partialSemantics(raw)]);
  }
  if (secrets.length > 0) return done(secrets);
  const semantic = validateSemantics(parsed.data);
  if (semantic.length > 0) return done(semantic);
  return { result: { config: parsed.data, issues: [] }, locate: at };
}

/** Validates one file's text. Returns the config, or every problem found with its line. */
export function parseOperatorConfig(
  text: string,
  file: string,
): { config: OperatorConfig; issues: [] } | { config?: undefined; issues: ConfigIssue[] } {
  return parse(text, file).result;
}

/** A config that passed validation, with the file it came from. */
export interface LoadedConfig {
  readonly file: string;
  readonly config: OperatorConfig;
}

/**
 * Loads and validates the given files; throws one ConfigError listing every problem in every file,
 * including an operator and stage defined in two files.
 */
export function loadOperatorConfigFiles(files: readonly string[], cwd = process.cwd()): LoadedConfig[] {
  const issues: ConfigIssue[] = [];
  const loaded: (LoadedConfig & { line?: number })[] = [];
  for (const path of files) {
    const file = relative(cwd, path) || basename(path);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      issues.push({
        file,
        path: '',
        message: `cannot read the file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        expected: 'a readable YAML file',
      });
      continue;
    }
    const { result, locate: at } = parse(text, file);
    if (result.config) {
      const line = at?.(['operatorId'])?.line;
      loaded.push({ file, config: result.config, ...(line !== undefined ? { line } : {}) });
    } else issues.push(...result.issues);
  }
  const seen = new Map<string, { file: string; line?: number }>();
  for (const { file, config, line } of loaded) {
    const id = `${config.operatorId}/${config.stage}`;
    const other = seen.get(id);
    if (other) {
      issues.push({
        file,
        path: 'operatorId',
        ...(line !== undefined ? { line } : {}),
        message: `operator "${config.operatorId}" (stage ${config.stage}) is already defined in ${other.file}${other.line ? `:${other.line}` : ''}; each operator and stage has exactly one file`,
        expected: `an operatorId not used by another ${config.stage} file, or a different stage`,
        example: yamlEntry('operatorId', `${config.operatorId}-2`),
      });
    } else {
      seen.set(id, { file, ...(line !== undefined ? { line } : {}) });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return loaded.map(({ file, config }) => ({ file, config }));
}

/** Every `*.yaml` / `*.yml` file in a directory, sorted. */
export function listConfigFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new ConfigError(
      [
        {
          file: dir,
          path: '',
          message: `cannot read the config directory: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
          expected: 'a directory of operator config files (<operatorId>.yaml)',
        },
      ],
      { cause: e },
    );
  }
  return names
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/** Loads and validates every config file in a directory (see {@link loadOperatorConfigFiles}). */
export function loadOperatorConfigDir(dir: string, cwd = process.cwd()): LoadedConfig[] {
  return loadOperatorConfigFiles(listConfigFiles(dir), cwd);
}
