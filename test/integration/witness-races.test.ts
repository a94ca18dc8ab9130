import fs, { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { ObjectWitness, parseCheckpoint, parseTrailHead, signCheckpoint, signTrailHead } from '../../src/audit';
import { blake2b256, ensureSodium, generateSigningKeyPair, signingKeyId } from '../../src/crypto';
import { FolderObjectStore, S3ObjectStore, type ObjectStore } from '../../src/objects';
import { openVault, type Vault } from '../../src/vault';
import { createLogger } from '../../src/observability';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
import { storeOver } from '../support/objects';
import { startConditionalS3, type ConditionalS3 } from '../support/s3-conditional';
import { S3RVER_CREDENTIALS } from '../support/s3rver';

/**
 * The witness is written by every process that records an access or signs a checkpoint,
 * each reading the object, deciding, and writing it back. Two of them at once must not
 * move it back: a witness left at an older head lets a DBA cut the newest records
 * unseen. Performed on a folder and on an S3 bucket (a real S3-protocol server answering
 * conditional writes as AWS S3 does), and end to end: two operators' reads at once, the
 * first one's write slow, then a DBA deleting the second one's record.
 */
afterAll(dropCreatedDatabases);
beforeAll(ensureSodium);

let s3: ConditionalS3;
// An S3-compatible store that writes whatever the conditions say, as some do.
let loose: ConditionalS3;
beforeAll(async () => {
  s3 = await startConditionalS3(['witness']);
  loose = await startConditionalS3(['witness'], { conditions: 'ignored' });
});
afterAll(() => Promise.all([s3.close(), loose.close()]));

const s3Settings = () => ({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
const looseSettings = () => ({ ...s3Settings(), endpoint: loose.endpoint });
const IGNORES = 'does not answer conditional writes (it wrote over an object where If-None-Match and If-Match did not hold)';
let signer: { id: string; publicKey: Uint8Array; secretKey: ReturnType<typeof generateSigningKeyPair>['secretKey'] };
beforeAll(() => {
  const k = generateSigningKeyPair();
  signer = { id: signingKeyId(k.publicKey), publicKey: k.publicKey, secretKey: k.secretKey };
});
const trailNote = (seq: number) => signTrailHead({ seq, hash: blake2b256(new Uint8Array([seq])), at: new Date(Date.UTC(2026, 11, 7, 0, 0, seq)) }, signer).note;
const checkpointNote = (seq: number) => signCheckpoint({ tenant: 'bank', session: 's', seq, hash: blake2b256(new Uint8Array([seq])), time: new Date(Date.UTC(2026, 11, 7, 0, 0, seq)) }, signer);

const stores: [string, () => { store: ObjectStore; done(): void }][] = [
  [
    'a folder',
    () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'sv-witness-race-'));
      return { store: new FolderObjectStore(dir, 'witness'), done: () => rmSync(dir, { recursive: true, force: true }) };
    },
  ],
  ['an S3 bucket', () => ({ store: new S3ObjectStore(`s3://witness/race-${Math.random().toString(36).slice(2)}`, s3Settings(), 'witness'), done: () => undefined })],
];

describe.each(stores)('the witness in %s, written by many at once', (_label, make) => {
  it("ends at the highest of twenty trail heads, and of twenty heads of a session's chain, recorded at once in any order", async () => {
    const { store, done } = make();
    try {
      for (let round = 0; round < 5; round++) {
        const witness = new ObjectWitness(store);
        const base = round * 20;
        const seqs = Array.from({ length: 20 }, (_, i) => base + i + 1).sort(() => Math.random() - 0.5);
        const outcomes = await Promise.all(seqs.flatMap((seq) => [witness.recordTrail(trailNote(seq)), witness.record(checkpointNote(seq))]));
        expect(outcomes.filter((o) => o === 'witness_fork')).toEqual([]);
        expect(parseTrailHead((await witness.latestTrail())!)!.seq).toBe(base + 20);
        expect(parseCheckpoint((await witness.latest('bank', 's'))!)!.checkpoint.seq).toBe(base + 20);
      }
    } finally {
      done();
    }
  });

  it('keeps every key published at once, and a retirement stated beside them', async () => {
    const { store, done } = make();
    try {
      const keys = Array.from({ length: 12 }, () => {
        const k = generateSigningKeyPair();
        return { id: signingKeyId(k.publicKey), publicKey: k.publicKey };
      });
      const created = new Date('2026-01-01T00:00:00.000Z');
      const retired = new Date('2026-06-01T00:00:00.000Z');
      const witness = new ObjectWitness(store, 0);
      await witness.addPublicKeys(new Map([[keys[0]!.id, keys[0]!.publicKey]]), new Map([[keys[0]!.id, { from: created, until: null }]]));
      await Promise.all([
        ...keys.slice(1).map((k) => witness.addPublicKeys(new Map([[k.id, k.publicKey]]), new Map([[k.id, { from: created, until: null }]]))),
        witness.retireKey(keys[0]!.id, retired),
      ]);
      const periods = await witness.keyPeriods();
      expect([...(await witness.publicKeys()).keys()].sort()).toEqual(keys.map((k) => k.id).sort());
      expect(periods.get(keys[0]!.id)).toEqual({ from: created, until: retired });
    } finally {
      done();
    }
  });
});

