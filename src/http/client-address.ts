/**
 * The key a client address is counted under by per-address limits (login, register, argon2 queue),
 * and the address a session records (`normalizeAddress`).
 *
 * An IPv6 host is usually given a whole /64, so counting single IPv6 addresses would let one
 * client rotate through 2^64 of them and never be limited: IPv6 clients are keyed by their /64
 * prefix (as @fastify/rate-limit does by default). IPv4 addresses, and IPv4 addresses written
 * IPv4-mapped (`::ffff:192.0.2.1`, as a dual-stack socket reports them), are keyed by the IPv4
 * address itself.
 */
import { isIPv4, isIPv6 } from 'node:net'

/**
 * `192.0.2.1` → `192.0.2.1`; `2001:db8::1` → `2001:db8:0:0::/64`; `::ffff:192.0.2.1` → `192.0.2.1`.
 * Anything that is not an IP address (a Unix socket's empty address) is returned unchanged.
 */
export function addressKey (ip: string): string {
  const address = ip.replace(/%.*$/, '') // a zone index (`fe80::1%eth0`) names an interface, not a host
  if (!isIPv6(address)) return ip
  const groups = ipv6Groups(address)
  const mapped = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff
  if (mapped) return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.')
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`
}

/**
 * A client address as a list of sessions shows it, or `null` when it is not an IP address (a
 * Unix socket's empty address): the whole address (an IPv6 client is shown by its own address,
 * not by the /64 it is counted under), an IPv4-mapped one as IPv4, without a zone index.
 * `::ffff:192.0.2.1` → `192.0.2.1`; `2001:DB8::1` → `2001:db8::1`.
 */
export function normalizeAddress (ip: string): string | null {
  const address = ip.replace(/%.*$/, '')
  if (isIPv4(address)) return address
  if (!isIPv6(address)) return null
  const key = addressKey(address)
  return isIPv4(key) ? key : address.toLowerCase()
}

/** The eight 16-bit groups of a valid IPv6 address, `::` expanded and a dotted IPv4 tail converted. */
function ipv6Groups (address: string): number[] {
  let text = address.toLowerCase()
  const lastColon = text.lastIndexOf(':')
  const tail = text.slice(lastColon + 1)
  if (isIPv4(tail)) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number]
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', rest] = text.split('::') as [string, string | undefined]
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)))
  if (rest === undefined) return parse(head)
  const left = parse(head)
  const right = parse(rest)
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
}
