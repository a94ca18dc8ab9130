import { createHash } from 'node:crypto';

/**
 * A LangGraph thread is a vault session of the saver's tenant. A thread id that is a valid
 * session id (letters, digits, `._:-`, short enough) keeps its name after the prefix, so an
 * operator finds thread `user-42` as session `lg.user-42`; any other thread id is hashed
 * (SHA-256, hex) under a second prefix. The two never collide: one starts `lg.`, the
 * other `lgh.`, and a kept name cannot start with `h.` after `lg` because `lg.` is fixed.
 * The thread id itself is sealed in every checkpoint, so `list` gives it back.
 */
export function sessionOfThread(threadId: string, prefix = 'lg'): string {
  if (/^[A-Za-z0-9._:-]+$/.test(threadId) && threadId.length <= 128 - prefix.length - 1) return `${prefix}.${threadId}`;
  return `${prefix}h.${createHash('sha256').update(threadId, 'utf8').digest('hex')}`;
}

/** Whether a session id is one of the saver's threads (either form). */
export function isThreadSession(session: string, prefix = 'lg'): boolean {
  return session.startsWith(`${prefix}.`) || session.startsWith(`${prefix}h.`);
}
