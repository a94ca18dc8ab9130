import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseTrustedKeys, verifyTrail, type TrailLine } from '../../src/audit';
import { fromHex } from '../../src/crypto';
import type { Vault } from '../../src/vault';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { runCli } from '../support/cli';

/**
 * A listing of the access trail since a time, as an auditor asks for one when a customer
 * asks who read their conversation since they complained. Before, `access-log --json
 * --since` printed the records since then with nothing to chain them to: the operator
 * handing it over could leave out their own read and no check could tell. Now it starts
 * from the last record dated 5 minutes before that time, whose signed head the rest chain
 * onto, and `verify-trail --since` checks it. Performed as the operator handing it over.
 */
afterAll(dropCreatedDatabases);

const day = (d: number, h = 10) => new Date(Date.UTC(2026, 2, d, h));

describe.each(backends())('a listing since a time, with a $name database', (backend) => {
  let vault: Vault;
  let home: string;
  let close: () => Promise<void>;
  let now = day(1);
  const since = day(10);
  let bankSecret: Uint8Array;

  beforeAll(async () => {
    ({ vault, home, close } = await testVault(backend, { clock: () => new Date(now) }));
    await vault.createTenant('bank');
    await vault.createTenant('insurer');
    await vault.session('bank', 'claim-1').append({ type: 'task', task: 'assess water damage' });
    await vault.session('insurer', 'policy-7').append({ type: 'task', task: 'renewal' });
    const read = async (actor: string, tenant: string, session: string, at: Date) => {
      now = at;
      await vault.operator({ actor, reason: 'review' }).state(tenant, session);
    };
    await read('alice', 'bank', 'claim-1', day(2));
    await read('carol', 'insurer', 'policy-7', day(5));
    // The customer complains on the 10th; mallory reads their claim after it, dave the insurer's.
    await read('mallory', 'bank', 'claim-1', day(12));
    await read('dave', 'insurer', 'policy-7', day(15));
    // The bank's auditor keeps the bank's trail secret from their first check, of a listing from seq 1.
    bankSecret = fromHex(verifyTrail(await listing({}), keys(), { scope: { tenant: 'bank' } }).tenantSecret!);
  });
  afterAll(() => close());

  const listing = async (options: { since?: Date; afterSeq?: number }) => {
    const lines: TrailLine[] = [];
    for await (const l of vault.trailFile({ tenant: 'bank' }, options)) lines.push(l);
    return lines;
  };
  const keys = () => parseTrustedKeys(readFileSync(path.join(home, 'witness', 'public-keys.json'), 'utf8'), 'public-keys.json');
  const head = () => readFileSync(path.join(home, 'witness', 'access-trail.checkpoint'), 'utf8');
  const problems = (lines: unknown[]) => verifyTrail(lines, keys(), { witnessHead: head(), scope: { tenant: 'bank' }, since, tenantSecret: bankSecret }).problems.map((p) => `${p.seq ?? '-'} ${p.kind}`);
  const who = (l: TrailLine) => ('withheld' in l ? 'withheld' : l.actor);

  it("starts at the last record 5 minutes before the time asked (another tenant's, withheld), and checks whole to the witnessed head", async () => {
    const lines = await listing({ since });
    expect(lines.map((l) => [who(l), l.at])).toEqual([
      ['withheld', day(5).toISOString()], // carol's read of the insurer's policy: where it starts
      ['mallory', day(12).toISOString()],
      ['withheld', day(15).toISOString()],
    ]);
    expect(verifyTrail(lines, keys(), { witnessHead: head(), scope: { tenant: 'bank' }, since })).toMatchObject({ ok: true, fromSeq: lines[0]!.seq, since: since.toISOString(), records: 2, shown: 1, withheld: 1, problems: [] });
  });

  it("shows the operator who leaves out their own read since then, however they cut the listing", async () => {
    const [start, mallory, dave] = await listing({ since });
    // Started at a later record, after the time asked: what came before it since then is not shown.
    expect(problems([dave])).toEqual([`${dave!.seq} since_start_late`]);
    // The read taken out of the middle.
    expect(problems([start, dave])).toEqual([`${mallory!.seq} access_gap`, `${dave!.seq} access_hash_mismatch`]);
    // A later record passed off as the start by its time moved back: its signature no longer holds.
    expect(problems([{ ...dave!, at: day(9).toISOString() }])).toEqual([`${dave!.seq} access_bad_signature`]);
    // Or one signed by no key: a listing since a time must start on a signed head, else it is checked as one from seq 1.
    expect(problems([{ ...start!, keyId: null, signature: null }, mallory, dave])).toEqual([`${start!.seq} since_start_unsigned`, '1 access_gap', `${start!.seq} access_hash_mismatch`]);
    // Or one its key signed after the key's period: a retired key's leaked secret half signs any time it likes.
    const { keys: trusted } = keys();
    const retired = new Map([[start!.keyId!, { from: day(1, 0), until: day(3) }]]);
    expect(verifyTrail([start, mallory, dave], { keys: trusted, periods: retired }, { witnessHead: head(), scope: { tenant: 'bank' }, since }).problems.map((p) => `${p.seq} ${p.kind}`)).toEqual([
      `${start!.seq} access_outside_key_period`,
      `${mallory!.seq} access_outside_key_period`,
      `${dave!.seq} access_outside_key_period`,
    ]);
    // Or the end cut: the witnessed head is not reached.
    expect(problems([start, mallory])).toEqual([`${dave!.seq} access_witness_beyond_head`]);
  });

  it('starts at seq 1 when no record is that old, and refuses a start both after a seq and since a time', async () => {
    const all = await listing({ since: day(1, 0) });
    expect(all[0]!.seq).toBe(1);
    expect(all).toEqual(await listing({}));
    expect(verifyTrail(all, keys(), { witnessHead: head(), scope: { tenant: 'bank' }, since: day(1, 0) })).toMatchObject({ ok: true, fromSeq: 0 });
    await expect(listing({ since, afterSeq: 2 })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: 'a listing starts after a seq or since a time, not both' });
    await expect(listing({ since: new Date(Number.NaN) })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});

describe('access-log --json --since and verify-trail --since', () => {
  it('list and check a listing since a time, and refuse one both after a seq and since a time', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'sv-since-'));
    const auditorHome = mkdtempSync(path.join(os.tmpdir(), 'sv-since-auditor-'));
    const run = (args: string[]) => runCli({ VAULT_HOME: home }, args);
    const auditor = (args: string[]) => runCli({ VAULT_HOME: auditorHome, VAULT_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', VAULT_KEYRING: '/nonexistent' }, args);
    const file = (name: string, text: string) => {
      writeFileSync(path.join(auditorHome, name), text);
      return path.join(auditorHome, name);
    };
    try {
      expect((await run(['init'])).code).toBe(0);
      expect((await run(['tenant', 'create', 'bank'])).code).toBe(0);
      expect((await run(['append', 'bank', 'claim-1', '--event', '{"type":"task","task":"x"}'])).code).toBe(0);
      expect((await run(['events', 'bank', 'claim-1', '--actor', 'mallory', '--reason', 'curious'])).code).toBe(0);
      // A time ahead of every record: the listing is the last record alone, the head the next check starts from.
      const later = new Date(Date.now() + 3_600_000).toISOString();
      const listed = await run(['access-log', '--json', '--tenant', 'bank', '--since', later]);
      const lines = listed.stdout.trim().split('\n');
      expect([listed.code, lines.map((l) => JSON.parse(l).actor)]).toEqual([0, ['mallory']]);
      const keys = file('public-keys.json', readFileSync(path.join(home, 'witness', 'public-keys.json'), 'utf8'));
      const head = file('access-trail.checkpoint', readFileSync(path.join(home, 'witness', 'access-trail.checkpoint'), 'utf8'));
      const checked = await auditor(['verify-trail', file('since.ndjson', listed.stdout), '--trusted-keys', keys, '--witness-head', head, '--tenant', 'bank', '--since', later]);
      const seq = JSON.parse(lines[0]!).seq as number;
      expect([checked.code, checked.stdout]).toEqual([
        0,
        `OK: access trail for tenant bank, 0 record(s) after the last record 5 minutes before ${later} at seq ${seq}, checked against the witnessed head at seq ${seq}\n  0 record(s) shown, of tenant bank or the whole vault; 0 withheld, none of them in that scope\n`,
      ]);
      // The same file checked as a listing from seq 1 is not one.
      expect((await auditor(['verify-trail', file('since.ndjson', listed.stdout), '--trusted-keys', keys, '--witness-head', head, '--tenant', 'bank'])).code).toBe(1);
      const both = await run(['access-log', '--json', '--since', later, '--after-seq', '1']);
      expect([both.code, both.stderr]).toEqual([2, 'error[INVALID_INPUT]: a listing starts after a seq (--after-seq) or since a time (--since), not both\n']);
      const bothChecked = await auditor(['verify-trail', file('since.ndjson', listed.stdout), '--trusted-keys', keys, '--since', later, '--from-head', head]);
      expect([bothChecked.code, bothChecked.stderr]).toEqual([2, 'error[INVALID_INPUT]: a listing is checked from a head checked before (--from-head) or since a time (--since), not both\n']);
    } finally {
      rmSync(home, { recursive: true, force: true });
      rmSync(auditorHome, { recursive: true, force: true });
    }
  });
});
