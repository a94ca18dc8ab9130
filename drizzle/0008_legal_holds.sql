CREATE TABLE "legal_holds" (
	"tenant_id" text NOT NULL,
	"session_id" text NOT NULL,
	"reason" text NOT NULL,
	"set_by" text NOT NULL,
	"set_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "legal_holds_tenant_id_session_id_pk" PRIMARY KEY("tenant_id","session_id")
);
