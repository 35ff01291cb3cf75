/**
 * The key form: the one rule that turns a key or reference value into the text that is
 * pseudonymized, so that values the source compares as equal get the same pseudonym and join in
 * the lake as they join in the source.
 *
 * A source states how it compares keys (`source.keyComparison` in the operator config):
 * - `padSpace`: trailing spaces do not count (MySQL/MariaDB PAD SPACE collations, PostgreSQL
 *   `character(n)`): trailing U+0020 SPACE characters are removed. Only that character: under PAD
 *   SPACE `'a'` equals `'a '` but not `'a\t'`.
 * - `caseInsensitive`: letter case does not count (`_ci` collations, `citext`): every code point
 *   is replaced by its Unicode simple case folding (CaseFolding.txt status C and S, frozen at the
 *   version in case-folding.ts), one code point for one, independent of locale and context.
 *
 * The function is pure and depends on nothing but its arguments and the frozen table, so a
 * pseudonym can be recomputed offline from a clear id and the operator key, today or years later.
 * Changing either setting changes the pseudonyms of keys that differ by case or trailing spaces.
 */
import { CASE_FOLDING_RUNS } from './case-folding.ts';

/** How the source compares key values. */
export interface KeyComparison {
  /** Letter case does not count (simple case folding). */
  readonly caseInsensitive: boolean;
  /** Trailing spaces (U+0020) do not count. */
  readonly padSpace: boolean;
}

/** Exact comparison: every byte counts (PostgreSQL deterministic collations, binary NO PAD). */
export const EXACT_KEY_COMPARISON: KeyComparison = Object.freeze({ caseInsensitive: false, padSpace: false });

let folding: Map<number, number> | undefined;

function foldingTable(): Map<number, number> {
  if (!folding) {
    const table = new Map<number, number>();
    for (const [first, count, step, delta] of CASE_FOLDING_RUNS) {
      for (let i = 0; i < count; i++) table.set(first + i * step, first + i * step + delta);
    }
    folding = table;
  }
  return folding;
}

const ASCII = /^[ -~]*$/;

/** Unicode simple case folding of every code point (lone surrogates are kept as they are). */
export function simpleCaseFold(value: string): string {
  // In printable ASCII (most ids), simple case folding is A-Z → a-z, which is what toLowerCase does.
  if (ASCII.test(value)) return value.toLowerCase();
  const table = foldingTable();
  let out: string[] | undefined;
  let i = 0;
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    const folded = table.get(cp);
    if (folded !== undefined) {
      out ??= [value.slice(0, i)];
      out.push(String.fromCodePoint(folded));
    } else if (out) {
      out.push(ch);
    }
    i += ch.length;
  }
  return out ? out.join('') : value;
}

/** Removes trailing U+0020 SPACE characters (and nothing else). */
export function trimTrailingSpaces(value: string): string {
  let end = value.length;
  while (end > 0 && value.charCodeAt(end - 1) === 0x20) end--;
  return end === value.length ? value : value.slice(0, end);
}

/**
 * The form of a key or reference value that is pseudonymized: trailing spaces removed under
 * `padSpace`, then simple case folding under `caseInsensitive`. With neither, the value itself.
 */
export function keyForm(value: string, comparison: KeyComparison): string {
  let form = comparison.padSpace ? trimTrailingSpaces(value) : value;
  if (comparison.caseInsensitive) form = simpleCaseFold(form);
  return form;
}

/** The key comparison as words, for messages: `case-insensitive, trailing spaces ignored`. */
export function describeKeyComparison(comparison: KeyComparison): string {
  return `${comparison.caseInsensitive ? 'case-insensitive' : 'case-sensitive'}, trailing spaces ${comparison.padSpace ? 'ignored' : 'significant'}`;
}

/** Whether two comparisons are the same rule. */
export function sameKeyComparison(a: KeyComparison, b: KeyComparison): boolean {
  return a.caseInsensitive === b.caseInsensitive && a.padSpace === b.padSpace;
}
