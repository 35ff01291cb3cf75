/**
 * Runs an operator's snapshot and incremental pipelines on a laptop, as deployed: the operator
 * stack is synthesized in-process (without bundling), the two state machine definitions are
 * resolved from its template and executed with aws-local-stepfunctions, and every Lambda task runs
 * the real handler module in-process with the environment the stack gives the function, pointed
 * at the local engines (s3rver, dynalite, a PostgreSQL or MySQL source, local KMS and secrets).
 *
 * ```ts
 * const engines = await startLocalEngines();
 * const pipeline = await createLocalPipeline({ config, engines });
 * const snapshot = await pipeline.runSnapshot();        // {} : a new full snapshot
 * const incremental = await pipeline.runIncremental();
 * await pipeline.close();
 * ```
 *
 * The handlers build their runtime from `process.env` once, when their module is first imported,
 * so one process runs one pipeline (one operator config, bucket and table); a second
 * {@link createLocalPipeline} with other settings in the same process is refused.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { useLocalQueryEngine } from '#shared/adapters/athena';
import { formatIssues, parseOperatorConfig } from '#shared/config/load';
import type { OperatorConfig } from '#shared/config/schema';
import type {
  BeginIncrementalResult,
  EndIncrementalResult,
  ExtractResult,
  FinalizeSnapshotResult,
  IncrementalSyncResult,
  KeyAuditResult,
  PlanSnapshotResult,
  SnapshotRequest,
} from '#shared/contracts/steps';
import { SyncStateStore } from '#shared/state/store';
import { KEY_AUDIT_STATES } from '../lib/constructs/key-audit.ts';
import { PROJECT_ROOT } from '../lib/constructs/lambda-bundle.ts';
import { INCREMENTAL_STATES, SNAPSHOT_STATES } from '../lib/constructs/pipeline/index.ts';
import { OperatorConnectorStack, operatorStackName } from '../lib/stacks/operator-connector-stack.ts';
import { LocalAthena } from './athena.ts';
import type { LocalEngines } from './engines.ts';
import { catalogTables } from './lake.ts';
import {
  type CfnTemplate,
  type ExecutionEvent,
  findLambdaFunctions,
  IntegrationError,
  type LambdaFunctionInfo,
  type LambdaHandler,
  type LambdaHandlerConfig,
  type ResolveOptions,
  type RunStateMachineOptions,
  resolveDefinition,
  runStateMachine,
  type StateMachineRunResult,
} from './sfn-harness.ts';

/** The functions of an operator's pipelines. */
export const PIPELINE_FUNCTIONS = [
  'planSnapshot',
  'extractWindow',
  'finalizeSnapshot',
  'runLock',
  'incrementalSync',
  'publish',
] as const;
export type PipelineFunction = (typeof PIPELINE_FUNCTIONS)[number];

/** The handler module of each function. */
const HANDLER_MODULES: Record<PipelineFunction, () => Promise<{ handler: unknown }>> = {
  planSnapshot: () => import('../lambdas/plan-snapshot/handler.ts'),
  extractWindow: () => import('../lambdas/extract-window/handler.ts'),
  finalizeSnapshot: () => import('../lambdas/finalize-snapshot/handler.ts'),
  runLock: () => import('../lambdas/run-lock/handler.ts'),
  incrementalSync: () => import('../lambdas/incremental-sync/handler.ts'),
  publish: () => import('../lambdas/publish/handler.ts'),
};

/** Region and account the local ARNs carry when the config gives none. */
const LOCAL_REGION = 'eu-west-1';
const LOCAL_ACCOUNT = '111111111111';
/** Snapshot executions one `runSnapshot` chains at most (each runs up to 1,000 windows). */
const MAX_CHAINED_EXECUTIONS = 100;

/** The local pipeline cannot be set up or run as asked. */
export class LocalPipelineError extends Error {
  override readonly name = 'LocalPipelineError';
}

