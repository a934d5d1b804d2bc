/**
 * `npm start`: read the configuration, apply pending migrations, listen; close gracefully on
 * SIGINT/SIGTERM (stop accepting, finish in-flight requests, close the database, exit 0).
 */
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { describeUrl } from './db/database.js'

/** How long in-flight requests get to finish after a shutdown signal. */
const GRACE_MS = 10_000

export async function serve (config: Config): Promise<void> {
  let app
  try {
    app = await buildApp(config)
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    throw new Error(`cannot open the database ${describeUrl(config.databaseUrl)}: ${reason}`, { cause: error })
  }
  closeWithGrace({ delay: GRACE_MS }, async ({ signal, err }) => {
    if (err !== undefined) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down')
    await app.close()
  })
  await app.listen({ port: config.port, host: config.host })
}

function fail (error: unknown): never {
  const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error)
  process.stderr.write(`tessera: ${message}\n`)
  process.exit(1)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let config: Config
  try {
    config = loadConfig()
  } catch (error) {
    fail(error)
  }
  serve(config).catch(fail)
}
