import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { accessDigests, accessHash, accessLink, fieldsDigest, sessionCommitment, sessionKeyCommitment, sessionTrailKey, signTrailHead, tenantCommitment, trailLine, verifyTrail, type AccessRecord, type TrailScope } from '../../src/audit';
import { blake2b256, ensureSodium, generateSigningKeyPair, signingKeyId, toHex } from '../../src/crypto';
import { GENESIS_HASH } from '../../src/events';
import { lp, u64be } from '../support/bytes';

/**
 * The access trail's hash forms (docs/formats.md, "Access trail") and the trail file's
 * listings for a tenant or a session (audit/trail-file.ts). A change to a vector here is a format change.
 */
beforeAll(ensureSodium);

const some = (b: Buffer) => Buffer.concat([Buffer.from([1]), b]);
const none = Buffer.from([0]);

const record: AccessRecord = { seq: 7, at: new Date('2026-01-02T03:04:05.678Z'), actor: 'alice', action: 'events', tenant: 'bank', session: 'claim-1', reason: null, outcome: 'granted' };
const salt = new Uint8Array(16).fill(5);
const prev = new Uint8Array(32).fill(1);

describe('access hash', () => {
  it('v1 (no salt) hashes exactly the documented byte layout', () => {
    const expected = blake2b256(
      Buffer.concat([
        lp(Buffer.from('session-vault/access/v1')),
        lp(Buffer.from(prev)),
        u64be(7),
        u64be(record.at.getTime()),
        lp(Buffer.from('alice')),
        lp(Buffer.from('events')),
        some(lp(Buffer.from('bank'))),
        some(lp(Buffer.from('claim-1'))),
        none,
        lp(Buffer.from('granted')),
      ]),
    );
    expect(toHex(accessHash(prev, record))).toBe(toHex(expected));
    expect(toHex(accessHash(prev, { ...record, salt: null }))).toBe(toHex(expected));
  });

  it('v2 (salted) hashes the digests of the tenant, the session and the fields, each exactly as documented', () => {
    const tenant = blake2b256(Buffer.concat([lp(Buffer.from('session-vault/access-tenant/v2')), u64be(7), some(lp(Buffer.from('bank')))]));
    const session = blake2b256(Buffer.concat([lp(Buffer.from('session-vault/access-session/v2')), u64be(7), some(lp(Buffer.from('bank'))), some(lp(Buffer.from('claim-1')))]));
    const fields = blake2b256(Buffer.concat([lp(Buffer.from('session-vault/access-fields/v2')), lp(Buffer.from(salt)), lp(Buffer.from('alice')), lp(Buffer.from('events')), none, lp(Buffer.from('granted'))]));
    const expected = blake2b256(
      Buffer.concat([lp(Buffer.from('session-vault/access/v2')), lp(Buffer.from(prev)), u64be(7), u64be(record.at.getTime()), lp(Buffer.from(tenant)), lp(Buffer.from(session)), lp(Buffer.from(fields))]),
    );
    expect(toHex(tenantCommitment(7, 'bank'))).toBe(toHex(tenant));
    expect(toHex(sessionCommitment(7, 'bank', 'claim-1'))).toBe(toHex(session));
    expect(toHex(fieldsDigest(salt, record))).toBe(toHex(fields));
    expect(toHex(accessHash(prev, { ...record, salt }))).toBe(toHex(expected));
    expect(toHex(accessHash(prev, { ...record, salt }))).toBe('fd8576c71a9c434cba5ccabfd79d93d209bf8f58101356547026c24ca384895a');
  });

  it("v3 (a tenant's record, keyed by its trail secret) hashes the keyed digests of the tenant and the session, each exactly as documented", () => {
    const secret = new Uint8Array(32).fill(9);
    const tenant = blake2b256(Buffer.concat([lp(Buffer.from('session-vault/access-tenant/v3')), lp(Buffer.from(secret)), u64be(7), lp(Buffer.from('bank'))]));
    const session = blake2b256(Buffer.concat([lp(Buffer.from('session-vault/access-session/v3')), lp(Buffer.from(secret)), u64be(7), lp(Buffer.from('bank')), some(lp(Buffer.from('claim-1')))]));
    const fields = fieldsDigest(salt, record);
    const expected = blake2b256(
      Buffer.concat([lp(Buffer.from('session-vault/access/v2')), lp(Buffer.from(prev)), u64be(7), u64be(record.at.getTime()), lp(Buffer.from(tenant)), lp(Buffer.from(session)), lp(Buffer.from(fields))]),
    );
    expect(toHex(tenantCommitment(7, 'bank', secret))).toBe(toHex(tenant));
    expect(toHex(sessionCommitment(7, 'bank', 'claim-1', secret))).toBe(toHex(session));
    expect(toHex(accessHash(prev, { ...record, salt, tenantSecret: secret }))).toBe(toHex(expected));
    expect(toHex(accessHash(prev, { ...record, salt, tenantSecret: secret }))).toBe('ba433f5ba51e322473c77419d0a0f9fc38555f0eac8869bad544fccd442538ee');
    // Not the v2 hash, nor the v3 hash under another secret; no secret is the v2 form.
    expect(toHex(accessHash(prev, { ...record, salt, tenantSecret: new Uint8Array(32).fill(8) }))).not.toBe(toHex(expected));
    expect(toHex(accessHash(prev, { ...record, salt, tenantSecret: null }))).toBe(toHex(accessHash(prev, { ...record, salt })));
    // A secret is 32 bytes, a tenant's, and with a salt.
    expect(() => tenantCommitment(7, 'bank', new Uint8Array(31))).toThrow(RangeError);
    expect(() => tenantCommitment(7, null, secret)).toThrow(RangeError);
    expect(() => accessHash(prev, { ...record, tenantSecret: secret })).toThrow(RangeError);
  });

  it("v4 (a tenant's record since 0062) keys the session's digest by the session's trail key, derived from the secret, each exactly as documented", () => {
    const secret = new Uint8Array(32).fill(9);
    const key = blake2b256(Buffer.concat([lp(Buffer.from('session-vault/access-session-key/v4')), lp(Buffer.from(secret)), lp(Buffer.from('bank')), some(lp(Buffer.from('claim-1')))]));
    const tenant = blake2b256(Buffer.concat([lp(Buffer.from('session-vault/access-tenant/v3')), lp(Buffer.from(secret)), u64be(7), lp(Buffer.from('bank'))]));
    const session = blake2b256(Buffer.concat([lp(Buffer.from('session-vault/access-session/v4')), lp(Buffer.from(key)), u64be(7), lp(Buffer.from('bank')), some(lp(Buffer.from('claim-1')))]));
    const fields = fieldsDigest(salt, record);
    const expected = blake2b256(
      Buffer.concat([lp(Buffer.from('session-vault/access/v2')), lp(Buffer.from(prev)), u64be(7), u64be(record.at.getTime()), lp(Buffer.from(tenant)), lp(Buffer.from(session)), lp(Buffer.from(fields))]),
    );
    expect(toHex(sessionTrailKey(secret, 'bank', 'claim-1'))).toBe(toHex(key));
    expect(toHex(sessionKeyCommitment(7, 'bank', 'claim-1', key))).toBe(toHex(session));
    expect(toHex(accessHash(prev, { ...record, salt, tenantSecret: secret, sessionKeyed: true }))).toBe(toHex(expected));
    expect(toHex(accessHash(prev, { ...record, salt, tenantSecret: secret, sessionKeyed: true }))).toBe('036487e0310a973191ed138a21a51a95c7b67a65bbdde10cce972523563d2227');
    // As a session's listing shows it: the session's key and the tenant's digest, the same hash.
    expect(toHex(accessHash(prev, { ...record, salt, sessionKey: key, tenantDigest: tenant }))).toBe(toHex(expected));
    // Not the v3 hash; a session's key is the session's own.
    expect(toHex(accessHash(prev, { ...record, salt, tenantSecret: secret }))).not.toBe(toHex(expected));
    expect(toHex(sessionTrailKey(secret, 'bank', 'claim-2'))).not.toBe(toHex(key));
    expect(toHex(sessionTrailKey(secret, 'insurer', 'claim-1'))).not.toBe(toHex(key));
    // The forms do not mix: v4 without the secret, the session's key with the secret or without the tenant's digest.
    expect(() => accessHash(prev, { ...record, salt, sessionKeyed: true })).toThrow(RangeError);
    expect(() => accessHash(prev, { ...record, salt, sessionKey: key })).toThrow(RangeError);
    expect(() => accessHash(prev, { ...record, salt, sessionKey: key, tenantDigest: tenant, tenantSecret: secret })).toThrow(RangeError);
    expect(() => accessHash(prev, { ...record, sessionKey: key, tenantDigest: tenant })).toThrow(RangeError);
    expect(() => sessionKeyCommitment(7, 'bank', 'claim-1', new Uint8Array(31))).toThrow(RangeError);
    expect(() => accessHash(prev, { ...record, salt, sessionKey: key, tenantDigest: tenant.subarray(1) })).toThrow(RangeError);
    expect(() => accessHash(prev, { ...record, tenant: null, salt, sessionKey: key, tenantDigest: tenant })).toThrow(RangeError);
  });

  it("a v4 session digest cannot be tried with another session's trail key: the holder of one session's key tells no other session's record", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 12 }), fc.string({ maxLength: 12 }), fc.option(fc.string({ maxLength: 12 }), { nil: null }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(1000), (tenant, mine, theirs, secret, seq) => {
        fc.pre(theirs !== mine);
        const held = sessionTrailKey(secret, tenant, mine);
        const s = toHex(sessionKeyCommitment(seq + 1, tenant, theirs, sessionTrailKey(secret, tenant, theirs)));
        // Their session guessed right, keyed every way the held key allows: as their key, as a tenant's secret (v3, and deriving v4 from it), or not at all (v2).
        const guesses = [sessionKeyCommitment(seq + 1, tenant, theirs, held), sessionCommitment(seq + 1, tenant, theirs, held), sessionKeyCommitment(seq + 1, tenant, theirs, sessionTrailKey(held, tenant, theirs)), sessionCommitment(seq + 1, tenant, theirs)];
        expect(guesses.map(toHex)).not.toContain(s);
      }),
      { numRuns: 200 },
    );
  });

  it("a v3 digest cannot be tried against a name without the tenant's secret: every documented form of a guess misses", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 12 }), fc.option(fc.string({ maxLength: 12 }), { nil: null }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(1000), (tenant, session, secret, seq) => {
        const [t, s] = [toHex(tenantCommitment(seq + 1, tenant, secret)), toHex(sessionCommitment(seq + 1, tenant, session, secret))];
        // The name and the session guessed right, in the v2 form or keyed by another tenant's secret.
        expect([toHex(tenantCommitment(seq + 1, tenant)), toHex(tenantCommitment(seq + 1, tenant, secretOf('bank')))]).not.toContain(t);
        expect([toHex(sessionCommitment(seq + 1, tenant, session)), toHex(sessionCommitment(seq + 1, tenant, session, secretOf('bank')))]).not.toContain(s);
      }),
      { numRuns: 200 },
    );
  });

  it("v2 hashes differ with every field, the salt, the tenant and the session, and never equal v1's", () => {
    const base = accessHash(prev, { ...record, salt });
    const changed: Partial<AccessRecord & { salt: Uint8Array }>[] = [
      { actor: 'mallory' },
      { action: 'replay' },
      { tenant: 'insurer' },
      { tenant: null },
      { session: null },
      { reason: 'ticket 9' },
      { outcome: 'failed:X' },
      { seq: 8 },
      { at: new Date(record.at.getTime() + 1) },
      { salt: new Uint8Array(16).fill(6) },
    ];
    for (const c of changed) expect(toHex(accessHash(prev, { ...record, salt, ...c }))).not.toBe(toHex(base));
    expect(toHex(accessHash(prev, record))).not.toBe(toHex(base));
    // The same session id in another tenant is another session.
    expect(toHex(sessionCommitment(7, 'insurer', 'claim-1'))).not.toBe(toHex(sessionCommitment(7, 'bank', 'claim-1')));
    expect(() => fieldsDigest(new Uint8Array(15), record)).toThrow(RangeError);
  });
});

