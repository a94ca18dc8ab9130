// Bundles the public type declarations: one file an entry (dist/index.d.ts, dist/openai.d.ts,
// dist/openai-agents.d.ts, dist/langgraph.d.ts) holding only what that entry exports, so that the package's types
// never reach into drizzle, PGlite or an optional peer a consumer did not install, and check
// with `skipLibCheck: false`. Each is written twice, as .d.ts (CommonJS consumers) and .d.mts
// (ESM consumers, so that `openai` resolves in the same mode as the consumer's own import),
// beside an ESM wrapper (.mjs) that re-exports the CommonJS build: one instance, two doors.
// Run by `npm run build` after tsc has written the JS to dist/ and the declarations to .types/.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { dts } from 'rollup-plugin-dts';

const TYPES = path.resolve('.types');
const require = createRequire(import.meta.url);

/** entry name → declaration file; the integration entries own only the files listed. */
const ENTRIES = {
  index: { input: 'index.d.ts', owns: [] },
  openai: { input: 'openai.d.ts', owns: ['integrations/openai/chat.d.ts'] },
  'openai-agents': { input: 'openai-agents.d.ts', owns: ['integrations/openai/agents-session.d.ts'] },
  langgraph: { input: 'langgraph.d.ts', owns: ['integrations/langgraph/index.d.ts', 'integrations/langgraph/saver.d.ts', 'integrations/langgraph/thread.d.ts', 'integrations/langgraph/tuple.d.ts'] },
};

/**
 * In an integration entry, every module of the core resolves to the package root
 * ('session-vault'), so that classes (VaultSession, Vault) keep one declaration across
 * entries and a session from the root is the session RecordedChat takes.
 */
function coreFromRoot(name, owns) {
  return {
    name: 'core-from-root',
    async resolveId(source, importer, options) {
      if (name === 'index' || !importer || !source.startsWith('.')) return null;
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      if (!resolved || !resolved.id.startsWith(TYPES)) return resolved;
      const rel = path.relative(TYPES, resolved.id).split(path.sep).join('/');
      return owns.includes(rel) ? resolved : { id: 'session-vault', external: true };
    },
  };
}

/** The ESM wrapper: the CommonJS entry's exports, by name. */
function esmWrapper(name) {
  return {
    name: 'esm-wrapper',
    writeBundle() {
      const names = Object.keys(require(`./dist/${name}.js`)).filter((n) => n !== 'default' && n !== '__esModule');
      const body = `import cjs from './${name}.js';\nexport const { ${names.join(', ')} } = cjs;\n`;
      writeFileSync(`dist/${name}.mjs`, body);
    },
  };
}

export default Object.entries(ENTRIES).flatMap(([name, { input, owns }]) =>
  ['d.ts', 'd.mts'].map((ext) => ({
    input: path.join(TYPES, input),
    output: { file: `dist/${name}.${ext}`, format: 'es' },
    external: (id) => !id.startsWith('.') && !path.isAbsolute(id),
    plugins: [coreFromRoot(name, owns), dts({ respectExternal: false }), ...(ext === 'd.mts' ? [esmWrapper(name)] : [])],
  })),
);
