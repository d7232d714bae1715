/**
 * A trace's fix, run on the world instead of the hosts: the tables as the kernel leaves them once
 * the fix's commands ran. The trace runs again on them to find what stops the packet behind the
 * first fault, and the tests hold every fix to mending the fault it was given for.
 *
 * Only the commands whose effect the tables show exactly are modelled: routes, policy rules,
 * neighbours, fdb entries, sysctls, an iptables rule deleted or added (an nft rule deleted), a
 * device set up or plugged into a bridge (with the carrier and the routes the kernel gives it then),
 * a bridge port's hairpin mode, and a vxlan device made anew with its MAC and addresses. A fix with
 * any other command (an nft rule added, a sync, a read) gives no world: guessing at it would make
 * the second trace a guess. An MTU's fix is not run either: traced again, the same oversized packet
 * is refused with "fragmentation needed", which is the fix working, not a fault behind it.
 */
import type {FdbEntry, HostSnapshot, Link, Neighbor, NftRuleset, PolicyRule, Route} from '../model.js'
import {hasCarrier, inMainTable, isIPv6Route, makesSubnetRoute, showsChain} from '../model.js'
import {parseIpLinkText, parseIpRouteText} from '../parse/text.js'
import {formatAddress, formatFdb, formatNeighbor} from '../parse/format.js'
import {RouteTable} from '../route-lookup.js'
import {cidrSize, cidrToString, normaliseDst, nthAddress, parseCidr} from '../addr.js'
import {vethOtherEnd} from './fixes.js'
import type {Fix, World} from './types.js'
import {WorldIndex} from './world.js'

/**
 * The world once `fixes` ran, one after another (of several ways, the recommended one, else the
 * first); undefined where a command is not modelled, or would fail on these tables (a deletion
 * that finds nothing).
 */
export function worldAfterFixes(world: World, fixes: readonly Fix[]): World | undefined {
  const hosts: Hosts = new Map(world.hosts.map(h => [h.name, h]))
  // (which veth ends are one pair: the links' indexes, which no modelled command changes)
  let pairs: WorldIndex | undefined
  for (const fix of chosenWay(fixes)) {
    const host = hosts.get(fix.node)
    // (a sync takes what the store says, which the tables do not show)
    if (host === undefined || fix.scope !== undefined || fix.sync !== undefined || fix.byHand === true) return undefined
    const link = /^ip link set (\S+) (up|master \S+)$/.exec(fix.command.trim())
    if (link !== null) {
      pairs ??= new WorldIndex(world)
      if (!linkSet(pairs, hosts, fix.node, link[1], link[2].split(' '))) return undefined
      continue
    }
    const after = afterCommand(host, fix.command)
    if (after === undefined) return undefined
    hosts.set(fix.node, after)
  }
  return {...world, hosts: world.hosts.map(h => hosts.get(h.name) ?? h)}
}

type Hosts = Map<string, HostSnapshot>

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
  if (program === 'iptables') return iptablesRuleChanged(host, words.slice(1))
  if (program === 'bridge' && object === 'link' && verb === 'set') return hairpinSet(host, words.slice(3))
  if (program === 'ip' && object === 'link' && (verb === 'del' || verb === 'delete') && words.length === 4) return vxlanDeleted(host, words[3])
  if (program === 'ip' && object === 'link' && verb === 'add') return vxlanAdded(host, words.slice(3))
  if (program === 'ip' && (object === 'addr' || object === 'address') && verb === 'add') return addressAdded(host, words.slice(3))
  return undefined
}

/** the programs a firewall rule's fix runs */
const FIREWALL = '(?:iptables|ip6tables|iptables-legacy|iptables-nft|nft)'

