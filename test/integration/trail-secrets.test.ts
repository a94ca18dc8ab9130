import { randomBytes } from 'node:crypto';
import { accessDigests, accessHash, sessionCommitment, sessionKeyCommitment, sessionTrailKey, signTrailHead, tenantCommitment, verifyTrail, type TrailLine } from '../../src/audit';
import { fromHex, toHex } from '../../src/crypto';
import { appendAccess, lastAccess } from '../../src/store';
import type { VaultDeps } from '../../src/vault/deps';
import { storeOf, type Vault } from '../../src/vault/vault';
import { openVault } from '../../src/vault';
import { createLogger } from '../../src/observability';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
import { refusal } from '../support/refusal';

/**
 * A tenant's listing of the access trail shows every other tenant's record as digests of
 * its tenant, its session and its other fields. Before migration 0061 the tenant's and the
 * session's digests were the record's seq and the names, hashed: the bank's auditor, handed
 * the bank's listing, tried "insurer" against them and learned which records were the
 * insurer's, when its sessions were read, and which of a guessed session id. Now they are
 * keyed by the tenant's trail secret, which the tenant's auditor alone of the auditors
 * holds. Performed as the bank's auditor (guessing), as the application role holding the
 * signing key (a record of the bank keyed by another secret, which the bank's auditor
 * would take for another tenant's), and as the DBA with triggers off. A session's listing
 * (what a customer asking who read their conversation is handed) showed the session's
 * records with the tenant's secret, by which the customer tried the bank's other session
 * ids; since migration 0062 it shows the session's own trail key: performed as that
 * customer, and as a lister withholding one of the session's records from them.
 */
afterAll(dropCreatedDatabases);

