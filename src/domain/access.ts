/** One record of the operator access trail (src/audit/access.ts chains them). */
export interface AccessRecord {
  seq: number;
  at: Date;
  actor: string;
  action: string;
  tenant: string | null;
  session: string | null;
  reason: string | null;
  /** `granted` before the operation runs; `failed:<CODE>` if it then failed. */
  outcome: string;
}
