import { randomBytes } from 'node:crypto';
import { backends, dropCreatedDatabases } from '../support/backends';
import { message, startService, type TestService } from '../support/service';
import { ensureSodium, generateSigningKeyPair, signingKeyId, type SecretBytes } from '../../src/crypto';
import { EnvKeyProvider, type KeyProvider, type TenantKeyRef } from '../../src/keys';

/**
 * A handler that does not finish: the service answers 503 HANDLER_TIMEOUT when the limit
 * passes, without waiting for it, and keeps serving. What hangs here is what hangs in
 * production: a key service (KMS, HSM) that does not answer while an append waits for a
 * tenant key.
 */
afterAll(dropCreatedDatabases);
beforeAll(ensureSodium);

/** A master key from memory whose unwraps wait while the gate is shut. */
class GatedProvider implements KeyProvider {
  private readonly inner = EnvKeyProvider.fromBase64(randomBytes(32).toString('base64'));
  private shut: Promise<void> | null = null;
  private open: (() => void) | null = null;
  private fail: ((e: Error) => void) | null = null;
  unwrapsWaiting = 0;

  shutGate(): void {
    this.shut = new Promise((resolve, reject) => {
      this.open = resolve;
      this.fail = reject;
    });
  }

  openGate(): void {
    this.open?.();
    this.shut = null;
  }

  /** The waiting unwraps fail with `error` (a key service that answers with an error, at last). */
  failGate(error: Error): void {
    this.fail?.(error);
    this.shut = null;
  }

  wrapTenantKey(ref: TenantKeyRef, key: SecretBytes) {
    return this.inner.wrapTenantKey(ref, key);
  }

  async unwrapTenantKey(ref: TenantKeyRef, masterKeyId: string, wrapped: Uint8Array) {
    if (this.shut) {
      this.unwrapsWaiting++;
      await this.shut;
    }
    return this.inner.unwrapTenantKey(ref, masterKeyId, wrapped);
  }
}

