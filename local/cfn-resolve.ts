/**
 * A small CloudFormation intrinsic resolver for synthesized templates, so that the state machine
 * definitions and Lambda environments of a stack can be turned into plain values and run on a laptop.
 *
 * Resources get deterministic fake physical ids (a Lambda function is named after its logical id,
 * so `Fn::GetAtt [Fn, Arn]` becomes `arn:aws:lambda:<region>:<account>:function:<LogicalId>`);
 * any logical id can be overridden with the name of something that exists in a local engine.
 */

/** A synthesized CloudFormation template, as `Template.fromStack(stack).toJSON()` returns it. */
export interface CfnTemplate {
  readonly Parameters?: Record<string, { readonly Type?: string; readonly Default?: unknown }>;
  readonly Mappings?: Record<string, Record<string, Record<string, unknown>>>;
  readonly Conditions?: Record<string, unknown>;
  readonly Resources?: Record<string, CfnResource>;
}

/** One resource of a {@link CfnTemplate}. */
export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
  readonly Condition?: string;
}

/** What a resource's logical id resolves to, when the deterministic fake is not wanted. */
export interface ResourceOverride {
  /**
   * The value of `Ref` (for a parameter, its value).
   * @default derived from the fake physical name, as AWS derives it for the resource type
   */
  readonly ref?: string;
  /**
   * Values of `Fn::GetAtt` attributes, by attribute name (e.g. `{ Arn: 'arn:aws:dynamodb:…' }`).
   * @default derived from the physical name, as AWS derives it for the resource type
   */
  readonly attributes?: Readonly<Record<string, string>>;
}

/** Options of the resolver. */
export interface ResolveOptions {
  /**
   * Value of `AWS::Region`.
   * @default 'us-east-1'
   */
  readonly region?: string;
  /**
   * Value of `AWS::AccountId`.
   * @default '123456789012'
   */
  readonly account?: string;
  /**
   * Value of `AWS::Partition`.
   * @default 'aws'
   */
  readonly partition?: string;
  /**
   * Value of `AWS::StackName`.
   * @default 'local-stack'
   */
  readonly stackName?: string;
  /**
   * Logical id (of a resource or a parameter) → its value. A string is the resource's physical name
   * (e.g. a DynamoDB table name or bucket name that exists in dynalite or s3rver): `Ref` and `Arn`
   * are derived from it as AWS derives them for the resource type. A {@link ResourceOverride} sets
   * `Ref` and attributes explicitly.
   * @default no overrides
   */
  readonly overrides?: Readonly<Record<string, string | ResourceOverride>>;
}

/** A reference or function in a template that cannot be resolved locally. */
export class CfnResolveError extends Error {
  constructor(
    message: string,
    /** Where in the template, e.g. `Resources.SM.Properties.DefinitionString/Fn::Join/1/3`. */
    readonly location: string,
    options?: { cause?: unknown },
  ) {
    super(`${message} (at ${location})`, options);
    this.name = 'CfnResolveError';
  }
}

/** `AWS::NoValue`: removes the property or list element that holds it. */
const NO_VALUE: unique symbol = Symbol('AWS::NoValue');

/** Where a resource type keeps its explicit physical name, if it has one. */
const NAME_PROPERTY: Readonly<Record<string, readonly string[]>> = {
  'AWS::DynamoDB::Table': ['TableName'],
  'AWS::DynamoDB::GlobalTable': ['TableName'],
  'AWS::S3::Bucket': ['BucketName'],
  'AWS::SQS::Queue': ['QueueName'],
  'AWS::SNS::Topic': ['TopicName'],
  'AWS::IAM::Role': ['RoleName'],
  'AWS::StepFunctions::StateMachine': ['StateMachineName'],
  'AWS::Logs::LogGroup': ['LogGroupName'],
  'AWS::Glue::Database': ['DatabaseInput', 'Name'],
  'AWS::Glue::Table': ['TableInput', 'Name'],
  'AWS::SecretsManager::Secret': ['Name'],
  'AWS::Events::Rule': ['Name'],
  'AWS::Scheduler::Schedule': ['Name'],
  'AWS::KMS::Alias': ['AliasName'],
};

