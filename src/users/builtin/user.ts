import type { UserRow } from '../../db/schema.js'

/** A user as tessera's API and `request.user` show it: never a password hash. */
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

/** An instant as the API shows it: ISO-8601 in UTC, or null. */
export function toIso (epochMs: number | null): string | null {
  return epochMs === null ? null : new Date(epochMs).toISOString()
}
