/**
 * What a tessera token looks like: `<prefix><secret><checksum>`, e.g. `tsr_` + 43 + 6 characters.
 *
 * - The secret is 43 base62 characters drawn from the OS CSPRNG: 43 × log2(62) ≈ 256.03 bits.
 * - The checksum is the CRC-32 of prefix and secret in 6 base62 characters, so that a mistyped or
 *   truncated token is refused before any database lookup. It is not a secret and proves nothing
 *   about authenticity: only the digest lookup does.
 * - Base62 keeps the token one "word": a double click selects all of it, and it needs no escaping
 *   in URLs, headers or shells.
 */
import { hash, randomBytes } from 'node:crypto'
import { crc32 } from 'node:zlib'

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const SECRET_LENGTH = 43
const CHECKSUM_LENGTH = 6
/** Bytes at or above this would make `byte % 62` uneven; they are drawn again. */
const UNBIASED_LIMIT = 248

/** The format version stored with each token (`auth_tokens.format`): SHA-256 of the whole token text. */
export const TOKEN_FORMAT_VERSION = 1

function randomBase62 (length: number): string {
  let out = ''
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < UNBIASED_LIMIT) out += ALPHABET[byte % 62]
      if (out.length === length) break
    }
  }
  return out
}

function checksumOf (body: string): string {
  let value = crc32(body)
  let out = ''
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = ALPHABET[value % 62] + out
    value = Math.floor(value / 62)
  }
  return out
}

function isBase62 (text: string, from: number): boolean {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i)
    const digit = c >= 48 && c <= 57
    const upper = c >= 65 && c <= 90
    const lower = c >= 97 && c <= 122
    if (!(digit || upper || lower)) return false
  }
  return true
}

export class TokenFormat {
  readonly length: number

  constructor (readonly prefix: string) {
    this.length = prefix.length + SECRET_LENGTH + CHECKSUM_LENGTH
  }

  /** A new token, to be handed to the client once and never stored. */
  generate (): string {
    const body = this.prefix + randomBase62(SECRET_LENGTH)
    return body + checksumOf(body)
  }

  /** Whether `token` has this format's prefix, length, alphabet and a matching checksum. */
  isWellFormed (token: string): boolean {
    if (token.length !== this.length || !token.startsWith(this.prefix)) return false
    if (!isBase62(token, this.prefix.length)) return false
    const split = this.length - CHECKSUM_LENGTH
    return checksumOf(token.slice(0, split)) === token.slice(split)
  }
}

/** The SHA-256 digest under which a token is stored and looked up. */
export function digestToken (token: string): Buffer {
  return hash('sha256', token, 'buffer')
}
