/**
 * The host's tables after a plan was applied, without reading them again. An agent that just
 * applied a plan knows what the kernel now holds for the ops that scale with the peers (routes,
 * neighbours, fdb entries): on the next store event it plans against this prediction instead of
 * dumping thousands of entries, as flanneld acts on lease events without re-reading the host.
 * Everything else (links, addresses, iptables, sysctls, files) is not predicted: a plan that
 * touched any of it gives no prediction, and the next round reads the host.
 *
 * Predicted entries are what `ip -j` / `bridge -j` print for them, passed through the same parsers
 * as a real read, so a planner cannot tell a prediction from a dump of the same state.
 */
import type {FdbEntry, HostSnapshot, Neighbor, Route} from './model.js'
import type {Op} from './ops.js'
import {normaliseDst} from './addr.js'
import {parseBridgeFdbJson, parseIpNeighJson, parseIpRouteJson} from './parse/json.js'

/** The snapshot after `ops`, or undefined when an op is not one whose effect is modelled here. */
export function predictAfterOps(snap: HostSnapshot, ops: Op[]): HostSnapshot | undefined {
  let routes = snap.routes ?? []
  let neighbors = snap.neighbors ?? []
  let fdb = snap.fdb ?? []
  for (const op of ops) {
    const next = op.tool === 'ip' ? ipEffect(op.args, routes, neighbors)
      : op.tool === 'bridge' && snap.fdb !== undefined ? fdbEffect(op.args, fdb)
        : undefined
    if (next === undefined) return undefined
    if ('routes' in next) routes = next.routes
    if ('neighbors' in next) neighbors = next.neighbors
    if ('fdb' in next) fdb = next.fdb
  }
  return {...snap, routes, neighbors, fdb: snap.fdb === undefined ? undefined : fdb}
}

/** `flag VALUE` pairs of an op's words after the object and verb, and the bare flags. */
function words(args: string[], from: number): {target: string; opts: Map<string, string>; bare: Set<string>} {
  const opts = new Map<string, string>()
  const bare = new Set<string>()
  const withValue = new Set(['via', 'dev', 'lladdr', 'nud', 'dst', 'metric'])
  for (let i = from + 1; i < args.length; i++) {
    if (withValue.has(args[i]) && i + 1 < args.length) opts.set(args[i], args[++i])
    else bare.add(args[i])
  }
  return {target: args[from], opts, bare}
}

const inMain = (r: Route) => !r.table || r.table === 'main'

function ipEffect(args: string[], routes: Route[], neighbors: Neighbor[]): {routes: Route[]} | {neighbors: Neighbor[]} | undefined {
  const [object, verb] = args
  if (object === 'route' && (verb === 'replace' || verb === 'del')) {
    const {target, opts, bare} = words(args, 2)
    const dst = normaliseDst(target)
    const dev = opts.get('dev')
    const gateway = opts.get('via')
    if (dev === undefined || opts.has('metric') || [...bare].some(b => b !== 'onlink')) return undefined
    if (verb === 'del') {
      // the kernel deletes the first route that matches what the command names
      const i = routes.findIndex(r => inMain(r) && normaliseDst(r.dst) === dst && r.dev === dev && (gateway === undefined || r.gateway === gateway))
      return i < 0 ? undefined : {routes: routes.filter((_, k) => k !== i)}
    }
    // replace: the route with this destination and metric 0 in the main table
    const kept = routes.filter(r => !(inMain(r) && normaliseDst(r.dst) === dst && (r.metric ?? 0) === 0))
    const printed = {dst: target, ...(gateway ? {gateway} : {}), dev, flags: bare.has('onlink') ? ['onlink'] : []}
    return {routes: [...kept, ...parseIpRouteJson(JSON.stringify([printed]))]}
  }
  if (object === 'neigh' && (verb === 'replace' || verb === 'del')) {
    const {target, opts, bare} = words(args, 2)
    const dev = opts.get('dev')
    if (dev === undefined || bare.size > 0) return undefined
    const kept = neighbors.filter(n => !(n.dst === target && n.dev === dev))
    if (verb === 'del') return kept.length === neighbors.length ? undefined : {neighbors: kept}
    const lladdr = opts.get('lladdr')
    if (lladdr === undefined || opts.get('nud') !== 'permanent') return undefined
    return {neighbors: [...kept, ...parseIpNeighJson(JSON.stringify([{dst: target, dev, lladdr, state: ['PERMANENT']}]))]}
  }
  return undefined
}

function fdbEffect(args: string[], fdb: FdbEntry[]): {fdb: FdbEntry[]} | undefined {
  const [object, verb] = args
  if (object !== 'fdb' || (verb !== 'replace' && verb !== 'del')) return undefined
  const {target: mac, opts, bare} = words(args, 2)
  const dev = opts.get('dev')
  const dst = opts.get('dst')
  if (dev === undefined || dst === undefined || !bare.has('self')) return undefined
  if (verb === 'del') {
    const i = fdb.findIndex(f => f.mac === mac && f.dev === dev && f.dst === dst)
    return i < 0 ? undefined : {fdb: fdb.filter((_, k) => k !== i)}
  }
  if (![...bare].every(b => b === 'self' || b === 'permanent')) return undefined
  // replace on a vxlan device changes the first remote of this MAC (or adds the MAC)
  const i = fdb.findIndex(f => f.mac === mac && f.dev === dev && f.dst !== undefined)
  const [entry] = parseBridgeFdbJson(JSON.stringify([{mac, ifname: dev, dst, flags: ['self'], state: 'permanent'}]))
  return {fdb: i < 0 ? [...fdb, entry] : fdb.map((f, k) => (k === i ? entry : f))}
}
