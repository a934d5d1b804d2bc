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

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const SECRET_LENGTH = 43
const CHECKSUM_LENGTH = 6
/** Bytes at or above this would make `byte % 62` uneven; they are drawn again. */
const UNBIASED_LIMIT = 248

/** The format version stored with each token (`tessera_tokens.format`): SHA-256 of the whole token text. */
export const TOKEN_FORMAT_VERSION = 1

/** Each character code's base62 digit, or -1 outside the alphabet. */
const DIGIT_OF = new Int8Array(128).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) DIGIT_OF[ALPHABET.charCodeAt(i)] = i

/** The CRC-32 (IEEE) lookup table. */
const CRC_TABLE = new Int32Array(256)
for (let n = 0; n < 256; n++) {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  CRC_TABLE[n] = c
}

/**
 * CRC-32 of the first `end` characters of an ASCII string. Computed here, over character codes,
 * because the check runs on every authenticated request: no string is encoded or allocated.
 */
function crc32Ascii (text: string, end: number): number {
  let crc = -1
  for (let i = 0; i < end; i++) crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}

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

/** The checksum of `body`: its CRC-32 in `CHECKSUM_LENGTH` base62 digits, most significant first. */
function checksumOf (body: string): string {
  let value = crc32Ascii(body, body.length)
  let out = ''
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = ALPHABET[value % 62] + out
    value = Math.floor(value / 62)
  }
  return out
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
    const split = this.length - CHECKSUM_LENGTH
    for (let i = this.prefix.length; i < split; i++) {
      if ((DIGIT_OF[token.charCodeAt(i)] ?? -1) < 0) return false
    }
    // The checksum's digits, read back into a number, must equal the CRC of the rest.
    let checksum = 0
    for (let i = split; i < this.length; i++) {
      const digit = DIGIT_OF[token.charCodeAt(i)] ?? -1
      if (digit < 0) return false
      checksum = checksum * 62 + digit
    }
    return checksum === crc32Ascii(token, split)
  }
}

/**
 * The SHA-256 digest under which a token is stored and looked up, as a binary string (one character per byte):
 * on the per-request path a string costs a fraction of a `Buffer` (which the hash would have to
 * allocate outside V8's heap), and it serves directly as a cache key.
 */
export function tokenDigest (token: string): string {
  return hash('sha256', token, 'binary')
}

/** A digest as the database stores it: 32 bytes. */
export function digestBytes (digest: string): Buffer {
  return Buffer.from(digest, 'binary')
}
