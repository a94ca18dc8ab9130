// What the key-memory tests' processes do with an open vault: create a tenant (tenant
// key), write and read a session (session key, event keys), replay it.
module.exports = async function useEveryKey(vault) {
  await vault.createTenant('bank');
  const s = vault.session('bank', 's');
  await s.appendMany([
    { type: 'message', role: 'user', content: 'What is my balance?' },
    { type: 'tool_call', callId: 'c1', tool: 'balance', input: { account: 'chk' } },
    { type: 'tool_result', callId: 'c1', output: { usd: 1250 } },
  ]);
  for await (const _ of s.events());
  await s.state();
};
