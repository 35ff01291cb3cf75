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
 */

/** Names of the variables the stack sets (and the one a local run may set instead of the bundle's config). */
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
} as const;

/** Name of the config file the bundle carries beside the handlers. */
export const BUNDLED_CONFIG_FILE = 'operator-config.json';
