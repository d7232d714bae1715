/**
 * One host's tables, indexed for the questions a trace asks ("which address is mine", "which
 * neighbour entry for this next hop", "which fdb entry for this MAC"). Every index is built on
 * first use, so a trace over a 1000-host world pays only for the hosts the packet visits.
 * A table the snapshot lacks stays `undefined`: unknown, never empty.
 */
import type {Address, FdbEntry, HostSnapshot, Link, Neighbor, Route} from '../model.js'
import {USABLE_NEIGH_STATES, capturedFor, hasCarrier, tableOf} from '../model.js'
import {type Cidr, cidrContains, ipToInt, isIPv4, maskOf, parseCidr} from '../addr.js'
import {NULL_ROUTE_TYPES, PolicyRouter, RouteTable, isDefaultRule, localRoutePrefixes, routeDevice, type Flow, type PolicyResult} from './routes.js'
import {RuleSet, type PacketFacts} from './iptables.js'
import {HookStages} from './nft.js'

const ZERO_MAC = '00:00:00:00:00:00'

export type NeighbourUse = 'usable' | 'unusable'

export function neighbourUse(n: Neighbor): NeighbourUse {
  const usable = n.lladdr !== undefined && n.state.some(s => (USABLE_NEIGH_STATES as readonly string[]).includes(s.toUpperCase()))
  return usable ? 'usable' : 'unusable'
}

function isSecondary(a: Address): boolean {
  return /\bsecondary\b/.test(a.raw)
}

/**
 * `flow` from `src`, every field set: the flows a trace looks up come in many shapes, and a copy
 * made field by field costs less than a spread of each.
 */
export function fromAddress(flow: Omit<Flow, 'src'>, src: string): Flow {
  return {
    dst: flow.dst, src, iif: flow.iif, oif: flow.oif, oifKnown: flow.oifKnown, proto: flow.proto, sport: flow.sport, dport: flow.dport,
    mark: flow.mark, sportDoubt: flow.sportDoubt, markDoubt: flow.markDoubt,
  }
}

/** A sysctl's value as a number; undefined when not read or not a number. */
function asNumber(v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v.trim())
  return Number.isFinite(n) ? n : undefined
}

function broadcastOf(a: Address): number {
  return (ipToInt(a.local) | ~maskOf(a.prefixlen)) >>> 0
}

/** each address's subnet, read once (null: the address cannot be read as one) */
const subnetOfAddress = new WeakMap<Address, Readonly<Cidr> | null>()

/** Whether `ip` is in the subnet of address `a` (false where either cannot be read). */
function inSubnetOf(ip: string, a: Address): boolean {
  let subnet = subnetOfAddress.get(a)
  if (subnet === undefined) {
    try {
      subnet = parseCidr(`${a.local}/${a.prefixlen}`)
    } catch {
      subnet = null
    }
    subnetOfAddress.set(a, subnet)
  }
  if (subnet === null) return false
  try {
    return cidrContains(subnet, ipToInt(ip))
  } catch {
    return false
  }
}

export class HostView {
  private linkMap?: Map<string, Link>
  private linkIndexMap?: Map<number, Link>
  private addrByDev?: Map<string, Address[]>
  private addrByIp?: Map<string, Address>
  private ipv4List?: Address[]
  private routeTable?: RouteTable
  private policyRouter?: PolicyRouter
  private rulesUnreadNote?: string[]
  private localPrefixes?: {base: number, prefixlen: number}[]
  /** the broadcast address of each of this host's subnets */
  private directedBroadcasts?: Set<number> | 'unreadable'
  /** device -> address -> entry */
  private neighMap?: Map<string, Map<string, Neighbor>>
  /** sysctl's answers, a miss (null) included: a trace asks a host the same keys at every packet */
  private readonly sysctlAnswers = new Map<string, string | null>()
  /** devConf's answers: name -> device -> value (null: not read) */
  private readonly devConfAnswers = new Map<string, Map<string, string | null>>()
  /** device -> MAC (lower case) -> entries */
  private fdbMap?: Map<string, Map<string, FdbEntry[]>>
  private ruleSet?: RuleSet
  private hookStages?: HookStages
  private zoneRules?: boolean

