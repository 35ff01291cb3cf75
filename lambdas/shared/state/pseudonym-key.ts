/**
 * The operator's pseudonym key, stored only wrapped by KMS (`CONFIG` / `PSEUDONYM_KEY`), and the key
 * form its key pseudonyms are computed with (`CONFIG` / `KEY_FORM`). Both are written once with a
 * conditional put, so concurrent first runs agree on one, and never expire.
 */
import { keys } from './keys.ts';
import type { StateTable } from './table.ts';

/** The key form an operator's pseudonyms are computed with, as recorded on first use. */
export interface RecordedKeyForm {
  readonly caseInsensitive: boolean;
  readonly padSpace: boolean;
  /** The case folding table, e.g. `unicode-15.0.0-simple`. */
  readonly caseFolding: string;
  readonly recordedAt: Date;
}

/** The wrapped pseudonym key and the recorded key form. */
export class PseudonymKeyStore {
  constructor(private readonly table: StateTable) {}

  /** The KMS ciphertext of the operator's pseudonym key, or undefined before it is created. */
  async getCiphertext(): Promise<Buffer | undefined> {
    const item = await this.table.get('getPseudonymKeyCiphertext', keys.pseudonymKey());
    const blob = item?.ciphertext;
    return blob instanceof Uint8Array ? Buffer.from(blob) : undefined;
  }

  /**
   * Stores the wrapped pseudonym key unless one exists; returns false when another writer was first
   * (the caller then reads and uses theirs). Only ciphertext is ever stored, and it never expires.
   */
  async putCiphertext(ciphertext: Buffer, keyId: string): Promise<boolean> {
    return this.table.putIfAbsent('putPseudonymKeyCiphertext', {
      ...keys.pseudonymKey(),
      ciphertext: new Uint8Array(ciphertext),
      keyId,
      algorithm: 'HMAC-SHA256',
      createdAt: this.table.now().toISOString(),
    });
  }

  /** The key form the operator's key pseudonyms were recorded with, or undefined before the first. */
  async getKeyForm(): Promise<RecordedKeyForm | undefined> {
    const item = await this.table.get('getKeyForm', keys.keyForm());
    if (!item) return undefined;
    return {
      caseInsensitive: item.caseInsensitive === true,
      padSpace: item.padSpace === true,
      caseFolding: String(item.caseFolding ?? ''),
      recordedAt: new Date(String(item.recordedAt)),
    };
  }

  /**
   * Records the key form pseudonyms are computed with unless one is recorded; returns false when
   * another writer was first (the caller then reads and compares theirs). Never expires.
   */
  async putKeyForm(form: Omit<RecordedKeyForm, 'recordedAt'>): Promise<boolean> {
    return this.table.putIfAbsent('putKeyForm', {
      ...keys.keyForm(),
      ...form,
      recordedAt: this.table.now().toISOString(),
    });
  }
}
