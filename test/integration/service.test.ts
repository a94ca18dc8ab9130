import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { message, sample, startService, type TestService } from '../support/service';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { asOwner } from '../support/owner';
import { storeOf } from '../../src/vault/vault';
import { ROLES, newToken, type Role } from '../../src/tokens';
import { accessDigests, parseTrailHead, parseTrustedKeys, verifyTrail, type AccessRecord, type TrailScope } from '../../src/audit';
import { fromHex, toHex } from '../../src/crypto';

/**
 * The HTTP service on loopback, on both backends: every endpoint against every role, a
 * token of another tenant against every endpoint, tokens a DBA forged or promoted, and
 * bad input that must change nothing.
 */
afterAll(dropCreatedDatabases);

describe.each(backends())('the HTTP service on $name', (backend) => {
  let svc: TestService;
  const tokens = {} as Record<'acme' | 'other', Record<Role, string>>;

  beforeAll(async () => {
    svc = await startService(backend, { tokenCacheMs: 0 });
    for (const tenant of ['acme', 'other'] as const) {
      await svc.vault.createTenant(tenant);
      await svc.vault.session(tenant, 's1').append(message(`${tenant} secret words`));
      tokens[tenant] = {} as Record<Role, string>;
      for (const role of ROLES) tokens[tenant][role] = (await svc.token(tenant, role)).token;
    }
  });
  afterAll(() => svc?.close());

  it('answers every endpoint for the roles it allows and refuses every other role with 403 FORBIDDEN', async () => {
    expect(svc.service.endpoints.length).toBeGreaterThanOrEqual(20);
    const seen: string[] = [];
    for (const e of svc.service.endpoints) {
      for (const role of ROLES) {
        const req = await sample(e, svc, 'acme')();
        const res = await svc.call(tokens.acme[role], e.method, req.path, req.body);
        const label = `${role} ${e.method} ${e.url}`;
        if (e.allow.includes(role)) {
          expect([label, res.status >= 200 && res.status < 300 ? 'ok' : `${res.status} ${res.text}`]).toEqual([label, 'ok']);
        } else {
          expect([label, res.status, res.json?.error?.code]).toEqual([label, 403, 'FORBIDDEN']);
        }
        seen.push(label);
      }
    }
    expect(seen.length).toBe(svc.service.endpoints.length * ROLES.length);
  });

  it("never lets a token of one tenant reach another tenant's data, on any endpoint", async () => {
    const before = await svc.vault.sessionInfo('acme', 's1');
    const trailBefore: number[] = [];
    for await (const r of svc.vault.accessLog({ tenant: 'acme' })) if (r.actor !== 'test-setup') trailBefore.push(r.seq);
    for (const e of svc.service.endpoints.filter((x) => x.url.includes(':tenant'))) {
      for (const role of e.allow) {
        const req = await sample(e, svc, 'acme')();
        const res = await svc.call(tokens.other[role], e.method, req.path, req.body);
        expect([role, e.method, e.url, res.status, res.json?.error?.code]).toEqual([role, e.method, e.url, 403, 'FORBIDDEN']);
        expect(res.text).not.toContain('acme secret words');
      }
    }
    // Nothing of acme changed, and nothing was recorded as if it had been accessed.
    expect(await svc.vault.sessionInfo('acme', 's1')).toEqual(before);
    const trailAfter: number[] = [];
    for await (const r of svc.vault.accessLog({ tenant: 'acme' })) if (r.actor !== 'test-setup') trailAfter.push(r.seq); // the samples make their own tokens
    expect(trailAfter).toEqual(trailBefore);
    // And the other tenant's own data stays its own: its writer sees its session, not acme's.
    const own = await svc.call(tokens.other.writer, 'GET', '/v1/tenants/other/sessions/s1/state');
    expect(JSON.stringify(own.json.messages)).toContain('other secret words');
    expect(own.text).not.toContain('acme secret words');
  });

  it('a hold placed through the service on an archived session brings it back to the database, and says so (`status`)', async () => {
    await svc.vault.session('acme', 'old-claim').append(message('acme old claim'));
    await svc.vault.operator({ actor: 'ops', reason: 'quiet' }).archive('acme', 'old-claim');
    const held = await svc.call(tokens.acme.admin, 'PUT', '/v1/tenants/acme/sessions/old-claim/hold', { reason: 'case 14' });
    expect([held.status, held.json]).toEqual([200, { tenant: 'acme', session: 'old-claim', held: true, changed: true, status: 'active' }]);
    expect((await svc.vault.sessionInfo('acme', 'old-claim')).status).toBe('active');
    const cleared = await svc.call(tokens.acme.admin, 'POST', '/v1/tenants/acme/sessions/old-claim/hold/clear', { reason: 'case 14 closed' });
    expect([cleared.status, cleared.json]).toEqual([200, { tenant: 'acme', session: 'old-claim', held: false, changed: true, status: 'active' }]);
  });

  it('records an operator read in the access trail as the token, with its reason; a writer read is application access', async () => {
    const op = await svc.token('acme', 'operator');
    const count = async () => {
      let n = 0;
      for await (const r of svc.vault.accessLog({ tenant: 'acme' })) if (r.actor === `token:${op.id}`) n++;
      return n;
    };
    const writer = await svc.call(tokens.acme.writer, 'GET', '/v1/tenants/acme/sessions/s1/state');
    expect(writer.status).toBe(200);
    expect(await count()).toBe(0);
    const read = await svc.call(op.token, 'GET', '/v1/tenants/acme/sessions/s1/events', undefined, { 'x-vault-reason': 'ticket 42' });
    expect(read.status).toBe(200);
    const records = [];
    for await (const r of svc.vault.accessLog({ tenant: 'acme' })) if (r.actor === `token:${op.id}`) records.push(r);
    expect(records.map((r) => [r.action, r.session, r.reason, r.outcome])).toEqual([['events', 's1', 'ticket 42', 'granted']]);
  });

  it("streams the tenant's access trail as the file its auditor checks alone, with no other tenant's record in it: a service that leaves out or withholds one of the tenant's records is caught", async () => {
    const [acmeOperator, otherOperator] = [await svc.token('acme', 'operator'), await svc.token('other', 'operator')];
    expect((await svc.call(otherOperator.token, 'GET', '/v1/tenants/other/sessions/s1/events', undefined, { 'x-vault-reason': 'fraud case 4471' })).status).toBe(200);
    expect((await svc.call(acmeOperator.token, 'GET', '/v1/tenants/acme/sessions/s1/events', undefined, { 'x-vault-reason': 'ticket 43' })).status).toBe(200);
    expect((await svc.call(otherOperator.token, 'GET', '/v1/tenants/other/sessions/s1/state', undefined, { 'x-vault-reason': 'fraud case 4472' })).status).toBe(200);
    const res = await svc.call(tokens.acme.auditor, 'GET', '/v1/tenants/acme/access-log');
    expect([res.status, res.headers.get('content-type')]).toEqual([200, 'application/x-ndjson; charset=utf-8']);
    expect(res.text).not.toMatch(/other|fraud case|secret words/);
    const lines = res.text.trim().split('\n');
    const parsed = lines.map((l) => JSON.parse(l) as { seq: number; at: string; withheld?: unknown; actor?: string; tenant?: string | null });
    const read = parsed.find((r) => r.actor === `token:${acmeOperator.id}`)!;
    expect(read).toMatchObject({ action: 'events', tenant: 'acme', session: 's1', reason: 'ticket 43', outcome: 'granted' });
    expect(parsed.every((r) => r.withheld !== undefined || r.tenant === 'acme' || r.tenant === null)).toBe(true);
    expect(parsed.filter((r) => r.withheld !== undefined).length).toBeGreaterThan(0);

    // What the auditor checks it with, fetched from the witness, not the service.
    const keys = parseTrustedKeys(readFileSync(path.join(svc.home, 'witness', 'public-keys.json'), 'utf8'), 'public-keys.json');
    const head = readFileSync(path.join(svc.home, 'witness', 'access-trail.checkpoint'), 'utf8');
    const check = (ls: string[], scope: TrailScope = { tenant: 'acme' }, tenantSecret: Uint8Array | null = null) => verifyTrail(ls.map((l) => JSON.parse(l) as unknown), keys, { witnessHead: head, scope, tenantSecret });
    const first = check(lines);
    expect(first).toMatchObject({ ok: true, scope: { tenant: 'acme' }, records: lines.length, tenantSecret: expect.stringMatching(/^[0-9a-f]{64}$/), problems: [] });
    // The auditor keeps acme's trail secret for the listings that show none of acme's records.
    const tenantSecret = fromHex(first.tenantSecret!);
    const at = parsed.indexOf(read);
    // The service leaves out the read...
    expect(check(lines.filter((_, i) => i !== at)).problems.map((p) => p.kind)).toEqual(['access_gap', 'access_hash_mismatch']);
    // ... or cuts the trail before it...
    expect(check(lines.slice(0, at)).problems.map((p) => p.kind)).toEqual(['access_witness_beyond_head']);
    // ... or withholds it: its tenant is acme.
    const asWithheld = (line: string) => {
      const f = JSON.parse(line) as { seq: number; at: string; salt: string; tenantSecret?: string; sessionKeyed?: true; sessionKey?: string; tenantDigest?: string; hash: string; keyId: string; signature: string; storedAt: string } & AccessRecord;
      // A tenant's listing shows acme's secret; a session's, the session's trail key and acme's digest.
      const keys = f.sessionKey ? { sessionKey: fromHex(f.sessionKey), tenantDigest: fromHex(f.tenantDigest!) } : { tenantSecret: fromHex(f.tenantSecret!), sessionKeyed: f.sessionKeyed === true };
      const fd = accessDigests({ seq: f.seq, at: new Date(f.at), actor: f.actor, action: f.action, tenant: f.tenant, session: f.session, reason: f.reason, outcome: f.outcome, salt: fromHex(f.salt), ...keys });
      return JSON.stringify({ seq: f.seq, at: f.at, withheld: { tenant: toHex(fd.tenant), session: toHex(fd.session), fields: toHex(fd.fields) }, hash: f.hash, keyId: f.keyId, signature: f.signature, storedAt: f.storedAt });
    };
    const withheld = asWithheld(lines[at]!);
    expect(check(lines.map((l, i) => (i === at ? withheld : l))).problems.map((p) => p.kind)).toEqual(['own_record_withheld']);
    // With `since`, from the last record dated 5 minutes before it (none here: from seq 1), checked as a listing since that time.
    const sinceAt = parsed[at]!.at;
    const since = await svc.call(tokens.acme.auditor, 'GET', `/v1/tenants/acme/access-log?since=${encodeURIComponent(sinceAt)}`);
    const sinceLines = since.text.trim().split('\n');
    expect(sinceLines.slice(0, lines.length)).toEqual(lines);
    expect(verifyTrail(sinceLines.map((l) => JSON.parse(l) as unknown), keys, { scope: { tenant: 'acme' }, since: new Date(sinceAt) })).toMatchObject({ ok: true, fromSeq: 0, since: sinceAt, problems: [] });
    const both = await svc.call(tokens.acme.auditor, 'GET', `/v1/tenants/acme/access-log?since=${encodeURIComponent(sinceAt)}&afterSeq=1`);
    expect([both.status, (JSON.parse(both.text) as { error: unknown }).error]).toEqual([400, expect.objectContaining({ code: 'INVALID_INPUT', message: 'a listing starts after a seq (afterSeq) or since a time (since), not both' })]);

    // One session's listing, for who read one customer's conversation: the tenant's other sessions' records are withheld too.
    await svc.vault.session('acme', 's2').append(message('acme other words'));
    expect((await svc.call(acmeOperator.token, 'GET', '/v1/tenants/acme/sessions/s2/state', undefined, { 'x-vault-reason': 'ticket 44' })).status).toBe(200);
    const s1 = await svc.call(tokens.acme.auditor, 'GET', '/v1/tenants/acme/sessions/s1/access-log');
    expect(s1.status).toBe(200);
    expect(s1.text).not.toMatch(/ticket 44|"s2"|fraud case/);
    // ... nor acme's trail secret, by which its holder could try acme's other session ids: s1's records carry s1's trail key.
    expect(s1.text).not.toMatch(/tenantSecret/);
    expect(s1.text).toMatch(/"sessionKey":"[0-9a-f]{64}"/);
    const s1Lines = s1.text.trim().split('\n');
    const s1Report = check(s1Lines, { tenant: 'acme', session: 's1' });
    expect(s1Report).toMatchObject({ ok: true, problems: [] });
    expect(s1Lines.map((l) => JSON.parse(l) as { withheld?: unknown; session?: string }).filter((l) => l.withheld === undefined).every((l) => l.session === 's1')).toBe(true);
    // ... where the read of s1 withheld, or the whole listing taken as s2's, is caught.
    const s1At = s1Lines.findIndex((l) => l.includes(`"token:${acmeOperator.id}"`));
    expect(check(s1Lines.map((l, i) => (i === s1At ? withheld : l)), { tenant: 'acme', session: 's1' }, tenantSecret).problems.map((p) => p.kind)).toEqual(['own_record_withheld']);
    // Without acme's secret kept, and every record of s1's withheld, the auditor cannot tell them from another tenant's, and is told so.
    const allWithheld = s1Lines.map((l) => ((JSON.parse(l) as { withheld?: unknown }).withheld === undefined ? asWithheld(l) : l));
    expect(check(allWithheld, { tenant: 'acme', session: 's1' }).problems.map((p) => p.kind)).toEqual(['tenant_secret_unknown']);
    expect(check(allWithheld, { tenant: 'acme', session: 's1' }, tenantSecret).problems.map((p) => p.kind)).toEqual(expect.arrayContaining(['own_record_withheld']));
    expect(check(s1Lines, { tenant: 'acme', session: 's2' }).ok).toBe(false);
    // Another tenant's auditor reaches neither listing.
    expect((await svc.call(tokens.other.auditor, 'GET', '/v1/tenants/acme/sessions/s1/access-log')).status).toBe(403);

    // The next check takes only what came after the head checked before, from both streams.
    const checkedBefore = parseTrailHead(head)!;
    const now = readFileSync(path.join(svc.home, 'witness', 'access-trail.checkpoint'), 'utf8');
    for (const [url, scope] of [
      ['/v1/tenants/acme/access-log', { tenant: 'acme' }],
      ['/v1/tenants/acme/sessions/s1/access-log', { tenant: 'acme', session: 's1' }],
    ] as const) {
      const next = await svc.call(tokens.acme.auditor, 'GET', `${url}?afterSeq=${checkedBefore.seq}`);
      const nextLines = next.text.trim().split('\n');
      expect((JSON.parse(nextLines[0]!) as { seq: number }).seq).toBe(checkedBefore.seq + 1);
      expect(verifyTrail(nextLines.map((l) => JSON.parse(l) as unknown), keys, { fromHead: head, witnessHead: now, scope, tenantSecret })).toMatchObject({ ok: true, fromSeq: checkedBefore.seq, problems: [] });
      // ... and the stream leaving out the first record after it is caught (a gap, or, where it was the last, the witness's head).
      expect(verifyTrail(nextLines.slice(1).map((l) => JSON.parse(l) as unknown), keys, { fromHead: head, witnessHead: now, scope, tenantSecret }).problems.map((p) => p.kind)).toEqual(
        nextLines.length > 1 ? expect.arrayContaining(['access_gap']) : ['access_witness_beyond_head'],
      );
    }
    expect((await svc.call(tokens.acme.auditor, 'GET', '/v1/tenants/acme/access-log?afterSeq=-1')).status).toBe(400);
  });

  it('refuses tokens a DBA forged, promoted, re-keyed, moved or un-revoked, and the app role cannot change a grant at all', async () => {
    const writer = await svc.token('acme', 'writer');
    expect((await svc.call(writer.token, 'GET', '/v1/whoami')).json.role).toBe('writer');
    const signer = ((await asOwner(svc.vault, svc.databaseUrl, [{ text: `SELECT key_id FROM api_tokens WHERE token_id = $1`, values: [writer.id] }]))[0] as { key_id: string }[])[0];

    // 1. A row inserted by the database owner, with a secret it knows: no valid signature.
    const forged = newToken('acme');
    await asOwner(svc.vault, svc.databaseUrl, [
      {
        text: `INSERT INTO api_tokens (tenant_id, token_id, role, secret_hash, created_at, created_by, key_id, signature) VALUES ('acme', $1, 'admin', $2, now(), 'dba', $3, $4)`,
        values: [forged.id, Buffer.from(forged.secretHash), signer!.key_id, Buffer.alloc(64, 7)],
      },
    ]);
    const f = await svc.call(forged.token, 'GET', '/v1/tenants/acme/tokens');
    expect([f.status, f.json.error.code]).toEqual([401, 'UNAUTHENTICATED']);

    // 2. A writer promoted to admin in place: the signature covers the role.
    await asOwner(svc.vault, svc.databaseUrl, [{ text: `UPDATE api_tokens SET role = 'admin' WHERE token_id = $1`, values: [writer.id] }]);
    expect((await svc.call(writer.token, 'GET', '/v1/tenants/acme/tokens')).status).toBe(401);
    await asOwner(svc.vault, svc.databaseUrl, [{ text: `UPDATE api_tokens SET role = 'writer' WHERE token_id = $1`, values: [writer.id] }]);
    expect((await svc.call(writer.token, 'GET', '/v1/whoami')).status).toBe(200); // restored exactly, it is valid again

    // 3. Its secret hash replaced by one the DBA knows: the signature covers the hash.
    const mine = newToken('acme');
    await asOwner(svc.vault, svc.databaseUrl, [{ text: `UPDATE api_tokens SET secret_hash = $2 WHERE token_id = $1`, values: [writer.id, Buffer.from(mine.secretHash)] }]);
    const secret = mine.token.split('.')[3];
    const rekeyed = `svt1.${Buffer.from('acme').toString('base64url')}.${writer.id}.${secret}`;
    expect((await svc.call(rekeyed, 'GET', '/v1/whoami')).status).toBe(401);

    // 4. A grant moved to another tenant, presented for that tenant: the signature covers the tenant.
    const reader = await svc.token('acme', 'reader');
    await asOwner(svc.vault, svc.databaseUrl, [{ text: `UPDATE api_tokens SET tenant_id = 'other' WHERE token_id = $1`, values: [reader.id] }]);
    const moved = reader.token.replace(`svt1.${Buffer.from('acme').toString('base64url')}.`, `svt1.${Buffer.from('other').toString('base64url')}.`);
    expect((await svc.call(moved, 'GET', '/v1/tenants/other/sessions')).status).toBe(401);

    // 5. The application's own role: no UPDATE of the grant's columns, no DELETE, no un-revoking.
    const victim = await svc.token('acme', 'reader');
    await svc.vault.operator({ actor: 'test-setup' }).revokeToken('acme', victim.id);
    const inScope = (q: string) =>
      storeOf(svc.vault)
        .db.transaction(async (tx) => {
          await tx.execute(sql`SELECT set_config('vault.tenant', 'acme', true)`);
          await tx.execute(sql.raw(q));
        })
        .then(
          () => 'done',
          (e: Error & { cause?: Error }) => `${e.message} ${e.cause?.message ?? ''}`,
        );
    expect(await inScope(`UPDATE api_tokens SET role = 'admin' WHERE token_id = '${writer.id}'`)).toMatch(/permission denied/);
    expect(await inScope(`DELETE FROM api_tokens WHERE token_id = '${victim.id}'`)).toMatch(/permission denied/);
    expect(await inScope(`UPDATE api_tokens SET revoked_at = NULL, revoked_by = NULL WHERE token_id = '${victim.id}'`)).toMatch(/API tokens are kept/);
    expect((await svc.call(victim.token, 'GET', '/v1/whoami')).status).toBe(401);

    // 6. The owner clears the revocation with triggers off: the signed access trail still
    //    holds `tokens.revoke:<id>`, so the token stays refused.
    await asOwner(svc.vault, svc.databaseUrl, [{ text: `UPDATE api_tokens SET revoked_at = NULL, revoked_by = NULL WHERE token_id = $1`, values: [victim.id] }]);
    expect((await svc.call(victim.token, 'GET', '/v1/whoami')).status).toBe(401);
  });

  it('revokes at once through the service, and a revocation by another process takes effect without the cache', async () => {
    const admin = await svc.token('acme', 'admin');
    const target = await svc.token('acme', 'writer');
    expect((await svc.call(target.token, 'GET', '/v1/whoami')).status).toBe(200);
    const del = await svc.call(admin.token, 'DELETE', `/v1/tenants/acme/tokens/${target.id}`, undefined, { 'x-vault-reason': 'leaked' });
    expect(del.json).toEqual({ id: target.id, revoked: true, changed: true });
    expect((await svc.call(target.token, 'GET', '/v1/whoami')).status).toBe(401);
    const listed = await svc.call(admin.token, 'GET', '/v1/tenants/acme/tokens');
    expect(listed.json.find((t: { id: string }) => t.id === target.id)).toMatchObject({ revokedBy: `token:${admin.id}` });
    expect(listed.text).not.toMatch(/secret|hash|svt1\./i);
    const actions = [];
    for await (const r of svc.vault.accessLog({ tenant: 'acme' })) if (r.actor === `token:${admin.id}`) actions.push([r.action, r.reason]);
    expect(actions).toEqual([[`tokens.revoke:${target.id}`, 'leaked']]);
    // Revoked elsewhere (the library, as the CLI does): with no cache, refused on the next call.
    const other = await svc.token('acme', 'writer');
    expect((await svc.call(other.token, 'GET', '/v1/whoami')).status).toBe(200);
    await svc.vault.operator({ actor: 'cli-user' }).revokeToken('acme', other.id);
    expect((await svc.call(other.token, 'GET', '/v1/whoami')).status).toBe(401);
  });

  it('refuses bad tokens with 401 before reading the body, the same message whatever was wrong', async () => {
    const good = tokens.acme.writer;
    const [prefix, tenant, id, secret] = good.split('.');
    const flipped = secret!.slice(0, -1) + (secret!.endsWith('A') ? 'B' : 'A');
    const bad = [null, 'Basic abc', `${prefix}.${tenant}.${id}.${flipped}`, `${prefix}.${tenant}.0000000000000000.${secret}`, 'svt1.!!.zz.yy', `${prefix}.${Buffer.from('nobody').toString('base64url')}.${id}.${secret}`];
    const messages = new Set<string>();
    for (const token of bad) {
      const res = await fetch(`${svc.url}/v1/tenants/acme/sessions/s1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token === null ? {} : token.startsWith('Basic') ? { authorization: token } : { authorization: `Bearer ${token}` }) },
        body: '{not json',
      });
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect([res.status, body.error.code]).toEqual([401, 'UNAUTHENTICATED']);
      if (token !== null && !token.startsWith('Basic')) messages.add(body.error.message);
    }
    expect(messages.size).toBe(1);
    expect((await svc.vault.sessionInfo('acme', 's1')).events).toBeGreaterThan(0);
  });

  it('refuses an expired token', async () => {
    const soon = await svc.token('acme', 'reader', { expiresAt: new Date(Date.now() + 1500) });
    expect((await svc.call(soon.token, 'GET', '/v1/whoami')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1600));
    expect((await svc.call(soon.token, 'GET', '/v1/whoami')).status).toBe(401);
  });

  it('answers malformed, unknown-field, wrongly typed and wrong-media bodies with a typed 4xx, storing nothing', async () => {
    const head = (await svc.vault.sessionInfo('acme', 's1')).events;
    const w = tokens.acme.writer;
    const path = '/v1/tenants/acme/sessions/s1/events';
    const cases: [unknown, Record<string, string>, number, string][] = [
      ['{"events": [', {}, 400, 'INVALID_INPUT'],
      [{ events: [] }, {}, 400, 'INVALID_EVENT'],
      [{ events: [{ type: 'message', role: 'user', content: 5 }] }, {}, 400, 'INVALID_EVENT'],
      [{ events: [{ type: 'nonsense' }] }, {}, 400, 'INVALID_EVENT'],
      [{ events: [message('ok'), { type: 'message', role: 'user', content: 'x', extra: 1 }] }, {}, 400, 'INVALID_EVENT'],
      [{ events: [message('ok')], surprise: true }, {}, 400, 'INVALID_INPUT'],
      ['<events/>', { 'content-type': 'application/xml' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [{ events: [message('ok')] }, { 'x-correlation-id': 'x'.repeat(129) }, 400, 'INVALID_INPUT'],
    ];
    for (const [body, headers, status, code] of cases) {
      const res = await svc.call(w, 'POST', path, body, headers);
      expect([JSON.stringify(body), res.status, res.json?.error?.code]).toEqual([JSON.stringify(body), status, code]);
      expect(res.json.error.correlationId).toEqual(expect.any(String));
    }
    const messageText = (await svc.call(w, 'POST', path, { events: [{ type: 'message', role: 'user', content: 'SECRET-VALUE', extra: 'SECRET-EXTRA' }] })).text;
    expect(messageText).toMatch(/extra/);
    expect(messageText).not.toMatch(/SECRET/);
    expect((await svc.vault.sessionInfo('acme', 's1')).events).toBe(head);
    const bad = await svc.call(w, 'GET', '/v1/tenants/acme/sessions/s1/events?fromSeq=0');
    expect([bad.status, bad.json.error.code]).toEqual([400, 'INVALID_INPUT']);
    const unknown = await svc.call(tokens.acme.writer, 'GET', '/v1/tenants/acme/sessions/never/state');
    expect([unknown.status, unknown.json.error.code]).toEqual([404, 'UNKNOWN_SESSION']);
    const route = await svc.call(w, 'GET', '/v2/nothing');
    expect([route.status, route.json.error.code]).toEqual([404, 'NOT_FOUND']);
  });

  it('stamps events with the request correlation id (X-Correlation-Id, else the traceparent trace id) and echoes it', async () => {
    const w = tokens.acme.writer;
    const a = await svc.call(w, 'POST', '/v1/tenants/acme/sessions/corr/events', { events: [message('one')] }, { 'x-correlation-id': 'req-abc-1' });
    expect(a.headers.get('x-correlation-id')).toBe('req-abc-1');
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const b = await svc.call(w, 'POST', '/v1/tenants/acme/sessions/corr/events', { events: [message('two'), { ...message('three'), correlationId: 'own' }] }, { traceparent: `00-${trace}-00f067aa0ba902b7-01` });
    expect(b.headers.get('x-correlation-id')).toBe(trace);
    const events = await svc.call(w, 'GET', '/v1/tenants/acme/sessions/corr/events');
    expect(events.json.events.map((e: { correlationId: string }) => e.correlationId)).toEqual(['req-abc-1', trace, 'own']);
    expect(svc.logs.some((l) => l.includes('"correlationId":"req-abc-1"'))).toBe(true);
  });

  it('deduplicates a retried batch by Idempotency-Key', async () => {
    const w = tokens.acme.writer;
    const body = { events: [message('pay 10'), message('pay 20')] };
    const first = await svc.call(w, 'POST', '/v1/tenants/acme/sessions/idem/events', body, { 'idempotency-key': 'transfer-7' });
    const again = await svc.call(w, 'POST', '/v1/tenants/acme/sessions/idem/events', body, { 'idempotency-key': 'transfer-7' });
    expect(first.json).toMatchObject({ appended: 2, firstSeq: 1, lastSeq: 2, deduplicated: false });
    expect(again.json).toMatchObject({ firstSeq: 1, lastSeq: 2, head: first.json.head, deduplicated: true });
    expect((await svc.vault.sessionInfo('acme', 'idem')).events).toBe(2);
  });

  it('pages events, streams them as NDJSON, and replays state at a point', async () => {
    const w = tokens.acme.writer;
    await svc.call(w, 'POST', '/v1/tenants/acme/sessions/paged/events', { events: Array.from({ length: 7 }, (_, i) => message(`m${i + 1}`)) });
    const p1 = await svc.call(w, 'GET', '/v1/tenants/acme/sessions/paged/events?limit=3');
    expect([p1.json.events.map((e: { seq: number }) => e.seq), p1.json.nextSeq]).toEqual([[1, 2, 3], 4]);
    const p3 = await svc.call(w, 'GET', '/v1/tenants/acme/sessions/paged/events?fromSeq=7&limit=3');
    expect([p3.json.events.map((e: { seq: number }) => e.seq), p3.json.nextSeq]).toEqual([[7], null]);
    const nd = await svc.call(w, 'GET', '/v1/tenants/acme/sessions/paged/events?fromSeq=2&toSeq=5', undefined, { accept: 'application/x-ndjson' });
    expect(nd.headers.get('content-type')).toMatch(/application\/x-ndjson/);
    expect(nd.text.trim().split('\n').map((l) => JSON.parse(l).data.content)).toEqual(['m2', 'm3', 'm4', 'm5']);
    const at = await svc.call(w, 'GET', '/v1/tenants/acme/sessions/paged/state?atSeq=3');
    expect([at.json.lastSeq, at.json.messages.map((m: { content: string }) => m.content)]).toEqual([3, ['m1', 'm2', 'm3']]);
    const win = await svc.call(w, 'GET', '/v1/tenants/acme/sessions/paged/state?window=2');
    expect([win.json.lastSeq, win.json.messages.map((m: { content: string }) => m.content), win.json.window]).toEqual([7, ['m6', 'm7'], { size: 2, omitted: { messages: 5, toolCalls: 0, agentItems: 0, modelErrors: 0 } }]);
    for (const bad of ['0', '1.5', 'many', '100001']) {
      const r = await svc.call(w, 'GET', `/v1/tenants/acme/sessions/paged/state?window=${bad}`);
      expect([r.status, r.json.error.code]).toEqual([400, 'INVALID_INPUT']);
    }
  });

  it('keeps tokens and content out of its logs', async () => {
    const w = await svc.token('acme', 'writer');
    await svc.call(w.token, 'POST', '/v1/tenants/acme/sessions/logs/events', { events: [message('CONTENT-NEVER-LOGGED')] });
    await svc.call(w.token, 'POST', '/v1/tenants/acme/sessions/logs/events', { events: [{ type: 'message', role: 'user', content: 'CONTENT-IN-A-BAD-EVENT', bogus: 1 }] });
    await svc.call(`${w.token.slice(0, -2)}xx`, 'GET', '/v1/whoami');
    const all = svc.logs.join('');
    expect(all).toContain('incoming request');
    expect(all).not.toContain(w.token.split('.')[3]!);
    expect(all).not.toContain('CONTENT-');
    expect(all.toLowerCase()).not.toContain('bearer');
  });

  it('serves Prometheus metrics without ids or content', async () => {
    const res = await fetch(`${svc.url}/metrics`);
    const text = await res.text();
    expect(text).toMatch(/session_vault_http_requests_total\{route="\/v1\/tenants\/:tenant\/sessions\/:session\/events",method="POST",status="200"\} \d+/);
    expect(text).toMatch(/session_vault_appended_events_total \d+/);
    expect(text).toMatch(/session_vault_append_duration_seconds_bucket/);
    expect(text).toMatch(/session_vault_auth_failures_total\{status="403"\} \d+/);
    expect(text).toMatch(/session_vault_access_records_total\{action="events"\} \d+/);
    expect(text).not.toMatch(/acme|secret words|svt1/);
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${svc.url}/readyz`)).json()).toEqual({ status: 'ready' });
  });
});

