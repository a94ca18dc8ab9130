import { promises as fs } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { ensureSodium } from '../../crypto';
import { createKeyringFile } from '../../keys';
import { withCorrelationId } from '../../observability';
import type { Vault } from '../../vault';
import type { CommandContext } from '../context';
import { json } from '../output';
import { renderState } from './replay';
import { renderReport } from './verify';

const TENANT = 'demo-insurer';

/**
 * `demo`: a scripted insurance-claims agent conversation, offline, end to end: init if
 * needed, a tenant, a session of messages, tool calls, results and state patches (each
 * turn under one correlation id), then the replayed state and the verification result.
 */
export async function demoCommand(ctx: CommandContext): Promise<number> {
  await ensureSodium();
  await fs.mkdir(ctx.config.home, { recursive: true, mode: 0o700 });
  await createKeyringFile(ctx.config.keyring, new Date());
  const session = `claim-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${randomUUID().slice(0, 8)}`;
  return ctx.withVault(async (vault) => {
    if (!(await vault.tenants()).some((t) => t.tenant === TENANT)) await vault.createTenant(TENANT);
    await script(vault, session);
    const state = await vault.session(TENANT, session).state();
    const report = await vault.verify({ tenant: TENANT, session });
    if (ctx.config.json) json(ctx.io, { tenant: TENANT, session, state, verify: report });
    else {
      ctx.io.out(`session-vault demo — store: ${vault.location}\n`);
      ctx.io.out(renderState(state));
      ctx.io.out('');
      ctx.io.out(renderReport(report));
      ctx.io.out(`\nTry: npx session-vault events ${TENANT} ${session} --actor you --reason "demo"`);
      ctx.io.out(`     npx session-vault export ${TENANT} ${session} --out demo-bundle.json --actor you && npx session-vault verify-bundle demo-bundle.json`);
    }
    return report.ok ? 0 : 1;
  }, { create: true });
}

async function script(vault: Vault, id: string): Promise<void> {
  const s = vault.session(TENANT, id);
  await withCorrelationId(`turn-1-${randomUUID()}`, () =>
    s.appendMany(
      [
        { type: 'message', role: 'system', content: 'You are a claims assistant for Example Mutual. Verify identity before discussing a policy.' },
        { type: 'task', task: 'Open a water-damage claim for the caller' },
        { type: 'message', role: 'user', content: 'Hi, my kitchen flooded last night. Policy HX-20417.' },
        { type: 'tool_call', callId: 'call_1', tool: 'lookup_policy', input: { policyId: 'HX-20417' } },
        {
          type: 'tool_result',
          callId: 'call_1',
          output: { holder: 'J. Rivera', coverage: ['water', 'fire'], deductibleUsd: 500, status: 'active' },
          summary: 'Active home policy, water covered, $500 deductible',
          durationMs: 42,
        },
        { type: 'state_patch', scope: 'tool', patch: { lookup_policy: { lastPolicy: 'HX-20417' } } },
        { type: 'state_patch', scope: 'world', patch: { customer: { policy: 'HX-20417', verified: false } } },
        {
          type: 'message',
          role: 'assistant',
          content: 'I found your policy; water damage is covered with a $500 deductible. Can you confirm your date of birth?',
          usage: { promptTokens: 412, completionTokens: 38 },
          costUsd: 0.00139,
        },
      ],
      { agent: 'claims-assistant' },
    ),
  );
  await withCorrelationId(`turn-2-${randomUUID()}`, () =>
    s.appendMany([
      { type: 'message', role: 'user', content: 'It is 1984-03-09.' },
      { type: 'tool_call', callId: 'call_2', tool: 'verify_identity', input: { policyId: 'HX-20417', dob: '1984-03-09' } },
      { type: 'tool_result', callId: 'call_2', output: { verified: true }, durationMs: 17 },
      { type: 'tool_call', callId: 'call_3', tool: 'open_claim', input: { policyId: 'HX-20417', peril: 'water', reportedBy: 'phone' } },
      { type: 'tool_result', callId: 'call_3', output: { claimId: 'CLM-88231', adjusterEtaDays: 2 }, summary: 'Claim CLM-88231 opened', durationMs: 130 },
      { type: 'state_patch', scope: 'world', patch: { customer: { verified: true }, claim: { id: 'CLM-88231', status: 'open' } } },
      { type: 'task', task: 'Schedule the adjuster visit' },
      {
        type: 'message',
        role: 'assistant',
        content: 'Thank you, you are verified. Claim CLM-88231 is open; an adjuster will contact you within 2 days.',
        usage: { promptTokens: 530, completionTokens: 31 },
        costUsd: 0.00161,
      },
      { type: 'summary', content: 'Caller J. Rivera (HX-20417) reported kitchen water damage; identity verified; claim CLM-88231 opened.', throughSeq: 16 },
    ]),
  );
}