interface Env {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

function fakeRef(type: string, name: string, env: Env): string {
  const { partition: p, region: r, account: a } = env;
  switch (type) {
    case 'AWS::SQS::Queue':
      return `https://sqs.${r}.amazonaws.com/${a}/${name}`;
    case 'AWS::SNS::Topic':
      return `arn:${p}:sns:${r}:${a}:${name}`;
    case 'AWS::StepFunctions::StateMachine':
      return `arn:${p}:states:${r}:${a}:stateMachine:${name}`;
    case 'AWS::SecretsManager::Secret':
      return `arn:${p}:secretsmanager:${r}:${a}:secret:${name}-AbCdEf`;
    default:
      return name;
  }
}

function fakeAttribute(type: string, name: string, attribute: string, env: Env): string {
  const { partition: p, region: r, account: a } = env;
  const byType: Record<string, Record<string, string>> = {
    'AWS::Lambda::Function': { Arn: `arn:${p}:lambda:${r}:${a}:function:${name}` },
    'AWS::DynamoDB::Table': {
      Arn: `arn:${p}:dynamodb:${r}:${a}:table/${name}`,
      StreamArn: `arn:${p}:dynamodb:${r}:${a}:table/${name}/stream/1970-01-01T00:00:00.000`,
    },
    'AWS::S3::Bucket': {
      Arn: `arn:${p}:s3:::${name}`,
      DomainName: `${name}.s3.amazonaws.com`,
      RegionalDomainName: `${name}.s3.${r}.amazonaws.com`,
      WebsiteURL: `http://${name}.s3-website-${r}.amazonaws.com`,
    },
    'AWS::SQS::Queue': {
      Arn: `arn:${p}:sqs:${r}:${a}:${name}`,
      QueueName: name,
      QueueUrl: `https://sqs.${r}.amazonaws.com/${a}/${name}`,
    },
    'AWS::SNS::Topic': { TopicArn: `arn:${p}:sns:${r}:${a}:${name}`, TopicName: name },
    'AWS::IAM::Role': { Arn: `arn:${p}:iam::${a}:role/${name}`, RoleId: `AROA${name.toUpperCase()}` },
    'AWS::KMS::Key': { Arn: `arn:${p}:kms:${r}:${a}:key/${name}`, KeyId: name },
    'AWS::StepFunctions::StateMachine': { Arn: `arn:${p}:states:${r}:${a}:stateMachine:${name}`, Name: name },
    'AWS::SecretsManager::Secret': { Id: `arn:${p}:secretsmanager:${r}:${a}:secret:${name}-AbCdEf` },
    'AWS::Logs::LogGroup': { Arn: `arn:${p}:logs:${r}:${a}:log-group:${name}:*` },
    'AWS::Events::Rule': { Arn: `arn:${p}:events:${r}:${a}:rule/${name}` },
    'AWS::Scheduler::Schedule': { Arn: `arn:${p}:scheduler:${r}:${a}:schedule/default/${name}` },
  };
  const known = byType[type]?.[attribute];
  if (known !== undefined) return known;
  if (attribute === 'Arn') {
    const [, service = 'unknown', kind = 'resource'] = type.split('::');
    return `arn:${p}:${service.toLowerCase()}:${r}:${a}:${kind.toLowerCase()}/${name}`;
  }
  return `${name}.${attribute}`;
}

/** The default physical name of a resource with no explicit name: a bucket's must be lower case. */
function defaultName(type: string, logicalId: string): string {
  return type === 'AWS::S3::Bucket' ? logicalId.toLowerCase() : logicalId;
}

function isIntrinsic(value: Record<string, unknown>): string | undefined {
  const keys = Object.keys(value);
  if (keys.length !== 1) return undefined;
  const [key] = keys as [string];
  return key === 'Ref' || key === 'Condition' || key.startsWith('Fn::') ? key : undefined;
}

function asString(value: unknown, what: string, at: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new CfnResolveError(`${what} must resolve to a string, got ${JSON.stringify(value)}`, at);
}

function asList(value: unknown, what: string, at: string): unknown[] {
  if (Array.isArray(value)) return value;
  throw new CfnResolveError(`${what} must resolve to a list, got ${JSON.stringify(value)}`, at);
}

/**
 * Resolves CloudFormation intrinsics (`Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub` in both forms,
 * `Fn::Select`, `Fn::Split`, `Fn::If` with conditions, `Fn::FindInMap`, `Fn::Base64`, `Fn::GetAZs`,
 * `Fn::ToJsonString`) and pseudo parameters against one template.
 */
export class CfnResolver {
  private readonly env: Env;
  private readonly stackName: string;
  private readonly resolvingNames = new Set<string>();
  private readonly conditionCache = new Map<string, boolean>();

