/**
 * The host model shared by the builder and the tracer: what one host's kernel tables say.
 * Every entity keeps `raw`, the table line as `ip`/`bridge`/`iptables-save` would print it,
 * because a trace's evidence is always the exact line a user can find on the host.
 * Absent data is `undefined` (unknown), never an empty list pretending to be known.
 */
import {ipToInt} from './addr.js'
import {tableName} from './parse/rule.js'
import type {FlannelNftTable} from './flannel-nft.js'

export type LinkKind =
  | 'loopback' | 'ether' | 'veth' | 'bridge' | 'vxlan' | 'tun' | 'dummy' | 'ipip' | 'wireguard' | 'vrf'
  | 'openvswitch' | 'macvlan' | 'ipvlan' | 'other'

/** One queueing discipline as `tc qdisc show` prints it. */
export interface Qdisc {
  dev: string
  kind: string
  raw: string
}

/** One ipset as `ipset save` (or `ipset list`) prints it: what `-m set --match-set` rules test. */
export interface IpSet {
  name: string
  /** `hash:net`, `hash:ip,port`, `list:set`, … */
  type: string
  /** each entry as printed (`10.66.0.0/16`, `10.96.0.10,tcp:80`, `10.1.0.0/24 nomatch`) */
  members: string[]
}

/** An XDP program on a link (`ip link` prints `xdp`/`xdpgeneric`/`xdpoffload`/`xdpmulti` and `prog/xdp id N`). */
export interface XdpAttachment {
  mode: 'driver' | 'generic' | 'offload' | 'multi'
  /** the program's id and name as `bpftool prog show id N` knows it (absent: not printed) */
  progId?: number
  progName?: string
}

export interface VxlanInfo {
  id: number
  /** outer source address (`local`) */
  local?: string
  /** underlay device (`dev`) */
  dev?: string
  /** UDP destination port */
  port: number
  /** the capture did not print the port (iproute2 before 3.12 has no `dstport`): `port` is the kernel's default */
  portAssumed?: boolean
  learning: boolean
  /**
   * the outer packet's DF bit (`df set`, or `df inherit`: the inner packet's); absent is `df unset`,
   * the default and all a kernel before 5.0 does: the outer packet may be fragmented
   */
  df?: 'set' | 'inherit'
  /**
   * `l2miss`: a frame for a MAC the fdb lacks is reported to user space, where an agent may add the
   * entry (flanneld before 0.9 did, with `app_solicit` asking it for neighbours too): the tables
   * alone do not tell whether one answers
   */
  l2miss?: boolean
}

export interface Link {
  name: string
  index?: number
  kind: LinkKind
  mtu: number
  /** administratively up (IFF_UP) */
  up: boolean
  /** operational state as the kernel reports it: UP, DOWN, UNKNOWN, LOWERLAYERDOWN */
  operstate?: string
  /**
   * `LOWER_UP` among the flags: the device has a carrier. The kernel sets and clears that flag with
   * the carrier; operstate, and with it `NO-CARRIER` (printed for a device that is UP but not
   * RUNNING), follow when its link watch runs, up to a second later, so a read in between has the
   * truth only here (absent: the flags were not read)
   */
  lowerUp?: boolean
  mac?: string
  /** bridge this link is enslaved to */
  master?: string
  /**
   * as a bridge port, `hairpin on`: the bridge may send a frame back out of the port it came in by
   * (absent: off, or not read: `ip -d link` prints it)
   */
  hairpin?: boolean
  /**
   * as a bridge, `vlan_filtering 1`: its ports and the bridge itself pass only the VLANs `bridge vlan`
   * gives them (absent: off, or not read)
   */
  vlanFiltering?: boolean
  /** for veth: the peer's ifindex in its namespace (`@ifN`) */
  peerIndex?: number
  /** the id this namespace gives the namespace a veth's peer (or a device's lower link) is in (`link_netnsid`, ip -j only); absent: this one, or not read */
  peerNetnsId?: number
  /** for veth: the peer is in this namespace too (`ip link` prints `d0@d1`): what it sends comes back here */
  peerHere?: boolean
  vxlan?: VxlanInfo
  /** an XDP program runs on every frame this link receives, before the kernel's tables see it */
  xdp?: XdpAttachment
  raw: string
}

