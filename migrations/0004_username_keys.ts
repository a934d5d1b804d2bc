/**
 * Usernames are matched by a stricter key: NFKC, then full case folding (lower, upper, lower
 * case, so that `ß`, `ẞ` and `SS` meet), then NFC — PRECIS UsernameCaseMapped's width and case
 * mapping (RFC 8265). Before, `weiß` and `WEIẞ` could be two accounts.
 *
 * Every user's key is recomputed. Where two existing users now share a key, the older account
 * takes it and the newer one keeps its old key (so nothing is merged and no token dies), and the
 * migration reports the pair: the newer one can no longer log in by that name until an operator
 * renames one of them.
 */
import { sql, type Kysely } from 'kysely'

/** The key as of this migration (frozen here: migrations must not change when the code does). */
function usernameKey (username: string): string {
  return username.normalize('NFKC').toLowerCase().toUpperCase().toLowerCase().normalize('NFC')
}

export async function up (db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ id: number, username: string, username_key: string }>`
    SELECT id, username, username_key FROM tessera_users ORDER BY id`.execute(db)
  const byKey = new Map<string, typeof rows>()
  for (const row of rows) {
    const key = usernameKey(row.username)
    byKey.set(key, [...(byKey.get(key) ?? []), row])
  }
  const warnings: string[] = []
  const changes: Array<{ id: number, key: string }> = []
  for (const [key, users] of byKey) {
    // The account already matched by this key keeps it (its logins work as before); else the oldest.
    const owner = users.find((user) => user.username_key === key) ?? users[0]!
    if (owner.username_key !== key) changes.push({ id: owner.id, key })
    // The others keep their old keys: not folded, so no folded key can ever equal one of them.
    for (const other of users.filter((user) => user !== owner)) {
      warnings.push(`usernames ${JSON.stringify(owner.username)} (id ${owner.id}) and ${JSON.stringify(other.username)} (id ${other.id}) ` +
        `are now the same name: ${JSON.stringify(other.username)} keeps its tokens but can no longer log in by name; rename one of them`)
    }
  }
  // Two passes, so that a key moving from one user to another never meets the unique index twice
  // ('#' never occurs in a username).
  for (const { id } of changes) await sql`UPDATE tessera_users SET username_key = ${`#migrating:${id}`} WHERE id = ${id}`.execute(db)
  for (const { id, key } of changes) await sql`UPDATE tessera_users SET username_key = ${key} WHERE id = ${id}`.execute(db)
  return warnings
}
