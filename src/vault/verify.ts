import { InputError } from '../errors';
import { ChainVerifier, type ChainProblemKind } from '../events';
import { listSessions, listTenants, readSession, withTenant, type SessionRow } from '../store';
import type { VaultDeps } from './deps';
import { storedEvents } from './read';

/** One thing verification found wrong. */
export interface VerifyProblem {
  tenant: string;
  session: string;
  seq: number;
  kind: ChainProblemKind;
}

/** The `verify --json` document. */
export interface VerifyReport {
  ok: boolean;
  sessions: number;
  events: number;
  problems: VerifyProblem[];
}

export interface VerifyScope {
  tenant?: string;
  session?: string;
  /** Called after each session, for progress. */
  onSession?: (tenant: string, session: string) => void;
}

/**
 * Checks chains without any key: every event's hash from its stored columns and its
 * predecessor, seqs gapless from 1, and each session's recorded head. Reads in pages.
 */
export async function verify(deps: VaultDeps, scope: VerifyScope = {}): Promise<VerifyReport> {
  const report: VerifyReport = { ok: true, sessions: 0, events: 0, problems: [] };
  const all = (await listTenants(deps.store.db)).map((t) => t.tenant);
  if (scope.tenant !== undefined && !all.includes(scope.tenant)) {
    throw new InputError('UNKNOWN_TENANT', `unknown tenant ${scope.tenant}`);
  }
  const tenants = scope.tenant !== undefined ? [scope.tenant] : all;
  for (const tenant of tenants) {
    for await (const s of sessionsOf(deps, tenant, scope.session)) {
      const verifier = new ChainVerifier(tenant, s.session);
      for await (const e of storedEvents(deps, tenant, s.session)) verifier.push(e);
      for (const p of verifier.finish({ seq: s.headSeq, hash: s.headHash })) {
        report.problems.push({ tenant, session: s.session, seq: p.seq, kind: p.kind });
      }
      report.sessions++;
      report.events += verifier.events;
      scope.onSession?.(tenant, s.session);
    }
  }
  report.ok = report.problems.length === 0;
  deps.logger.info({ op: 'verify', sessions: report.sessions, events: report.events, problems: report.problems.length }, 'verified');
  return report;
}

async function* sessionsOf(deps: VaultDeps, tenant: string, only: string | undefined): AsyncGenerator<SessionRow> {
  if (only !== undefined) {
    const row = await withTenant(deps.store.db, tenant, 'reading a session', (tx) => readSession(tx, tenant, only));
    if (!row) throw new InputError('UNKNOWN_SESSION', `unknown session ${tenant}/${only}`);
    yield row;
    return;
  }
  let after: string | null = null;
  for (;;) {
    const page: SessionRow[] = await withTenant(deps.store.db, tenant, 'listing sessions', (tx) => listSessions(tx, tenant, after, 500));
    yield* page;
    if (page.length < 500) return;
    after = page[page.length - 1]!.session;
  }
}