describe.each(backends())('two operators at once, one write to the witness slow, with a $name database', (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;
  const prefix = `ops-${backend.name}`;

  beforeAll(async () => {
    ({ vault, url, close } = await testVault(backend, { witness: `s3://witness/${prefix}`, s3: s3Settings() }));
    await vault.createTenant('bank');
    await vault.session('bank', 'claim-1').append({ type: 'task', task: 'assess water damage' });
    await vault.session('bank', 'claim-2').append({ type: 'task', task: 'assess fire damage' });
  });
  afterAll(() => close());

  it("a DBA who deletes the second one's record is seen: the first one's late write does not move the witness back", async () => {
    // Alice's read is recorded first; her write of its head to the witness is slow (held).
    const held = s3.hold(`${prefix}/access-trail.checkpoint`);
    const alice = vault.operator({ actor: 'alice', reason: 'claim review' }).state('bank', 'claim-1');
    await held.arrived;
    // Mallory's read is recorded after it, and witnessed while alice's write is on its way.
    await vault.operator({ actor: 'mallory', reason: 'curious' }).state('bank', 'claim-2');
    held.release();
    await alice;
    const [[last]] = (await asOwner(vault, url, [{ text: 'SELECT max(seq)::int AS n FROM access_log' }])) as [{ n: number }[]];
    const witnessed = parseTrailHead((await new ObjectWitness(new S3ObjectStore(`s3://witness/${prefix}`, s3Settings(), 'witness')).latestTrail())!)!;
    expect(witnessed.seq).toBe(last!.n);

    // The DBA deletes mallory's record, the newest, with triggers off.
    const [[mallory]] = (await asOwner(vault, url, [{ text: `SELECT seq::int AS seq FROM access_log WHERE actor = 'mallory'` }])) as [{ seq: number }[]];
    expect(mallory!.seq).toBe(last!.n);
    await asOwner(vault, url, [{ text: `DELETE FROM access_log WHERE seq = ${mallory!.seq}` }]);
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([{ tenant: '*', session: '(access trail)', seq: mallory!.seq, kind: 'access_witness_beyond_head' }]);
  });
});

describe.each(backends())("two checkpoint runs at once, the first one's write to the witness slow, with a $name database", (backend) => {
  let vault: Vault;
  let close: () => Promise<void>;
  const prefix = `cp-${backend.name}`;

  beforeAll(async () => {
    ({ vault, close } = await testVault(backend, { witness: `s3://witness/${prefix}`, s3: s3Settings() }));
    await vault.createTenant('bank');
    await vault.session('bank', 'claim-1').appendMany([{ type: 'task', task: 'a' }, { type: 'task', task: 'b' }]);
  });
  afterAll(() => close());

  it("the first finds the witness past its head, and the database there too: superseded, not a rollback; the witness keeps the later head", async () => {
    const held = s3.hold(`${prefix}/bank/claim-1.checkpoint`);
    const first = vault.checkpoint({ tenant: 'bank', session: 'claim-1' });
    await held.arrived;
    // An agent appends, and a second run (another host's cron) signs the new head and witnesses it.
    await vault.session('bank', 'claim-1').append({ type: 'task', task: 'c' });
    expect(await vault.checkpoint({ tenant: 'bank', session: 'claim-1' })).toMatchObject([{ seq: 3, witness: 'recorded' }]);
    held.release();
    expect(await first).toMatchObject([{ seq: 2, witness: 'superseded' }]);
    const witness = new ObjectWitness(new S3ObjectStore(`s3://witness/${prefix}`, s3Settings(), 'witness'));
    expect(parseCheckpoint((await witness.latest('bank', 'claim-1'))!)!.checkpoint.seq).toBe(3);
    expect((await vault.verify()).problems).toEqual([]);
  });
});

