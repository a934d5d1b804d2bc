// @ts-check
/**
 * Runs the example: `PORT` (default 3000; 0 picks a free one), `DATABASE_URL` (default
 * `sqlite:./data/app.db`). Logs JSON lines, among them "Server listening at http://…"; SIGINT or
 * SIGTERM closes the app (and the database) and exits.
 */
import { buildApp } from './app.js'

const app = await buildApp({ databaseUrl: process.env.DATABASE_URL ?? 'sqlite:./data/app.db', logger: true })
await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' })

for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => {
    app.close().then(() => process.exit(0), (error) => {
      app.log.error({ err: error }, 'closing failed')
      process.exit(1)
    })
  })
}
