// The core-file test's process (runs the built library in dist/): the master key in a
// PKCS#11 token, every key used by writing and reading, then SIGABRT with the vault open
// and its keys cached, so the kernel writes a core file. A known marker is kept in
// ordinary memory to show the core holds the heap. argv: home database marker(hex)
const useEveryKey = require('./use-every-key');
const { openVault, Pkcs11KeyProvider } = require('../../dist');

async function main() {
  const [home, database, markerHex] = process.argv.slice(2);
  globalThis.marker = Buffer.from(markerHex, 'hex');
  const options = { module: process.env.PKCS11_MODULE, token: process.env.PKCS11_TOKEN, pin: process.env.PKCS11_PIN, keyLabel: 'core-master' };
  await Pkcs11KeyProvider.createMasterKey(options);
  const keyProvider = await Pkcs11KeyProvider.open(options);
  const vault = await openVault({ home, database: database === '-' ? undefined : database, keyProvider, checkpoints: false, logLevel: 'silent' });
  await useEveryKey(vault);
  process.stdout.write('aborting\n', () => process.abort());
}
main().catch((e) => {
  process.stderr.write(`core worker error ${e && e.code}: ${e && e.message}\n`);
  process.exit(9);
});