describe.each(backends())('a witness on a store that ignores conditional writes, with a $name database', (backend) => {
  let setup: Awaited<ReturnType<typeof testVault>>;
  let vault: Vault;
  const location = `s3://witness/loose-${backend.name}`;

  beforeAll(async () => {
    // The tenant and its sessions are made before the witness is configured: with it, no operator action goes ahead.
    setup = await testVault(backend);
    await setup.vault.createTenant('bank');
    await setup.vault.session('bank', 'claim-1').append({ type: 'task', task: 'assess water damage' });
    await setup.vault.session('bank', 'claim-2').append({ type: 'task', task: 'assess fire damage' });
    await setup.vault.close();
    vault = await openVault({ home: setup.home, database: setup.url, logger: createLogger({ level: 'silent' }), witness: location, s3: looseSettings() });
  });
  afterAll(async () => {
    await vault.close();
    await setup.close();
  });

  it("refuses the operator's read before writing the witness, where two reads at once moved it back and a DBA's cut of the newest went unseen", async () => {
    // The race the conditional write answers, on a store that ignores the condition: alice's
    // write of the trail head held until mallory's has landed. Before, alice's write was
    // made, landed over mallory's head, and the DBA's delete of mallory's record passed
    // verify. Now alice's read is refused before any head is written.
    const held = loose.hold(`loose-${backend.name}/access-trail.checkpoint`);
    const alice = vault.operator({ actor: 'alice', reason: 'claim review' }).state('bank', 'claim-1').then(() => 'read' as const, (e: unknown) => e);
    try {
      const first = await Promise.race([held.arrived.then(() => 'held' as const), alice]);
      expect(first).toMatchObject({ code: 'ACCESS_TRAIL_UNAVAILABLE', message: `the access trail's head cannot be witnessed at ${location}, so the operation is refused (STORAGE_REFUSED: witness ${location} ${IGNORES}: two processes writing at once could write one over the other; use a store that answers them (docs/operations.md))` });
    } finally {
      held.release();
      await alice;
    }
    await expect(vault.operator({ actor: 'mallory', reason: 'curious' }).state('bank', 'claim-2')).rejects.toMatchObject({ code: 'ACCESS_TRAIL_UNAVAILABLE' });
    await expect(vault.checkpoint({ tenant: 'bank' })).rejects.toMatchObject({ code: 'STORAGE_REFUSED' });
    const witness = new ObjectWitness(new S3ObjectStore(location, looseSettings(), 'witness'));
    expect(await witness.latestTrail()).toBeNull();
    expect(await witness.sessions()).toEqual([]);
  });
});

