/** Routing as the trace walks it: null routes, the policy rules (PolicyRouter), and route helpers. */
import {tableOf, type PolicyRule, type Route} from '../model.js'
import {cidrContains, ipToInt, normaliseDst, parseCidr} from '../addr.js'
import {RouteTable} from '../route-lookup.js'
import {type EphemeralRange, ephemeralPortNeeds, ephemeralPorts, ephemeralPortSettledBy, rangesCover, type Tri} from './iptables.js'

export {RouteTable, tableOf}

/** Route types that end the packet where it is. */
export const NULL_ROUTE_TYPES = new Set(['blackhole', 'unreachable', 'prohibit'])

export function isDefaultRoute(r: Route): boolean {
  return normaliseDst(r.dst) === 'default'
}

/** `ip route` prints a host route without `/32`; fixes name the prefix the way users type it. */
export function routeDstText(r: Route): string {
  const d = normaliseDst(r.dst)
  return d.endsWith('/32') ? d.slice(0, -3) : d
}

/**
 * The command that deletes exactly `r`: a null route by its type, a route through a nexthop object
 * by the object (the kernel holds it as unicast whatever it prints, and matches no type nor gateway
 * against it), else by its gateway; in its own table when that is not main.
 */
export function routeDelCommand(r: Route): string {
  const words = ['ip route del']
  if (r.nhid === undefined && r.type !== 'unicast') words.push(r.type)
  words.push(routeDstText(r))
  if (r.nhid !== undefined) words.push('nhid', String(r.nhid))
  else if (r.gateway !== undefined) words.push('via', r.gateway)
  if (tableOf(r) !== 'main') words.push('table', tableOf(r))
  return words.join(' ')
}

/**
 * The command that takes `r`'s `mtu` metric off. A route through a nexthop object keeps its
 * metrics across a `change` that names none, and refuses a gateway beside the object: `mtu 0`
 * clears it (checked on 6.x kernels).
 */
export function routeMtuClearCommand(r: Route): string {
  const table = tableOf(r) !== 'main' ? ` table ${tableOf(r)}` : ''
  if (r.nhid !== undefined) return `ip route change ${routeDstText(r)} nhid ${r.nhid}${r.metric !== undefined ? ` metric ${r.metric}` : ''} mtu 0${table}`
  return `ip route change ${r.raw.split('\n')[0].replace(/\s+mtu( lock)? \d+/, '').trim()}`
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
  return table.deviceOf(r)
}

/** What a policy lookup decides for a flow (fib_rules_lookup). */
export interface Flow {
  dst: string
  src: string
  /** the receiving device; `lo` for a locally sent packet (the kernel's flowi_iif) */
  iif: string
  /**
   * the device a locally sent packet is bound to (the kernel's flowi_oif): a vxlan fdb entry's
   * `via`; only routes out of it count. Undefined: none, or (without `oifKnown`) a socket the
   * tables cannot tell about
   */
  oif?: string
  /** the flow's oif is known (undefined: surely none), as for the outer vxlan packet and an ICMP error */
  oifKnown?: boolean
  proto?: string
  sport?: number
  dport?: number
  /** the packet's mark, when MARK rules gave it one the tracer could follow; 0 when absent */
  mark?: number
  /** which port is the client's ephemeral one, known only by its range (PacketFacts.ephemeral) */
  ephemeral?: 'sport' | 'dport'
  /** that range: the client's net.ipv4.ip_local_port_range; undefined: the default */
  ephemeralRange?: EphemeralRange
  /** why the packet's source port is not known (the outer vxlan packet's, hashed from the inner flow) */
  sportDoubt?: string
  /** why the packet's mark is not known (a MARK rule that may match, iptables not captured); undefined: it is `mark` */
  markDoubt?: () => string | undefined
}

export interface PolicyResult {
  /** the route found (unicast, or a null route that ends the lookup) */
  route?: Route
  /** the rule that decided: its lookup found `route`, or its action ended the lookup */
  rule?: PolicyRule
  /** the table `route` came from */
  table?: string
  /** a blackhole/unreachable/prohibit rule ended the lookup */
  action?: 'blackhole' | 'unreachable' | 'prohibit'
  /** a matching rule looks up a table whose routes were not captured: the answer is unknown */
  missingTable?: string
  /** assumptions the answer rests on */
  notes: string[]
}

