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
 * The addresses the main table reaches without a gateway: isOnLink() for many at once. isOnLink()
 * sorts the whole table per call, and a lookup scans it until a prefix matches, past every peer's
 * pod route first (a million steps at 1000 peers). A route that contains none of the addresses can
 * be the match for none of them, so the one index is built over the few routes that contain one.
 */
export function onLinkAddresses(routes: Route[], ips: string[]): Set<string> {
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
  return new Set(ips.filter(ip => isOnLinkIn(index, ip)))
}

