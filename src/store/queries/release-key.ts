import { sql } from 'drizzle-orm';
import { storageError } from '../errors';
import type { Statement } from '../statement';
import { rowsOf, type Store, type VaultDb } from '../types';

/**
 * The vault's release key (drizzle/0078_release_key.sql): its wrap under a master key,
 * which every role of the vault reads, and its registration, once, with the HMAC pads the
 * release function checks proofs with (a table only the owner reads). Not tenant data:
 * one row for the vault, outside any tenant scope.
 */
export interface ReleaseKeyWrap {
  masterKeyId: string;
  wrapped: Uint8Array;
}

/** The release key's wrap, or null before one is registered. */
export async function readReleaseKeyWrap(db: VaultDb): Promise<ReleaseKeyWrap | null> {
  try {
    const [row] = rowsOf<{ master_key_id: string; wrapped: Uint8Array }>(await db.execute(sql`SELECT master_key_id, wrapped FROM release_key_wraps WHERE id = 1`));
    return row ? { masterKeyId: row.master_key_id, wrapped: new Uint8Array(row.wrapped) } : null;
  } catch (e) {
    throw storageError(e, 'reading the release key');
  }
}

const REGISTER: Statement = {
  name: 'session_vault_register_release_key_v1',
  text: 'SELECT session_vault_register_release_key($1::text, $2::bytea, $3::bytea, $4::bytea) AS registered',
};

/**
 * Registers a release key: false, changing nothing, when one is registered already
 * (another process's, which the caller then reads). Only the owner may (0080): it runs as
 * the process's login where the store may act as it, else as the store's role, refused.
 */
export async function registerReleaseKey(store: Store, wrap: ReleaseKeyWrap, pads: { inner: Uint8Array; outer: Uint8Array }): Promise<boolean> {
  const values = [wrap.masterKeyId, Buffer.from(wrap.wrapped), Buffer.from(pads.inner), Buffer.from(pads.outer)];
  try {
    const rows = await (store.runAsLogin ?? store.run)<{ registered: boolean }>(REGISTER, values);
    return rows[0]?.registered === true;
  } catch (e) {
    throw storageError(e, 'registering the release key');
  }
}

/** Replaces the release key's wrap (a master key rotation), only if still wrapped by `from`. Returns whether it was. */
export async function rewrapReleaseKey(db: VaultDb, from: string, to: ReleaseKeyWrap): Promise<boolean> {
  try {
    const res = await db.execute(
      sql`UPDATE release_key_wraps SET master_key_id = ${to.masterKeyId}, wrapped = ${Buffer.from(to.wrapped)} WHERE id = 1 AND master_key_id = ${from} RETURNING 1 AS moved`,
    );
    return rowsOf(res).length === 1;
  } catch (e) {
    throw storageError(e, 'rewrapping the release key');
  }
}