/** `from all lookup main` at 32766, the kernel's own: naming it says nothing. */
export function isDefaultRule(r: PolicyRule): boolean {
  return r.action === 'lookup' && r.table === 'main' && !r.not && r.from === undefined && r.to === undefined && r.iif === undefined
    && r.oif === undefined && !r.l3mdev && r.fwmark === undefined && r.tos === undefined && r.ipproto === undefined && r.sport === undefined
    && r.dport === undefined && r.other === undefined && r.suppressPrefixlength === undefined && r.suppressIfgroup === undefined
}

const PROTO_NUMBERS: Record<string, string> = {icmp: '1', tcp: '6', udp: '17'}

function inPrefix(prefix: string, ip: string): boolean {
  try {
    return cidrContains(parseCidr(prefix), ipToInt(ip))
  } catch {
    return false // an IPv6 selector never matches an IPv4 flow
  }
}

function prefixlenOf(r: Route): number {
  const d = normaliseDst(r.dst)
  return d === 'default' ? 0 : parseCidr(d).prefixlen
}

/**
 * The kernel's policy routing (fib_rules_lookup with fib4_rule_action): rules by priority, each
 * rule's selectors matched against the flow (inverted by `not`); goto jumps to the rule of that
 * priority, nop goes on; blackhole/unreachable/prohibit end the lookup; a lookup whose table has no
 * route for the destination, or a `throw` route, goes on to the next rule, as does a route the
 * rule's suppress_prefixlength suppresses; a null route in the table ends the lookup.
 */
export class PolicyRouter {
  private readonly rules: PolicyRule[]
  private readonly tables = new Map<string, RouteTable>()
  /** 'all': every table was read (`ip route show table all`); else the tables seen in the routes */
  private readonly read: 'all' | Set<string>

  /**
   * `vrfPorts`: the VRF devices and their ports (an l3mdev rule matches a flow through one of
   * them); undefined when the links were not read, or some are of a kind the reader does not know
   */
  constructor(private readonly routes: Route[], rules: PolicyRule[], private readonly main: RouteTable, private readonly vrfPorts?: Set<string>) {
    this.rules = [...rules].sort((a, b) => a.priority - b.priority)
    const seen = new Set(routes.map(tableOf))
    this.read = seen.has('local') ? 'all' : new Set([...seen, 'main'])
  }

  /** Only the kernel's own rules (local, main, default): the main table decides, as without rules. */
  get onlyDefaultRules(): boolean {
    return this.rules.every(r => r.action === 'lookup' && r.other === undefined && !r.l3mdev && r.suppressPrefixlength === undefined
      && ((r.priority === 0 && r.table === 'local') || isDefaultRule(r) || (r.priority === 32767 && r.table === 'default' && r.from === undefined && r.to === undefined && r.iif === undefined && r.fwmark === undefined)))
  }

  /** The table's routes, an empty table when it was read and is empty, undefined when not read. */
  private table(name: string): RouteTable | undefined {
    if (name === 'main') return this.main
    if (this.read !== 'all' && !this.read.has(name)) return undefined
    let t = this.tables.get(name)
    if (!t) this.tables.set(name, t = new RouteTable(this.routes, name))
    return t
  }

  lookup(flow: Flow): PolicyResult {
    const split: PolicyRule[] = []
    const taken = this.walk(flow, new Map(), split)
    // a rule on the client's port that holds part of its range sends some connections elsewhere: said where that differs
    for (const r of split.slice(0, 4)) {
      const other = this.walk(flow, new Map([[r, true]]), [])
      if (!sameWay(taken, other)) taken.notes.push(clientPortNote(r, flow, taken, other))
    }
    return taken
  }

