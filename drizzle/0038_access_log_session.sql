-- The access trail's records of one session, or one tenant, found without reading the whole
-- trail: before it purges or shreds, the vault compares the session's legal holds with the
-- trail's records of them (src/vault/shred.ts, src/audit/hold-check.ts), so that a hold
-- lifted outside the vault, with the application role's credentials alone, still stops it.
CREATE INDEX access_log_tenant_session ON access_log (tenant_id, session_id, seq);