describe.each(backends())('a handler past its limit on $name', (backend) => {
  const provider = new GatedProvider();
  let svc: TestService;
  let writer: string;
  let betaWriter: string;

  beforeAll(async () => {
    const kp = generateSigningKeyPair();
    svc = await startService(backend, { handlerTimeoutMs: 300 }, { keyProvider: provider, signer: { id: signingKeyId(kp.publicKey), ...kp } });
    await svc.vault.createTenant('acme'); // wraps only: the tenant key is unwrapped on first use
    await svc.vault.createTenant('beta');
    writer = (await svc.token('acme', 'writer')).token;
    betaWriter = (await svc.token('beta', 'writer')).token;
  });
  afterAll(async () => {
    provider.openGate();
    await svc?.close();
  });

  it('is answered 503 HANDLER_TIMEOUT while it waits; the append then commits, and its retry is stored once', async () => {
    provider.shutGate();
    const key = { 'idempotency-key': 'turn-1', 'x-correlation-id': 'corr-timeout-1' };
    const started = performance.now();
    const first = await svc.call(writer, 'POST', '/v1/tenants/acme/sessions/s1/events', { events: [message('held by the key service')] }, key);
    const waited = performance.now() - started;
    expect(first.status).toBe(503);
    expect(first.json).toEqual({ error: { code: 'HANDLER_TIMEOUT', message: expect.stringContaining('Idempotency-Key'), correlationId: 'corr-timeout-1' } });
    expect(waited).toBeGreaterThanOrEqual(290); // not before the limit
    expect(provider.unwrapsWaiting).toBe(1); // the handler is still waiting for the key: nothing was cut short

    // The service answers other requests while that one hangs.
    expect((await svc.call(null, 'GET', '/healthz')).status).toBe(200);

    // The key service answers: the abandoned append goes on and commits; the client's
    // retry with the same Idempotency-Key gets that append back instead of a second one.
    provider.openGate();
    let retry = await svc.call(writer, 'POST', '/v1/tenants/acme/sessions/s1/events', { events: [message('held by the key service')] }, key);
    for (let i = 0; i < 50 && retry.status === 503; i++) {
      await new Promise((r) => setTimeout(r, 100));
      retry = await svc.call(writer, 'POST', '/v1/tenants/acme/sessions/s1/events', { events: [message('held by the key service')] }, key);
    }
    expect(retry.status).toBe(200);
    expect(retry.json).toMatchObject({ appended: 1, firstSeq: 1, lastSeq: 1 });
    const seqs: number[] = [];
    for await (const e of svc.vault.session('acme', 's1').events()) seqs.push(e.seq);
    expect(seqs).toEqual([1]);
  });

  it('logs a handler that fails after its 503 by type and code, as every failed request: what its error says reaches no log', async () => {
    provider.shutGate();
    const key = { 'x-correlation-id': 'corr-timeout-late' };
    const first = await svc.call(betaWriter, 'POST', '/v1/tenants/beta/sessions/s1/events', { events: [message('held, then refused')] }, key);
    expect(first.status).toBe(503);
    const logged = svc.logs.length;
    // An error of the key service's own making, whose message could carry anything (a key id, a request's detail).
    provider.failGate(Object.assign(new Error('kms refused: detail-that-must-not-be-logged'), { code: 'KmsInternal' }));
    for (let i = 0; i < 50 && !svc.logs.slice(logged).join('').includes('after it was answered'); i++) await new Promise((r) => setTimeout(r, 20));
    const lines = svc.logs.slice(logged).join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
    const late = lines.filter((l) => l.msg === 'request failed after it was answered');
    expect(late).toEqual([expect.objectContaining({ correlationId: 'corr-timeout-late', err: { type: 'KeyError', code: 'KEY_UNAVAILABLE' } })]);
    expect(JSON.stringify(lines)).not.toContain('detail-that-must-not-be-logged');
    expect(JSON.stringify(lines)).not.toMatch(/already sent|Promise errored/);
    // The 503 itself was logged the same way: its type and code, no message.
    const answered = svc.logs.slice(0, logged).join('').split('\n').filter((l) => l.includes('corr-timeout-late') && l.includes('"request failed"'));
    expect(answered.map((l) => JSON.parse(l).err)).toEqual([{ type: 'ServiceRefusal', code: 'HANDLER_TIMEOUT' }]);
  });

  it('answers a request that finishes within the limit as usual, and never a second time', async () => {
    const ok = await svc.call(writer, 'POST', '/v1/tenants/acme/sessions/s2/events', { events: [message('quick')] });
    expect(ok.status).toBe(200);
    await new Promise((r) => setTimeout(r, 500)); // past the limit: a sweep that still held it would answer again
    const again = await svc.call(writer, 'POST', '/v1/tenants/acme/sessions/s2/events', { events: [message('quick again')] });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ firstSeq: 2 });
    expect(svc.logs.join('')).not.toMatch(/already sent|FST_ERR_REP_ALREADY_SENT/);
  });

  it('cuts an NDJSON stream still running past the limit, so the client sees it end short, not complete', async () => {
    const events = 4000;
    const content = 'x'.repeat(4000); // 16 MB in all: more than the sockets on the way hold while the client waits
    for (let i = 0; i < events; i += 500) await svc.vault.session('acme', 'long').appendMany(Array.from({ length: 500 }, () => message(content)));
    const res = await fetch(`${svc.url}/v1/tenants/acme/sessions/long/events`, { headers: { authorization: `Bearer ${writer}`, accept: 'application/x-ndjson' } });
    expect(res.status).toBe(200); // the headers went out: only cutting the connection can end it now
    const reader = res.body!.getReader();
    let bytes = (await reader.read()).value?.length ?? 0;
    await new Promise((r) => setTimeout(r, 800)); // a slow reader: the stream runs past the limit
    const rest = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        bytes += value.length;
      }
    })();
    await expect(rest).rejects.toThrow(); // cut, not ended: a client cannot take a cut stream for a whole one
    expect(bytes).toBeLessThan(events * content.length);
    expect((await svc.call(null, 'GET', '/healthz')).status).toBe(200);
  });
});