/**
 * Whether `command` inserts or appends an accept (`-j ACCEPT`, nft's `accept`): a filter fix the
 * walks need not see run, since they go on past the drops it lets the packet by. Any other rule
 * inserted (a masquerade, a RETURN before one) changes the packet, and is run on the tables.
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

/**
 * `iptables [-t TABLE] -D CHAIN RULE`, `-I CHAIN [N] RULE` or `-A CHAIN RULE`, the rule as
 * iptables-save prints it (trace's fixes name it so). A rule is added only to a chain the dump
 * shows whole: in a pasted `iptables -S` of other chains, where it lands among the rules is unknown.
 */
function iptablesRuleChanged(host: HostSnapshot, args: string[]): HostSnapshot | undefined {
  const table = args[0] === '-t' ? args[1] : 'filter'
  const [verb, chain, ...after] = args[0] === '-t' ? args.slice(2) : args
  const iptables = host.iptables
  if (iptables === undefined || chain === undefined) return undefined
  const position = verb === '-I' && /^[1-9]\d*$/.test(after[0] ?? '') ? Number(after.shift()) : undefined
  const spec = after.join(' ')
  if (spec === '') return undefined
  const inChain = (r: {table: string, chain: string}) => r.table === table && r.chain === chain
  if (verb === '-D') {
    const at = iptables.rules.findIndex(r => inChain(r) && r.spec === spec)
    return at < 0 ? undefined : {...host, iptables: {...iptables, rules: iptables.rules.filter((_, i) => i !== at)}}
  }
  if (verb !== '-I' && verb !== '-A') return undefined
  const covered = showsChain(iptables, table, chain)
  const known = iptables.chains.some(c => c.table === table && c.name === chain)
  // (a whole iptables-save leaves out a table with no rules: iptables makes it, its built-in chains accepting)
  const madeByIptables = iptables.covers === undefined && !iptables.chains.some(c => c.table === table) && BUILT_IN[table]?.includes(chain) === true
  if (!covered || (!known && !madeByIptables)) return undefined
  const chainRules = iptables.rules.flatMap((r, i) => inChain(r) ? [i] : [])
  // iptables refuses a position past the end + 1 ("Index of insertion too big")
  if (position !== undefined && position > chainRules.length + 1) return undefined
  const rule = {table, chain, spec, raw: `-A ${chain} ${spec}`}
  const at = verb === '-A' || (position ?? 1) > chainRules.length
    ? (chainRules.length > 0 ? chainRules[chainRules.length - 1] + 1 : iptables.rules.length)
    : chainRules[(position ?? 1) - 1]
  return {...host, iptables: {
    ...iptables,
    chains: known ? iptables.chains : [...iptables.chains, {table, name: chain, policy: 'ACCEPT'}],
    rules: [...iptables.rules.slice(0, at), rule, ...iptables.rules.slice(at)],
  }}
}

/** the chains iptables makes with each table */
const BUILT_IN: Record<string, readonly string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
}

/* links ------------------------------------------------------------------------------------- */

/**
 * `ip link set DEV up | master BRIDGE` on `node`, in `hosts`; false where the outcome is not
 * one the tables show (the links not read, a carrier that depends on a device not read).
 *
 * Set up, a device gets its carrier as the kernel gives it: a vxlan device at once, a veth when its
 * other end is up (which then gets its carrier too), a bridge when a port has one. Its subnets'
 * routes come back (the kernel removed them with the device; routes added by hand do not come
 * back), `linkdown` while it has no carrier, and a device that gets its carrier loses that flag
 * from its routes. Checked on the kernel: a bridge whose ports are all down is NO-CARRIER, and up
 * with carrier once the port of a pod whose end is up is set up.
 */
