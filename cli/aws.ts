/** AWS errors as CLI errors: what failed, and what to do, without any secret value. */
import { scrubSecrets } from '#shared/scrub';
import { CliError, type CliIo, EXIT } from './io.ts';

const HINTS: Record<string, string> = {
  ResourceNotFoundException:
    'the resource does not exist: deploy the stack first (`npx cdk deploy <stack>`), and check --stage and the region',
  StateMachineDoesNotExist: 'the state machine does not exist: deploy the stack first (`npx cdk deploy <stack>`)',
  AccessDeniedException: 'your AWS identity lacks the permission: use a role of the operator account that has it',
  UnrecognizedClientException: 'the AWS credentials are invalid: refresh them (aws sso login, or AWS_PROFILE)',
  ExpiredTokenException: 'the AWS session has expired: refresh the credentials',
  CredentialsProviderError: 'no AWS credentials found: set AWS_PROFILE or log in (aws sso login)',
  ExecutionLimitExceeded: 'too many executions are running: wait for some to finish',
  InvalidExecutionInput: 'the state machine refused the input',
  ResourceInUseException: 'the resource is busy: retry in a moment',
};

/**
 * Settings of an AWS SDK client of a command: the config's region, and the endpoint of
 * `AWS_ENDPOINT_URL_<SERVICE>` or `AWS_ENDPOINT_URL` in the command's environment (dynalite, a
 * local Step Functions) when set.
 */
export function clientSettings(
  region: string,
  io: CliIo,
  service: 'CLOUDFORMATION' | 'DYNAMODB' | 'SFN' | 'STS',
): { region: string; endpoint?: string } {
  const endpoint = io.env[`AWS_ENDPOINT_URL_${service}`] ?? io.env.AWS_ENDPOINT_URL;
  return { region, ...(endpoint ? { endpoint } : {}) };
}

/** An AWS SDK failure of `what` (exit 4); `scrub` values are removed from the message. */
export function awsError(what: string, e: unknown, scrub: readonly string[] = []): CliError {
  const name = (e as { name?: string })?.name ?? 'Error';
  const message = scrubSecrets(e instanceof Error ? e.message : String(e), scrub);
  const hint = HINTS[name];
  return new CliError(`${what} failed: ${name}: ${message}${hint ? `\n  what to do: ${hint}` : ''}`, EXIT.aws);
}