export interface Address {
  dev: string
  family: 4 | 6
  local: string
  prefixlen: number
  /** point-to-point peer (`peer` in ip addr) */
  peer?: string
  scope?: string
  raw: string
}

export type RouteType = 'unicast' | 'blackhole' | 'unreachable' | 'prohibit' | 'local' | 'broadcast' | 'throw' | 'multicast'

export interface Route {
  /** 'default' or a CIDR (host routes are written with /32) */
  dst: string
  type: RouteType
  gateway?: string
  dev?: string
  src?: string
  metric?: number
  onlink?: boolean
  /** `linkdown`: the kernel still picks the route, but its device has no carrier */
  linkdown?: boolean
  /** the route's `mtu` metric: a packet sent or forwarded by it must fit this, not the device's MTU */
  mtu?: number
  /** the route's `advmss` metric: the MSS a TCP socket announces to an address this route reaches, in place of its MTU − 40 */
  advmss?: number
  /** a multipath (ECMP) route's live nexthops when more than one: the model keeps the first, the kernel hashes each flow onto one */
  paths?: number
  scope?: string
  proto?: string
  /** routing table; main when absent */
  table?: string
  /**
   * the nexthop object (`ip nexthop`, FRR's routes) the route's path comes from: the kernel then
   * holds the route as unicast even when it prints it `blackhole`, and a delete or change that
   * names a type or a gateway matches nothing ("No such process"): it must name the object
   */
  nhid?: number
  raw: string
}

/**
 * An IPv6 route (`ip route show table all` prints both families; `ip -6 route` IPv6's alone): an
 * address of it is IPv6, or it carries `pref`, the router preference only IPv6 routes have. A
 * `default` route says its family no other way, and an IPv6 one must never route an IPv4 packet.
 */
export function isIPv6Route(r: Route): boolean {
  return r.dst.includes(':') || (r.gateway?.includes(':') ?? false) || (r.src?.includes(':') ?? false) || /\spref (?:low|medium|high)\b/.test(r.raw)
}

/** The table a route is in, by the name rules use (254 is main, 255 local, 253 default): main when absent. */
export function tableOf(r: Route): string {
  return r.table === undefined || r.table === '' ? 'main' : tableName(r.table)
}

/** The main table: a route read without `table all` names none. */
export function inMainTable(r: Route): boolean {
  return tableOf(r) === 'main'
}

/**
 * The IPv4 addresses a host's own kernel routes show: the kernel adds `PREFIX dev D proto kernel
 * scope link src A` for an address A/len on D, and `local A dev D table local` for every address.
 * For a host whose address table was pasted for some devices only (`ip addr show flannel.1`);
 * `raw` is the route line they were read from.
 */
export function addressesFromKernelRoutes(routes: Route[]): Address[] {
  const out = new Map<string, Address>()
  for (const r of routes) {
    if (r.type !== 'unicast' || r.proto !== 'kernel' || r.src === undefined || r.dev === undefined || r.gateway !== undefined) continue
    const slash = r.dst.indexOf('/')
    if (slash === -1 || r.src.includes(':')) continue
    const prefixlen = Number(r.dst.slice(slash + 1))
    out.set(`${r.dev}|${r.src}`, {dev: r.dev, family: 4, local: r.src, prefixlen, scope: 'global', raw: r.raw})
  }
  for (const r of routes) {
    if (r.type !== 'local' || r.dev === undefined || !r.dst.endsWith('/32')) continue
    const local = r.dst.slice(0, -3)
    if (local.includes(':') || out.has(`${r.dev}|${local}`)) continue
    out.set(`${r.dev}|${local}`, {dev: r.dev, family: 4, local, prefixlen: prefixByBroadcast(routes, r.dev, local), scope: local.startsWith('127.') ? 'host' : 'global', raw: r.raw})
  }
  return [...out.values()]
}

/**
 * The prefix of address `local` on `dev` when its subnet route is gone (replaced, deleted): the
 * kernel's `broadcast B dev D table local src A` route for it stays, and B is A with the host bits
 * set. 32 without one (a /31 or /32 has none).
 */
function prefixByBroadcast(routes: Route[], dev: string, local: string): number {
  const b = routes.find(r => r.type === 'broadcast' && r.dev === dev && r.src === local && r.dst.endsWith('/32'))
  if (b === undefined) return 32
  let a: number
  let bc: number
  try {
    a = ipToInt(local)
    bc = ipToInt(b.dst.slice(0, -3))
  } catch {
    return 32
  }
  for (let len = 30; len >= 1; len--) {
    const host = (2 ** (32 - len)) - 1
    if (((a | host) >>> 0) === bc) return len
  }
  return 32
}

