/**
 * `tessera`: the command line for scripts and operators.
 *
 * ```sh
 * tessera migrate
 * PASSWORD=$(tessera user create alice)
 * TOKEN=$(tessera token create alice --device ci --ttl 1h)
 * tessera token list alice --json
 * ```
 *
 * Exit codes: 0 success, 1 the command could not be carried out, 2 the command line is wrong.
 * Errors go to stderr in one line; `--help` works on every command and group.
 */
import { parseArgs } from 'node:util'
import { COMMANDS, type Command, type CommandInput } from './commands.js'
import { reason } from './database.js'
import { CliError, EXIT_OK, UsageError, oneLine, writeLine, type Io } from './io.js'

const ENVIRONMENT = `Environment (the same as the server's):
  DATABASE_URL           sqlite:<path> (default sqlite:./data/tessera.db) or postgres://user@host:5432/db
  TESSERA_TOKEN_TTL      the default lifetime of a token (default 10h)
  TESSERA_*              every other setting, read exactly as the server reads it`

function usageLine (command: Command): string {
  const args = command.args.map((arg) => `<${arg}>`)
  const options = Object.entries(command.options).map(([name, spec]) =>
    spec.type === 'string' ? `[--${name} <${spec.value ?? 'value'}>]${spec.multiple === true ? '...' : ''}` : `[--${name}]`)
  return ['tessera', ...command.name, ...args, ...options].join(' ')
}

function commandHelp (command: Command): string {
  const options = Object.entries(command.options).map(([name, spec]) => {
    const flag = spec.type === 'string' ? `--${name} <${spec.value ?? 'value'}>` : `--${name}`
    return [flag, spec.description]
  })
  options.push(['-h, --help', 'Show this help'])
  const width = Math.max(...options.map(([flag]) => flag!.length))
  const lines = [`Usage: ${usageLine(command)}`, '', command.summary + '.']
  if (command.details !== undefined) lines.push('', command.details)
  lines.push('', 'Options:')
  for (const [flag, description] of options) {
    const [first, ...rest] = description!.split('\n')
    lines.push(`  ${flag!.padEnd(width)}  ${first}`, ...rest.map((line) => `  ${''.padEnd(width)}  ${line}`))
  }
  lines.push('', ENVIRONMENT)
  return lines.join('\n')
}

function listHelp (title: string, commands: Command[]): string {
  const width = Math.max(...commands.map((command) => command.name.join(' ').length))
  return [
    title,
    '',
    'Commands:',
    ...commands.map((command) => `  ${command.name.join(' ').padEnd(width)}  ${command.summary}`),
    '',
    'Run `tessera <command> --help` for a command\'s arguments and options;',
    '`tessera --version` prints the version.',
    'Exit codes: 0 success, 1 operational failure, 2 usage error.',
    '',
    ENVIRONMENT
  ].join('\n')
}

const TOP_HELP = listHelp('Usage: tessera <command> [arguments] [options]\n\nPer-device, hashed, revocable auth tokens: the service and its operator tools.', COMMANDS)

/** `--help` or `-h` anywhere before a `--`. */
function wantsHelp (argv: string[]): boolean {
  const end = argv.indexOf('--')
  return (end === -1 ? argv : argv.slice(0, end)).some((arg) => arg === '--help' || arg === '-h')
}

/** Finds the command named by the leading words of `argv`; returns it and the rest. */
function resolve (argv: string[]): { command: Command, rest: string[] } | { group: string, commands: Command[] } | undefined {
  const [first, second] = argv
  const exact = COMMANDS.find((command) => command.name.length === 1 && command.name[0] === first)
  if (exact !== undefined) return { command: exact, rest: argv.slice(1) }
  const group = COMMANDS.filter((command) => command.name.length === 2 && command.name[0] === first)
  if (group.length === 0) return undefined
  const sub = group.find((command) => command.name[1] === second)
  return sub === undefined ? { group: first!, commands: group } : { command: sub, rest: argv.slice(2) }
}