  /** the snapshot's name, kept: asked at every step, and a snapshot read lazily is slow to ask */
  readonly name: string

  constructor(readonly snap: HostSnapshot) {
    this.name = snap.name
  }

  // ---- links

  get hasLinks(): boolean {
    return this.snap.links !== undefined
  }

  link(name: string): Link | undefined {
    if (!this.linkMap) {
      this.linkMap = new Map()
      for (const l of this.snap.links ?? []) this.linkMap.set(l.name, l)
    }
    return this.linkMap.get(name)
  }

  linkByIndex(index: number): Link | undefined {
    if (!this.linkIndexMap) {
      this.linkIndexMap = new Map()
      for (const l of this.snap.links ?? []) if (l.index !== undefined) this.linkIndexMap.set(l.index, l)
    }
    return this.linkIndexMap.get(index)
  }

  /**
   * Whether the links read tell what kind of device `dev` is (a bridge, a veth, …): not when they were
   * not captured, pasted for other devices only, or known from the address table alone.
   */
  linkKindKnown(dev: string): boolean {
    if (this.snap.linkKindsUnknown === true) return false
    return this.link(dev) !== undefined || (this.hasLinks && this.snap.linksOfSomeDevicesOnly !== true)
  }

  vxlanLinks(): Link[] {
    return (this.snap.links ?? []).filter(l => l.kind === 'vxlan' && l.vxlan !== undefined)
  }

  /** undefined when the link table was not captured or does not list the device */
  deviceDown(dev: string): boolean | undefined {
    const l = this.link(dev)
    if (l === undefined) return undefined
    return !hasCarrier(l)
  }

  // ---- addresses

  get hasAddresses(): boolean {
    return this.snap.addresses !== undefined
  }

  private indexAddresses(): void {
    this.addrByDev = new Map()
    this.addrByIp = new Map()
    for (const a of this.snap.addresses ?? []) {
      if (a.family !== 4) continue
      const list = this.addrByDev.get(a.dev)
      if (list) list.push(a)
      else this.addrByDev.set(a.dev, [a])
      if (!this.addrByIp.has(a.local)) this.addrByIp.set(a.local, a)
    }
    // Primary addresses first: that is the order the kernel picks a source from.
    for (const list of this.addrByDev.values()) list.sort((x, y) => Number(isSecondary(x)) - Number(isSecondary(y)))
  }

  ipv4On(dev: string): Address[] {
    if (!this.addrByDev) this.indexAddresses()
    return this.addrByDev!.get(dev) ?? []
  }

  /** False when this host cannot have `ip` (see HostSnapshot.mayHoldAddress); true means "look". */
  mayHoldAddress(ip: string): boolean {
    return this.snap.mayHoldAddress?.(ip) ?? true
  }

  ipv4Addresses(): readonly Address[] {
    this.ipv4List ??= (this.snap.addresses ?? []).filter(a => a.family === 4)
    return this.ipv4List
  }

  ownAddress(ip: string): Address | undefined {
    if (!this.addrByIp) this.indexAddresses()
    return this.addrByIp!.get(ip)
  }

  /**
   * What kind of frame carries a packet for `ip` (`-m pkttype`): multicast for 224.0.0.0/4,
   * broadcast for 255.255.255.255 or the broadcast address of one of this host's subnets.
   */
  frameKindFor(ip: string): 'unicast' | 'broadcast' | 'multicast' {
    const n = ipToInt(ip)
    if (n >>> 28 === 0xe) return 'multicast'
    if (n === 0xffffffff) return 'broadcast'
    if (this.directedBroadcasts === undefined) {
      try {
        this.directedBroadcasts = new Set(this.ipv4Addresses().filter(a => a.prefixlen < 31).map(broadcastOf))
      } catch {
        // an address that is none: asked one by one, as it would fail where a packet meets it
        this.directedBroadcasts = 'unreadable'
      }
    }
    const directed = this.directedBroadcasts === 'unreadable' ? this.ipv4Addresses().some(a => a.prefixlen < 31 && broadcastOf(a) === n) : this.directedBroadcasts.has(n)
    return directed ? 'broadcast' : 'unicast'
  }

