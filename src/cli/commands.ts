/**
 * The commands of `tessera`, one entry each: its arguments, options, help, and what it does.
 * `index.ts` parses the command line against these and maps failures to exit codes.
 */
import { randomBytes } from 'node:crypto'
import { ACTIVITY_PAGE_DEFAULT, ACTIVITY_PAGE_MAX } from '../activity/log.js'
import { toTesseraUser } from '../users/builtin/user.js'
import type { BuiltinUsers } from '../users/builtin/store.js'
import { DURATION_FORMS, parseOptionalDuration } from '../settings.js'
import { scopesProblem } from '../tokens/scopes.js'
import { configFrom, reason, withDatabase, withTessera } from './database.js'
import {
  CliError, UsageError, confirm, note, readAll, readHiddenLine, shortTime, table, writeLine, type Io
} from './io.js'

export interface OptionSpec {
  type: 'string' | 'boolean'
  /** May be given several times (its value is then a list). */
  multiple?: boolean
  short?: string
  /** The placeholder shown in help, for string options. */
  value?: string
  description: string
}

/** The names positional arguments go by. */
export type ArgName = 'username' | 'id'

export interface CommandInput {
  /** The positional arguments, by the names in `args`. */
  args: Readonly<Record<ArgName, string>>
  values: Record<string, string | boolean | string[] | undefined>
}

export interface Command {
  /** The words that name it: `['token', 'create']`. */
  name: string[]
  /** Positional arguments, all required. */
  args: ArgName[]
  options: Record<string, OptionSpec>
  summary: string
  /** More help, printed under the usage line. */
  details?: string
  run: (input: CommandInput, io: Io) => Promise<void>
}

const JSON_OPTION: OptionSpec = { type: 'boolean', description: 'Print JSON instead of a table (for scripts)' }

const DEFAULT_DEVICE = 'cli'

/** 24 base64url characters: 144 random bits. */
function generatePassword (): string {
  return randomBytes(18).toString('base64url')
}

async function findUser (users: BuiltinUsers, username: string) {
  const row = await users.byUsername(username)
  if (row === undefined) throw new CliError(`no user named ${JSON.stringify(username)}`)
  return row
}

/** The user, created with a random password nobody is told when there is none (`token create --create-user`). */
async function findOrCreateUser (io: Io, users: BuiltinUsers, username: string) {
  const existing = await users.byUsername(username)
  if (existing !== undefined) return existing
  const created = await users.create({ username, password: generatePassword() })
  if (created !== undefined) note(io, `created user ${created.username} (id ${created.id}), with a password nobody knows`)
  // Read back either way: `create` finds the name taken when another process made the user meanwhile.
  return await findUser(users, username)
}

/** A password from stdin: typed at a prompt without echo on a terminal, else piped (one final newline dropped). */
async function passwordFromStdin (io: Io, username: string, label = '--password-stdin'): Promise<string> {
  const text = io.stdin.isTTY === true
    ? await readHiddenLine(io, `Password for ${username}: `)
    : (await readAll(io.stdin)).replace(/\r?\n$/, '')
  if (text === '') throw new UsageError(`${label}: no password on stdin`)
  const problem = (await import('./validate.js')).passwordProblem(text)
  if (problem !== undefined) throw new UsageError(`${label}: ${problem}`)
  return text
}

async function checkUsername (username: string): Promise<void> {
  const problem = (await import('./validate.js')).usernameProblem(username)
  if (problem !== undefined) throw new UsageError(`invalid username ${JSON.stringify(username)}: ${problem}`)
}

function isoOrNull (instant: number | null): string | null {
  return instant === null ? null : new Date(instant).toISOString()
}

