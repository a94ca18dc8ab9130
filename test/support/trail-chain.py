"""An auditor's own check of an access-trail listing's hash chain, written from
docs/formats.md ("Access trail", "The trail as a file") alone, with Python's standard
library: hashlib's BLAKE2b. The standard library has no Ed25519, so the signatures are
left to `session-vault verify-trail`; this checks what a second implementation of the
format must agree on: every hash, in the v1, v2, v3 and v4 forms, and withheld records.

Usage: trail-chain.py FILE [TENANT [SESSION]] [--secret HEX] [--key HEX]
Prints one JSON object: the records read, the seqs whose hash does not hold, and the
seqs withheld though in the scope (by the tenant's trail secret given, or else the one
the tenant's records shown carry; for a session, also by the session's trail key given,
or derived from the secret, or else the one the session's records shown carry).
"""
import calendar
import hashlib
import json
import struct
import sys
from datetime import datetime


def u64(n):
    return struct.pack(">Q", n)


def field(b):
    return struct.pack(">I", len(b)) + b


def text(s):
    return field(s.encode("utf-8"))


def opt(s):
    return b"\x00" if s is None else b"\x01" + text(s)


def blake(*parts):
    return hashlib.blake2b(b"".join(parts), digest_size=32).digest()


def millis(at):
    # ISO 8601 UTC with milliseconds, as the file writes it: 2026-01-02T03:04:05.678Z
    t = datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ")
    return calendar.timegm(t.timetuple()) * 1000 + t.microsecond // 1000


def tenant_digest(seq, tenant, secret=None):
    if secret is None:
        return blake(text("session-vault/access-tenant/v2"), u64(seq), opt(tenant))
    return blake(text("session-vault/access-tenant/v3"), field(secret), u64(seq), text(tenant))


def session_digest(seq, tenant, session, secret=None):
    if secret is None:
        return blake(text("session-vault/access-session/v2"), u64(seq), opt(tenant), opt(session))
    return blake(text("session-vault/access-session/v3"), field(secret), u64(seq), text(tenant), opt(session))


def session_key(secret, tenant, session):
    return blake(text("session-vault/access-session-key/v4"), field(secret), text(tenant), opt(session))


def session_digest_v4(seq, tenant, session, key):
    return blake(text("session-vault/access-session/v4"), field(key), u64(seq), text(tenant), opt(session))


def link(prev, seq, at, t, s, f):
    return blake(text("session-vault/access/v2"), field(prev), u64(seq), u64(at), field(t), field(s), field(f))


def record_hash(prev, r):
    seq, at = r["seq"], millis(r["at"])
    if "withheld" in r:
        w = r["withheld"]
        return link(prev, seq, at, bytes.fromhex(w["tenant"]), bytes.fromhex(w["session"]), bytes.fromhex(w["fields"]))
    if r.get("salt"):
        fields = blake(text("session-vault/access-fields/v2"), field(bytes.fromhex(r["salt"])), text(r["actor"]), text(r["action"]), opt(r["reason"]), text(r["outcome"]))
        if "sessionKey" in r:
            # v4 as a session's listing shows it: the session's key, and the tenant's digest.
            key = bytes.fromhex(r["sessionKey"])
            return link(prev, seq, at, bytes.fromhex(r["tenantDigest"]), session_digest_v4(seq, r["tenant"], r["session"], key), fields)
        secret = bytes.fromhex(r["tenantSecret"]) if "tenantSecret" in r else None
        if r.get("sessionKeyed"):
            key = session_key(secret, r["tenant"], r["session"])
            return link(prev, seq, at, tenant_digest(seq, r["tenant"], secret), session_digest_v4(seq, r["tenant"], r["session"], key), fields)
        return link(prev, seq, at, tenant_digest(seq, r["tenant"], secret), session_digest(seq, r["tenant"], r["session"], secret), fields)
    return blake(
        text("session-vault/access/v1"), field(prev), u64(seq), u64(at), text(r["actor"]), text(r["action"]),
        opt(r["tenant"]), opt(r["session"]), opt(r["reason"]), text(r["outcome"]),
    )


def main():
    args = sys.argv[1:]
    secret, key = None, None
    if "--secret" in args:
        i = args.index("--secret")
        secret = bytes.fromhex(args[i + 1])
        del args[i:i + 2]
    if "--key" in args:
        i = args.index("--key")
        key = bytes.fromhex(args[i + 1])
        del args[i:i + 2]
    shown_key = None
    path, scope = args[0], args[1:3]
    prev, expected = bytes(32), 1
    bad, withheld, records = [], [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            records += 1
            if r["seq"] != expected or record_hash(prev, r).hex() != r["hash"]:
                bad.append(r["seq"])
            if "withheld" in r:
                withheld.append(r)
            elif scope and secret is None and r.get("tenant") == scope[0] and "tenantSecret" in r:
                secret = bytes.fromhex(r["tenantSecret"])
            elif len(scope) == 2 and shown_key is None and r.get("tenant") == scope[0] and r.get("session") == scope[1] and "sessionKey" in r:
                shown_key = bytes.fromhex(r["sessionKey"])
            prev, expected = bytes.fromhex(r["hash"]), r["seq"] + 1
    if len(scope) == 2 and key is None:
        key = session_key(secret, scope[0], scope[1]) if secret else shown_key
    own_withheld = []
    for r in withheld if scope else []:
        # A tenant's listing shows its records and the vault's own (no tenant); a session's, the session's.
        seq = r["seq"]
        if len(scope) == 2:
            mine = [session_digest(seq, scope[0], scope[1])] + ([session_digest(seq, scope[0], scope[1], secret)] if secret else []) + ([session_digest_v4(seq, scope[0], scope[1], key)] if key else [])
        else:
            mine = [tenant_digest(seq, scope[0]), tenant_digest(seq, None)] + ([tenant_digest(seq, scope[0], secret)] if secret else [])
        if bytes.fromhex(r["withheld"]["session" if len(scope) == 2 else "tenant"]) in mine:
            own_withheld.append(seq)
    print(json.dumps({"records": records, "bad": bad, "ownWithheld": own_withheld}))


main()