  constructor(
    private readonly template: CfnTemplate,
    private readonly options: ResolveOptions = {},
  ) {
    this.env = {
      partition: options.partition ?? 'aws',
      region: options.region ?? 'us-east-1',
      account: options.account ?? '123456789012',
    };
    this.stackName = options.stackName ?? 'local-stack';
  }

  /** Resolves every intrinsic inside `value`; `location` names it in errors. */
  resolve(value: unknown, location = '$'): unknown {
    const resolved = this.resolveValue(value, location);
    return resolved === NO_VALUE ? undefined : resolved;
  }

  /** The value of `Ref` to a pseudo parameter, a template parameter or a resource. */
  ref(name: string, location = '$'): unknown {
    const pseudo = this.pseudoParameter(name);
    if (pseudo !== undefined) return pseudo;
    const override = this.options.overrides?.[name];
    const parameter = this.template.Parameters?.[name];
    if (parameter) {
      const value = typeof override === 'string' ? override : (override?.ref ?? parameter.Default);
      if (value === undefined) {
        throw new CfnResolveError(`parameter ${name} has no Default; pass overrides: { ${name}: '<value>' }`, location);
      }
      const isList = parameter.Type?.startsWith('List<') || parameter.Type === 'CommaDelimitedList';
      return isList && typeof value === 'string' ? value.split(',') : value;
    }
    const resource = this.resource(name, location);
    if (typeof override === 'object' && override.ref !== undefined) return override.ref;
    if (
      typeof override !== 'string' &&
      (resource.Type === 'AWS::Lambda::Version' || resource.Type === 'AWS::Lambda::Alias')
    ) {
      // A version (numbered 1 here) or an alias is its function's ARN with a qualifier, so it
      // reaches the same local handler.
      const at = `Resources.${name}.Properties`;
      const target = asString(
        this.resolve(resource.Properties?.['FunctionName'], `${at}.FunctionName`),
        'FunctionName',
        at,
      );
      const qualifier =
        resource.Type === 'AWS::Lambda::Alias' ? this.resolve(resource.Properties?.['Name'], `${at}.Name`) : '1';
      const arn = target.startsWith('arn:') ? target : fakeAttribute('AWS::Lambda::Function', target, 'Arn', this.env);
      return `${arn}:${asString(qualifier, 'alias name', at)}`;
    }
    return fakeRef(resource.Type, this.physicalName(name, location), this.env);
  }

  /** The value of `Fn::GetAtt [logicalId, attribute]`. */
  getAtt(logicalId: string, attribute: string, location = '$'): string {
    const resource = this.resource(logicalId, location);
    const override = this.options.overrides?.[logicalId];
    if (typeof override === 'object' && override.attributes?.[attribute] !== undefined) {
      return override.attributes[attribute];
    }
    return fakeAttribute(resource.Type, this.physicalName(logicalId, location), attribute, this.env);
  }

