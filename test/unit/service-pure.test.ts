import fc from 'fast-check';
import { correlationFrom, statusOf } from '../../src/service';
import { OverdueRequests } from '../../src/service/overdue';
import { clientKey } from '../../src/service/auth';
import { categoryOf, EXIT_CODES, type ErrorCode } from '../../src/errors';
import { ensureSodium, generateSigningKeyPair } from '../../src/crypto';
import { grantSignedBy, newToken, parseToken, secretHash, secretMatches, signGrant, type TokenGrant } from '../../src/tokens';

/** The service's pure parts: correlation ids, the status of each code, the token format and its signed grant. */
beforeAll(ensureSodium);

describe('correlationFrom', () => {
  it('takes X-Correlation-Id first, refuses a bad one, else a valid traceparent trace id, else none', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(correlationFrom({ 'x-correlation-id': 'abc', traceparent: tp })).toEqual({ id: 'abc', from: 'x-correlation-id' });
    expect(correlationFrom({ traceparent: tp })).toEqual({ id: '4bf92f3577b34da6a3ce929d0e0e4736', from: 'traceparent' });
    expect(correlationFrom({ 'x-correlation-id': 'x'.repeat(129) })).toHaveProperty('invalid');
    expect(correlationFrom({ 'x-correlation-id': ['a', 'b'] })).toHaveProperty('invalid');
    for (const bad of ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', 'junk']) {
      expect([bad, correlationFrom({ traceparent: bad })]).toEqual([bad, null]);
    }
    expect(correlationFrom({})).toBeNull();
  });

  it('accepts every printable ASCII id of 1..128 characters as given', () => {
    fc.assert(fc.property(fc.stringMatching(/^[\x20-\x7e]{1,128}$/), (id) => expect(correlationFrom({ 'x-correlation-id': id })).toEqual({ id, from: 'x-correlation-id' })));
  });
});

describe('statusOf', () => {
  it('gives input codes a 4xx and key, integrity and storage codes a 5xx (KEY_DESTROYED: 410 Gone; PERMISSION_DENIED, the database role may not: 403)', () => {
    const codes = ['INVALID_EVENT', 'UNKNOWN_SESSION', 'UNAUTHENTICATED', 'FORBIDDEN', 'LEGAL_HOLD', 'IDEMPOTENCY_CONFLICT', 'KEY_UNAVAILABLE', 'CHAIN_BROKEN', 'STORAGE_UNAVAILABLE', 'DECRYPTION_FAILED', 'ACCESS_TRAIL_UNAVAILABLE', 'KEY_DESTROYED', 'PERMISSION_DENIED'] as ErrorCode[];
    const got = Object.fromEntries(codes.map((c) => [c, statusOf(c, categoryOf(c))]));
    expect(got).toEqual({ INVALID_EVENT: 400, UNKNOWN_SESSION: 404, UNAUTHENTICATED: 401, FORBIDDEN: 403, LEGAL_HOLD: 409, IDEMPOTENCY_CONFLICT: 409, KEY_UNAVAILABLE: 503, CHAIN_BROKEN: 500, STORAGE_UNAVAILABLE: 503, DECRYPTION_FAILED: 500, ACCESS_TRAIL_UNAVAILABLE: 503, KEY_DESTROYED: 410, PERMISSION_DENIED: 403 });
    expect(Object.keys(EXIT_CODES)).toHaveLength(4);
  });
});

describe('API tokens', () => {
  it('round-trip through their text form for every tenant id, and match only their own secret', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,62}$/), (tenant) => {
        const made = newToken(tenant);
        const parsed = parseToken(made.token)!;
        expect([parsed.tenant, parsed.id]).toEqual([tenant, made.id]);
        expect(secretMatches(parsed.secret, made.secretHash)).toBe(true);
        expect(secretMatches(parsed.secret.slice(0, -1) + (parsed.secret.endsWith('A') ? 'B' : 'A'), made.secretHash)).toBe(false);
      }),
      { numRuns: 200 },
    );
    for (const bad of ['', 'svt1', 'svt2.YQ.0123456789abcdef.' + 'a'.repeat(43), 'svt1.YQ.0123456789ABCDEF.' + 'a'.repeat(43), 'svt1.YQ.0123456789abcdef.' + 'a'.repeat(42), 'svt1..0123456789abcdef.' + 'a'.repeat(43)]) {
      expect([bad, parseToken(bad)]).toEqual([bad, null]);
    }
  });

  it('sign a grant so that changing any field of it, or signing with another key, fails the check', () => {
    const kp = generateSigningKeyPair();
    const signer = { id: 'k1', publicKey: kp.publicKey, secretKey: kp.secretKey };
    const grant: TokenGrant = { id: '0123456789abcdef', tenant: 'acme', role: 'writer', label: 'agent', secretHash: secretHash('s'), createdAt: new Date(1_700_000_000_000), expiresAt: null, createdBy: 'alice' };
    const { signature } = signGrant(grant, signer);
    expect(grantSignedBy(grant, signature, kp.publicKey)).toBe(true);
    const changed: Partial<TokenGrant>[] = [
      { id: '0123456789abcdee' },
      { tenant: 'other' },
      { role: 'admin' },
      { label: null },
      { label: 'agent ' },
      { secretHash: secretHash('t') },
      { createdAt: new Date(1_700_000_000_001) },
      { expiresAt: new Date(1_800_000_000_000) },
      { createdBy: 'mallory' },
      // Times the grant's form cannot hold (a row stored past the database's check, drizzle/0066): no grant, not a RangeError.
      { createdAt: new Date(NaN) },
      { createdAt: new Date(-1) },
      { expiresAt: new Date(NaN) },
      { expiresAt: new Date(Date.UTC(9999, 0, 1)) },
    ];
    for (const c of changed) expect([c, grantSignedBy({ ...grant, ...c }, signature, kp.publicKey)]).toEqual([c, false]);
    expect(grantSignedBy(grant, signature, generateSigningKeyPair().publicKey)).toBe(false);
  });
});

