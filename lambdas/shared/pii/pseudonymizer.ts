/**
 * Pseudonymization of personal values: HMAC-SHA256 under the operator's key, as lower-case hex.
 *
 * Deterministic across runs and streams, so the same player id in players and in payments gets the
 * same pseudonym and joins still work; without the key the pseudonym cannot be reversed or
 * recomputed from a guessed id.
 */
import { createHmac } from 'node:crypto';
import { isKeyField, type StreamName } from '../canonical.ts';
import { type KeyComparison, keyForm } from './key-form.ts';

/** Turns a personal value into its pseudonym. */
export interface Pseudonymizer {
  pseudonymize(value: string): string;
}

export interface PseudonymizerOptions {
  /**
   * Pseudonyms remembered (ids repeat a lot: one player has thousands of rounds). Half of it is
   * the working set served without a miss: a window's distinct players up to that number cost
   * one HMAC each. About 150 bytes per entry.
   * @default 262144
   */
  readonly cacheSize?: number;
}

/** Length in bytes of the per-operator pseudonym key (a KMS AES_256 data key). */
export const PSEUDONYM_KEY_BYTES = 32;

/**
 * Creates a pseudonymizer with a bounded cache of recent values. The cache has two generations:
 * a value found in the older one is promoted; when the young generation is full the old one is
 * dropped, which keeps the memory bound without LRU bookkeeping on every hit.
 */
export function createPseudonymizer(key: Buffer, options: PseudonymizerOptions = {}): Pseudonymizer {
  if (key.length < PSEUDONYM_KEY_BYTES) {
    throw new RangeError(`a pseudonym key has ${PSEUDONYM_KEY_BYTES} bytes, got ${key.length}`);
  }
  // A private copy: the caller may zero its buffer, and nobody else can change ours.
  const secret = Buffer.from(key);
  const half = Math.max(1, Math.floor((options.cacheSize ?? 262_144) / 2));
  let young = new Map<string, string>();
  let old = new Map<string, string>();

  const hmac = (value: string): string => createHmac('sha256', secret).update(value, 'utf8').digest('hex');

  return {
    pseudonymize(value: string): string {
      let pseudonym = young.get(value);
      if (pseudonym !== undefined) return pseudonym;
      pseudonym = old.get(value) ?? hmac(value);
      if (young.size >= half) {
        old = young;
        young = new Map();
      }
      young.set(value, pseudonym);
      return pseudonym;
    },
  };
}

/**
 * How the values of one field are turned into the text that is pseudonymized, so that values that
 * mean the same get the same pseudonym:
 * - key and reference fields (see `isKeyField`: `player_id` everywhere, primary keys) take the
 *   source's key form ({@link keyForm} under `source.keyComparison`), so they join in the lake as
 *   they do in the source;
 * - e-mail addresses are trimmed and lower-cased;
 * - other values are hashed exactly as they are.
 */
export function pseudonymInput(
  stream: StreamName,
  field: string,
  comparison: KeyComparison,
): (value: string) => string {
  if (isKeyField(stream, field)) {
    if (!comparison.padSpace && !comparison.caseInsensitive) return (value) => value;
    return (value) => keyForm(value, comparison);
  }
  if (field === 'email') return (value) => value.trim().toLowerCase();
  return (value) => value;
}

/** The text pseudonymized for one value of a field (see {@link pseudonymInput}). */
export function normalizeForPseudonym(
  stream: StreamName,
  field: string,
  value: string,
  comparison: KeyComparison,
): string {
  return pseudonymInput(stream, field, comparison)(value);
}
