/**
 * Longest-prefix match over a host's main routing table, the way the kernel picks a route:
 * most specific prefix first, then lowest metric.
 */
import {inMainTable, type Route} from './model.js'
import {ipToInt, parseCidr, cidrContains, normaliseDst} from './addr.js'

export interface RouteIndex {
  lookup(ip: string): Route | undefined
}

export function indexRoutes(routes: Route[]): RouteIndex {
  const entries = routes
    .filter(r => inMainTable(r) && r.type !== 'local' && r.type !== 'broadcast')
    .map(r => {
      const dst = normaliseDst(r.dst)
      const cidr = dst === 'default' ? {base: 0, prefixlen: 0} : parseCidr(dst)
      return {r, cidr}
    })
    .sort((a, b) => b.cidr.prefixlen - a.cidr.prefixlen || (a.r.metric ?? 0) - (b.r.metric ?? 0))
  return {
    lookup(ip: string) {
      const n = ipToInt(ip)
      return entries.find(e => cidrContains(e.cidr, n))?.r
    },
  }
}

/** True when `ip` is reached without a gateway (same L2 segment): what host-gw needs of every peer. */
export function isOnLink(routes: Route[], ip: string): boolean {
  return isOnLinkIn(indexRoutes(routes), ip)
}

/** Reached without a gateway (same L2 segment): what host-gw needs of every peer. */
function isOnLinkIn(index: RouteIndex, ip: string): boolean {
  const r = index.lookup(ip)
  return r !== undefined && r.type === 'unicast' && r.gateway === undefined && r.dev !== undefined
}

/**
 * The route the main table takes to each address: indexRoutes().lookup() for many at once. A
 * lookup scans the table until a prefix matches, past every peer's pod route first (a million
 * steps at 1000 peers). A route that contains none of the addresses can be the match for none of
 * them, so the one index is built over the few routes that contain one.
 */
export function lookupMany(routes: Route[], ips: string[]): Map<string, Route | undefined> {
  const sorted = [...new Set(ips)].map(ipToInt).sort((a, b) => a - b)
  const containsOne = (r: Route): boolean => {
    const dst = normaliseDst(r.dst)
    if (dst === 'default') return true
    let c
    try {
      c = parseCidr(dst)
    } catch {
      return true // the index reports it, as it always did
    }
    const last = c.base + 2 ** (32 - c.prefixlen) - 1
    let lo = 0
    let hi = sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (sorted[mid] < c.base) lo = mid + 1
      else hi = mid
    }
    return lo < sorted.length && sorted[lo] <= last
  }
  const index = indexRoutes(routes.filter(containsOne))
  return new Map(ips.map(ip => [ip, index.lookup(ip)]))
}

/**
 * The addresses the main table reaches without a gateway, out of `dev` when given: isOnLink() for
 * many at once. A gateway on another device's segment is no next hop for a route out of `dev`
 * (the kernel refuses it: "Nexthop has invalid gateway").
 */
export function onLinkAddresses(routes: Route[], ips: string[], dev?: string): Set<string> {
  const found = lookupMany(routes, ips)
  return new Set(ips.filter(ip => {
    const r = found.get(ip)
    return r !== undefined && r.type === 'unicast' && r.gateway === undefined && r.dev !== undefined && (dev === undefined || r.dev === dev)
  }))
}

/**
 * The addresses the main table sends out of a device other than `dev`, by that device: on a host
 * with two interfaces, peers reached through the one flannel does not use (its --iface, or the
 * default route's when none was given) are a sign of the wrong choice. Addresses without a route,
 * or with one through no device, are not listed.
 */
export function reachedElsewhere(routes: Route[], ips: string[], dev: string): Map<string, string[]> {
  const byDev = new Map<string, string[]>()
  for (const [ip, r] of lookupMany(routes, ips)) {
    if (r === undefined || r.type !== 'unicast' || r.dev === undefined || r.dev === dev) continue
    byDev.set(r.dev, [...byDev.get(r.dev) ?? [], ip])
  }
  return byDev
}
