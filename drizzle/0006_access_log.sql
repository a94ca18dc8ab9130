CREATE TABLE "access_log" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"at" timestamp (3) with time zone NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"tenant_id" text,
	"session_id" text,
	"reason" text,
	"outcome" text NOT NULL,
	"hash" "bytea" NOT NULL
);
