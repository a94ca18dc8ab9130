import { InputError } from '../errors';

/**
 * Integrations that need a package the vault does not depend on (`openai` for `chat`,
 * `@aws-sdk/client-s3` for an `s3://` store) load it only when used, through this: a
 * missing package is DEPENDENCY_MISSING naming what to install, not a stack trace at
 * start-up, and a vault that never uses it never loads it.
 * `load` must be a literal `() => import('…')` so bundlers and type checkers see it.
 */
export async function loadOptional<T>(load: () => Promise<T>, pkg: string, purpose: string): Promise<T> {
  try {
    return await load();
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND' || /Cannot find module/.test(String((e as Error)?.message))) {
      throw new InputError('DEPENDENCY_MISSING', `${purpose} needs the ${pkg} package, which is not installed: npm install ${pkg}`);
    }
    throw e;
  }
}