function parse (command: Command, rest: string[]): CommandInput {
  const help = `see \`tessera ${command.name.join(' ')} --help\``
  // Refused by name, before parsing, so that the value never reaches an error message.
  if (rest.some((arg) => /^--password(=|$)/.test(arg))) {
    throw new UsageError('passwords are not taken on the command line (ps and shell history would keep them): ' +
      'pipe one to --password-stdin, or leave it out to have one generated')
  }
  let parsed
  try {
    parsed = parseArgs({
      args: rest,
      options: Object.fromEntries(Object.entries(command.options).map(([name, spec]) =>
        [name, { type: spec.type, ...(spec.short === undefined ? {} : { short: spec.short }), ...(spec.multiple === true ? { multiple: true } : {}) }])),
      allowPositionals: true,
      strict: true
    })
  } catch (error) {
    // parseArgs explains at length; keep its first sentence.
    const message = reason(error).replace(/\. To specify a positional argument.*$/s, '')
    throw new UsageError(`${message} (${help})`)
  }
  const { positionals, values } = parsed
  if (positionals.length < command.args.length) {
    throw new UsageError(`missing <${command.args[positionals.length]}> (usage: ${usageLine(command)})`)
  }
  if (positionals.length > command.args.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[command.args.length])} (usage: ${usageLine(command)})`)
  }
  for (const [name, value] of Object.entries(values)) {
    const empty = Array.isArray(value) ? value.includes('') : value === ''
    if (empty && command.options[name]?.type === 'string') throw new UsageError(`--${name} needs a value (${help})`)
  }
  const args = Object.fromEntries(command.args.map((name, i) => [name, positionals[i]!])) as CommandInput['args']
  return { args, values: values as CommandInput['values'] }
}

/**
 * Runs one command line (without `node` and the script) and returns the exit code.
 * Never throws: every failure becomes one line on stderr and exit code 1 or 2.
 */
export async function run (argv: string[], io: Io): Promise<number> {
  try {
    const [first] = argv
    if (first === undefined) {
      const names = [...new Set(COMMANDS.map((command) => command.name[0]))].join(', ')
      throw new UsageError(`missing command: one of ${names} (see \`tessera --help\`)`)
    }
    if (first === '--help' || first === '-h' || first === 'help') {
      writeLine(io.stdout, TOP_HELP)
      return EXIT_OK
    }
    if (first === '--version') {
      if (argv.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(argv[1])} after --version`)
      writeLine(io.stdout, (await import('./version.js')).packageVersion())
      return EXIT_OK
    }
    const found = resolve(argv)
    if (found === undefined) {
      throw new UsageError(`unknown command ${JSON.stringify(first)} (see \`tessera --help\`)`)
    }
    if ('group' in found) {
      const groupHelp = listHelp(`Usage: tessera ${found.group} <command> [arguments] [options]`, found.commands)
      if (wantsHelp(argv.slice(1))) {
        writeLine(io.stdout, groupHelp)
        return EXIT_OK
      }
      const names = found.commands.map((command) => command.name[1]).join(', ')
      throw new UsageError(argv[1] === undefined
        ? `\`tessera ${found.group}\` needs a command: ${names} (see \`tessera ${found.group} --help\`)`
        : `unknown command ${JSON.stringify(`${found.group} ${argv[1]}`)}: expected one of ${names}`)
    }
    if (wantsHelp(found.rest)) {
      writeLine(io.stdout, commandHelp(found.command))
      return EXIT_OK
    }
    await found.command.run(parse(found.command, found.rest), io)
    return EXIT_OK
  } catch (error) {
    const exitCode = error instanceof CliError ? error.exitCode : 1
    writeLine(io.stderr, `tessera: ${oneLine(reason(error))}`)
    return exitCode
  }
}
