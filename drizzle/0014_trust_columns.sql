ALTER TABLE "legal_holds" DROP CONSTRAINT "legal_holds_tenant_id_session_id_pk";--> statement-breakpoint
ALTER TABLE "legal_holds" ADD CONSTRAINT "legal_holds_tenant_id_session_id_set_at_pk" PRIMARY KEY("tenant_id","session_id","set_at");--> statement-breakpoint
ALTER TABLE "access_log" ADD COLUMN "key_id" text;--> statement-breakpoint
ALTER TABLE "access_log" ADD COLUMN "signature" "bytea";--> statement-breakpoint
ALTER TABLE "legal_holds" ADD COLUMN "cleared_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "legal_holds" ADD COLUMN "cleared_by" text;--> statement-breakpoint
ALTER TABLE "legal_holds" ADD COLUMN "clear_reason" text;--> statement-breakpoint
ALTER TABLE "retention_policies" ADD COLUMN "mode" text DEFAULT 'governance' NOT NULL;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "retain_floor" text;--> statement-breakpoint
CREATE UNIQUE INDEX "legal_holds_one_in_force" ON "legal_holds" USING btree ("tenant_id","session_id") WHERE cleared_at IS NULL;