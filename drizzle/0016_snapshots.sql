CREATE TABLE "snapshots" (
	"tenant_id" text NOT NULL,
	"session_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"at" timestamp (3) with time zone NOT NULL,
	"head_hash" "bytea" NOT NULL,
	"key_version" integer NOT NULL,
	"nonce" "bytea" NOT NULL,
	"ciphertext" "bytea" NOT NULL,
	CONSTRAINT "snapshots_tenant_id_session_id_seq_pk" PRIMARY KEY("tenant_id","session_id","seq")
);
--> statement-breakpoint
-- Snapshots are tenant data (row-level security) and derived data: the application role
-- may write and remove them; reads never trust one without checking it against the chain.
ALTER TABLE snapshots ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE snapshots FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON snapshots
  USING (tenant_id = current_setting('vault.tenant', true))
  WITH CHECK (tenant_id = current_setting('vault.tenant', true));
--> statement-breakpoint
REVOKE ALL ON snapshots FROM PUBLIC;
--> statement-breakpoint
GRANT SELECT, INSERT, DELETE ON snapshots TO session_vault_app;
