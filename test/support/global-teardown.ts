export default async function globalTeardown(): Promise<void> {
  const pg = (globalThis as { __SV_EMBEDDED_PG__?: { stop(): Promise<void> } }).__SV_EMBEDDED_PG__;
  if (pg) await pg.stop();
}