  /**
   * One walk of the rules. `inside` decides the rules whose ports hold part of the client's range
   * (the port taken as inside them, or not); one it does not name is taken as outside and added to `split`.
   */
  private walk(flow: Flow, inside: ReadonlyMap<PolicyRule, boolean>, split: PolicyRule[]): PolicyResult {
    const notes: string[] = []
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i]
      if (!this.matches(r, flow, notes, inside, split)) continue
      if (r.action === 'goto') {
        const target = this.rules.findIndex(x => x.priority === r.goto)
        // the kernel goes on from the target, which is matched in turn; no target: the rule is skipped
        if (target > i) i = target - 1
        continue
      }
      if (r.action === 'nop') continue
      if (r.action !== 'lookup') return {rule: r, action: r.action, notes}
      // local delivery (the local table) is decided before the trace routes a packet
      if (r.table === 'local') continue
      const t = this.table(r.table ?? 'main')
      if (t === undefined) return {rule: r, missingTable: r.table, notes}
      const route = t.lookup(flow.dst, flow.oif)
      if (route === undefined || route.type === 'throw') continue
      if (!NULL_ROUTE_TYPES.has(route.type)) {
        if (r.suppressPrefixlength !== undefined && prefixlenOf(route) <= r.suppressPrefixlength) continue
        if (r.suppressIfgroup !== undefined) notes.push(`the device group of ${route.dev ?? 'the route\'s device'} was not captured: assumed \`${r.raw}\` does not suppress \`${route.raw}\` (suppress_ifgroup)`)
      }
      return {route, rule: r, table: r.table ?? 'main', notes}
    }
    return {notes}
  }

  /** fib_rule_match: every selector must match, `not` inverts the answer. Undecidable ones are noted when they decide. */
  private matches(r: PolicyRule, flow: Flow, notes: string[], inside: ReadonlyMap<PolicyRule, boolean>, split: PolicyRule[]): boolean {
    if (r.detached) return r.not === true
    const decided: Tri[] = [
      r.iif === undefined || r.iif === flow.iif,
      // a forwarded packet's flow has no oif, nor has a locally sent one unless its socket is bound
      r.oif === undefined || r.oif === flow.oif,
      r.from === undefined || inPrefix(r.from, flow.src),
      r.to === undefined || inPrefix(r.to, flow.dst),
      // the traced packet carries TOS 0
      r.tos === undefined || r.tos === 0,
      r.ipproto === undefined || (flow.proto !== undefined && (PROTO_NUMBERS[flow.proto] ?? flow.proto) === (PROTO_NUMBERS[r.ipproto] ?? r.ipproto)),
      portSelector(r.sport, flow, 'sport'),
      portSelector(r.dport, flow, 'dport'),
    ]
    const undecided = decided.indexOf('unknown')
    if (undecided !== -1) {
      // the client's port decides only where every other selector matches; else the rule does not, whatever the port
      const alone = decided.every((x, k) => x === true || k === undecided)
      if (alone && !inside.has(r)) split.push(r)
      decided[undecided] = alone && inside.get(r) === true
    }
    const rest = decided.every(x => x === true)
    let mark = true
    if (r.fwmark !== undefined) {
      // a packet's mark starts at 0 unless a MARK rule set it; ((rule mark ^ mark) & mask) must be 0
      const carried = flow.mark ?? 0
      mark = (((r.fwmark ^ carried) & (r.fwmask ?? 0xffffffff)) >>> 0) === 0
      const doubt = rest ? flow.markDoubt?.() : undefined
      if (doubt !== undefined) notes.push(`packet mark unknown (${doubt}): assumed ${carried === 0 ? '0' : `0x${carried.toString(16)}`}, so \`${r.raw}\` ${mark !== (r.not === true) ? 'applies' : 'does not apply'}`)
    }
    if (r.sport !== undefined && flow.sportDoubt !== undefined && mark && decided.every((x, k) => x === true || k === 6)) {
      // only the source port decides, and it is not known: taken as outside the range, said so
      notes.push(`\`${r.raw}\`: ${flow.sportDoubt}: assumed it is outside ${r.sport[0]}-${r.sport[1]}, so the rule ${r.not ? 'applies' : 'does not apply'} (\`ip route get ${flow.dst}${flow.src !== '0.0.0.0' ? ` from ${flow.src}` : ''} ipproto ${flow.proto ?? 'udp'} sport PORT${flow.dport !== undefined ? ` dport ${flow.dport}` : ''}\` with the port tcpdump shows tells)`)
      return r.not === true
    }
    if (r.l3mdev && rest && mark) {
      // l3mdev_fib_rule_match: only a flow in or out of a VRF (its device or a port of it) matches
      const vrf = this.vrfPorts
      if (vrf !== undefined && !vrf.has(flow.iif) && (flow.oif === undefined || !vrf.has(flow.oif))) return r.not === true
      notes.push(`\`${r.raw}\`: ${vrf === undefined ? 'the links were not all read, so whether the flow passes a VRF' : 'the VRF\'s table'} cannot be decided: assumed the rule does not match (\`ip -d link show type vrf\` and \`ip route get ${flow.dst}${flow.iif !== 'lo' ? ` iif ${flow.iif}` : ''}${flow.oif !== undefined ? ` oif ${flow.oif}` : ''}\` tell)`)
      return r.not === true
    }
    if (r.other !== undefined && rest && mark) {
      notes.push(`\`${r.raw}\`: ${r.other.join(', ')} cannot be decided from the tables read: assumed the rule does not match`)
      return r.not === true
    }
    if (r.oif !== undefined && rest === false && decided.filter(x => x !== true).length === 1 && flow.iif === 'lo' && !flow.oifKnown) {
      notes.push(`\`${r.raw}\`: assumed the sending socket is not bound to ${r.oif} (SO_BINDTODEVICE), so the rule does not match`)
    }
    const m = rest && mark
    return r.not ? !m : m
  }
}