  /**
   * The physical name of a resource: its override, else its explicit name property, else a name
   * derived from its logical id. A Lambda function is always named after its logical id, so local
   * handlers can be keyed by it whatever `FunctionName` says.
   */
  physicalName(logicalId: string, location = '$'): string {
    const resource = this.resource(logicalId, location);
    const override = this.options.overrides?.[logicalId];
    if (typeof override === 'string') return override;
    if (override?.ref !== undefined && !override.ref.startsWith('arn:')) return override.ref;
    const path = NAME_PROPERTY[resource.Type];
    if (path && !this.resolvingNames.has(logicalId)) {
      let raw: unknown = resource.Properties;
      for (const key of path) raw = (raw as Record<string, unknown> | undefined)?.[key];
      if (raw !== undefined) {
        this.resolvingNames.add(logicalId);
        try {
          const name = this.resolve(raw, `Resources.${logicalId}.Properties.${path.join('.')}`);
          if (typeof name === 'string') return name;
        } finally {
          this.resolvingNames.delete(logicalId);
        }
      }
    }
    return defaultName(resource.Type, logicalId);
  }

  /** Evaluates a named condition of the template. */
  condition(name: string, location = '$'): boolean {
    const cached = this.conditionCache.get(name);
    if (cached !== undefined) return cached;
    const definition = this.template.Conditions?.[name];
    if (definition === undefined) throw new CfnResolveError(`unknown condition ${name}`, location);
    const value = this.resolve(definition, `Conditions.${name}`);
    if (typeof value !== 'boolean') {
      throw new CfnResolveError(`condition ${name} did not evaluate to a boolean`, `Conditions.${name}`);
    }
    this.conditionCache.set(name, value);
    return value;
  }

  private resource(logicalId: string, location: string): CfnResource {
    const resource = this.template.Resources?.[logicalId];
    if (!resource) throw new CfnResolveError(`no resource or parameter named ${logicalId}`, location);
    return resource;
  }

  private pseudoParameter(name: string): unknown {
    switch (name) {
      case 'AWS::Partition':
        return this.env.partition;
      case 'AWS::Region':
        return this.env.region;
      case 'AWS::AccountId':
        return this.env.account;
      case 'AWS::StackName':
        return this.stackName;
      case 'AWS::StackId':
        return `arn:${this.env.partition}:cloudformation:${this.env.region}:${this.env.account}:stack/${this.stackName}/00000000-0000-0000-0000-000000000000`;
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::NotificationARNs':
        return [];
      case 'AWS::NoValue':
        return NO_VALUE;
      default:
        return undefined;
    }
  }

  private resolveValue(value: unknown, at: string): unknown {
    if (Array.isArray(value)) {
      return value.map((item, i) => this.resolveValue(item, `${at}/${i}`)).filter((item) => item !== NO_VALUE);
    }
    if (value === null || typeof value !== 'object') return value;
    const record = value as Record<string, unknown>;
    const intrinsic = isIntrinsic(record);
    if (intrinsic) return this.resolveIntrinsic(intrinsic, record[intrinsic], `${at}/${intrinsic}`);
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(record)) {
      const resolved = this.resolveValue(item, `${at}.${key}`);
      if (resolved !== NO_VALUE) out[key] = resolved;
    }
    return out;
  }