export interface LocalPipelineOptions {
  /** The operator config: validated here as `cdk synth` validates it (a database source is required). */
  readonly config: OperatorConfig | Record<string, unknown>;
  /** The engines to run against; the landing bucket and the sync-state table are created in them. */
  readonly engines: Pick<LocalEngines, 's3' | 'dynamo'> & { readonly source: { readonly url: string } };
  /**
   * Directory for the config file and the local master key.
   * @default a new temp directory, removed by `close()`
   */
  readonly dir?: string;
  /**
   * Environment variables set after the stack's and the local ones, e.g. `CONNECTOR_TIME_RESERVE_MS`
   * or `CONNECTOR_MAX_WINDOWS_PER_EXECUTION`.
   * @default none
   */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Silence the handlers' logs, metrics and traces (Powertools writes them to stdout).
   * @default true
   */
  readonly quiet?: boolean;
  /**
   * Pause this long between retries instead of the definition's backoff (see `runStateMachine`).
   * @default false: the intervals of the definition
   */
  readonly shortenWaits?: RunStateMachineOptions['shortenWaits'];
  /**
   * DuckDB file holding the serving tables (the local engine of the Athena statements).
   * @default `serving.duckdb` in `dir`
   */
  readonly servingDatabasePath?: string;
}

/** Replaces one function's handler for one execution: receives the real one. */
export type HandlerWrapper = (real: LambdaHandler) => LambdaHandler;

/** Options of one execution. */
export interface ExecutionOptions {
  /**
   * `$$.Execution.Name` (the snapshot id and the incremental lock owner derive from it).
   * @default a random UUID
   */
  readonly executionName?: string;
  /** Aborts the execution (status `ABORTED`), as StopExecution does. */
  readonly signal?: AbortSignal;
  /** Handlers to wrap for this execution (fault injection, observation). */
  readonly wrap?: Partial<Record<PipelineFunction, HandlerWrapper>>;
  /**
   * Called before each Athena statement of this execution (and of the publishes it starts); an
   * error it returns fails the statement as a failed query would (fault injection).
   */
  readonly athenaFault?: (sql: string) => Error | undefined;
  /** Called with every event of the execution log. */
  readonly onStateEvent?: (event: ExecutionEvent) => void;
  /** @default the pipeline's `shortenWaits` */
  readonly shortenWaits?: RunStateMachineOptions['shortenWaits'];
}

/** Where a snapshot stands, reported as windows finish. */
export interface SnapshotProgress {
  readonly snapshotId: string;
  /** Windows of the snapshot. */
  readonly total: number;
  /** Windows done (including those done by earlier executions of the snapshot). */
  readonly done: number;
  /** Windows that failed in this run. */
  readonly failed: number;
}

export interface SnapshotOptions extends ExecutionOptions {
  /** Called when the plan is known and after every window. */
  readonly onProgress?: (progress: SnapshotProgress) => void;
}

/** The outcome of a snapshot: its executions (chained with `Start next execution`) and the last one's result. */
export interface SnapshotRun {
  /** Status of the last execution. */
  readonly status: StateMachineRunResult['status'];
  /** The snapshot the executions worked on (undefined when planning failed). */
  readonly snapshotId?: string;
  /** `Finalize snapshot`'s result when the last execution got that far. */
  readonly finalize?: FinalizeSnapshotResult;
  readonly error?: string;
  readonly cause?: string;
  readonly executions: readonly StateMachineRunResult[];
  /** Every result extract-window returned, in order of completion. */
  readonly windows: readonly ExtractResult[];
}

/** The outcome of an incremental execution. */
export interface IncrementalRun {
  readonly status: StateMachineRunResult['status'];
  /** `Begin incremental run`'s result (acquired, waiting or locked). */
  readonly begin?: BeginIncrementalResult;
  /** `Release lock`'s result when the run took the lock. */
  readonly end?: EndIncrementalResult;
  /** The execution output: `{ skipped, … }` for a skipped run, the end result otherwise. */
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
  /** Every result incremental-sync returned (a stream that continued appears once per invocation). */
  readonly streams: readonly IncrementalSyncResult[];
  readonly execution: StateMachineRunResult;
}

