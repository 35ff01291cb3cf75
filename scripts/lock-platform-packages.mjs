#!/usr/bin/env node
/**
 * Keeps `npm ci` working on machines whose registry lacks some platform-specific optional
 * packages (for example a mirror without the macOS or Windows builds of biome and DuckDB).
 * `npm install` then leaves those optional dependencies out of package-lock.json, and `npm ci`
 * refuses the lockfile as out of sync. This script adds a lock entry, with the os/cpu/libc
 * constraints the name encodes, for every optional dependency that is missing, so npm skips it
 * on other platforms and fetches it by version where it applies. Idempotent; run after installs.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages ?? {};
const OS = ['darwin', 'linux', 'win32', 'android', 'freebsd', 'openbsd', 'netbsd', 'sunos', 'aix'];
const CPU = ['arm64', 'x64', 'arm', 'ia32', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el'];

function constraints(name) {
  const parts = name.split('/').pop().split('-');
  const os = parts.find((p) => OS.includes(p));
  const cpu = parts.find((p) => CPU.includes(p));
  if (!os || !cpu) return undefined;
  const libc = os === 'linux' ? (parts.includes('musl') ? 'musl' : 'glibc') : undefined;
  return { os, cpu, libc };
}

let added = 0;
for (const [location, entry] of Object.entries(packages)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${dep}`;
    const nested = `${location}/node_modules/${dep}`;
    if (packages[key] || packages[nested]) continue;
    const c = constraints(dep);
    if (!c) {
      console.warn(`lock-platform-packages: cannot infer platform of ${dep}; left out`);
      continue;
    }
    packages[key] = {
      version,
      cpu: [c.cpu],
      ...(entry.dev ? { dev: true } : {}),
      ...(c.libc ? { libc: [c.libc] } : {}),
      optional: true,
      os: [c.os],
    };
    added++;
  }
}
if (added > 0) {
  lock.packages = Object.fromEntries(
    Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
  );
  writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
  console.log(`lock-platform-packages: added ${added} platform entries to package-lock.json`);
}