/** A scope no record is in: a listing for it withholds every record in the v2 or v3 form, as a lister hiding one would. */
const NO_ONE: TrailScope = { tenant: '(no one)', session: '(no one)' };

/** Each tenant's trail secret, as its first v3 record fixed it and its auditor keeps it. */
const secretOf = (tenant: string) => new Uint8Array(32).fill(tenant === 'bank' ? 0xb1 : tenant === 'insurer' ? 0x15 : 0x77);

describe("a tenant's listing of the trail", () => {
  const keyPair = () => {
    const k = generateSigningKeyPair();
    return { id: signingKeyId(k.publicKey), publicKey: k.publicKey, secretKey: k.secretKey };
  };
  const arbRecord = fc.record({
    actor: fc.constantFrom('alice', 'mallory', '(default)'),
    action: fc.constantFrom('events', 'replay', 'hold.set', 'keys.rotate'),
    tenant: fc.constantFrom('bank', 'insurer', null),
    session: fc.option(fc.constantFrom('s1', 's2'), { nil: null }),
    reason: fc.option(fc.string({ maxLength: 8 }), { nil: null }),
    outcome: fc.constantFrom('granted', 'failed:KEY_DESTROYED'),
    form: fc.constantFrom(1, 2, 3, 4),
  });
  /**
   * A signed trail: each record in the latest form any record up to it asked for, as a
   * vault upgraded across 0059, 0061 and 0062 holds them: v1, then v2, then v3 and v4 for a
   * tenant's records (each tenant's secret its own) and v2 for the vault's.
   */
  const signedTrail = (specs: { actor: string; action: string; tenant: string | null; session: string | null; reason: string | null; outcome: string; form: number }[], signer: ReturnType<typeof keyPair>) => {
    let last = GENESIS_HASH;
    let form = 1;
    return specs.map((s, i) => {
      form = Math.max(form, s.form);
      const at = new Date(1_800_000_000_000 + i * 1000);
      const tenantSecret = form >= 3 && s.tenant !== null ? secretOf(s.tenant) : null;
      const sessionKeyed = form === 4 && s.tenant !== null;
      // Stored by the database a moment after its time (0057): every v2 record has one.
      const r = { seq: i + 1, at, actor: s.actor, action: s.action, tenant: s.tenant, session: s.session, reason: s.reason, outcome: s.outcome, salt: form >= 2 ? new Uint8Array(16).fill(i % 256) : null, tenantSecret, sessionKeyed, storedAt: new Date(at.getTime() + 5) };
      const hash = accessHash(last, r);
      last = hash;
      const { keyId, signature, note } = signTrailHead({ seq: r.seq, hash, at: r.at }, signer);
      return { ...r, hash, keyId, signature, note };
    });
  };

  const scopes: fc.Arbitrary<TrailScope> = fc.oneof(
    fc.constantFrom('bank', 'insurer').map((tenant) => ({ tenant })),
    fc.record({ tenant: fc.constantFrom('bank', 'insurer'), session: fc.constantFrom('s1', 's2') }),
  );
  /** A tenant's listing shows its records and the vault's own (no tenant); a session's, that session's alone. */
  const inScope = (r: { tenant: string | null; session: string | null }, scope: TrailScope) =>
    scope.session === undefined ? r.tenant === scope.tenant || r.tenant === null : r.tenant === scope.tenant && r.session === scope.session;

  it('checks whole for its scope (a tenant, or a session), shows only the v2, v3 and v4 records in it in full, and catches any of them withheld or left out', () => {
    const signer = keyPair();
    const keys = { keys: new Map([[signer.id, signer.publicKey]]) };
    fc.assert(
      fc.property(fc.array(arbRecord, { minLength: 1, maxLength: 12 }), scopes, (specs, scope) => {
        const stored = signedTrail(specs, signer);
        const lines = stored.map((r) => trailLine(r, scope));
        const pin = { scope, tenantSecret: secretOf(scope.tenant) };
        const report = verifyTrail(lines, keys, pin);
        expect(report).toMatchObject({ ok: true, records: stored.length, shown: stored.filter((r) => inScope(r, scope)).length, tenantSecret: toHex(secretOf(scope.tenant)), problems: [] });
        // Without the secret kept, the tenant's records shown give it; with none shown, the withheld records cannot be told from the tenant's.
        const shownKeyed = stored.some((r) => r.tenantSecret !== null && inScope(r, scope));
        const withheldAny = lines.some((l) => 'withheld' in l);
        expect(verifyTrail(lines, keys, { scope }).problems.map((p) => p.kind)).toEqual(withheldAny && !shownKeyed ? ['tenant_secret_unknown'] : []);
        // A secret kept that is not the tenant's is refused where a record of the tenant shows its own.
        // (In a session's listing a v4 record shows the session's key: the secret kept gives another.)
        const mismatch = scope.session !== undefined && stored.some((r) => r.sessionKeyed && inScope(r, scope)) ? 'session_key_mismatch' : 'tenant_secret_mismatch';
        if (shownKeyed) expect(verifyTrail(lines, keys, { scope, tenantSecret: secretOf('other') }).problems.map((p) => p.kind)).toContain(mismatch);
        if (scope.session !== undefined) {
          const key = sessionTrailKey(secretOf(scope.tenant), scope.tenant, scope.session);
          expect(report.sessionKey).toBe(toHex(key));
          // A session's listing hands out no tenant's secret for a v4 record: the session's key, and the tenant's digest, instead.
          stored.forEach((r, i) => {
            if (r.sessionKeyed && inScope(r, scope)) expect(lines[i]).toMatchObject({ sessionKey: toHex(key), tenantDigest: toHex(tenantCommitment(r.seq, r.tenant, r.tenantSecret)) });
            if (r.sessionKeyed) expect(lines[i]).not.toHaveProperty('tenantSecret');
          });
          // The session's key kept, alone, checks it; another given with the tenant's secret is said not to be the session's.
          expect(verifyTrail(lines, keys, { scope, sessionKey: key }).problems).toEqual([]);
          const other = sessionTrailKey(secretOf(scope.tenant), scope.tenant, `${scope.session}-other`);
          expect(verifyTrail(lines, keys, { scope, sessionKey: other, tenantSecret: secretOf(scope.tenant) }).problems.map((p) => p.kind)).toContain('session_key_mismatch');
        } else expect(report.sessionKey).toBeNull();
        stored.forEach((r, i) => {
          const line = lines[i]! as Record<string, unknown>;
          // A v2 record outside the scope is withheld; one in it, and every v1 record, are shown.
          expect('withheld' in line).toBe(r.salt !== null && !inScope(r, scope));
          if ('withheld' in line) expect(Object.keys(line).sort()).toEqual(['at', 'hash', 'keyId', 'seq', 'signature', 'storedAt', 'withheld']);
        });
        // Withholding one of the scope's own v2 records is caught.
        const own = stored.findIndex((r) => r.salt !== null && inScope(r, scope));
        if (own >= 0) {
          const r = stored[own]!;
          const d = accessDigests({ ...r, salt: r.salt! });
          const hidden = lines.map((l, i) =>
            i === own ? { seq: r.seq, at: r.at.toISOString(), withheld: { tenant: toHex(d.tenant), session: toHex(d.session), fields: toHex(d.fields) }, hash: toHex(r.hash), keyId: r.keyId, signature: Buffer.from(r.signature).toString('base64'), storedAt: r.storedAt.toISOString() } : l,
          );
          expect(verifyTrail(hidden, keys, pin).problems.map((p) => p.kind)).toEqual(['own_record_withheld']);
        }
        // Leaving any record out but the last is caught by the chain.
        if (lines.length > 1) {
          const drop = lines.length - 2;
          expect(verifyTrail(lines.filter((_, i) => i !== drop), keys, pin).ok).toBe(false);
        }
        // Checked as the whole trail, a listing with any record withheld is refused.
        expect(verifyTrail(lines, keys).ok).toBe(lines.every((l) => !('withheld' in l)));
      }),
      { numRuns: 80 },
    );
  });

  it('refuses a withheld record whose digests were made up: a forged tenant or session, or fields not its own', () => {
    const signer = keyPair();
    const keys = { keys: new Map([[signer.id, signer.publicKey]]) };
    const stored = signedTrail([{ actor: 'mallory', action: 'events', tenant: 'bank', session: 's1', reason: 'curious', outcome: 'granted', form: 2 }], signer);
    const line = trailLine(stored[0]!, { tenant: 'bank' }) as Record<string, unknown>;
    const r = stored[0]!;
    const d = accessDigests({ ...r, salt: r.salt! });
    const withheld = (digests: Partial<typeof d>) => {
      const w = { ...d, ...digests };
      return { seq: 1, at: line.at, withheld: { tenant: toHex(w.tenant), session: toHex(w.session), fields: toHex(w.fields) }, hash: line.hash, keyId: line.keyId, signature: line.signature, storedAt: line.storedAt };
    };
    const kinds = (l: unknown, scope: TrailScope) => verifyTrail([l], keys, { scope, tenantSecret: secretOf(scope.tenant) }).problems.map((p) => p.kind);
    expect(kinds(withheld({ tenant: tenantCommitment(1, 'insurer') }), { tenant: 'bank' })).toEqual(['access_hash_mismatch']);
    expect(kinds(withheld({ session: sessionCommitment(1, 'bank', 's2') }), { tenant: 'bank', session: 's1' })).toEqual(['access_hash_mismatch']);
    expect(kinds(withheld({ fields: fieldsDigest(r.salt!, { ...r, reason: 'ticket 9' }) }), { tenant: 'bank' })).toEqual(['own_record_withheld', 'access_hash_mismatch']);
    // Its true digests pass for another scope, and are the scope's own for its tenant and its session.
    expect(kinds(withheld({}), { tenant: 'insurer' })).toEqual([]);
    expect(kinds(withheld({}), { tenant: 'bank', session: 's2' })).toEqual([]);
    expect(kinds(withheld({}), { tenant: 'bank', session: 's1' })).toEqual(['own_record_withheld']);
    // A v1 record cannot be shown as withheld: its hash is not a v2 link of any digests.
    const v1 = signedTrail([{ actor: 'mallory', action: 'events', tenant: 'insurer', session: 's1', reason: null, outcome: 'granted', form: 1 }], signer)[0]!;
    expect(trailLine(v1, { tenant: 'bank' })).toMatchObject({ actor: 'mallory', tenant: 'insurer', salt: null });
    const link = accessLink(GENESIS_HASH, { seq: 1, at: v1.at, tenant: tenantCommitment(1, 'insurer'), session: sessionCommitment(1, 'insurer', 's1'), fields: new Uint8Array(32) });
    expect(toHex(link)).not.toBe(toHex(v1.hash));
  });

  it('checks a listing after a head checked before, chained onto it, and catches one that is not', () => {
    const signer = keyPair();
    const keys = { keys: new Map([[signer.id, signer.publicKey]]) };
    fc.assert(
      fc.property(fc.array(arbRecord, { minLength: 2, maxLength: 12 }), scopes, fc.nat(), (specs, scope, at) => {
        const stored = signedTrail(specs, signer);
        const k = 1 + (at % (stored.length - 1)); // the head checked before: seq k, with records after it
        const [before, now] = [stored[k - 1]!.note, stored[stored.length - 1]!.note];
        const after = stored.slice(k).map((r) => trailLine(r, scope));
        const tenantSecret = secretOf(scope.tenant);
        expect(verifyTrail(after, keys, { fromHead: before, witnessHead: now, scope, tenantSecret })).toMatchObject({ ok: true, fromSeq: k, records: stored.length - k, problems: [] });
        // Nothing new, when there is: the witness shows it.
        expect(verifyTrail([], keys, { fromHead: before, witnessHead: now, scope, tenantSecret }).problems.map((p) => p.kind)).toEqual(['access_witness_beyond_head']);
        // The first record after the head left out.
        if (after.length > 1) expect(verifyTrail(after.slice(1), keys, { fromHead: before, witnessHead: now, scope, tenantSecret }).ok).toBe(false);
        // Checked from another head than the one it follows.
        const other = stored[k - 2]?.note ?? stored[k]!.note;
        expect(verifyTrail(after, keys, { fromHead: other, witnessHead: now, scope, tenantSecret }).ok).toBe(false);
      }),
      { numRuns: 60 },
    );
    // A head checked before that no trusted key signed vouches for nothing.
    const stored = signedTrail([{ actor: 'a', action: 'events', tenant: 'bank', session: 's1', reason: null, outcome: 'granted', form: 2 }, { actor: 'b', action: 'events', tenant: 'bank', session: 's1', reason: null, outcome: 'granted', form: 2 }], signer);
    const stranger = keyPair();
    const forged = signTrailHead({ seq: 1, hash: stored[0]!.hash, at: stored[0]!.at }, stranger).note;
    expect(verifyTrail([trailLine(stored[1]!)], keys, { fromHead: forged }).problems.map((p) => p.kind)).toEqual(['access_bad_signature']);
    expect(verifyTrail([trailLine(stored[1]!)], keys, { fromHead: stored[0]!.note, witnessHead: stored[0]!.note }).ok).toBe(true);
  });

  it('is read alike by a second implementation written from docs/formats.md alone (Python, standard library)', () => {
    const signer = keyPair();
    const keys = { keys: new Map([[signer.id, signer.publicKey]]) };
    const specs = [
      { actor: '(default)', action: 'retention.set:30d/7y', tenant: 'bank', session: null, reason: 'tenant created', outcome: 'granted', form: 1 },
      { actor: 'mallory', action: 'events', tenant: 'insurer', session: 's1', reason: 'curious', outcome: 'granted', form: 1 },
      { actor: 'alice', action: 'replay', tenant: 'bank', session: 's1', reason: 'ticket 9', outcome: 'granted', form: 2 },
      { actor: 'carol', action: 'events', tenant: 'insurer', session: 's1', reason: null, outcome: 'failed:KEY_DESTROYED', form: 2 },
      { actor: 'dave', action: 'events', tenant: 'bank', session: 's2', reason: 'ticket 10', outcome: 'granted', form: 2 },
      { actor: 'ops', action: 'keys.rotate-master', tenant: null, session: null, reason: 'yearly', outcome: 'granted', form: 2 },
      // After 0061: the tenants' records in the v3 form, the vault's own still v2.
      { actor: 'erin', action: 'events', tenant: 'insurer', session: 's1', reason: 'claim 4', outcome: 'granted', form: 3 },
      { actor: 'alice', action: 'export', tenant: 'bank', session: 's1', reason: 'ticket 11', outcome: 'granted', form: 3 },
      { actor: 'dave', action: 'replay', tenant: 'bank', session: 's2', reason: null, outcome: 'granted', form: 3 },
      { actor: 'ops', action: 'keys.retire-signing', tenant: null, session: null, reason: 'yearly', outcome: 'granted', form: 3 },
      // After 0062: the tenants' records in the v4 form.
      { actor: 'frank', action: 'events', tenant: 'bank', session: 's1', reason: 'complaint 12', outcome: 'granted', form: 4 },
      { actor: 'grace', action: 'replay', tenant: 'bank', session: 's2', reason: null, outcome: 'granted', form: 4 },
      { actor: 'heidi', action: 'events', tenant: 'insurer', session: 's1', reason: 'claim 5', outcome: 'granted', form: 4 },
    ];
    const stored = signedTrail(specs, signer);
    expect(stored.map((r) => (r.salt === null ? 1 : r.tenantSecret === null ? 2 : r.sessionKeyed ? 4 : 3))).toEqual([1, 1, 2, 2, 2, 2, 3, 3, 3, 2, 4, 4, 4]);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sv-trail-py-'));
    const python = (lines: unknown[], scope: string[], secret?: Uint8Array, key?: Uint8Array) => {
      const file = path.join(dir, 'trail.ndjson');
      writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
      const run = spawnSync('python3', [path.join(__dirname, '..', 'support', 'trail-chain.py'), file, ...scope, ...(secret ? ['--secret', toHex(secret)] : []), ...(key ? ['--key', toHex(key)] : [])], { encoding: 'utf8' });
      expect([run.status, run.stderr]).toEqual([0, '']);
      return JSON.parse(run.stdout) as { records: number; bad: number[]; ownWithheld: number[] };
    };
    const ours = (lines: unknown[], scope: TrailScope, tenantSecret?: Uint8Array) => verifyTrail(lines, keys, { scope, tenantSecret }).problems.map((p) => `${p.seq ?? '-'} ${p.kind}`);
    const asWithheld = (r: (typeof stored)[number]) => trailLine(r, NO_ONE);
    try {
      expect(python(stored.map((r) => trailLine(r)), [])).toEqual({ records: 13, bad: [], ownWithheld: [] });
      const bank = stored.map((r) => trailLine(r, { tenant: 'bank' }));
      // The insurer's v2, v3 and v4 records withheld; the vault's own (a master key's rotation) shown to every tenant.
      expect(bank.map((l) => ('withheld' in l ? 'withheld' : 'shown'))).toEqual(['shown', 'shown', 'shown', 'withheld', 'shown', 'shown', 'withheld', 'shown', 'shown', 'shown', 'shown', 'shown', 'withheld']);
      // Withholding the vault's own from a tenant is caught by both.
      const hidden = bank.map((l, i) => (i === 5 ? asWithheld(stored[5]!) : l));
      expect(python(hidden, ['bank'])).toEqual({ records: 13, bad: [], ownWithheld: [6] });
      expect(ours(hidden, { tenant: 'bank' })).toEqual(['6 own_record_withheld']);
      expect(python(bank, ['bank'])).toEqual({ records: 13, bad: [], ownWithheld: [] });
      // Withholding one of the bank's v3 records: both tell it by the secret the bank's records shown carry, or the one kept.
      const hidden3 = bank.map((l, i) => (i === 7 ? asWithheld(stored[7]!) : l));
      expect(python(hidden3, ['bank'])).toEqual({ records: 13, bad: [], ownWithheld: [8] });
      expect(ours(hidden3, { tenant: 'bank' })).toEqual(['8 own_record_withheld']);
      const allHidden = bank.map((l, i) => ([7, 8, 10, 11].includes(i) ? asWithheld(stored[i]!) : l));
      expect(python(allHidden, ['bank'], secretOf('bank'))).toEqual({ records: 13, bad: [], ownWithheld: [8, 9, 11, 12] });
      expect(ours(allHidden, { tenant: 'bank' }, secretOf('bank'))).toEqual(['8 own_record_withheld', '9 own_record_withheld', '11 own_record_withheld', '12 own_record_withheld']);
      // With every v3 and v4 record of the bank's withheld and no secret kept, neither can tell them from the insurer's: ours says so.
      expect(python(allHidden, ['bank'])).toEqual({ records: 13, bad: [], ownWithheld: [] });
      expect(ours(allHidden, { tenant: 'bank' })).toEqual(['- tenant_secret_unknown']);
      const s1 = stored.map((r) => trailLine(r, { tenant: 'bank', session: 's1' }));
      expect(python(s1, ['bank', 's1'])).toEqual({ records: 13, bad: [], ownWithheld: [] });
      // Both find the same withheld records of the scope, and the same changed one.
      expect(python(s1, ['bank', 's2'], secretOf('bank'))).toEqual({ records: 13, bad: [], ownWithheld: [5, 9, 12] });
      expect(ours(s1, { tenant: 'bank', session: 's2' }, secretOf('bank'))).toEqual(['5 own_record_withheld', '9 own_record_withheld', '12 own_record_withheld']);
      // A session's v4 record shows the session's key, not the bank's secret; withheld, both tell it by the key (shown, derived from a v3 record's secret, or given).
      const s2 = stored.map((r) => trailLine(r, { tenant: 'bank', session: 's2' }));
      expect(Object.keys(s2[11]!)).toEqual(expect.arrayContaining(['sessionKey', 'tenantDigest']));
      expect(s2[11]).not.toHaveProperty('tenantSecret');
      const s2Key = sessionTrailKey(secretOf('bank'), 'bank', 's2');
      const s2Hidden = s2.map((l, i) => (i === 11 ? asWithheld(stored[11]!) : l));
      expect(python(s2Hidden, ['bank', 's2'])).toEqual({ records: 13, bad: [], ownWithheld: [12] });
      expect(ours(s2Hidden, { tenant: 'bank', session: 's2' })).toEqual(['12 own_record_withheld']);
      // With its v3 record withheld too, the key alone tells the v4 one; the v3 one only the bank's secret does.
      const s2Both = s2.map((l, i) => (i === 8 || i === 11 ? asWithheld(stored[i]!) : l));
      expect(python(s2Both, ['bank', 's2'], undefined, s2Key)).toEqual({ records: 13, bad: [], ownWithheld: [12] });
      expect(verifyTrail(s2Both, keys, { scope: { tenant: 'bank', session: 's2' }, sessionKey: s2Key }).problems.map((p) => `${p.seq} ${p.kind}`)).toEqual(['12 own_record_withheld']);
      expect(python(s2Both, ['bank', 's2'], secretOf('bank'))).toEqual({ records: 13, bad: [], ownWithheld: [9, 12] });
      const changed = bank.map((l, i) => (i === 2 || i === 7 || i === 10 ? { ...l, reason: 'ticket 99' } : l));
      expect(python(changed, ['bank'])).toEqual({ records: 13, bad: [3, 8, 11], ownWithheld: [] });
      expect(ours(changed, { tenant: 'bank' })).toEqual(['3 access_hash_mismatch', '8 access_hash_mismatch', '11 access_hash_mismatch']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("takes the tenant's secret only from a record the witness saw: a lister holding the signing key cannot pass off a secret of their own by a record appended past the head", () => {
    const signer = keyPair();
    const keys = { keys: new Map([[signer.id, signer.publicKey]]) };
    const stored = signedTrail(
      [
        { actor: '(default)', action: 'retention.set:30d/7y', tenant: 'bank', session: null, reason: 'tenant created', outcome: 'granted', form: 3 },
        { actor: 'carol', action: 'events', tenant: 'insurer', session: 's1', reason: null, outcome: 'granted', form: 3 },
        { actor: 'mallory', action: 'export', tenant: 'bank', session: 's1', reason: 'curious', outcome: 'granted', form: 3 },
      ],
      signer,
    );
    const witnessHead = stored[2]!.note;
    const asWithheld = (r: (typeof stored)[number]) => trailLine(r, NO_ONE);
    // The bank's records withheld, and a record of the bank's of the lister's own making after the witnessed head, keyed by a secret they chose.
    const forgedSecret = new Uint8Array(32).fill(0xee);
    const fake = { seq: 4, at: new Date(stored[2]!.at.getTime() + 1000), actor: 'ops', action: 'keys.check', tenant: 'bank', session: null, reason: null, outcome: 'granted', salt: new Uint8Array(16).fill(4), tenantSecret: forgedSecret, storedAt: new Date(stored[2]!.at.getTime() + 1005) };
    const fakeHash = accessHash(stored[2]!.hash, fake);
    const { keyId, signature } = signTrailHead({ seq: 4, hash: fakeHash, at: fake.at }, signer);
    const listing = [asWithheld(stored[0]!), trailLine(stored[1]!, { tenant: 'bank' }), asWithheld(stored[2]!), trailLine({ ...fake, hash: fakeHash, keyId, signature })];
    const report = verifyTrail(listing, keys, { scope: { tenant: 'bank' }, witnessHead });
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => `${p.seq ?? '-'} ${p.kind}`)).toEqual(['- tenant_secret_unknown']);
    // With the bank's secret kept, the withheld records are the bank's, and the record past the head is not under it.
    expect(verifyTrail(listing, keys, { scope: { tenant: 'bank' }, witnessHead, tenantSecret: secretOf('bank') }).problems.map((p) => `${p.seq ?? '-'} ${p.kind}`)).toEqual(['4 tenant_secret_mismatch', '1 own_record_withheld', '3 own_record_withheld']);
    // Without a witnessed head the end is not checked (the command says so), and any record shown gives the secret.
    expect(verifyTrail(listing, keys, { scope: { tenant: 'bank' } }).ok).toBe(true);
  });

  it("holds a retired key's record to the database's storage time, as verify does, and takes no v2 record without one", () => {
    const signer = keyPair();
    const stored = signedTrail([{ actor: 'bob', action: 'hold.clear', tenant: 'bank', session: 's1', reason: 'released', outcome: 'granted', form: 2 }], signer);
    const r = stored[0]!;
    // The key was retired a minute after the record's signed time; the record was stored an hour after that.
    const periods = new Map([[signer.id, { from: new Date(0), until: new Date(r.at.getTime() + 60_000) }]]);
    const keys = { keys: new Map([[signer.id, signer.publicKey]]), periods };
    const line = (storedAt: Date) => trailLine({ ...r, storedAt });
    expect(verifyTrail([line(new Date(r.at.getTime() + 5))], keys).ok).toBe(true);
    expect(verifyTrail([line(new Date(r.at.getTime() + 3_600_000))], keys).problems.map((p) => `${p.seq} ${p.kind}`)).toEqual(['1 access_outside_key_period']);
    // A listing that drops the time would pass it: a v2 line without one is not a record of this vault's.
    const { storedAt: _dropped, ...without } = line(new Date(r.at.getTime() + 3_600_000)) as Record<string, unknown>;
    expect(verifyTrail([without], keys).problems.map((p) => p.kind)).toEqual(['malformed_record']);
    const withheld = trailLine({ ...r, storedAt: new Date(r.at.getTime() + 5) }, { tenant: 'insurer' }) as Record<string, unknown>;
    expect(verifyTrail([{ ...withheld, storedAt: null }], keys, { scope: { tenant: 'insurer' }, tenantSecret: secretOf('insurer') }).problems.map((p) => p.kind)).toEqual(['malformed_record']);
  });

  it('takes a line whose trail keys do not go together as malformed, and does not throw, whatever the lister wrote', () => {
    const signer = keyPair();
    const keys = { keys: new Map([[signer.id, signer.publicKey]]) };
    const spec = { actor: 'frank', action: 'events', tenant: 'bank', session: 's1', reason: null, outcome: 'granted', form: 4 };
    const [r] = signedTrail([spec], signer);
    const tenantLine = trailLine(r!, { tenant: 'bank' }) as Record<string, unknown>;
    const sessionLine = trailLine(r!, { tenant: 'bank', session: 's1' }) as Record<string, unknown>;
    const { sessionKeyed: _, ...v3 } = tenantLine;
    const { tenantDigest: __, ...keyAlone } = sessionLine;
    const wrong = [
      { ...tenantLine, tenant: null }, // a secret with no tenant
      { ...tenantLine, salt: null }, // a secret with no salt
      { ...v3, tenantSecret: undefined, sessionKeyed: true }, // v4 without the secret
      keyAlone, // the session's key without the tenant's digest
      { ...sessionLine, tenantSecret: tenantLine.tenantSecret }, // the session's key with the secret
      { ...sessionLine, tenant: null }, // the session's key with no tenant
    ];
    for (const line of wrong) {
      const report = verifyTrail([JSON.parse(JSON.stringify(line))], keys, { scope: { tenant: 'bank', session: 's1' } });
      expect(report.problems.map((p) => p.kind)).toContain('malformed_record');
    }
    // The lines as written check.
    expect(verifyTrail([tenantLine], keys, { scope: { tenant: 'bank' } }).ok).toBe(true);
    expect(verifyTrail([sessionLine], keys, { scope: { tenant: 'bank', session: 's1' } }).ok).toBe(true);
  });

  it('never throws, whatever the lines a lister hands over: every one is read as a record or reported', () => {
    const hex = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => toHex(b));
    const base = { seq: 1, at: '2026-01-02T03:04:05.678Z', actor: 'a', action: 'events', tenant: 'bank', session: 's1', reason: null, outcome: 'granted', salt: '00'.repeat(16), hash: '00'.repeat(32), keyId: 'k', signature: Buffer.alloc(64).toString('base64'), storedAt: '2026-01-02T03:04:05.678Z' };
    const value = fc.oneof(fc.constant(null), fc.constant(true), fc.integer(), fc.constantFrom(1e300, 2 ** 64, 1.5, -1), fc.string({ maxLength: 4 }), hex(16), hex(32), fc.constantFrom('+275760-09-13T00:00:00.000Z', '0000-01-01T00:00:00.000Z'));
    const fields = ['seq', 'at', 'actor', 'tenant', 'session', 'salt', 'tenantSecret', 'sessionKeyed', 'sessionKey', 'tenantDigest', 'hash', 'keyId', 'signature', 'storedAt'];
    const full = fc.record(Object.fromEntries(fields.map((k) => [k, value])), { requiredKeys: [] }).map((o) => ({ ...base, ...o }));
    const digests = fc.record({ tenant: fc.oneof(value, hex(32)), session: fc.oneof(value, hex(32)), fields: fc.oneof(value, hex(32)) });
    const withheld = fc.record({ seq: fc.oneof(value, fc.nat(9)), at: fc.oneof(value, fc.constant(base.at)), withheld: fc.oneof(value, digests), hash: hex(32), keyId: value, signature: value, storedAt: fc.oneof(value, fc.constant(base.at)) });
    const scope = fc.constantFrom(null, { tenant: 'bank' }, { tenant: 'bank', session: 's1' });
    const keys = { keys: new Map([['k', new Uint8Array(32)]]) };
    fc.assert(
      fc.property(fc.array(fc.oneof(full, withheld), { maxLength: 4 }), scope, fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 })), (lines, sc, key) => {
        for (const check of [{ scope: sc }, { scope: sc, since: new Date('2026-01-02T03:10:00Z'), tenantSecret: key, sessionKey: key }]) {
          const report = verifyTrail(lines, keys, check);
          expect(report.ok).toBe(false); // no trusted key signed any of them
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('reads a trail file written before the v2 form, whose lines have no salt', () => {
    const signer = keyPair();
    const stored = signedTrail([{ actor: 'alice', action: 'events', tenant: 'bank', session: 's1', reason: null, outcome: 'granted', form: 1 }], signer);
    const { salt: _salt, storedAt: _storedAt, ...old } = trailLine(stored[0]!) as Record<string, unknown>;
    expect(verifyTrail([old], { keys: new Map([[signer.id, signer.publicKey]]) })).toMatchObject({ ok: true, shown: 1, withheld: 0 });
  });
});
