// One process of the Agents SDK resume test (runs the built library in dist/): the real
// Agents SDK runner, the real openai client pointed at the loopback stand-in, and the
// vault session as the SDK's Session. Prints the run's final output as JSON.
// argv: home database tenant session baseURL input
const OpenAI = require('openai').default;
const { Agent, run, setDefaultOpenAIClient, setOpenAIAPI, setTracingDisabled } = require('@openai/agents');
const { openVault } = require('../../dist');
const { createLogger } = require('../../dist/observability');
const { VaultAgentSession } = require('../../dist/openai-agents');

async function main() {
  const [home, database, tenant, session, baseURL, input] = process.argv.slice(2);
  setTracingDisabled(true); // nothing leaves the machine
  setDefaultOpenAIClient(new OpenAI({ apiKey: 'test-key', baseURL, maxRetries: 0 }));
  setOpenAIAPI('responses');
  const vault = await openVault({ home, database: database === '-' ? undefined : database, logger: createLogger({ level: 'silent' }), lockTimeoutMs: 120000 });
  try {
    const agent = new Agent({ name: 'teller', instructions: 'You are a bank assistant.', model: 'gpt-4.1-mini' });
    const result = await run(agent, input, { session: new VaultAgentSession(vault.session(tenant, session)) });
    process.stdout.write(JSON.stringify({ finalOutput: result.finalOutput }) + '\n');
  } finally {
    await vault.close();
  }
}
main().catch((e) => {
  process.stderr.write(`agent worker error ${e && e.code}: ${e && e.message}\n`);
  process.exit(9);
});