  private resolveIntrinsic(name: string, arg: unknown, at: string): unknown {
    switch (name) {
      case 'Ref':
        return this.ref(asString(arg, 'Ref', at), at);
      case 'Condition':
        return this.condition(asString(arg, 'Condition', at), at);
      case 'Fn::GetAtt': {
        const parts = typeof arg === 'string' ? splitOnce(arg, '.') : this.resolveValue(arg, at);
        const [logicalId, attribute] = asList(parts, 'Fn::GetAtt', at);
        return this.getAtt(asString(logicalId, 'Fn::GetAtt logical id', at), asString(attribute, 'attribute', at), at);
      }
      case 'Fn::Join': {
        const [delimiter, list] = asList(arg, 'Fn::Join', at);
        const items = asList(this.resolveValue(list, `${at}/1`), 'Fn::Join list', at);
        return items
          .map((item, i) => asString(item, `Fn::Join element ${i}`, at))
          .join(asString(delimiter, 'delimiter', at));
      }
      case 'Fn::Sub':
        return this.sub(arg, at);
      case 'Fn::Select': {
        const [index, list] = asList(arg, 'Fn::Select', at);
        const i = Number(this.resolveValue(index, `${at}/0`));
        const items = asList(this.resolveValue(list, `${at}/1`), 'Fn::Select list', at);
        if (!Number.isInteger(i) || i < 0 || i >= items.length) {
          throw new CfnResolveError(`Fn::Select index ${String(index)} is out of range of ${items.length}`, at);
        }
        return items[i];
      }
      case 'Fn::Split': {
        const [delimiter, source] = asList(arg, 'Fn::Split', at);
        return asString(this.resolveValue(source, `${at}/1`), 'Fn::Split source', at).split(
          asString(delimiter, 'delimiter', at),
        );
      }
      case 'Fn::If': {
        const [condition, whenTrue, whenFalse] = asList(arg, 'Fn::If', at);
        return this.condition(asString(condition, 'Fn::If condition', at), at)
          ? this.resolveValue(whenTrue, `${at}/1`)
          : this.resolveValue(whenFalse, `${at}/2`);
      }
      case 'Fn::Equals': {
        const [a, b] = asList(this.resolveValue(arg, at), 'Fn::Equals', at);
        return JSON.stringify(a) === JSON.stringify(b);
      }
      case 'Fn::And':
        return asList(this.resolveValue(arg, at), 'Fn::And', at).every((c) => c === true);
      case 'Fn::Or':
        return asList(this.resolveValue(arg, at), 'Fn::Or', at).some((c) => c === true);
      case 'Fn::Not': {
        const [c] = asList(this.resolveValue(arg, at), 'Fn::Not', at);
        return c !== true;
      }
      case 'Fn::FindInMap': {
        const [map, top, second] = asList(this.resolveValue(arg, at), 'Fn::FindInMap', at).map((k) =>
          asString(k, 'Fn::FindInMap key', at),
        );
        const found = this.template.Mappings?.[map as string]?.[top as string]?.[second as string];
        if (found === undefined) throw new CfnResolveError(`no mapping ${map}.${top}.${second}`, at);
        return found;
      }
      case 'Fn::Base64':
        return Buffer.from(asString(this.resolveValue(arg, at), 'Fn::Base64', at)).toString('base64');
      case 'Fn::GetAZs':
        return ['a', 'b', 'c'].map((suffix) => `${this.env.region}${suffix}`);
      case 'Fn::ToJsonString':
        return JSON.stringify(this.resolveValue(arg, at));
      default:
        throw new CfnResolveError(
          `${name} is not supported by the local resolver; override the value or avoid it in this property`,
          at,
        );
    }
  }

  private sub(arg: unknown, at: string): string {
    const [text, variables] = Array.isArray(arg) ? arg : [arg, {}];
    const template = asString(text, 'Fn::Sub string', at);
    const vars = this.resolveValue(variables ?? {}, `${at}/1`) as Record<string, unknown>;
    return template.replace(/\$\{([^}]*)\}/g, (_match, expression: string) => {
      if (expression.startsWith('!')) return `\${${expression.slice(1)}}`;
      const name = expression.trim();
      if (Object.hasOwn(vars, name)) return asString(vars[name], `Fn::Sub variable ${name}`, at);
      const dot = name.indexOf('.');
      if (dot > 0 && !name.startsWith('AWS::')) return this.getAtt(name.slice(0, dot), name.slice(dot + 1), at);
      return asString(this.ref(name, at), `Fn::Sub \${${name}}`, at);
    });
  }
}

function splitOnce(text: string, separator: string): string[] {
  const i = text.indexOf(separator);
  return i < 0 ? [text] : [text.slice(0, i), text.slice(i + 1)];
}

