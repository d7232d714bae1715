/**
 * A trace's fix, run on the world instead of the hosts: the tables as the kernel leaves them once
 * the fix's commands ran. The trace runs again on them to find what stops the packet behind the
 * first fault, and the tests hold every fix to mending the fault it was given for.
 *
 * Only the commands whose effect the tables show exactly are modelled: routes, policy rules,
 * neighbours, fdb entries, sysctls, and a filter rule's deletion. A fix with any other command (a
 * rule inserted, a link change, a sync, a read) gives no world: guessing at it would make the
 * second trace a guess.
 */
import type {FdbEntry, HostSnapshot, Neighbor, NftRuleset, PolicyRule, Route} from '../model.js'
import {inMainTable, isIPv6Route} from '../model.js'
import {parseIpRouteText} from '../parse/text.js'
import {normaliseDst} from '../addr.js'
import type {Fix, World} from './types.js'

/**
 * The world once `fixes` ran, one after another (of several ways, the recommended one, else the
 * first); undefined where a command is not modelled, or would fail on these tables (a deletion
 * that finds nothing).
 */
export function worldAfterFixes(world: World, fixes: readonly Fix[]): World | undefined {
  const hosts = new Map(world.hosts.map(h => [h.name, h]))
  for (const fix of chosenWay(fixes)) {
    const host = hosts.get(fix.node)
    // (a sync takes what the store says, which the tables do not show)
    if (host === undefined || fix.scope !== undefined || fix.sync !== undefined || fix.byHand === true) return undefined
    const after = afterCommand(host, fix.command)
    if (after === undefined) return undefined
    hosts.set(fix.node, after)
  }
  return {...world, hosts: world.hosts.map(h => hosts.get(h.name) ?? h)}
}

function chosenWay(fixes: readonly Fix[]): Fix[] {
  const ways = fixes.filter(f => f.option !== undefined)
  const way = (ways.find(f => f.option!.recommended === true) ?? ways[0])?.option?.choice
  return fixes.filter(f => f.option === undefined || f.option.choice === way)
}

