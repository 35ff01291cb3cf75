import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DataKey, KeyService } from '#shared/adapters/key-service';
import { LocalKeyService } from '#shared/adapters/kms-local';
import {
  clearKeyFormCache,
  clearPseudonymKeyCache,
  ensureKeyForm,
  KEY_FORM_CASE_FOLDING,
  KeyFormChangedError,
  loadPseudonymKey,
  PseudonymKeyError,
} from '#shared/pii/key';
import { keys as itemKeys } from '#shared/state/keys';
import { SyncStateStore } from '#shared/state/store';
import { type DynaliteHandle, startDynalite } from '../../helpers/dynalite.ts';

const KEY_ID = 'alias/connector/acme-casino-sandbox';

/** A real local key service that counts its calls. */
class CountingKeys implements KeyService {
  generated = 0;
  decrypted = 0;
  constructor(private readonly inner: KeyService) {}
  async generateDataKey(keyId: string): Promise<DataKey> {
    this.generated++;
    return this.inner.generateDataKey(keyId);
  }
  async decrypt(ciphertext: Buffer, keyId?: string): Promise<Buffer> {
    this.decrypted++;
    return this.inner.decrypt(ciphertext, keyId);
  }
}

let dynamo: DynaliteHandle;
let dir: string;
let table: string;
let local: LocalKeyService;

beforeAll(async () => {
  dynamo = await startDynalite();
  dir = mkdtempSync(join(tmpdir(), 'pseudonym-key-'));
  local = new LocalKeyService({ keyFile: join(dir, 'master.key'), operatorId: 'acme-casino' });
});

afterAll(async () => {
  await dynamo?.stop();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  table = await dynamo.createSyncStateTable();
  clearPseudonymKeyCache();
  clearKeyFormCache();
});

describe('loadPseudonymKey', () => {
  it('creates the key once, stores only its ciphertext, and unwraps it afterwards', async () => {
    const keys = new CountingKeys(local);
    const store = new SyncStateStore(dynamo.doc, table);
    const key = await loadPseudonymKey({ keys, store, keyId: KEY_ID, cache: false });
    expect(key).toHaveLength(32);
    expect(keys.generated).toBe(1);

    const { Item } = await dynamo.doc.send(new GetCommand({ TableName: table, Key: itemKeys.pseudonymKey() }));
    const stored = Buffer.from(Item?.ciphertext as Uint8Array);
    expect(stored.includes(key)).toBe(false);
    expect(Item?.keyId).toBe(KEY_ID);
    expect(Item?.expiresAt).toBeUndefined();
    expect(Object.keys(Item ?? {}).sort()).toEqual(['algorithm', 'ciphertext', 'createdAt', 'keyId', 'pk', 'sk']);

    const again = await loadPseudonymKey({ keys, store, keyId: KEY_ID, cache: false });
    expect(again.equals(key)).toBe(true);
    expect(keys.generated).toBe(1);
    expect(keys.decrypted).toBe(1);
  });

  it('gives two Lambdas racing on a fresh table the same key', async () => {
    // Each generateDataKey waits for the other, so both have read "no key" before either writes.
    let arrived = 0;
    let release: () => void = () => undefined;
    const bothArrived = new Promise<void>((resolve) => {
      release = resolve;
    });
    class Rendezvous extends CountingKeys {
      override async generateDataKey(keyId: string): Promise<DataKey> {
        if (++arrived === 2) release();
        await bothArrived;
        return super.generateDataKey(keyId);
      }
    }
    const keysA = new Rendezvous(local);
    const keysB = new Rendezvous(local);
    const [a, b] = await Promise.all([
      loadPseudonymKey({ keys: keysA, store: new SyncStateStore(dynamo.doc, table), keyId: KEY_ID, cache: false }),
      loadPseudonymKey({ keys: keysB, store: new SyncStateStore(dynamo.doc, table), keyId: KEY_ID, cache: false }),
    ]);
    expect(a.equals(b)).toBe(true);
    // Both generated a key; the loser of the conditional put unwrapped the winner's.
    expect([keysA.generated, keysB.generated]).toEqual([1, 1]);
    expect(keysA.decrypted + keysB.decrypted).toBe(1);
    const stored = await new SyncStateStore(dynamo.doc, table).pseudonymKey.getCiphertext();
    expect((await local.decrypt(stored!, KEY_ID)).equals(a)).toBe(true);
  });

  it('caches per process and shares a load in progress', async () => {
    const keys = new CountingKeys(local);
    const store = new SyncStateStore(dynamo.doc, table);
    const [a, b] = await Promise.all([
      loadPseudonymKey({ keys, store, keyId: KEY_ID }),
      loadPseudonymKey({ keys, store, keyId: KEY_ID }),
    ]);
    const c = await loadPseudonymKey({ keys, store, keyId: KEY_ID });
    expect(a.equals(b) && a.equals(c)).toBe(true);
    expect(keys.generated + keys.decrypted).toBe(1);
  });

  it('does not cache a failure, and refuses a stored key of the wrong size', async () => {
    const store = new SyncStateStore(dynamo.doc, table);
    const wrong = await local.generateDataKey(KEY_ID);
    const short: KeyService = {
      generateDataKey: () => Promise.resolve(wrong),
      decrypt: async () => Buffer.alloc(16),
    };
    await store.pseudonymKey.putCiphertext(wrong.ciphertext, KEY_ID);
    await expect(loadPseudonymKey({ keys: short, store, keyId: KEY_ID })).rejects.toThrow(PseudonymKeyError);
    const key = await loadPseudonymKey({ keys: local, store, keyId: KEY_ID });
    expect(key.equals(wrong.plaintext)).toBe(true);
  });

  it('refuses a key wrapped for another operator', async () => {
    const store = new SyncStateStore(dynamo.doc, table);
    const other = new LocalKeyService({ keyFile: join(dir, 'master.key'), operatorId: 'royal-spins' });
    await loadPseudonymKey({ keys: other, store, keyId: KEY_ID, cache: false });
    await expect(loadPseudonymKey({ keys: local, store, keyId: KEY_ID, cache: false })).rejects.toThrow(
      /cannot decrypt for operator acme-casino: authentication failed/,
    );
  });
});

