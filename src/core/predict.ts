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
import {inMainTable, type FdbEntry, type HostSnapshot, type Neighbor, type Route} from './model.js'
import type {Op} from './ops.js'
import {normaliseDst} from './addr.js'
import {parseBridgeFdbJson, parseIpNeighJson, parseIpRouteJson} from './parse/json.js'

/** The snapshot after `ops`, or undefined when an op is not one whose effect is modelled here. */
export function predictAfterOps(snap: HostSnapshot, ops: Op[]): HostSnapshot | undefined {
  const routes = new Table<Route>(snap.routes ?? [], r => (inMainTable(r) ? normaliseDst(r.dst) : undefined))
  const neighbors = new Table<Neighbor>(snap.neighbors ?? [], n => `${n.dst}|${n.dev}`)
  const fdb = new Table<FdbEntry>(snap.fdb ?? [], f => `${f.mac}|${f.dev}`)
  for (const op of ops) {
    const ok = op.tool === 'ip' ? ipEffect(op.args, routes, neighbors)
      : op.tool === 'bridge' && snap.fdb !== undefined ? fdbEffect(op.args, fdb)
        : false
    if (!ok) return undefined
  }
  return {
    ...snap,
    routes: routes.result(printed => parseIpRouteJson(printed)),
    neighbors: neighbors.result(printed => parseIpNeighJson(printed)),
    fdb: snap.fdb === undefined ? undefined : fdb.result(printed => parseBridgeFdbJson(printed)),
  }
}

/**
 * A table being changed op by op: entries indexed by key (thousands of ops on thousands of entries
 * must stay linear), new entries kept as what `-j` would print until they are parsed in one go.
 */
class Table<T> {
  private readonly items: ({entry: T} | {printed: object} | undefined)[]
  private readonly byKey = new Map<string, number[]>()

  constructor(entries: T[], keyOf: (e: T) => string | undefined) {
    this.items = entries.map(entry => ({entry}))
    entries.forEach((e, i) => this.index(keyOf(e), i))
  }

  private index(key: string | undefined, i: number): void {
    if (key === undefined) return
    const list = this.byKey.get(key)
    if (list) list.push(i)
    else this.byKey.set(key, [i])
  }

  /** Live entries under `key` (new ones only through `printedMatches`), in table order. */
  find(key: string, matches: (e: T) => boolean, printedMatches: (p: object) => boolean): number[] {
    return (this.byKey.get(key) ?? []).filter(i => {
      const item = this.items[i]
      return item !== undefined && ('entry' in item ? matches(item.entry) : printedMatches(item.printed))
    })
  }

  remove(indexes: number[]): void {
    for (const i of indexes) this.items[i] = undefined
  }

  add(key: string, printed: object, at?: number): void {
    if (at !== undefined) {
      this.items[at] = {printed}
      return
    }
    this.items.push({printed})
    this.index(key, this.items.length - 1)
  }

  result(parse: (json: string) => T[]): T[] {
    const printed = this.items.flatMap(item => (item && 'printed' in item ? [item.printed] : []))
    const parsed = printed.length > 0 ? parse(JSON.stringify(printed)) : []
    let next = 0
    return this.items.flatMap(item => (item === undefined ? [] : 'entry' in item ? [item.entry] : [parsed[next++]]))
  }
}

const WITH_VALUE = new Set(['via', 'dev', 'lladdr', 'nud', 'dst', 'metric'])

/** `flag VALUE` pairs of an op's words after the object and verb, and the bare flags. */
function words(args: string[], from: number): {target: string; opts: Map<string, string>; bare: Set<string>} {
  const opts = new Map<string, string>()
  const bare = new Set<string>()
  for (let i = from + 1; i < args.length; i++) {
    if (WITH_VALUE.has(args[i]) && i + 1 < args.length) opts.set(args[i], args[++i])
    else bare.add(args[i])
  }
  return {target: args[from], opts, bare}
}

/** What `ip -j route` prints for the routes flannelctl writes. */
interface PrintedRoute {dst: string; gateway?: string; dev: string; flags: string[]}

function ipEffect(args: string[], routes: Table<Route>, neighbors: Table<Neighbor>): boolean {
  const [object, verb] = args
  if (object === 'route' && (verb === 'replace' || verb === 'del')) {
    const {target, opts, bare} = words(args, 2)
    const dst = normaliseDst(target)
    const dev = opts.get('dev')
    const gateway = opts.get('via')
    if (dev === undefined || opts.has('metric') || [...bare].some(b => b !== 'onlink')) return false
    if (verb === 'del') {
      // the kernel deletes the first route that matches what the command names
      const [first] = routes.find(dst, r => r.dev === dev && (gateway === undefined || r.gateway === gateway),
        p => (p as PrintedRoute).dev === dev && (gateway === undefined || (p as PrintedRoute).gateway === gateway))
      if (first === undefined) return false
      routes.remove([first])
      return true
    }
    // replace: the route with this destination and metric 0 in the main table, else a new one
    const [first, ...rest] = routes.find(dst, r => (r.metric ?? 0) === 0, () => true)
    routes.remove(rest)
    const printed: PrintedRoute = {dst: target, ...(gateway ? {gateway} : {}), dev, flags: bare.has('onlink') ? ['onlink'] : []}
    routes.add(dst, printed, first)
    return true
  }
  if (object === 'neigh' && (verb === 'replace' || verb === 'del')) {
    const {target, opts, bare} = words(args, 2)
    const dev = opts.get('dev')
    if (dev === undefined || bare.size > 0) return false
    const key = `${target}|${dev}`
    const [first, ...rest] = neighbors.find(key, () => true, () => true)
    if (verb === 'del') {
      if (first === undefined) return false
      neighbors.remove([first, ...rest])
      return true
    }
    const lladdr = opts.get('lladdr')
    if (lladdr === undefined || opts.get('nud') !== 'permanent') return false
    neighbors.remove(rest)
    neighbors.add(key, {dst: target, dev, lladdr, state: ['PERMANENT']}, first)
    return true
  }
  return false
}

function fdbEffect(args: string[], fdb: Table<FdbEntry>): boolean {
  const [object, verb] = args
  if (object !== 'fdb' || (verb !== 'replace' && verb !== 'del')) return false
  const {target: mac, opts, bare} = words(args, 2)
  const dev = opts.get('dev')
  const dst = opts.get('dst')
  if (dev === undefined || dst === undefined || !bare.has('self')) return false
  const key = `${mac}|${dev}`
  const printedDst = (p: object) => (p as {dst: string}).dst
  if (verb === 'del') {
    const [first] = fdb.find(key, f => f.dst === dst, p => printedDst(p) === dst)
    if (first === undefined) return false
    fdb.remove([first])
    return true
  }
  if (![...bare].every(b => b === 'self' || b === 'permanent')) return false
  // replace on a vxlan device changes the first remote of this MAC (or adds the MAC)
  const [first] = fdb.find(key, f => f.dst !== undefined, () => true)
  fdb.add(key, {mac, ifname: dev, dst, flags: ['self'], state: 'permanent'}, first)
  return true
}
