CREATE TABLE "archives" (
	"tenant_id" text NOT NULL,
	"session_id" text NOT NULL,
	"head_seq" bigint NOT NULL,
	"head_hash" "bytea" NOT NULL,
	"object_name" text NOT NULL,
	"store" text NOT NULL,
	"digest" "bytea" NOT NULL,
	"bytes" bigint NOT NULL,
	"archived_at" timestamp (3) with time zone NOT NULL,
	"archived_by" text NOT NULL,
	"verified_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "archives_tenant_id_session_id_head_seq_pk" PRIMARY KEY("tenant_id","session_id","head_seq")
);
--> statement-breakpoint
CREATE TABLE "retention_policies" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"archive_after" text NOT NULL,
	"retain" text NOT NULL,
	"set_by" text NOT NULL,
	"set_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tombstones" (
	"tenant_id" text NOT NULL,
	"session_id" text NOT NULL,
	"head_seq" bigint NOT NULL,
	"head_hash" "bytea",
	"archive_digest" "bytea" NOT NULL,
	"last_at" timestamp (3) with time zone,
	"due_at" timestamp (3) with time zone NOT NULL,
	"purged_at" timestamp (3) with time zone NOT NULL,
	"purged_by" text NOT NULL,
	"policy" text NOT NULL,
	"objects_deleted_at" timestamp (3) with time zone,
	CONSTRAINT "tombstones_tenant_id_session_id_pk" PRIMARY KEY("tenant_id","session_id")
);
