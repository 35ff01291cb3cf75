/**
 * Turns zod's validation issues into messages a platform engineer can act on: what is wrong with
 * the value found, what was expected (in words, from the schema) and a valid example.
 */
import { stringify } from 'yaml';
import type { z } from 'zod';
import { didYouMean } from './did-you-mean.ts';
import {
  discriminatorValues,
  expectedOf,
  knownKeys,
  objectVariants,
  type PathKey,
  type Schema,
  sampleOf,
  schemasAt,
} from './introspect.ts';
import type { SemanticIssue } from './validate.ts';

type Issue = z.core.$ZodIssue;

const TYPE_NAMES: Record<string, string> = {
  string: 'text',
  object: 'a mapping',
  array: 'a list',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
};

type Explained = SemanticIssue & { readonly missing?: boolean };

/** Renders `{ key: value }` as a YAML snippet. */
export function yamlEntry(key: PathKey, value: unknown): string {
  return stringify({ [String(key)]: value }, { lineWidth: 0 }).trimEnd();
}

/** A short, safe rendering of a value found in the file. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  return `the ${typeof value} ${String(value)}`;
}

function has(raw: unknown, path: readonly PathKey[]): boolean {
  let here = raw;
  for (const key of path) {
    if (here === null || typeof here !== 'object' || !(String(key) in here)) return false;
    here = (here as Record<string, unknown>)[String(key)];
  }
  return true;
}

function valueAt(raw: unknown, path: readonly PathKey[]): unknown {
  let here = raw;
  for (const key of path) {
    if (here === null || typeof here !== 'object') return undefined;
    here = (here as Record<string, unknown>)[String(key)];
  }
  return here;
}

class Explainer {
  /** `parent.suggestion` for every unknown key that looks like a typo of a known one. */
  readonly typos = new Set<string>();

  constructor(
    private readonly root: Schema,
    private readonly raw: unknown,
  ) {}

  private schemas(path: readonly PathKey[]): Schema[] {
    return schemasAt(this.root, path, this.raw);
  }

  private expected(path: readonly PathKey[]): string | undefined {
    const [first] = this.schemas(path);
    return first ? expectedOf(first) : undefined;
  }

  /** Example for the entry at `path`: trailing list indices are folded into a list at their key. */
  private example(path: readonly PathKey[], key?: PathKey): Pick<SemanticIssue, 'example' | 'exampleAt'> {
    let end = path.length;
    while (end > 0 && typeof path[end - 1] === 'number') end--;
    const entry = path.slice(0, end);
    const name = key ?? entry[entry.length - 1];
    const [schema] = this.schemas(entry);
    if (name === undefined || !schema) return {};
    return { example: yamlEntry(name, sampleOf(schema)), exampleAt: entry.slice(0, -1) };
  }

  explain(issue: Issue, prefix: readonly PathKey[] = []): Explained[] {
    const path = [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    const value = valueAt(this.raw, path);
    const present = has(this.raw, path);
    const expected = this.expected(path);
    const base = { path, ...(expected ? { expected } : {}), ...this.example(path) };
    const last = path[path.length - 1];

    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((k) => this.unknownKey(path, k));
      case 'invalid_union':
        return this.union(issue, path, value);
      case 'invalid_type': {
        if (!present) return [{ ...base, message: `required key "${String(last)}" is missing`, missing: true }];
        if (issue.expected === 'int' && typeof value === 'number')
          return [{ ...base, message: `${value} is not a whole number` }];
        const quote =
          issue.expected === 'string' && typeof value === 'number'
            ? ': YAML reads unquoted digits as a number, so put the value in quotes'
            : issue.expected === 'string' && typeof value === 'boolean'
              ? ': YAML reads unquoted true/false/yes/no as a boolean, so put the value in quotes'
              : '';
        const kind = TYPE_NAMES[issue.expected] ?? issue.expected;
        return [{ ...base, message: `expected ${kind}, got ${describeValue(value)}${quote}` }];
      }
      case 'invalid_value': {
        const suggestion =
          typeof value === 'string'
            ? didYouMean(
                value,
                issue.values.map((v) => String(v)),
              )
            : undefined;
        return [
          {
            ...base,
            message: `${describeValue(value)} is not allowed here${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
            ...(suggestion && last !== undefined ? { example: yamlEntry(last, suggestion) } : {}),
          },
        ];
      }
      case 'too_small':
      case 'too_big': {
        const small = issue.code === 'too_small';
        const limit = small ? issue.minimum : issue.maximum;
        let message: string;
        if (issue.origin === 'array')
          message = `the list has too ${small ? 'few' : 'many'} items (${small ? 'at least' : 'at most'} ${limit})`;
        else if (issue.origin === 'string')
          message = `${describeValue(value)} is too ${small ? 'short' : 'long'} (${small ? 'at least' : 'at most'} ${limit} characters)`;
        else
          message = `${describeValue(value)} is too ${small ? 'small' : 'large'} (${small ? 'minimum' : 'maximum'} ${limit})`;
        return [{ ...base, message }];
      }
      case 'invalid_format':
        return [{ ...base, message: expected ? `${describeValue(value)} is not valid` : issue.message }];
      case 'custom':
        // Refinements either explain themselves or only say "must be ..." (the expectation).
        return [
          {
            ...base,
            message: /^must be /.test(issue.message) ? `${describeValue(value)} is not valid` : issue.message,
          },
        ];
      default:
        return [{ ...base, message: issue.message }];
    }
  }

  private unknownKey(path: PathKey[], key: string): SemanticIssue {
    const allowed = knownKeys(this.root, path, this.raw);
    const suggestion = didYouMean(key, allowed);
    const inStreams = path.length === 1 && path[0] === 'streams';
    const what = inStreams
      ? 'is not a canonical stream'
      : path.length === 0
        ? 'is not a top-level key'
        : `is not a key of ${path.join('.')}`;
    let message = `"${key}" ${what}${suggestion ? `; did you mean "${suggestion}"?` : ''}`;
    if (!suggestion) {
      const elsewhere = this.variantsWithKey(path, key);
      if (elsewhere) message = `"${key}" only applies when ${elsewhere}`;
    }
    if (suggestion) this.typos.add(JSON.stringify([...path, suggestion]));
    const shown = suggestion ?? allowed[0];
    const shownSchema = shown === undefined ? undefined : this.schemas([...path, shown])[0];
    const example =
      shown !== undefined && shownSchema ? { example: yamlEntry(shown, sampleOf(shownSchema)), exampleAt: path } : {};
    return {
      path: [...path, key],
      message,
      expected: inStreams
        ? `a stream name: ${allowed.join(', ')}`
        : allowed.length === 1
          ? `only the key ${allowed[0]}`
          : `one of the keys ${allowed.join(', ')}`,
      ...example,
    };
  }

  /** "mode is created" when `key` belongs to another variant of the discriminated union at `path`. */
  private variantsWithKey(path: PathKey[], key: string): string | undefined {
    for (const s of schemasAt(this.root, path)) {
      const discriminator = (s._zod.def as { discriminator?: string }).discriminator;
      if (!discriminator) continue;
      const values = objectVariants(s)
        .filter((v) => key in ((v._zod.def as { shape?: object }).shape ?? {}))
        .flatMap((v) => discriminatorValues(v, discriminator));
      if (values.length > 0) return `${discriminator} is ${values.join(' or ')}`;
    }
    return undefined;
  }

  private union(issue: Extract<Issue, { code: 'invalid_union' }>, path: PathKey[], value: unknown): Explained[] {
    const discriminator = (issue as { discriminator?: string }).discriminator;
    if (discriminator) {
      // zod reports a bad discriminator at the discriminator key itself.
      const unionPath = path[path.length - 1] === discriminator ? path.slice(0, -1) : path;
      const keyPath = [...unionPath, discriminator];
      const options = ((issue as { options?: unknown[] }).options ?? []).map(String);
      const given = valueAt(this.raw, keyPath);
      const suggestion = typeof given === 'string' ? didYouMean(given, options) : undefined;
      const chosen = suggestion ?? options[0];
      const [union] = this.schemas(unionPath);
      const variant = union && objectVariants(union).find((v) => discriminatorValues(v, discriminator)[0] === chosen);
      const container = valueAt(this.raw, unionPath);
      const message =
        container === null || typeof container !== 'object' || Array.isArray(container)
          ? `expected a mapping with ${discriminator}: ${options.join(', ')}, got ${describeValue(container)}`
          : given === undefined
            ? `required key "${discriminator}" is missing`
            : `${describeValue(given)} is not a supported ${discriminator}${suggestion ? `; did you mean "${suggestion}"?` : ''}`;
      const name = unionPath[unionPath.length - 1];
      return [
        {
          path: keyPath,
          message,
          expected: `one of ${options.join(', ')}`,
          ...(variant && name !== undefined
            ? { example: yamlEntry(name, sampleOf(variant)), exampleAt: unionPath.slice(0, -1) }
            : {}),
        },
      ];
    }
    // A plain union: explain the branch whose type matches the value, when there is one.
    const matching = issue.errors.filter(
      (branch) => !branch.some((i) => i.code === 'invalid_type' && i.path.length === 0),
    );
    const [branch] = matching;
    if (matching.length === 1 && branch) return branch.flatMap((i) => this.explain(i, path));
    const expected = this.expected(path);
    return [
      {
        path,
        message: `expected ${expected ?? 'another kind of value'}, got ${describeValue(value)}`,
        ...(expected ? { expected } : {}),
        ...this.example(path),
      },
    ];
  }
}

/** Explains every issue of a failed parse of `raw` (the YAML document as plain data). */
export function explainZodIssues(root: Schema, error: z.ZodError, raw: unknown): SemanticIssue[] {
  const explainer = new Explainer(root, raw);
  const issues = error.issues.flatMap((issue) => explainer.explain(issue));
  // A misspelt required key is reported once, as the typo.
  return issues
    .filter((i) => !(i.missing && explainer.typos.has(JSON.stringify(i.path))))
    .map(({ missing: _, ...i }) => i);
}
