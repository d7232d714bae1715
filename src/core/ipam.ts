/**
 * Subnet allocation the way flanneld's LocalManager does it (pkg/subnet/etcd/local_manager.go):
 * 1. the lease that already carries this host's PublicIP, if it still fits the config;
 * 2. else the subnet this host had before (subnet.env), if nobody holds it and it fits;
 * 3. else a random one among the first 100 free subnets from SubnetMin upwards.
 * Candidates are computed from their index, never listed: a /8 cut into /24s has 65,535 of them.
 */
import {userError} from '../errors.js'
import {cidrWithin, intToIp, ipToInt, isCanonicalCidr, maskOf, parseCidr} from './addr.js'
import type {NetConf} from './netconf.js'

/** What allocation needs to know about a lease; the store's Lease fits this shape. */
export interface LeasedSubnet {
  subnet: string
  publicIP: string
}

export interface SubnetWant {
  publicIP: string
  /** the subnet this host had before, from its subnet.env */
  preferredSubnet?: string
  /**
   * The subnet this host's bridge serves, kept though it no longer fits the config (SubnetLen,
   * SubnetMin or SubnetMax edited under running nodes): another subnet would strand its pods. Kept
   * only inside the network, and only while no other lease overlaps it.
   */
  keep?: string
  /** a number in [0, 1); Math.random unless a test injects one */
  random?: () => number
}

export interface SubnetPick {
  subnet: string
  reason: 'reuse' | 'preferred' | 'random'
  /** random: how many free subnets it was drawn among (a --dry-run's draw is not the run's) */
  among?: number
  /** subnets leased to this PublicIP that no longer fit the config: flannel deletes them */
  discard: string[]
}

/** flannel draws among this many free subnets, the lowest ones. */
export const RANDOM_POOL = 100

interface Span {
  first: number
  last: number
}

function subnetStep(nc: NetConf): number {
  return 2 ** (32 - nc.subnetLen)
}

export function subnetCount(nc: NetConf): number {
  return Math.floor((ipToInt(nc.subnetMax) - ipToInt(nc.subnetMin)) / subnetStep(nc)) + 1
}

/** The i-th candidate subnet (0 = SubnetMin). */
export function nthSubnet(nc: NetConf, i: number): string {
  return `${intToIp(ipToInt(nc.subnetMin) + i * subnetStep(nc))}/${nc.subnetLen}`
}

/** All candidates in order, lazily. */
export function* candidateSubnets(nc: NetConf): Generator<string> {
  const count = subnetCount(nc)
  for (let i = 0; i < count; i++) yield nthSubnet(nc, i)
}

/** flannel's isSubnetConfigCompat: the right size and between SubnetMin and SubnetMax. */
export function isSubnetCompatible(nc: NetConf, subnet: string): boolean {
  if (!isCanonicalCidr(subnet)) return false
  const c = parseCidr(subnet)
  return c.prefixlen === nc.subnetLen && c.base >= ipToInt(nc.subnetMin) && c.base <= ipToInt(nc.subnetMax)
}

/**
 * Why a subnet this host holds no longer fits the config, in words (undefined when it fits):
 * what a config edited under running nodes did to it.
 */
export function subnetMisfit(nc: NetConf, subnet: string): string | undefined {
  if (isSubnetCompatible(nc, subnet)) return undefined
  const c = parseCidr(subnet)
  if (!cidrWithin(c, parseCidr(nc.network))) return `it is outside the network ${nc.network}`
  if (c.prefixlen !== nc.subnetLen) return `it is a /${c.prefixlen}, and the network config's SubnetLen is ${nc.subnetLen}`
  return c.base < ipToInt(nc.subnetMin) ? `it is below SubnetMin ${nc.subnetMin}` : `it is above SubnetMax ${nc.subnetMax}`
}

/**
 * Why a static peer's subnet cannot be one of the network's leases, in words (undefined when it can).
 * SubnetMin/SubnetMax are not asked: a hand-run network splits the range by hand (each host's
 * init narrowed to its own subnet), but every flanneld lease is SubnetLen long.
 */
export function peerSubnetMisfit(nc: Pick<NetConf, 'network' | 'subnetLen'>, subnet: string): string | undefined {
  const c = parseCidr(subnet)
  if (!cidrWithin(c, parseCidr(nc.network))) return `${subnet} is outside the network ${nc.network}`
  if (c.prefixlen !== nc.subnetLen) return `${subnet} is a /${c.prefixlen}, and the network's SubnetLen is ${nc.subnetLen}: every node's lease is a /${nc.subnetLen}`
  return undefined
}

