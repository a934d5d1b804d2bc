/**
 * What every CLI command shares: where it writes, how it fails, and how it draws a table.
 *
 * The conventions: stdout carries the result (and when the result is a secret, only the secret,
 * so that `TOKEN=$(tessera token create alice)` works); stderr carries errors, one line each,
 * and notes meant for a person, which are written only when stderr is a terminal.
 */
import type { Readable, Writable } from 'node:stream'

export interface Io {
  stdout: Writable & { isTTY?: boolean }
  stderr: Writable & { isTTY?: boolean }
  stdin: Readable & { isTTY?: boolean, setRawMode?: (mode: boolean) => unknown }
  env: Record<string, string | undefined>
}

export const EXIT_OK = 0
/** The command was well formed but could not be carried out (unknown user, database down, …). */
export const EXIT_FAILURE = 1
/** The command was not well formed (unknown option, missing argument, bad value). */
export const EXIT_USAGE = 2

/** A failure the CLI reports in one line, exiting with `exitCode`. */
export class CliError extends Error {
  constructor (message: string, readonly exitCode: number = EXIT_FAILURE) {
    super(message)
    this.name = 'CliError'
  }
}

/** A command line that is not well formed; the message says what, and where to find help. */
export class UsageError extends CliError {
  constructor (message: string) {
    super(message, EXIT_USAGE)
    this.name = 'UsageError'
  }
}

/** One line, whatever the error held: a message on stderr must not spill over several lines. */
export function oneLine (message: string): string {
  return message.replace(/\s*\n\s*/g, '; ').trim()
}

export function writeLine (stream: Writable, text = ''): void {
  stream.write(`${text}\n`)
}

/** A note for a person at a terminal; scripts (stderr not a terminal) never see it. */
export function note (io: Io, text: string): void {
  if (io.stderr.isTTY === true) writeLine(io.stderr, text)
}

/** Left-aligned columns under an upper-case header, two spaces apart. */
export function table (headers: string[], rows: string[][]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)))
  const format = (cells: string[]): string => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
  return [format(headers.map((header) => header.toUpperCase())), ...rows.map(format)].join('\n')
}

/** An ISO instant as a table shows it: to the second, `-` for none. */
export function shortTime (iso: string | null, none = '-'): string {
  return iso === null ? none : iso.replace(/\.\d{3}Z$/, 'Z')
}

/** Everything on stdin, as text. */
export async function readAll (stdin: Readable): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/** Asks a person at a terminal a yes/no question on stderr; only `y` or `yes` is a yes. */
export async function confirm (io: Io, question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline')
  const readline = createInterface({ input: io.stdin, output: io.stderr, terminal: false })
  try {
    return await new Promise<boolean>((resolve) => {
      // End of input (Ctrl-D) is a no.
      readline.once('close', () => resolve(false))
      readline.question(`${question} [y/N] `, (answer) => resolve(/^y(es)?$/i.test(answer.trim())))
    })
  } finally {
    readline.close()
  }
}

/**
 * Reads one line from a terminal without echoing it (for a password typed by a person).
 * Ctrl-C aborts; backspace erases.
 */
export async function readHiddenLine (io: Io, prompt: string): Promise<string> {
  const { stdin, stderr } = io
  stderr.write(prompt)
  stdin.setRawMode?.(true)
  stdin.resume()
  try {
    return await new Promise<string>((resolve, reject) => {
      let line = ''
      const onData = (chunk: Buffer | string): void => {
        for (const char of chunk.toString('utf8')) {
          if (char === '\r' || char === '\n' || char === '\u0004') {
            stdin.off('data', onData)
            resolve(line)
            return
          }
          if (char === '\u0003') {
            stdin.off('data', onData)
            reject(new CliError('cancelled'))
            return
          }
          if (char === '\u007f' || char === '\b') line = line.slice(0, -1)
          else line += char
        }
      }
      stdin.on('data', onData)
    })
  } finally {
    stdin.setRawMode?.(false)
    stdin.pause()
    stderr.write('\n')
  }
}