function plural (count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`
}

export const COMMANDS: Command[] = [
  {
    name: ['serve'],
    args: [],
    options: {},
    summary: 'Run the HTTP service (what `npm start` runs)',
    details: 'Listens on HOST:PORT, applies pending migrations first unless TESSERA_MIGRATE_ON_START=false, and\n' +
      'logs JSON lines to stdout at LOG_LEVEL. SIGINT or SIGTERM stops accepting connections, lets\n' +
      'in-flight requests finish (up to 10 s), closes the database and exits 0.',
    run: async (_input, io) => {
      const config = configFrom(io)
      // Imported here: the other commands need no Fastify, and start faster without loading it.
      const { serve } = await import('../server.js')
      try {
        await serve(config)
      } catch (error) {
        throw new CliError(reason(error))
      }
      // Listening: the server keeps the process alive until a signal closes it (see server.ts).
    }
  },
  {
    name: ['migrate'],
    args: [],
    options: {},
    summary: 'Apply pending database migrations',
    run: async (_input, io) => {
      await withDatabase(io, async ({ database }) => {
        const { migrateToLatest } = await import('../db/migrate.js')
        let applied: string[]
        try {
          applied = await migrateToLatest(database.kysely, { onWarning: (warning) => writeLine(io.stderr, `tessera: warning: ${warning}`) })
        } catch (error) {
          throw new CliError(`cannot migrate ${database.description}: ${reason(error)}`)
        }
        for (const name of applied) writeLine(io.stdout, `applied ${name}`)
        writeLine(io.stdout, `${database.description} is up to date`)
      })
    }
  },
  {
    name: ['user', 'create'],
    args: ['username'],
    options: {
      email: { type: 'string', value: 'email', description: 'The user\'s email address' },
      'password-stdin': {
        type: 'boolean',
        description: 'Read the password from stdin (a prompt without echo on a terminal).\n' +
          'Without it a password is generated and printed on stdout, once.'
      },
      'if-missing': {
        type: 'boolean',
        description: 'Succeed (exit 0, nothing on stdout) when the user exists already,\n' +
          'leaving them as they are: for scripts that run more than once'
      }
    },
    summary: 'Create a user',
    details: 'A password is never taken on the command line, where `ps` and shell history would keep it.\n' +
      'Examples:\n' +
      '  PASSWORD=$(tessera user create alice --email alice@example.com)\n' +
      '  printf %s "$ALICE_PASSWORD" | tessera user create alice --password-stdin\n' +
      '  tessera user create ci-bot --if-missing --password-stdin < ci-bot.password',
    run: async ({ args: { username }, values }, io) => {
      const email = values.email as string | undefined
      await checkUsername(username)
      if (email !== undefined && !(await import('./validate.js')).isEmail(email)) {
        throw new UsageError(`--email: ${JSON.stringify(email)} is not an email address`)
      }
      const generated = values['password-stdin'] !== true
      const ifMissing = values['if-missing'] === true
      const newPassword = async (): Promise<string> => generated ? generatePassword() : await passwordFromStdin(io, username)
      const exists = (): void => note(io, `user ${username} exists already: nothing done`)
      // Read before the database is opened, so that a bad password is a usage error whatever the
      // database's state; with --if-missing, once the user is known to be missing (no prompt for nothing).
      let password = ifMissing ? undefined : await newPassword()
      await withTessera(io, async ({ users }) => {
        if (ifMissing && await users.byUsername(username) !== undefined) return exists()
        password ??= await newPassword()
        const user = await users.create({ username, password, email: email ?? null })
        if (user === undefined) {
          if (ifMissing) return exists()
          throw new CliError(`a user named ${JSON.stringify(username)} already exists`)
        }
        if (generated) {
          note(io, `created user ${user.username} (id ${user.id}); their password, shown only this once:`)
          writeLine(io.stdout, password)
        } else {
          writeLine(io.stdout, `created user ${user.username} (id ${user.id})`)
        }
      })
    }
  },
  {
    name: ['user', 'deactivate'],
    args: ['username'],
    options: {},
    summary: 'Deactivate a user: their tokens stop working and they cannot log in',
    run: async ({ args: { username } }, io) => {
      await withTessera(io, async ({ users }) => {
        const row = await findUser(users, username)
        const changed = await users.deactivate(row.id)
        writeLine(io.stdout, changed ? `deactivated user ${row.username}` : `user ${row.username} was already deactivated`)
      })
    }
  },
  {
    name: ['user', 'list'],
    args: [],
    options: { json: JSON_OPTION },
    summary: 'List users',
    run: async ({ values }, io) => {
      await withTessera(io, async ({ users }) => {
        const rows = await users.list()
        const list = rows.map((row) => ({
          ...toTesseraUser(row),
          lastLoginAt: isoOrNull(row.last_login_at),
          deactivatedAt: isoOrNull(row.deactivated_at)
        }))
        if (values.json === true) return writeLine(io.stdout, JSON.stringify(list, null, 2))
        if (list.length === 0) return writeLine(io.stdout, 'no users')
        writeLine(io.stdout, table(['id', 'username', 'email', 'created', 'last login', 'status'], list.map((user) => [
          String(user.id), user.username, user.email ?? '-', shortTime(user.createdAt), shortTime(user.lastLoginAt, 'never'),
          user.deactivatedAt === null ? 'active' : 'deactivated'
        ])))
      })
    }
  },
  {
    name: ['user', 'show'],
    args: ['username'],
    options: { json: JSON_OPTION },
    summary: 'Show a user: status, creation, last login, live sessions',
    run: async ({ args: { username }, values }, io) => {
      await withTessera(io, async ({ users, tessera }) => {
        const row = await findUser(users, username)
        const shown = {
          ...toTesseraUser(row),
          status: row.deactivated_at === null ? 'active' : 'deactivated',
          lastLoginAt: isoOrNull(row.last_login_at),
          deactivatedAt: isoOrNull(row.deactivated_at),
          liveSessions: (await tessera.tokens.list(String(row.id))).length
        }
        if (values.json === true) return writeLine(io.stdout, JSON.stringify(shown, null, 2))
        const lines: Array<[string, string]> = [
          ['id', String(shown.id)],
          ['username', shown.username],
          ['email', shown.email ?? '-'],
          ['status', shown.deactivatedAt === null ? shown.status : `${shown.status} since ${shortTime(shown.deactivatedAt)}`],
          ['created', shortTime(shown.createdAt)],
          ['last login', shortTime(shown.lastLoginAt, 'never')],
          ['live sessions', String(shown.liveSessions)]
        ]
        const width = Math.max(...lines.map(([label]) => label.length))
        writeLine(io.stdout, lines.map(([label, value]) => `${`${label}:`.padEnd(width + 1)}  ${value}`).join('\n'))
      })
    }
  },
  {
    name: ['user', 'set-password'],
    args: ['username'],
    options: {
      'password-stdin': { type: 'boolean', description: 'Read the new password from stdin (what this command always does;\naccepted for symmetry with `user create`)' },
      'keep-sessions': { type: 'boolean', description: 'Leave the user\'s tokens alive (default: every one is revoked)' }
    },
    summary: "Set a user's password (from stdin, or a prompt); their tokens are revoked",
    details: 'The new password is read from stdin: typed at a prompt without echo on a terminal, or piped\n' +
      '(one final newline is dropped). It never goes on the command line. Every token of the user\n' +
      'is revoked in the same transaction, unless --keep-sessions. Works on deactivated users too.\n' +
      'Example:\n' +
      '  printf %s "$NEW_PASSWORD" | tessera user set-password alice',
    run: async ({ args: { username }, values }, io) => {
      await withTessera(io, async ({ users }) => {
        const row = await findUser(users, username)
        const password = await passwordFromStdin(io, row.username, 'new password')
        const revoked = await users.setPassword(row.id, password, { keepSessions: values['keep-sessions'] === true })
        if (revoked === undefined) throw new CliError(`no user named ${JSON.stringify(username)}`)
        writeLine(io.stdout, values['keep-sessions'] === true
          ? `changed the password of ${row.username}; their tokens live on`
          : `changed the password of ${row.username}; revoked ${plural(revoked, 'token')}`)
      })
    }
  },
  {
    name: ['user', 'reactivate'],
    args: ['username'],
    options: {},
    summary: 'Reactivate a deactivated user: they can log in again (their old tokens stay dead)',
    run: async ({ args: { username } }, io) => {
      await withTessera(io, async ({ users }) => {
        const row = await findUser(users, username)
        const changed = await users.reactivate(row.id)
        writeLine(io.stdout, changed ? `reactivated user ${row.username}` : `user ${row.username} was already active`)
      })
    }
  },
  {
    name: ['user', 'delete'],
    args: ['username'],
    options: { yes: { type: 'boolean', short: 'y', description: 'Do not ask for confirmation (needed when stdin is not a terminal)' } },
    summary: 'Delete a user and every token of theirs, for good',
    details: 'On a terminal it asks first; scripts pass --yes. Without a terminal and without --yes it\n' +
      'refuses (exit 2) and deletes nothing.',
    run: async ({ args: { username }, values }, io) => {
      const interactive = io.stdin.isTTY === true
      if (values.yes !== true && !interactive) {
        throw new UsageError('refusing to delete a user without confirmation: stdin is not a terminal; pass --yes')
      }
      await withTessera(io, async ({ users, tessera }) => {
        const row = await findUser(users, username)
        if (values.yes !== true) {
          const sessions = (await tessera.tokens.list(String(row.id))).length
          if (!(await confirm(io, `Delete user ${row.username} (id ${row.id}) and their ${plural(sessions, 'live token')}? This cannot be undone.`))) {
            throw new CliError('cancelled: nothing was deleted')
          }
        }
        const revoked = await users.delete(row.id)
        if (revoked === undefined) throw new CliError(`no user named ${JSON.stringify(username)}`)
        writeLine(io.stdout, `deleted user ${row.username} and ${plural(revoked, 'token')}`)
      })
    }
  },
  {
    name: ['user', 'activity'],
    args: ['username'],
    options: {
      json: JSON_OPTION,
      limit: { type: 'string', value: 'n', description: `Most entries, newest first (default ${ACTIVITY_PAGE_DEFAULT}, at most ${ACTIVITY_PAGE_MAX})` }
    },
    summary: "Show a user's activity log: logins, failed logins, logouts, revocations, password changes",
    run: async ({ args: { username }, values }, io) => {
      const text = values.limit as string | undefined
      const limit = text === undefined ? ACTIVITY_PAGE_DEFAULT : /^\d{1,4}$/.test(text) ? Number(text) : NaN
      if (!(limit >= 1 && limit <= ACTIVITY_PAGE_MAX)) throw new UsageError(`--limit: ${JSON.stringify(text)} is not a whole number from 1 to ${ACTIVITY_PAGE_MAX}`)
      await withTessera(io, async ({ users, tessera }) => {
        const row = await findUser(users, username)
        const { events } = await tessera.activity.page(String(row.id), { limit })
        if (values.json === true) return writeLine(io.stdout, JSON.stringify(events, null, 2))
        if (events.length === 0) return writeLine(io.stdout, `no activity recorded for ${row.username}`)
        writeLine(io.stdout, table(['when', 'what', 'device', 'address', 'token'], events.map((event) => [
          shortTime(event.at), event.type, event.device ?? '-', event.ip ?? '-', event.tokenId ?? '-'
        ])))
      })
    }
  },
  {
    name: ['token', 'create'],
    args: ['username'],
    options: {
      device: { type: 'string', value: 'name', description: `A label for the token's session (default "${DEFAULT_DEVICE}")` },
      ttl: { type: 'string', value: 'duration', description: `How long it lives: ${DURATION_FORMS}, or none\n(default: TESSERA_TOKEN_TTL)` },
      scope: {
        type: 'string',
        multiple: true,
        value: 'scope',
        description: 'What it may do; repeat for several (--scope orders:read --scope orders:write).\n' +
          'Default: TESSERA_DEFAULT_SCOPES (*, every scope, unless set)'
      },
      'create-user': {
        type: 'boolean',
        description: 'Create the user first when there is none (with a random password,\nnot printed: the token is their only credential)'
      }
    },
    summary: 'Mint a token for a user; prints only the token',
    details: 'Example, for a script or a CI job, from nothing to a token in one command:\n' +
      '  TOKEN=$(tessera token create ci-bot --create-user --device ci --ttl 1h)\n' +
      '  curl -H "Authorization: Token $TOKEN" http://127.0.0.1:3000/auth/me',
    run: async ({ args: { username }, values }, io) => {
      const createUser = values['create-user'] === true
      if (createUser) await checkUsername(username)
      const device = (values.device as string | undefined) ?? DEFAULT_DEVICE
      const problem = (await import('./validate.js')).deviceProblem(device)
      if (problem !== undefined) throw new UsageError(`--device: ${problem}`)
      let ttl: number | null | undefined
      if (values.ttl !== undefined) {
        ttl = parseOptionalDuration(values.ttl as string)
        if (ttl === undefined) throw new UsageError(`--ttl: ${JSON.stringify(values.ttl)} is not ${DURATION_FORMS}, or none`)
      }
      const scopes = values.scope as string[] | undefined
      if (scopes !== undefined) {
        const problem = scopesProblem(scopes)
        if (problem !== undefined) throw new UsageError(`--scope: ${problem}`)
      }
      await withTessera(io, async ({ users, tessera }) => {
        const row = createUser ? await findOrCreateUser(io, users, username) : await findUser(users, username)
        if (row.deactivated_at !== null) throw new CliError(`user ${row.username} is deactivated: a token for them would not work`)
        const { TokenLimitError } = await import('../tokens/service.js')
        try {
          const issued = await tessera.tokens.issue(toTesseraUser(row), {
            device, recordAs: 'token_created', ...(ttl === undefined ? {} : { ttl }), ...(scopes === undefined ? {} : { scopes })
          })
          note(io, `token ${issued.tokenId} for ${row.username} on "${device}", expires ${issued.expiry ?? 'never'}:`)
          writeLine(io.stdout, issued.token)
        } catch (error) {
          if (error instanceof TokenLimitError) throw new CliError(error.message)
          throw error
        }
      })
    }
  },
  {
    name: ['token', 'list'],
    args: ['username'],
    options: { json: JSON_OPTION },
    summary: "List a user's live tokens (sessions), newest first, with where each was made and last used from",
    run: async ({ args: { username }, values }, io) => {
      await withTessera(io, async ({ users, tessera }) => {
        const row = await findUser(users, username)
        const sessions = await tessera.tokens.list(String(row.id))
        if (values.json === true) return writeLine(io.stdout, JSON.stringify(sessions, null, 2))
        if (sessions.length === 0) return writeLine(io.stdout, `${row.username} has no live tokens`)
        // The User-Agent last: the one long cell, whole, at the end of its line.
        writeLine(io.stdout, table(['id', 'device', 'created', 'created from', 'last used', 'last used from', 'expires', 'scopes', 'user agent'],
          sessions.map((session) => [
            session.id, session.device, shortTime(session.createdAt), session.createdIp ?? '-', shortTime(session.lastUsedAt, 'never'),
            session.lastUsedIp ?? '-', shortTime(session.expiry, 'never'), session.scopes.join(' '), session.userAgent ?? '-'
          ])))
      })
    }
  },
  {
    name: ['token', 'revoke'],
    args: ['id'],
    options: {},
    summary: 'Revoke one token by its id (from `tessera token list`)',
    run: async ({ args: { id } }, io) => {
      await withTessera(io, async ({ tessera }) => {
        if (!(await tessera.tokens.revoke(id))) throw new CliError(`no token with id ${JSON.stringify(id)}`)
        writeLine(io.stdout, `revoked token ${id}`)
      })
    }
  },
  {
    name: ['token', 'revoke-all'],
    args: ['username'],
    options: {},
    summary: 'Revoke every token of a user (log them out everywhere)',
    run: async ({ args: { username } }, io) => {
      await withTessera(io, async ({ users, tessera }) => {
        const row = await findUser(users, username)
        const revoked = await tessera.tokens.revokeAll(String(row.id))
        writeLine(io.stdout, `revoked ${plural(revoked, 'token')} of ${row.username}`)
      })
    }
  },
  {
    name: ['purge'],
    args: [],
    options: {
      'batch-size': { type: 'string', value: 'n', description: 'Tokens deleted per transaction (default 1000)' }
    },
    summary: 'Delete expired tokens, in batches, and report how many',
    details: 'Expired tokens already fail authentication; this reclaims their rows. Short batches keep\n' +
      'logins and authenticated requests from waiting behind it, so it is safe on a live database.',
    run: async ({ values }, io) => {
      let batchSize: number | undefined
      if (values['batch-size'] !== undefined) {
        const text = values['batch-size'] as string
        batchSize = /^\d{1,7}$/.test(text) ? Number(text) : NaN
        if (!(batchSize >= 1 && batchSize <= 1_000_000)) throw new UsageError(`--batch-size: ${JSON.stringify(text)} is not a whole number from 1 to 1000000`)
      }
      const progress = io.stderr.isTTY === true
      await withTessera(io, async ({ tessera }) => {
        const deleted = await tessera.tokens.sweep({
          ...(batchSize === undefined ? {} : { batchSize }),
          onBatch: (total) => { if (progress) io.stderr.write(`\rdeleting expired tokens… ${total}`) }
        })
        if (progress && deleted > 0) io.stderr.write('\r\u001b[K')
        writeLine(io.stdout, `deleted ${plural(deleted, 'expired token')}`)
      })
    }
  }
]