  /** The kernel's local table: own addresses, 127/8 and `local` routes. */
  isLocal(ip: string): boolean {
    if (ip.startsWith('127.')) return true
    if (this.ownAddress(ip)) return true
    this.localPrefixes ??= localRoutePrefixes(this.snap.routes ?? [])
    if (this.localPrefixes.length === 0) return false
    const n = ipToInt(ip)
    return this.localPrefixes.some(c => cidrContains(c, n))
  }

  /** The device of `ip`'s route in the local table: the device holding the address, lo for 127/8; undefined for another local route. */
  localDevice(ip: string): string | undefined {
    return ip.startsWith('127.') ? 'lo' : this.ownAddress(ip)?.dev
  }

  /**
   * inet_select_addr: a primary address of `dev` in the same subnet as `near` when there is one,
   * else its first primary address.
   */
  deviceAddress(dev: string, near?: string): string | undefined {
    const list = this.ipv4On(dev).filter(a => !a.local.startsWith('127.'))
    if (list.length === 0) return undefined
    if (near !== undefined) {
      const same = list.find(a => inSubnetOf(near, a))
      if (same) return same.local
    }
    return list[0].local
  }

  /**
   * The address the kernel falls back to when the device has none (a Calico veth): the first
   * global-scope address in device order.
   */
  firstGlobalAddress(): string | undefined {
    const addrs = this.ipv4Addresses().filter(a => (a.scope ?? 'global') === 'global' && !a.local.startsWith('127.'))
    if (addrs.length === 0) return undefined
    const order = (a: Address) => this.link(a.dev)?.index ?? Number.MAX_SAFE_INTEGER
    return [...addrs].sort((a, b) => order(a) - order(b))[0].local
  }

  /** Source address for a packet this host sends by `route` towards `dst`. */
  sourceFor(route: Route, dst: string): string | undefined {
    if (route.src !== undefined && isIPv4(route.src)) return route.src
    const dev = route.dev
    if (dev !== undefined) {
      const a = this.deviceAddress(dev, route.gateway ?? dst)
      if (a !== undefined) return a
    }
    return this.firstGlobalAddress()
  }

  /** The address of `dev` whose subnet holds `ip`: `ip` is on that device's segment. */
  addressCovering(dev: string, ip: string): Address | undefined {
    return this.ipv4On(dev).find(a => a.prefixlen < 32 && inSubnetOf(ip, a))
  }

  /** The device's address in the subnet that contains `ip`, i.e. the interface facing that segment. */
  deviceFacing(ip: string): Address | undefined {
    return this.ipv4Addresses().find(a => !a.local.startsWith('127.') && inSubnetOf(ip, a))
  }

  // ---- routes

  /** The path MTU this host learned for `dst` out of `dev` (a route exception of `ip route show cache`). */
  learnedPathMtu(dst: string, dev: string): Route | undefined {
    return this.snap.pmtuCache?.find(r => r.dst === `${dst}/32` && (r.dev === undefined || r.dev === dev))
  }

  get routes(): RouteTable | undefined {
    if (this.snap.routes === undefined) return undefined
    this.routeTable ??= new RouteTable(this.snap.routes)
    return this.routeTable
  }

  /**
   * The routes behind the policy rules, when the rules were captured; undefined without them (the
   * kernel's default rules: the main table decides, as `routes`).
   */
  get policy(): PolicyRouter | undefined {
    if (this.snap.routes === undefined || this.snap.rules === undefined) return undefined
    this.policyRouter ??= new PolicyRouter(this.snap.routes, this.snap.rules, this.routes!, this.vrfPorts())
    return this.policyRouter
  }

  /**
   * Rules not captured: the kernel's default rules stand in, which is a guess, said as a note. The
   * routes may show a table only a policy rule looks up (table 100 of `table all`); a rule with an
   * action and no table (`prohibit`, `unreachable`, `blackhole`) leaves no trace in them at all, so
   * the guess is said whether or not they show one. [] where the rules were read.
   */
  private unreadRules(): string[] {
    if (this.rulesUnreadNote === undefined) {
      const extra = this.snap.rules !== undefined ? [] : [...new Set((this.snap.routes ?? []).map(tableOf))].filter(t => !['local', 'main', 'default'].includes(t))
      this.rulesUnreadNote = this.snap.rules !== undefined ? []
        : extra.length > 0 ? [`the routes of ${this.name} hold ${extra.length === 1 ? `table ${extra[0]}, which only a policy rule looks up` : `tables ${extra.join(', ')}, which only policy rules look up`}, and its rules were not captured: assumed the kernel's default rules (table main decides; \`ip rule show\` on ${this.name} tells)`]
          : [`the rules of ${this.name} were not captured: assumed the kernel's default rules alone (table main decides), no rule of its own ahead of them (a prohibit, unreachable or blackhole rule, which the routes do not show; \`ip rule show\` on ${this.name} tells)`]
    }
    return this.rulesUnreadNote
  }

