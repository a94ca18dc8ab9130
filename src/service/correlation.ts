import { TOKEN_PATTERN } from '../domain';

/**
 * The correlation id of a request (pure): `X-Correlation-Id` when given (printable ASCII,
 * 1..128 characters, else the request is refused), else the trace id of a W3C
 * `traceparent` (version 00, non-zero trace id; an invalid one is ignored, as the W3C
 * spec says), else none (the service makes one).
 */
export type CorrelationSource = { id: string; from: 'x-correlation-id' | 'traceparent' } | { invalid: string } | null;

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export function correlationFrom(headers: Record<string, string | string[] | undefined>): CorrelationSource {
  const given = headers['x-correlation-id'];
  if (given !== undefined) {
    if (typeof given !== 'string' || !TOKEN_PATTERN.test(given)) return { invalid: 'X-Correlation-Id must be 1..128 printable ASCII characters' };
    return { id: given, from: 'x-correlation-id' };
  }
  const tp = headers['traceparent'];
  if (typeof tp === 'string') {
    const m = TRACEPARENT.exec(tp.trim());
    if (m && m[1] !== 'ff' && !/^0+$/.test(m[2]!) && !/^0+$/.test(m[3]!)) return { id: m[2]!, from: 'traceparent' };
  }
  return null;
}