/** The resolved pieces of the synthesized stack the pipeline runs. */
export interface SynthesizedPipeline {
  readonly template: CfnTemplate;
  /** How the template's intrinsics resolve locally (region, account, the bucket's and table's local names). */
  readonly resolve: ResolveOptions;
  readonly definitions: {
    readonly snapshot: Record<string, unknown>;
    readonly incremental: Record<string, unknown>;
    readonly publish: Record<string, unknown>;
  };
  /** State machine names (`<operator>-<stage>-snapshot` / `-incremental` / `-publish`). */
  readonly stateMachineNames: { readonly snapshot: string; readonly incremental: string; readonly publish: string };
  /** The functions, resolved (logical id, timeout, memory, environment). */
  readonly functions: Readonly<Record<PipelineFunction, LambdaFunctionInfo>>;
  /** The key-audit state machine and function, when a stream of the operator is audited. */
  readonly keyAudit?: {
    readonly definition: Record<string, unknown>;
    readonly stateMachineName: string;
    readonly function: LambdaFunctionInfo;
  };
}

/** The outcome of a key-audit execution. */
export interface KeyAuditRun {
  readonly status: StateMachineRunResult['status'];
  /** What the key-audit function returned (a report of counts, or `skipped`). */
  readonly result?: KeyAuditResult;
  readonly error?: string;
  readonly cause?: string;
  readonly execution: StateMachineRunResult;
}

/** The outcome of a publish execution (started by a snapshot or incremental execution, or by `runPublish`). */
export interface PublishRun {
  readonly status: StateMachineRunResult['status'];
  readonly error?: string;
  readonly cause?: string;
  /** The statements the execution sent to the local Athena engine. */
  readonly statements: readonly string[];
  readonly execution: StateMachineRunResult;
}

/** A pipeline ready to run. */
export interface LocalPipeline {
  readonly config: OperatorConfig;
  /** The landing bucket in s3rver. */
  readonly bucket: string;
  /** The sync-state table in dynalite. */
  readonly tableName: string;
  readonly store: SyncStateStore;
  readonly synthesized: SynthesizedPipeline;
  /** The real handlers (middy-wrapped, as Lambda runs them). */
  readonly handlers: Readonly<Record<PipelineFunction, LambdaHandler>>;
  /** Where the config file and the local master key are. */
  readonly dir: string;
  /** The environment the handlers were loaded with (no secret values). */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * Runs the snapshot state machine: `{}` a new full snapshot, `{ snapshotId }` a resume,
   * `{ from, to, streams }` a replay. When the snapshot continues in a new execution, that
   * execution is run too, until the snapshot completes or fails.
   */
  runSnapshot(input?: SnapshotRequest, options?: SnapshotOptions): Promise<SnapshotRun>;
  /** Runs the incremental state machine once. */
  runIncremental(options?: ExecutionOptions): Promise<IncrementalRun>;
  /** Runs the publish state machine once (snapshot and incremental executions start it themselves). */
  runPublish(options?: ExecutionOptions): Promise<PublishRun>;
  /**
   * Runs the key-audit state machine for one stream (what its schedule starts): the audit, then the
   * publish of what it landed. The function queries the serving tables on {@link athena}.
   */
  runKeyAudit(stream: string, options?: ExecutionOptions): Promise<KeyAuditRun>;
  /** The local engine of the Athena statements, holding the serving tables. */
  readonly athena: LocalAthena;
  /** Every publish execution so far, in order. */
  readonly publishes: readonly PublishRun[];
  /** Closes the serving database and removes the temp directory it created (the engines are the caller's). */
  close(): Promise<void>;
}

const logicalIdOf = (c: IConstruct): string => Stack.of(c).getLogicalId((c.node.defaultChild ?? c) as CfnElement);