/** A state machine of a template, as {@link findStateMachines} lists it. */
export interface StateMachineInfo {
  /** Logical id of the `AWS::StepFunctions::StateMachine`. */
  readonly logicalId: string;
  /** `StateMachineName` when set (resolved), else the `Name` tag, else the logical id. */
  readonly name: string;
  /** Tags, by key. */
  readonly tags: Readonly<Record<string, string>>;
  /** The construct path, when the template carries `aws:cdk:path` metadata. */
  readonly cdkPath?: string;
}

function tagsOf(resource: CfnResource, resolver: CfnResolver, at: string): Record<string, string> {
  const tags: Record<string, string> = {};
  const raw = resource.Properties?.['Tags'];
  if (!Array.isArray(raw)) return tags;
  for (const tag of raw) {
    try {
      const { Key, Value } = resolver.resolve(tag, at) as { Key?: unknown; Value?: unknown };
      if (typeof Key === 'string' && typeof Value === 'string') tags[Key] = Value;
    } catch {
      // A tag whose value cannot be resolved locally is not needed to find a state machine.
    }
  }
  return tags;
}

/** Lists the state machines of a template with their logical ids, names and tags. */
export function findStateMachines(template: CfnTemplate, options: ResolveOptions = {}): StateMachineInfo[] {
  const resolver = new CfnResolver(template, options);
  return Object.entries(template.Resources ?? {})
    .filter(([, resource]) => resource.Type === 'AWS::StepFunctions::StateMachine')
    .map(([logicalId, resource]) => {
      const tags = tagsOf(resource, resolver, `Resources.${logicalId}.Properties.Tags`);
      let name = tags['Name'] ?? logicalId;
      if (resource.Properties?.['StateMachineName'] !== undefined) {
        try {
          name = resolver.physicalName(logicalId);
        } catch {
          // Keep the tag or logical id when the explicit name cannot be resolved locally.
        }
      }
      const cdkPath = resource.Metadata?.['aws:cdk:path'];
      return { logicalId, name, tags, ...(typeof cdkPath === 'string' ? { cdkPath } : {}) };
    });
}

/** Chooses a state machine by logical id, or by a predicate over {@link StateMachineInfo}. */
export type StateMachineSelector = string | ((stateMachine: StateMachineInfo) => boolean);

/**
 * Turns the definition of one state machine of a synthesized template into its Amazon States
 * Language JSON: resolves the intrinsics of `DefinitionString` (or `Definition`) and applies
 * `DefinitionSubstitutions`.
 *
 * @throws CfnResolveError when the state machine is not found (or the predicate matches several),
 * when an intrinsic cannot be resolved locally, or when the result is not valid JSON.
 */
