import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { type Vault } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { rowsOf } from '../../src/store/types';
import { storeHome, type StoreHome } from '../support/store-home';
import { refusal } from '../support/refusal';
import { asOwner } from '../support/owner';
import { runCli } from '../support/cli';

/**
 * The times the vault's roles write, against those roles, by performing the attacks. 0063
 * and 0065 held the access trail's and the sessions' times; every other time was the
 * writer's to choose. With the operator role's credentials a thief stored a token's
 * revocation, a key version's creation or the policy's setting at `infinity`: the
 * listings of tokens, keys and policies threw (`RangeError`) for the whole tenant; and a
 * policy written back to an earlier, shorter one, set at `infinity`, passed `verify`,
 * which matched its time to any record of its actor (a time that is none compares false
 * both ways). Since 0066 the database refuses a time before 1970 or from 9999 on in every
 * column a role writes; for one stored before (or by the owner past the rule), listings
 * show `invalid`, `verify` names the policy, and a token so dated is refused, typed.
 */
afterAll(dropCreatedDatabases);

const OUT_OF_RANGE = ['infinity', '-infinity', '1969-12-31 23:59:59.999+00', '9999-01-01 00:00:00+00'];
const TIMES: [string, string][] = [
  ['tenants', 'tenant_id, created_at'],
  ['tenant_keys', 'tenant_id, version, created_at'],
  ['sessions', 'tenant_id, session_id, created_at, first_at, last_at'],
  ['events', 'tenant_id, session_id, seq, at'],
  ['snapshots', 'tenant_id, session_id, seq, at'],
  ['checkpoints', 'tenant_id, session_id, seq, key_id, signed_at'],
  ['legal_holds', 'tenant_id, session_id, set_at, cleared_at'],
  ['retention_policies', 'tenant_id, set_at'],
  ['archives', 'tenant_id, session_id, head_seq, archived_at, verified_at'],
  ['api_tokens', 'tenant_id, token_id, created_at, expires_at, revoked_at'],
  ['tombstones', 'tenant_id, session_id, last_at, due_at, purged_at, objects_deleted_at'],
];