/** Neighbour states that carry a usable MAC. INCOMPLETE / FAILED do not. */
export const USABLE_NEIGH_STATES = ['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP'] as const

export interface Neighbor {
  dst: string
  dev: string
  lladdr?: string
  /** e.g. ['PERMANENT'], ['REACHABLE'], ['STALE'], ['INCOMPLETE'], ['FAILED'] */
  state: string[]
  raw: string
}

export interface FdbEntry {
  mac: string
  dev: string
  /** remote VTEP address for vxlan entries */
  dst?: string
  /**
   * `via DEV` of a vxlan entry: the underlay device the kernel binds the outer packet's route
   * lookup to (its flow's oif); a number when only `via ifindex N` was printed
   */
  via?: string | number
  master?: string
  vlan?: number
  /** flags such as self, permanent, static, master, extern_learn */
  flags: string[]
  raw: string
}

export interface IptablesRule {
  table: string
  chain: string
  /** the rule as iptables-save prints it, without the leading `-A CHAIN ` */
  spec: string
  raw: string
}

export interface IptablesChain {
  table: string
  name: string
  /** ACCEPT / DROP for built-in chains, undefined for user chains */
  policy?: string
}

export interface Iptables {
  chains: IptablesChain[]
  rules: IptablesRule[]
  /** which iptables the rules came from, when known */
  flavour?: 'nft' | 'legacy'
  /**
   * What pasted `iptables [-t T] -S [CHAIN]` output covers: those tables (or chains) only, the rest
   * unknown. Absent: a whole `iptables-save`, where a table it lacks has no rules.
   */
  covers?: Array<{table: string, chain?: string}>
  /** tables of ip6tables-save (or ip6tables -S) output the file held too: left out, an IPv4 packet never meets them */
  ipv6TablesLeftOut?: string[]
}

/** Whether the dump shows `table` `chain`: a whole iptables-save does; pasted `iptables -S X` shows X only. */
export function showsChain(iptables: Pick<Iptables, 'covers'>, table: string, chain: string): boolean {
  return iptables.covers === undefined || iptables.covers.some(c => c.table === table && (c.chain === undefined || c.chain === chain))
}

/** What a policy rule does when its selectors match (`ip rule` actions). */
export type RuleAction = 'lookup' | 'goto' | 'nop' | 'blackhole' | 'unreachable' | 'prohibit'

/** A routing policy rule (`ip rule show`): selectors the kernel matches a packet's flow against, and an action. */
export interface PolicyRule {
  priority: number
  /** `not`: the selectors' answer is inverted */
  not?: boolean
  /** source prefix (`from`), a CIDR; absent: all */
  from?: string
  /** destination prefix (`to`), a CIDR; absent: all */
  to?: string
  iif?: string
  oif?: string
  /** the iif/oif device does not exist (`[detached]`): the rule matches nothing */
  detached?: boolean
  fwmark?: number
  /** absent with fwmark: 0xffffffff */
  fwmask?: number
  tos?: number
  /** protocol number or name (tcp, udp, icmp) */
  ipproto?: string
  sport?: [number, number]
  dport?: [number, number]
  /** `l3mdev`: matches a flow whose iif or oif is a VRF device or one of its ports, and looks up that VRF's table */
  l3mdev?: boolean
  /** selectors the tracer cannot decide (uidrange, tun_id, ...), as ip prints them */
  other?: string[]
  action: RuleAction
  /** for lookup: the table's name as routes carry it (main, local, default, or its number) */
  table?: string
  /** for goto: the priority jumped to */
  goto?: number
  suppressPrefixlength?: number
  suppressIfgroup?: string
  raw: string
}