export function resolveDefinition(
  template: CfnTemplate,
  stateMachine: StateMachineSelector,
  options: ResolveOptions = {},
): Record<string, unknown> {
  const all = findStateMachines(template, options);
  const matches =
    typeof stateMachine === 'string' ? all.filter((sm) => sm.logicalId === stateMachine) : all.filter(stateMachine);
  const listing = all.map((sm) => `${sm.logicalId} (${sm.name})`).join(', ') || 'none';
  if (matches.length !== 1) {
    const what = typeof stateMachine === 'string' ? `logical id ${stateMachine}` : 'the predicate';
    throw new CfnResolveError(
      `${matches.length === 0 ? 'no' : `${matches.length}`} state machines match ${what}; the template has: ${listing}`,
      'Resources',
    );
  }
  const { logicalId } = matches[0]!;
  const props = template.Resources?.[logicalId]?.Properties ?? {};
  const at = `Resources.${logicalId}.Properties`;
  const resolver = new CfnResolver(template, options);

  const substitutions: Record<string, string> = {};
  for (const [key, value] of Object.entries(
    (resolver.resolve(props['DefinitionSubstitutions'] ?? {}, `${at}.DefinitionSubstitutions`) ?? {}) as Record<
      string,
      unknown
    >,
  )) {
    substitutions[key] = asString(value, `DefinitionSubstitutions.${key}`, `${at}.DefinitionSubstitutions`);
  }
  const substitute = (text: string): string =>
    text.replace(/\$\{([^}]+)\}/g, (match, key: string) =>
      Object.hasOwn(substitutions, key) ? substitutions[key]! : match,
    );

  if (props['DefinitionString'] !== undefined) {
    const text = substitute(
      asString(resolver.resolve(props['DefinitionString'], `${at}.DefinitionString`), 'DefinitionString', at),
    );
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch (error) {
      throw new CfnResolveError(`DefinitionString is not valid JSON once resolved`, `${at}.DefinitionString`, {
        cause: error,
      });
    }
  }
  if (props['Definition'] !== undefined) {
    const substituteAll = (value: unknown): unknown => {
      if (typeof value === 'string') return substitute(value);
      if (Array.isArray(value)) return value.map(substituteAll);
      if (value && typeof value === 'object') {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteAll(v)]));
      }
      return value;
    };
    return substituteAll(resolver.resolve(props['Definition'], `${at}.Definition`)) as Record<string, unknown>;
  }
  throw new CfnResolveError(
    'the state machine has neither DefinitionString nor Definition (DefinitionS3Location cannot be read locally)',
    at,
  );
}

/** A Lambda function of a template, resolved, as {@link findLambdaFunctions} lists it. */
export interface LambdaFunctionInfo {
  /** Logical id, which is also the local function name. */
  readonly logicalId: string;
  /** `arn:<partition>:lambda:<region>:<account>:function:<logicalId>` (or its override). */
  readonly arn: string;
  /** `Handler` property (e.g. `index.handler`), when set. */
  readonly handler?: string;
  /** Timeout in seconds (Lambda's default is 3). */
  readonly timeoutSeconds: number;
  /** Memory in MB (Lambda's default is 128). */
  readonly memoryMb: number;
  /** `Environment.Variables`, resolved. */
  readonly environment: Readonly<Record<string, string>>;
  /** The construct path, when the template carries `aws:cdk:path` metadata. */
  readonly cdkPath?: string;
}

/**
 * Lists the Lambda functions of a template with their resolved environment variables, timeout and
 * memory, so local handlers can be run with the settings the stack gives them.
 *
 * @throws CfnResolveError when an environment variable cannot be resolved locally.
 */
export function findLambdaFunctions(template: CfnTemplate, options: ResolveOptions = {}): LambdaFunctionInfo[] {
  const resolver = new CfnResolver(template, options);
  return Object.entries(template.Resources ?? {})
    .filter(([, resource]) => resource.Type === 'AWS::Lambda::Function')
    .map(([logicalId, resource]) => {
      const at = `Resources.${logicalId}.Properties`;
      const props = resource.Properties ?? {};
      const variables = resolver.resolve(
        (props['Environment'] as { Variables?: unknown } | undefined)?.Variables ?? {},
        `${at}.Environment.Variables`,
      ) as Record<string, unknown>;
      const environment: Record<string, string> = {};
      for (const [key, value] of Object.entries(variables)) {
        environment[key] = asString(value, `environment variable ${key}`, `${at}.Environment.Variables`);
      }
      const handler = resolver.resolve(props['Handler'], `${at}.Handler`);
      const cdkPath = resource.Metadata?.['aws:cdk:path'];
      return {
        logicalId,
        arn: resolver.getAtt(logicalId, 'Arn'),
        ...(typeof handler === 'string' ? { handler } : {}),
        timeoutSeconds: Number(resolver.resolve(props['Timeout'] ?? 3, `${at}.Timeout`)),
        memoryMb: Number(resolver.resolve(props['MemorySize'] ?? 128, `${at}.MemorySize`)),
        environment,
        ...(typeof cdkPath === 'string' ? { cdkPath } : {}),
      };
    });
}
