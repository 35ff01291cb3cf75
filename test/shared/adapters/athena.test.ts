/**
 * The Athena adapter against a mocked Athena API (aws-sdk-client-mock: Athena has no local engine;
 * the statements themselves run on DuckDB through LocalAthena in the serving and erasure tests).
 */
import {
  AthenaClient,
  AthenaServiceException,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AthenaQueryError, AwsAthena, athenaWorkGroupName } from '#shared/adapters/athena';

const athena = mockClient(AthenaClient);
const pauses: number[] = [];

function engine(overrides: Partial<ConstructorParameters<typeof AwsAthena>[0]> = {}): AwsAthena {
  return new AwsAthena({
    workGroup: 'acme-casino-sandbox',
    database: 'connector_acme_casino_sandbox',
    client: new AthenaClient({ region: 'eu-west-1' }),
    sleep: async (ms) => void pauses.push(ms),
    ...overrides,
  });
}

const state = (State: 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED', extra: object = {}) => ({
  QueryExecution: { QueryExecutionId: 'q-1', Status: { State, ...extra }, Statistics: { DataScannedInBytes: 1234 } },
});

beforeEach(() => {
  athena.reset();
  pauses.length = 0;
});

describe('AwsAthena', () => {
  it('names the workgroup <operatorId>-<stage>', () => {
    expect(athenaWorkGroupName('acme-casino', 'production')).toBe('acme-casino-production');
  });

  it('starts the statement in the workgroup and database, polls with growing pauses and reads every page of results', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-1' });
    athena
      .on(GetQueryExecutionCommand)
      .resolvesOnce(state('QUEUED'))
      .resolvesOnce(state('RUNNING'))
      .resolvesOnce(state('RUNNING'))
      .resolves(state('SUCCEEDED'));
    athena
      .on(GetQueryResultsCommand)
      .resolvesOnce({
        ResultSet: {
          ResultSetMetadata: {
            ColumnInfo: [
              { Name: 'stream', Type: 'varchar' },
              { Name: 'rows', Type: 'bigint' },
            ],
          },
          Rows: [
            { Data: [{ VarCharValue: 'stream' }, { VarCharValue: 'rows' }] },
            { Data: [{ VarCharValue: 'payments' }, { VarCharValue: '12' }] },
          ],
        },
        NextToken: 'page-2',
      })
      .resolvesOnce({
        ResultSet: {
          ResultSetMetadata: {
            ColumnInfo: [
              { Name: 'stream', Type: 'varchar' },
              { Name: 'rows', Type: 'bigint' },
            ],
          },
          Rows: [{ Data: [{ VarCharValue: 'sessions' }, {}] }],
        },
      });
    const out = await engine().execute('SELECT 1');
    expect(out).toEqual({
      rows: [
        { stream: 'payments', rows: '12' },
        { stream: 'sessions', rows: null },
      ],
      scannedBytes: 1234,
    });
    const start = athena.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input;
    expect(start).toMatchObject({
      QueryString: 'SELECT 1',
      WorkGroup: 'acme-casino-sandbox',
      QueryExecutionContext: { Database: 'connector_acme_casino_sandbox', Catalog: 'AwsDataCatalog' },
    });
    expect(start.ClientRequestToken?.length).toBeGreaterThanOrEqual(32);
    expect(pauses).toEqual([250, 375, 563]);
    expect(athena.commandCalls(GetQueryResultsCommand)[1]!.args[0].input.NextToken).toBe('page-2');
  });

  it('reports the rows a write changed when Athena gives an update count, with no header row to skip', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-1' });
    athena.on(GetQueryExecutionCommand).resolves(state('SUCCEEDED'));
    athena.on(GetQueryResultsCommand).resolves({ UpdateCount: 7, ResultSet: { Rows: [] } });
    expect(await engine().execute(`DELETE FROM "db"."payments" WHERE "player_id" = 'x'`)).toEqual({
      rows: [],
      updatedRows: 7,
      scannedBytes: 1234,
    });
  });

  it('runs a statement again after an Iceberg commit conflict, and gives up after the retries', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-1' });
    athena
      .on(GetQueryExecutionCommand)
      .resolvesOnce(state('FAILED', { StateChangeReason: 'ICEBERG_COMMIT_ERROR: Failed to commit Iceberg update' }))
      .resolves(state('SUCCEEDED'));
    athena.on(GetQueryResultsCommand).resolves({ ResultSet: { Rows: [] } });
    await engine().execute('DELETE FROM t');
    expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(2);
    expect(pauses).toEqual([1000]);

    athena.reset();
    pauses.length = 0;
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-2' });
    athena
      .on(GetQueryExecutionCommand)
      .resolves(state('FAILED', { AthenaError: { ErrorMessage: 'transient', Retryable: true } }));
    const error = await engine({ maxRetries: 2 })
      .execute('DELETE FROM t')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AthenaQueryError);
    expect((error as AthenaQueryError).retryable).toBe(true);
    expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(3);
    expect(pauses).toEqual([1000, 2000]);
  });

  it('fails at once, naming the workgroup and the query, when the statement is wrong', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-9' });
    athena.on(GetQueryExecutionCommand).resolves(
      state('FAILED', {
        AthenaError: {
          ErrorCategory: 2,
          ErrorType: 1006,
          Retryable: false,
          ErrorMessage: 'TABLE_NOT_FOUND: line 1:15',
        },
      }),
    );
    const error = await engine()
      .execute('SELECT * FROM missing')
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      'Athena workgroup acme-casino-sandbox, database connector_acme_casino_sandbox: query q-9 failed: TABLE_NOT_FOUND: line 1:15',
    );
    expect((error as AthenaQueryError).retryable).toBe(false);
    expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(1);
  });

  it('stops a statement that runs past the timeout', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-3' });
    athena.on(GetQueryExecutionCommand).resolves(state('RUNNING'));
    athena.on(StopQueryExecutionCommand).resolves({});
    const error = await engine({ timeoutMs: 0 })
      .execute('SELECT 1')
      .catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/query q-3 did not finish within 0 s and was stopped/);
    expect(athena.commandCalls(StopQueryExecutionCommand)[0]!.args[0].input).toEqual({ QueryExecutionId: 'q-3' });
  });

  it('says which call failed when the API refuses', async () => {
    athena.on(StartQueryExecutionCommand).rejects(
      new AthenaServiceException({
        name: 'InvalidRequestException',
        $fault: 'client',
        $metadata: {},
        message: 'WorkGroup acme-casino-sandbox is not found',
      }),
    );
    const error = await engine()
      .execute('SELECT 1')
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      'Athena workgroup acme-casino-sandbox, database connector_acme_casino_sandbox: StartQueryExecution failed: InvalidRequestException: WorkGroup acme-casino-sandbox is not found',
    );
    expect((error as AthenaQueryError).retryable).toBe(false);
  });
});
