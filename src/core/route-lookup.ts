/**
 * Longest-prefix match over a host's main routing table, the way the kernel picks a route:
 * most specific prefix first, then lowest metric.
 */
import type {Route} from './model.js'
import {ipToInt, parseCidr, cidrContains, normaliseDst} from './addr.js'

export interface RouteIndex {
  lookup(ip: string): Route | undefined
}

export function indexRoutes(routes: Route[]): RouteIndex {
  const entries = routes
    .filter(r => (!r.table || r.table === 'main') && r.type !== 'local' && r.type !== 'broadcast')
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
  const r = indexRoutes(routes).lookup(ip)
  return r !== undefined && r.type === 'unicast' && r.gateway === undefined && r.dev !== undefined
}
