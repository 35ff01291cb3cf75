/**
 * The one runtime every handler builds at module scope (`const rt = createRuntime()`).
 *
 * The environment and the operator config are read and checked when it is created, so a function
 * the stack wired wrongly fails at cold start with a message naming the variable or the file.
 * Everything else is built on first use and kept for the execution environment: a function that
 * never reads the source secret or unwraps the pseudonym key never creates a Secrets Manager or
 * KMS client, one that never lands an object never creates an S3 client.
 *
 * Variable names come from contracts/environment.ts. Extraction on top of it (opening the source,
 * the pseudonym key and sink of an invocation) is in extractor.ts, so functions that never open
 * the operator database do not load a driver.
 */
import { type Adapters, createAdapters } from '../adapters/index.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { ENV, type EnvName } from '../contracts/environment.ts';
import { S3Sink } from '../sink/s3.ts';
import { PublicationLedger } from '../state/publications.ts';
import { SchemaLedger } from '../state/schemas.ts';
import { SyncStateStore } from '../state/store.ts';
import type { WriteContext } from '../write-context.ts';
import { type AwsClients, createAwsClients, loadRuntimeConfig, type RuntimeEnv, readRuntimeEnv } from './context.ts';
import { createObservability, type Observability } from './observability.ts';

/** Milliseconds kept back from the Lambda budget when `CONNECTOR_TIME_RESERVE_MS` is not set. */
export const DEFAULT_TIME_RESERVE_MS = 90_000;

export interface Runtime {
  /** The variables the stack sets, checked at creation. */
  readonly env: RuntimeEnv;
  /** The operator config bundled beside the code, validated at creation (defaults applied). */
  readonly config: OperatorConfig;
  /** S3 and DynamoDB clients, each created on first use. */
  readonly clients: AwsClients;
  /** Key service and secret source (`CONNECTOR_ADAPTERS`), created on first use. */
  readonly adapters: Adapters;
  /** The sync-state table: watermarks, snapshots and windows, locks, audits. */
  readonly store: SyncStateStore;
  /** The publication backlog: every window is registered just before it commits. */
  readonly publications: PublicationLedger;
  /** Each stream's source-schema fingerprint and last drift. */
  readonly schemas: SchemaLedger;
  /** Powertools Logger, Metrics and Tracer with the operator's keys and dimension. */
  readonly obs: Observability;
  /** Milliseconds kept back from the Lambda budget to close, reconcile and commit. */
  readonly reserveMs: number;
  /** A variable of contracts/environment.ts as the process has it: trimmed, undefined when empty. */
  variable(name: EnvName): string | undefined;
  /** A sink into the landing bucket, every object encrypted with the operator key. */
  sink(context?: Omit<WriteContext, 'operatorId'>): S3Sink;
}

/** A getter that builds its value once, on first use. */
function lazy<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => {
    built ??= { value: build() };
    return built.value;
  };
}

/** Builds the runtime of a function; call once per execution environment (module scope). */
export function createRuntime(processEnv: NodeJS.ProcessEnv = process.env): Runtime {
  const env = readRuntimeEnv(processEnv);
  const config = loadRuntimeConfig(processEnv);
  const reserve = Number(processEnv[ENV.timeReserveMs] ?? String(DEFAULT_TIME_RESERVE_MS));
  const clients = createAwsClients(processEnv);
  const adapters = lazy(() => createAdapters(processEnv, { operatorId: env.operatorId }));
  // One getter per part of the sync-state table.
  const store = lazy(() => new SyncStateStore(clients.doc, env.stateTable));
  const publications = lazy(() => new PublicationLedger(clients.doc, env.stateTable));
  const schemas = lazy(() => new SchemaLedger(clients.doc, env.stateTable));
  const obs = lazy(() => createObservability(`${env.operatorId}-${env.stage}`));
  return {
    env,
    config,
    clients,
    reserveMs: Number.isFinite(reserve) && reserve >= 0 ? reserve : DEFAULT_TIME_RESERVE_MS,
    get adapters() {
      return adapters();
    },
    get store() {
      return store();
    },
    get publications() {
      return publications();
    },
    get schemas() {
      return schemas();
    },
    get obs() {
      return obs();
    },
    variable: (name) => processEnv[name]?.trim() || undefined,
    sink: (context = {}) =>
      new S3Sink({
        client: clients.s3,
        bucket: env.bucket,
        kmsKeyArn: env.kmsKeyArn,
        context: { operatorId: config.operatorId, ...context },
      }),
  };
}
