/**
 * A routing table as the kernel's FIB sees it: longest prefix first, then the lowest metric. Routes
 * are bucketed by prefix length so a lookup is at most 33 map probes, whatever the table size (a
 * 1000-node cluster gives every host ~1000 peer routes). The planner and the trace share it.
 */
import {isIPv6Route, tableOf, type Route} from './model.js'
import {ipToInt, maskOf, normaliseDst, parseCidr} from './addr.js'

interface Bucket {
  prefixlen: number
  byBase: Map<number, Route[]>
}

function buckets(routes: Route[]): Bucket[] {
  const byLen = new Map<number, Map<number, Route[]>>()
  for (const r of routes) {
    const dst = normaliseDst(r.dst)
    if (dst === 'default' && isIPv6Route(r)) continue // IPv6's default route: parseCidr cannot tell it by its dst
    let cidr
    try {
      cidr = dst === 'default' ? {base: 0, prefixlen: 0} : parseCidr(dst)
    } catch {
      continue // an IPv6 or malformed destination never matches an IPv4 lookup
    }
    let m = byLen.get(cidr.prefixlen)
    if (!m) byLen.set(cidr.prefixlen, m = new Map())
    const list = m.get(cidr.base)
    if (list) list.push(r)
    else m.set(cidr.base, [r])
  }
  const out: Bucket[] = []
  for (const [prefixlen, byBase] of byLen) {
    for (const list of byBase.values()) list.sort((a, b) => (a.metric ?? 0) - (b.metric ?? 0))
    out.push({prefixlen, byBase})
  }
  return out.sort((a, b) => b.prefixlen - a.prefixlen)
}

/** The longest prefix holding `ip`, lowest metric first; with `usable`, the first route it accepts (shorter prefixes after). */
function lookupIn(table: Bucket[], ip: string, usable?: (r: Route) => boolean): Route | undefined {
  let n: number
  try {
    n = ipToInt(ip)
  } catch {
    return undefined
  }
  for (const b of table) {
    const hit = b.byBase.get((n & maskOf(b.prefixlen)) >>> 0)
    if (hit === undefined) continue
    if (usable === undefined) return hit[0]
    const r = hit.find(usable)
    if (r !== undefined) return r
  }
  return undefined
}

export class RouteTable {
  private readonly all: Bucket[]
  /** routes without a gateway: what makes an address on-link */
  private readonly connected: Bucket[]

  /** `table`: which routing table of `routes` this is (main unless told) */
  constructor(routes: Route[], table = 'main') {
    const main = routes.filter(r => tableOf(r) === table && r.type !== 'local' && r.type !== 'broadcast' && r.type !== 'multicast')
    this.all = buckets(main)
    this.connected = buckets(main.filter(r => r.type === 'unicast' && r.gateway === undefined && r.dev !== undefined))
  }

  /**
   * The route to `ip`. With `oif` (a flow bound to a device: a socket's SO_BINDTODEVICE, a vxlan
   * fdb entry's `via`) only routes out of that device count, as fib_table_lookup skips nexthops on
   * other devices and goes on to shorter prefixes; null routes still match.
   */
  lookup(ip: string, oif?: string): Route | undefined {
    if (oif === undefined) return lookupIn(this.all, ip)
    return lookupIn(this.all, ip, r => r.type !== 'unicast' || this.deviceOf(r) === oif)
  }

  /** The device a route sends out of: its `dev`, else the device of the connected route to its gateway. */
  deviceOf(r: Route): string | undefined {
    if (r.dev !== undefined) return r.dev
    if (r.gateway !== undefined) return this.connectedRoute(r.gateway)?.dev
    return undefined
  }

  /** The connected route that makes `ip` reachable without a gateway (on `dev` when given). */
  connectedRoute(ip: string, dev?: string): Route | undefined {
    const r = lookupIn(this.connected, ip)
    if (r === undefined) return undefined
    return dev === undefined || r.dev === dev ? r : undefined
  }
}

/** Reached without a gateway (same L2 segment): what host-gw needs of every peer. */
function onLinkRoute(r: Route | undefined): boolean {
  return r !== undefined && r.type === 'unicast' && r.gateway === undefined && r.dev !== undefined
}

/** True when the main table reaches `ip` without a gateway (same L2 segment). */
export function isOnLink(routes: Route[], ip: string): boolean {
  return onLinkRoute(new RouteTable(routes).lookup(ip))
}

/** The route the main table takes to each address (a table already built is used as it is). */
export function lookupMany(routes: Route[] | RouteTable, ips: string[]): Map<string, Route | undefined> {
  const table = routes instanceof RouteTable ? routes : new RouteTable(routes)
  return new Map(ips.map(ip => [ip, table.lookup(ip)]))
}

/**
 * The addresses the main table reaches without a gateway, out of `dev` when given: isOnLink() for
 * many at once (or for the routes lookupMany already found for them). A gateway on another device's segment is no next hop for a route out of `dev`
 * (the kernel refuses it: "Nexthop has invalid gateway").
 */
export function onLinkAddresses(routes: Route[] | RouteTable | Map<string, Route | undefined>, ips: string[], dev?: string): Set<string> {
  // a Map is lookupMany's answer for these very addresses
  const found = routes instanceof Map ? routes : lookupMany(routes, ips)
  return new Set(ips.filter(ip => {
    const r = found.get(ip)
    return onLinkRoute(r) && (dev === undefined || r!.dev === dev)
  }))
}

/**
 * The addresses a node's own packets leave by a device other than `dev`, by that device: on a host
 * with two interfaces, peers reached through the one flannel does not use (its --iface, or the
 * default route's when none was given) are a sign of the wrong choice. `wayOut` is the route such a
 * packet takes (the main table's, or the policy rules' when the host has some); addresses it does
 * not know, or that leave through no device, are not listed.
 */
export function reachedElsewhere(wayOut: (ip: string) => Route | undefined, ips: string[], dev: string): Map<string, string[]> {
  const byDev = new Map<string, string[]>()
  for (const ip of ips) {
    const r = wayOut(ip)
    if (r === undefined || r.type !== 'unicast' || r.dev === undefined || r.dev === dev) continue
    byDev.set(r.dev, [...byDev.get(r.dev) ?? [], ip])
  }
  return byDev
}
