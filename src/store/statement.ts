import { sql, type SQL } from 'drizzle-orm';
import { InputError } from '../errors';

/**
 * One statement with positional parameters ($1, $2, …): a name a server may prepare it
 * under (unique among the vault's statements) and its text. The same statement runs on
 * its own through Store.run, or inside a drizzle transaction through `positional`.
 */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/** The statement as drizzle SQL with `values` bound to its $n placeholders, for a transaction. */
export function positional(statement: Statement, values: readonly unknown[]): SQL {
  const parts = statement.text.split(/\$(\d+)/);
  const chunks: SQL[] = [];
  for (let i = 0; i < parts.length; i++) {
    if (i % 2 === 0) chunks.push(sql.raw(parts[i]!));
    else chunks.push(sql`${sql.param(values[Number(parts[i]) - 1])}`); // sql.param: a bare array would become a list
  }
  return sql.join(chunks);
}

/**
 * A value as an SQL literal, for the one statement that cannot take parameters (COPY,
 * Store.copyRows): a string quoted as node-postgres's escapeLiteral quotes it (quotes
 * doubled; with a backslash, an E'' string with backslashes doubled, so the literal means
 * the same whatever standard_conforming_strings says), an integer as its digits.
 */
export function sqlLiteral(value: string | number): string {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new InputError('INVALID_INPUT', 'a number for a statement must be a safe integer');
    return String(value);
  }
  const quoted = `'${value.replace(/'/g, "''")}'`;
  return value.includes('\\') ? ` E${quoted.replace(/\\/g, '\\\\')}` : quoted;
}
