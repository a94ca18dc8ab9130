import { Command, CommanderError, Option } from 'commander';
import { EXIT_CODES, VaultError } from '../errors';
import { commandContext, type CommandContext } from './context';
import { resolveConfig, type GlobalFlags } from './config';
import { processOutput, type Output } from './output';
import { initCommand } from './commands/init';
import { tenantCreateCommand, tenantListCommand } from './commands/tenant';
import { rolesCommand } from './commands/roles';
import { appendCommand } from './commands/append';
import { sessionsCommand } from './commands/sessions';
import { eventsCommand } from './commands/events';
import { replayCommand } from './commands/replay';
import { verifyCommand } from './commands/verify';
import { demoCommand } from './commands/demo';
import { checkpointCommand } from './commands/checkpoint';
import { exportCommand } from './commands/export';
import { verifyBundleCommand } from './commands/verify-bundle';
import { accessLogCommand, verifyTrailCommand } from './commands/access-log';
import { keysCheckCommand, keysListCommand, keysRewrapCommand, keysRotateCommand, keysShredCommand, keysStateCommand, rotateMasterCommand, retireSigningCommand, rotateSigningCommand } from './commands/keys';
import { holdCommand, holdListCommand } from './commands/hold';
import { importCommand } from './commands/import';
import type { ChatFlags } from './commands/chat';
import type { ServeFlags } from './commands/serve';
import { tokensCreateCommand, tokensListCommand, tokensRevokeCommand } from './commands/tokens';
import { archiveCommand, purgeCommand, restoreCommand, retentionRunCommand, retentionSetCommand, retentionShowCommand } from './commands/retention';

/**
 * Runs the CLI and returns the exit code (shared/spec/cli.md): 0 ok, 1 integrity
 * problem, 2 usage or input, 3 key, 4 storage. Errors print one line,
 * `error[CODE]: message`; a stack only with --debug. The only place that turns errors
 * into exit codes; bin.ts is the only place that exits.
 */
