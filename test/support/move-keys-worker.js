// One process of the key-move test (runs the built library in dist/): opens the vault with
// a KMS key provider (the keyring file's master keys stay a fallback for unwrapping) and
// moves every tenant key under KMS, printing each move as it is stored.
// argv: home database kmsEndpoint
const { openVault, KmsKeyProvider } = require('../../dist');
const { createLogger } = require('../../dist/observability');

async function main() {
  const [home, database, endpoint] = process.argv.slice(2);
  const keyProvider = new KmsKeyProvider({ keyId: 'alias/session-vault', client: { endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test-secret' } } });
  const vault = await openVault({ home, database: database === '-' ? undefined : database, keyProvider, logger: createLogger({ level: 'silent' }), lockTimeoutMs: 120000, migrate: false });
  try {
    const r = await vault.operator({ actor: 'key-custodian', reason: 'move to KMS' }).rotateMaster((done, total) => process.stdout.write(`moved ${done}/${total}\n`));
    process.stdout.write(JSON.stringify(r) + '\n');
  } finally {
    await vault.close();
  }
}
main().catch((e) => {
  process.stderr.write(`move worker error ${e && e.code}: ${e && e.message}\n`);
  process.exit(9);
});