function validated(config: OperatorConfig | Record<string, unknown>): OperatorConfig {
  const label = `config of ${String((config as { operatorId?: unknown }).operatorId ?? 'the operator')}`;
  const result = parseOperatorConfig(JSON.stringify(config), label);
  if (!result.config) throw new LocalPipelineError(`the operator config is invalid:\n${formatIssues(result.issues)}`);
  if (result.config.source.type === 'files') {
    throw new LocalPipelineError(
      `operator ${result.config.operatorId} lands dropped files: it has no snapshot or incremental pipeline to run`,
    );
  }
  return result.config;
}

/** The feature flags of cdk.json, as `cdk synth` applies them. */
function cdkContext(): Record<string, unknown> {
  const file = join(PROJECT_ROOT, 'cdk.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { context?: Record<string, unknown> }).context ?? {};
}

/** Local names of the landing bucket and the sync-state table (valid S3 and DynamoDB names). */
export function localNames(config: OperatorConfig): { bucket: string; table: string } {
  const base = `${config.operatorId}-${config.stage}`.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  return { bucket: `${base}-landing`.slice(0, 63), table: `${base}-sync-state` };
}

/** A synthesized operator stack, with the local names of its bucket and table. */
export interface SynthesizedStack {
  readonly stack: OperatorConnectorStack;
  readonly template: CfnTemplate;
  /** How the template's intrinsics resolve locally (region, account, the bucket's and table's local names). */
  readonly resolve: ResolveOptions;
}

/**
 * Synthesizes any operator's stack in-process (no Lambda bundling), as `cdk synth` does, with the
 * landing bucket and the sync-state table given local names.
 */
export function synthesizeOperatorStack(
  config: OperatorConfig,
  names: { readonly bucket: string; readonly table: string } = localNames(config),
): SynthesizedStack {
  const app = new App({ context: { ...cdkContext(), 'aws:cdk:bundling-stacks': [] } });
  const stack = new OperatorConnectorStack(app, operatorStackName(config), { config });
  const template = app.synth().getStackArtifact(stack.artifactId).template as CfnTemplate;
  const resolve: ResolveOptions = {
    region: config.region ?? LOCAL_REGION,
    account: config.account ?? LOCAL_ACCOUNT,
    stackName: stack.stackName,
    overrides: {
      [logicalIdOf(stack.landingZone.bucket)]: names.bucket,
      [logicalIdOf(stack.syncState.table)]: names.table,
    },
  };
  return { stack, template, resolve };
}

/**
 * Synthesizes the operator stack in-process (no Lambda bundling) and resolves the two state
 * machine definitions and the five functions, with the bucket and table given local names.
 */
export function synthesizePipeline(
  config: OperatorConfig,
  names: { readonly bucket: string; readonly table: string } = localNames(config),
): SynthesizedPipeline {
  const { stack, template, resolve } = synthesizeOperatorStack(config, names);
  const { pipeline, extractors } = stack;
  if (!pipeline || !extractors) {
    throw new LocalPipelineError(`operator ${config.operatorId}: the stack has no snapshot or incremental pipeline`);
  }
  const ids: Record<PipelineFunction, string> = {
    planSnapshot: logicalIdOf(pipeline.planSnapshot.function),
    extractWindow: logicalIdOf(extractors.extractWindow.function),
    finalizeSnapshot: logicalIdOf(pipeline.finalizeSnapshot.function),
    runLock: logicalIdOf(pipeline.runLock.function),
    incrementalSync: logicalIdOf(extractors.incrementalSync.function),
    publish: logicalIdOf(stack.serving.publishFunction.function),
  };
  const all = new Map(findLambdaFunctions(template, resolve).map((f) => [f.logicalId, f]));
  const audit = stack.keyAudit;
  const auditFunction = audit ? all.get(logicalIdOf(audit.function.function)) : undefined;
  if (audit && !auditFunction) throw new LocalPipelineError('the template has no key-audit function');
  const functions = Object.fromEntries(
    PIPELINE_FUNCTIONS.map((name) => {
      const info = all.get(ids[name]);
      if (!info) throw new LocalPipelineError(`the template has no function ${ids[name]} (${name})`);
      return [name, info];
    }),
  ) as Record<PipelineFunction, LambdaFunctionInfo>;
  return {
    template,
    resolve,
    definitions: {
      snapshot: resolveDefinition(template, logicalIdOf(pipeline.snapshotStateMachine), resolve),
      incremental: resolveDefinition(template, logicalIdOf(pipeline.incrementalStateMachine), resolve),
      publish: resolveDefinition(template, logicalIdOf(stack.serving.publishStateMachine), resolve),
    },
    stateMachineNames: {
      snapshot: `${operatorStackName(config)}-snapshot`,
      incremental: `${operatorStackName(config)}-incremental`,
      publish: `${operatorStackName(config)}-publish`,
    },
    functions,
    ...(audit && auditFunction
      ? {
          keyAudit: {
            definition: resolveDefinition(template, logicalIdOf(audit.stateMachine), resolve),
            stateMachineName: `${operatorStackName(config)}-key-audit`,
            function: auditFunction,
          },
        }
      : {}),
  };
}

/** One environment for every handler: the union of the functions' variables, which must agree. */
function mergedEnvironment(
  functions: Readonly<Record<PipelineFunction, LambdaFunctionInfo>>,
  extra: readonly LambdaFunctionInfo[] = [],
): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const info of [...PIPELINE_FUNCTIONS.map((name) => functions[name]), ...extra]) {
    for (const [key, value] of Object.entries(info.environment)) {
      if (key in merged && merged[key] !== value) {
        throw new LocalPipelineError(
          `the functions disagree on ${key}; the handlers share one process environment locally`,
        );
      }
      merged[key] = value;
    }
  }
  return merged;
}

