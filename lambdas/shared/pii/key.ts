/**
 * The operator's pseudonym key: 32 random bytes that exist in plaintext only in the memory of the
 * Lambdas. At rest it is a KMS data key ciphertext in the sync-state table (pk `CONFIG`, sk
 * `PSEUDONYM_KEY`); it is created on first use and unwrapped with KMS once per execution
 * environment (cold start).
 */
import type { KeyService } from '../adapters/key-service.ts';
import type { SyncStateStore } from '../state/store.ts';
import { CASE_FOLDING_UNICODE_VERSION } from './case-folding.ts';
import { describeKeyComparison, type KeyComparison } from './key-form.ts';
import { PSEUDONYM_KEY_BYTES } from './pseudonymizer.ts';

export interface LoadPseudonymKeyOptions {
  readonly keys: KeyService;
  readonly store: SyncStateStore;
  /** KMS key (id, ARN or alias) that wraps the data key: the operator stack's key. */
  readonly keyId: string;
  /**
   * Reuse the key unwrapped earlier in this process (and share an unwrap in progress).
   * @default true
   */
  readonly cache?: boolean;
}

/** The pseudonym key could not be loaded or created. Never contains key material. */
export class PseudonymKeyError extends Error {
  override readonly name = 'PseudonymKeyError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const cache = new Map<string, Promise<Buffer>>();

/**
 * Returns the operator's pseudonym key, creating it on first use: `GenerateDataKey` (AES_256) and a
 * conditional put of the ciphertext only. When another Lambda created it first, its key is read
 * back and used, so every process ends up with the same key. Cached per table and KMS key for the
 * life of the execution environment.
 */
export function loadPseudonymKey(options: LoadPseudonymKeyOptions): Promise<Buffer> {
  if (options.cache === false) return resolveKey(options);
  const cacheKey = `${options.store.tableName}\u0000${options.keyId}`;
  let pending = cache.get(cacheKey);
  if (!pending) {
    pending = resolveKey(options);
    cache.set(cacheKey, pending);
    // A failure is not cached: the next invocation tries again.
    pending.catch(() => cache.delete(cacheKey));
  }
  return pending;
}

/** Forgets cached keys (tests). */
export function clearPseudonymKeyCache(): void {
  cache.clear();
}

/**
 * The operator's pseudonym key if one was ever created, without creating one (for tools that only
 * recompute pseudonyms of data already landed, such as erasure): undefined when the operator has
 * landed no pseudonym yet. Not cached.
 */
export async function readPseudonymKey(options: {
  readonly keys: KeyService;
  readonly store: SyncStateStore;
  /** The wrapping KMS key; omitted, the key recorded in the ciphertext is used. */
  readonly keyId?: string;
}): Promise<Buffer | undefined> {
  const stored = await options.store.pseudonymKey.getCiphertext();
  if (!stored) return undefined;
  return checked(await options.keys.decrypt(stored, options.keyId));
}

async function resolveKey({ keys, store, keyId }: LoadPseudonymKeyOptions): Promise<Buffer> {
  const stored = await store.pseudonymKey.getCiphertext();
  if (stored) return unwrap(keys, stored, keyId);

  const generated = await keys.generateDataKey(keyId);
  if (await store.pseudonymKey.putCiphertext(generated.ciphertext, keyId)) {
    return checked(generated.plaintext);
  }
  // Another Lambda stored its key between our read and our write: use theirs, forget ours.
  generated.plaintext.fill(0);
  const winner = await store.pseudonymKey.getCiphertext();
  if (!winner) {
    throw new PseudonymKeyError(
      `the pseudonym key item in ${store.tableName} was reported present but cannot be read back; retry`,
    );
  }
  return unwrap(keys, winner, keyId);
}

async function unwrap(keys: KeyService, ciphertext: Buffer, keyId: string): Promise<Buffer> {
  return checked(await keys.decrypt(ciphertext, keyId));
}

function checked(key: Buffer): Buffer {
  if (key.length !== PSEUDONYM_KEY_BYTES) {
    throw new PseudonymKeyError(
      `the pseudonym key has ${key.length} bytes instead of ${PSEUDONYM_KEY_BYTES}; the stored item is not a KMS AES_256 data key`,
    );
  }
  return key;
}

/** The case folding of the key form, as recorded beside the operator's pseudonyms. */
export const KEY_FORM_CASE_FOLDING = `unicode-${CASE_FOLDING_UNICODE_VERSION}-simple`;

/**
 * `source.keyComparison` differs from the key form the operator's pseudonyms were computed with:
 * going on would give keys that differ by case or trailing spaces a second pseudonym, and rows
 * landed before and after would no longer join.
 */
export class KeyFormChangedError extends Error {
  override readonly name = 'KeyFormChangedError';
}

const recorded = new Map<string, Promise<void>>();

/**
 * Makes sure the operator's pseudonyms keep one key form: the first extraction records
 * `source.keyComparison` (and the case folding table) in the sync-state table (pk `CONFIG`, sk
 * `KEY_FORM`, a conditional put, so concurrent first runs agree on one); every later one compares
 * its setting with the record and refuses a different one with {@link KeyFormChangedError}.
 * Checked once per execution environment and setting.
 */
export function ensureKeyForm(options: {
  readonly store: SyncStateStore;
  readonly operatorId: string;
  readonly comparison: KeyComparison;
}): Promise<void> {
  const { store, comparison } = options;
  const cacheKey = `${store.tableName}\u0000${comparison.caseInsensitive}\u0000${comparison.padSpace}`;
  let pending = recorded.get(cacheKey);
  if (!pending) {
    pending = checkKeyForm(options);
    recorded.set(cacheKey, pending);
    pending.catch(() => recorded.delete(cacheKey));
  }
  return pending;
}

/** Forgets checked key forms (tests). */
export function clearKeyFormCache(): void {
  recorded.clear();
}

async function checkKeyForm({
  store,
  operatorId,
  comparison,
}: {
  store: SyncStateStore;
  operatorId: string;
  comparison: KeyComparison;
}): Promise<void> {
  const wanted = {
    caseInsensitive: comparison.caseInsensitive,
    padSpace: comparison.padSpace,
    caseFolding: KEY_FORM_CASE_FOLDING,
  };
  let current = await store.pseudonymKey.getKeyForm();
  if (!current) {
    if (await store.pseudonymKey.putKeyForm(wanted)) return;
    current = await store.pseudonymKey.getKeyForm();
    if (!current) {
      throw new PseudonymKeyError(
        `the key form item in ${store.tableName} was reported present but cannot be read back; retry`,
      );
    }
  }
  // The folding table matters only when keys are folded.
  const sameFolding = !wanted.caseInsensitive || current.caseFolding === wanted.caseFolding;
  const same =
    current.caseInsensitive === wanted.caseInsensitive && current.padSpace === wanted.padSpace && sameFolding;
  if (same) return;
  const at = Number.isNaN(current.recordedAt.getTime()) ? '' : ` on ${current.recordedAt.toISOString()}`;
  const folding = sameFolding
    ? ''
    : ` with case folding ${current.caseFolding}, this version folds with ${wanted.caseFolding}`;
  throw new KeyFormChangedError(
    `${operatorId}: source.keyComparison is { caseInsensitive: ${wanted.caseInsensitive}, padSpace: ${wanted.padSpace} } (${describeKeyComparison(wanted)}), but the pseudonyms already landed for this operator were computed with { caseInsensitive: ${current.caseInsensitive}, padSpace: ${current.padSpace} } (recorded${at}${folding}); keys that differ by case or trailing spaces would get a second pseudonym and stop joining with the landed rows. Restore source.keyComparison to { caseInsensitive: ${current.caseInsensitive}, padSpace: ${current.padSpace} } and deploy, or change the key form deliberately as docs/runbook.md describes (Changing how keys compare)`,
  );
}
