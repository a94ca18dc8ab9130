import { execFileSync } from 'node:child_process';
import path from 'node:path';

/**
 * What `npm pack` ships: the built library and CLI, the migrations, the docs, README and
 * LICENSE, and nothing else from the repository (no keyring, bundle, home folder, test or
 * source file that happens to sit in the root).
 */
it('npm pack ships only dist/, drizzle/, docs/, README.md, LICENSE and package.json', () => {
  const root = path.join(__dirname, '..', '..');
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const files: string[] = JSON.parse(out)[0].files.map((f: { path: string }) => f.path);
  const allowed = (f: string) => /^(dist|drizzle|docs)\//.test(f) || ['README.md', 'LICENSE', 'package.json'].includes(f);
  expect(files.filter((f) => !allowed(f))).toEqual([]);
  for (const needed of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/bin.js', 'drizzle/meta/_journal.json', 'LICENSE']) expect(files).toContain(needed);
  expect(files.filter((f) => /\.test\.|keyring\.json|bundle.*\.json$|\.session-vault/.test(f))).toEqual([]);
  const pkg = require(path.join(root, 'package.json'));
  expect(pkg.private).toBeUndefined();
  expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' });
}, 120_000);