describe('ensureKeyForm', () => {
  const CI_PAD = { caseInsensitive: true, padSpace: true };
  const EXACT = { caseInsensitive: false, padSpace: false };

  it('records the key form on first use and accepts the same one afterwards', async () => {
    const store = new SyncStateStore(dynamo.doc, table);
    await ensureKeyForm({ store, operatorId: 'acme-casino', comparison: CI_PAD });
    const { Item } = await dynamo.doc.send(new GetCommand({ TableName: table, Key: itemKeys.keyForm() }));
    expect(Item).toMatchObject({ caseInsensitive: true, padSpace: true, caseFolding: KEY_FORM_CASE_FOLDING });
    expect(KEY_FORM_CASE_FOLDING).toBe('unicode-15.0.0-simple');
    expect(Item?.expiresAt).toBeUndefined();
    clearKeyFormCache();
    await expect(ensureKeyForm({ store, operatorId: 'acme-casino', comparison: CI_PAD })).resolves.toBeUndefined();
  });

  it('refuses a changed setting, naming the recorded one and what to do', async () => {
    const store = new SyncStateStore(dynamo.doc, table);
    await ensureKeyForm({ store, operatorId: 'acme-casino', comparison: EXACT });
    const changed = ensureKeyForm({ store, operatorId: 'acme-casino', comparison: CI_PAD });
    await expect(changed).rejects.toThrow(KeyFormChangedError);
    await expect(changed).rejects.toThrow(
      /^acme-casino: source.keyComparison is \{ caseInsensitive: true, padSpace: true \} \(case-insensitive, trailing spaces ignored\), but the pseudonyms already landed for this operator were computed with \{ caseInsensitive: false, padSpace: false \} \(recorded on \d{4}-/,
    );
    await expect(changed).rejects.toThrow(
      'Restore source.keyComparison to { caseInsensitive: false, padSpace: false } and deploy, or change the key form deliberately as docs/runbook.md describes',
    );
    // A refusal is not cached as a success, and the record is unchanged.
    await expect(ensureKeyForm({ store, operatorId: 'acme-casino', comparison: CI_PAD })).rejects.toThrow(
      KeyFormChangedError,
    );
    expect(await store.pseudonymKey.getKeyForm()).toMatchObject(EXACT);
  });

  it('refuses a case folding table other than the recorded one when keys are case-insensitive', async () => {
    const store = new SyncStateStore(dynamo.doc, table);
    await store.pseudonymKey.putKeyForm({ ...CI_PAD, caseFolding: 'unicode-9.0.0-simple' });
    await expect(ensureKeyForm({ store, operatorId: 'acme-casino', comparison: CI_PAD })).rejects.toThrow(
      `with case folding unicode-9.0.0-simple, this version folds with ${KEY_FORM_CASE_FOLDING}`,
    );
  });

  it('lets the first of two racing writers decide', async () => {
    const store = new SyncStateStore(dynamo.doc, table);
    const results = await Promise.allSettled([
      ensureKeyForm({ store, operatorId: 'acme-casino', comparison: CI_PAD }),
      ensureKeyForm({ store, operatorId: 'acme-casino', comparison: EXACT }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(KeyFormChangedError);
  });
});
