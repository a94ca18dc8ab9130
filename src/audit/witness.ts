import { StorageError } from '../errors';
import { updateObject, type ObjectStore } from '../objects';
import { parseCheckpoint } from './checkpoint';
import { parseTrailHead } from './access';
import { periodsOf, publicKeysDocument, type PublicKeyEntry } from './public-keys';
import type { KeyPeriods } from './key-period';

/**
 * The witness: signed checkpoints kept outside the database, so that restoring an older,
 * internally consistent copy of the database (a rollback) shows: the database's chain no
 * longer reaches the witnessed head. A folder by default (`$VAULT_HOME/witness`), or an
 * S3 bucket. It keeps one object a session and the public keys.
 */
export interface Witness {
  /** Where it lives, for messages. */
  readonly location: string;
  /** The latest witnessed checkpoint note of a session, or null. */
  latest(tenant: string, session: string): Promise<string | null>;
  /** Every session the witness has seen, optionally of one tenant. */
  sessions(tenant?: string): Promise<{ tenant: string; session: string }[]>;
  /**
   * Records a newer checkpoint note. Refuses (returns the reason) to go backwards — a seq
   * lower than the one witnessed, or the same seq with another hash — since that is what
   * a rollback looks like. The comparison and the write are one step: of two processes
   * recording at once, the earlier head never lands over the later.
   */
  record(note: string): Promise<'recorded' | 'unchanged' | 'witness_ahead' | 'witness_fork'>;
  /** The latest witnessed head of the operator access trail (a signed note), or null. */
  latestTrail(): Promise<string | null>;
  /** Records a newer access-trail head; refuses to go backwards, as `record` does. */
  recordTrail(note: string): Promise<'recorded' | 'unchanged' | 'witness_ahead' | 'witness_fork'>;
  /** Public signing keys, kept beside the checkpoints so verification needs no keyring. */
  publicKeys(): Promise<Map<string, Uint8Array>>;
  /** The keys' periods as stated beside them (a keyring's when a key was published, `keys retire-signing`'s retirements), so verification needs no keyring for them either. */
  keyPeriods(): Promise<KeyPeriods>;
  /**
   * Adds keys not yet kept, and `periods` for kept keys: a creation not yet stated, and a
   * retirement where none is stated or it is earlier than the one stated (a retirement
   * only ever moves earlier: nothing written here brings a key back).
   */
  addPublicKeys(keys: ReadonlyMap<string, Uint8Array>, periods?: KeyPeriods): Promise<void>;
  /** Retires a kept key at `at`, or earlier where an earlier retirement is stated; the retirement in force, or null for a key it does not keep. */
  retireKey(id: string, at: Date): Promise<Date | null>;
}

const SUFFIX = '.checkpoint';
/** At the root, beside public-keys.json: no tenant folder can take the name. */
const TRAIL_OBJECT = 'access-trail.checkpoint';

/**
 * A witness over an object store (src/objects: a folder or an S3 bucket). Layout:
 * `<tenant>/<session>.checkpoint` (the latest witnessed note) and `public-keys.json`
 * (`{"keys":[{"id","publicKey","createdAt","retiredAt"}]}`, audit/public-keys.ts). For a
 * witness an attacker with database access cannot roll back, keep it where database
 * administrators cannot write (a bucket with versioning or Object Lock, its credentials
 * held by others).
 */
export class ObjectWitness implements Witness {
  /** @param settleMs how long `retireKey` waits before reading its write back. */
  constructor(
    private readonly objects: ObjectStore,
    private readonly settleMs = 500,
  ) {}

  get location(): string {
    return this.objects.location;
  }

  private async text(name: string): Promise<string | null> {
    const b = await this.objects.get(name);
    return b === null ? null : utf8(b);
  }

  latest(tenant: string, session: string): Promise<string | null> {
    // Ids are validated ([a-z0-9._-] and [A-Za-z0-9._:-]); neither can contain a separator.
    return this.text(`${tenant}/${session}${SUFFIX}`);
  }

  async sessions(tenant?: string): Promise<{ tenant: string; session: string }[]> {
    const out: { tenant: string; session: string }[] = [];
    for (const t of tenant !== undefined ? [tenant] : await this.objects.list('')) {
      for (const name of await this.objects.list(`${t}/`)) {
        if (name.endsWith(SUFFIX)) out.push({ tenant: t, session: name.slice(0, -SUFFIX.length) });
      }
    }
    return out;
  }

  record(note: string): Promise<'recorded' | 'unchanged' | 'witness_ahead' | 'witness_fork'> {
    const parsed = parseCheckpoint(note);
    if (!parsed) throw new StorageError('STORAGE_REFUSED', 'refusing to witness a malformed checkpoint');
    const { tenant, session, seq, hash } = parsed.checkpoint;
    return this.advance(`${tenant}/${session}${SUFFIX}`, note, { seq, hash }, (text) => parseCheckpoint(text)?.checkpoint ?? null);
  }

  latestTrail(): Promise<string | null> {
    return this.text(TRAIL_OBJECT);
  }

