import autocannon from 'autocannon';

/**
 * The HTTP bench's load generator, run as a child process of the bench so that its work
 * does not share the service's event loop: `node http-load.js '<json>'` appends with
 * `connections` clients, one event a request, round robin over as many sessions named
 * `<prefix>-<n>`, `amount` requests in all; prints autocannon's figures as one JSON line.
 */
interface LoadSpec {
  url: string;
  token: string;
  tenant: string;
  prefix: string;
  connections: number;
  amount: number;
  body: string;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]!) as LoadSpec;
  let next = 0;
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    amount: spec.amount,
    // autocannon notices the last reply at its next sample: with its default of one a
    // second, 2,000 requests answered in 2.4 s read as 3.01 s (the rate came out 2,000 / 2.01
    // or 2,000 / 3.01, whatever it was).
    sampleInt: 10,
    pipelining: 1,
    requests: [
      {
        method: 'POST',
        headers: { authorization: `Bearer ${spec.token}`, 'content-type': 'application/json' },
        // Round robin over `connections` sessions (autocannon's context does not last across a connection's requests).
        setupRequest: (req) => ({ ...req, path: `/v1/tenants/${spec.tenant}/sessions/${spec.prefix}-${next++ % spec.connections}/events`, body: spec.body }),
      },
    ],
  });
  process.stdout.write(
    JSON.stringify({ requests: result.requests.total, seconds: result.duration, p50Ms: result.latency.p50, p99Ms: result.latency.p99, non2xx: result.non2xx + result.errors }) + '\n',
  );
}

void main();
