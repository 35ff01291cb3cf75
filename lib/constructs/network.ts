/**
 * Where the extractor Lambdas of a database source run: an existing VPC of the operator's choosing,
 * or a created VPC whose NAT gateway has one Elastic IP the operator allow-lists.
 */
import { type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { DatabaseSourceConfig, OperatorConfig } from '#shared/config/schema';
import { acknowledgeFindings } from '../nag.ts';
import { EncryptedLogGroup } from './log-group.ts';

/** The `source.network` block of a database source. */
export type NetworkConfig = DatabaseSourceConfig['network'];

export interface NetworkProps {
  /** Existing VPC to import, or the VPC to create. */
  readonly network: NetworkConfig;
  /** TCP port of the operator database; the only non-HTTPS port extractors may connect to. */
  readonly databasePort: number;
  /** The operator's customer-managed key; encrypts the VPC flow logs. */
  readonly encryptionKey: kms.IKey;
  /** Name of the flow-log group (under the landing zone's log-group prefix); created networks only. */
  readonly flowLogGroupName: string;
  /** Days flow logs are kept. */
  readonly logRetentionDays: OperatorConfig['retention']['logDays'];
  /**
   * What `cdk destroy` does to the flow-log group.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * `mode: existing` imports the VPC, subnets and security groups from the config without any
 * lookup (synthesis stays offline). `mode: created` builds a VPC with public and private subnets,
 * one NAT gateway with an explicit Elastic IP, S3 and DynamoDB gateway endpoints, flow logs to an
 * encrypted log group, and an extractor security group with no inbound rules.
 */
export class Network extends Construct {
  /** The VPC the extractors run in. */
  public readonly vpc: ec2.IVpc;
  /** The subnets to place extractor Lambdas in. */
  public readonly subnetSelection: ec2.SubnetSelection;
  /** Security groups to attach to extractor Lambdas. */
  public readonly securityGroups: ec2.ISecurityGroup[];
  /** The NAT gateway's Elastic IP, the one source address the operator allow-lists (created mode only). */
  public readonly egressIp?: ec2.CfnEIP;
  /** The log group receiving VPC flow logs (created mode only). */
  public readonly flowLogGroup?: EncryptedLogGroup;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const { network } = props;

    if (network.mode === 'existing') {
      const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: network.vpcId,
        availabilityZones: network.availabilityZones,
        privateSubnetIds: network.subnetIds,
      });
      this.vpc = vpc;
      this.subnetSelection = { subnets: vpc.privateSubnets };
      for (const subnet of vpc.privateSubnets) {
        acknowledgeFindings(
          subnet,
          ['Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId'],
          "The operator's subnets are only used to place extractor network interfaces; the stack neither reads nor changes their route tables, which the operator manages.",
        );
      }
      // The operator's security groups are theirs: the stack never adds rules to them.
      this.securityGroups = network.securityGroupIds.map((sg, i) =>
        ec2.SecurityGroup.fromSecurityGroupId(this, `SecurityGroup${i + 1}`, sg, { mutable: false }),
      );
      return;
    }

    const eip = new ec2.CfnEIP(this, 'NatEip', { domain: 'vpc' });
    this.egressIp = eip;
    const vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(network.cidr),
      maxAzs: network.maxAzs,
      natGateways: 1,
      natGatewayProvider: ec2.NatProvider.gateway({ eipAllocationIds: [eip.attrAllocationId] }),
      subnetConfiguration: [
        // The public subnets hold only the NAT gateway, which has its own Elastic IP.
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        { name: 'Extractors', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      restrictDefaultSecurityGroup: true,
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
    });
    this.vpc = vpc;
    this.subnetSelection = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };

    for (const subnet of vpc.publicSubnets) {
      const route = subnet.node.tryFindChild('DefaultRoute');
      if (route) {
        acknowledgeFindings(
          route,
          ['PCI.DSS.321-VPCNoUnrestrictedRouteToIGW', 'NIST.800.53.R5-VPCNoUnrestrictedRouteToIGW'],
          "This is the public subnet's route to the internet gateway that the NAT gateway needs to reach the operator database from its allow-listed Elastic IP; the public subnets hold nothing else (no public IPs are assigned) and extractors run in private subnets.",
        );
      }
    }

    this.flowLogGroup = addEncryptedFlowLog(this, vpc, {
      logGroupName: props.flowLogGroupName,
      encryptionKey: props.encryptionKey,
      retentionDays: props.logRetentionDays,
      ...(props.removalPolicy ? { removalPolicy: props.removalPolicy } : {}),
    });

    const extractors = new ec2.SecurityGroup(this, 'ExtractorSecurityGroup', {
      vpc,
      description: 'Connector extractors: no inbound; outbound HTTPS to AWS APIs and the database port',
      allowAllOutbound: false,
    });
    extractors.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS APIs');
    if (props.databasePort !== 443) {
      extractors.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(props.databasePort), 'Operator database');
    }
    this.securityGroups = [extractors];
  }
}

/**
 * Sends every flow of `vpc` to a new log group encrypted with the operator key, through a role
 * that only the flow-log service of this account may assume and whose one customer-managed policy
 * may only write to that log group.
 */
export function addEncryptedFlowLog(
  scope: Construct,
  vpc: ec2.Vpc,
  props: {
    readonly logGroupName: string;
    readonly encryptionKey: kms.IKey;
    readonly retentionDays: OperatorConfig['retention']['logDays'];
    readonly removalPolicy?: RemovalPolicy;
  },
): EncryptedLogGroup {
  const flowLogGroup = new EncryptedLogGroup(scope, 'FlowLogs', {
    logGroupName: props.logGroupName,
    encryptionKey: props.encryptionKey,
    retentionDays: props.retentionDays,
    ...(props.removalPolicy ? { removalPolicy: props.removalPolicy } : {}),
  });
  const stack = Stack.of(scope);
  const flowLogRole = new iam.Role(scope, 'FlowLogRole', {
    assumedBy: new iam.ServicePrincipal('vpc-flow-logs.amazonaws.com', {
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: {
          'aws:SourceArn': stack.formatArn({ service: 'ec2', resource: 'vpc-flow-log', resourceName: '*' }),
        },
      },
    }),
    description: 'Delivers VPC flow logs to their encrypted log group',
  });
  // A customer-managed policy instead of the inline policy CDK would add (no inline policies).
  new iam.ManagedPolicy(scope, 'FlowLogPolicy', {
    roles: [flowLogRole],
    statements: [
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: [flowLogGroup.logGroup.logGroupArn],
      }),
    ],
  });
  vpc.addFlowLog('FlowLog', {
    destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup.logGroup, flowLogRole.withoutPolicyUpdates()),
    trafficType: ec2.FlowLogTrafficType.ALL,
  });
  return flowLogGroup;
}
