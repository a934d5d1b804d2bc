/**
 * The app's tables and its user type, and the one declaration that tells tessera about that type:
 * with it, `request.user`, `users.find`, `tokens.issue` and `tokens.verify` are typed with
 * `AppUser`. The JavaScript files use these types through `// @ts-check` and
 * `@typedef {import('./types.js').AppUser}`; `npm run check` verifies them.
 */
import type { Generated } from 'kysely'

/** The app's own tables, created by the app's own migrations (`app.js`). */
export interface AppTables {
  users: { id: Generated<number>, email: string, name: string, password_hash: string, created_at: string }
  orders: { id: Generated<number>, user_id: number, item: string }
}

/** A user as the app loads one: everything but the password hash. */
export interface AppUser {
  id: number
  email: string
  name: string
  /** ISO-8601, set at sign-up. tessera's routes do not show it: `serialize` leaves it out. */
  createdAt: string
}

declare module 'tessera-auth' {
  interface TesseraTypes {
    user: AppUser
  }
}
