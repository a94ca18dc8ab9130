// The heap-snapshot test's process (runs the built library in dist/): takes the master key
// from the environment as a deployment would, uses every key (tenant key, session key,
// event keys) by writing and reading, then writes a heap snapshot with the vault still
// open and its keys cached. argv: home snapshotPath
const v8 = require('node:v8');
const useEveryKey = require('./use-every-key');
const { openVault, EnvKeyProvider } = require('../../dist');

async function main() {
  const [home, snapshot] = process.argv.slice(2);
  const keyProvider = EnvKeyProvider.fromBase64(process.env.VAULT_MASTER_KEY);
  delete process.env.VAULT_MASTER_KEY;
  const vault = await openVault({ home, keyProvider, checkpoints: false, logLevel: 'silent' });
  await useEveryKey(vault);
  v8.writeHeapSnapshot(snapshot);
  await vault.close();
  process.stdout.write('done\n');
}
main().catch((e) => {
  process.stderr.write(`heap worker error ${e && e.code}: ${e && e.message}\n`);
  process.exit(9);
});
