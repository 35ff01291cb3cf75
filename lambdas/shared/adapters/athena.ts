/**
 * The SQL seam: statements the connector sends to Athena (engine v3, Trino) in the operator's
 * workgroup and Glue database. {@link AwsAthena} runs them on Athena; on a laptop and in tests
 * `LocalAthena` (local/athena.ts) runs the same statements on DuckDB over the operator's local
 * catalog. Callers depend on {@link QueryEngine} only.
 */
import { randomUUID } from 'node:crypto';
import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  type GetQueryResultsCommandOutput,
  type QueryExecution,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { ENV } from '../contracts/environment.ts';

/** What a statement returned. */
export interface QueryOutcome {
  /** Result rows by column name; values as text (BIGINT and DECIMAL exact), NULL as null. */
  readonly rows: Record<string, unknown>[];
  /** Rows a MERGE, INSERT, UPDATE or DELETE changed, when the engine reports it. */
  readonly updatedRows?: number;
  /** Bytes the statement scanned (Athena's DataScannedInBytes; locally, Parquet bytes read). */
  readonly scannedBytes: number;
}

/** Runs one SQL statement at a time in the operator's database. */
export interface QueryEngine {
  execute(sql: string): Promise<QueryOutcome>;
}

let localEngine: QueryEngine | undefined;

/**
 * Local runs (`CONNECTOR_ADAPTERS=local`): the engine functions use instead of Athena. The local
 * harness, which runs the handlers in its own process, registers its DuckDB engine here (and
 * `undefined` when it closes).
 */
export function useLocalQueryEngine(engine: QueryEngine | undefined): void {
  localEngine = engine;
}

/**
 * The query engine of a function: Athena in the operator's workgroup, or (local adapters) the
 * engine the local harness registered. Resolved per statement, so it can be created at module scope.
 */
export function queryEngineFor(
  options: AwsAthenaOptions,
  env: Readonly<Record<string, string | undefined>> = process.env,
): QueryEngine {
  if (env[ENV.adapters]?.trim() !== 'local') return new AwsAthena(options);
  return {
    execute(sql) {
      if (!localEngine) {
        throw new AthenaQueryError(
          `${options.workGroup}: no local query engine is registered (CONNECTOR_ADAPTERS=local runs inside the local harness, which provides one)`,
          undefined,
          false,
        );
      }
      return localEngine.execute(sql);
    },
  };
}

/** `<operatorId>-<stage>`: the Athena workgroup of an operator's stack. */
export function athenaWorkGroupName(operatorId: string, stage: string): string {
  return `${operatorId}-${stage}`;
}

/** A statement failed, was cancelled or did not finish in time; names the workgroup and the query. */
export class AthenaQueryError extends Error {
  override readonly name = 'AthenaQueryError';
  constructor(
    message: string,
    /** Athena's query execution id, when the statement was started. */
    readonly queryExecutionId: string | undefined,
    /** Whether running the statement again may succeed (throttling, an Iceberg commit conflict). */
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface AwsAthenaOptions {
  /** The operator's workgroup ({@link athenaWorkGroupName}); it holds the result location and its encryption. */
  readonly workGroup: string;
  /** The Glue database statements run in (unqualified names resolve there). */
  readonly database: string;
  /** @default 'AwsDataCatalog' */
  readonly catalog?: string;
  /** @default an AthenaClient from the environment (honours AWS_ENDPOINT_URL_ATHENA) */
  readonly client?: AthenaClient;
  /**
   * First pause between two GetQueryExecution polls; each pause is 1.5 times the previous one.
   * @default 250
   */
  readonly pollInitialMs?: number;
  /** @default 5000 */
  readonly pollMaxMs?: number;
  /**
   * How long one statement may run before it is stopped (StopQueryExecution) and reported.
   * @default 1800000 (30 minutes)
   */
  readonly timeoutMs?: number;
  /**
   * Times a statement that failed retryably (an Iceberg commit conflict with a concurrent writer,
   * a transient Athena error) is started again, with a growing pause.
   * @default 4
   */
  readonly maxRetries?: number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Athena's message for a write that lost an optimistic commit to a concurrent writer of the table. */
const COMMIT_CONFLICT = /ICEBERG_COMMIT_ERROR|CommitFailedException|commit conflict/i;

/** Statements whose results start with a header row (Athena repeats the column names as row 1). */
const READS_ROWS = /^\s*(SELECT|WITH|VALUES|SHOW|DESCRIBE)\b/i;

const sleeper = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** {@link QueryEngine} on Amazon Athena: start, poll with backoff, read the results. */
export class AwsAthena implements QueryEngine {
  private readonly client: AthenaClient;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: AwsAthenaOptions) {
    this.client = options.client ?? new AthenaClient({});
    this.sleep = options.sleep ?? sleeper;
  }

  async execute(sql: string): Promise<QueryOutcome> {
    const retries = this.options.maxRetries ?? 4;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once(sql);
      } catch (error) {
        if (!(error instanceof AthenaQueryError) || !error.retryable || attempt >= retries) throw error;
        await this.sleep(Math.min(30_000, 1000 * 2 ** attempt));
      }
    }
  }

