import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import semver from 'semver';

const root = path.join(__dirname, '..', '..');
const OPTIONAL = ['openai', '@openai/agents', '@aws-sdk/client-s3', '@electric-sql/pglite', '@langchain/langgraph-checkpoint', '@langchain/core', '@langchain/langgraph'];

/**
 * What `npm pack` ships: the built library and CLI, the migrations, the docs, README and
 * LICENSE, and nothing else from the repository (no keyring, bundle, home folder, test or
 * source file that happens to sit in the root).
 */
it('npm pack ships only dist/, drizzle/, docs/, README.md, LICENSE and package.json', () => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const files: string[] = JSON.parse(out)[0].files.map((f: { path: string }) => f.path);
  const allowed = (f: string) => /^(dist|drizzle|docs)\//.test(f) || ['README.md', 'LICENSE', 'package.json'].includes(f);
  expect(files.filter((f) => !allowed(f))).toEqual([]);
  for (const needed of ['dist/index.js', 'dist/index.d.ts', 'dist/index.mjs', 'dist/index.d.mts', 'dist/openai.d.ts', 'dist/openai-agents.d.mts', 'dist/langgraph.d.ts', 'dist/langgraph.mjs', 'dist/cli/bin.js', 'drizzle/meta/_journal.json', 'LICENSE']) {
    expect(files).toContain(needed);
  }
  // Only the bundled entry declarations: no per-module .d.ts that would reach into drizzle.
  expect(files.filter((f) => /\.d\.m?ts$/.test(f)).sort()).toEqual(
    ['index', 'openai', 'openai-agents', 'langgraph'].flatMap((e) => [`dist/${e}.d.mts`, `dist/${e}.d.ts`]).sort(),
  );
  expect(files.filter((f) => /\.test\.|keyring\.json|bundle.*\.json$|\.session-vault/.test(f))).toEqual([]);
  const pkg = require(path.join(root, 'package.json'));
  expect(pkg.private).toBeUndefined();
  for (const dep of OPTIONAL) expect(pkg.dependencies[dep]).toBeUndefined();
}, 120_000);

/**
 * The lowest Node.js package.json's `engines` admits runs every package the vault can load:
 * its dependencies, optional and peer ones, and theirs, as installed here (what
 * `npm install` in this repository gives a newcomer). A package that wants a later Node.js
 * makes npm warn "Unsupported engine" on the README's first command, and may fail there.
 * Found so: cookie 2, which fastify's test helper (light-my-request) brings and which wants
 * Node.js 22; package.json's `overrides` gives that helper cookie 1, whose API it uses.
 */
it('every package the vault can load runs on the lowest Node.js its engines admit', () => {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const floor = semver.minVersion(pkg.engines.node)!.version;
  const wants = new Map<string, string>(); // package folder → its engines.node where the floor is outside it
  const seen = new Set<string>();
  const visit = (dir: string) => {
    if (seen.has(dir)) return;
    seen.add(dir);
    const p = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const range: string | undefined = p.engines?.node;
    if (range && !semver.satisfies(floor, range)) wants.set(`${p.name}@${p.version} (${path.relative(root, dir)})`, range);
    for (const name of Object.keys({ ...p.dependencies, ...p.optionalDependencies })) {
      const found = installed(dir, name);
      if (found) visit(found);
    }
  };
  for (const name of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies, ...pkg.peerDependencies })) {
    const found = installed(root, name);
    expect([name, found !== null]).toEqual([name, true]); // every direct one is installed here (peers as dev dependencies)
    visit(found!);
  }
  expect(seen.size).toBeGreaterThan(100);
  expect(Object.fromEntries(wants)).toEqual({});
});

/** Where Node.js finds package `name` from the package in `dir`: its own node_modules, then each enclosing one. */
function installed(dir: string, name: string): string | null {
  for (let at = dir; ; ) {
    const candidate = path.join(at, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (at === root) return null;
    // Up to the folder that holds the node_modules this package sits in (…/node_modules/@scope/name or …/node_modules/name).
    const parts = path.relative(root, at).split(path.sep);
    const nm = parts.lastIndexOf('node_modules');
    at = nm <= 0 ? root : path.join(root, ...parts.slice(0, nm));
  }
}

/**
 * A consumer of the packed tarball, as a new user would have it: the package in
 * node_modules/session-vault, its dependencies beside it (linked from this repository's
 * node_modules, so no network), optionally without the optional ones.
 */
function consumer(tarball: string, without: string[]): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sv-consumer-'));
  const nm = path.join(dir, 'node_modules');
  mkdirSync(nm);
  const skip = new Set(['session-vault', ...without]);
  for (const name of readdirSync(path.join(root, 'node_modules'))) {
    if (name.startsWith('@')) {
      mkdirSync(path.join(nm, name));
      for (const sub of readdirSync(path.join(root, 'node_modules', name))) {
        if (!skip.has(`${name}/${sub}`)) symlinkSync(path.join(root, 'node_modules', name, sub), path.join(nm, name, sub));
      }
    } else if (!skip.has(name)) {
      symlinkSync(path.join(root, 'node_modules', name), path.join(nm, name));
    }
  }
  mkdirSync(path.join(nm, 'session-vault'));
  execFileSync('tar', ['xzf', tarball, '-C', path.join(nm, 'session-vault'), '--strip-components=1']);
  return dir;
}