function linkSet(pairs: WorldIndex, hosts: Hosts, node: string, dev: string, [what, value]: string[]): boolean {
  const link = hosts.get(node)!.links?.find(l => l.name === dev)
  if (link === undefined) return false
  if (what === 'master') {
    const bridge = hosts.get(node)!.links?.find(l => l.name === value)
    if (bridge?.kind !== 'bridge') return false
    const raw = link.master !== undefined ? link.raw.replace(/\bmaster \S+/, `master ${value}`) : link.raw.replace(/ state /, ` master ${value} state `)
    putLink(hosts, node, {...link, master: value, raw})
    if (hasCarrier(link)) carrierGained(pairs, hosts, node, value)
    return true
  }
  if (link.up) return true
  const carrier = carrierOnceUp(pairs, hosts, node, link)
  if (carrier === undefined) return false
  putLink(hosts, node, withState({...link, up: true}, carrier))
  hosts.set(node, withAddressRoutes(hosts.get(node)!, dev, carrier))
  if (carrier) {
    if (link.kind === 'veth') {
      const other = otherEnd(pairs, hosts, node, link)
      if (other !== undefined && other.link.up && !hasCarrier(other.link)) carrierGained(pairs, hosts, other.node, other.link.name)
    }
    if (link.master !== undefined) carrierGained(pairs, hosts, node, link.master)
  }
  return true
}

/** whether a device set up has a carrier; undefined where that rests on a device not read */
function carrierOnceUp(pairs: WorldIndex, hosts: Hosts, node: string, link: Link): boolean | undefined {
  if (link.kind === 'vxlan') return true
  if (link.kind === 'bridge') return (hosts.get(node)!.links ?? []).some(l => l.master === link.name && hasCarrier(l))
  if (link.kind === 'veth') return otherEnd(pairs, hosts, node, link)?.link.up
  return undefined
}

/** a veth's other end as `hosts` has it now: in this host, or in its pod or node */
function otherEnd(pairs: WorldIndex, hosts: Hosts, node: string, link: Link): {node: string, link: Link} | undefined {
  if (link.peerIndex === undefined) return undefined
  if (link.peerHere === true) {
    const here = hosts.get(node)!.links?.find(l => l.index === link.peerIndex)
    return here === undefined ? undefined : {node, link: here}
  }
  const view = pairs.views.get(node)
  const other = view === undefined ? undefined : vethOtherEnd(pairs, view, link.index, link.peerIndex)
  const now = other === undefined ? undefined : hosts.get(other.view.name)?.links?.find(l => l.name === other.dev)
  return now === undefined ? undefined : {node: other!.view.name, link: now}
}

/** `dev` on `node`, up, gets its carrier: its routes lose `linkdown`, and a bridge it is a port of may get one too */
function carrierGained(pairs: WorldIndex, hosts: Hosts, node: string, dev: string): void {
  const link = hosts.get(node)!.links?.find(l => l.name === dev)
  if (link === undefined || !link.up || hasCarrier(link)) return
  putLink(hosts, node, withState(link, true))
  const host = hosts.get(node)!
  if (host.routes !== undefined) {
    hosts.set(node, {...host, routes: host.routes.map(r => {
      if (r.dev !== dev || r.linkdown !== true) return r
      const up = {...r, raw: r.raw.replace(/ linkdown\b/, '')}
      delete up.linkdown
      return up
    })})
  }
  if (link.master !== undefined) carrierGained(pairs, hosts, node, link.master)
}

function putLink(hosts: Hosts, node: string, link: Link): void {
  const host = hosts.get(node)!
  hosts.set(node, {...host, links: host.links!.map(l => l.name === link.name ? link : l)})
}