/** An nftables chain hooked into netfilter (a base chain), with how many rules it holds. */
export interface NftChain {
  /** ip, ip6, inet, arp, bridge, netdev */
  family: string
  table: string
  name: string
  /** filter, nat, route */
  type: string
  /** prerouting, input, forward, output, postrouting; ingress, egress (netdev) */
  hook: string
  priority: number
  policy: 'accept' | 'drop'
  /** netdev chains: the device(s) they are hooked to */
  device?: string
  rules: number
  /** a rule of it, or of a chain it jumps to, drops, rejects or queues (where it matches) */
  drops: boolean
  /** a rule of it, or of a chain it jumps to, rewrites addresses (snat, dnat, masquerade, redirect) */
  rewrites: boolean
  /** the chains of its table it walks: itself, and those it jumps or goes to, through verdict maps too (absent: itself alone) */
  reaches?: string[]
  /** the chain's head as one line, as nft would print it */
  raw: string
  /** every rule and set of the ruleset this chain was read from (shared by its chains): what the trace evaluates */
  ruleset?: NftRuleset
}

/**
 * One nftables rule: its statements as `nft -j list ruleset` writes them (the text form is read
 * into the same shape), the rule as `nft list` prints it, and its handle when the paste showed it.
 */
export interface NftRule {
  family: string
  table: string
  chain: string
  handle?: number
  /** the statements (matches, verdicts, NAT, marks) in nft's JSON schema */
  expr: unknown[]
  text: string
  /** the text form held words the reader does not know: `expr` holds the statements before them, and the rule matches nothing the trace can tell unless one of those fails */
  unread?: string
}

/** A named set or map (`@cluster-ips`, kube-proxy's `@service-ips` verdict map): its elements as nft -j writes them. */
export interface NftSet {
  family: string
  table: string
  name: string
  /** a map's data type (`verdict`, `ipv4_addr`); undefined for a set */
  map?: string
  elem: unknown[]
  /** the text form held elements the reader does not know: a lookup in it cannot be decided */
  unread?: boolean
}

export interface NftRuleset {
  rules: NftRule[]
  sets: NftSet[]
}

export interface HostSnapshot {
  /** node name (inventory / lab name / hostname) */
  name: string
  links?: Link[]
  /** the links were pasted for some devices only (`ip -d link show eth0`): the others are unknown */
  linksOfSomeDevicesOnly?: boolean
  /** the links are known from the address table alone (no `ip -d link`): a bridge or a veth shows there as any Ethernet device */
  linkKindsUnknown?: boolean
  addresses?: Address[]
  /**
   * Routes of the main table, and of any other table that was read (`ip route show table all`
   * gives every table; each route's `table` says which, main when absent).
   */
  routes?: Route[]
  /**
   * `ip -4 route show cache`: the route exceptions that carry a path MTU this host learned from an
   * ICMP "fragmentation needed" (`cache expires 599sec mtu 1300`); its own DF packets to that
   * destination must fit it until it expires. Absent: not read.
   */
  pmtuCache?: Route[]
  /**
   * The routes were pasted with a filter that prints some only (`ip route show dev flannel.1`):
   * the filter, e.g. `dev flannel.1`. A route the paste lacks is unknown, not absent.
   */
  routesFilter?: string
  /** `ip rule show`; absent: unknown, and the trace assumes the kernel's default rules (local, main, default) */
  rules?: PolicyRule[]
  neighbors?: Neighbor[]
  /** the neighbours were pasted for these devices only (`ip neigh show dev flannel.1`); others are unknown */
  neighborDevices?: string[]
  fdb?: FdbEntry[]
  /** the fdb was pasted for these devices only (`bridge fdb show dev flannel.1`, `br cni0`: the bridge and its ports) */
  fdbDevices?: string[]
  iptables?: Iptables
  /**
   * base chains of `nft list ruleset` (native nftables and iptables-nft's own); absent: not read.
   * The builder's read (HostAdapter.snapshot) holds flanneld's and the host's own ip and inet
   * tables only, not iptables-nft's (iptables-save shows those).
   */
  nftables?: NftChain[]
  /**
   * A snapshot of this host's tables holds no nft ruleset although nft is there to read it (a paste
   * without `nft list ruleset`, or an nft that failed): native chains may act at every hook, unseen.
   * Absent where the world was built otherwise (hand-built, the builder's read) or nft is not installed.
   */
  nftRulesetUnread?: true
  /** flanneld's own nftables tables (EnableNFTables) with their chains and rules, as the builder reads them; absent: not read (no nft) */
  flannelNft?: FlannelNftTable[]
  /** sysctl key (dotted, e.g. net.ipv4.ip_forward) to value */
  sysctls?: Record<string, string>
  /**
   * `tc qdisc show`: a clsact or ingress qdisc is where tc filters (BPF programs among them) act on
   * what a device receives or sends; absent: not read (collect and a live trace read it, sync does not)
   */
  qdiscs?: Qdisc[]
  /** `ipset save`: the sets iptables' `-m set` matches test (Calico's IP pools, kube-proxy's IPVS sets); absent: not read */
  ipsets?: IpSet[]
  /**
   * The IPv4 addresses at the pod end of each loose veth that looks like a pod's (loosePodVethCandidates),
   * by host-end name: read only for those, from the named namespace (`ip netns`) the other end is in.
   * A veth absent here: its other end was not found (an unnamed namespace, or not read).
   */
  looseVethPeerAddresses?: Record<string, string[]>
  /**
   * False when `addresses` cannot hold `ip`: a snapshot read from files answers from the address
   * table's text without parsing it. Absent: look at `addresses`.
   */
  mayHoldAddress?: (ip: string) => boolean
}

