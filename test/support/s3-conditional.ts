import http from 'node:http';
import { startS3rver } from './s3rver';

/**
 * s3rver behind a loopback proxy that answers conditional writes as AWS S3 has since 2024
 * (PutObject with `If-Match: <ETag>` or `If-None-Match: *`: 412 PreconditionFailed when
 * the object is not as stated), which s3rver ignores on PUT. Every write to a key goes
 * through one queue a key, so a condition is checked and the write made with no other
 * write to that key between them. The ETags are those s3rver gave the writes made through
 * the proxy (every write of a test is). Reads of a key wait in its queue too: s3rver
 * replaces a file in place, where S3 replaces an object whole.
 *
 * With `conditions: 'ignored'` it writes whatever the conditions, as an S3-compatible
 * store that does not implement them does (and s3rver itself), holds still working.
 *
 * `hold(suffix)` holds the next PUT whose key ends so before it reaches the queue, as a
 * slow network would, until `release()`: `arrived` settles once it is held.
 */
export interface ConditionalS3 {
  endpoint: string;
  hold(keySuffix: string): { arrived: Promise<void>; release(): void };
  close(): Promise<void>;
}

export async function startConditionalS3(buckets: string[], options: { conditions?: 'answered' | 'ignored' } = {}): Promise<ConditionalS3> {
  const answered = options.conditions !== 'ignored';
  const backend = await startS3rver(buckets);
  const target = new URL(backend.endpoint);
  const etags = new Map<string, string>();
  const queues = new Map<string, Promise<void>>();
  const holds: { suffix: string; arrive: () => void; released: Promise<void> }[] = [];

  const forward = (req: http.IncomingMessage, body: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const out = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      out.on('error', reject);
      out.end(body);
    });

  /** Runs `f` after every earlier write to `key` has finished. */
  const inQueue = <T>(key: string, f: () => Promise<T>): Promise<T> => {
    const before = queues.get(key) ?? Promise.resolve();
    const run = before.then(f);
    queues.set(key, run.then(() => undefined, () => undefined));
    return run;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const key = (req.url ?? '').split('?')[0]!;
        let answer;
        if (req.method === 'PUT' || req.method === 'DELETE') {
          const held = req.method === 'PUT' ? holds.findIndex((h) => key.endsWith(h.suffix)) : -1;
          if (held >= 0) {
            const [h] = holds.splice(held, 1);
            h!.arrive();
            await h!.released;
          }
          answer = await inQueue(key, async () => {
            const ifMatch = req.headers['if-match'];
            const ifNoneMatch = req.headers['if-none-match'];
            const current = etags.get(key);
            if (answered && ((ifNoneMatch === '*' && current !== undefined) || (ifMatch !== undefined && ifMatch !== current))) {
              return { status: 412, headers: { 'content-type': 'application/xml' }, body: Buffer.from('<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>') };
            }
            const r = await forward(req, body);
            if (r.status < 300) {
              if (req.method === 'PUT') etags.set(key, String(r.headers.etag));
              else etags.delete(key);
            }
            return r;
          });
        } else if (req.method === 'GET' || req.method === 'HEAD') {
          // s3rver replaces a file in place: a read beside a write can see part of it, where S3 shows the old object or the new.
          answer = await inQueue(key, () => forward(req, body));
        } else {
          answer = await forward(req, body);
        }
        const { connection: _c, 'keep-alive': _k, ...headers } = answer.headers;
        res.writeHead(answer.status, headers);
        res.end(answer.body);
      })().catch((e: unknown) => {
        res.writeHead(502);
        res.end(String(e));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    hold(suffix) {
      let arrive!: () => void;
      let release!: () => void;
      const arrived = new Promise<void>((r) => (arrive = r));
      const released = new Promise<void>((r) => (release = r));
      holds.push({ suffix, arrive, released });
      return { arrived, release };
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await backend.close();
    },
  };
}
