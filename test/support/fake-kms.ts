import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback stand-in for AWS KMS speaking its JSON protocol (POST /, X-Amz-Target
 * TrentService.*), enough for the KMS key provider: GenerateDataKey, Encrypt, Decrypt.
 * It holds a master key per key id, seals with AES-256-GCM, and authenticates the
 * encryption context as KMS does: Decrypt under another context is
 * InvalidCiphertextException. It records each call's operation and context.
 */
export interface FakeKms {
  endpoint: string;
  calls: { op: string; keyId: string; context: Record<string, string> }[];
  close(): Promise<void>;
}

export async function startFakeKms(keyIds: string[]): Promise<FakeKms> {
  const masters = new Map(keyIds.map((k) => [k, randomBytes(32)]));
  const calls: FakeKms['calls'] = [];
  const aad = (context: Record<string, string> = {}) => Buffer.from(JSON.stringify(Object.entries(context).sort(([a], [b]) => (a < b ? -1 : 1))));
  const seal = (keyId: string, plain: Buffer, context: Record<string, string>) => {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', masters.get(keyId)!, iv).setAAD(aad(context));
    const body = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
    return Buffer.from(JSON.stringify({ k: keyId, iv: iv.toString('base64'), c: body.toString('base64') })).toString('base64');
  };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      const fail = (type: string, message: string) => {
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ __type: type, message }));
      };
      const ok = (body: unknown) => {
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(body));
      };
      if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256')) return fail('UnrecognizedClientException', 'unsigned request');
      const op = String(req.headers['x-amz-target'] ?? '').replace(/^TrentService\./, '');
      const body = JSON.parse(raw || '{}') as { KeyId?: string; Plaintext?: string; CiphertextBlob?: string; EncryptionContext?: Record<string, string> };
      const context = body.EncryptionContext ?? {};
      if (op === 'GenerateDataKey' || op === 'Encrypt') {
        const keyId = body.KeyId ?? '';
        if (!masters.has(keyId)) return fail('NotFoundException', `key ${keyId} not found`);
        calls.push({ op, keyId, context });
        const plain = op === 'Encrypt' ? Buffer.from(body.Plaintext ?? '', 'base64') : randomBytes(32);
        const blob = seal(keyId, plain, context);
        return ok(op === 'Encrypt' ? { CiphertextBlob: blob, KeyId: keyId } : { CiphertextBlob: blob, Plaintext: plain.toString('base64'), KeyId: keyId });
      }
      if (op === 'Decrypt') {
        try {
          const sealed = JSON.parse(Buffer.from(body.CiphertextBlob ?? '', 'base64').toString()) as { k: string; iv: string; c: string };
          if (body.KeyId && body.KeyId !== sealed.k) return fail('IncorrectKeyException', 'wrong key');
          calls.push({ op, keyId: sealed.k, context });
          const all = Buffer.from(sealed.c, 'base64');
          const d = createDecipheriv('aes-256-gcm', masters.get(sealed.k)!, Buffer.from(sealed.iv, 'base64')).setAAD(aad(context));
          d.setAuthTag(all.subarray(all.length - 16));
          const plain = Buffer.concat([d.update(all.subarray(0, all.length - 16)), d.final()]);
          return ok({ Plaintext: plain.toString('base64'), KeyId: sealed.k });
        } catch {
          return fail('InvalidCiphertextException', 'the ciphertext or its encryption context is invalid');
        }
      }
      return fail('UnknownOperationException', op);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, calls, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