describe.each(backends())('service limits on $name', (backend) => {
  it('finishes the append in flight when draining and stores it; a pipelined request behind it is not taken up on a closing connection', async () => {
    const svc = await startService(backend);
    try {
      await svc.vault.createTenant('acme');
      const w = await svc.token('acme', 'writer');
      const { port } = new URL(svc.url);
      const body = JSON.stringify({ events: Array.from({ length: 1000 }, (_, i) => message(`in flight ${i} ${'z'.repeat(500)}`)) });
      const request = (method: string, path: string, payload = '') =>
        `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${w.token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`;
      // Two pipelined requests on one connection: a large append, then a read. Close begins
      // while the append is being handled: the append is answered (and stored), with
      // Connection: close, so the read behind it is never taken up; its client retries elsewhere.
      const socket = net.connect(Number(port), '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      let raw = '';
      socket.on('data', (d: Buffer) => (raw += d.toString()));
      const ended = new Promise((r) => socket.once('close', r));
      socket.write(request('POST', '/v1/tenants/acme/sessions/drain/events', body) + request('GET', '/v1/whoami'));
      await new Promise((r) => setTimeout(r, 20));
      await svc.service.close();
      await ended;
      const statuses = [...raw.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      // Close began while the append was handled (the usual case: it is answered with
      // Connection: close and the read behind it is never taken up), or, on a loaded
      // machine, only after it: then the read was answered before the drain. Either way the
      // acknowledged append is stored whole and nothing is answered 5xx or cut.
      expect(statuses[0]).toBe(200);
      expect(raw).toMatch(/"appended":1000/);
      if (statuses.length === 1) expect(raw).toMatch(/connection: close/i);
      else expect(statuses).toEqual([200, 200]);
      expect((await svc.vault.sessionInfo('acme', 'drain')).events).toBe(1000);
    } finally {
      await svc.close();
    }
  });

  it('creates no token in a vault that signs nothing: an unsigned grant could not be told from a forged one', async () => {
    const t = await testVault(backend, { checkpoints: false });
    try {
      await t.vault.createTenant('acme');
      await expect(t.vault.operator({ actor: 'alice' }).createToken('acme', { role: 'writer' })).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
      expect(await t.vault.tokens('acme')).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('refuses an address that keeps failing token checks with 429, before looking anything up', async () => {
    const svc = await startService(backend, { authFailuresPerMinute: 3 });
    try {
      await svc.vault.createTenant('acme');
      const w = await svc.token('acme', 'writer');
      const guess = () => svc.call(`svt1.${Buffer.from('acme').toString('base64url')}.${'0'.repeat(16)}.${'B'.repeat(43)}`, 'GET', '/v1/whoami');
      expect([(await guess()).status, (await guess()).status, (await guess()).status]).toEqual([401, 401, 401]);
      const blocked = await guess();
      expect([blocked.status, blocked.json.error.code]).toEqual([429, 'RATE_LIMITED']);
      // The address is refused whatever it presents, until the minute is over.
      expect((await svc.call(w.token, 'GET', '/v1/whoami')).status).toBe(429);
      expect(await (await fetch(`${svc.url}/metrics`)).text()).toMatch(/session_vault_auth_failures_total\{status="429"\} 2/);
    } finally {
      await svc.close();
    }
  });

  it("does not lock out the agents behind an address whose failure budget another client spent (a proxy, a NAT): a token that passed a check is still checked", async () => {
    const svc = await startService(backend, { authFailuresPerMinute: 3, tokenCacheMs: 0 });
    try {
      await svc.vault.createTenant('acme');
      const [agent, idle] = [await svc.token('acme', 'writer'), await svc.token('acme', 'reader')];
      expect((await svc.call(agent.token, 'GET', '/v1/whoami')).status).toBe(200);
      // Someone behind the same address spends its budget on guesses.
      const guess = () => svc.call(`svt1.${Buffer.from('acme').toString('base64url')}.${'0'.repeat(16)}.${'C'.repeat(43)}`, 'GET', '/v1/whoami');
      expect([(await guess()).status, (await guess()).status, (await guess()).status, (await guess()).status]).toEqual([401, 401, 401, 429]);
      // The agent goes on (checked against the database each time: the cache is off here); a token never checked is still refused unchecked.
      expect((await svc.call(agent.token, 'GET', '/v1/whoami')).status).toBe(200);
      expect((await svc.call(agent.token, 'POST', '/v1/tenants/acme/sessions/s1/events', { events: [{ type: 'task', task: 'go on' }] })).status).toBe(200);
      expect((await svc.call(idle.token, 'GET', '/v1/whoami')).status).toBe(429);
      // Revoked, the agent's token fails its check, and is then refused unchecked like any other.
      await svc.vault.operator({ actor: 'test-setup' }).revokeToken('acme', agent.id);
      expect((await svc.call(agent.token, 'GET', '/v1/whoami')).status).toBe(401);
      expect((await svc.call(agent.token, 'GET', '/v1/whoami')).status).toBe(429);
    } finally {
      await svc.close();
    }
  });

  it('counts failures per client behind a trusted proxy (--trust-proxy), and takes no X-Forwarded-For from anyone else', async () => {
    const guess = (svc: Awaited<ReturnType<typeof startService>>, client: string) =>
      svc.call(`svt1.${Buffer.from('acme').toString('base64url')}.${'0'.repeat(16)}.${'D'.repeat(43)}`, 'GET', '/v1/whoami', undefined, { 'x-forwarded-for': client });
    // Not trusted: a guesser naming a new client each time buys no new budget.
    const direct = await startService(backend, { authFailuresPerMinute: 2 });
    try {
      await direct.vault.createTenant('acme');
      const statuses = [];
      for (const c of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) statuses.push((await guess(direct, c)).status);
      expect(statuses).toEqual([401, 401, 429]);
    } finally {
      await direct.close();
    }
    // Behind a trusted proxy (here the loopback address the test calls from), each client has its own.
    const proxied = await startService(backend, { authFailuresPerMinute: 2, trustProxy: ['127.0.0.1/8', '::1'] });
    try {
      await proxied.vault.createTenant('acme');
      const fresh = await proxied.token('acme', 'reader');
      expect([(await guess(proxied, '203.0.113.9')).status, (await guess(proxied, '203.0.113.9')).status, (await guess(proxied, '203.0.113.9')).status]).toEqual([401, 401, 429]);
      expect((await proxied.call(fresh.token, 'GET', '/v1/whoami', undefined, { 'x-forwarded-for': '198.51.100.7' })).status).toBe(200);
      expect((await proxied.call(fresh.token, 'GET', '/v1/whoami', undefined, { 'x-forwarded-for': '203.0.113.9' })).status).toBe(200);
    } finally {
      await proxied.close();
    }
  });

  it("counts an IPv6 client's failures by its /64, so the addresses of one connection buy no budget of their own; an IPv4-mapped address is its IPv4 one", async () => {
    const guess = (svc: Awaited<ReturnType<typeof startService>>, client: string) =>
      svc.call(`svt1.${Buffer.from('acme').toString('base64url')}.${'0'.repeat(16)}.${'D'.repeat(43)}`, 'GET', '/v1/whoami', undefined, { 'x-forwarded-for': client });
    const svc = await startService(backend, { authFailuresPerMinute: 2, trustProxy: ['127.0.0.1/8', '::1'] });
    try {
      await svc.vault.createTenant('acme');
      // A home connection or a cloud host is handed a /64: 2^64 addresses, each a new one to guess from.
      const statuses = [];
      for (const c of ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:ffff:ffff:ffff:3', '2001:0db8:0001:0002:0000:0000:0000:0004']) statuses.push((await guess(svc, c)).status);
      expect(statuses).toEqual([401, 401, 429, 429]);
      // Another /64 has its own budget, and an agent's token, checked once, still gets in from the spent one.
      expect((await guess(svc, '2001:db8:1:3::1')).status).toBe(401);
      const agent = await svc.token('acme', 'reader');
      expect((await svc.call(agent.token, 'GET', '/v1/whoami', undefined, { 'x-forwarded-for': '2001:db8:1:3::2' })).status).toBe(200);
      expect((await svc.call(agent.token, 'GET', '/v1/whoami', undefined, { 'x-forwarded-for': '2001:db8:1:2::99' })).status).toBe(200);
      // An IPv4 client named as IPv4-mapped IPv6 shares its IPv4 address's budget.
      expect([(await guess(svc, '203.0.113.5')).status, (await guess(svc, '::ffff:203.0.113.5')).status, (await guess(svc, '203.0.113.5')).status]).toEqual([401, 401, 429]);
    } finally {
      await svc.close();
    }
  });

  it('lets an un-revoked token back in only if the trail is cut too, which verify reports and which stops operator access', async () => {
    const svc = await startService(backend, { tokenCacheMs: 0 });
    try {
      await svc.vault.createTenant('acme');
      const victim = await svc.token('acme', 'reader');
      await svc.vault.operator({ actor: 'test-setup' }).revokeToken('acme', victim.id);
      await asOwner(svc.vault, svc.databaseUrl, [
        { text: `UPDATE api_tokens SET revoked_at = NULL, revoked_by = NULL WHERE token_id = $1`, values: [victim.id] },
        { text: `DELETE FROM access_log WHERE action = $1`, values: [`tokens.revoke:${victim.id}`] },
      ]);
      expect((await svc.call(victim.token, 'GET', '/v1/whoami')).status).toBe(200);
      const report = await svc.vault.verify();
      expect(report.ok).toBe(false);
      // A gap in the chain, or (the record being the newest) a witness ahead of the head.
      expect(report.problems.map((p) => p.kind)).toEqual(expect.arrayContaining([expect.stringMatching(/^access_(gap|witness_beyond_head)$/)]));
      // And every operator action is refused from then on: the trail cannot be extended past a cut.
      const listed = await svc.call(victim.token, 'GET', '/v1/tenants/acme/sessions');
      expect(listed.status).toBe(200); // metadata needs no trail record
      await expect(svc.vault.operator({ actor: 'anyone' }).createToken('acme', { role: 'admin' })).rejects.toMatchObject({ code: 'ACCESS_TRAIL_UNAVAILABLE' });
    } finally {
      await svc.close();
    }
  });

  it('refuses an oversized body with 413 and a token over its rate with 429, storing nothing', async () => {
    const svc = await startService(backend, { bodyLimit: 4096, rateLimit: 5, rateWindowMs: 60_000 });
    try {
      await svc.vault.createTenant('acme');
      const w = await svc.token('acme', 'writer');
      const big = await svc.call(w.token, 'POST', '/v1/tenants/acme/sessions/big/events', { events: [message('x'.repeat(10_000))] });
      expect([big.status, big.json.error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
      await expect(svc.vault.sessionInfo('acme', 'big')).rejects.toMatchObject({ code: 'UNKNOWN_SESSION' });
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) statuses.push((await svc.call(w.token, 'GET', '/v1/whoami')).status);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(2);
      const limited = await svc.call(w.token, 'GET', '/v1/whoami');
      expect([limited.status, limited.json.error.code]).toEqual([429, 'RATE_LIMITED']);
      // Another token has its own budget, and a forged token naming it cannot spend it.
      const r = await svc.token('acme', 'reader');
      const [prefix, tenant, id] = r.token.split('.');
      for (let i = 0; i < 6; i++) await svc.call(`${prefix}.${tenant}.${id}.${'A'.repeat(42)}${i}`, 'GET', '/v1/whoami');
      expect((await svc.call(r.token, 'GET', '/v1/whoami')).status).toBe(200);
    } finally {
      await svc.close();
    }
  });

  it('speaks TLS when given a certificate and key: a client that trusts the certificate gets through, plain HTTP does not', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sv-tls-'));
    const [cert, key] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
    expect([made.status, made.error?.message ?? '']).toEqual([0, '']);
    const svc = await startService(backend, { tls: { cert: readFileSync(cert), key: readFileSync(key) } });
    try {
      expect(svc.url).toMatch(/^https:\/\/127\.0\.0\.1:/);
      await svc.vault.createTenant('acme');
      const w = await svc.token('acme', 'writer');
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = https.request(`${svc.url}/v1/whoami`, { ca: readFileSync(cert), headers: { authorization: `Bearer ${w.token}` } }, (r) => {
          let body = '';
          r.on('data', (d: Buffer) => (body += d.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
      expect([res.status, JSON.parse(res.body).role]).toEqual([200, 'writer']);
      await expect(fetch(svc.url.replace('https:', 'http:') + '/healthz')).rejects.toThrow();
    } finally {
      await svc.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

