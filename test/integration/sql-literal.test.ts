import fc from 'fast-check';
import { Client } from 'pg';
import { backends, adminUrl } from '../support/backends';
import { sqlLiteral } from '../../src/store/statement';

/**
 * sqlLiteral is how values reach the one statement that takes no parameters (the full
 * read's COPY, src/store/queries/read-page.ts). Whatever the string (quotes, backslashes,
 * SQL of its own), the server reads the literal back as that string and nothing else, with
 * standard_conforming_strings on (the default) and off (a DBA may set it for a role).
 */
const servers = backends().filter((b) => b.name === 'postgres');
process.stderr.write('[sql-literal.test.ts] PGlite not run here: only the server path builds COPY statements\n');

describe.each(servers)('sqlLiteral on $name', () => {
  let client: Client;
  beforeAll(async () => {
    client = new Client({ connectionString: adminUrl() });
    await client.connect();
  });
  afterAll(() => client.end());

  const hostile = fc.oneof(
    fc.string({ unit: fc.constantFrom("'", '\\', '"', ';', '-', ' ', 'a', 'E', '$', '\n') }),
    fc.string({ unit: 'grapheme' }),
    fc.constantFrom("x'); DROP TABLE events; --", "\\'; SELECT 1; --", "\\", "'", 'E\'\\\'\''),
  ).filter((s) => !s.includes('\0'));

  it.each(['on', 'off'])('reads back the very string with standard_conforming_strings %s', async (setting) => {
    await client.query(`SET standard_conforming_strings = ${setting}`);
    await fc.assert(
      fc.asyncProperty(hostile, async (s) => {
        const { rows } = await client.query(`SELECT ${sqlLiteral(s)} AS v, 1 AS after`);
        expect(rows).toEqual([{ v: s, after: 1 }]);
      }),
      { numRuns: 200 },
    );
    await client.query('RESET standard_conforming_strings');
  });

  it('writes integers as digits and refuses anything else', () => {
    expect(sqlLiteral(42)).toBe('42');
    expect(sqlLiteral(-7)).toBe('-7');
    for (const bad of [1.5, Number.NaN, Infinity, 2 ** 53]) expect(() => sqlLiteral(bad)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });
});
