/**
 * `connector erase <operator>`: erases one player (GDPR Art. 17) from the operator's lake. The
 * player's id is read from stdin or a file, never from the command line, and never printed,
 * logged or stored: only its pseudonym (HMAC under the operator key) is used and recorded.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AthenaClient } from '@aws-sdk/client-athena';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AthenaQueryError, AwsAthena, athenaWorkGroupName, type QueryEngine } from '#shared/adapters/athena';
import {
  AdapterConfigError,
  AwsKeyService,
  createAdapters,
  type KeyService,
  KeyServiceError,
} from '#shared/adapters/index';
import type { OperatorConfig } from '#shared/config/schema';
import { type ErasureReport, erasePlayer } from '#shared/erasure/erase';
import { ErasureObjectError, ErasureObjects } from '#shared/erasure/objects';
import { playerPseudonym } from '#shared/erasure/player';
import { RawErasureError } from '#shared/erasure/raw';
import { readPseudonymKey } from '#shared/pii/key';
import { describeKeyComparison, type KeyComparison, sameKeyComparison } from '#shared/pii/key-form';
import { S3Sink } from '#shared/sink/s3';
import { ErasureAudit } from '#shared/state/erasures';
import { SyncStateStore } from '#shared/state/store';
import { SyncStateError } from '#shared/state/table';
import { defineCommand } from '../command.ts';
import {
  CliError,
  type CliIo,
  EXIT,
  formatCount,
  OPERATOR_HELP,
  OPERATOR_OPTIONS,
  parseErrorMessage,
  printJson,
  UsageError,
} from '../io.ts';
import { stackNames } from '../operator.ts';
import { operatorStack, STACK_OUTPUTS, stackOutput } from '../stack.ts';

const HELP = `Usage: connector erase <operator> [--player -] [--player-file PATH] [--dry-run]
                       [--reference TEXT] [--json] [--local DIR | --bucket NAME --table NAME]

Erases one player (GDPR Art. 17, right to erasure) from the operator's lake: every stream that
carries player_id, in the raw zone (the committed Parquet parts are rewritten without the player's
rows, their earlier versions deleted) and in the serving tables (an Iceberg DELETE through Athena).
The request is recorded in the sync-state table under the player's pseudonym, with when it ran
and the rows and objects removed per stream; the id itself is never stored, printed or logged.

The player id (the operator's own id, as in its database or files) is read from stdin, or from a
file, never from the command line, where it would stay in shell history and process lists:

  printf '%s' "$PLAYER_ID" | npx connector erase acme-casino --dry-run
  npx connector erase acme-casino --player-file request-1234.txt --reference DPO-1234

One id per run. A final newline is ignored; every other character counts, except what the
operator's key comparison ignores (letter case, trailing spaces: source.keyComparison).

Run it after the player has been deleted at the source: rows landed later are not erased (run it
again; it then removes what landed since). A run that finds nothing more changes nothing. What is
erased from where, and by when, is in docs/operators/erasure.md.

Options:
  --player -         read the id from stdin (the default)
  --player-file PATH read the id from this file
  --dry-run          count what would be removed (rows per table, raw objects); change nothing
  --reference TEXT   the request's reference (e.g. a ticket number), stored with the audit entry;
                     never personal data
  --json             print the report as JSON
  --local DIR        the lake of a local run (\`connector run <operator> --local --out DIR\`); its
                     exported Parquet is written again afterwards
  --bucket NAME      landing bucket (default: CONNECTOR_LANDING_BUCKET, else the stack output
                     LandingBucketName, read with CloudFormation)
  --table NAME       sync-state table (default: CONNECTOR_SYNC_STATE_TABLE, else the stack output
                     SyncStateTableName)
  -h, --help         show this help

On AWS the statements run in the operator's Athena workgroup (<operator>-<stage>) and Glue
database; your identity needs cloudformation:DescribeStacks (the stack outputs),
athena:StartQueryExecution/GetQueryExecution/GetQueryResults there,
the Glue and S3 permissions of those queries, s3:GetObject, s3:PutObject, s3:ListBucket,
s3:ListBucketVersions and s3:DeleteObjectVersion on the landing bucket, dynamodb:GetItem, Query,
PutItem, UpdateItem and DeleteItem on the sync-state table, and kms:Decrypt and kms:GenerateDataKey
on the operator key. The erasure holds the operator's publish lock while it works: publishes wait,
and it waits (up to 30 minutes) for a running publish. CONNECTOR_ADAPTERS=local (with CONNECTOR_LOCAL_KMS_KEY_FILE) unwraps the pseudonym
key with a local key instead of KMS; AWS_ENDPOINT_URL_<SERVICE> points a client elsewhere.

${OPERATOR_HELP}

Exit codes: 0 erased, nothing left to erase, or dry run; 1 the erasure could not be completed (run
it again; it resumes); 2 usage error; 4 an AWS call failed.`;

const OPTIONS = {
  ...OPERATOR_OPTIONS,
  player: { type: 'string' },
  'player-file': { type: 'string' },
  'dry-run': { type: 'boolean' },
  reference: { type: 'string' },
  json: { type: 'boolean' },
  local: { type: 'string' },
  bucket: { type: 'string' },
  table: { type: 'string' },
} as const;

const ARGV_REFUSED =
  'erase: the player id is never taken from the command line (it would stay in shell history and process lists); ' +
  'pipe it on stdin (`printf \'%s\' "$ID" | connector erase <operator>`) or give --player-file PATH';

/** The command line, parsed; a refused argument is never repeated in the message (it may be an id). */
function parseErase(args: readonly string[]) {
  try {
    return parseArgs({ args: [...args], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    // Option names are kept (they say what was mistyped); any other argument may be an id.
    let message = parseErrorMessage('erase', e, Object.keys(OPTIONS));
    for (const arg of args) {
      for (const part of arg.split('=')) {
        if (part.length > 0 && !/^--?[a-z][a-z-]*$/.test(part)) message = message.split(part).join('***');
      }
    }
    throw new UsageError(message);
  }
}

/**
 * The player id from the text of stdin or a file: one line, a final newline removed.
 * @throws UsageError when it is empty or holds several lines (never quoting it).
 */
export function parsePlayerId(text: string, from: string): string {
  const id = text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text;
  if (id.trim() === '') throw new UsageError(`erase: ${from} holds no player id`);
  if (/[\r\n]/.test(id)) {
    throw new UsageError(`erase: ${from} holds several lines; erase one player per run (one id, one line)`);
  }
  if (id.includes('\u0000')) throw new UsageError(`erase: ${from} holds a NUL character; it is not a player id`);
  return id;
}

async function readId(values: { player?: string | undefined; 'player-file'?: string | undefined }, io: CliIo) {
  if (values['player-file'] !== undefined) {
    if (values.player !== undefined) throw new UsageError('erase: give --player - or --player-file, not both');
    const path = resolve(io.cwd, values['player-file']);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      throw new UsageError(
        `erase: --player-file ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    return parsePlayerId(text, `--player-file ${path}`);
  }
  return parsePlayerId(await io.readStdin(), 'stdin');
}

/** Where the erasure runs: the clients of AWS or of a local run's directory. */
interface Target {
  readonly engine: QueryEngine;
  readonly sink: S3Sink;
  readonly objects: ErasureObjects;
  readonly store: SyncStateStore;
  readonly audit: ErasureAudit;
  readonly keys: KeyService;
  readonly database: string;
  readonly onChanged?: (keys: readonly string[]) => Promise<void>;
  /** After a run that changed something (a local run's exported Parquet is written again). */
  readonly afterErase?: () => Promise<void>;
  close(): Promise<void>;
}

async function localTarget(config: OperatorConfig, dir: string): Promise<Target> {
  // Loaded only for --local: the local engines (DuckDB, s3rver, dynalite) are development tools.
  const { openLocalLake, LocalLakeError } = await import('../../local/local-lake.ts');
  let lake: Awaited<ReturnType<typeof openLocalLake>>;
  try {
    lake = await openLocalLake(config, dir);
  } catch (e) {
    if (e instanceof LocalLakeError) throw new CliError(`erase: ${e.message}`, EXIT.problems, { cause: e });
    throw e;
  }
  const doc = lake.dynamo.doc;
  return {
    engine: lake.athena,
    sink: new S3Sink({ client: lake.s3.client, bucket: lake.bucket }),
    objects: new ErasureObjects(lake.s3.client, lake.bucket),
    store: new SyncStateStore(doc, lake.table),
    audit: new ErasureAudit(doc, lake.table),
    keys: lake.keys,
    database: lake.database,
    onChanged: (keys) => lake.forget(keys),
    afterErase: () => lake.refreshExport(),
    close: () => lake.close(),
  };
}

async function awsTarget(
  config: OperatorConfig,
  values: { bucket?: string | undefined; table?: string | undefined },
  io: CliIo,
): Promise<Target> {
  const names = stackNames(config);
  let bucket = values.bucket ?? io.env.CONNECTOR_LANDING_BUCKET;
  let table = values.table ?? io.env.CONNECTOR_SYNC_STATE_TABLE;
  if (!bucket || !table) {
    const stack = await operatorStack(config, io, 'erase');
    if (!bucket) bucket = stackOutput(stack, STACK_OUTPUTS.landingBucket, 'erase');
    if (!table) table = stackOutput(stack, STACK_OUTPUTS.syncStateTable, 'erase');
  }
  const region = config.region;
  const kms = new KMSClient({ region });
  let keys: KeyService;
  try {
    // KMS in the operator's region, unless CONNECTOR_ADAPTERS=local selects the local key service.
    const adapters = createAdapters(io.env, { operatorId: config.operatorId });
    keys = adapters.mode === 'aws' ? new AwsKeyService({ operatorId: config.operatorId, client: kms }) : adapters.keys;
  } catch (e) {
    kms.destroy();
    if (e instanceof AdapterConfigError) throw new UsageError(`erase: ${e.message}`);
    throw e;
  }
  const s3 = new S3Client({ region });
  const dynamo = new DynamoDBClient({ region });
  const athena = new AthenaClient({ region });
  const doc = DynamoDBDocumentClient.from(dynamo);
  return {
    engine: new AwsAthena({
      workGroup: athenaWorkGroupName(config.operatorId, config.stage),
      database: names.glueDatabase,
      client: athena,
    }),
    sink: new S3Sink({ client: s3, bucket }),
    objects: new ErasureObjects(s3, bucket),
    store: new SyncStateStore(doc, table),
    audit: new ErasureAudit(doc, table),
    keys,
    database: names.glueDatabase,
    async close() {
      s3.destroy();
      dynamo.destroy();
      athena.destroy();
      kms.destroy();
    },
  };
}

/** The key form the operator's pseudonyms were landed with: the recorded one, else the config's. */
async function keyFormOf(store: SyncStateStore, config: OperatorConfig, io: CliIo): Promise<KeyComparison> {
  const configured = config.source.keyComparison;
  const recorded = await store.pseudonymKey.getKeyForm();
  if (!recorded) return configured;
  const form = { caseInsensitive: recorded.caseInsensitive, padSpace: recorded.padSpace };
  if (!sameKeyComparison(form, configured)) {
    io.err(
      `note: source.keyComparison (${describeKeyComparison(configured)}) differs from the key form the landed pseudonyms were computed with (${describeKeyComparison(form)}); the landed one is used\n`,
    );
  }
  return form;
}

const pad = (text: string, width: number, right = false) => (right ? text.padStart(width) : text.padEnd(width));

/** The report as text (never the clear id). */
export function formatErasure(report: ErasureReport): string {
  const lines: string[] = [];
  const who = `player ${report.pseudonym} of ${report.operatorId} (${report.stage})`;
  const streams = Object.entries(report.streams);
  const table = () => {
    const header = ['stream', 'serving rows', 'raw rows', 'raw objects'];
    const rows = streams.map(([s, c]) => [
      s,
      formatCount(c.servingRows),
      formatCount(c.rawRows),
      formatCount(c.rawObjects.length),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const fmt = (r: string[]) => `  ${r.map((c, i) => pad(c, widths[i]!, i > 0)).join('  ')}`;
    lines.push(fmt(header), ...rows.map(fmt));
  };
  const residual = () => {
    lines.push('', 'Copies that expire on their own (see docs/operators/erasure.md):');
    for (const r of report.residual) lines.push(`  - ${r.where}: gone within ${r.goneWithin}`);
  };
  const previous = report.previous.map((p) => `${p.erasureId} (completed ${p.completedAt ?? 'unknown'})`).join(', ');
  switch (report.outcome) {
    case 'dry-run': {
      lines.push(`Dry run for ${who}: nothing was changed. An erasure would remove:`);
      table();
      const objects = streams.flatMap(([, c]) => c.rawObjects);
      if (objects.length > 0) {
        lines.push('', `Committed raw objects that would be rewritten without the player's rows (${objects.length}):`);
        for (const key of objects) lines.push(`  ${key}`);
      }
      if (previous) lines.push('', `Earlier erasures of this player: ${previous}.`);
      residual();
      break;
    }
    case 'already-erased':
      lines.push(
        `Nothing more to erase: ${who} was erased before (${previous}) and no row of it is left in the serving tables or the committed raw parts.`,
        'Nothing was changed or recorded.',
      );
      break;
    case 'nothing-found':
    case 'erased': {
      lines.push(
        report.outcome === 'erased'
          ? `Erased ${who}: erasure ${report.erasureId}${report.resumed ? ' (resumed)' : ''}.`
          : `No row of ${who} was found; the request is recorded as erasure ${report.erasureId} with nothing removed.`,
      );
      table();
      const objects = streams.reduce((n, [, c]) => n + c.rawObjects.length, 0);
      lines.push(
        '',
        `Raw zone: ${formatCount(objects)} committed part(s) rewritten without the player's rows; ${formatCount(report.versionsDeleted)} earlier object version(s) deleted.`,
        `Audit entry: sync-state item ERASURE#${report.pseudonym} / REQUEST#${report.erasureId} (no clear id).`,
      );
      residual();
      break;
    }
  }
  return `${lines.join('\n')}\n`;
}

function failure(e: unknown): CliError {
  if (e instanceof CliError) return e;
  if (e instanceof RawErasureError) {
    return new CliError(`erase: ${e.message}\nRun the same command again: it resumes the request.`, EXIT.problems, {
      cause: e,
    });
  }
  if (
    e instanceof AthenaQueryError ||
    e instanceof ErasureObjectError ||
    e instanceof SyncStateError ||
    e instanceof KeyServiceError
  ) {
    return new CliError(
      `erase: ${e.message}\nNothing is left half-done: run the same command again once this is fixed; it resumes the request.`,
      EXIT.aws,
      { cause: e },
    );
  }
  return new CliError(`erase: ${(e as Error).message ?? String(e)}`, EXIT.problems, { cause: e });
}

export const eraseCommand = defineCommand({
  name: 'erase',
  summary: "erase one player's rows from the lake (id on stdin), with an audit entry",
  help: HELP,
  options: OPTIONS,
  parse: parseErase,
  async run({ values, positionals, io, operator }) {
    if (positionals.length > 1) throw new UsageError(ARGV_REFUSED);
    if (values.player !== undefined && values.player !== '-') throw new UsageError(ARGV_REFUSED);
    if (values.local !== undefined && (values.bucket !== undefined || values.table !== undefined)) {
      throw new UsageError(
        'erase: --local reads the bucket and table of the local run; leave out --bucket and --table',
      );
    }
    const reference = values.reference;
    if (reference !== undefined && !/^[^\p{Cc}]{1,200}$/u.test(reference)) {
      throw new UsageError('erase: --reference takes 1 to 200 printable characters, e.g. --reference DPO-2026-0042');
    }
    const { config } = operator();
    const id = await readId(values, io);
    // A short id (a few digits) also occurs in innocent references: only longer ones are checked.
    const idText = id.trim().toLowerCase();
    if (idText.length >= 4 && reference?.toLowerCase().includes(idText)) {
      throw new UsageError(
        'erase: --reference contains the player id; the reference is stored with the audit entry and must not hold personal data',
      );
    }
    const target =
      values.local !== undefined ? await localTarget(config, values.local) : await awsTarget(config, values, io);
    try {
      const comparison = await keyFormOf(target.store, config, io).catch((e: unknown) => {
        throw failure(e);
      });
      const key = await readPseudonymKey({ keys: target.keys, store: target.store }).catch((e: unknown) => {
        throw failure(e);
      });
      if (!key) {
        const message = `No pseudonym key exists for ${config.operatorId} (${config.stage}): nothing has been landed, so there is nothing to erase.`;
        if (values.json)
          printJson(io, { operatorId: config.operatorId, stage: config.stage, outcome: 'nothing-landed' });
        else io.out(`${message}\n`);
        return EXIT.ok;
      }
      let pseudonym: string;
      try {
        pseudonym = playerPseudonym(key, id, comparison);
      } finally {
        key.fill(0);
      }
      io.err(
        `${values['dry-run'] ? 'counting' : 'erasing'} player ${pseudonym} of ${config.operatorId} (${config.stage}; keys compared ${describeKeyComparison(comparison)})…\n`,
      );
      let report: ErasureReport;
      try {
        report = await erasePlayer({
          config,
          database: target.database,
          engine: target.engine,
          sink: target.sink,
          objects: target.objects,
          audit: target.audit,
          locks: target.store.locks,
          pseudonym,
          keyComparison: comparison,
          dryRun: values['dry-run'] === true,
          ...(reference !== undefined ? { reference } : {}),
          onProgress: (message) => io.err(`${message}\n`),
          ...(target.onChanged ? { onChanged: target.onChanged } : {}),
        });
      } catch (e) {
        throw failure(e);
      }
      if ((report.outcome === 'erased' || report.outcome === 'nothing-found') && target.afterErase) {
        io.err('writing the exported Parquet of the local run again…\n');
        await target.afterErase();
      }
      if (values.json) printJson(io, report);
      else io.out(formatErasure(report));
      return EXIT.ok;
    } finally {
      await target.close();
    }
  },
});
