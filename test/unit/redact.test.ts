import fc from 'fast-check';
import { redact } from '../../src/store/postgres';

/**
 * The database URL as shown in errors, logs and `init --json`: whatever the secret, in the
 * user part or as a ?password= or ?sslpassword= parameter (both of which node-postgres
 * uses), it never appears, encoded or not; the rest of the URL stays readable.
 */
describe('redact', () => {
  const secret = fc.string({ minLength: 1, maxLength: 40 }).map((s) => `S3cret!${s}`);
  const shown = (url: string) => {
    const out = redact(url);
    return [out, decodeURIComponent(out), decodeURIComponent(out.replace(/\+/g, ' '))];
  };

  it('hides any password in the user part or in a parameter, and keeps host, database and other parameters', () => {
    fc.assert(
      fc.property(secret, secret, secret, fc.constantFrom('password', 'sslpassword', 'PASSWORD'), (user, param, other, name) => {
        const url = `postgres://app:${encodeURIComponent(user)}@db.internal:5433/vault?${name}=${encodeURIComponent(param)}&application_name=sv&sslpassword=${encodeURIComponent(other)}`;
        for (const text of shown(url)) for (const s of [user, param, other]) expect(text).not.toContain(s);
        expect(redact(url)).toMatch(/^postgres:\/\/app:\*\*\*@db\.internal:5433\/vault\?/);
        const params = new URL(redact(url)).searchParams;
        expect(params.get('application_name')).toBe('sv');
        expect(params.get(name)).toBe('***');
        expect(params.get('sslpassword')).toBe('***');
      }),
      { numRuns: 300 },
    );
  });

  it('shows a URL it cannot parse as nothing but that', () => {
    expect(redact('postgres://app:pw@[bad')).toBe('postgres://(unparseable url)');
  });
});
