#!/usr/bin/env node
/** The `tessera` executable (package.json `bin`): runs one command line against the process's streams. */
import { run } from './index.js'

// `tessera token list alice | head -1`: a closed pipe ends the output, not the process with a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  throw error
})

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env
})
