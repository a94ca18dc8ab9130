import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
afterAll(dropCreatedDatabases);
const b = backends().find((x) => x.name === 'postgres')!;
it('sweep columns 2', async () => {
  const t = await testVault(b);
  try {
    await t.vault.createTenant('bank');
    for (let i = 0; i < 3; i++) await t.vault.session('bank', 's').append({ type: 'message', role: 'user', content: 'x' + i });
    for (let i = 0; i < 3; i++) await t.vault.session('bank', 'h').append({ type: 'message', role: 'user', content: 'x' + i });
    const op = t.vault.operator({ actor: 'a', reason: 'r' });
    await op.setHold('bank', 'h');
    await op.setHold('bank', 's');
    await op.clearHold('bank', 's');
    await op.createToken('bank', { role: 'reader', label: 'l' } as never);
    await t.vault.checkpoint();
    const cols = (await asOwner(t.vault, t.url, [{ text: "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name IN ('legal_holds','retention_policies','archives','tombstones','api_tokens','tenants','tenant_keys','sessions') ORDER BY 1,2" }], { triggers: 'on' }))[0] as { table_name: string; column_name: string; data_type: string }[];
    const vals: Record<string, string[]> = { bytea: ["'\\x'", "'\\x00'", "decode(repeat('ab', 100), 'hex')"], text: ["''", "'x'", "repeat('y', 5000)", "'30d'", "'-1d'", "'99999999999y'"], integer: ['-1', '0', '2147483647'], bigint: ['-1', '0', '9007199254740993'], smallint: ['-1', '0', '32767'], 'timestamp with time zone': ["'1969-07-20T20:17:00Z'", "'infinity'", "'-infinity'"], boolean: ['X'], 'double precision': ["'NaN'", "'Infinity'", '-1'] };
    for (const c of cols) {
      for (const v of vals[c.data_type] ?? []) {
        const expr = c.data_type === 'boolean' ? `NOT ${c.column_name}` : v;
        let saved: { c: string; v: string | null }[] = [];
        try {
          saved = (await asOwner(t.vault, t.url, [{ text: `SELECT ctid::text AS c, ${c.column_name}::text AS v FROM ${c.table_name} ORDER BY ctid DESC LIMIT 1` }]))[0] as typeof saved;
          if (saved.length === 0) continue;
          await asOwner(t.vault, t.url, [{ text: `UPDATE ${c.table_name} SET ${c.column_name} = ${expr} WHERE ctid = '${saved[0]!.c}'` }]);
        } catch (e) { continue; }
        const out: string[] = [];
        for (const [name, f] of [['verify', () => t.vault.verify()], ['holds', () => t.vault.holds('bank')], ['retention', () => t.vault.retention('bank')], ['tokens', () => t.vault.tokens('bank')], ['keys', () => t.vault.keys('bank')], ['sessions', () => t.vault.sessions('bank')], ['tenants', () => t.vault.tenants()], ['state', () => t.vault.session('bank', 's').state()], ['export', () => t.vault.session('bank', 'h').export()]] as const) {
          try { await (f as () => Promise<unknown>)(); } catch (e) { const err = e as { code?: string; name: string; message: string }; if (!err.code) out.push(`${name}: THREW ${err.name} ${err.message.slice(0, 100)}`); }
        }
        if (out.length) console.log(`${c.table_name}.${c.column_name} = ${v}`, out.join(' | '));
        const row = (await asOwner(t.vault, t.url, [{ text: `SELECT ctid::text AS c FROM ${c.table_name} ORDER BY ctid DESC LIMIT 1` }]))[0] as { c: string }[];
        await asOwner(t.vault, t.url, [{ text: `UPDATE ${c.table_name} SET ${c.column_name} = ${saved[0]!.v === null ? 'NULL' : `'${saved[0]!.v!.replace(/'/g, "''")}'`}::${c.data_type === 'double precision' ? 'float8' : c.data_type === 'timestamp with time zone' ? 'timestamptz' : c.data_type} WHERE ctid = '${row[0]!.c}'` }]);
      }
    }
  } finally { await t.close(); }
}, 600000);