describe('a witness write that cannot be made one step', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'sv-witness-lock-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('waits for another writer of a folder witness, and gives up typed after the wait, having written nothing', async () => {
    const witness = new ObjectWitness(new FolderObjectStore(dir, 'witness', 300));
    await witness.recordTrail(trailNote(1));
    // Another process holds the object's lock, and keeps it fresh. (The first write of an
    // object takes none: it only ever creates the name.)
    mkdirSync(path.join(dir, '.locks'));
    const release = await lockfile.lock(path.join(dir, 'access-trail.checkpoint'), { lockfilePath: path.join(dir, '.locks', 'access-trail.checkpoint.lock'), realpath: false, stale: 10_000, update: 2_000 });
    try {
      await expect(witness.recordTrail(trailNote(2))).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', message: `witness ${dir}: another writer held access-trail.checkpoint for 0.3 s` });
      expect(parseTrailHead((await witness.latestTrail())!)!.seq).toBe(1);
    } finally {
      await release();
    }
    await expect(witness.recordTrail(trailNote(2))).resolves.toBe('recorded');
    // The locks' folder is no tenant's.
    expect(await witness.sessions()).toEqual([]);
  });

  it("takes over a lock its holder left when it died (not refreshed for 10 s)", async () => {
    const witness = new ObjectWitness(new FolderObjectStore(dir, 'witness', 300));
    await witness.recordTrail(trailNote(1));
    const lock = path.join(dir, '.locks', 'access-trail.checkpoint.lock');
    mkdirSync(lock, { recursive: true });
    const minuteAgo = new Date(Date.now() - 60_000);
    utimesSync(lock, minuteAgo, minuteAgo);
    await expect(witness.recordTrail(trailNote(2))).resolves.toBe('recorded');
    expect(existsSync(lock)).toBe(false);
  });

  it('gives way where its lock was taken from it while it was frozen, and does not write over what the taker wrote', async () => {
    const witness = new ObjectWitness(new FolderObjectStore(dir, 'witness', 2_000));
    await witness.recordTrail(trailNote(1));
    const object = path.join(dir, 'access-trail.checkpoint');
    const lock = path.join(dir, '.locks', 'access-trail.checkpoint.lock');
    const realRead = fs.readFile;
    let frozen = false;
    jest.spyOn(fs, 'readFile').mockImplementation(((p: string, done: (e: NodeJS.ErrnoException | null, b: Buffer) => void) => {
      if (frozen || p !== object || !existsSync(lock)) return realRead(p, done);
      frozen = true;
      // Its read under the lock returns the head as it was, but only after the process has
      // been frozen past the lock's refresh; meanwhile another process takes the lock over
      // as stale, writes a later head and lets the lock go.
      realRead(p, (e, b) => {
        rmSync(lock, { recursive: true });
        mkdirSync(lock);
        writeFileSync(object, trailNote(3));
        setTimeout(() => rmSync(lock, { recursive: true, force: true }), 300);
        setTimeout(() => done(e, b), 2_600);
      });
    }) as never);
    try {
      await expect(witness.recordTrail(trailNote(2))).resolves.toBe('witness_ahead');
    } finally {
      jest.restoreAllMocks();
    }
    expect(frozen).toBe(true);
    expect(parseTrailHead((await witness.latestTrail())!)!.seq).toBe(3);
  });

  it('fails typed where its lock cannot be had at all (a stale lock that cannot be taken over), having written nothing', async () => {
    const witness = new ObjectWitness(new FolderObjectStore(dir, 'witness', 300));
    await witness.recordTrail(trailNote(1));
    const lock = path.join(dir, '.locks', 'access-trail.checkpoint.lock');
    mkdirSync(path.join(lock, 'left-behind'), { recursive: true });
    const minuteAgo = new Date(Date.now() - 60_000);
    utimesSync(lock, minuteAgo, minuteAgo);
    await expect(witness.recordTrail(trailNote(2))).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', message: `witness ${dir} unavailable (ENOTEMPTY)` });
    expect(parseTrailHead((await witness.latestTrail())!)!.seq).toBe(1);
  });

  it('gives up typed where others write first every time, having written nothing', async () => {
    const folder = new FolderObjectStore(dir, 'witness');
    let tries = 0;
    const busy = storeOver(folder, { putIfVersion: async () => (tries++, false) });
    await expect(new ObjectWitness(busy).recordTrail(trailNote(1))).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', message: `${dir}: access-trail.checkpoint was written by others first 64 times in a row` });
    expect(tries).toBe(64);
    expect(await folder.get('access-trail.checkpoint')).toBeNull();
  });

  it('refuses a bucket that gives its objects no ETag, rather than write over another writer', async () => {
    // An S3-compatible server answering reads without an ETag: nothing to make a write conditional on.
    const server = http.createServer((req, res) => {
      res.writeHead(req.method === 'GET' ? 200 : 500, { 'content-type': 'text/plain' });
      res.end(req.method === 'GET' ? trailNote(1) : '');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const store = new S3ObjectStore('s3://witness/no-etag', { ...s3Settings(), endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 }, 'witness');
      await expect(new ObjectWitness(store).recordTrail(trailNote(2))).rejects.toMatchObject({ code: 'STORAGE_REFUSED', message: 'witness s3://witness/no-etag gives objects no ETag, so it cannot be written conditionally' });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('refuses a bucket that writes whatever the conditions, having written no head, where twenty heads at once there left it at an earlier one', async () => {
    const location = `s3://witness/loose-${Math.random().toString(36).slice(2)}`;
    const witness = new ObjectWitness(new S3ObjectStore(location, looseSettings(), 'witness'));
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => witness.recordTrail(trailNote(i + 1))));
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as { message: string }).message : o.value))).toEqual(Array(20).fill(`witness ${location} ${IGNORES}: two processes writing at once could write one over the other; use a store that answers them (docs/operations.md)`));
    expect(await witness.latestTrail()).toBeNull();
    // Asked once, and answered the same way after.
    await expect(witness.recordTrail(trailNote(21))).rejects.toMatchObject({ code: 'STORAGE_REFUSED' });
  });

  it('refuses a bucket that answers a conditional write "not implemented"', async () => {
    const server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(req.method === 'PUT' ? 501 : 404, { 'content-type': 'application/xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${req.method === 'PUT' ? 'NotImplemented' : 'NoSuchKey'}</Code><Message>-</Message></Error>`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const store = new S3ObjectStore('s3://witness/old-server', { ...s3Settings(), endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 }, 'witness');
      await expect(new ObjectWitness(store).recordTrail(trailNote(1))).rejects.toMatchObject({
        code: 'STORAGE_REFUSED',
        message: 'witness s3://witness/old-server does not answer conditional writes (If-None-Match answered 501): two processes writing at once could write one over the other; use a store that answers them (docs/operations.md)',
      });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it.each([
    [404, 'takes it as the condition held (its object gone meanwhile), and writes'],
    [400, 'refuses the store: it does not know the header'],
  ])('given %i to its If-Match question, %s', async (status) => {
    // A store that honours If-None-Match and answers If-Match so; it keeps what it is given.
    const objects = new Map<string, Buffer>();
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const key = req.url!.split('?')[0]!;
        const answer = (code: number, body = '', headers: http.OutgoingHttpHeaders = {}) => {
          res.writeHead(code, { 'content-type': 'application/xml', ...headers });
          res.end(body);
        };
        if (req.method === 'GET') return objects.has(key) ? answer(200, objects.get(key)!.toString(), { etag: '"v1"' }) : answer(404, '<Error><Code>NoSuchKey</Code></Error>');
        if (req.headers['if-match'] !== undefined) return answer(status, `<Error><Code>${status === 404 ? 'NoSuchKey' : 'InvalidArgument'}</Code></Error>`);
        if (req.headers['if-none-match'] === '*' && objects.has(key)) return answer(412, '<Error><Code>PreconditionFailed</Code></Error>');
        objects.set(key, Buffer.concat(chunks));
        return answer(200, '', { etag: '"v1"' });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const witness = new ObjectWitness(new S3ObjectStore('s3://witness/if-match', { ...s3Settings(), endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 }, 'witness'));
      if (status === 404) {
        await expect(witness.recordTrail(trailNote(1))).resolves.toBe('recorded');
        expect(parseTrailHead((await witness.latestTrail())!)!.seq).toBe(1);
      } else {
        await expect(witness.recordTrail(trailNote(1))).rejects.toMatchObject({ code: 'STORAGE_REFUSED', message: expect.stringContaining('does not answer conditional writes (If-Match answered 400)') });
        expect(await witness.latestTrail()).toBeNull();
      }
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('asks again a bucket it could not reach, and keeps the object it asks with out of the tenants it lists', async () => {
    // In front of the S3 stand-in: its writes down (503) until let up.
    let down = true;
    const target = new URL(s3.endpoint);
    const server = http.createServer((req, res) => {
      if (down && req.method === 'PUT') {
        req.resume();
        res.writeHead(503, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>-</Message></Error>');
        return;
      }
      const out = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(out);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const location = `s3://witness/flaky-${Math.random().toString(36).slice(2)}`;
      const store = new S3ObjectStore(location, { ...s3Settings(), endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 }, 'witness');
      const witness = new ObjectWitness(store);
      await expect(witness.record(checkpointNote(1))).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
      down = false;
      await expect(witness.record(checkpointNote(1))).resolves.toBe('recorded');
      expect(await store.list('')).toEqual(['bank']);
      expect(await store.list('.session-vault/')).toEqual(['conditional-writes']);
      expect(await witness.sessions()).toEqual([{ tenant: 'bank', session: 's' }]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