/** A rule's `sport`/`dport` selector against the flow: by the client's range where that port is its ephemeral one. */
function portSelector(range: [number, number] | undefined, flow: Flow, field: 'sport' | 'dport'): Tri {
  if (range === undefined) return true
  if (flow.ephemeral === field) return rangesCover([range], ephemeralPorts(flow.ephemeralRange))
  const port = flow[field] ?? 0
  return port >= range[0] && port <= range[1]
}

/** Two lookups send the packet the same way: the same route, or routes alike in where and how they send it (another table's copy). */
function sameWay(a: PolicyResult, b: PolicyResult): boolean {
  if (a.action !== b.action || a.missingTable !== b.missingTable) return false
  if (a.route === b.route) return true
  const [x, y] = [a.route, b.route]
  return x !== undefined && y !== undefined && x.type === y.type && x.gateway === y.gateway && x.dev === y.dev && x.nhid === y.nhid && x.mtu === y.mtu
}

function outcomeText(res: PolicyResult): string {
  if (res.action !== undefined) return `the rule \`${res.rule!.raw}\`'s ${res.action}`
  if (res.missingTable !== undefined) return `table ${res.missingTable}, whose routes were not captured`
  if (res.route === undefined) return 'no route'
  const line = res.route.raw.split('\n')[0]
  return `\`${line}\`${res.table !== undefined && res.table !== 'main' && !/\btable\s/.test(line) ? ` (table ${res.table})` : ''}`
}

/** The ASSUMED words for a rule on part of the client's port range: the way taken, and the other. */
function clientPortNote(r: PolicyRule, flow: Flow, taken: PolicyResult, other: PolicyResult): string {
  const field = flow.ephemeral!
  const [a, b] = r[field]!
  const [lo, hi] = ephemeralPorts(flow.ephemeralRange)
  const share = Math.min(b, hi) - Math.max(a, lo) + 1
  return `\`${r.raw}\` tests the packet's ${field === 'sport' ? 'source' : 'destination'} port, ${ephemeralPortNeeds(flow.ephemeralRange)}; ${share} of its ${hi - lo + 1} ports are in ${a}-${b}: ` +
    `assumed it is outside, so the rule ${r.not ? 'applies' : 'does not apply'} and the packet takes ${outcomeText(taken)}; from a port in ${a}-${b} it takes ${outcomeText(other)} ` +
    `(\`${ephemeralPortSettledBy(flow.ephemeralRange)}\` on ${flow.ephemeralRange?.natBy?.node ?? 'the client'} shows the port)`
}