  /** Whether `note` of a route lookup is the guess made for want of this host's rules (unreadRules) */
  isRulesUnreadNote(note: string): boolean {
    return this.rulesUnreadNote?.includes(note) === true
  }

  /** VRF devices and their ports; undefined when the links were not read or a kind is unknown ('other' may be a VRF) */
  private vrfPorts(): Set<string> | undefined {
    const links = this.snap.links
    if (links === undefined || links.some(l => l.kind === 'other')) return undefined
    const vrfs = new Set(links.filter(l => l.kind === 'vrf').map(l => l.name))
    return new Set([...vrfs, ...links.filter(l => l.master !== undefined && vrfs.has(l.master)).map(l => l.name)])
  }

  /**
   * The route the kernel picks for a flow (ip_route_input; iif `lo` for a packet this host sends):
   * the main table's when only the kernel's own rules exist or none were captured, else what the
   * policy rules decide. `rule` is set only when a rule other than `from all lookup main` decided;
   * `byRules` says the rules were walked. No route either when the routes were not captured.
   */
  routeFor(flow: Flow): PolicyResult & {byRules: boolean, boundOnLink?: true} {
    const policy = this.policy
    let res: PolicyResult & {byRules: boolean, boundOnLink?: true} = policy === undefined || policy.onlyDefaultRules
      ? {route: this.routes?.lookup(flow.dst, flow.oif), notes: policy === undefined ? this.unreadRules() : [], byRules: false}
      : {...policy.lookup(flow), byRules: true}
    // a `throw` route sends the lookup on to the next rule, `lookup default` (empty unless read otherwise):
    // the packet is unroutable there, "network unreachable", not stopped by the throw itself
    if (res.route?.type === 'throw') res = policy !== undefined ? {...policy.lookup(flow), byRules: false} : {notes: res.notes, byRules: false}
    if (res.rule !== undefined && isDefaultRule(res.rule)) res.rule = undefined
    const failed = res.route === undefined || NULL_ROUTE_TYPES.has(res.route.type) || res.action !== undefined
    if (failed && res.missingTable === undefined && flow.oif !== undefined && this.routes !== undefined) {
      // ip_route_output_key_hash_rcu: a bound flow whose lookup fails (no route, a null route or a
      // rule's action alike) "assumes that the destination is on link" of its device
      const instead = res.action !== undefined ? ` (the rule \`${res.rule?.raw}\` says ${res.action})` : res.route !== undefined ? ` (\`${res.route.raw}\`)` : ''
      return {notes: res.notes, byRules: res.byRules, boundOnLink: true, route: {dst: flow.dst, dev: flow.oif, type: 'unicast', scope: 'link',
        raw: `(no usable route to ${flow.dst} out of ${flow.oif}${instead}: the kernel takes ${flow.dst} as on-link on ${flow.oif}, the device the flow is bound to)`}}
    }
    return res
  }

  /**
   * The route back to `src` as xt_rpfilter looks it up (fib_lookup from `dst`, iif lo, `mark`): a
   * local source is the local table's; no route, a null route or a rule's action is `none`.
   * undefined where the routes read cannot tell (a table not captured, routes pasted filtered).
   */
  routeBack(src: string, dst: string, mark: number): {type: string, dev?: string} | undefined {
    const routes = this.routes
    if (routes === undefined) return undefined
    if (this.isLocal(src)) return {type: 'local'}
    const r = this.routeFor({dst: src, src: dst, iif: 'lo', mark})
    if (r.missingTable !== undefined) return undefined
    const back = r.action !== undefined ? undefined : r.route
    if (back === undefined) return this.snap.routesFilter !== undefined ? undefined : {type: 'none'}
    return back.type === 'unicast' ? {type: 'unicast', dev: routeDevice(routes, back)} : {type: 'none'}
  }

