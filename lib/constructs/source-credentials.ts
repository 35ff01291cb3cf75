/**
 * The Secrets Manager secret holding the credentials of the operator's source database.
 */
import type { RemovalPolicy } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { DatabaseSourceConfig } from '#shared/config/schema';
import { acknowledgeFindings } from '../nag.ts';
import { type ConnectorStage, dataRemovalPolicy } from './removal-policy.ts';

/** The user name the secret is created with, until the platform team stores the real credentials. */
export const PLACEHOLDER_USERNAME = 'CHANGE_ME';

export interface SourceCredentialsProps {
  /** Operator identifier; part of the secret name. */
  readonly operatorId: string;
  /** Stage of the stack; part of the secret name, and DESTROY is refused for anything but sandbox. */
  readonly stage: ConnectorStage;
  /** The operator's database source (its engine names the secret's description). */
  readonly source: DatabaseSourceConfig;
  /** The operator's customer-managed key; encrypts the secret. */
  readonly encryptionKey: kms.IKey;
  /**
   * What `cdk destroy` does to the secret.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * A secret named `connector/<operatorId>-<stage>/source` whose JSON is `{username, password}`:
 * created as `CHANGE_ME` and a generated placeholder password, replaced by the platform team with
 * `connector credentials set <operator>`. No credential ever comes from the config or appears in
 * the template, and the secret holds no connection setting: CloudFormation generates a new value
 * (wiping the stored password) whenever `GenerateSecretString` changes, so it is a constant, and
 * host, port, database and TLS mode are read from the operator config the code asset carries.
 */
export class SourceCredentials extends Construct {
  /** The credentials secret (JSON: username, password). */
  public readonly secret: secretsmanager.Secret;
  /** `connector/<operatorId>-<stage>/source`, the name the CLI looks the secret up by. */
  public readonly secretName: string;

  constructor(scope: Construct, id: string, props: SourceCredentialsProps) {
    super(scope, id);
    const { source } = props;
    this.secretName = `connector/${props.operatorId}-${props.stage}/source`;
    this.secret = new secretsmanager.Secret(this, 'Secret', {
      secretName: this.secretName,
      description: `Read-only credentials of ${props.operatorId}'s ${source.type} database (${props.stage}); set with \`connector credentials set ${props.operatorId}\``,
      encryptionKey: props.encryptionKey,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ username: PLACEHOLDER_USERNAME }),
        generateStringKey: 'password',
        excludePunctuation: true,
        passwordLength: 32,
      },
      removalPolicy: dataRemovalPolicy(`source credentials of ${props.operatorId}`, props.stage, props.removalPolicy),
    });
    acknowledgeFindings(
      this.secret,
      ['AwsSolutions-SMG4', 'NIST.800.53.R5-SecretsManagerRotationEnabled'],
      "The credentials belong to a user in the operator's own database, which we cannot rotate from this account; the operator rotates the password on its side and the platform team stores the new one with `connector credentials set`.",
    );
  }

  /** Lets `grantee` read the credentials (GetSecretValue and kms:Decrypt through Secrets Manager). */
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    return this.secret.grantRead(grantee);
  }
}
