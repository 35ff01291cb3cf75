/**
 * The landing sweep: removes the objects of attempts that will never be visible.
 *
 * An attempt at a window that did not commit (see `window.ts`) leaves parts under
 * `raw/<stream>/<run>/<window>/<attempt>/` and perhaps a manifest. They were never visible (no
 * committed list names them), but they cost storage and would accumulate for ever. The sweep lists
 * a stream's attempts, reads which attempt each committed window committed, and deletes every other
 * attempt whose newest object is older than the grace period. The grace keeps attempts that are
 * still being written: a running attempt writes a part at least every invocation (at most 15
 * minutes) and its retries back off for minutes, not hours.
 */
import type { StreamName } from '../canonical.ts';
import type { SweepSummary } from '../contracts/steps.ts';
import {
  committedListKey,
  committedStreamPrefix,
  PREFIX,
  parseAttemptKey,
  parseCommittedKey,
  rawStreamPrefix,
} from '../layout.ts';
import type { ListedObject, ObjectSink } from '../sink/sink.ts';
import { COMMITTED_ATTEMPT_METADATA } from './window.ts';

/** Default age after which an attempt that did not commit is removed. */
export const DEFAULT_STRAY_GRACE_HOURS = 24;

export interface SweepOptions {
  /** @default new Date() */
  readonly now?: Date;
  /** @default DEFAULT_STRAY_GRACE_HOURS */
  readonly graceHours?: number;
  /** List what would be deleted without deleting it. @default false */
  readonly dryRun?: boolean;
}

/** What the sweep of one stream found and removed, with the keys. */
export interface SweepResult extends SweepSummary {
  readonly stream: StreamName;
  /** Keys removed (or, with `dryRun`, that would be). */
  readonly deletedKeys: readonly string[];
}

interface Attempt {
  readonly objects: ListedObject[];
  newest: number;
}

/** Sweeps the stray attempts of one stream (see the module documentation). */
export async function sweepStream(
  sink: ObjectSink,
  stream: StreamName,
  options: SweepOptions = {},
): Promise<SweepResult> {
  const now = (options.now ?? new Date()).getTime();
  const graceMs = (options.graceHours ?? DEFAULT_STRAY_GRACE_HOURS) * 3_600_000;

  // window "<run>/<window>" → attempt → its objects
  const windows = new Map<string, Map<string, Attempt>>();
  const listed = [
    ...(await sink.listObjects(rawStreamPrefix(stream))),
    ...(await sink.listObjects(`${PREFIX.manifests}${stream}/`)),
  ];
  for (const object of listed) {
    const parsed = parseAttemptKey(object.key);
    if (!parsed || parsed.stream !== stream) continue;
    const id = `${parsed.runId}/${parsed.windowId}`;
    let attempts = windows.get(id);
    if (!attempts) {
      attempts = new Map();
      windows.set(id, attempts);
    }
    let attempt = attempts.get(parsed.attempt);
    if (!attempt) {
      attempt = { objects: [], newest: 0 };
      attempts.set(parsed.attempt, attempt);
    }
    attempt.objects.push(object);
    attempt.newest = Math.max(attempt.newest, object.lastModified.getTime());
  }

  const committed = new Set<string>();
  for (const key of await sink.listKeys(committedStreamPrefix(stream))) {
    const parsed = parseCommittedKey(key);
    if (parsed?.stream === stream) committed.add(`${parsed.runId}/${parsed.windowId}`);
  }

  const deleted: ListedObject[] = [];
  let strayAttempts = 0;
  let pendingAttempts = 0;
  for (const [id, attempts] of windows) {
    let keep: string | undefined;
    if (committed.has(id)) {
      if (attempts.size === 1) {
        // A committed window's attempt always has its manifest, so a single attempt is the committed one.
        keep = [...attempts.keys()][0];
      } else {
        const [runId, windowId] = id.split('/') as [string, string];
        const list = await sink.getObjectWithMetadata(committedListKey(stream, runId, windowId));
        keep = list?.metadata[COMMITTED_ATTEMPT_METADATA];
        // A list that vanished since it was listed, or names no attempt: keep everything this time.
        if (!keep) continue;
      }
    }
    for (const [name, attempt] of attempts) {
      if (name === keep) continue;
      if (now - attempt.newest < graceMs) {
        pendingAttempts++;
        continue;
      }
      strayAttempts++;
      deleted.push(...attempt.objects);
    }
  }

  const deletedKeys = deleted.map((o) => o.key).sort();
  if (!options.dryRun && deletedKeys.length > 0) await sink.deleteKeys(deletedKeys);
  return {
    stream,
    windows: windows.size,
    strayAttempts,
    deletedObjects: deletedKeys.length,
    deletedBytes: deleted.reduce((sum, o) => sum + o.size, 0),
    pendingAttempts,
    deletedKeys,
  };
}