  /**
   * What `-m addrtype --limit-iface-*`, `-m rpfilter` and nft's `fib` read of this host for
   * `packet`: its addresses' devices and the route back. The source and destination are read when
   * a rule asks, not before, so a caller watching which rules read the source sees only those.
   */
  routeFacts(packet: {readonly src: string, readonly dst: string}): Required<Pick<PacketFacts, 'localDevOf' | 'routeBack'>> {
    return {localDevOf: ip => this.localDevice(ip), routeBack: mark => this.routeBack(packet.src, packet.dst, mark)}
  }

  /**
   * What a packet this host sends without a source address of its own gets (a socket not bound to
   * one, a vxlan device without `local`, an ICMP error): the route is looked up with source
   * 0.0.0.0, so no `from` rule matches it, and the source is the route's `src`, else an address of
   * its device (ip_route_output_key_hash_rcu). No `src` when there is no unicast route.
   */
  sourceRoute(flow: Omit<Flow, 'src'>): PolicyResult & {byRules: boolean, src?: string} {
    // (routeFor's answer is a new object each time: the source is added to it)
    const res: PolicyResult & {byRules: boolean, src?: string} = this.routeFor(fromAddress(flow, '0.0.0.0'))
    // an address of this host is routed by the local table (rule 0, before any other), whose route
    // gives the address itself as the source (`ip route get` says `local A dev lo src A`)
    if (this.isLocal(flow.dst)) {
      res.src = flow.dst.startsWith('127.') ? '127.0.0.1' : flow.dst
      return res
    }
    const r = res.route
    if (r === undefined || r.type !== 'unicast' || this.routes === undefined) return res
    const dev = this.routes.deviceOf(r) ?? flow.oif
    res.src = this.sourceFor(dev === r.dev ? r : {...r, dev}, flow.dst)
    return res
  }

  // ---- neighbours and fdb

  get hasNeighbours(): boolean {
    return this.snap.neighbors !== undefined
  }

  /** Whether `dev`'s neighbours were captured: a paste for other devices leaves them unknown. */
  hasNeighboursOn(dev: string): boolean {
    return this.snap.neighbors !== undefined && this.pastedFor(this.snap.neighborDevices, dev)
  }

  /** Whether `dev`'s fdb entries were captured. */
  hasFdbOn(dev: string): boolean {
    return this.snap.fdb !== undefined && this.pastedFor(this.snap.fdbDevices, dev)
  }

  private pastedFor(devices: string[] | undefined, dev: string): boolean {
    return capturedFor(devices, dev, devices === undefined ? undefined : this.link(dev)?.master)
  }

  neighbour(dev: string, ip: string): Neighbor | undefined {
    if (!this.neighMap) {
      this.neighMap = new Map()
      for (const n of this.snap.neighbors ?? []) {
        let onDev = this.neighMap.get(n.dev)
        if (onDev === undefined) this.neighMap.set(n.dev, onDev = new Map())
        onDev.set(n.dst, n)
      }
    }
    return this.neighMap.get(dev)?.get(ip)
  }

  get hasFdb(): boolean {
    return this.snap.fdb !== undefined
  }

  fdb(dev: string, mac: string): FdbEntry[] {
    if (!this.fdbMap) {
      this.fdbMap = new Map()
      for (const e of this.snap.fdb ?? []) {
        let onDev = this.fdbMap.get(e.dev)
        if (onDev === undefined) this.fdbMap.set(e.dev, onDev = new Map())
        const key = e.mac.toLowerCase()
        const list = onDev.get(key)
        if (list) list.push(e)
        else onDev.set(key, [e])
      }
    }
    return this.fdbMap.get(dev)?.get(mac.toLowerCase()) ?? []
  }


  /** All-zero entries: where a vxlan device sends frames (ARP included) it has no entry for. */
  fdbDefaults(dev: string): FdbEntry[] {
    return this.fdb(dev, ZERO_MAC).filter(e => e.dst !== undefined)
  }

  // ---- iptables and sysctls

