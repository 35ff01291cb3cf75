/**
 * Environment variables the stack sets on the connector's functions and the functions read back.
 * Dependency-free: the CDK app loads it at synthesis.
 *
 * | variable                 | meaning                                                              |
 * | ------------------------ | -------------------------------------------------------------------- |
 * | `CONNECTOR_OPERATOR_ID`  | operator id                                                          |
 * | `CONNECTOR_STAGE`        | sandbox or production                                                |
 * | `CONNECTOR_BUCKET`       | landing bucket                                                       |
 * | `CONNECTOR_KMS_KEY_ARN`  | operator key (SSE-KMS of landed objects, pseudonym key wrapping)     |
 * | `CONNECTOR_STATE_TABLE`  | sync-state table                                                     |
 * | `CONNECTOR_SECRET_ID`    | source credentials secret (database sources)                         |
 * | `CONNECTOR_GLUE_DATABASE`| Glue database of the serving tables (publish, key-audit functions)   |
 * | `CONNECTOR_ATHENA_WORKGROUP` | Athena workgroup of the operator (key-audit function)            |
 * | `CONNECTOR_CONFIG_PATH`  | operator config JSON; default: `operator-config.json` in the bundle  |
 *
 * Set on a laptop and in tests only (the stack never sets them):
 *
 * | variable                          | meaning                                                    |
 * | --------------------------------- | ---------------------------------------------------------- |
 * | `CONNECTOR_ADAPTERS`              | `aws` (default) or `local` adapters (adapters/index.ts)     |
 * | `CONNECTOR_LOCAL_KMS_KEY_FILE`    | local: master key file, created on first use (0600)        |
 * | `CONNECTOR_LOCAL_SECRETS_FILE`    | local: JSON file of secret id → `{username, password}`     |
 * | `CONNECTOR_SOURCE_URL`            | local: postgres://… or mysql://… instead of the operator's |
 * | `CONNECTOR_TIME_RESERVE_MS`       | ms kept back from the Lambda budget; default 90,000        |
 * | `CONNECTOR_MAX_WINDOWS_PER_EXECUTION` | windows one snapshot execution runs; default and max 1,000 |
 */

/** Names of the variables the stack sets, and of those a local run or a test may set. */
export const ENV = {
  operatorId: 'CONNECTOR_OPERATOR_ID',
  stage: 'CONNECTOR_STAGE',
  bucket: 'CONNECTOR_BUCKET',
  kmsKeyArn: 'CONNECTOR_KMS_KEY_ARN',
  stateTable: 'CONNECTOR_STATE_TABLE',
  secretId: 'CONNECTOR_SECRET_ID',
  glueDatabase: 'CONNECTOR_GLUE_DATABASE',
  athenaWorkGroup: 'CONNECTOR_ATHENA_WORKGROUP',
  configPath: 'CONNECTOR_CONFIG_PATH',
  adapters: 'CONNECTOR_ADAPTERS',
  localKmsKeyFile: 'CONNECTOR_LOCAL_KMS_KEY_FILE',
  localSecretsFile: 'CONNECTOR_LOCAL_SECRETS_FILE',
  sourceUrl: 'CONNECTOR_SOURCE_URL',
  timeReserveMs: 'CONNECTOR_TIME_RESERVE_MS',
  maxWindowsPerExecution: 'CONNECTOR_MAX_WINDOWS_PER_EXECUTION',
} as const;

/** One of the variable names above. */
export type EnvName = (typeof ENV)[keyof typeof ENV];

/** Name of the config file the bundle carries beside the handlers. */
export const BUNDLED_CONFIG_FILE = 'operator-config.json';