describe.each(backends())("a tenant's trail secret, on $name", (backend) => {
  let vault: Vault;
  let url: string;
  let home: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ vault, url, home, close } = await testVault(backend));
    await vault.createTenant('bank');
    await vault.createTenant('insurer');
    await vault.session('bank', 'claim-8812').append({ type: 'message', role: 'user', content: 'my card number' });
    await vault.session('insurer', 'policy-77').append({ type: 'message', role: 'user', content: 'my diagnosis' });
    await vault.operator({ actor: 'carol', reason: 'fraud case 4471' }).state('insurer', 'policy-77');
    await vault.operator({ actor: 'mallory', reason: 'curious' }).state('bank', 'claim-8812');
    await vault.operator({ actor: 'dave', reason: 'renewal' }).events('insurer', 'policy-77');
  });
  afterAll(() => close());

  const listing = async (tenant: string) => {
    const lines: TrailLine[] = [];
    for await (const l of vault.trailFile({ tenant })) lines.push(l);
    return lines;
  };
  const secretIn = (lines: TrailLine[]) => {
    const shown = lines.find((l) => 'tenantSecret' in l && l.tenantSecret !== undefined) as { tenantSecret?: string } | undefined;
    return shown?.tenantSecret === undefined ? undefined : fromHex(shown.tenantSecret);
  };

  it("the bank's auditor cannot tell which withheld records are the insurer's, or which session they were of, by trying names", async () => {
    const bank = await listing('bank');
    const withheld = bank.filter((l) => 'withheld' in l) as Extract<TrailLine, { withheld: unknown }>[];
    // The insurer's: its policy's record at its creation, carol's read and dave's.
    expect(withheld.length).toBe(3);
    const bankSecret = secretIn(bank);
    // Every documented form of a guess: the names hashed with the seq (v2), or keyed by the one secret the bank's auditor holds, the bank's.
    const guesses = ['insurer', 'Insurer', 'insurance', 'acme', 'bank'];
    const found: string[] = [];
    for (const w of withheld) {
      for (const g of guesses) {
        const tenants = [tenantCommitment(w.seq, g), ...(bankSecret ? [tenantCommitment(w.seq, g, bankSecret)] : [])].map(toHex);
        if (tenants.includes(w.withheld.tenant)) found.push(`${w.seq} tenant ${g}`);
        for (const s of [null, 'policy-77', 'claim-8812']) {
          const sessions = [sessionCommitment(w.seq, g, s), ...(bankSecret ? [sessionCommitment(w.seq, g, s, bankSecret)] : [])].map(toHex);
          if (sessions.includes(w.withheld.session)) found.push(`${w.seq} session ${g}/${s}`);
        }
      }
    }
    expect(found).toEqual([]);
    // The listing checks whole for the bank, by the bank's own secret, which its records shown carry.
    expect(verifyTrail(bank, { keys: await deps().trustedKeys() }, { scope: { tenant: 'bank' } })).toMatchObject({ ok: true, shown: 2, withheld: 3, tenantSecret: toHex(bankSecret!) });
    // The insurer's auditor, holding the insurer's secret, is the one who finds them the insurer's.
    const insurerSecret = secretIn(await listing('insurer'))!;
    const own = verifyTrail(bank, { keys: await deps().trustedKeys() }, { scope: { tenant: 'insurer' }, tenantSecret: insurerSecret });
    expect(own.problems.map((p) => `${p.seq} ${p.kind}`)).toEqual(withheld.map((w) => `${w.seq} own_record_withheld`));
  });

  type FullLine = Exclude<TrailLine, { withheld: unknown }>;
  type WithheldLine = Extract<TrailLine, { withheld: unknown }>;
  const sessionListing = async (tenant: string, session: string) => {
    const lines: TrailLine[] = [];
    for await (const l of vault.trailFile({ tenant, session })) lines.push(l);
    return lines;
  };

  it("the customer handed their session's listing cannot try the bank's other session ids against the records it withholds", async () => {
    await vault.session('bank', 'claim-9001').append({ type: 'message', role: 'user', content: 'my neighbour\'s claim' });
    await vault.operator({ actor: 'erin', reason: 'claims review' }).state('bank', 'claim-9001');
    await vault.operator({ actor: 'frank', reason: 'complaint 12' }).events('bank', 'claim-8812');
    const mine = await sessionListing('bank', 'claim-8812');
    const withheld = mine.filter((l): l is WithheldLine => 'withheld' in l);
    const shown = mine.filter((l): l is FullLine => !('withheld' in l));
    expect(shown.map((l) => l.actor)).toEqual(['mallory', 'frank']);
    // Whatever key material the listing hands the customer, tried as every documented form keys a guess.
    const held = shown.flatMap((l) => [l.tenantSecret, l.sessionKey].filter((k): k is string => k !== undefined)).map(fromHex);
    expect(shown.map((l) => l.tenantSecret)).toEqual([undefined, undefined]);
    const found = new Set<string>();
    for (const w of withheld) {
      for (const t of ['bank', 'insurer']) {
        for (const g of ['claim-9001', 'claim-9002', 'policy-77', null]) {
          const guesses = [sessionCommitment(w.seq, t, g), ...held.flatMap((k) => [sessionCommitment(w.seq, t, g, k), sessionKeyCommitment(w.seq, t, g, k), sessionKeyCommitment(w.seq, t, g, sessionTrailKey(k, t, g))])];
          if (guesses.map(toHex).includes(w.withheld.session)) found.add(`${w.seq} ${t}/${g}`);
        }
        const tenants = [tenantCommitment(w.seq, t), ...held.map((k) => tenantCommitment(w.seq, t, k))];
        if (tenants.map(toHex).includes(w.withheld.tenant)) found.add(`${w.seq} ${t}`);
      }
    }
    expect([...found]).toEqual([]);
    // It is there: the bank's auditor, by the bank's secret, finds claim-9001's record among them (erin's read).
    const bankSecret = secretIn(await listing('bank'))!;
    const other = sessionTrailKey(bankSecret, 'bank', 'claim-9001');
    expect(withheld.filter((w) => toHex(sessionKeyCommitment(w.seq, 'bank', 'claim-9001', other)) === w.withheld.session).length).toBe(1);
    // The customer's listing checks whole, by the session's key its records carry; the same key as the bank's secret gives it.
    const key = sessionTrailKey(bankSecret, 'bank', 'claim-8812');
    const keys = { keys: await deps().trustedKeys() };
    expect(verifyTrail(mine, keys, { scope: { tenant: 'bank', session: 'claim-8812' } })).toMatchObject({ ok: true, shown: 2, tenantSecret: null, sessionKey: toHex(key) });
    expect(verifyTrail(mine, keys, { scope: { tenant: 'bank', session: 'claim-8812' }, tenantSecret: bankSecret })).toMatchObject({ ok: true, sessionKey: toHex(key) });
    // Another session's key, kept or given, does not pass for this one.
    const wrong = verifyTrail(mine, keys, { scope: { tenant: 'bank', session: 'claim-8812' }, sessionKey: other });
    expect(wrong.problems.map((p) => `${p.seq} ${p.kind}`)).toEqual(shown.map((l) => `${l.seq} session_key_mismatch`));
  });

  /** A v4 line of a session's listing as the listing would show it withheld: the digests its hash covers. */
  const withhold = (l: FullLine): WithheldLine => {
    const r = { seq: l.seq, at: new Date(l.at), actor: l.actor, action: l.action, tenant: l.tenant, session: l.session, reason: l.reason, outcome: l.outcome };
    const d = accessDigests({ ...r, salt: fromHex(l.salt!), sessionKey: fromHex(l.sessionKey!), tenantDigest: fromHex(l.tenantDigest!) });
    return { seq: l.seq, at: l.at, withheld: { tenant: toHex(d.tenant), session: toHex(d.session), fields: toHex(d.fields) }, hash: l.hash, keyId: l.keyId, signature: l.signature, storedAt: l.storedAt };
  };

  it("a lister withholding one of the session's records from its listing is caught, by the key the session's other records carry or the key kept", async () => {
    const mine = await sessionListing('bank', 'claim-8812');
    const keys = { keys: await deps().trustedKeys() };
    const scope = { tenant: 'bank', session: 'claim-8812' };
    const kept = fromHex(verifyTrail(mine, keys, { scope }).sessionKey!);
    // frank's read, shown as the digests the listing gives every other record in its place.
    const frank = mine.findIndex((l) => 'actor' in l && l.actor === 'frank');
    const cut = mine.map((x, i): TrailLine => (i === frank ? withhold(x as FullLine) : x));
    const seen = verifyTrail(cut, keys, { scope });
    expect(seen.problems.map((p) => `${p.seq} ${p.kind}`)).toEqual([`${mine[frank]!.seq} own_record_withheld`]);
    // Every record of the session withheld: the key kept tells them; without it, the listing is not taken as checked.
    const none = mine.map((x): TrailLine => ('withheld' in x || x.session !== 'claim-8812' ? x : withhold(x)));
    expect(verifyTrail(none, keys, { scope, sessionKey: kept }).problems.map((p) => p.kind)).toEqual(['own_record_withheld', 'own_record_withheld']);
    expect(verifyTrail(none, keys, { scope }).problems.map((p) => p.kind)).toEqual(['tenant_secret_unknown']);
  });

  it('refuses a record whose session is keyed by the session key without its tenant\'s secret', async () => {
    const before = (await lastAccess(storeOf(vault).db))!;
    const r = { seq: before.seq + 1, at: new Date(), actor: 'mallory', action: 'export', tenant: 'bank', session: 'claim-8812', reason: 'curious', outcome: 'granted', hash: new Uint8Array(32), keyId: null, signature: null, salt: new Uint8Array(randomBytes(16)), sessionKeyed: true };
    expect(await refusal(appendAccess(storeOf(vault), [r]))).toMatch(/access_log_session_keyed_form/);
    expect((await lastAccess(storeOf(vault).db))!.seq).toBe(before.seq);
  });

  const deps = () => (vault as unknown as { deps: VaultDeps }).deps;

  /** The bank's next record, chained and signed as the vault would, but keyed by `secret`. */
  const nextRecord = async (secret: Uint8Array) => {
    const last = (await lastAccess(storeOf(vault).db))!;
    const r = { seq: last.seq + 1, at: new Date(), actor: 'mallory', action: 'export', tenant: 'bank', session: 'claim-8812', reason: 'curious', outcome: 'granted', salt: new Uint8Array(randomBytes(16)), tenantSecret: secret };
    const hash = accessHash(last.hash, r);
    const { keyId, signature } = signTrailHead({ seq: r.seq, hash, at: r.at }, (await deps().signer())!);
    return { ...r, hash, keyId, signature };
  };

  it("writers recording a tenant's first records at once agree on its secret: none is refused, and verify finds one secret a tenant", async () => {
    // Two processes' vaults on a server (the embedded store has one connection: one vault, its calls interleaved).
    const other = /^postgres/.test(url) ? await openVault({ home, database: url, logger: createLogger({ level: 'silent' }) }) : vault;
    try {
      for (let round = 0; round < 8; round++) {
        // An operator's read of a tenant with no record yet records it (granted, then failed): its first records.
        const tenant = `ghost-${round}`;
        const reads = [vault, other, vault, other].map((v, i) => v.operator({ actor: `op${i}`, reason: 'race' }).state(tenant, 's').then(() => 'read', (e: { code?: string }) => e.code));
        expect(await Promise.all(reads)).toEqual(['UNKNOWN_SESSION', 'UNKNOWN_SESSION', 'UNKNOWN_SESSION', 'UNKNOWN_SESSION']);
      }
      const [rows] = await asOwner(vault, url, [{ text: "SELECT tenant_id, count(*)::int AS records, count(DISTINCT tenant_secret)::int AS secrets FROM access_log WHERE tenant_id LIKE 'ghost-%' GROUP BY tenant_id ORDER BY tenant_id" }]);
      expect(rows).toEqual(Array.from({ length: 8 }, (_, i) => ({ tenant_id: `ghost-${i}`, records: 8, secrets: 1 })));
      expect((await vault.verify()).problems).toEqual([]);
    } finally {
      if (other !== vault) await other.close();
    }
  });

  it('a checkpoint run that cannot read the trail for the secrets is refused, typed, and signs nothing', async () => {
    const fresh = await testVault(backend);
    try {
      await fresh.vault.createTenant('bank');
      await fresh.vault.session('bank', 's').append({ type: 'task', task: 't' });
      const app = storeOf(fresh.vault).layout.appRole;
      await asOwner(fresh.vault, fresh.url, [{ text: `REVOKE SELECT ON access_log FROM ${app}` }], { triggers: 'on' });
      try {
        await expect(fresh.vault.checkpoint()).rejects.toMatchObject({ code: 'ACCESS_TRAIL_UNAVAILABLE', message: expect.stringContaining("trail secrets, so the checkpoint run is refused") });
      } finally {
        await asOwner(fresh.vault, fresh.url, [{ text: `GRANT SELECT ON access_log TO ${app}` }], { triggers: 'on' });
      }
      const signed = await asOwner(fresh.vault, fresh.url, [{ text: 'SELECT count(*)::int AS n FROM checkpoints' }]);
      expect(signed[0]).toEqual([{ n: 1 }]); // the append's own head, signed as it was written, and no more
      // With the trail readable again, the run signs and witnesses the head.
      expect((await fresh.vault.checkpoint()).map((r) => r.witness)).toEqual(['recorded']);
    } finally {
      await fresh.close();
    }
  });

  it("refuses a record of the bank keyed by another secret, even from a writer holding the signing key; one stored with triggers off is named by verify and by the bank's auditor", async () => {
    const bankSecret = secretIn(await listing('bank'))!;
    const before = (await lastAccess(storeOf(vault).db))!.seq;
    const other = new Uint8Array(randomBytes(32));
    // As the application role, with the checkpoint signing key: the database refuses it.
    expect(await refusal(appendAccess(storeOf(vault), [await nextRecord(other)]))).toMatch(/trail secret is the one its first record has/);
    expect((await lastAccess(storeOf(vault).db))!.seq).toBe(before);
    // A record with a secret and no tenant, or a secret of another size, is refused too.
    const vaultOwn = await nextRecord(bankSecret);
    expect(await refusal(asOwner(vault, url, [{ text: 'INSERT INTO access_log (seq, at, actor, action, outcome, hash, salt, tenant_secret) VALUES ($1, now(), $2, $3, $4, $5, $6, $7)', values: [vaultOwn.seq, 'ops', 'keys.rotate-master', 'granted', Buffer.from(vaultOwn.hash), Buffer.from(vaultOwn.salt), Buffer.from(bankSecret)] }], { triggers: 'on' }))).toMatch(/access_log_tenant_secret_form/);
    await expect(appendAccess(storeOf(vault), [{ ...vaultOwn, tenantSecret: new Uint8Array(31) }])).rejects.toThrow(RangeError);
    expect((await lastAccess(storeOf(vault).db))!.seq).toBe(before);
    expect((await vault.verify()).ok).toBe(true);

    // As the DBA with triggers off: stored, and named.
    const forged = await nextRecord(other);
    await asOwner(vault, url, [
      {
        text: 'INSERT INTO access_log (seq, at, actor, action, tenant_id, session_id, reason, outcome, hash, key_id, signature, salt, tenant_secret) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)',
        values: [forged.seq, forged.at, forged.actor, forged.action, forged.tenant, forged.session, forged.reason, forged.outcome, Buffer.from(forged.hash), forged.keyId, Buffer.from(forged.signature), Buffer.from(forged.salt), Buffer.from(forged.tenantSecret)],
      },
    ]);
    expect((await vault.verify()).problems).toEqual([{ tenant: '*', session: '(access trail)', seq: forged.seq, kind: 'access_tenant_secret_changed' }]);
    // In the bank's listing it is shown, keyed by another secret than the one the bank's auditor kept.
    const bank = await listing('bank');
    const report = verifyTrail(bank, { keys: await deps().trustedKeys() }, { scope: { tenant: 'bank' }, tenantSecret: bankSecret });
    expect(report.problems.map((p) => `${p.seq} ${p.kind}`)).toEqual([`${forged.seq} tenant_secret_mismatch`, `${forged.seq} access_tenant_secret_changed`]);
  });
});
