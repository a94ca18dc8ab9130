import { KeyError } from '../errors';
import { buildBundle, toBundleEvent, type Bundle, type BundleEvent, type BundleInput, type PlaintextEvent, type ReplayPointSpec } from '../audit';
import { SEAL_V1, SEAL_V2, SEAL_V3, eventKey } from '../events';
import { replay, type AgentState } from '../replay';
import { readCheckpoints, withTenant, type SessionRow } from '../store';
import type { VaultDeps } from './deps';
import { requireSession } from './session-row';
import { openSession } from './open-session';
import { decryptedEvents, storedChunks } from './read';
import { verify } from './verify';
import { collectEvents } from '../domain';

export interface ExportOptions {
  /** Include plaintext events, each event's own key (never the data key, but for legacy v1 events) and replayed states. */
  decrypt?: boolean;
  /** Replay points to include as states (with decrypt); the latest state is always included then. */
  points?: ({ atSeq: number } | { at: Date })[];
}

/**
 * Builds the auditor bundle of one session (docs/export-format.md): events as stored,
 * every signed checkpoint, the public keys, a signed manifest; with `decrypt`, plaintext,
 * the events' own keys and replayed states. UNKNOWN_SESSION, KEY_DESTROYED, KEY_NOT_FOUND (no
 * signing key) as the operations it uses.
 */
export async function exportSession(deps: VaultDeps, tenant: string, session: string, options: ExportOptions = {}): Promise<Bundle> {
  await requireSession(deps, tenant, session); // refused before anything else, as an unknown session always was
  const signer = await deps.signer();
  if (!signer) throw new KeyError('KEY_NOT_FOUND', 'exports are signed, and checkpoints are disabled (no signing key)');
  // What verify finds wrong with this session now goes into the signed manifest, so a
  // bundle of a damaged session says so rather than passing for a clean one. It reads the
  // whole session: done first, its garbage is gone before the bundle's events are held.
  const found = (await verify(deps, { tenant, session })).problems.filter((p) => p.tenant === tenant && p.session === session);
  // The session as it stood at one moment (its agent may go on appending while it is
  // exported): its row, then its events, checkpoints and plaintext up to that row's head.
  const { row, events } = await eventsAtHead(deps, tenant, session);
  const checkpoints: string[] = [];
  for (let after = 0; ; ) {
    const page = await withTenant(deps.store.db, tenant, 'reading checkpoints', (tx) => readCheckpoints(tx, tenant, session, after, 1000));
    checkpoints.push(...page.filter((c) => c.seq <= row.headSeq).map((c) => c.note));
    if (page.length < 1000) break;
    after = page[page.length - 1]!.seq;
  }
  let plaintext: BundleInput['plaintext'] = null;
  let states: { point: ReplayPointSpec; state: AgentState }[] | null = null;
  if (options.decrypt) {
    const s = deps.cache.get(tenant, session) ?? (await openSession(deps, tenant, session, null));
    // Decrypted once: the plaintext section and every replayed state come from these.
    const decrypted = await collectEvents(decryptedEvents(deps, tenant, session, 1, row.headSeq));
    const plain: PlaintextEvent[] = decrypted.map((e) => ({ seq: e.seq, type: e.type, correlationId: e.correlationId, at: e.at.toISOString(), data: e.data }));
    // Each event's own key, never the data key (which would open every later event too);
    // only legacy v1 events, which have no key of their own, need the data key.
    const eventKeys = events.filter((e) => e.keyVersion === SEAL_V2 || e.keyVersion === SEAL_V3).map((e) => ({ seq: e.seq, key: eventKey(s.dataKey, tenant, session, e.seq) }));
    const legacy = events.some((e) => e.keyVersion === SEAL_V1);
    plaintext = { dataKey: legacy ? s.dataKey : null, eventKeys, events: plain };
    const meta = { tenant, session, agent: row.agent };
    states = [];
    for (const point of options.points ?? []) {
      const spec: ReplayPointSpec = 'atSeq' in point ? { atSeq: point.atSeq } : { at: point.at.toISOString() };
      states.push({ point: spec, state: await replay(meta, decrypted, point) });
    }
    states.push({ point: 'latest', state: await replay(meta, decrypted) });
  }
  const bundle = buildBundle(
    { tenant, session, agent: row.agent, exportedAt: deps.clock(), events, checkpoints, publicKeys: await deps.trustedKeys(), plaintext, states, sourceProblems: found },
    signer,
  );
  for (const k of plaintext?.eventKeys ?? []) k.key.dispose();
  deps.logger.info({ op: 'export', events: events.length, checkpoints: checkpoints.length, decrypted: options.decrypt === true }, 'exported');
  return bundle;
}

/** Times the export reads a session again whose events left the table while it read them (archived meanwhile). */
const HEAD_ATTEMPTS = 3;

/**
 * The session's row and its stored events up to that row's head, in their bundle form
 * (each converted as it is read). Without --decrypt no key is needed: a shredded session
 * is exported as stored. Read again where fewer events came than the head names (the
 * session was archived, and its rows released, while they were read); the bundle then
 * holds what it holds, and verify-bundle says what is missing.
 */
async function eventsAtHead(deps: VaultDeps, tenant: string, session: string): Promise<{ row: SessionRow; events: BundleEvent[] }> {
  for (let attempt = 1; ; attempt++) {
    const row = await requireSession(deps, tenant, session);
    const events: BundleEvent[] = [];
    for await (const rows of storedChunks(deps, tenant, session, 1, row, row.headSeq)) for (const e of rows) events.push(toBundleEvent(e));
    if (events.length === row.headSeq || row.status === 'purged' || attempt === HEAD_ATTEMPTS) return { row, events };
  }
}