/** Fits the config, or is the subnet the host keeps though it does not (SubnetWant.keep). */
export function isSubnetUsable(nc: NetConf, subnet: string, keep: string | undefined): boolean {
  return isSubnetCompatible(nc, subnet) || (subnet === keep && isCanonicalCidr(subnet) && cidrWithin(parseCidr(subnet), parseCidr(nc.network)))
}

/** Hot path (once per lease, 65k leases on a /8): ipToInt is much cheaper than a full parseCidr. */
function spanOf(subnet: string): Span {
  const slash = subnet.indexOf('/')
  const prefixlen = Number(subnet.slice(slash + 1))
  if (slash < 0 || !Number.isInteger(prefixlen) || prefixlen < 0 || prefixlen > 32) throw new Error(`not an IPv4 CIDR: ${subnet}`)
  const first = (ipToInt(subnet.slice(0, slash)) & maskOf(prefixlen)) >>> 0
  return {first, last: first + 2 ** (32 - prefixlen) - 1}
}

/** Leased address ranges, sorted and merged so one forward walk can test every candidate. */
function mergedSpans(subnets: string[]): Span[] {
  const spans = subnets.map(spanOf).sort((a, b) => a.first - b.first)
  const merged: Span[] = []
  for (const s of spans) {
    const top = merged[merged.length - 1]
    if (top && s.first <= top.last + 1) top.last = Math.max(top.last, s.last)
    else merged.push({...s})
  }
  return merged
}

/** The lowest `limit` candidates that overlap no leased subnet. */
export function freeSubnets(nc: NetConf, leased: string[], limit = Infinity): string[] {
  const spans = mergedSpans(leased)
  const step = subnetStep(nc)
  const count = subnetCount(nc)
  const min = ipToInt(nc.subnetMin)
  const free: string[] = []
  let j = 0
  for (let i = 0; i < count && free.length < limit; i++) {
    const first = min + i * step
    const last = first + step - 1
    while (j < spans.length && spans[j].last < first) j++
    if (j < spans.length && spans[j].first <= last) {
      // jump past the leased span rather than testing each subnet inside it
      if (spans[j].last > last) i = Math.floor((spans[j].last - min) / step)
      continue
    }
    free.push(`${intToIp(first)}/${nc.subnetLen}`)
  }
  return free
}

function overlapsAny(subnet: string, leases: LeasedSubnet[]): boolean {
  const a = spanOf(subnet)
  return leases.some((l) => {
    const b = spanOf(l.subnet)
    return a.first <= b.last && b.first <= a.last
  })
}

export function pickSubnet(nc: NetConf, leases: LeasedSubnet[], want: SubnetWant): SubnetPick {
  const usable = (subnet: string) => isSubnetUsable(nc, subnet, want.keep)
  const mine = leases.filter((l) => l.publicIP === want.publicIP)
  const reusable = mine.find((l) => l.subnet === want.keep && usable(l.subnet)) ?? mine.find((l) => usable(l.subnet))
  const discard = mine.filter((l) => !usable(l.subnet)).map((l) => l.subnet)
  if (reusable) return {subnet: reusable.subnet, reason: 'reuse', discard}

  const others = leases.filter((l) => !discard.includes(l.subnet))
  // the kept subnet's lease gone (expired, deleted): taken again when free, as the subnet.env's is
  for (const preferred of new Set([want.keep, want.preferredSubnet])) {
    if (preferred && usable(preferred) && !overlapsAny(preferred, others)) return {subnet: preferred, reason: 'preferred', discard}
  }

  const free = freeSubnets(nc, others.map((l) => l.subnet), RANDOM_POOL)
  if (free.length === 0) {
    throw userError(
      `subnet space exhausted: all ${subnetCount(nc)} subnets of ${nc.network} (/${nc.subnetLen}) are leased`,
      'see them with `flannelctl lease list` and release the leases of gone hosts, or use a larger Network or SubnetLen')
  }
  const random = want.random ?? Math.random
  const index = Math.min(free.length - 1, Math.floor(random() * free.length))
  return {subnet: free[index], reason: 'random', among: free.length, discard}
}