/** The source URL the local secret source answers with: the engine's URL, on the config's database. */
function sourceUrlFor(config: OperatorConfig, url: string): string {
  const u = new URL(url);
  if (config.source.type !== 'files') u.pathname = `/${encodeURIComponent(config.source.database)}`;
  return u.toString();
}

let loaded: { signature: string; handlers: Record<PipelineFunction, LambdaHandler> } | undefined;

/** Refuses a second pipeline with other settings in this process (see the module documentation). */
function checkSignature(signature: string): void {
  if (loaded && loaded.signature !== signature) {
    throw new LocalPipelineError(
      'the handlers of this process were already loaded for another pipeline (they read their environment once, at import); run each pipeline in its own process',
    );
  }
}

async function loadHandlers(signature: string): Promise<Record<PipelineFunction, LambdaHandler>> {
  checkSignature(signature);
  if (loaded) return loaded.handlers;
  const handlers = {} as Record<PipelineFunction, LambdaHandler>;
  for (const name of PIPELINE_FUNCTIONS) {
    handlers[name] = (await HANDLER_MODULES[name]()).handler as LambdaHandler;
  }
  loaded = { signature, handlers };
  return handlers;
}

function hasStatus<T extends { readonly status: string }>(value: unknown): value is T {
  return typeof value === 'object' && value !== null && typeof (value as { status?: unknown }).status === 'string';
}

/**
 * Synthesizes the operator's stack, creates its bucket and table in the local engines, sets the
 * handlers' environment (the stack's, with local overrides) and loads the handlers.
 */
