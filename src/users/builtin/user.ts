/** tessera's built-in user, as its API and `request.user` show it: never a password hash. */
import type { UserRow } from '../../db/schema.js'

export interface TesseraUser {
  id: number
  username: string
  email: string | null
  /** ISO-8601, UTC. */
  createdAt: string
}

export function toTesseraUser (row: Pick<UserRow, 'id' | 'username' | 'email' | 'created_at'>): TesseraUser {
  return { id: row.id, username: row.username, email: row.email, createdAt: new Date(row.created_at).toISOString() }
}