const MODES: Record<string, { type: string; flags: string[] }> = {
  'nodenext (ESM)': { type: 'module', flags: ['--module', 'nodenext', '--moduleResolution', 'nodenext'] },
  'nodenext (CommonJS)': { type: 'commonjs', flags: ['--module', 'nodenext', '--moduleResolution', 'nodenext'] },
  bundler: { type: 'module', flags: ['--module', 'esnext', '--moduleResolution', 'bundler'] },
  'commonjs (node10)': { type: 'commonjs', flags: ['--module', 'commonjs', '--moduleResolution', 'node10', '--esModuleInterop'] },
};

function typecheck(dir: string, mode: string, file: string): string {
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: MODES[mode]!.type }));
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [tsc, '--noEmit', '--strict', '--skipLibCheck', 'false', '--target', 'es2022', '--types', 'node', ...MODES[mode]!.flags, file];
  const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.trim();
}

describe('the packed package, as a TypeScript consumer gets it', () => {
  let tarball: string;
  let packDir: string;
  const made: string[] = [];

  beforeAll(() => {
    packDir = mkdtempSync(path.join(os.tmpdir(), 'sv-pack-'));
    const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packDir], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    tarball = path.join(packDir, JSON.parse(out)[0].filename);
  }, 120_000);
  afterAll(() => {
    for (const d of [packDir, ...made]) rmSync(d, { recursive: true, force: true });
  });

  const USES_EVERYTHING = `
import { openVault, VaultError, fullHistory, slidingWindow, type AgentState, type KeyProvider, type VaultSession, type S3Settings } from 'session-vault';
import { RecordedChat } from 'session-vault/openai';
import { VaultAgentSession } from 'session-vault/openai-agents';
import { VaultCheckpointSaver } from 'session-vault/langgraph';
import { MemorySaver, type BaseCheckpointSaver } from '@langchain/langgraph-checkpoint';
import OpenAI from 'openai';

export async function graphs(vault: Awaited<ReturnType<typeof openVault>>): Promise<BaseCheckpointSaver[]> {
  const saver = new VaultCheckpointSaver({ vault, tenant: 'acme' });
  await saver.getTuple({ configurable: { thread_id: 't-1' } });
  return [saver, new MemorySaver()];
}

export async function turn(question: string): Promise<AgentState> {
  const s3: S3Settings = { region: 'eu-west-1', forcePathStyle: true };
  const vault = await openVault({ home: './vault', s3 });
  const session: VaultSession = vault.session('acme', 'conv-1');
  const chat = new RecordedChat({ client: new OpenAI({ apiKey: 'sk-test' }), session, model: 'gpt-4o-mini', context: slidingWindow({ lastN: 20 }) });
  await chat.send(question);
  const agents = new VaultAgentSession(session);
  await agents.getItems(10);
  const provider: KeyProvider | undefined = undefined;
  void provider; void fullHistory; void VaultError;
  return session.state();
}
`;

  it.each(Object.keys(MODES))('types check with skipLibCheck false under %s, openai client included', (mode) => {
    const dir = consumer(tarball, []);
    made.push(dir);
    writeFileSync(path.join(dir, 'consumer.ts'), USES_EVERYTHING);
    expect(typecheck(dir, mode, 'consumer.ts')).toBe('');
  }, 120_000);

  it('the root entry type-checks and loads with none of the optional dependencies installed', () => {
    const dir = consumer(tarball, OPTIONAL);
    made.push(dir);
    writeFileSync(
      path.join(dir, 'consumer.ts'),
      `import { openVault, type AgentState } from 'session-vault';
export async function latest(): Promise<AgentState> {
  const vault = await openVault({ database: 'postgres://app@db.internal/vault', archive: 's3://bucket/archive', s3: { region: 'eu-west-1' } });
  return vault.session('acme', 'conv-1').state();
}
`,
    );
    for (const mode of ['nodenext (ESM)', 'commonjs (node10)']) expect(typecheck(dir, mode, 'consumer.ts')).toBe('');
    // At run time the embedded store names the missing package instead of failing at load.
    writeFileSync(
      path.join(dir, 'run.cjs'),
      `require('session-vault').openVault({ home: ${JSON.stringify(path.join(dir, 'home'))} }).then(() => console.log('opened'), (e) => console.log(e.code, e.message));`,
    );
    const r = spawnSync(process.execPath, ['run.cjs'], { cwd: dir, encoding: 'utf8' });
    expect(r.stdout).toMatch(/^DEPENDENCY_MISSING .*npm install @electric-sql\/pglite/);
  }, 120_000);

  it('ESM and CommonJS consumers get the same instance: one class, one error type', () => {
    const dir = consumer(tarball, []);
    made.push(dir);
    writeFileSync(
      path.join(dir, 'run.mjs'),
      `import { createRequire } from 'node:module';
import { openVault, VaultError, VaultSession } from 'session-vault';
import { RecordedChat } from 'session-vault/openai';
import { VaultAgentSession } from 'session-vault/openai-agents';
import { VaultCheckpointSaver } from 'session-vault/langgraph';
const require = createRequire(import.meta.url);
const cjs = require('session-vault');
const vault = await openVault({ home: 'memory://' }).catch(() => null);
console.log(JSON.stringify({
  same: cjs.VaultError === VaultError && cjs.VaultSession === VaultSession && cjs.openVault === openVault,
  openai: require('session-vault/openai').RecordedChat === RecordedChat,
  agents: typeof VaultAgentSession,
  langgraph: require('session-vault/langgraph').VaultCheckpointSaver === VaultCheckpointSaver,
}));
await vault?.close();
`,
    );
    const r = spawnSync(process.execPath, ['run.mjs'], { cwd: dir, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ same: true, openai: true, agents: 'function', langgraph: true });
  }, 120_000);

  it('a custom key provider written against the public exports alone type-checks and runs a vault', () => {
    const dir = consumer(tarball, []);
    made.push(dir);
    // A stand-in for a bank's own key service: AES-256-GCM under a key it never hands out,
    // the tenant and version bound as associated data.
    const provider = (ts: boolean) => `
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { openVault, SecretBytes, exposeSecretBytes, KeyError${ts ? ', type KeyProvider, type TenantKeyRef' : ''} } from 'session-vault';

const serviceKey = randomBytes(32);
const aad = (ref${ts ? ': TenantKeyRef' : ''}) => Buffer.from(JSON.stringify([ref.tenant, ref.version]));
export const bankKeys${ts ? ': KeyProvider' : ''} = {
  masterKeyId: 'bank-kms:key-1',
  async wrapTenantKey(ref${ts ? ': TenantKeyRef' : ''}, key${ts ? ': SecretBytes' : ''}) {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', serviceKey, iv).setAAD(aad(ref));
    const body = Buffer.concat([c.update(exposeSecretBytes(key)), c.final(), c.getAuthTag()]);
    return { masterKeyId: 'bank-kms:key-1', wrapped: new Uint8Array(Buffer.concat([iv, body])) };
  },
  async unwrapTenantKey(ref${ts ? ': TenantKeyRef' : ''}, masterKeyId${ts ? ': string' : ''}, wrapped${ts ? ': Uint8Array' : ''}) {
    if (masterKeyId !== 'bank-kms:key-1') throw new KeyError('KEY_NOT_FOUND', 'not ours');
    const b = Buffer.from(wrapped);
    const d = createDecipheriv('aes-256-gcm', serviceKey, b.subarray(0, 12)).setAAD(aad(ref));
    d.setAuthTag(b.subarray(b.length - 16));
    return SecretBytes.adopt(new Uint8Array(Buffer.concat([d.update(b.subarray(12, b.length - 16)), d.final()])));
  },
};

export async function main() {
  // No keyring file: checkpoints off here (a deployment signs them with a signer of its own, openVault({ signer })).
  const vault = await openVault({ home: 'memory-home', database: 'memory://', keyProvider: bankKeys, checkpoints: false, logLevel: 'silent' });
  await vault.createTenant('bank');
  await vault.session('bank', 's').append({ type: 'message', role: 'user', content: 'wrapped by the bank' });
  const state = await vault.session('bank', 's').state();
  const keys = await vault.keys('bank');
  await vault.close();
  return { content: state.messages[0]${ts ? '!' : ''}.content, masterKeyId: keys[0]${ts ? '!' : ''}.masterKeyId };
}
`;
    writeFileSync(path.join(dir, 'custom.ts'), provider(true));
    for (const mode of ['nodenext (ESM)', 'commonjs (node10)']) expect(typecheck(dir, mode, 'custom.ts')).toBe('');
    writeFileSync(path.join(dir, 'custom.mjs'), provider(false) + '\nconsole.log(JSON.stringify(await main()));\n');
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    const r = spawnSync(process.execPath, ['custom.mjs'], { cwd: dir, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ content: 'wrapped by the bank', masterKeyId: 'bank-kms:key-1' });
  }, 120_000);
});