describe('OverdueRequests', () => {
  type Fake = { sent: boolean; raw: { destroyed: boolean } };
  const reply = (): Fake => ({ sent: false, raw: { destroyed: false } });

  it('hands on each request still unanswered past the limit once, oldest first, and forgets the ones that ended', () => {
    let now = 0;
    const told: Fake[] = [];
    const overdue = new OverdueRequests(100, (r) => told.push(r as unknown as Fake), () => now);
    try {
      const [a, b, c, d, e] = [reply(), reply(), reply(), reply(), reply()];
      const track = (r: Fake) => overdue.track(r as never);
      track(a);
      now = 10;
      track(b);
      track(c);
      now = 50;
      track(d);
      now = 60;
      track(e);
      b.sent = true; // answered, its onResponse not run yet
      c.raw.destroyed = true; // the client went away
      overdue.done(e as never);
      now = 109;
      overdue.sweep();
      expect(told).toEqual([a]);
      now = 149;
      overdue.sweep();
      expect(told).toEqual([a]); // b and c ended: forgotten, never handed on; d is not due
      now = 150;
      overdue.sweep();
      overdue.sweep();
      now = 1000;
      overdue.sweep();
      expect(told).toEqual([a, d]); // e was done; nothing twice
    } finally {
      overdue.stop();
    }
  });

  it('refuses a limit that is not a whole number of milliseconds above 0', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) {
      expect(() => new OverdueRequests(bad, () => {})).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    }
  });
});

describe('serve --trust-proxy', () => {
  it('takes addresses and CIDR ranges, IPv4 and IPv6, and refuses anything else, typed', async () => {
    const { proxyAddresses } = await import('../../src/cli/commands/serve');
    expect(proxyAddresses('10.0.0.5, 10.1.0.0/16,::1,fd00::/8')).toEqual(['10.0.0.5', '10.1.0.0/16', '::1', 'fd00::/8']);
    for (const bad of ['', 'proxy.internal', '10.0.0.0/33', '::1/129', '10.0.0.1/8/8', '10.0.0.1,', '10.0.0.1/x']) {
      expect(() => proxyAddresses(bad)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringMatching(/^--trust-proxy: .* is not an IP address or CIDR range$/) }));
    }
  });
});

describe('clientKey', () => {
  it('counts an IPv6 address by its first 64 bits, written any way, and an IPv4 one (also IPv4-mapped) by itself', () => {
    expect(clientKey('203.0.113.5')).toBe('203.0.113.5');
    expect(clientKey('::ffff:203.0.113.5')).toBe('203.0.113.5');
    expect(clientKey('::ffff:cb00:7105')).toBe('203.0.113.5');
    expect(new Set(['2001:db8:1:2::1', '2001:0db8:0001:0002:0000:0000:0000:0001', '2001:DB8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::7%eth0'].map(clientKey))).toEqual(new Set(['20010db800010002/64']));
    expect(clientKey('2001:db8:1:3::1')).not.toBe(clientKey('2001:db8:1:2::1'));
    expect(clientKey('::1')).toBe('0000000000000000/64');
    // What is not an address (a socket path, nothing) is its own key.
    expect(clientKey('')).toBe('');
    expect(clientKey('/run/sv.sock')).toBe('/run/sv.sock');
  });

  it('gives two IPv6 addresses one key exactly when their first 64 bits are the same', () => {
    const hextets = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 });
    const text = (h: number[]) => h.map((x) => x.toString(16)).join(':');
    fc.assert(
      fc.property(hextets, hextets, (a, b) => {
        // Not IPv4-mapped (::ffff:0:0/96), which counts as its IPv4 address.
        fc.pre(!(a.slice(0, 5).every((x) => x === 0) && a[5] === 0xffff) && !(b.slice(0, 5).every((x) => x === 0) && b[5] === 0xffff));
        const same = a.slice(0, 4).join() === b.slice(0, 4).join();
        expect(clientKey(text(a)) === clientKey(text(b))).toBe(same);
        expect(clientKey(text([...a.slice(0, 4), ...b.slice(4)]))).toBe(clientKey(text(a)));
      }),
      { numRuns: 300 },
    );
  });
});