describe.each(backends())('times the vault’s roles write, on $name', (backend) => {
  let store: StoreHome;
  let writerToken = '';
  let writerId = '';
  const inSql = (v: Vault, q: string, tenant = 'bank') => withTenant(storeOf(v).db, tenant, 'attack', (tx) => tx.execute(sql.raw(q)));
  /** Every time column of the vault's tables, as text (so `infinity` reads as itself), read by the operator role. */
  const times = () =>
    store.withVault(async (v) => {
      const out: Record<string, unknown[]> = {};
      for (const [table, cols] of TIMES) out[table] = rowsOf(await inSql(v, `SELECT ${cols.split(', ').map((c) => `${c}::text`).join(', ')} FROM ${table} ORDER BY ${cols.split(', ').map((_, i) => i + 1).join(', ')}`));
      return out;
    });

  beforeAll(async () => {
    store = await storeHome(backend);
    // A session of eight years ago, archived: past the default's seven, so a tombstone may be written for it.
    const eightYearsAgo = Date.now() - 8 * 366 * 86_400_000;
    await store.withVault(
      async (v) => {
        await v.createTenant('bank');
        await v.session('bank', 'old').append({ type: 'message', role: 'user', content: 'customer old' });
      },
      { clock: () => new Date(eightYearsAgo) },
    );
    await store.withVault(async (v) => {
      await v.operator({ actor: 'ops', reason: 'setup' }).archive('bank', 'old');
    });
    await store.withVault(async (v) => {
      for (const s of ['held', 'cold', 'free']) await v.session('bank', s).append({ type: 'message', role: 'user', content: `customer ${s}` });
      const op = v.operator({ actor: 'ops', reason: 'setup' });
      await op.setHold('bank', 'held');
      await op.setRetention('bank', { archiveAfter: '30d', retain: '1y' });
      await op.setRetention('bank', { archiveAfter: '30d', retain: '7y' });
      await op.archive('bank', 'cold');
      await v.session('bank', 'free').snapshot();
      const made = await op.createToken('bank', { role: 'writer', label: 'agent' });
      [writerToken, writerId] = [made.token, made.info.id];
    });
  }, 120_000);
  afterAll(() => store?.cleanup());

  it('as the operator, legal and application roles: a time before 1970 or from 9999 on, in any column each may write, is refused, typed and naming the rule, and nothing changes', async () => {
    const before = await times();
    const attacks: { role?: string; rule: string; tenant?: string; values?: string[]; stmt: (t: string) => string }[] = [
      { rule: 'tenants_times_range', tenant: 'evil', stmt: (t) => `INSERT INTO tenants (tenant_id, created_at) VALUES ('evil', '${t}')` },
      { rule: 'tenant_keys_times_range', stmt: (t) => `UPDATE tenant_keys SET created_at = '${t}'` },
      { rule: 'retention_policies_times_range', stmt: (t) => `UPDATE retention_policies SET set_at = '${t}'` },
      { rule: 'api_tokens_times_range', stmt: (t) => `UPDATE api_tokens SET revoked_at = '${t}', revoked_by = 'mallory' WHERE token_id = '${writerId}'` },
      {
        rule: 'api_tokens_times_range',
        stmt: (t) =>
          `INSERT INTO api_tokens (tenant_id, token_id, role, label, secret_hash, created_at, created_by, expires_at, key_id, signature) SELECT tenant_id, 'fedcba9876543210', role, label, secret_hash, '${t}', created_by, '${t}', key_id, signature FROM api_tokens WHERE token_id = '${writerId}'`,
      },
      {
        rule: 'archives_times_range',
        stmt: (t) => `INSERT INTO archives (tenant_id, session_id, head_seq, head_hash, object_name, store, digest, bytes, archived_at, archived_by, verified_at, proof) SELECT tenant_id, session_id, head_seq, head_hash, object_name, store, digest, bytes, '${t}', archived_by, '${t}', proof FROM archives`,
      },
      { role: 'session_vault_retention', rule: 'archives_times_range', stmt: (t) => `INSERT INTO archives (tenant_id, session_id, head_seq, head_hash, object_name, store, digest, bytes, archived_at, archived_by, verified_at, proof) SELECT tenant_id, session_id, head_seq, head_hash, object_name, store, digest, bytes, '${t}', archived_by, verified_at, proof FROM archives` },
      {
        role: 'session_vault_retention',
        rule: 'tombstones_times_range',
        values: ['infinity', '9999-01-01 00:00:00+00'], // a due date before the floor's is 0045's to refuse
        stmt: (t) =>
          `INSERT INTO tombstones (tenant_id, session_id, head_seq, head_hash, archive_digest, last_at, due_at, purged_at, purged_by, policy) SELECT tenant_id, session_id, head_seq, head_hash, digest, (SELECT last_at FROM sessions s WHERE s.session_id = archives.session_id), '${t}', now(), 'mallory', 'archive after 30d, retain 7y' FROM archives WHERE session_id = 'old'`,
      },
      { role: 'session_vault_legal', rule: 'legal_holds_times_range', stmt: (t) => `UPDATE legal_holds SET cleared_at = '${t}', cleared_by = 'mallory', clear_reason = 'case closed' WHERE session_id = 'held'` },
      { role: 'session_vault_legal', rule: 'legal_holds_times_range', stmt: (t) => `INSERT INTO legal_holds (tenant_id, session_id, reason, set_by, set_at) VALUES ('bank', 'free', 'case 9', 'legal', '${t}')` },
      { role: 'session_vault_app', rule: 'events_at_range', stmt: (t) => `INSERT INTO events (tenant_id, session_id, seq, type, at, correlation_id, idempotency_key, tool, prompt_tokens, completion_tokens, cost_usd, duration_ms, key_version, nonce, ciphertext, hash) SELECT tenant_id, session_id, seq, type, '${t}', correlation_id, idempotency_key, tool, prompt_tokens, completion_tokens, cost_usd, duration_ms, key_version, nonce, ciphertext, hash FROM events WHERE session_id = 'free'` },
      {
        role: 'session_vault_app',
        rule: 'sessions_created_range',
        stmt: (t) =>
          `INSERT INTO sessions (tenant_id, session_id, agent, status, created_at, head_seq, data_key_version, tenant_key_version, wrapped_data_key, wrap_seq, wrap_key_id, wrap_signature, retain_floor) SELECT tenant_id, 'fresh', agent, 'active', '${t}', 0, data_key_version, tenant_key_version, wrapped_data_key, wrap_seq, wrap_key_id, wrap_signature, retain_floor FROM sessions WHERE session_id = 'free'`,
      },
      { role: 'session_vault_app', rule: 'checkpoints_signed_at_range', stmt: (t) => `INSERT INTO checkpoints (tenant_id, session_id, seq, key_id, hash, signed_at, note) SELECT tenant_id, session_id, seq, key_id, hash, '${t}', note FROM checkpoints WHERE session_id = 'free'` },
    ];
    const seen: string[] = [];
    for (const a of attacks) {
      await store.withVault(
        async (v) => {
          for (const t of a.values ?? OUT_OF_RANGE) {
            const why = await refusal(inSql(v, a.stmt(t), a.tenant));
            seen.push(`${a.role ?? 'operator'} ${a.rule} ${t}: ${why.split(' | ')[0]}`);
          }
        },
        a.role ? { appRole: a.role } : {},
      );
    }
    expect(seen).toEqual(attacks.flatMap((a) => (a.values ?? OUT_OF_RANGE).map((t) => `${a.role ?? 'operator'} ${a.rule} ${t}: STORAGE_REFUSED database refused attack: the row breaks the rule ${a.rule} (23514)`)));
    expect(await times()).toEqual(before);
    await store.withVault(async (v) => {
      expect((await v.verify()).problems).toEqual([]);
      expect((await v.tokens('bank')).map((t) => t.revokedAt)).toEqual([null]);
      expect((await v.retention('bank')).retain).toBe('7y');
    });
  });

  it('the vault writes its times inside the range: a token may not expire in 9999 or later, refused before anything is written', async () => {
    await store.withVault(async (v) => {
      const op = v.operator({ actor: 'ops', reason: 'far' });
      expect(await refusal(op.createToken('bank', { role: 'writer', expiresAt: new Date(Date.UTC(9999, 0, 1)) }))).toMatch(/^INVALID_INPUT the expiry must be a valid time in the future, before the year 9999/);
      expect((await op.createToken('bank', { role: 'writer', label: 'far', expiresAt: new Date(Date.UTC(9998, 11, 31)) })).info.expiresAt).toBe('9998-12-31T00:00:00.000Z');
      expect((await v.tokens('bank')).map((t) => t.label)).toEqual(['agent', 'far']);
    });
  });

  it('past the rules (a row stored before 0066, or by the owner): listings, in the API and the CLI, show `invalid` for the whole tenant, verify names the policy written back, and a token so dated is refused, typed', async () => {
    await store.withVault(async (v) => {
      await v.createTenant('insurer');
      await asOwner(
        v,
        store.database ?? '',
        [
          ...['tenants_times_range', 'tenant_keys_times_range', 'retention_policies_times_range', 'legal_holds_times_range', 'api_tokens_times_range'].map((rule) => ({ text: `ALTER TABLE ${rule.replace(/_times_range$/, '')} DROP CONSTRAINT IF EXISTS ${rule}` })),
          { text: `UPDATE tenants SET created_at = 'infinity' WHERE tenant_id = 'insurer'` },
          { text: `UPDATE tenant_keys SET created_at = 'infinity' WHERE tenant_id = 'bank'` },
          { text: `UPDATE legal_holds SET set_at = '-infinity' WHERE session_id = 'held'` },
          { text: `UPDATE api_tokens SET created_at = 'infinity' WHERE token_id = $1`, values: [writerId] },
          // The policy written back to the one it replaced, by the actor who set both, at no time.
          { text: `UPDATE retention_policies SET retain = '1y', set_at = 'infinity' WHERE tenant_id = 'bank'` },
        ],
        { triggers: 'off' },
      );
      expect((await v.tenants()).map((t) => [t.tenant, Number.isNaN(t.createdAt.getTime())])).toEqual([
        ['bank', false],
        ['insurer', true],
      ]);
      expect((await v.keys('bank')).map((k) => k.createdAt)).toEqual(['invalid']);
      expect((await v.tokens('bank')).map((t) => [t.label, t.createdAt])).toEqual([
        ['far', expect.stringMatching(/^20\d\d-/)],
        ['agent', 'invalid'], // `infinity` sorts last
      ]);
      expect(await v.retention('bank')).toMatchObject({ retain: '1y', setBy: 'ops', setAt: 'invalid' });
      expect(await refusal(v.authenticate(writerToken))).toMatch(/^UNAUTHENTICATED /);
      const problems = (await v.verify()).problems.map((p) => `${p.tenant}/${p.session} ${p.kind}`);
      // The hold set at no time is in force at no time: its record is `hold_missing`, the row `hold_set_unrecorded`.
      expect(problems).toEqual(['bank/(retention policy) policy_unrecorded', 'bank/held hold_set_unrecorded', 'bank/held hold_missing']);
      // An archived session whose last-event time is no time has no due date: never purged, and shredding it is erasure (before: `now < NaN` was false, and it was purged).
      await asOwner(v, store.database ?? '', [{ text: `UPDATE sessions SET last_at = 'infinity' WHERE session_id = 'cold'` }], { triggers: 'off' });
      const ops = v.operator({ actor: 'ops' });
      expect(await refusal(ops.purge('bank', 'cold'))).toMatch(/^RETENTION_NOT_DUE session bank\/cold must be kept until invalid /);
      expect(await refusal(ops.shred('bank', 'cold'))).toMatch(/^REASON_REQUIRED session bank\/cold is kept until invalid: shredding it now is erasure/);
      expect(await v.sessionInfo('bank', 'cold')).toMatchObject({ status: 'archived', lastAt: 'invalid' });
    });
    const env = { VAULT_HOME: store.home, ...(store.database ? { VAULT_DATABASE_URL: store.database } : {}) };
    const cli = async (...args: string[]) => {
      const run = await runCli(env, args);
      expect([args.join(' '), run.code, run.stderr]).toEqual([args.join(' '), 0, '']);
      return run.stdout;
    };
    expect(await cli('tenant', 'list')).toMatch(/^insurer\tinvalid$/m);
    expect(JSON.parse(await cli('keys', 'list', 'bank', '--json'))).toEqual([expect.objectContaining({ version: 1, createdAt: 'invalid' })]);
    expect(JSON.parse(await cli('tokens', 'list', 'bank', '--json'))).toEqual(expect.arrayContaining([expect.objectContaining({ label: 'agent', createdAt: 'invalid' })]));
    expect(JSON.parse(await cli('hold', 'list', '--json'))).toEqual([expect.objectContaining({ session: 'held', setAt: 'invalid' })]);
    expect(await cli('retention', 'show', 'bank')).toMatch(/invalid/);
  });
});
