/**
 * Which address of a NAT range (`--to-destination A-B`, nft `dnat to A-B`) a new connection gets.
 * nf_nat does not draw it at random: find_best_ips_proto (net/netfilter/nf_nat_core.c) hashes the
 * connection's source address with jhash2, seeded by its destination (by 0 with `persistent`), and
 * scales the hash onto the range, so the same client and destination always get the same address.
 * A source NAT first keeps the source when it already lies in the range (get_unique_tuple).
 * Checked on the kernel: 12 source/destination pairs for each of iptables' DNAT, DNAT --persistent,
 * nft's dnat and iptables' SNAT to a range, each landed where this says
 * (test/integration/trace-nat-range.test.ts).
 * The seed also holds the connection's conntrack zone, 0 unless a rule sets one (`-j CT --zone`): no
 * answer where a host has such a rule (HostView.setsConntrackZone).
 */
import {intToIp, ipToInt} from '../addr.js'

const JHASH_INITVAL = 0xdeadbeef

const rol32 = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0

/** The kernel's jhash2 (include/linux/jhash.h, Bob Jenkins' lookup3) over 32-bit words. */
export function jhash2(words: readonly number[], initval: number): number {
  let a = (JHASH_INITVAL + (words.length << 2) + initval) >>> 0
  let b = a
  let c = a
  let i = 0
  let left = words.length
  while (left > 3) {
    a = (a + words[i]) >>> 0
    b = (b + words[i + 1]) >>> 0
    c = (c + words[i + 2]) >>> 0
    a = ((a - c) ^ rol32(c, 4)) >>> 0; c = (c + b) >>> 0
    b = ((b - a) ^ rol32(a, 6)) >>> 0; a = (a + c) >>> 0
    c = ((c - b) ^ rol32(b, 8)) >>> 0; b = (b + a) >>> 0
    a = ((a - c) ^ rol32(c, 16)) >>> 0; c = (c + b) >>> 0
    b = ((b - a) ^ rol32(a, 19)) >>> 0; a = (a + c) >>> 0
    c = ((c - b) ^ rol32(b, 4)) >>> 0; b = (b + a) >>> 0
    left -= 3
    i += 3
  }
  if (left === 0) return c
  if (left === 3) c = (c + words[i + 2]) >>> 0
  if (left >= 2) b = (b + words[i + 1]) >>> 0
  a = (a + words[i]) >>> 0
  c = ((c ^ b) - rol32(b, 14)) >>> 0
  a = ((a ^ c) - rol32(c, 11)) >>> 0
  b = ((b ^ a) - rol32(a, 25)) >>> 0
  c = ((c ^ b) - rol32(b, 16)) >>> 0
  a = ((a ^ c) - rol32(c, 4)) >>> 0
  b = ((b ^ a) - rol32(a, 14)) >>> 0
  c = ((c ^ b) - rol32(b, 24)) >>> 0
  return c
}

/** An IPv4 address as the kernel's u32 word holds it: its bytes in network order, read little-endian (x86, arm64). */
function memoryWord(ip: string): number {
  const n = ipToInt(ip)
  return (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24)) >>> 0
}

/**
 * The address of `first`-`last` that nf_nat gives a new connection from `src` to `dst` by a DNAT or
 * SNAT; undefined for another action, where a rule of the host may set the connection's zone, or
 * when the range is not two IPv4 addresses in order.
 */
export function natRangeAddress(range: string, packet: {src: string; dst: string; ctZoneUnknown?: boolean}, o: {action: string; persistent: boolean}): string | undefined {
  if ((o.action !== 'DNAT' && o.action !== 'SNAT') || packet.ctZoneUnknown === true) return undefined
  const [first, last] = range.split('-')
  let min: number, max: number, src: number
  try {
    min = ipToInt(first)
    max = ipToInt(last)
    src = ipToInt(packet.src)
    ipToInt(packet.dst)
  } catch {
    return undefined
  }
  if (max < min) return undefined
  if (o.action === 'SNAT' && src >= min && src <= max) return packet.src
  // the source address is hashed as nf_inet_addr's four words, the last three zero for IPv4
  const hash = jhash2([memoryWord(packet.src), 0, 0, 0], o.persistent ? 0 : memoryWord(packet.dst))
  // reciprocal_scale: the hash's place in 2^32, scaled onto the range's size
  const offset = Number((BigInt(hash) * BigInt(max - min + 1)) >> 32n)
  return intToIp(min + offset)
}
