/**
 * How a promise failed, in one line to match against: the vault's code and message, then
 * the driver's error and its cause (where "permission denied" or a guard's words are);
 * 'not refused' if it did not fail. For tests that perform an attack and expect the
 * database to refuse it.
 */
export async function refusal(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'not refused',
    (e: { cause?: { message?: string; cause?: { message?: string } }; message?: string; code?: string }) =>
      `${e.code ?? ''} ${e.message ?? ''} | ${e.cause?.message ?? ''} | ${e.cause?.cause?.message ?? ''}`,
  );
}