  recordTrail(note: string): Promise<'recorded' | 'unchanged' | 'witness_ahead' | 'witness_fork'> {
    const head = parseTrailHead(note);
    if (!head) throw new StorageError('STORAGE_REFUSED', 'refusing to witness a malformed access-trail head');
    return this.advance(TRAIL_OBJECT, note, head, parseTrailHead);
  }

  /**
   * Replaces the note only by a later head; the same seq with another hash is a fork. Read
   * and written as one step (updateObject): of two processes recording at once, the one
   * with the earlier head never writes over the later one's.
   */
  private advance(
    name: string,
    note: string,
    head: { seq: number; hash: Uint8Array },
    parse: (text: string) => { seq: number; hash: Uint8Array } | null,
  ): Promise<'recorded' | 'unchanged' | 'witness_ahead' | 'witness_fork'> {
    return updateObject(
      this.objects,
      name,
      (current) => {
        const prev = current === null ? null : parse(utf8(current));
        if (prev && prev.seq > head.seq) return { write: null, answer: 'witness_ahead' as const };
        if (prev && prev.seq === head.seq) return { write: null, answer: Buffer.compare(Buffer.from(prev.hash), Buffer.from(head.hash)) === 0 ? ('unchanged' as const) : ('witness_fork' as const) };
        return { write: textBytes(note), answer: 'recorded' as const };
      },
      TEXT,
    );
  }

  async publicKeys(): Promise<Map<string, Uint8Array>> {
    return new Map((await this.keyEntries()).map((k) => [k.id, new Uint8Array(Buffer.from(k.publicKey, 'base64'))]));
  }

  async keyPeriods(): Promise<KeyPeriods> {
    return periodsOf(await this.keyEntries());
  }

  addPublicKeys(keys: ReadonlyMap<string, Uint8Array>, periods: KeyPeriods = new Map()): Promise<void> {
    // Read and written as one step (updateObject): two processes publishing at once both stay.
    return updateObject(
      this.objects,
      KEYS_OBJECT,
      (current) => {
        const entries = this.keyEntriesOf(current);
        const before = JSON.stringify(entries);
        const byId = new Map(entries.map((k) => [k.id, k]));
        for (const [id, key] of keys) {
          if (!byId.has(id)) {
            const entry = { id, publicKey: Buffer.from(key).toString('base64') };
            entries.push(entry);
            byId.set(id, entry);
          }
        }
        // A key's creation is written once; its retirement only ever moves earlier.
        for (const [id, p] of periods) {
          const entry = byId.get(id);
          if (!entry) continue;
          entry.createdAt ??= p.from.toISOString();
          if (p.until) entry.retiredAt = earliest(entry.retiredAt, p.until);
        }
        return { write: JSON.stringify(entries) === before ? null : keysDocument(entries), answer: undefined };
      },
      TEXT,
    );
  }

  async retireKey(id: string, at: Date): Promise<Date | null> {
    // Written as one step (updateObject), so no process of this version publishing a key
    // at the same moment writes over it. One of an earlier version writes the file as it
    // read it, unconditionally: read the retirement back after a pause as long as such a
    // write takes, and state it again where it was lost.
    for (let attempt = 0; attempt < 4; attempt++) {
      const stated = await updateObject(
        this.objects,
        KEYS_OBJECT,
        (current) => {
          const entries = this.keyEntriesOf(current);
          const entry = entries.find((k) => k.id === id);
          if (!entry) return { write: null, answer: null };
          const retiredAt = earliest(entry.retiredAt, at);
          if (retiredAt === entry.retiredAt) return { write: null, answer: { retiredAt, standing: true } };
          entry.retiredAt = retiredAt;
          return { write: keysDocument(entries), answer: { retiredAt, standing: false } };
        },
        TEXT,
      );
      if (stated === null) return null;
      if (stated.standing) return new Date(stated.retiredAt);
      await new Promise((resolve) => setTimeout(resolve, this.settleMs));
    }
    throw new StorageError('STORAGE_REFUSED', `witness ${this.location}: the retirement of ${id} does not stay written in public-keys.json`);
  }

  private async keyEntries(): Promise<PublicKeyEntry[]> {
    return this.keyEntriesOf(await this.objects.get(KEYS_OBJECT));
  }

  private keyEntriesOf(bytes: Uint8Array | null): PublicKeyEntry[] {
    if (bytes === null) return [];
    let parsed;
    try {
      parsed = publicKeysDocument.safeParse(JSON.parse(utf8(bytes)));
    } catch {
      parsed = { success: false as const };
    }
    if (!parsed.success) throw new StorageError('STORAGE_REFUSED', `witness ${this.location}: public-keys.json is malformed`);
    return parsed.data.keys;
  }
}

const KEYS_OBJECT = 'public-keys.json';
const TEXT = { contentType: 'text/plain; charset=utf-8' };

function utf8(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
}

function textBytes(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf8'));
}

function keysDocument(entries: readonly PublicKeyEntry[]): Uint8Array {
  return textBytes(JSON.stringify({ keys: entries }, null, 2) + '\n');
}

/** The earlier of a stated retirement (ISO, or none) and another, as ISO. */
function earliest(stated: string | undefined, at: Date): string {
  return stated !== undefined && new Date(stated).getTime() <= at.getTime() ? stated : at.toISOString();
}