/** the link with its carrier as `ip link` then prints it: the flags, and the state the link watch gives it */
function withState(link: Link, carrier: boolean): Link {
  const operstate = !carrier ? 'DOWN' : link.kind === 'vxlan' ? 'UNKNOWN' : 'UP'
  const [first, ...rest] = link.raw.split('\n')
  const line = first.replace(/<([^>]*)>/, (_, flags: string) => {
    const kept = flags.split(',').filter(f => f !== '' && !['UP', 'LOWER_UP', 'NO-CARRIER'].includes(f))
    return `<${[...(link.up && !carrier ? ['NO-CARRIER'] : []), ...kept, ...(link.up ? ['UP'] : []), ...(carrier ? ['LOWER_UP'] : [])].join(',')}>`
  }).replace(/\bstate \S+/, `state ${operstate}`)
    // (set up, a virtual device gets its default qdisc: noqueue, as it sends without a queue)
    .replace(/\bqdisc noop\b/, link.up && ['vxlan', 'veth', 'bridge'].includes(link.kind) ? 'qdisc noqueue' : 'qdisc noop')
  return {...link, lowerUp: carrier, operstate, raw: [line, ...rest].join('\n')}
}

/**
 * The routes the IPv4 addresses of `dev` make: in table local (where it was read) the address's own,
 * which an address gets as it is added, and once the device is up (`carrier` is then defined) its
 * subnet's in main and the subnet's broadcast, which a device set up gets back. Checked on the
 * kernel: a vxlan device given 10.5.0.0/32 and 10.6.0.1/24 while down has the two local routes; set
 * up, 10.6.0.0/24 and the broadcast 10.6.0.255 too.
 */
function withAddressRoutes(host: HostSnapshot, dev: string, carrier: boolean | undefined, only?: string): HostSnapshot {
  if (host.routes === undefined || host.routesFilter !== undefined) return host
  const local = host.routes.some(r => r.table === 'local')
  const made: string[] = []
  for (const a of host.addresses ?? []) {
    if (a.dev !== dev || a.family !== 4 || a.peer !== undefined || (only !== undefined && a.local !== only)) continue
    const subnet = parseCidr(`${a.local}/${a.prefixlen}`)
    const down = carrier === false ? ' linkdown' : ''
    if (local) made.push(`local ${a.local} dev ${dev} table local proto kernel scope host src ${a.local}`)
    if (carrier === undefined) continue
    if (makesSubnetRoute(a)) made.push(`${cidrToString(subnet)} dev ${dev} proto kernel scope link src ${a.local}${down}`)
    if (local && a.prefixlen < 31) made.push(`broadcast ${nthAddress(subnet, cidrSize(subnet) - 1)} dev ${dev} table local proto kernel scope link src ${a.local}${down}`)
  }
  let routes = host.routes
  for (const text of made) {
    const route = routeOfArgs(text.split(' '))
    if (route !== undefined && !routes.some(r => sameSlot(r, route) && r.type === route.type)) routes = [...routes, route]
  }
  return {...host, routes}
}

/** `bridge link set dev PORT hairpin on|off`: the bridge may send a frame back out of the port it came in by */
function hairpinSet(host: HostSnapshot, args: string[]): HostSnapshot | undefined {
  const [dev, port, key, value] = args
  const link = host.links?.find(l => l.name === port)
  if (dev !== 'dev' || key !== 'hairpin' || (value !== 'on' && value !== 'off') || args.length !== 4 || link?.master === undefined) return undefined
  const on: Link = {...link, raw: link.raw.replace(/\bhairpin (?:on|off)\b/, `hairpin ${value}`)}
  if (value === 'on') on.hairpin = true
  else delete on.hairpin
  return {...host, links: host.links!.map(l => l === link ? on : l)}
}

/**
 * `ip link del DEV` of a vxlan device (a trace's fix deletes no other kind): its addresses, routes,
 * neighbours and fdb entries go with it.
 */
function vxlanDeleted(host: HostSnapshot, dev: string): HostSnapshot | undefined {
  const {links, addresses, routes, neighbors, fdb} = host
  if (links?.find(l => l.name === dev)?.kind !== 'vxlan' || addresses === undefined || routes === undefined || neighbors === undefined || fdb === undefined) return undefined
  return {...host, links: links.filter(l => l.name !== dev), addresses: addresses.filter(a => a.dev !== dev),
    routes: routes.filter(r => r.dev !== dev), neighbors: neighbors.filter(n => n.dev !== dev), fdb: fdb.filter(e => e.dev !== dev)}
}

