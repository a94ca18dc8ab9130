CREATE TABLE "checkpoints" (
	"tenant_id" text NOT NULL,
	"session_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"key_id" text NOT NULL,
	"hash" "bytea" NOT NULL,
	"signed_at" timestamp (3) with time zone NOT NULL,
	"note" text NOT NULL,
	CONSTRAINT "checkpoints_tenant_id_session_id_seq_key_id_pk" PRIMARY KEY("tenant_id","session_id","seq","key_id")
);
