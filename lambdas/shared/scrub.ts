/**
 * The one rule for keeping secrets (passwords) out of messages: every occurrence of a secret that
 * stands on its own is replaced by `***`. "On its own" means not glued to a letter or digit on
 * either side, so a short password such as `o` never turns `cannot connect` into
 * `cann***t c***nnect`, while the same password quoted, after a colon or alone is removed.
 * A secret glued inside a longer word is not a leak of that secret: the word is the driver's text.
 */

/** Replacement of a removed secret. */
export const SCRUBBED = '***';

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `text` with every standalone occurrence of each non-empty secret replaced by `***`. */
export function scrubSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  // Longest first, so a secret that contains another is removed whole.
  const sorted = [...new Set(secrets.filter((s): s is string => typeof s === 'string' && s !== ''))].sort(
    (a, b) => b.length - a.length,
  );
  for (const secret of sorted) {
    out = out.replace(new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(secret)}(?![\\p{L}\\p{N}])`, 'gu'), SCRUBBED);
  }
  return out;
}