export async function main(argv: readonly string[], io: Output = processOutput, stdin: NodeJS.ReadableStream = process.stdin): Promise<number> {
  // `session-vault --version` alone prints the version. It is not a program option, because
  // commander would then take `keys retire T --version N` (the contract's flag) for it.
  const version = require('../../package.json').version as string;
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    io.out(version);
    return 0;
  }
  let code = 0;
  let debug = argv.includes('--debug');
  const program = new Command('session-vault')
    .description('Encrypted, hash-chained, append-only session vault for AI agents')
    .addHelpText('after', '\nsession-vault --version prints the version.')
    .addOption(new Option('--home <dir>', 'home folder (env VAULT_HOME, default ./.session-vault)'))
    .addOption(new Option('--db <url>', 'postgres://… or memory:// (env VAULT_DATABASE_URL, default: embedded store in $VAULT_HOME/db)'))
    .addOption(new Option('--schema <name>', 'database schema of the vault\'s tables (env VAULT_DB_SCHEMA, default session_vault)'))
    .addOption(new Option('--app-role <name>', 'database role to act as: session_vault_app, _retention, _operator, _legal or _auditor (env VAULT_APP_ROLE; default the operator role if the login may, else the retention role if it may, else the app role)'))
    .addOption(new Option('--keyring <path>', 'keyring file (env VAULT_KEYRING, default $VAULT_HOME/keyring.json)'))
    .addOption(new Option('--witness <dir>', 'witness folder for checkpoints (env VAULT_WITNESS, default $VAULT_HOME/witness)'))
    .addOption(new Option('--archive <location>', 'archive store: a folder or s3://bucket/prefix (env VAULT_ARCHIVE, default $VAULT_HOME/archive)'))
    .addOption(new Option('--actor <name>', 'operator id recorded in the access trail (env VAULT_ACTOR); required to decrypt or export'))
    .addOption(new Option('--reason <text>', 'why, recorded in the access trail with the actor'))
    .addOption(new Option('--lock-timeout <seconds>', 'wait this long for another process using the embedded store (default 30)'))
    .option('--json', 'print one JSON document (NDJSON for streams) on stdout')
    .option('--debug', 'print stack traces on errors')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      outputError: (s, write) => write(`error[USAGE]: ${s.replace(/^error: /, '').trim()}\n`),
    })
    .showHelpAfterError(false);

  const run =
    <A extends unknown[]>(fn: (ctx: CommandContext, ...args: A) => Promise<number>) =>
    async (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      const flags = cmd.optsWithGlobals() as GlobalFlags;
      debug = flags.debug === true;
      const ctx = commandContext(resolveConfig(flags), io, stdin);
      code = await fn(ctx, ...(args.slice(0, -1) as A));
    };

  program.command('init').description('create the home folder, a keyring if none, and migrate the database').action(run((ctx) => initCommand(ctx)));

  const tenant = program.command('tenant').description('manage tenants');
  tenant
    .command('create <tenant>')
    .description('create a tenant with its own key')
    .action(run((ctx, t: string) => tenantCreateCommand(ctx, t)));
  tenant.command('list').description('list tenants').action(run((ctx) => tenantListCommand(ctx)));

  program
    .command('roles')
    .description('who may act as the vault\'s database roles (application, operator, auditor): each login, for a review of separation of duties')
    .action(run((ctx) => rolesCommand(ctx)));

  program
    .command('append <tenant> <session>')
    .description('append events (NDJSON on stdin, or one --event); atomic')
    .option('--event <json>', 'one event as JSON instead of stdin')
    .option('--correlation-id <id>', 'stamp events that carry none')
    .option('--agent <name>', 'the agent, when this call creates the session')
    .option('--idempotency-key <key>', 'event i gets key <key>:<i> unless it has its own: run again, nothing is stored twice')
    .action(run((ctx, t: string, s: string, f: Record<string, string>) => appendCommand(ctx, t, s, f)));

  program.command('sessions <tenant>').description("list a tenant's sessions").action(run((ctx, t: string) => sessionsCommand(ctx, t)));

  program
    .command('events <tenant> <session>')
    .description('print decrypted events')
    .option('--from-seq <n>', 'start at this seq')
    .option('--format <format>', 'openai-messages: one JSON array of Chat Completions messages')
    .action(run((ctx, t: string, s: string, f: Record<string, string>) => eventsCommand(ctx, t, s, f)));

  program
    .command('replay <tenant> <session>')
    .description('rebuild the agent state from events')
    .option('--at-seq <n>', 'as it stood after this seq')
    .option('--at <iso>', 'as it stood at this time')
    .option('--window <n>', 'only the last n messages, tool calls, agent items and model errors')
    .action(run((ctx, t: string, s: string, f: Record<string, string>) => replayCommand(ctx, t, s, f)));

  program
    .command('verify [tenant] [session]')
    .description('check hash chains and heads, without keys; exit 1 on any problem')
    .action(run((ctx, t: string | undefined, s: string | undefined) => verifyCommand(ctx, t, s)));

  program
    .command('checkpoint [tenant] [session]')
    .description('sign the current chain heads now and record them with the witness; exit 1 if the witness refuses')
    .action(run((ctx, t: string | undefined, s: string | undefined) => checkpointCommand(ctx, t, s)));

  const collect = (v: string, prev: string[] = []) => [...prev, v];
  program
    .command('export [tenant] [session]')
    .description('write the auditor bundle of a session (mode 0600); plaintext only with --decrypt')
    .option('--out <path>', 'the bundle file (a folder with --all)')
    .option('--tenant <tenant>', 'with --all: the tenant whose sessions to export')
    .option('--all', 'export every session of --tenant, one bundle each, with a progress bar')
    .option('--since <iso>', 'with --all: only sessions whose last event is at or after this time')
    .option('--until <iso>', 'with --all: only sessions whose last event is at or before this time')
    .option('--decrypt', 'include plaintext events, the session data key and replayed states')
    .option('--at-seq <n>', 'also include the state as of this seq (repeatable; needs --decrypt)', collect)
    .option('--at <iso>', 'also include the state as of this time (repeatable; needs --decrypt)', collect)
    .option('--force', 'replace an existing file')
    .action(run((ctx, t: string | undefined, s: string | undefined, f: Record<string, never>) => exportCommand(ctx, t, s, f)));

  program
    .command('verify-bundle <file>')
    .description('check a bundle offline, with neither database nor keyring; exit 1 on any problem')
    .option('--trusted-key <id>', 'accept signatures only by this key id (repeatable)', collect)
    .option('--trusted-keys <file>', 'accept signatures only by these public keys, pinned whole ({"keys":[{"id","publicKey"}]}, as the witness\'s public-keys.json)')
    .option('--received <iso>', 'when you received the bundle (default: now): a key the keys file says was retired before then vouches for no manifest')
    .action(run((ctx, file: string, f: { trustedKey?: string[]; trustedKeys?: string; received?: string }) => verifyBundleCommand(ctx, file, f)));

  program
    .command('verify-trail <file>')
    .description('check the access trail `access-log --json` wrote, offline, with neither database nor keyring; exit 1 on any problem')
    .option('--trusted-keys <file>', 'the vault\'s public keys, pinned whole ({"keys":[{"id","publicKey"}]}, as the witness\'s public-keys.json)')
    .option('--witness-head <file>', 'the witness\'s access-trail.checkpoint: records cut from the end, or a rewritten history, show against it')
    .option('--tenant <tenant>', 'the file is `access-log --json --tenant T`\'s: other tenants\' records withheld, none of this tenant\'s or the vault\'s own')
    .option('--session <session>', 'with --tenant: the file is `access-log --json --tenant T --session S`\'s, every other record withheld')
    .option('--from-head <file>', 'a trail head checked before (the witness\'s access-trail.checkpoint at your last check): the file is `access-log --json --after-seq <its seq>`\'s')
    .option('--since <iso>', 'the file is `access-log --json --since <iso>`\'s: it starts at a signed record dated at least 5 minutes before, so none since then is left out')
    .option('--tenant-secret <file>', 'with --tenant: the tenant\'s trail secret, as --json reported it at an earlier check (tenantSecret), by which its withheld records are told from other tenants\'')
    .option('--session-key <file>', 'with --tenant and --session: the session\'s trail key, as --json reported it at an earlier check (sessionKey), by which its withheld records are told from others')
    .action(run((ctx, file: string, f: { trustedKeys?: string; witnessHead?: string; fromHead?: string; tenant?: string; session?: string; since?: string; tenantSecret?: string; sessionKey?: string }) => verifyTrailCommand(ctx, file, f)));

  program
    .command('access-log')
    .description('the operator access trail (NDJSON with --json)')
    .option('--tenant <tenant>', 'only this tenant (with --json, the whole trail, other tenants\' records withheld)')
    .option('--session <session>', 'with --tenant: only this session (with --json, the whole trail, every other record withheld)')
    .option('--since <iso>', 'only records at or after this time (with --json, from the last record 5 minutes before it, a listing verify-trail --since checks)')
    .option('--after-seq <n>', 'only records after this seq (with --json, a listing verify-trail --from-head checks from the head at that seq)')
    .action(run((ctx, f: { tenant?: string; session?: string; since?: string; afterSeq?: string }) => accessLogCommand(ctx, f)));

  const keys = program.command('keys').description('key lifecycle');
  keys.command('list <tenant>').description("a tenant's key versions (never key material)").action(run((ctx, t: string) => keysListCommand(ctx, t)));
  keys.command('rotate <tenant>').description('a new tenant key version becomes primary').action(run((ctx, t: string) => keysRotateCommand(ctx, t)));
  keys
    .command('rewrap <tenant>')
    .description('rewrap every session key under the primary version (resumable)')
    .action(run((ctx, t: string) => keysRewrapCommand(ctx, t)));
  keys
    .command('check [tenant]')
    .description('unwrap every tenant and session key (the key holder\'s proof that each still opens); exit 1 on any that does not open')
    .option('--sign', 'also sign the wraps that open and carry no signature (written before 0049 or with signing off), so verify can check them')
    .action(run((ctx, t: string | undefined, f: { sign?: boolean }) => keysCheckCommand(ctx, t, f)));
  keys
    .command('retire <tenant>')
    .description('retire a key version nothing depends on')
    .option('--version <n>', 'the key version')
    .action(run((ctx, t: string, f: { version?: string }) => keysStateCommand(ctx, t, f, 'retire')));
  keys
    .command('destroy <tenant>')
    .description('destroy a retired key version')
    .option('--version <n>', 'the key version')
    .action(run((ctx, t: string, f: { version?: string }) => keysStateCommand(ctx, t, f, 'destroy')));
  keys
    .command('rotate-signing')
    .description('make a new checkpoint signing key primary; the old one is retired but still verifies its period')
    .action(run((ctx) => rotateSigningCommand(ctx)));
  keys
    .command('retire-signing <id>')
    .description('retire a signing key from the environment or a token that the vault no longer signs with: nothing it signs after counts')
    .option('--at <iso>', 'retire it from this time past (a key known to have leaked since), not now')
    .action(run((ctx, id: string, f: { at?: string }) => retireSigningCommand(ctx, id, f)));

  keys
    .command('rotate-master')
    .description('a new master key; every tenant key rewrapped under it; the old one removed once unused (resumable)')
    .action(run((ctx) => rotateMasterCommand(ctx)));
  keys
    .command('shred <tenant>')
    .description("destroy a session's key (--session) or all of a tenant's keys: content unreadable forever, chains still verify; refused under legal hold")
    .option('--session <session>', 'only this session')
    .action(run((ctx, t: string, f: { session?: string }) => keysShredCommand(ctx, t, f)));

  const hold = program.command('hold').description('legal holds: a held session is never shredded or purged');
  hold.command('set <tenant> <session>').description('place a legal hold (--reason required)').action(run((ctx, t: string, s: string) => holdCommand(ctx, 'set', t, s)));
  hold.command('clear <tenant> <session>').description('lift a legal hold (--reason required)').action(run((ctx, t: string, s: string) => holdCommand(ctx, 'clear', t, s)));
  hold
    .command('list')
    .description('legal holds in force')
    .option('--tenant <tenant>', 'only this tenant')
    .action(run((ctx, f: { tenant?: string }) => holdListCommand(ctx, f)));

  program.command('archive <tenant> <session>').description('move a session to the archive store now (verified before hot rows go)').action(run((ctx, t: string, s: string) => archiveCommand(ctx, t, s)));
  program.command('restore <tenant> <session>').description('bring an archived session back to hot storage').action(run((ctx, t: string, s: string) => restoreCommand(ctx, t, s)));
  program
    .command('purge <tenant> <session>')
    .description('purge an archived session past its retention: archive deleted, key shredded, tombstone kept; refused under hold')
    .action(run((ctx, t: string, s: string) => purgeCommand(ctx, t, s)));
  const retention = program.command('retention').description('retention policies and runs');
  retention
    .command('set <tenant>')
    .description("set a tenant's policy")
    .option('--archive-after <dur>', 'archive sessions idle this long (e.g. 30d; units h d w mo y)')
    .option('--retain <dur>', 'purge archived sessions this long after their last event (e.g. 7y); a shorter one applies to new sessions only')
    .option('--mode <mode>', 'governance (floors may be overridden, recorded) or compliance (never; for good)')
    .option('--override-floors', 'governance mode: apply --retain to existing sessions too (--reason required)')
    .action(run((ctx, t: string, f: { archiveAfter?: string; retain?: string; mode?: string; overrideFloors?: boolean }) => retentionSetCommand(ctx, t, f)));
  retention.command('show <tenant>').description("a tenant's policy").action(run((ctx, t: string) => retentionShowCommand(ctx, t)));
  retention
    .command('run')
    .description('archive and purge everything due (resumable; NDJSON with --json)')
    .option('--tenant <tenant>', 'only this tenant')
    .option('--dry-run', 'list what is due, change nothing')
    .action(run((ctx, f: { tenant?: string; dryRun?: boolean }) => retentionRunCommand(ctx, f)));

  program
    .command('import <tenant> <session> <file>')
    .description('import a chat history file (atomic: all or nothing)')
    .option('--format <format>', 'openai-messages | autogen')
    .option('--agent <name>', 'the agent, when this creates the session')
    .option('--idempotency-key <key>', 'message i gets key <key>:<i>: imported again under it, nothing is stored twice')
    .action(run((ctx, t: string, s: string, f: string, flags: { format?: string; agent?: string; idempotencyKey?: string }) => importCommand(ctx, t, s, f, flags)));

  program
    .command('chat <tenant> <session>')
    .description('an interactive chat through the OpenAI API (OPENAI_API_KEY, OPENAI_BASE_URL), every turn recorded')
    .option('--model <model>', 'the model (env OPENAI_MODEL, default gpt-4.1-mini)')
    .option('--system <prompt>', 'a system prompt')
    .option('--context <strategy>', 'full (default), window:N, or summary:N')
    .option('--agent <name>', 'the agent, when this creates the session')
    .action(run(async (ctx, t: string, s: string, f: ChatFlags) => (await import('./commands/chat')).chatCommand(ctx, t, s, f)));

  program
    .command('serve')
    .description('run the HTTP service (docs/service.md): API tokens, not keys, for clients in any language')
    .option('--listen <host:port>', 'where to listen (default 127.0.0.1:8080; port 0: any free port)')
    .option('--tls-cert <file>', 'PEM certificate chain: serve HTTPS (with --tls-key)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--body-limit <bytes>', 'largest request body (default 8388608)')
    .option('--rate-limit <n>', 'requests per second per token (default 1000)')
    .option('--request-timeout <seconds>', 'a request not received in full by then is refused (default 30)')
    .option('--token-cache <seconds>', 'how long a token check is remembered; a revocation elsewhere takes effect within it (default 5; 0: never)')
    .option('--trust-proxy <addresses>', 'comma-separated addresses or CIDR ranges of the proxies in front of the service, whose X-Forwarded-For names the client (default: none; the header is ignored)')
    // Loaded only for its own command, as chat is: Fastify, OpenAPI and metrics would add ~12 MB to every other run.
    .action(run(async (ctx, f: ServeFlags) => (await import('./commands/serve')).serveCommand(ctx, f)));
  program.command('openapi').description("print the service's OpenAPI 3.1 document").action(run(async (ctx) => (await import('./commands/serve')).openapiCommand(ctx)));

  const tokens = program.command('tokens').description('API tokens of the HTTP service');
  tokens
    .command('create <tenant>')
    .description('a new token, printed once (--actor required; recorded)')
    .option('--role <role>', 'writer, reader, operator, auditor or admin')
    .option('--label <text>', 'what it is for')
    .option('--expires-in <dur>', 'stops working after this long (e.g. 90d)')
    .option('--expires-at <iso>', 'stops working at this time')
    .action(run((ctx, t: string, f: { role?: string; label?: string; expiresIn?: string; expiresAt?: string }) => tokensCreateCommand(ctx, t, f)));
  tokens.command('list <tenant>').description("a tenant's tokens (never secrets)").action(run((ctx, t: string) => tokensListCommand(ctx, t)));
  tokens.command('revoke <tenant> <id>').description('revoke a token for good (--actor required; recorded)').action(run((ctx, t: string, id: string) => tokensRevokeCommand(ctx, t, id)));

  program.command('demo').description('run a scripted agent conversation offline on the embedded store').action(run((ctx) => demoCommand(ctx)));

  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return code;
  } catch (e) {
    return report(e, io, debug);
  }
}

function report(e: unknown, io: Output, debug: boolean): number {
  if (e instanceof CommanderError) {
    // Help and version are successes; everything else commander raises is usage.
    return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : EXIT_CODES.input;
  }
  if (e instanceof VaultError) {
    io.err(`error[${e.code}]: ${e.message}`);
    if (debug) io.err(debugTrace(e));
    return EXIT_CODES[e.category];
  }
  io.err(`error[INTERNAL]: unexpected ${e instanceof Error ? e.name : 'error'}${debug ? '' : ' (run with --debug for a stack trace)'}`);
  if (debug && e instanceof Error) io.err(debugTrace(e));
  return EXIT_CODES.storage;
}

/** Our stack, and the causes' codes only: driver messages can carry query parameters. */
function debugTrace(e: Error): string {
  const lines = [e.stack ?? String(e)];
  for (let c: any = (e as { cause?: unknown }).cause, i = 0; c && i < 4; c = c.cause, i++) {
    lines.push(`caused by ${c?.name ?? 'error'}${c?.code ? ` (${c.code})` : ''}`);
  }
  return lines.join('\n');
}
