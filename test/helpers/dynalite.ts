/**
 * A real DynamoDB engine for tests: dynalite, in memory, on a random loopback port.
 *
 * ```ts
 * const dynamo = await startDynalite();
 * const table = await dynamo.createSyncStateTable();
 * const store = new SyncStateStore(dynamo.doc, table);
 * ...
 * await dynamo.stop();
 * ```
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLE_SCHEMA } from '#shared/state/keys';

type DynaliteFactory = (options: {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
  path?: string;
}) => Server;

const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;

export interface DynaliteHandle {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  /**
   * Creates a table shaped like the sync-state table of the CDK stack (pk/sk strings) and waits
   * until it is active. Returns its name (random unless given).
   */
  createSyncStateTable(name?: string): Promise<string>;
  /** Closes the clients and the server. */
  stop(): Promise<void>;
}

/** Starts dynalite in memory on a random port with clients configured for it. */
export async function startDynalite(): Promise<DynaliteHandle> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  const doc = DynamoDBDocumentClient.from(client);

  return {
    endpoint,
    client,
    doc,
    async createSyncStateTable(name = `sync-state-${randomUUID().slice(0, 8)}`) {
      await client.send(
        new CreateTableCommand({
          TableName: name,
          AttributeDefinitions: [
            { AttributeName: TABLE_SCHEMA.partitionKey, AttributeType: 'S' },
            { AttributeName: TABLE_SCHEMA.sortKey, AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' },
            { AttributeName: TABLE_SCHEMA.sortKey, KeyType: 'RANGE' },
          ],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      for (let i = 0; i < 100; i++) {
        const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
        if (Table?.TableStatus === 'ACTIVE') return name;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`dynalite table ${name} did not become ACTIVE`);
    },
    async stop() {
      client.destroy();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
