/**
 * An operator's lake as a local run keeps it in a directory, opened again by a later process
 * (`connector erase --local DIR`): the engines' state lives under `DIR/.connector/`.
 *
 * ```
 * DIR/.connector/
 *   operator.json          which operator and stage the directory belongs to (when present)
 *   s3/                    the local landing bucket (s3rver)
 *   sync-state/            the sync-state table (dynalite on LevelDB): pseudonym key, audit
 *   local-kms.key          the local master key (0600) that wraps the pseudonym key
 *   serving.duckdb         the serving tables (DuckDB, see athena.ts)
 *   athena-cache/          local copies of the landed parts the local engine reads
 * ```
 *
 * The names are those the local pipeline (`createLocalPipeline` with `dir: DIR/.connector`) uses,
 * so what a local run published is what the erasure reads.
 *
 * Opening starts s3rver and dynalite on that state, synthesizes the operator's stack for its Glue
 * catalog, and opens the local Athena engine on it. Nothing is created: a directory without a
 * landing bucket or sync-state table is refused, so a wrong path cannot look like an empty lake.
 *
 * A local run also exports the committed parts as plain Parquet under `DIR/<stream>/`
 * (local/landed.ts); after parts are rewritten, {@link LocalLake.refreshExport} replaces those
 * copies so no exported file keeps rows the lake no longer has.
 */
import { readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { LocalKeyService } from '#shared/adapters/kms-local';
import { isStreamName, type StreamName } from '#shared/canonical';
import type { OperatorConfig } from '#shared/config/schema';
import { parseAttemptKey } from '#shared/layout';
import { databaseStreams } from '#shared/pipeline/snapshot';
import { LocalAthena } from './athena.ts';
import { type DynaliteHandle, type S3rverHandle, startDynalite, startS3rver } from './engines.ts';
import { catalogTables } from './lake.ts';
import { exportCommittedParts, exportPath } from './landed.ts';
import { localNames, synthesizeOperatorStack } from './pipeline-runner.ts';
import { STATE_FOLDER } from './run-local.ts';

/** Where a local run keeps each engine's state, under `DIR/.connector/`. */
export function localStatePaths(dir: string): {
  readonly state: string;
  readonly operator: string;
  readonly s3: string;
  readonly syncState: string;
  readonly kmsKey: string;
  readonly servingDatabase: string;
  readonly athenaCache: string;
} {
  const state = join(resolve(dir), STATE_FOLDER);
  return {
    state,
    operator: join(state, 'operator.json'),
    s3: join(state, 's3'),
    syncState: join(state, 'sync-state'),
    kmsKey: join(state, 'local-kms.key'),
    servingDatabase: join(state, 'serving.duckdb'),
    athenaCache: join(state, 'athena-cache'),
  };
}

/** The directory holds no local lake of the operator; the message says what to do. */
export class LocalLakeError extends Error {
  override readonly name = 'LocalLakeError';
}

/** An operator's local lake, open. */
export interface LocalLake {
  readonly config: OperatorConfig;
  readonly dir: string;
  readonly s3: S3rverHandle;
  readonly dynamo: DynaliteHandle;
  readonly bucket: string;
  readonly table: string;
  /** The Glue database of the synthesized stack. */
  readonly database: string;
  readonly keys: LocalKeyService;
  readonly athena: LocalAthena;
  /**
   * After the objects under `keys` were rewritten: drops the local engine's cached copies and the
   * exported copies under `DIR/<stream>/` (a later {@link refreshExport} writes them again).
   */
  forget(keys: readonly string[]): Promise<void>;
  /** Makes the exported Parquet under `DIR/<stream>/` hold exactly the committed parts again. */
  refreshExport(): Promise<void>;
  /** Stops the engines; the directory keeps everything. */
  close(): Promise<void>;
}

/** Opens the local lake of `config` in `dir` (see the module documentation). */
export async function openLocalLake(config: OperatorConfig, dir: string): Promise<LocalLake> {
  const paths = localStatePaths(dir);
  const runFirst = `run \`connector run ${config.operatorId} --local --out ${dir}\` first`;
  if (!(await stat(paths.state).catch(() => undefined))?.isDirectory()) {
    throw new LocalLakeError(`${dir} holds no local run (no ${STATE_FOLDER}/ folder): ${runFirst}`);
  }
  const owner = await readFile(paths.operator, 'utf8').then(
    (text) => JSON.parse(text) as { operatorId?: string; stage?: string },
    () => undefined,
  );
  if (owner && (owner.operatorId !== config.operatorId || owner.stage !== config.stage)) {
    throw new LocalLakeError(
      `${dir} holds the local data of operator ${owner.operatorId} (${owner.stage}), not ${config.operatorId} (${config.stage})`,
    );
  }
  const names = localNames(config);
  const s3 = await startS3rver({ directory: paths.s3 });
  let dynamo: DynaliteHandle | undefined;
  let athena: LocalAthena | undefined;
  try {
    dynamo = await startDynalite({ path: paths.syncState }).catch((error: Error) => {
      throw new LocalLakeError(
        `the sync-state store in ${paths.syncState} cannot be opened (${error.message}); is another connector process using ${dir}?`,
        { cause: error },
      );
    });
    await s3.client.send(new HeadBucketCommand({ Bucket: names.bucket })).catch((error: unknown) => {
      throw new LocalLakeError(`${dir} holds no landing bucket of ${config.operatorId}: ${runFirst}`, { cause: error });
    });
    await dynamo.client.send(new DescribeTableCommand({ TableName: names.table })).catch((error: unknown) => {
      throw new LocalLakeError(`${dir} holds no sync-state table of ${config.operatorId}: ${runFirst}`, {
        cause: error,
      });
    });
    const synthesized = synthesizeOperatorStack(config, names);
    const tables = catalogTables(synthesized.template, synthesized.resolve);
    const database = synthesized.stack.dataCatalog.databaseName;
    athena = await LocalAthena.open({
      tables,
      s3: s3.client,
      databasePath: paths.servingDatabase,
      cacheDir: paths.athenaCache,
    }).catch((error: Error) => {
      throw new LocalLakeError(
        `the local serving tables ${paths.servingDatabase} cannot be opened (${error.message}); is another connector process using ${dir}?`,
        { cause: error },
      );
    });
    const opened = { dynamo, athena };
    const exported = databaseStreams(config).filter((st): st is StreamName => isStreamName(st));
    const root = resolve(dir);
    return {
      config,
      dir,
      s3,
      dynamo,
      bucket: names.bucket,
      table: names.table,
      database,
      keys: new LocalKeyService({ keyFile: paths.kmsKey, operatorId: config.operatorId }),
      athena,
      async forget(keys) {
        await opened.athena.forget(keys.map((key) => ({ bucket: names.bucket, key })));
        // The export keeps a file whose size matches its manifest: drop the rewritten ones first.
        for (const key of keys) {
          const part = parseAttemptKey(key);
          const dt = /\/dt=(\d{4}-\d{2}-\d{2})\//.exec(key)?.[1];
          if (!part || !dt || !isStreamName(part.stream)) continue;
          await rm(exportPath(root, { stream: part.stream, key, dt, runId: part.runId, windowId: part.windowId }), {
            force: true,
          });
        }
      },
      async refreshExport() {
        if (exported.length > 0) await exportCommittedParts(s3.client, synthesized, exported, root);
      },
      async close() {
        opened.athena.close();
        await Promise.allSettled([s3.stop(), opened.dynamo.stop()]);
      },
    };
  } catch (error) {
    athena?.close();
    await Promise.allSettled([s3.stop(), dynamo?.stop()]);
    throw error;
  }
}
