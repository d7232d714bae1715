/**
 * The main routing table as the kernel's FIB sees it: longest prefix first, then the lowest metric.
 * Routes are bucketed by prefix length so a lookup is at most 33 map probes, whatever the table size
 * (a 1000-node cluster gives every host ~1000 peer routes).
 */
import type {Route} from '../model.js'
import {ipToInt, maskOf, normaliseDst, parseCidr} from '../addr.js'

interface Bucket {
  prefixlen: number
  byBase: Map<number, Route[]>
}

/** Route types that end the packet where it is. */
export const NULL_ROUTE_TYPES = new Set(['blackhole', 'unreachable', 'prohibit'])

function inMainTable(r: Route): boolean {
  return r.table === undefined || r.table === 'main' || r.table === '254'
}

function buckets(routes: Route[]): Bucket[] {
  const byLen = new Map<number, Map<number, Route[]>>()
  for (const r of routes) {
    const dst = normaliseDst(r.dst)
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

function lookupIn(table: Bucket[], ip: string): Route | undefined {
  let n: number
  try {
    n = ipToInt(ip)
  } catch {
    return undefined
  }
  for (const b of table) {
    const hit = b.byBase.get((n & maskOf(b.prefixlen)) >>> 0)
    if (hit) return hit[0]
  }
  return undefined
}

export class RouteTable {
  private readonly all: Bucket[]
  /** routes without a gateway: what makes an address on-link */
  private readonly connected: Bucket[]

  constructor(routes: Route[]) {
    const main = routes.filter(r => inMainTable(r) && r.type !== 'local' && r.type !== 'broadcast' && r.type !== 'multicast')
    this.all = buckets(main)
    this.connected = buckets(main.filter(r => r.type === 'unicast' && r.gateway === undefined && r.dev !== undefined))
  }

  lookup(ip: string): Route | undefined {
    return lookupIn(this.all, ip)
  }

  /** The connected route that makes `ip` reachable without a gateway (on `dev` when given). */
  connectedRoute(ip: string, dev?: string): Route | undefined {
    const r = lookupIn(this.connected, ip)
    if (r === undefined) return undefined
    return dev === undefined || r.dev === dev ? r : undefined
  }
}

export function isDefaultRoute(r: Route): boolean {
  return normaliseDst(r.dst) === 'default'
}

/** `ip route` prints a host route without `/32`; fixes name the prefix the way users type it. */
export function routeDstText(r: Route): string {
  const d = normaliseDst(r.dst)
  return d.endsWith('/32') ? d.slice(0, -3) : d
}

/** Local-table routes (`local 10.96.0.0/12 dev lo`) make whole prefixes local, as kube-proxy's ipvs mode does. */
export function localRoutePrefixes(routes: Route[]): {base: number, prefixlen: number}[] {
  const out = []
  for (const r of routes) {
    if (r.type !== 'local') continue
    try {
      out.push(parseCidr(normaliseDst(r.dst)))
    } catch {
      // IPv6 local routes do not concern an IPv4 trace
    }
  }
  return out
}

/** The device a route sends out of: its `dev`, else the device of the connected route to its gateway. */
export function routeDevice(table: RouteTable, r: Route): string | undefined {
  if (r.dev !== undefined) return r.dev
  if (r.gateway !== undefined) return table.connectedRoute(r.gateway)?.dev
  return undefined
}