  private where(): string {
    return `Athena workgroup ${this.options.workGroup}, database ${this.options.database}`;
  }

  private async once(sql: string): Promise<QueryOutcome> {
    let id: string | undefined;
    try {
      const started = await this.client.send(
        new StartQueryExecutionCommand({
          QueryString: sql,
          WorkGroup: this.options.workGroup,
          QueryExecutionContext: { Database: this.options.database, Catalog: this.options.catalog ?? 'AwsDataCatalog' },
          // The SDK retries a Start whose answer was lost; the token makes that retry the same query.
          ClientRequestToken: randomUUID(),
        }),
      );
      id = started.QueryExecutionId;
    } catch (error) {
      throw this.sdkError('StartQueryExecution', undefined, error);
    }
    if (!id) throw new AthenaQueryError(`${this.where()}: StartQueryExecution returned no query id`, undefined, true);

    const execution = await this.waitFor(id);
    const state = execution.Status?.State;
    if (state !== 'SUCCEEDED') {
      const reason =
        execution.Status?.AthenaError?.ErrorMessage ?? execution.Status?.StateChangeReason ?? 'no reason given';
      const retryable =
        state === 'FAILED' && (execution.Status?.AthenaError?.Retryable === true || COMMIT_CONFLICT.test(reason));
      throw new AthenaQueryError(
        `${this.where()}: query ${id} ${state === 'CANCELLED' ? 'was cancelled' : 'failed'}: ${reason}`,
        id,
        retryable,
      );
    }
    const scannedBytes = execution.Statistics?.DataScannedInBytes ?? 0;
    const { rows, updateCount } = await this.results(id, READS_ROWS.test(sql));
    return { rows, ...(updateCount !== undefined ? { updatedRows: updateCount } : {}), scannedBytes };
  }

  private async waitFor(id: string): Promise<QueryExecution> {
    const deadline = Date.now() + (this.options.timeoutMs ?? 1_800_000);
    let pause = this.options.pollInitialMs ?? 250;
    const maxPause = this.options.pollMaxMs ?? 5000;
    for (;;) {
      let execution: QueryExecution | undefined;
      try {
        execution = (await this.client.send(new GetQueryExecutionCommand({ QueryExecutionId: id }))).QueryExecution;
      } catch (error) {
        throw this.sdkError('GetQueryExecution', id, error);
      }
      const state = execution?.Status?.State;
      if (execution && (state === 'SUCCEEDED' || state === 'FAILED' || state === 'CANCELLED')) return execution;
      if (Date.now() >= deadline) {
        await this.client.send(new StopQueryExecutionCommand({ QueryExecutionId: id })).catch(() => undefined);
        throw new AthenaQueryError(
          `${this.where()}: query ${id} did not finish within ${Math.round((this.options.timeoutMs ?? 1_800_000) / 1000)} s and was stopped; run the command again`,
          id,
          false,
        );
      }
      await this.sleep(pause);
      pause = Math.min(maxPause, Math.ceil(pause * 1.5));
    }
  }

  /** Every result row (all pages); a query's first row is its header and is skipped. */
  private async results(
    id: string,
    query: boolean,
  ): Promise<{ rows: Record<string, unknown>[]; updateCount?: number }> {
    const rows: Record<string, unknown>[] = [];
    let names: string[] | undefined;
    let token: string | undefined;
    let first = true;
    let updateCount: number | undefined;
    do {
      let page: GetQueryResultsCommandOutput;
      try {
        page = await this.client.send(new GetQueryResultsCommand({ QueryExecutionId: id, NextToken: token }));
      } catch (error) {
        throw this.sdkError('GetQueryResults', id, error);
      }
      if (page.UpdateCount !== undefined && !query) updateCount = Number(page.UpdateCount);
      names ??= (page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []).map((c, i) => c.Name ?? `_col${i}`);
      const pageRows = page.ResultSet?.Rows ?? [];
      pageRows.forEach((row, i) => {
        if (first && i === 0 && query) return;
        rows.push(Object.fromEntries(names!.map((n, j) => [n, row.Data?.[j]?.VarCharValue ?? null])));
      });
      first = false;
      token = page.NextToken;
    } while (token);
    return { rows, ...(updateCount !== undefined ? { updateCount } : {}) };
  }

  private sdkError(operation: string, id: string | undefined, error: unknown): AthenaQueryError {
    const name = (error as { name?: string })?.name ?? 'Error';
    const message = error instanceof Error ? error.message : String(error);
    const retryable =
      name === 'TooManyRequestsException' ||
      name === 'InternalServerException' ||
      Boolean((error as { $retryable?: unknown })?.$retryable);
    return new AthenaQueryError(
      `${this.where()}: ${operation}${id ? ` of query ${id}` : ''} failed: ${name}: ${message}`,
      id,
      retryable,
      { cause: error },
    );
  }
}

/** The engine set by {@link useLocalQueryEngine}; names what to do when none was set. */
export function localQueryEngine(): QueryEngine {
  if (!localEngine) {
    throw new Error(
      'no local query engine: with CONNECTOR_ADAPTERS=local the harness sets one (useLocalQueryEngine) before invoking a function that queries Athena',
    );
  }
  return localEngine;
}
