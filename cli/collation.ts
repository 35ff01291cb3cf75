/**
 * How a source column compares its values, read from the catalog (collation name, pad attribute,
 * type), and how that relates to the connector's key form (`source.keyComparison`): used by
 * `discover` to propose the setting and by `check` to verify it and to measure, on a bounded
 * sample of the live data, whether the source groups values as the key form does.
 */
import { type KeyComparison, keyForm } from '#shared/pii/key-form';

/** What the catalog says about how a text column compares values. */
export interface ColumnComparison {
  /** Collation as the catalog names it (`utf8mb4_general_ci`, `default`, `C`, …). */
  readonly collation: string;
  /** Letter case does not count. */
  readonly caseInsensitive: boolean;
  /** Trailing spaces do not count. */
  readonly padSpace: boolean;
  /**
   * What else the collation equates that the key form does not fold (accents, expansions, …), as
   * phrases that complete "the collation also equates …"; empty when there is nothing else.
   */
  readonly beyond: readonly string[];
  /** False when the collation is not one the rules below recognize; the flags are then a guess. */
  readonly known: boolean;
}

/**
 * A MySQL/MariaDB collation. The pad attribute is `information_schema.COLLATIONS.PAD_ATTRIBUTE`
 * where the server has it (MySQL 8); otherwise (MariaDB) `_nopad_` collations are NO PAD and
 * all others PAD SPACE. Case and accent sensitivity follow the name's suffixes: `_bin` and `_cs`
 * compare case, `_ci` ignores it; `_ai` ignores accents, `_as` keeps them, and a `_ci` without
 * `_as` (general_ci, unicode_ci) ignores them too.
 */
export function mysqlColumnComparison(collation: string, padAttribute?: string | null): ColumnComparison {
  const name = collation.toLowerCase();
  const tokens = name.split('_');
  const padSpace =
    padAttribute !== undefined && padAttribute !== null && padAttribute !== ''
      ? padAttribute.toUpperCase() === 'PAD SPACE'
      : !tokens.includes('nopad');
  if (name === 'binary') return { collation, caseInsensitive: false, padSpace: false, beyond: [], known: true };
  const ci = tokens.includes('ci') || tokens.includes('w2');
  const cs = tokens.includes('cs') || tokens.includes('bin');
  if (!ci && !cs) return { collation, caseInsensitive: false, padSpace, beyond: [], known: false };
  const beyond: string[] = [];
  if (ci) {
    const accentInsensitive = tokens.includes('ai') || !tokens.includes('as');
    if (accentInsensitive) beyond.push('accented and unaccented letters (é = e)');
    if (tokens.includes('general')) {
      beyond.push('ß and s');
      beyond.push('all characters outside the Basic Multilingual Plane (emoji) with each other');
    } else {
      beyond.push('expansions (ß = ss, æ = ae)');
    }
  }
  return { collation, caseInsensitive: ci, padSpace, beyond, known: true };
}

/**
 * A PostgreSQL column: deterministic collations compare bytes (ties broken by byte order);
 * `character(n)` ignores trailing spaces; `citext` ignores case (by `lower()`); a nondeterministic
 * collation compares by ICU rules the catalog does not spell out.
 */
export function postgresColumnComparison(column: {
  readonly baseType: string;
  readonly collation: string;
  readonly deterministic: boolean;
}): ColumnComparison {
  const padSpace = column.baseType === 'bpchar';
  const citext = column.baseType === 'citext';
  if (!column.deterministic) {
    return {
      collation: column.collation,
      caseInsensitive: false,
      padSpace,
      beyond: [`nondeterministic collation ${column.collation} (ICU rules)`],
      known: false,
    };
  }
  return {
    collation: column.collation,
    caseInsensitive: citext,
    padSpace,
    beyond: citext ? ['lower-casing by the database locale'] : [],
    known: true,
  };
}

/** The comparison as words: `utf8mb4_general_ci: case-insensitive, PAD SPACE`. */
export function describeColumnComparison(c: ColumnComparison): string {
  return `${c.collation}: ${c.caseInsensitive ? 'case-insensitive' : 'case-sensitive'}, ${c.padSpace ? 'trailing spaces ignored' : 'trailing spaces significant'}${c.known ? '' : ' (unrecognized collation)'}`;
}

/** The key comparison a column calls for. */
export function keyComparisonOf(c: ColumnComparison): KeyComparison {
  return { caseInsensitive: c.caseInsensitive, padSpace: c.padSpace };
}

/** How the source's grouping of sampled values compares with the key form's. */
export interface GroupingComparison {
  /** Distinct exact values in the sample. */
  readonly values: number;
  /** Groups of values the source compares as equal. */
  readonly sourceGroups: number;
  /** Distinct key forms. */
  readonly forms: number;
  /** Source groups whose values have more than one key form: equal in the source, apart in the lake. */
  readonly splitBySourceRule: number;
  /** Key forms shared by values of more than one source group: apart in the source, one key in the lake. */
  readonly mergedByKeyForm: number;
}

/**
 * Compares the source's grouping of values (`group`: equal numbers for values the source compares
 * as equal, e.g. DENSE_RANK over the column's collation) with the grouping by key form.
 */
export function compareGrouping(
  sample: readonly (readonly [value: string, group: string | number])[],
  comparison: KeyComparison,
): GroupingComparison {
  const formsByGroup = new Map<string, Set<string>>();
  const groupsByForm = new Map<string, Set<string>>();
  const values = new Set<string>();
  for (const [value, rawGroup] of sample) {
    const group = String(rawGroup);
    values.add(value);
    const form = keyForm(value, comparison);
    formsByGroup.set(group, (formsByGroup.get(group) ?? new Set()).add(form));
    groupsByForm.set(form, (groupsByForm.get(form) ?? new Set()).add(group));
  }
  let split = 0;
  for (const forms of formsByGroup.values()) if (forms.size > 1) split++;
  let merged = 0;
  for (const groups of groupsByForm.values()) if (groups.size > 1) merged++;
  return {
    values: values.size,
    sourceGroups: formsByGroup.size,
    forms: groupsByForm.size,
    splitBySourceRule: split,
    mergedByKeyForm: merged,
  };
}
