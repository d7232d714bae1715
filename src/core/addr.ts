/**
 * IPv4 address math. Parsing and validation go through ip-address; arithmetic is done on
 * unsigned 32-bit numbers because route lookups over thousands of prefixes must be cheap.
 */
import {createRequire} from 'node:module'
import type * as IpAddressLibrary from 'ip-address'

export interface Cidr {
  /** network address as an unsigned 32-bit number */
  base: number
  prefixlen: number
}

/** Plain dotted quads (optionally /0-32) are the common case and need no full parser. */
const DOTTED_QUAD = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(\/(3[0-2]|[12]?\d))?$/

/** What Address4 could accept at all: digits and dots, and a one- or two-digit prefix length. */
const DIGITS_AND_DOTS = /^[\d.]+(\/\d{1,2})?$/

let ipAddressLibrary: typeof IpAddressLibrary | undefined
/** ip-address, loaded the first time a string needs it: most commands never meet one (loading costs ~13 ms). */
function ipAddress(): typeof IpAddressLibrary {
  return (ipAddressLibrary ??= createRequire(import.meta.url)('ip-address') as typeof IpAddressLibrary)
}

function isValidV4(s: string): boolean {
  // Address4.isValid throws and catches an error for every string it refuses (its stack trace was
  // ~3% of a trace-heavy test's CPU): names and IPv6 addresses are refused before it.
  return DOTTED_QUAD.test(s) || (DIGITS_AND_DOTS.test(s) && ipAddress().Address4.isValid(s))
}

export function isIPv4(s: string): boolean {
  return isValidV4(s) && !s.includes('/')
}

/** a.b.c.d (each part 1-3 digits, at most 255) as an unsigned number; a scan, as this runs thousands of times per sync. */
export function ipToInt(ip: string): number {
  let n = 0
  let part = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i)
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48)
      if (++digits > 3 || part > 255) throw new Error(`not an IPv4 address: ${ip}`)
    } else if (c === 46 && digits > 0 && dots < 3) {
      n = n * 256 + part
      part = 0
      digits = 0
      dots++
    } else {
      throw new Error(`not an IPv4 address: ${ip}`)
    }
  }
  if (dots !== 3 || digits === 0) throw new Error(`not an IPv4 address: ${ip}`)
  return (n * 256 + part) >>> 0
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

export function maskOf(prefixlen: number): number {
  return prefixlen === 0 ? 0 : (0xffffffff << (32 - prefixlen)) >>> 0
}

/**
 * The same few thousand subnets (leases, routes, the record's owned routes) are parsed several
 * times in every sync: parsed ones are kept, frozen, up to a bound.
 */
const parsedCidrs = new Map<string, Readonly<Cidr>>()
/** the strings among parsedCidrs with a prefix length and zero host bits (isCanonicalCidr) */
const canonicalCidrs = new Set<string>()
const PARSED_CIDRS_MAX = 100_000

/** Parse `a.b.c.d/n` (or a bare address as /32). Throws on malformed input. */
export function parseCidr(s: string): Readonly<Cidr> {
  const known = parsedCidrs.get(s)
  if (known) return known
  const [ip, len] = s.split('/')
  if (!isValidV4(s)) throw new Error(`not an IPv4 CIDR: ${s}`)
  const prefixlen = len === undefined ? 32 : Number(len)
  if (!Number.isInteger(prefixlen) || prefixlen < 0 || prefixlen > 32) throw new Error(`bad prefix length in ${s}`)
  const address = ipToInt(ip)
  const cidr = Object.freeze({base: (address & maskOf(prefixlen)) >>> 0, prefixlen})
  if (parsedCidrs.size >= PARSED_CIDRS_MAX) {
    parsedCidrs.clear()
    canonicalCidrs.clear()
  }
  parsedCidrs.set(s, cidr)
  if (len !== undefined && address === cidr.base) canonicalCidrs.add(s)
  return cidr
}

/** True when the string is a CIDR whose host bits are zero (what flannel accepts as a Network). */
export function isCanonicalCidr(s: string): boolean {
  try {
    parseCidr(s)
  } catch {
    return false
  }
  return canonicalCidrs.has(s)
}

export function cidrToString(c: Cidr): string {
  return `${intToIp(c.base)}/${c.prefixlen}`
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefixlen)) >>> 0) === c.base
}

export function cidrContainsIp(cidr: string, ip: string): boolean {
  return cidrContains(parseCidr(cidr), ipToInt(ip))
}

/** a ⊆ b */
export function cidrWithin(a: Cidr, b: Cidr): boolean {
  return a.prefixlen >= b.prefixlen && cidrContains(b, a.base)
}

export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrWithin(a, b) || cidrWithin(b, a)
}

/**
 * Ranges no host or pod address can come from: what is "this network", the loopback, multicast and
 * the reserved class E (with the limited broadcast). A node announcing one, or a pod network
 * overlapping one, cannot be routed to.
 */
const SPECIAL_RANGES: {cidr: Cidr; what: string}[] = [
  {cidr: parseCidr('0.0.0.0/8'), what: '"this network"'},
  {cidr: parseCidr('127.0.0.0/8'), what: 'loopback'},
  {cidr: parseCidr('224.0.0.0/4'), what: 'multicast'},
  {cidr: parseCidr('240.0.0.0/4'), what: 'reserved, with the broadcast address'},
]

/** The special range `c` overlaps, if any (see SPECIAL_RANGES). */
export function specialRange(c: Cidr): {range: string; what: string} | undefined {
  const hit = SPECIAL_RANGES.find(r => cidrOverlaps(c, r.cidr))
  return hit && {range: cidrToString(hit.cidr), what: hit.what}
}

export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefixlen)
}

/** The address `offset` into the prefix: offset 0 is the network address, 1 the first host. */
export function nthAddress(c: Cidr, offset: number): string {
  return intToIp((c.base + offset) >>> 0)
}

/** flannel's lease key form: 10.244.1.0/24 -> 10.244.1.0-24 */
export function cidrToKey(c: Cidr | string): string {
  const s = typeof c === 'string' ? c : cidrToString(c)
  return s.replace('/', '-')
}

export function keyToCidr(key: string): string {
  const m = /^(\d+\.\d+\.\d+\.\d+)-(\d+)$/.exec(key)
  if (!m) throw new Error(`not a subnet key: ${key}`)
  return `${m[1]}/${m[2]}`
}

/** Normalise a route destination: `default` stays, a bare address becomes /32. */
export function normaliseDst(dst: string): string {
  if (dst === 'default' || dst === '0.0.0.0/0') return 'default'
  return dst.includes('/') ? dst : `${dst}/32`
}

export function isValidMac(mac: string): boolean {
  return /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)
}

/**
 * Why a MAC cannot be one device's (a VTEP's), or undefined when it can: the group bit (the first
 * octet's lowest) marks broadcast and multicast, and the all-zero MAC is a vxlan fdb's default
 * (flood) entry, which would send every unknown frame to that peer.
 */
export function notUnicastMac(mac: string): string | undefined {
  if (/^00(:00){5}$/.test(mac)) return 'the all-zero MAC, a vxlan device\'s default fdb entry (it would flood every unknown frame there)'
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1) return mac.toLowerCase() === 'ff:ff:ff:ff:ff:ff' ? 'the broadcast MAC' : 'a multicast MAC (its first octet is odd)'
  return undefined
}