export async function createLocalPipeline(options: LocalPipelineOptions): Promise<LocalPipeline> {
  const config = validated(options.config);
  const names = localNames(config);
  const synthesized = synthesizePipeline(config, names);
  const { engines } = options;
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), `connector-${config.operatorId}-`)));

  const bucketExists = await engines.s3.listKeys(names.bucket).then(
    () => true,
    () => false,
  );
  if (!bucketExists) await engines.s3.createBucket(names.bucket);
  await engines.dynamo.createSyncStateTable(names.table).catch((error: { name?: string }) => {
    if (error.name !== 'ResourceInUseException') throw error;
  });

  const configPath = join(dir, 'operator-config.json');
  await writeFile(configPath, `${JSON.stringify(config)}\n`);
  const quiet = options.quiet ?? true;
  const environment: Record<string, string> = {
    ...mergedEnvironment(synthesized.functions, synthesized.keyAudit ? [synthesized.keyAudit.function] : []),
    CONNECTOR_CONFIG_PATH: configPath,
    CONNECTOR_ADAPTERS: 'local',
    CONNECTOR_LOCAL_KMS_KEY_FILE: join(dir, 'local-kms.key'),
    AWS_ENDPOINT_URL_S3: engines.s3.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: engines.dynamo.endpoint,
    AWS_REGION: config.region ?? LOCAL_REGION,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    ...(quiet
      ? { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true', POWERTOOLS_TRACE_ENABLED: 'false' }
      : { POWERTOOLS_TRACE_ENABLED: 'false' }),
    ...options.env,
  };
  const signature = JSON.stringify({ environment, source: engines.source.url });
  checkSignature(signature);
  // The source URL may hold a password: it is set, but not reported in `environment`.
  Object.assign(process.env, environment, { CONNECTOR_SOURCE_URL: sourceUrlFor(config, engines.source.url) });
  const handlers = await loadHandlers(signature);
  const store = new SyncStateStore(engines.dynamo.doc, names.table);

  const region = config.region ?? LOCAL_REGION;
  const account = config.account ?? LOCAL_ACCOUNT;
  const fn = synthesized.functions;

  function lambdaHandlers(
    wrap: ExecutionOptions['wrap'],
    observe: Partial<Record<PipelineFunction, (result: unknown) => void>>,
  ): Record<string, LambdaHandlerConfig> {
    const out: Record<string, LambdaHandlerConfig> = {};
    for (const name of PIPELINE_FUNCTIONS) {
      const real = handlers[name];
      const chosen = wrap?.[name] ? wrap[name](real) : real;
      const seen = observe[name];
      const handler: LambdaHandler = seen
        ? async (event, context) => {
            const result = await chosen(event, context);
            seen(result);
            return result;
          }
        : chosen;
      out[fn[name].logicalId] = { handler, timeoutSeconds: fn[name].timeoutSeconds, memoryMb: fn[name].memoryMb };
    }
    return out;
  }

  const athena = await LocalAthena.open({
    tables: catalogTables(synthesized.template, synthesized.resolve),
    s3: engines.s3.client,
    databasePath: options.servingDatabasePath ?? join(dir, 'serving.duckdb'),
    cacheDir: join(dir, 'athena-cache'),
  });
  const publishes: PublishRun[] = [];
  // Statements the functions send themselves (the wallet ledger audit) run on the same engine.
  useLocalQueryEngine(athena);

  /** The Athena integration (`startQueryExecution.sync`), on the local engine. */
  const athenaHandler =
    (statements: string[], fault: ExecutionOptions['athenaFault']) => async (parameters: unknown) => {
      const p = parameters as { QueryString: string; WorkGroup?: string };
      statements.push(p.QueryString);
      const id = randomUUID();
      try {
        const injected = fault?.(p.QueryString);
        if (injected) throw injected;
        const result = await athena.execute(p.QueryString);
        return {
          QueryExecution: {
            QueryExecutionId: id,
            Query: p.QueryString,
            WorkGroup: p.WorkGroup,
            Status: { State: 'SUCCEEDED' },
            Statistics: { DataScannedInBytes: result.scannedBytes },
          },
        };
      } catch (error) {
        const cause = JSON.stringify({
          QueryExecution: {
            QueryExecutionId: id,
            Status: { State: 'FAILED', StateChangeReason: (error as Error).message },
          },
        });
        throw new IntegrationError('States.TaskFailed', cause);
      }
    };

  async function runPublish(opts: ExecutionOptions = {}): Promise<PublishRun> {
    const statements: string[] = [];
    const execution = await runStateMachine({
      ...common(opts),
      definition: synthesized.definitions.publish,
      stateMachineName: synthesized.stateMachineNames.publish,
      ...(opts.executionName ? { executionName: opts.executionName } : {}),
      lambdaHandlers: lambdaHandlers(opts.wrap, {}),
      serviceHandlers: { 'athena:startQueryExecution.sync': athenaHandler(statements, opts.athenaFault) },
      onStateEvent: (event) => opts.onStateEvent?.(event),
    });
    const run: PublishRun = {
      status: execution.status,
      ...(execution.error !== undefined ? { error: execution.error } : {}),
      ...(execution.cause !== undefined ? { cause: execution.cause } : {}),
      statements,
      execution,
    };
    publishes.push(run);
    return run;
  }

  /** The nested publish execution (`startExecution.sync:2`) the snapshot and incremental executions start. */
  const nestedPublish = (opts: ExecutionOptions) => async () => {
    const run = await runPublish({
      ...(opts.wrap ? { wrap: opts.wrap } : {}),
      ...(opts.athenaFault ? { athenaFault: opts.athenaFault } : {}),
      ...(opts.shortenWaits !== undefined ? { shortenWaits: opts.shortenWaits } : {}),
    });
    const arn = run.execution.executionArn;
    if (run.status !== 'SUCCEEDED') {
      throw new IntegrationError(
        'States.TaskFailed',
        JSON.stringify({ ExecutionArn: arn, Status: run.status, Error: run.error, Cause: run.cause }),
      );
    }
    return { ExecutionArn: arn, Status: 'SUCCEEDED', Output: JSON.stringify(run.execution.output ?? {}) };
  };

  const common = (opts: ExecutionOptions) => ({
    region,
    account,
    shortenWaits: opts.shortenWaits ?? options.shortenWaits ?? false,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });

  async function runSnapshot(input: SnapshotRequest = {}, opts: SnapshotOptions = {}): Promise<SnapshotRun> {
    const executions: StateMachineRunResult[] = [];
    const windows: ExtractResult[] = [];
    let snapshotId: string | undefined;
    let total = 0;
    let done = 0;
    let failed = 0;
    let finalize: FinalizeSnapshotResult | undefined;
    const report = () => {
      if (snapshotId) opts.onProgress?.({ snapshotId, total, done, failed });
    };
    const started: { Name: string; Input: unknown }[] = [];
    let request: unknown = input;
    let executionName = opts.executionName;
    for (let round = 0; round < MAX_CHAINED_EXECUTIONS; round++) {
      const before = started.length;
      const run = await runStateMachine({
        ...common(opts),
        definition: synthesized.definitions.snapshot,
        input: request,
        stateMachineName: synthesized.stateMachineNames.snapshot,
        ...(executionName ? { executionName } : {}),
        lambdaHandlers: lambdaHandlers(opts.wrap, {
          planSnapshot: (result) => {
            const plan = result as PlanSnapshotResult;
            snapshotId = plan.snapshotId;
            total = plan.total;
            done = plan.done;
            report();
          },
          finalizeSnapshot: (result) => {
            finalize = result as FinalizeSnapshotResult;
          },
          extractWindow: (result) => {
            const r = result as ExtractResult;
            if (r.status !== 'complete') return;
            windows.push(r);
            done++;
            report();
          },
        }),
        serviceHandlers: {
          'states:startExecution.sync:2': nestedPublish(opts),
          'states:startExecution': (parameters) => {
            const p = parameters as { Name: string; Input: unknown };
            started.push(p);
            return {
              ExecutionArn: `arn:aws:states:${region}:${account}:execution:next:${p.Name}`,
              StartDate: Date.now(),
            };
          },
        },
        onStateEvent: (event) => {
          if (event.type === 'StateEntered' && event.state.name === SNAPSHOT_STATES.windowFailed) {
            failed++;
            report();
          }
          opts.onStateEvent?.(event);
        },
      });
      executions.push(run);
      if (run.status !== 'SUCCEEDED' || started.length === before) break;
      const next = started.at(-1)!;
      request = next.Input;
      executionName = next.Name;
    }
    const last = executions.at(-1)!;
    return {
      status: last.status,
      ...(snapshotId ? { snapshotId } : {}),
      ...(finalize ? { finalize } : {}),
      ...(last.error !== undefined ? { error: last.error } : {}),
      ...(last.cause !== undefined ? { cause: last.cause } : {}),
      executions,
      windows,
    };
  }

  async function runIncremental(opts: ExecutionOptions = {}): Promise<IncrementalRun> {
    const streams: IncrementalSyncResult[] = [];
    let begin: BeginIncrementalResult | undefined;
    let end: EndIncrementalResult | undefined;
    const execution = await runStateMachine({
      ...common(opts),
      definition: synthesized.definitions.incremental,
      stateMachineName: synthesized.stateMachineNames.incremental,
      ...(opts.executionName ? { executionName: opts.executionName } : {}),
      lambdaHandlers: lambdaHandlers(opts.wrap, {
        runLock: (result) => {
          if (hasStatus<BeginIncrementalResult>(result)) begin = result;
          else end = result as EndIncrementalResult;
        },
        incrementalSync: (result) => streams.push(result as IncrementalSyncResult),
      }),
      serviceHandlers: { 'states:startExecution.sync:2': nestedPublish(opts) },
      onStateEvent: (event) => opts.onStateEvent?.(event),
    });
    return {
      status: execution.status,
      ...(begin ? { begin } : {}),
      ...(end ? { end } : {}),
      ...(execution.output !== undefined ? { output: execution.output } : {}),
      ...(execution.error !== undefined ? { error: execution.error } : {}),
      ...(execution.cause !== undefined ? { cause: execution.cause } : {}),
      streams,
      execution,
    };
  }

  async function runKeyAudit(stream: string, opts: ExecutionOptions = {}): Promise<KeyAuditRun> {
    const audit = synthesized.keyAudit;
    if (!audit) {
      throw new LocalPipelineError(
        `operator ${config.operatorId} audits no stream (streams.<stream>.keyAudit); nothing to run for ${stream}`,
      );
    }
    const real = (await import('../lambdas/key-audit/handler.ts')).handler as unknown as LambdaHandler;
    let result: KeyAuditResult | undefined;
    // The function queries the serving tables itself: locally, on the DuckDB engine.
    useLocalQueryEngine(athena);
    try {
      const execution = await runStateMachine({
        ...common(opts),
        definition: audit.definition,
        input: { stream },
        stateMachineName: audit.stateMachineName,
        ...(opts.executionName ? { executionName: opts.executionName } : {}),
        lambdaHandlers: {
          [audit.function.logicalId]: {
            handler: async (event, context) => {
              const out = (await real(event, context)) as KeyAuditResult;
              result = out;
              return out;
            },
            timeoutSeconds: audit.function.timeoutSeconds,
            memoryMb: audit.function.memoryMb,
          },
        },
        serviceHandlers: { 'states:startExecution.sync:2': nestedPublish(opts) },
        onStateEvent: (event) => opts.onStateEvent?.(event),
      });
      return {
        status: execution.status,
        ...(result ? { result } : {}),
        ...(execution.error !== undefined ? { error: execution.error } : {}),
        ...(execution.cause !== undefined ? { cause: execution.cause } : {}),
        execution,
      };
    } finally {
      useLocalQueryEngine(undefined);
    }
  }

  return {
    config,
    bucket: names.bucket,
    tableName: names.table,
    store,
    synthesized,
    handlers,
    dir,
    environment,
    runSnapshot,
    runIncremental,
    runPublish,
    runKeyAudit,
    athena,
    publishes,
    async close() {
      useLocalQueryEngine(undefined);
      athena.close();
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export { INCREMENTAL_STATES, KEY_AUDIT_STATES, SNAPSHOT_STATES };