/** `host` once `command` ran on it; undefined where the command is not one modelled, or fails */
function afterCommand(host: HostSnapshot, command: string): HostSnapshot | undefined {
  if (command.includes('#') || /[;&|<>`$]/.test(command)) return undefined
  const words = command.trim().split(/\s+/)
  const [program, object, verb] = words
  if (program === 'ip' && (object === 'route' || object === 'r')) return routeCommand(host, verb, words.slice(3))
  if (program === 'ip' && object === 'rule' && verb === 'del') return ruleDeleted(host, words.slice(3))
  if (program === 'ip' && (object === 'neigh' || object === 'neighbor' || object === 'neighbour')) return neighbourCommand(host, verb, words.slice(3))
  if (program === 'bridge' && object === 'fdb') return fdbCommand(host, verb, words.slice(3))
  if (program === 'sysctl' && object === '-w') return sysctlsWritten(host, words.slice(2))
  if (program === 'nft' && object === 'delete' && verb === 'rule') return nftRuleDeleted(host, words.slice(3))
  if (program === 'iptables') return iptablesRuleDeleted(host, words.slice(1))
  return undefined
}

/** the programs a firewall rule's fix runs */
const FIREWALL = '(?:iptables|ip6tables|iptables-legacy|iptables-nft|nft)'

/**
 * Whether `command` inserts or appends an accept (`-j ACCEPT`, nft's `accept`): a filter fix the
 * walks need not see run, since they go on past the drops it lets the packet by. Any other rule
 * inserted (a SNAT, a mark) changes the packet, and is not modelled.
 */
export function insertsAccept(command: string): boolean {
  return /^(?:iptables|ip6tables|iptables-legacy|iptables-nft) (?:-t filter )?-[IA] .* -j ACCEPT$/.test(command)
    || /^nft (?:insert|add) rule .* accept$/.test(command)
}

/** a filter rule's insertion or deletion: it touches nothing a route, neighbour or device fix makes, so it runs in any order with those */
export function filterCommand(command: string): boolean {
  return new RegExp(`^${FIREWALL} `).test(command) && !command.includes('#')
}

/* filter rules ------------------------------------------------------------------------------- */

/** `nft delete rule FAMILY TABLE CHAIN handle N` */
function nftRuleDeleted(host: HostSnapshot, args: string[]): HostSnapshot | undefined {
  const [family, table, chain, keyword, n] = args
  if (host.nftables === undefined || keyword !== 'handle' || args.length !== 5) return undefined
  const gone = (r: {family: string, table: string, chain: string, handle?: number}) => r.family === family && r.table === table && r.chain === chain && r.handle === Number(n)
  const edited = new Map<NftRuleset, NftRuleset>()
  for (const c of host.nftables) {
    if (c.ruleset === undefined || edited.has(c.ruleset) || !c.ruleset.rules.some(gone)) continue
    edited.set(c.ruleset, {...c.ruleset, rules: c.ruleset.rules.filter(r => !gone(r))})
  }
  if (edited.size === 0) return undefined
  return {...host, nftables: host.nftables.map(c => c.ruleset !== undefined && edited.has(c.ruleset) ? {...c, ruleset: edited.get(c.ruleset)} : c)}
}

/** `iptables [-t TABLE] -D CHAIN RULE`, the rule as iptables-save prints it (trace's fixes name it so) */
function iptablesRuleDeleted(host: HostSnapshot, args: string[]): HostSnapshot | undefined {
  const table = args[0] === '-t' ? args[1] : 'filter'
  const rest = args[0] === '-t' ? args.slice(2) : args
  if (host.iptables === undefined || rest[0] !== '-D' || rest.length < 3) return undefined
  const chain = rest[1]
  const spec = rest.slice(2).join(' ')
  const at = host.iptables.rules.findIndex(r => r.table === table && r.chain === chain && r.spec === spec)
  return at < 0 ? undefined : {...host, iptables: {...host.iptables, rules: host.iptables.rules.filter((_, i) => i !== at)}}
}

/* routes ------------------------------------------------------------------------------------ */

/** the keys the kernel tells two routes of a table apart by (fib_table_insert): prefix, tos, metric */
const sameSlot = (a: Route, b: Route) => normaliseDst(a.dst) === normaliseDst(b.dst) && (a.metric ?? 0) === (b.metric ?? 0) && sameTable(a, b)
const sameTable = (a: Route, b: Route) => ((inMainTable(a) && inMainTable(b)) || a.table === b.table) && isIPv6Route(a) === isIPv6Route(b)

function routeCommand(host: HostSnapshot, verb: string | undefined, args: string[]): HostSnapshot | undefined {
  if (host.routes === undefined || host.routesFilter !== undefined || args.length === 0) return undefined
  const route = routeOfArgs(args)
  if (route === undefined) return undefined
  const routes = host.routes
  if (verb === 'replace' || verb === 'add') {
    const at = routes.findIndex(r => sameSlot(r, route))
    if (at >= 0 && verb === 'add') return undefined
    return {...host, routes: at >= 0 ? routes.map((r, i) => i === at ? route : r) : [...routes, route]}
  }
  if (verb === 'del' || verb === 'delete') {
    // (a deletion names what it matches: every attribute given must agree, the metric only when given)
    const typed = args[0] === route.type
    const at = routes.findIndex(r => normaliseDst(r.dst) === normaliseDst(route.dst) && sameTable(r, route)
      && (!typed || r.type === route.type) && (route.gateway === undefined || r.gateway === route.gateway)
      && (route.dev === undefined || r.dev === route.dev) && (route.metric === undefined || (r.metric ?? 0) === route.metric))
    return at < 0 ? undefined : {...host, routes: routes.filter((_, i) => i !== at)}
  }
  return undefined
}

/** the route an `ip route add` with these arguments makes, as `ip route show` prints it */
function routeOfArgs(args: string[]): Route | undefined {
  let route: Route | undefined
  try {
    route = parseIpRouteText(args.join(' '))[0]
  } catch {
    return undefined
  }
  if (route === undefined) return undefined
  if (route.table === 'main' || route.table === '254') delete route.table
  // iproute2 gives a unicast route without a gateway link scope, as the kernel then prints it
  if (route.type === 'unicast' && route.gateway === undefined && route.scope === undefined) {
    route.scope = 'link'
    route.raw += ' scope link'
  }
  return route
}

/* policy rules ------------------------------------------------------------------------------- */

function ruleDeleted(host: HostSnapshot, args: string[]): HostSnapshot | undefined {
  const priority = (args[0] === 'pref' || args[0] === 'priority' || args[0] === 'preference') && args.length === 2 ? Number(args[1]) : NaN
  if (host.rules === undefined || !Number.isInteger(priority)) return undefined
  // the kernel deletes the first rule of that priority, one a command
  const at = host.rules.findIndex((r: PolicyRule) => r.priority === priority)
  return at < 0 ? undefined : {...host, rules: host.rules.filter((_, i) => i !== at)}
}

/* neighbours --------------------------------------------------------------------------------- */

function neighbourCommand(host: HostSnapshot, verb: string | undefined, args: string[]): HostSnapshot | undefined {
  const dst = args[0]
  const dev = valueAfter(args, 'dev')
  if (host.neighbors === undefined || dst === undefined || dev === undefined) return undefined
  const neighbours = host.neighbors.filter(n => !(n.dst === dst && n.dev === dev))
  if (verb === 'del' || verb === 'delete') return neighbours.length === host.neighbors.length ? undefined : {...host, neighbors: neighbours}
  if (verb !== 'replace' && verb !== 'add') return undefined
  const lladdr = valueAfter(args, 'lladdr')?.toLowerCase()
  if (verb === 'add' && neighbours.length !== host.neighbors.length) return undefined
  // (`nud` defaults to permanent for a command)
  const state = (valueAfter(args, 'nud') ?? 'permanent').toUpperCase()
  const entry: Neighbor = {dst, dev, state: [state], raw: `${dst} dev ${dev}${lladdr !== undefined ? ` lladdr ${lladdr}` : ''} ${state}`}
  if (lladdr !== undefined) entry.lladdr = lladdr
  return {...host, neighbors: [...neighbours, entry]}
}

/* fdb ---------------------------------------------------------------------------------------- */

function fdbCommand(host: HostSnapshot, verb: string | undefined, args: string[]): HostSnapshot | undefined {
  const mac = args[0]?.toLowerCase()
  const dev = valueAfter(args, 'dev')
  const dst = valueAfter(args, 'dst')
  if (host.fdb === undefined || mac === undefined || dev === undefined) return undefined
  const ofMac = (e: FdbEntry) => e.mac === mac && e.dev === dev
  const flags = args.filter(w => ['self', 'master', 'permanent', 'static', 'dynamic', 'sticky', 'router', 'extern_learn'].includes(w))
  const entry: FdbEntry = {mac, dev, flags, raw: `${mac} dev ${dev}${dst !== undefined ? ` dst ${dst}` : ''} ${flags.join(' ')}`.trimEnd()}
  if (dst !== undefined) entry.dst = dst
  const fdb = host.fdb
  switch (verb) {
    case 'replace':
      // a vxlan entry's replace changes its (first) remote: the MAC goes to `dst` alone
      return {...host, fdb: [...fdb.filter(e => !ofMac(e)), entry]}
    case 'append':
      return fdb.some(e => ofMac(e) && e.dst === dst) ? undefined : {...host, fdb: [...fdb, entry]}
    case 'add':
      return fdb.some(ofMac) ? undefined : {...host, fdb: [...fdb, entry]}
    case 'del':
    case 'delete': {
      const at = fdb.findIndex(e => ofMac(e) && (dst === undefined || e.dst === dst))
      return at < 0 ? undefined : {...host, fdb: fdb.filter((_, i) => i !== at)}
    }
    default:
      return undefined
  }
}

/* sysctls ------------------------------------------------------------------------------------ */

function sysctlsWritten(host: HostSnapshot, assignments: string[]): HostSnapshot | undefined {
  if (host.sysctls === undefined || assignments.length === 0) return undefined
  const sysctls = {...host.sysctls}
  for (const a of assignments) {
    const m = /^([\w.-]+)=(\S+)$/.exec(a)
    if (m === null) return undefined
    const key = m[1].replace(/\//g, '.')
    sysctls[key] = m[2]
    // ip_forward is conf.all.forwarding, and writing it sets every device's and the default
    // (devinet_sysctl_forward → inet_forward_change)
    if (key === 'net.ipv4.ip_forward' || key === 'net.ipv4.conf.all.forwarding') {
      for (const k of Object.keys(sysctls)) if (/^net\.ipv4\.conf\.[^.]+\.forwarding$/.test(k)) sysctls[k] = m[2]
      sysctls['net.ipv4.ip_forward'] = m[2]
      sysctls['net.ipv4.conf.all.forwarding'] = m[2]
      sysctls['net.ipv4.conf.default.forwarding'] = m[2]
    }
  }
  return {...host, sysctls}
}

function valueAfter(words: string[], key: string): string | undefined {
  const at = words.indexOf(key)
  return at >= 0 ? words[at + 1] : undefined
}