  get iptables(): RuleSet | undefined {
    if (this.snap.iptables === undefined) return undefined
    this.ruleSet ??= new RuleSet(this.snap.iptables, this.snap.ipsets)
    return this.ruleSet
  }

  /**
   * Whether a rule here may put connections in a conntrack zone (`-j CT --zone`, nft `ct zone set`):
   * the zone seeds nf_nat's pick from an address range (nat-pick.ts), which is then not known.
   */
  get setsConntrackZone(): boolean {
    if (this.zoneRules === undefined) {
      // every base chain of a ruleset holds that whole ruleset: each is read once, not once per chain
      const nftRulesets = new Set((this.snap.nftables ?? []).map(c => c.ruleset))
      this.zoneRules = (this.snap.iptables?.rules ?? []).some(r => /(^|\s)-j CT(\s.*)?\s--zone(-orig|-reply)?\s/.test(`${r.spec} `)) ||
        [...nftRulesets].some(rs => (rs?.rules ?? []).some(r => /\bct (original |reply )?zone set\b/.test(r.text)))
    }
    return this.zoneRules
  }

  /** The iptables tables and native chains a packet meets at each hook (trace/nft.ts), found once. */
  get hooks(): HookStages {
    this.hookStages ??= new HookStages(this.snap, this.iptables)
    return this.hookStages
  }

  get hasSysctls(): boolean {
    return this.snap.sysctls !== undefined
  }

  /** A sysctl by its dotted key; device names with dots are also accepted in sysctl's `flannel/1` spelling. */
  sysctl(key: string): string | undefined {
    let answer = this.sysctlAnswers.get(key)
    if (answer === undefined) this.sysctlAnswers.set(key, answer = this.readSysctl(key) ?? null)
    return answer ?? undefined
  }

  private readSysctl(key: string): string | undefined {
    const s = this.snap.sysctls
    if (s === undefined) return undefined
    if (key in s) return s[key]
    const m = /^(net\.ipv4\.conf\.)(.+)\.([a-z_]+)$/.exec(key)
    if (m) {
      const alt = `${m[1]}${m[2].replace(/\./g, '/')}.${m[3]}`
      if (alt in s) return s[alt]
    }
    return undefined
  }

  sysctlNumber(key: string): number | undefined {
    return asNumber(this.sysctl(key))
  }

  /**
   * `net.ipv4.conf.DEV.NAME` as sysctl reads it (`all` and `default` are devices here), kept by
   * name and device: a trace asks for a device's forwarding and rp_filter at every packet, and a
   * key built for each would cost more than the answer.
   */
  devConf(dev: string, name: string): string | undefined {
    let byDev = this.devConfAnswers.get(name)
    if (byDev === undefined) this.devConfAnswers.set(name, byDev = new Map())
    let answer = byDev.get(dev)
    if (answer === undefined) byDev.set(dev, answer = this.sysctl(`net.ipv4.conf.${dev}.${name}`) ?? null)
    return answer ?? undefined
  }

  devConfNumber(dev: string, name: string): number | undefined {
    return asNumber(this.devConf(dev, name))
  }

  /** A per-device conf value; a device the sysctls do not list inherits `default`, as new devices do. */
  confValue(dev: string, name: string): number | undefined {
    return this.devConfNumber(dev, name) ?? this.devConfNumber('default', name)
  }

  globalForwarding(): number | undefined {
    return this.sysctlNumber('net.ipv4.ip_forward') ?? this.sysctlNumber('net.ipv4.conf.all.forwarding')
  }

  /** The sysctl that stops this host forwarding what arrives on `inDev` (IN_DEV_FORWARD), if one read does. */
  forwardingOff(inDev: string): string | undefined {
    if (this.globalForwarding() === 0) return 'net.ipv4.ip_forward'
    return this.devConfNumber(inDev, 'forwarding') === 0 ? `net.ipv4.conf.${inDev}.forwarding` : undefined
  }

  /** proxy ARP answers on a device when `all` or the device says so. */
  proxyArp(dev: string): boolean {
    return (this.devConfNumber('all', 'proxy_arp') ?? 0) > 0 || (this.devConfNumber(dev, 'proxy_arp') ?? 0) > 0
  }
}