/** The names CNI plugins and docker give their bridges: what marks one when ifconfig or `ip addr` cannot say. */
export function isConventionalBridgeName(dev: string): boolean {
  return /^(cni\d*|cbr\d+|docker\d+|br-[0-9a-f]+|kube-bridge)$/.test(dev)
}

/**
 * Whether a table pasted for `devices` (neighborDevices, fdbDevices: names, and `master:BR` for a
 * bridge and its ports) holds `dev`'s entries; undefined devices: every device's.
 */
export function capturedFor(devices: string[] | undefined, dev: string, master?: string): boolean {
  return devices === undefined || devices.includes(dev) || devices.includes(`master:${dev}`) ||
    (master !== undefined && devices.includes(`master:${master}`))
}

/**
 * Sysctls of several numbers the trace reads (collect writes them), the builder not: the ports a
 * client picks its source port from, what a rule on that port is judged by.
 */
export const TRACE_RANGE_SYSCTLS = ['net.ipv4.ip_local_port_range']

/** The sysctls the tracer and builder care about, per device where it matters. */
export function interestingSysctls(devices: string[]): string[] {
  const keys = ['net.ipv4.ip_forward', 'net.ipv4.conf.all.rp_filter', 'net.ipv4.conf.default.rp_filter',
    'net.ipv4.icmp_errors_use_inbound_ifaddr', 'net.ipv4.icmp_echo_ignore_all', 'net.ipv4.conf.all.proxy_arp', 'net.bridge.bridge-nf-call-iptables',
    'net.ipv4.conf.all.accept_local', 'net.ipv4.conf.default.accept_local']
  for (const d of devices) {
    // app_solicit > 0 sends unresolved neighbours to user space (flannel before 0.9 answered them)
    keys.push(`net.ipv4.conf.${d}.rp_filter`, `net.ipv4.conf.${d}.proxy_arp`, `net.ipv4.conf.${d}.forwarding`, `net.ipv4.neigh.${d}.app_solicit`,
      `net.ipv4.conf.${d}.accept_local`)
  }
  return keys
}

/**
 * Up but cut off at the link layer: a cable, switch port or the other end of a veth is down, and
 * the device neither sends nor takes a frame although `ip link` says UP.
 */
export function lacksCarrier(l: Pick<Link, 'up' | 'lowerUp' | 'operstate'>): boolean {
  return l.up && (l.lowerUp !== undefined ? !l.lowerUp : operstateSaysNoCarrier(l))
}

/** Up with a carrier: the device sends and takes frames (what `LOWER_UP` says, or the link watch's state). */
export function hasCarrier(l: Pick<Link, 'up' | 'lowerUp' | 'operstate'>): boolean {
  return l.up && !lacksCarrier(l)
}

/**
 * Whether the kernel gives this address a route to its subnet when its device is up: an IPv4
 * address shorter than /32, not point-to-point, without `noprefixroute`.
 */
export function makesSubnetRoute(a: Address): boolean {
  return a.family === 4 && a.peer === undefined && a.prefixlen < 32 && !/\bnoprefixroute\b/.test(a.raw)
}

/** What the link watch says of a device without carrier, once it has run: DOWN, or LOWERLAYERDOWN for one stacked on another. */
export function operstateSaysNoCarrier(l: Pick<Link, 'operstate'>): boolean {
  return l.operstate === 'DOWN' || l.operstate === 'LOWERLAYERDOWN'
}