/**
 * `ip link add NAME address MAC [mtu N] type vxlan id ID [local A] [dev D] dstport P [nolearning]`,
 * the device as `ip -d link` prints it, down. Without `address` the kernel draws a MAC, which the
 * peers' entries cannot name: not modelled.
 */
function vxlanAdded(host: HostSnapshot, args: string[]): HostSnapshot | undefined {
  const [name, ...rest] = args
  if (host.links === undefined || name === undefined || host.links.some(l => l.name === name)) return undefined
  const given = new Map<string, string>()
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === 'nolearning' || rest[i] === 'learning') given.set('learning', rest[i])
    else if (['address', 'mtu', 'type', 'id', 'local', 'dev', 'dstport'].includes(rest[i]) && rest[i + 1] !== undefined) given.set(rest[i], rest[++i])
    else return undefined
  }
  const mac = given.get('address')
  if (given.get('type') !== 'vxlan' || mac === undefined || given.get('id') === undefined) return undefined
  // the kernel's MTU: the underlay's less the 50 bytes of encapsulation, 1450 without one
  const under = given.get('dev') === undefined ? undefined : host.links.find(l => l.name === given.get('dev'))
  const mtu = given.get('mtu') ?? String((under?.mtu ?? 1500) - 50)
  const index = Math.max(0, ...host.links.map(l => l.index ?? 0)) + 1
  const opt = (key: string) => given.has(key) ? ` ${key} ${given.get(key)}` : ''
  const text = `${index}: ${name}: <BROADCAST,MULTICAST> mtu ${mtu} qdisc noop state DOWN mode DEFAULT group default qlen 1000\n`
    + `    link/ether ${mac.toLowerCase()} brd ff:ff:ff:ff:ff:ff\n`
    + `    vxlan id ${given.get('id')}${opt('local')}${opt('dev')} srcport 0 0 dstport ${given.get('dstport') ?? 8472}${given.get('learning') === 'nolearning' ? ' nolearning' : ''} ttl auto ageing 300`
  const link = parseIpLinkText(text)[0]
  return link === undefined ? undefined : {...host, links: [...host.links, link]}
}

/** `ip addr add A/P dev DEV`: the address, and the routes it makes (see withAddressRoutes), not those of the device's other addresses */
function addressAdded(host: HostSnapshot, args: string[]): HostSnapshot | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(args[0] ?? '')
  const link = host.links?.find(l => l.name === args[2])
  if (m === null || args[1] !== 'dev' || args.length !== 3 || link === undefined || host.addresses === undefined) return undefined
  if (host.addresses.some(a => a.dev === link.name && a.local === m[1])) return undefined
  const fields = {dev: link.name, family: 4 as const, local: m[1], prefixlen: Number(m[2]), scope: 'global'}
  const address = {...fields, raw: formatAddress(fields)}
  const carrier = link.up ? hasCarrier(link) : undefined
  return withAddressRoutes({...host, addresses: [...host.addresses, address]}, link.name, carrier, address.local)
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
    // the kernel refuses a gateway no connected route reaches ("Nexthop has invalid gateway"), unless onlink
    if (route.gateway !== undefined && route.onlink !== true && !isIPv6Route(route)
      && new RouteTable(routes, route.table ?? 'main').connectedRoute(route.gateway, route.dev) === undefined) return undefined
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
  const fields: Omit<Neighbor, 'raw'> = {dst, dev, state: [state], ...(lladdr !== undefined ? {lladdr} : {})}
  const entry: Neighbor = {...fields, raw: formatNeighbor(fields)}
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
  const fields: Omit<FdbEntry, 'raw'> = {mac, dev, flags, ...(dst !== undefined ? {dst} : {})}
  const entry: FdbEntry = {...fields, raw: formatFdb(fields)}
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
