/**
 * Reads an operator's catalogued tables the way Athena reads them, from the Glue table definitions
 * of the synthesized stack: which S3 objects a table's query scans, given its location, input
 * format and partition projection. Locally the objects live in s3rver; tests, the demo and
 * `connector run --local` use this to see exactly what an analyst would see, no more.
 *
 * - A plain Parquet table (`MapredParquetInputFormat`) reads every object under its location (or
 *   under each projected partition location), skipping names that start with `_` or `.`, as Hive does.
 * - A symlink table (`SymlinkTextInputFormat`) reads, in each partition location, every text file as
 *   a list of `s3://bucket/key` lines and reads exactly the objects listed.
 *
 * Partition projection of type `injected` (values come from the query) is read here as "every
 * partition present under the location": the union of what any query with static values can read.
 */
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { CfnResolver, type CfnTemplate, type ResolveOptions } from './cfn-resolve.ts';

/** Hive's symlink input format (the data files are listed by text files in the location). */
const SYMLINK_INPUT_FORMAT = 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat';

/** A Glue table of the template, resolved. */
export interface CatalogTable {
  readonly logicalId: string;
  readonly database: string;
  readonly name: string;
  /** `hive` for external tables, `iceberg` for open-table-format Iceberg tables. */
  readonly format: 'hive' | 'iceberg';
  /** `s3://<bucket>/<prefix>` */
  readonly location: string;
  /** Hive input format (empty for Iceberg tables). */
  readonly inputFormat: string;
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  readonly partitionKeys: readonly string[];
  readonly parameters: Readonly<Record<string, string>>;
}

/** A data file a query of the table scans, with the partition values it belongs to. */
export interface TableFile {
  readonly bucket: string;
  readonly key: string;
  readonly partition: Readonly<Record<string, string>>;
}

/** The Glue tables (`AWS::Glue::Table`) of a synthesized template, with their intrinsics resolved. */
export function catalogTables(template: CfnTemplate, options: ResolveOptions = {}): CatalogTable[] {
  const resolver = new CfnResolver(template, options);
  const tables: CatalogTable[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources ?? {})) {
    if (resource.Type !== 'AWS::Glue::Table') continue;
    const props = resolver.resolve(resource.Properties, `Resources.${logicalId}.Properties`) as {
      DatabaseName: string;
      OpenTableFormatInput?: {
        IcebergInput?: {
          IcebergTableInput?: {
            Location: string;
            Schema: { Fields: { Name: string; Type: string }[] };
          };
        };
      };
      TableInput: {
        Name: string;
        Parameters?: Record<string, string>;
        PartitionKeys?: { Name: string }[];
        StorageDescriptor?: {
          Location?: string;
          InputFormat?: string;
          Columns?: { Name: string; Type: string }[];
        };
      };
    };
    const input = props.TableInput;
    const iceberg = props.OpenTableFormatInput?.IcebergInput?.IcebergTableInput;
    if (iceberg) {
      tables.push({
        logicalId,
        database: props.DatabaseName,
        name: input.Name,
        format: 'iceberg',
        location: iceberg.Location,
        inputFormat: '',
        columns: iceberg.Schema.Fields.map((f) => ({ name: f.Name, type: f.Type })),
        partitionKeys: [],
        parameters: {},
      });
      continue;
    }
    tables.push({
      logicalId,
      database: props.DatabaseName,
      name: input.Name,
      format: 'hive',
      location: input.StorageDescriptor?.Location ?? '',
      inputFormat: input.StorageDescriptor?.InputFormat ?? '',
      columns: (input.StorageDescriptor?.Columns ?? []).map((c) => ({ name: c.Name, type: c.Type })),
      partitionKeys: (input.PartitionKeys ?? []).map((k) => k.Name),
      parameters: input.Parameters ?? {},
    });
  }
  return tables;
}

function parseS3(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(uri);
  if (!m) throw new Error(`not an s3:// URI: ${JSON.stringify(uri)}`);
  return { bucket: m[1]!, key: m[2]! };
}

async function listObjects(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

/** Hive skips files whose name starts with `_` or `.` (markers, temporary files). */
function hidden(key: string): boolean {
  const name = key.slice(key.lastIndexOf('/') + 1);
  return name.startsWith('_') || name.startsWith('.') || name.length === 0;
}

/**
 * The partition values of a key under the table location: from the projection's
 * `storage.location.template` when the table has one, else Hive-style `k=v` path segments.
 */
function partitionOf(table: CatalogTable, bucket: string, key: string): Record<string, string> | undefined {
  if (table.partitionKeys.length === 0) return {};
  const template = table.parameters['storage.location.template'];
  if (table.parameters['projection.enabled'] === 'true' && template) {
    const names: string[] = [];
    const pattern = template
      .replace(`s3://${bucket}/`, '')
      .split(/(\$\{[a-z_][a-z0-9_]*\})/)
      .map((part) => {
        const m = /^\$\{([a-z_][a-z0-9_]*)\}$/.exec(part);
        if (m) {
          names.push(m[1]!);
          return '([^/]+)';
        }
        return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('');
    const match = new RegExp(`^${pattern}([^/]+)$`).exec(key);
    if (!match) return undefined;
    return Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(match[i + 1]!)]));
  }
  const values: Record<string, string> = {};
  for (const segment of key.split('/').slice(0, -1)) {
    const eq = segment.indexOf('=');
    if (eq > 0) values[segment.slice(0, eq)] = decodeURIComponent(segment.slice(eq + 1));
  }
  return table.partitionKeys.every((k) => k in values) ? values : undefined;
}

/** The data files a query of the whole table scans (every partition present). */
export async function tableFiles(s3: S3Client, table: CatalogTable): Promise<TableFile[]> {
  if (table.format !== 'hive')
    throw new Error(`${table.name} is an ${table.format} table; read it with the local engine`);
  const { bucket, key: prefix } = parseS3(table.location);
  const files: TableFile[] = [];
  for (const key of await listObjects(s3, bucket, prefix)) {
    if (hidden(key)) continue;
    const partition = partitionOf(table, bucket, key);
    if (!partition) continue;
    if (table.inputFormat === SYMLINK_INPUT_FORMAT) {
      const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const text = await out.Body!.transformToString();
      for (const line of text.split('\n')) {
        if (line.trim().length === 0) continue;
        files.push({ ...parseS3(line.trim()), partition });
      }
    } else {
      files.push({ bucket, key, partition });
    }
  }
  return files;
}

/**
 * The data files of one stream's landed table (`<stream>_landed`) of a synthesized operator stack:
 * exactly the parts of committed windows, each with its `run_id` and `window_id`.
 */
export async function landedTableFiles(
  s3: S3Client,
  synthesized: { readonly template: CfnTemplate; readonly resolve: ResolveOptions },
  stream: string,
): Promise<TableFile[]> {
  const name = `${stream}_landed`;
  const table = catalogTables(synthesized.template, synthesized.resolve).find((t) => t.name === name);
  if (!table) throw new Error(`the stack catalogues no table ${name}`);
  return tableFiles(s3, table);
}
