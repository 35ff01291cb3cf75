/**
 * Step Functions' DynamoDB integrations, served by a real DynamoDB engine (dynalite locally):
 * the optimized `arn:aws:states:::dynamodb:getItem|putItem|updateItem|deleteItem` and the SDK
 * integrations `arn:aws:states:::aws-sdk:dynamodb:<action>`.
 */
import * as dynamodb from '@aws-sdk/client-dynamodb';
import type { ServiceHandler } from './sfn-harness.ts';

const OPTIMIZED = ['getItem', 'putItem', 'updateItem', 'deleteItem'] as const;

/** An error as Step Functions reports it for a failed DynamoDB call. */
class DynamoDbIntegrationError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

type CommandClass = new (input: unknown) => Parameters<dynamodb.DynamoDBClient['send']>[0];

function commandFor(action: string): CommandClass | undefined {
  const name = `${action.charAt(0).toUpperCase()}${action.slice(1)}Command`;
  const command = (dynamodb as unknown as Record<string, unknown>)[name];
  return typeof command === 'function' ? (command as CommandClass) : undefined;
}

async function send(
  client: dynamodb.DynamoDBClient,
  action: string,
  parameters: unknown,
  errorPrefix: string,
): Promise<Record<string, unknown>> {
  const Command = commandFor(action);
  if (!Command) throw new DynamoDbIntegrationError('States.Runtime', `DynamoDB has no action ${action}`);
  try {
    const { $metadata, ...response } = (await client.send(new Command(parameters))) as Record<string, unknown> & {
      $metadata: dynamodb.DynamoDBServiceException['$metadata'];
    };
    return { ...response, __requestId: $metadata.requestId ?? '' };
  } catch (error) {
    if (error instanceof dynamodb.DynamoDBServiceException) {
      throw new DynamoDbIntegrationError(
        `${errorPrefix}.${error.name}`,
        `${error.message} (Service: AmazonDynamoDBv2; Status Code: ${error.$metadata.httpStatusCode ?? 400}; ` +
          `Error Code: ${error.name}; Request ID: ${error.$metadata.requestId ?? 'local'}; Proxy: null)`,
      );
    }
    throw error;
  }
}

/**
 * Service handlers for {@link runStateMachine}'s `serviceHandlers` that run a state machine's
 * DynamoDB tasks against `client`. Responses and error names follow Step Functions: the optimized
 * integration adds `SdkHttpMetadata`/`SdkResponseMetadata` and names errors
 * `DynamoDB.<Exception>`; the SDK integration returns the bare response and names them
 * `DynamoDb.<Exception>`.
 */
export function dynamoDbServiceHandlers(client: dynamodb.DynamoDBClient): Record<string, ServiceHandler> {
  const handlers: Record<string, ServiceHandler> = {};
  for (const action of OPTIMIZED) {
    handlers[`arn:aws:states:::dynamodb:${action}`] = async (parameters) => {
      const { __requestId, ...response } = await send(client, action, parameters, 'DynamoDB');
      const requestId = String(__requestId);
      return {
        ...response,
        SdkHttpMetadata: {
          AllHttpHeaders: { 'Content-Type': ['application/x-amz-json-1.0'], 'x-amzn-RequestId': [requestId] },
          HttpHeaders: { 'Content-Type': 'application/x-amz-json-1.0', 'x-amzn-RequestId': requestId },
          HttpStatusCode: 200,
        },
        SdkResponseMetadata: { RequestId: requestId },
      };
    };
  }
  const sdkHandler: ServiceHandler = async (parameters, { resource }) => {
    const action = resource.split(':').at(-1) ?? '';
    const { __requestId: _, ...response } = await send(client, action, parameters, 'DynamoDb');
    return response;
  };
  for (const action of [
    'getItem',
    'putItem',
    'updateItem',
    'deleteItem',
    'query',
    'scan',
    'batchGetItem',
    'batchWriteItem',
    'transactGetItems',
    'transactWriteItems',
  ]) {
    handlers[`arn:aws:states:::aws-sdk:dynamodb:${action}`] = sdkHandler;
  }
  return handlers;
}
