/**
 * Follow one packet through the kernel tables of the hosts in a World and explain every hop.
 *
 * This file answers "where does the packet go next"; the table lookups live in the helper modules
 * (routes, arp, fdb, iptables, nat, vxlan, traceroute). It models Linux, not flannel, so hosts
 * flannelctl did not build (Calico, docker0, flannel before 0.9) trace from their tables too.
 *
 * One visit per host a packet enters:
 *   receive   — conntrack undoes a NAT for a reply, the receiving device must be up, rp_filter
 *   local?    — INPUT chain, then either the outer packet of a vxlan tunnel is decapsulated (and the
 *               inner packet starts over on the vxlan device) or the packet is delivered
 *   forward   — ip_forward, route lookup (longest prefix, metric, null routes, on-link gateway),
 *               FORWARD (or OUTPUT for a packet born here), MTU, POSTROUTING NAT, then the link layer:
 *               on a vxlan device neighbour → fdb → encapsulation → the outer packet is routed on the
 *               same host; elsewhere neighbour/ARP decides which host (or pod) receives the frame.
 */
import {type Neighbor, type NftChain, type Route, inMainTable, tableOf} from '../model.js'
import {parseIpRouteText} from '../parse/text.js'
import {cidrContainsIp, cidrOverlaps, ipToInt, normaliseDst, parseCidr} from '../addr.js'
import {builtByOlderFlanneld, isVxlanDeviceName, stableVtepMac} from '../flannel.js'
import {ExitCode, userError} from '../../errors.js'
import type {
  Disposition, Endpoint, Failure, Fix, Flow, Hop, PodRef, ReturnPath, StepKind, StepVerdict, Trace,
  TraceRequest, TraceWarning, UnreadTable, WarningCode, World,
} from './types.js'
import {type HostView, neighbourUse} from './host-view.js'
import {type ResolvedEndpoint, WorldIndex, indexWorld} from './world.js'
import {NULL_ROUTE_TYPES, isDefaultRoute, routeDelCommand, routeDevice, routeDstText, routeMtuClearCommand, type Flow as RoutingFlow} from './routes.js'
import {type Answer, type HostAnswer, type PodAnswer, loopedVeth, offSegmentOwners, podAnswer, podGatewaySilence, proxyAnswer, addressesUnseen, unseenOwners, whoAnswers} from './arp.js'
import {fdbLookup} from './fdb.js'
import {filterCommand, insertsAccept, worldAfterFixes} from './fix-apply.js'
import {type Decision, type EphemeralRange, type FlowTuple, type Hook, type PacketFacts, type PickKind, localPortRange, rejectAnswer, swappedPort} from './iptables.js'
import {type NftFacts, XTABLES, evaluateNftChain, listChain, mayDo, ruleName, withIptablesMarks} from './nft.js'
import {type NatRecord, destinationNat, natAt, postrouting, reverseTranslation, snatPorts} from './nat.js'
import {
  type IntendedVtep, type VxlanDevice, VXLAN_OVERHEAD, assumedVxlan, intendedVtep, receivingDevice, snoopedAway, vtepAddress,
  isVxlanLink, lostVtepAddress, vxlanDevice, vxlanDevices, vxlanEvidence,
} from './vxlan.js'
import {icmpErrorSource} from './traceroute.js'
import {appendFixes, behindMoveSync, daemonBlockNullRoute, directlyConnected, displacedSubnet, filterFixes, homeNode, linkDownCause, mergeFixes, nftFilterFixes, podNetwork, publishVtepMacFix, routeFixes, recreatePodFix, strandedPod, sysctlCommand, tunnelMtuFixes, unpluggedPod, vethOtherEnd} from './fixes.js'
import {IPVS_SERVICE_DEVICE, bpfDataplane, ipvsServiceAddress, ovsBridgeOf, ovsCommands, runsIpvs, stackedParent, tcHook} from './dataplanes.js'
import {xdpLine} from '../parse/json.js'

/** The TTL a Linux host starts with: a packet still moving after this many hops is in a loop. */
export const MAX_HOPS = 64
/** traceroute's default last probe TTL (-m 30) */
const TRACEROUTE_MAX_HOPS = 30
/** The TTL a packet leaves its sender with (net.ipv4.ip_default_ttl), the outer vxlan packet too. */
const START_TTL = 64
/**
 * The code of a destination unreachable whose traceroute flag is `mark` (none: port unreachable, as
 * a REJECT sends by default). `!X` stands for three codes (9, 10, 13), so it gives none.
 */
function unreachableCode(mark: string | undefined): number | undefined {
  if (mark === undefined) return 3
  if (mark.startsWith('!F')) return 4
  return ({'!N': 0, '!H': 1, '!P': 2} as Record<string, number>)[mark]
}

/** What a socket's route lookup gives its caller where a policy rule's action refuses the route (fib_rule_match: FR_ACT_*). */
const RULE_SEND_ERRORS: Record<string, string> = {blackhole: 'EINVAL ("Invalid argument")', unreachable: 'ENETUNREACH ("Network is unreachable")', prohibit: 'EACCES ("Permission denied")'}
/** ... and where the route found is a null route (fib_props). */
const ROUTE_SEND_ERRORS: Record<string, string> = {blackhole: 'EINVAL ("Invalid argument")', unreachable: 'EHOSTUNREACH ("No route to host")', prohibit: 'EACCES ("Permission denied")'}
/** the route a host's socket looks up for its own packet (Walk.socketLookup) */
interface SocketLookup {
  dev?: string
  res?: ReturnType<HostView['routeFor']>
  unread?: string
}

/** ICMP types that are errors: the kernel answers none of them with an error of its own (icmp_pointers[].error) */
const ICMP_ERROR_TYPES = new Set([3, 4, 5, 11, 12])
/** the room for a VLAN tag a veth allows a frame over its MTU (is_skb_forwardable) */
const VLAN_HLEN = 4
/** the IP and TCP headers a TCP packet carries over its MSS (without options, as the MSS option counts) */
const TCP_IP_HEADERS = 40
const IPV4_HEADER = 20

/**
 * The largest IPv4 fragment a link of `mtu` carries: every fragment but the last holds a multiple
 * of 8 bytes of payload behind its 20-byte header (ip_do_fragment). Checked: a 1500-byte ping
 * without DF through a 1450 link arrived as 1444 + 76, not 1450 + 70.
 */
function largestFragment(mtu: number): number {
  return IPV4_HEADER + Math.floor((mtu - IPV4_HEADER) / 8) * 8
}

/** How a packet too big for a link without DF goes on: its fragments, and the size the trace goes on with. */
function fragmentsText(size: number, mtu: number): string {
  const first = largestFragment(mtu)
  const count = Math.ceil((size - IPV4_HEADER) / (first - IPV4_HEADER))
  return `${count} fragments of at most ${first} bytes (every payload but the last a multiple of 8 bytes)`
}

/** a peer that moved to another lease: its VTEP address now, its pod subnet where known, and whether the store told */
interface PeerMove {
  subnet?: string
  vtep: string
  byStore: boolean
}

/** what bounds the size of a packet leaving by a device, as said in a step */
interface MtuLimit {
  mtu: number
  evidence: string
  /** the limit named after "does not fit" */
  of: string
  /** the limit named after "fits" */
  fits: string
  fix: () => Fix[]
}

interface Tunnel {
  inner: Packet
  vni: number
  port: number
  /** the inner frame's destination MAC (the peer VTEP's MAC as the sender believes it) */
  innerMac: string
  sender: HostView
  device: VxlanDevice
  nexthop: string
  intended?: IntendedVtep
  /** the fdb entry's `via` device: the outer packet's route lookup is bound to it (flowi_oif) */
  oif?: string
  /** why the inner packet's mark, which the outer packet keeps, is not known */
  markDoubt?: string
}

interface Packet extends FlowTuple {
  size?: number
  /** one less for every host that routes it on; a bridge does not touch it */
  ttl: number
  /** RELATED: an ICMP error about the traced packet (a router's time exceeded), on its way back to the prober */
  state: 'NEW' | 'ESTABLISHED' | 'RELATED'
  /**
   * the packet's mark on the host it is in (a new host starts from 0), as the MARK rules of the
   * chains it passed there, iptables' and native ones, left it: the skb keeps it from hook to hook
   */
  mark?: number
  /** why `mark` is not known (a marking rule that may or may not have matched): it is then assumed */
  markDoubt?: string
  /** the host whose raw table took the packet out of conntrack (NOTRACK): there its state is UNTRACKED */
  untrackedAt?: string
  /** the rule that did, as it is listed, with the command that deletes it (none for an nft rule listed without its handle) */
  untrackedBy?: Untracker
  icmpType?: number
  /** an ICMP error's code (3 port unreachable, 4 fragmentation needed), when the trace knows it */
  icmpCode?: number
  /** set on the outer UDP packet of a vxlan tunnel; the traced packet rides inside */
  tunnel?: Tunnel
  /** sent without DF (an echo reply): a link too small for it fragments it instead of dropping it */
  noDf?: boolean
  /**
   * the sender gave no source address (ping without -I, a vxlan device without `local`): the route
   * lookup sees 0.0.0.0, so no `from` rule matches, and `src` is the address that route gave
   */
  unboundSrc?: true
}

/** the raw-table rule that took a packet out of conntrack on a host (see Packet.untrackedAt) */
interface Untracker {
  rule: string
  /** where it is: `raw PREROUTING`, `nft ip t c` */
  chain: string
  remove?: string
}

/**
 * A packet with every field present (unset ones undefined), in one order: a walk copies its packet
 * with one field changed at every step (`{...packet, ttl}`), and copies of objects of one shape are
 * cheap where copies of many shapes are not.
 */
function packetOf(p: Packet): Packet {
  return {
    src: p.src, dst: p.dst, proto: p.proto, sport: p.sport, dport: p.dport, ephemeral: p.ephemeral, ephemeralRange: p.ephemeralRange, size: p.size, ttl: p.ttl, state: p.state,
    mark: p.mark, markDoubt: p.markDoubt, untrackedAt: p.untrackedAt, untrackedBy: p.untrackedBy, icmpType: p.icmpType, icmpCode: p.icmpCode, tunnel: p.tunnel, noDf: p.noDf, unboundSrc: p.unboundSrc,
  }
}

/**
 * A drop of an UNTRACKED packet that its conntrack state would have let through (a stateful
 * `--ctstate ESTABLISHED` accept that a raw NOTRACK keeps the reply from): the fault is the NOTRACK
 * rule, so its deletion (or a narrower rule that leaves this packet tracked) is the first way, the
 * accept for the flow the second.
 */
function untrackedFirst(node: string, by: Untracker, tracked: string, fixes: Fix[]): Fix[] {
  if (by.remove === undefined) return fixes
  const first: Fix = {node, command: by.remove, option: {choice: 1, recommended: true,
    why: `delete the NOTRACK rule \`${by.rule}\` (${by.chain}), which takes the packet out of conntrack: tracked, it is ${tracked} and the stateful accept lets it through (or narrow the rule so it no longer matches this packet)`}}
  const accept = 'keep the NOTRACK rule and let the untracked packets through by an accept of their own'
  return [first, ...fixes.map(f => ({...f, option: f.option !== undefined ? {choice: f.option.choice + 1, why: f.option.why} : {choice: 2, why: accept}}))]
}

/** A translation as the reason names it: its kind and its rule. */
function natName(r: NatRecord): string {
  return `${r.field === 'src' ? 'source NAT' : /\bredirect\b/i.test(r.evidence) ? 'REDIRECT' : 'DNAT'} \`${r.evidence}\``
}

/** an ARP request's sender address: the packet's source where that is the asker's own (arp_announce 0), else its address on that link */
function arpSender(view: HostView, dev: string, nexthop: string, packet: Packet): string | undefined {
  const announce = view.confValue(dev, 'arp_announce') ?? view.sysctlNumber('net.ipv4.conf.all.arp_announce') ?? 0
  return announce === 0 && view.isLocal(packet.src) ? packet.src : view.addressCovering(dev, nexthop)?.local
}

/** rp_filter's mode on `inDev` (the larger of `all` and the device's; 0 where not read), the sysctl that says so, and the commands that make it loose */
function rpFilterOf(view: HostView, inDev: string): {mode: number, evidence: string, loosen: Fix[]} {
  const all = view.sysctlNumber('net.ipv4.conf.all.rp_filter') ?? 0
  const dev = view.confValue(inDev, 'rp_filter') ?? 0
  const mode = Math.max(all, dev)
  const key = dev >= all ? (view.devConf(inDev, 'rp_filter') !== undefined ? `net.ipv4.conf.${inDev}.rp_filter` : 'net.ipv4.conf.default.rp_filter') : 'net.ipv4.conf.all.rp_filter'
  const loosen: Fix[] = []
  if (all === 1) loosen.push({node: view.name, command: sysctlCommand('net.ipv4.conf.all.rp_filter', 2)})
  if (dev === 1) loosen.push({node: view.name, command: sysctlCommand(`net.ipv4.conf.${inDev}.rp_filter`, 2)})
  return {mode, evidence: `${key} = ${mode}`, loosen}
}

/** `packet` with the mark (and its doubt) a walk through a hook's chains left: the same object where neither changed. */
function withMark(packet: Packet, passed: {mark?: number, markDoubt?: string}): Packet {
  return passed.mark === packet.mark && passed.markDoubt === packet.markDoubt ? packet : {...packet, mark: passed.mark, markDoubt: passed.markDoubt}
}

interface Arrival {
  view: HostView
  /** receiving device; `local` for a packet born on this host */
  inDev: string
  packet: Packet
  origin: boolean
}

interface End {
  end: true
  disposition: Disposition
  failure?: Failure
  /** a REJECT rule answered: what traceroute appends to the answering address */
  reject?: {error: string, mark?: string}
  /**
   * a routing loop (or a packet routed back to its sender, which drops it as a martian source):
   * each router of the cycle with the route it passed the packet on by
   */
  loop?: Array<{node: string, route: Route}>
  /** a routing loop: how many hosts pass the packet round (one traceroute line each, again and again) */
  cycleLength?: number
}

type Next = Arrival | End

class Warnings {
  readonly list: TraceWarning[] = []
  private readonly keys = new Set<string>()

  add(code: WarningCode, node: string, message: string, table?: UnreadTable): void {
    const key = `${code}\0${node}\0${message}`
    if (this.keys.has(key)) return
    this.keys.add(key)
    this.list.push({code, node, message, ...(table !== undefined ? {table} : {})})
  }
}

function firstLine(s: string): string {
  const i = s.indexOf('\n')
  return i === -1 ? s : s.slice(0, i)
}

/** `tcp 10.244.1.2 → 10.244.2.3:80 (NEW)`: the packet a filter judges. */
function describeFlow(p: PacketFacts): string {
  const segment = p.tcpFlags === DATA_SEGMENT_FLAGS && p.length !== undefined ? `, a ${p.length}-byte data segment` : ''
  return `${p.proto} ${p.src} → ${p.dst}${p.dport !== undefined ? `:${p.dport}` : ''} (${p.state}${segment})`
}

/**
 * The length of a SYN and its SYN-ACK as Linux sends them: 20 bytes of IP, 20 of TCP and 20 of
 * options (MSS, SACK permitted, timestamps, window scale). Checked with tcpdump: both 60 bytes.
 * The packets of a sized TCP trace's set-up are these (see Walk.dataSegments).
 */
const HANDSHAKE_LENGTH = 60

/** A TCP data segment's flags in the middle of a transfer (the last of a write also has PSH). */
const DATA_SEGMENT_FLAGS: readonly string[] = ['ACK']

function hexMark(mark: number): string {
  return `0x${mark.toString(16)}`
}

/** A hop's receiving device as the tables see it: `local` (a packet born on the host) is none. */
function arrivedBy(inDev: string | undefined): string | undefined {
  return inDev === 'local' ? undefined : inDev
}

/** Whether `nft list ruleset` shows iptables-nft's own filter chain at `hook` (read as a native chain where iptables-save is missing). */
function iptablesNftFilterAt(view: HostView, hook: Hook): boolean {
  return (view.snap.nftables ?? []).some(c => c.family === 'ip' && c.table === 'filter' && c.hook === hook.toLowerCase())
}

/** Devices that find a next hop's MAC by ARP (the others send without one: tunnels of L3, loopback, dummy). */
const ARP_KINDS: ReadonlySet<string> = new Set(['ether', 'veth', 'bridge', 'vxlan', 'macvlan', 'ipvlan', 'openvswitch'])

function stateOf(n: {state: string[]}): string {
  return n.state.join(',') || 'NONE'
}

function describeRoute(r: Route, dst: string, dev: string | undefined): string {
  const prefix = routeDstText(r)
  if (isDefaultRoute(r)) {
    return r.gateway !== undefined
      ? `no more specific route: the default route sends it to ${r.gateway} via ${dev}`
      : `no more specific route: the default route sends it out of ${dev}`
  }
  if (r.gateway !== undefined) {
    return `${dst} matches ${prefix}: next hop ${r.gateway} via ${dev}${r.onlink ? ' (onlink: the gateway is taken as directly reachable)' : ''}`
  }
  return `${dst} matches ${prefix}: directly reachable on ${dev}`
}

class Walk {
  readonly hops: Hop[] = []
  readonly traceroute: string[] = []
  /** the traced packet as it was last seen (after any NAT) */
  lastPacket: Packet
  /**
   * for the reply: the hosts whose conntrack saw the request (it reached its destination), where
   * the reply is ESTABLISHED; elsewhere no connection expects it. Unset: every host is taken as
   * having seen it (the request was stopped, and the reply is traced as if it had gone on).
   */
  private requestSeenOn?: ReadonlySet<string>
  /** for the reply: the hosts whose raw table took the request out of conntrack; no connection there expects the reply either */
  private requestUntrackedOn?: ReadonlyMap<string, Untracker>
  /** the hosts where a NOTRACK took this walk's packet out of conntrack, by the rule that did */
  readonly untrackedOn = new Map<string, Untracker>()

  /**
   * fdb entries a vxlan device with `learning` wrote as a frame of this trace came in (vxlan_snoop):
   * "host dev mac" → the outer source it came from. Shared with the reply's walk and the ICMP
   * errors' walks, which find the sender's VTEP by them where no entry was read.
   */
  learnedFdb = new Map<string, string>()
  /**
   * The neighbour entries ARP requests on the way made on the hosts that answered them, keyed
   * "host|device|sender address", to the asker's name: arp_process gives the answering host an entry
   * for the request's sender (neigh_event_ns, STALE), so its own packets to that address go without ARP.
   */
  learnedNeighbours = new Map<string, string>()
  /** the `-m statistic` rules decided for this trace, and those met undecided (the request's walk only) */
  random?: RandomBranch
  /**
   * a TCP request's peer: the MTU its SYN-ACK's MSS stands for, which caps the segments sent to it;
   * `rewritten`: a rule on the way rewrote the MSS the peer announced (`of` names it)
   */
  peerMss?: {mtu: number, evidence: string, of: string, rewritten?: true}
  /**
   * Set on the walks of a TCP connection whose segments are sized (and of its set-up): the MSS
   * rewrites the SYN-ACK meets on its way back, each with its value, are kept here. The SYN's own
   * cap only what the server sends, which the trace does not size.
   */
  mssRewrites?: MssRewrite[]
  /**
   * A TCP request with a size: its packets are the data segments, ESTABLISHED on every host the
   * SYN passed (its set-up walk, traceWorld), without SYN, as long as the segment. The filter
   * tables see that (`-m length`, `--syn`, `--ctstate NEW` decide as on the kernel); NAT and
   * routing marks are the connection's, decided by its SYN.
   */
  dataSegments?: true
  /**
   * the host the packet is meant for: the destination the request names, and for the reply the
   * request's sender, which alone waits for it. Another host read that has its address too
   * (docker's default 172.17.0.0/16 on two hosts) takes a packet that reaches it first.
   */
  addressee?: {name: string, view: HostView, ip: string, node?: HostView}
  /**
   * Set on a walk that goes on past the filters that drop the packet, as if each let it by: the
   * failures they would have been, in order (the drops a first fix alone would leave)
   */
  passedDrops?: Failure[]
  /**
   * Set where TCP's port-less connect() lookup refused the connection (portlessConnectFails); a walk
   * for traceroute's probes, which have their port before their lookup, sets `probesPorted` to pass it.
   */
  portlessRefused = false
  probesPorted = false
  /** the request's translations conntrack undid on the reply (see mappedBack) */
  private readonly undone = new Set<NatRecord>()
  /** ... those it did not undo because a raw NOTRACK took the reply out of it there */
  private readonly untrackedUndos: {record: NatRecord, by?: Untracker}[] = []
  /** the bridge that switched the packet on a host, and whether br_netfilter showed it to that host's conntrack */
  private readonly switchedOn = new Map<string, {bridge: string, seen: boolean}>()
  /** the arrivals so far (host, device, addresses, outer or inner packet), each with its hop: the same one again is a loop */
  private readonly seen: {view: HostView, inDev: string, src: string, dst: string, outer: boolean, hop: number}[] = []
  private readonly routeOfHop = new Map<Hop, Route>()
  /** the policy rule that sent a hop's lookup to a table other than main (the table its route is in) */
  private readonly ruleOfHop = new Map<Hop, {priority: number}>()

  constructor(
    private readonly w: WorldIndex,
    private readonly warnings: Warnings,
    private readonly nat: NatRecord[],
    private readonly direction: 'forward' | 'return',
    private readonly network: string | undefined,
    /** the packet as its sender sent it: a trace to run again starts from it */
    private readonly first: Packet,
  ) {
    this.lastPacket = first
  }

  /** For a reply or an ICMP error: the conntrack state `request` left on the hosts it passed (and on `also`, where it is now). */
  answers(request: Walk, also?: string): void {
    this.requestSeenOn = new Set([...request.hops.map(h => h.node), ...(also !== undefined ? [also] : [])])
    this.requestUntrackedOn = request.untrackedOn
  }

  run(start: Next): End {
    let next = start
    while (!('end' in next)) next = this.visit(next)
    return next
  }

  // ---- bookkeeping

  /**
   * What traceroute prints for a probe answered here (`ADDR`, `ADDR !X` or `*`). An ICMP error about
   * a connection a host DNATed passes that host's conntrack on its way back, which rewrites the
   * error's source as well as the packet quoted in it (nf_nat_icmp_reply_translation): the prober
   * sees every hop from the DNAT host on, and the DNAT host itself, answer from the address it
   * sent to (traceroute -T -p 80 to a Service IP prints the Service IP at every hop).
   */
  private probeAnswered(entry: string): void {
    const dnat = this.nat.find(r => r.field === 'dst')
    if (dnat === undefined || entry === '*' || dnat.from === dnat.to) {
      this.traceroute.push(entry)
      return
    }
    const space = entry.indexOf(' ')
    this.traceroute.push(space === -1 ? dnat.from : `${dnat.from}${entry.slice(space)}`)
  }

  /**
   * A host answers a probe with an ICMP error (time exceeded, else the unreachable `mark` names):
   * traceroute prints the host only when that error gets back to the prober. The error is a packet
   * this host sends, so the same walk follows it, from here to the probe's source: this host's
   * OUTPUT chain and route back decide first, then every host on the way back, where conntrack
   * knows it as RELATED only if the probe passed that host (else INVALID: a `--ctstate
   * RELATED,ESTABLISHED` firewall on an asymmetric way back drops it, and traceroute prints `*`).
   */
  private answerProbe(view: HostView, inDev: string, packet: Packet, mark?: string, icmpType = mark === undefined ? 11 : 3): void {
    const {entry, from, end} = this.icmpErrorBack(view, inDev, packet, icmpType, icmpType === 11 ? 0 : unreachableCode(mark), mark)
    if (end === undefined) {
      this.probeAnswered(entry)
      return
    }
    const what = icmpType === 11 ? 'time exceeded' : `ICMP error${mark !== undefined ? ` (traceroute's ${mark})` : ''}`
    if (end.disposition === 'DELIVERED') {
      this.probeAnswered(entry)
    } else if (end.disposition === 'INSUFFICIENT_INFO') {
      this.probeAnswered(entry)
      const where = end.failure !== undefined ? `: at ${end.failure.node}, ${end.failure.reason}` : ''
      this.assume(view, `whether ${view.name}'s ${what} from ${from} gets back to ${packet.src} is unknown${where}; traceroute's ${entry} is a guess (it prints \`*\` if the error is lost)`)
    } else {
      this.probeAnswered('*')
      const where = end.failure !== undefined ? ` at ${end.failure.node} (${end.disposition}): ${end.failure.reason}` : ` (${end.disposition})`
      this.warnings.add('NO_RETURN_ROUTE', view.name, `${view.name}'s ${what} from ${from} to ${packet.src} is lost on its way back${where}: traceroute prints \`*\` for ${view.name}`)
    }
  }

  /**
   * Where an ICMP error this host sends about `packet` ends: the same walk follows it back to the
   * packet's source. No walk (no end) when the host has no address to send it from.
   */
  private icmpErrorBack(view: HostView, inDev: string, packet: Packet, icmpType: number, icmpCode: number | undefined, mark?: string): {entry: string, from: string, end?: End} {
    const entry = icmpErrorSource(view, inDev, packet.src, mark)
    if (entry === '*') return {entry, from: entry}
    const from = entry.split(' ')[0]
    // icmp_send looks the route up with no source unless icmp_errors_use_inbound_ifaddr gave it one
    const inbound = view.sysctlNumber('net.ipv4.icmp_errors_use_inbound_ifaddr') === 1
    const error = packetOf({
      src: from, dst: packet.src, proto: 'icmp', ttl: START_TTL, state: 'RELATED', icmpType,
      ...(icmpCode !== undefined ? {icmpCode} : {}),
      ...(inbound ? {} : {unboundSrc: true as const}),
    })
    const back = new Walk(this.w, new Warnings(), [...this.nat], 'return', this.network, error)
    back.answers(this, view.name)
    back.learnedFdb = this.learnedFdb
    back.learnedNeighbours = this.learnedNeighbours
    return {entry, from, end: back.run({view, inDev: 'local', packet: error, origin: true})}
  }

  /**
   * A bridge with `vlan_filtering 1` passes a frame only in a VLAN both the port it enters by and
   * the port (or the bridge itself) it leaves by carry; which they carry is `bridge vlan`'s, not
   * read. A port gets the default PVID 1 untagged when plugged in, so frames pass unless someone
   * changed that: assumed, and said.
   */
  private vlanFiltering(view: HostView, dev: string): void {
    const link = view.link(dev)
    if (link?.kind !== 'bridge' || link.vlanFiltering !== true) return
    this.assume(view, `${dev} on ${view.name} filters by VLAN (vlan_filtering 1), and which VLANs its ports and ${dev} itself carry was not read: assumed the frame's ports and ${dev} share an untagged PVID, as every port gets VLAN 1 when plugged in; a port without it drops the frame silently (\`bridge -j vlan show\` on ${view.name} tells)`)
  }

  /** `table`: the table of `view` not captured that the assumption stands in for */
  private assume(view: HostView, message: string, table?: UnreadTable): void {
    this.warnings.add('ASSUMED', view.name, message, table)
  }

  /** A route lookup's notes said as assumptions: the one made for want of the host's rules names that table */
  private assumeRouteNotes(view: HostView, notes: string[]): void {
    for (const note of notes) this.assume(view, note, view.isRulesUnreadNote(note) ? 'rules' : undefined)
  }

  private step(hop: Hop, kind: StepKind, verdict: StepVerdict, evidence: string, explanation: string): void {
    hop.steps.push({kind, verdict, evidence, explanation})
  }

  private fail(hop: Hop, disposition: Disposition, kind: StepKind, evidence: string, reason: string, fix: Fix[], node = hop.node): End {
    this.step(hop, kind, 'drop', evidence, reason)
    return {end: true, disposition, failure: {node, step: kind, evidence, reason, fix}}
  }

  private insufficient(hop: Hop, kind: StepKind, evidence: string, reason: string, node: string, commands: string[]): End {
    this.step(hop, kind, 'unknown', evidence, reason)
    return {end: true, disposition: 'INSUFFICIENT_INFO', failure: {node, step: kind, evidence, reason, fix: commands.map(command => ({node, command}))}}
  }

  private isNode(view: HostView): boolean {
    return this.w.isNode(view)
  }

  private newHop(node: string, inDev: string): Hop {
    const hop: Hop = {node, in: inDev, out: '-', steps: []}
    this.hops.push(hop)
    return hop
  }

  // ---- one host

  private visit(a: Arrival): Next {
    const hop = this.newHop(a.view.name, a.origin ? 'local' : a.inDev)
    const outer = a.packet.tunnel !== undefined
    // (a walk enters a few hosts: a scan of them is cheaper than a key for each)
    const earlier = this.seen.find(s => s.view === a.view && s.inDev === a.inDev && s.src === a.packet.src && s.dst === a.packet.dst && s.outer === outer)
    if (earlier !== undefined || this.hops.length > MAX_HOPS) return this.loop(hop, earlier?.hop ?? 0)
    this.seen.push({view: a.view, inDev: a.inDev, src: a.packet.src, dst: a.packet.dst, outer, hop: this.hops.length - 1})
    if (a.packet.tunnel === undefined) this.lastPacket = a.packet

    // a packet that crosses into another namespace loses its mark (skb_scrub_packet); its source,
    // chosen by the sender's route, is the one every later lookup sees
    const arrived = a.packet.mark !== undefined || a.packet.markDoubt !== undefined || (a.packet.unboundSrc && !a.origin)
      ? {...a.packet, mark: undefined, markDoubt: undefined, unboundSrc: undefined} : a.packet
    const elsewhere = this.forwardedElsewhere(hop, a)
    if (elsewhere !== undefined) return elsewhere
    // a host's own packet: the route its socket looked up, once for every use below
    const socket = a.origin ? this.socketLookup(a.view, arrived) : undefined
    let packet = this.untrack(hop, a.view, arrived, a.origin ? undefined : a.inDev, socket?.dev)
    let socketMark: {mark?: number, markDoubt?: string} | undefined
    if (socket === undefined) { // a packet that came in
      this.vlanFiltering(a.view, a.inDev)
      const down = this.receivingDeviceDown(hop, a.view, a.inDev)
      if (down) return down
      const big = this.receivingMtu(hop, a.view, a.inDev, packet)
      if (big) return big
      const pre = this.prerouting(hop, a.view, a.inDev, packet)
      if ('end' in pre) return pre
      packet = pre
      // ip_route_input_slow validates the source (rp_filter, a martian source) once the route
      // lookup found the destination local or unicast: a packet with no route, a null route or
      // a rule's action is dropped for that, and answered so, whatever rp_filter would say
      if (a.view.isLocal(packet.dst)) {
        const rp = this.reversePath(hop, a.view, a.inDev, packet)
        if (rp) return rp
      }
    } else {
      const unsent = this.socketLookupFails(hop, a.view, a.inDev, packet, socket)
      if (unsent) return unsent
      // raw and mangle OUTPUT (and native chains below nat's -100) see the packet as the socket sent it,
      // out of the device of the route looked up then; nat OUTPUT comes after them
      const early = this.filter(hop, a.view, 'OUTPUT', packet, undefined, socket.dev, false, 'beforeNat')
      if ('end' in early) {
        if (socket.unread !== undefined) this.assume(a.view, `${socket.unread}: assumed the socket's own lookup finds a route for ${packet.dst} (where it does not, the send fails before any chain sees a packet)`)
        return early
      }
      socketMark = {mark: packet.mark, markDoubt: packet.markDoubt}
      packet = withMark(packet, early)
      // A locally sent packet meets nat OUTPUT before its route is looked up again.
      packet = this.destinationNat(hop, a.view, 'OUTPUT', undefined, packet, socket.dev)
    }
    if (a.view.isLocal(packet.dst)) return this.arriveLocal(hop, a.view, a.inDev, packet, a.origin)
    return this.forward(hop, a.view, a.inDev, packet, a.origin, socketMark)
  }

  /**
   * Programs that see the packet before the tables do: a BPF dataplane (Cilium, Calico's eBPF mode)
   * redirects it between devices past the routing table and iptables, so the tables read here do not
   * tell its way (INSUFFICIENT_INFO); Open vSwitch takes a frame that enters one of its ports; an XDP
   * program on the receiving device may drop, bounce or redirect it, and is assumed to pass it.
   */
  private forwardedElsewhere(hop: Hop, a: Arrival): End | undefined {
    const view = a.view
    const bpf = bpfDataplane(view)
    if (bpf !== undefined) {
      return this.insufficient(hop, 'route', `(${bpf.device} on ${view.name})`,
        `${view.name} runs ${bpf.name} (it has ${bpf.device}): its BPF programs on ${a.origin ? 'the device the packet leaves by' : `${a.inDev}, where the packet comes in, and on the device it leaves by`} route, filter and translate it themselves, past the routing table and iptables read here, so those tables do not tell where it goes`,
        view.name, bpf.commands(a.origin ? undefined : a.inDev))
    }
    if (a.origin) return undefined
    if (ovsBridgeOf(view, a.inDev) === '') {
      return this.insufficient(hop, 'route', view.link(a.inDev)!.raw,
        `${a.inDev} on ${view.name} is a port of Open vSwitch (master ovs-system): the frame goes where the OVS bridge's flows send it, which no table read here holds`,
        view.name, ovsCommands('', a.inDev, a.packet.src, a.packet.dst))
    }
    const xdp = view.link(a.inDev)?.xdp
    if (xdp !== undefined) {
      const program = `${xdp.progId !== undefined ? `XDP program ${xdp.progId}${xdp.progName !== undefined ? ` (${xdp.progName})` : ''}` : 'an XDP program'}`
      const see = xdp.progId !== undefined ? `\`bpftool prog dump xlated id ${xdp.progId}\`` : `\`bpftool net show dev ${a.inDev}\``
      const message = `${a.inDev} on ${view.name} runs ${program} on every frame it receives, before any table: assumed it passes this packet (it may drop, bounce or redirect it; ${see} shows what it does)`
      this.step(hop, 'filter', 'assumed', xdpLine(xdp), message)
      this.assume(view, message)
    }
    this.tcFilters(hop, view, a.inDev, 'ingress')
    return undefined
  }

  /**
   * tc filters on a device's clsact/ingress qdisc act on the packet unseen: assumed to let it go on
   * unchanged. Where the qdiscs were not read, any device may have one, or a root qdisc that drops
   * (netem's loss, tbf's limit): that guess is said once per host.
   */
  private tcFilters(hop: Hop, view: HostView, dev: string, direction: 'ingress' | 'egress'): void {
    if (view.snap.qdiscs === undefined) {
      this.assume(view, `the qdiscs of ${view.name} were not captured: assumed none drops, delays or redirects the packet (tc filters on an ingress or clsact qdisc, netem's loss, tbf's limit); \`tc qdisc show\` on ${view.name} tells`, 'qdiscs')
      return
    }
    const qdisc = tcHook(view, dev, direction)
    if (qdisc === undefined) return
    const message = `${dev} on ${view.name} has a ${qdisc.kind} qdisc: tc filters there (BPF programs, redirects) see the packet ${direction === 'ingress' ? 'as it comes in, before any table' : 'as it leaves, after every table'}; assumed they let it go on unchanged (\`tc filter show dev ${dev} ${direction}\` lists them)`
    this.step(hop, 'filter', 'assumed', qdisc.raw, message)
    this.assume(view, message)
  }

  /**
   * A raw NOTRACK rule takes the packet out of conntrack on this host: its state is UNTRACKED here
   * (the next host tracks it again), no NAT applies, and `--ctstate` rules see that.
   */
  private untrack(hop: Hop, view: HostView, packet: Packet, inDev: string | undefined, outDev: string | undefined): Packet {
    const base = packet.untrackedAt !== undefined ? {...packet, untrackedAt: undefined, untrackedBy: undefined} : packet
    const hook = inDev === undefined ? 'OUTPUT' : 'PREROUTING'
    // native chains below conntrack's priority (-200) can take the packet out of it with `notrack`
    for (const c of view.hooks.chains(hook, inDev)) {
      if (c.priority >= -200 || c.type === 'nat') continue
      const o = evaluateNftChain(c, this.facts(view, base, inDev, outDev))
      if (o.notrack === undefined || o.verdict.kind === 'unknown') continue
      this.step(hop, 'filter', 'ok', o.notrack.text, `native nftables chain ${c.family} ${c.table} ${c.name}: ${ruleName(o.notrack)} takes the packet out of conntrack on ${view.name} (state untracked: no NAT, \`ct state new\`/\`established\` rules do not match it)`)
      const remove = o.notrack.handle !== undefined ? `nft delete rule ${o.notrack.family} ${o.notrack.table} ${o.notrack.chain} handle ${o.notrack.handle}` : undefined
      return this.untrackedHere(view, base, {rule: o.notrack.text, chain: `nft ${c.family} ${c.table} ${c.name}`, remove})
    }
    const rules = view.iptables
    if (rules === undefined || !rules.active('raw', inDev === undefined ? 'OUTPUT' : 'PREROUTING')) return base
    const r = rules.untracks(this.facts(view, base, inDev, outDev), hook)
    if (r === undefined) return base
    if ('doubt' in r) {
      this.assume(view, `cannot tell whether \`${r.doubt.raw}\` takes the packet out of conntrack: assumed it does not (where it does, --ctstate rules see it UNTRACKED and NAT skips it)`)
      return base
    }
    this.step(hop, 'filter', 'ok', r.rule.raw, `raw ${inDev === undefined ? 'OUTPUT' : 'PREROUTING'}: the packet is not tracked on ${view.name} (state UNTRACKED: no NAT, \`--ctstate NEW\`/\`ESTABLISHED\` rules do not match it)`)
    return this.untrackedHere(view, base, {rule: r.rule.raw, chain: `raw ${r.rule.chain}`, remove: `iptables -t raw -D ${r.rule.chain} ${r.rule.spec}`})
  }

  private untrackedHere(view: HostView, packet: Packet, by: Untracker): Packet {
    if (!this.untrackedOn.has(view.name)) this.untrackedOn.set(view.name, by)
    return {...packet, untrackedAt: view.name, untrackedBy: by}
  }

  /**
   * PREROUTING, before the route lookup: raw and mangle may drop the packet (the outer vxlan packet
   * too), then conntrack maps a reply back (de-SNAT) or nat sends a new connection elsewhere (DNAT).
   */
  private prerouting(hop: Hop, view: HostView, inDev: string, packet: Packet): Packet | End {
    const before = this.filter(hop, view, 'PREROUTING', packet, inDev, undefined, false, 'beforeNat')
    if ('end' in before) return before
    const translated = this.destinationNat(hop, view, 'PREROUTING', inDev, this.conntrackUndo(hop, view, withMark(packet, before), 'src'))
    // chains of a priority above dstnat (-100) see the translated packet
    const after = this.filter(hop, view, 'PREROUTING', translated, inDev, undefined, false, 'afterNat')
    if ('end' in after) return after
    return withMark(translated, after)
  }

  /**
   * conntrack maps a reply back: one to an address this host's SNAT gave the request gets the old
   * destination (before routing); one from an address its DNAT sent the request to gets the old
   * source (on the way out).
   */
  private conntrackUndo(hop: Hop, view: HostView, packet: Packet, rewrote: 'src' | 'dst'): Packet {
    if (this.direction !== 'return' || packet.tunnel !== undefined) return packet
    const field = rewrote === 'src' ? 'dst' : 'src'
    const undo = reverseTranslation(this.nat, view.name, rewrote, packet[field])
    if (undo === undefined) return packet
    // an untracked packet belongs to no connection: its addresses stay as they are
    if (packet.untrackedAt === view.name) {
      this.untrackedUndos.push({record: undo, by: packet.untrackedBy})
      return packet
    }
    this.undone.add(undo)
    const back = {...packet, [field]: undo.from}
    // the reply's source port is the request's destination port a DNAT rewrote
    if (rewrote === 'dst' && undo.fromPort !== undefined && packet.sport === undo.toPort) back.sport = undo.fromPort
    // its destination port is the client's again, in the client's range
    if (rewrote === 'src' && undo.portsBefore !== undefined && packet.ephemeral === 'dport') back.ephemeralRange = undo.portsBefore.range
    this.lastPacket = back
    this.step(hop, 'nat', 'de-nat', undo.evidence, rewrote === 'src'
      ? `conntrack maps the reply for ${undo.to} back to ${undo.from}, the address this host rewrote on the way out`
      : `conntrack gives the reply from ${undo.to} the source ${undo.from}, the destination this host rewrote on the way in`)
    return back
  }

  /**
   * nat PREROUTING (OUTPUT for a packet born here) on the first packet of a connection: a DNAT
   * sends it to another destination, which the route lookup then follows; conntrack puts the old
   * address back as the reply's source (see conntrackUndo).
   */
  /** `outDev`: in OUTPUT, the device of the route the socket looked up, which `-o` there matches */
  private destinationNat(hop: Hop, view: HostView, hook: 'PREROUTING' | 'OUTPUT', inDev: string | undefined, packet: Packet, outDev?: string): Packet {
    if (packet.tunnel !== undefined || this.conntrackState(view, packet) !== 'NEW' || !natAt(view, hook, inDev)) return packet
    const outcome = destinationNat(view, hook, this.facts(view, packet, inDev, outDev))
    if (outcome === undefined) return packet
    for (const a of outcome.decision.assumptions) this.assume(view, a)
    packet = withMark(packet, outcome)
    if (outcome.newDst === undefined && outcome.newDport === undefined) return packet
    const d = outcome.decision
    const newDst = outcome.newDst ?? packet.dst
    const translated = {...packet, dst: newDst, dport: outcome.newDport ?? packet.dport}
    // a port the DNAT chose is known, whatever the client's kernel picked
    if (outcome.newDport !== undefined && translated.ephemeral === 'dport') translated.ephemeral = undefined
    const port = (p: Packet): string => outcome.newDport !== undefined ? `:${p.dport}` : ''
    this.step(hop, 'nat', 'dnat', d.evidence, `${hook} ${d.action}: destination ${packet.dst}${port(packet)} becomes ${newDst}${port(translated)}${this.replyNatWhy(view)}`)
    this.nat.push({node: view.name, field: 'dst', from: packet.dst, to: newDst, evidence: d.evidence, ...this.ofReply(),
      ...(outcome.newDport !== undefined ? {fromPort: packet.dport, toPort: outcome.newDport} : {}), ...(outcome.newDst !== undefined && d.toRange !== undefined ? {toRange: d.toRange} : {})})
    this.lastPacket = translated
    return translated
  }

  /**
   * A reply delivered must come back with the request's addresses, as its sender sent it, swapped:
   * a connected socket takes nothing else. Conntrack undoes each NAT of the request, but only on the
   * host that made it and only for a packet it tracks: a raw NOTRACK there, a way back around that
   * host, or a bridge crossing it unseen (br_netfilter off) leaves the reply translated (checked: a
   * UDP and a TCP exchange DNATed by a router whose raw PREROUTING untracks the replies time out).
   * ping takes an echo reply from any source, printing `(DIFFERENT ADDRESS!)`; so for ICMP only a
   * reply that does not reach its sender fails. Returns `end` where nothing was left undone.
   */
  mappedBack(end: End, request: Packet): End {
    const hop = this.hops.at(-1)
    const got = this.lastPacket
    const deliver = hop?.steps.at(-1)
    if (end.disposition !== 'DELIVERED' || this.direction !== 'return' || hop === undefined || deliver?.kind !== 'deliver') return end
    const ported = (p: Packet) => p.proto === 'tcp' || p.proto === 'udp'
    const wrongSrc = got.src !== request.dst || (ported(got) && got.sport !== undefined && request.dport !== undefined && got.sport !== request.dport)
    const wrongDst = got.dst !== request.src
    if (!wrongSrc && !wrongDst) return end
    // the reply meets the translations in the reverse order of the request's
    const newest = [...this.nat].reverse()
    const left = newest.find(r => r.ofReply === undefined && !this.undone.has(r) && (r.field === 'dst' ? wrongSrc : wrongDst))
    const own = left === undefined ? newest.find(r => r.ofReply !== undefined && (r.field === 'src' ? wrongSrc : wrongDst)) : undefined
    const from = `${got.src}${ported(got) && got.sport !== undefined ? `:${got.sport}` : ''}`
    const sentTo = `${request.dst}${ported(request) && request.dport !== undefined ? `:${request.dport}` : ''}`
    const cause = left !== undefined ? this.notUndoneCause(left, natName(left)) : own !== undefined ? this.replyNatCause(own, got) : undefined
    if (cause === undefined) return end
    const sender = this.addressee !== undefined ? addresseeName(this.addressee) : request.src
    if (!wrongDst && got.proto === 'icmp') {
      deliver.explanation += ` (the echo reply comes from ${from}, not ${sentTo}: ${cause.why}; ping takes it, printing "(DIFFERENT ADDRESS!)", where a TCP or UDP connection would get no answer)`
      return end
    }
    hop.steps.pop()
    const reason = wrongDst
      ? `the reply stays addressed to ${got.dst}: ${cause.why}, so ${hop.node} takes it itself; ${sender}, which sent the request, hears nothing`
      : `the reply reaches ${sender} from ${from}, but the request went to ${sentTo}: ${cause.why}; no socket takes it (${
        got.proto === 'tcp' ? 'the SYN-ACK is answered with a reset, and the connection times out' : got.proto === 'udp' ? 'the connected UDP socket waits in vain' : 'the echo reply is lost'})`
    return this.fail(hop, 'NAT_NOT_UNDONE', 'deliver', deliver.evidence, reason, cause.fix)
  }

  /**
   * The reply's own translation `own`, made where no connection expected the reply (the request
   * passed that host untracked, or not at all), and what keeps the reply as it was: the request
   * tracked there, or the reply exempted from the rule. `got`: the reply as delivered.
   */
  private replyNatCause(own: NatRecord, got: Packet): {why: string, fix: Fix[]} {
    const by = this.requestUntrackedOn?.get(own.node)
    const why = `${own.node} has no connection for the reply (${by !== undefined ? `\`${by.rule}\` (${by.chain}) took the request out of conntrack there` : 'the request did not pass it'}), so its nat takes the reply for a new connection and ${natName(own)} rewrites its ${own.field === 'src' ? 'source' : 'destination'} to ${own.to}`
    if (by?.remove !== undefined) return {why, fix: [{node: own.node, command: by.remove}]}
    const [src, dst] = own.field === 'src' ? [own.from, got.dst] : [got.src, own.from]
    const chain = own.field === 'src' ? 'POSTROUTING' : this.hops[0]?.node === own.node ? 'OUTPUT' : 'PREROUTING'
    const exempt = own.evidence.startsWith('-A ')
      ? `iptables -t nat -I ${chain} -s ${src}/32 -d ${dst}/32 -j RETURN`
      : `nft list ruleset   # in the nat chain of \`${own.evidence}\`: ip saddr ${src} ip daddr ${dst} return, before it`
    return {why, fix: [{node: own.node, command: exempt}]}
  }

  /** Why conntrack did not undo `left` on the reply, and what lets it: in the order mappedBack tells them. */
  private notUndoneCause(left: NatRecord, what: string): {why: string, fix: Fix[]} | undefined {
    const untracked = this.untrackedUndos.find(u => u.record === left)
    if (untracked !== undefined) {
      const by = untracked.by
      const fix: Fix[] = by?.remove !== undefined ? [{node: left.node, command: by.remove}] : [{node: left.node, command: 'iptables -t raw -S; nft list ruleset   # the NOTRACK rule: narrow it so the reply stays tracked'}]
      return {why: `${by !== undefined ? `\`${by.rule}\` (${by.chain})` : 'a NOTRACK rule'} takes the reply out of conntrack on ${left.node}, so ${left.node} does not undo its ${what}`, fix}
    }
    const switched = this.switchedOn.get(left.node)
    if (switched?.seen === true) return undefined
    if (switched !== undefined) {
      // the key exists once the module is loaded
      const nf = this.w.view(left.node)?.sysctl('net.bridge.bridge-nf-call-iptables')
      const on = sysctlCommand('net.bridge.bridge-nf-call-iptables', 1)
      return {why: `${left.node} switches the reply across ${switched.bridge} without br_netfilter (${nf !== undefined ? `net.bridge.bridge-nf-call-iptables = ${nf}` : 'the module is not loaded: no net.bridge sysctls'}), so its conntrack never sees it and does not undo its ${what}`,
        fix: [{node: left.node, command: nf !== undefined ? on : `modprobe br_netfilter && ${on}`}]}
    }
    // (a reply to the address a source NAT gave the request goes to the host that has it)
    if (left.field === 'src') return undefined
    // the reply's first packet: from the server to the client as the server saw it
    const [client, server] = [this.first.dst, this.first.src]
    return {why: `the reply does not pass ${left.node}, whose conntrack alone undoes its ${what} (masqueraded there, the request brings the reply back by it)`,
      fix: [{node: left.node, command: `iptables -t nat -I POSTROUTING -s ${client}/32 -d ${server}/32 -j MASQUERADE`}]}
  }

  /** A host's own packet its route refuses is never built: the sender's call fails (the reply's sender, the kernel, sends nothing). */
  private unsent(view: HostView, error: string | undefined): string {
    if (this.direction !== 'forward' || error === undefined) return `${view.name} never sends the packet`
    return `${view.name} never sends the packet: the program's connect() or sendto() fails at once with ${error}`
  }

  /**
   * A socket's route is looked up before nat OUTPUT sees its packet (ip_route_connect; a DNAT then
   * has it looked up again): a destination without a route fails in connect() or sendto() at once,
   * whatever the DNAT would have made of it. A pod's packet is DNATed in PREROUTING, before any
   * lookup, so a ClusterIP works from pods and fails from a node that has no default route.
   * `dev`: the device that route leaves by (lo for the host's own addresses), where the routes tell;
   * raw and mangle OUTPUT's `-o` see it. `res`: the lookup, where the tables read decide it; `unread`:
   * why they do not.
   */
  private socketLookup(view: HostView, packet: Packet): SocketLookup {
    // (its own addresses are in the local table, which `ip rule` looks up first and the tables read do not hold)
    if (view.isLocal(packet.dst)) return {dev: 'lo'}
    if (view.routes === undefined) return {unread: `the routes of ${view.name} were not captured`}
    const res = view.routeFor(this.routingFlow(view, packet, 'lo', {mark: packet.mark}))
    const dev = res.route !== undefined && res.route.type === 'unicast' ? routeDevice(view.routes, res.route) : undefined
    if (view.snap.routesFilter !== undefined) return {dev, unread: `the routes of ${view.name} were pasted with \`${view.snap.routesFilter}\``}
    return {dev, res, unread: res.missingTable !== undefined ? `the rule \`${res.rule!.raw}\` looks up table ${res.missingTable}, whose routes were not captured on ${view.name}` : undefined}
  }

  /**
   * Where the socket's own lookup fails, the send fails at once (connect() or sendto(): ENETUNREACH,
   * EINVAL for a blackhole, EACCES for prohibit) and no chain sees a packet (checked: a raw OUTPUT DROP
   * counted nothing behind a rule's blackhole, seed 2911 case 33). The route step says why; a DNAT in
   * nat OUTPUT that would have sent it elsewhere is named.
   */
  private socketLookupFails(hop: Hop, view: HostView, inDev: string, sent: Packet, socket: SocketLookup): Next | undefined {
    const res = socket.res
    if (res === undefined) return undefined
    // what the lookup had to assume (policy rules not read) holds whatever chain ends the packet next
    this.assumeRouteNotes(view, res.notes)
    if (res.missingTable !== undefined) return undefined
    if (res.action === undefined && res.route !== undefined && res.route.type !== 'throw' && !NULL_ROUTE_TYPES.has(res.route.type)) return this.portlessConnectFails(hop, view, sent, res.route)
    const dnat = sent.state === 'NEW' && sent.tunnel === undefined && natAt(view, 'OUTPUT', undefined)
      ? destinationNat(view, 'OUTPUT', this.facts(view, sent, undefined, socket.dev))?.newDst : undefined
    if (dnat !== undefined && dnat !== sent.dst) return this.unroutedBeforeNat(hop, view, sent, {...sent, dst: dnat}, res)
    return this.forward(hop, view, inDev, sent, true, {mark: sent.mark, markDoubt: sent.markDoubt})
  }

  /**
   * TCP's connect() looks its route up before the socket has a port (tcp_v4_connect: source port 0;
   * the port comes after, and the SYN goes by a second lookup with it): a policy rule on source
   * ports that refuses port 0 fails connect() at once, though the SYN's own route exists (checked:
   * `not sport 32768-60999 prohibit` gives an unbound client EACCES, one bound to port 40000 connects).
   * UDP's connect() and sendto() pick the port first (inet_autobind), so they are not concerned.
   */
  private portlessConnectFails(hop: Hop, view: HostView, sent: Packet, routed: Route): End | undefined {
    if (this.direction !== 'forward' || this.probesPorted || sent.proto !== 'tcp' || sent.ephemeral !== 'sport' || sent.tunnel !== undefined) return undefined
    if (view.snap.rules?.some(r => r.sport !== undefined) !== true) return undefined
    const portless = view.routeFor({...this.routingFlow(view, sent, 'lo', {mark: sent.mark}), sport: 0, ephemeral: undefined})
    const refused = portless.action !== undefined ? portless.action : portless.route === undefined || portless.route.type === 'throw' ? 'no route' : NULL_ROUTE_TYPES.has(portless.route.type) ? portless.route.type : undefined
    if (refused === undefined || portless.missingTable !== undefined) return undefined
    const error = portless.action !== undefined ? RULE_SEND_ERRORS[portless.action] : refused === 'no route' ? 'ENETUNREACH ("Network is unreachable")' : ROUTE_SEND_ERRORS[refused]
    const by = portless.rule !== undefined && (portless.action !== undefined || portless.rule.table !== undefined) ? `the policy rule \`${portless.rule.raw}\`` : undefined
    const evidence = by !== undefined ? portless.rule!.raw : portless.route?.raw ?? `(no route to ${sent.dst})`
    const fix: Fix[] = portless.rule !== undefined && portless.action !== undefined ? [{node: view.name, command: `ip rule del pref ${portless.rule.priority}`}] : [{node: view.name, command: `ip route get ${sent.dst} ipproto tcp sport 0`}]
    this.portlessRefused = true
    return this.fail(hop, portless.action !== undefined || refused !== 'no route' ? 'NULL_ROUTED' : 'NO_ROUTE', 'route', evidence,
      `connect() on ${view.name} looks the route to ${sent.dst} up before its socket has a port (source port 0), and ${by !== undefined ? `${by} says ${refused}` : `finds ${refused === 'no route' ? 'no route' : `a ${refused} route`}`} for that: ${this.unsent(view, error)}, though the SYN, with its port, would go by \`${routed.raw}\` (a client bound to a port first, \`bind()\`, connects)`,
      fix)
  }

  private unroutedBeforeNat(hop: Hop, view: HostView, sent: Packet, translated: Packet, res: ReturnType<HostView['routeFor']>): End {
    const route = res.route
    const after = view.routeFor(this.routingFlow(view, translated, 'lo', {mark: translated.mark})).route
    const dev = after !== undefined && view.routes !== undefined ? routeDevice(view.routes, after) : undefined
    const fix: Fix[] = [{node: view.name, command: `ip route replace ${sent.dst} dev ${dev ?? 'DEVICE'}`}]
    const why = `the route is looked up before nat OUTPUT would send it to ${translated.dst}, so a program on ${view.name} sending to ${sent.dst} fails at once`
    if (res.action !== undefined) {
      // (checked: a rule `not from 10.91.0.0/16 iif lo prohibit` fails a connect() that nat OUTPUT would REDIRECT, with EACCES)
      return this.fail(hop, 'NULL_ROUTED', 'route', res.rule!.raw, `the policy rule \`${res.rule!.raw}\` on ${view.name} says ${res.action} for ${sent.dst}: ${why}`,
        [{node: view.name, command: `ip rule del pref ${res.rule!.priority}`}])
    }
    if (route === undefined || route.type === 'throw') {
      return this.fail(hop, 'NO_ROUTE', 'route', route?.raw ?? `(no route to ${sent.dst} in table main)`,
        `${view.name} has no route for ${sent.dst}: ${why} with "network is unreachable" (a DNAT in OUTPUT, as kube-proxy's for a ClusterIP, needs a route to the address it translates: a default route will do)`, fix)
    }
    return this.fail(hop, 'NULL_ROUTED', 'route', route.raw,
      `${sent.dst} matches ${route.type === 'unreachable' ? 'an' : 'a'} ${route.type} route on ${view.name}: ${why}`, [{node: view.name, command: routeDelCommand(route)}, ...fix])
  }

  private receivingDeviceDown(hop: Hop, view: HostView, inDev: string): End | undefined {
    const state = view.deviceDown(inDev)
    if (state === undefined && (!view.hasLinks || view.snap.linksOfSomeDevicesOnly === true)) return this.receivingDeviceUnseen(hop, view, inDev)
    if (state !== true) return undefined
    const down = linkDownCause(this.w, view, inDev)
    return this.fail(hop, 'DEVICE_DOWN', 'neigh', firstLine(view.link(inDev)!.raw),
      `${down.why}: it neither answers ARP nor takes frames in`, down.fix)
  }

  /**
   * A receiving device whose link was not read: its routes tell what they can. The kernel keeps a
   * device's routes only while it is up (setting it down takes all but its addresses' local routes)
   * and marks them linkdown while it has no carrier. A device with no route of its own read may be
   * down, which drops what comes in: assumed up, and said, only there (not at every hop of a paste
   * without links).
   */
  private receivingDeviceUnseen(hop: Hop, view: HostView, inDev: string): End | undefined {
    const own = view.snap.routes === undefined || view.snap.routesFilter !== undefined ? undefined
      : view.snap.routes.filter(r => r.dev === inDev && r.type !== 'local')
    if (own?.some(r => !r.linkdown)) return undefined
    if (own !== undefined && own.length > 0) {
      return this.fail(hop, 'DEVICE_DOWN', 'neigh', (own.find(r => r.gateway === undefined) ?? own[0]).raw,
        `${inDev} on ${view.name} has no carrier (\`ip route\` marks its routes linkdown): it neither answers ARP nor takes frames in`,
        [{node: view.name, command: `ip -d link show ${inDev}`}])
    }
    this.assume(view, assumedUp(view, inDev), 'links')
    return undefined
  }

  /**
   * A frame longer than the receiving device's MTU is dropped on the way in, silently: a veth checks
   * it (is_skb_forwardable, which leaves room for a VLAN tag, so an IP packet of up to MTU + 4 bytes
   * gets in). A bridge does not: its port checked the frame, and the bridge hands it up to its host
   * whatever its own MTU (a pod of MTU 1500 on a cni0 of 1450, as after a move to vxlan, reaches the
   * route out, which answers "fragmentation needed"). So a frame from a pod is measured against the
   * bridge port its veth ends in, when both ends were read (a pod of MTU 9000 on a port of 1450).
   */
  private receivingMtu(hop: Hop, view: HostView, inDev: string, packet: Packet): End | undefined {
    if (packet.size === undefined) return undefined
    const previous = this.hops.at(-2)
    const previousView = previous !== undefined ? this.w.view(previous.node) : undefined
    const senderLink = previous !== undefined ? previousView?.link(previous.out) : undefined
    let link = view.link(inDev)
    let dev = inDev
    if (link?.kind === 'bridge') {
      const port = senderLink?.kind === 'veth' && senderLink.peerIndex !== undefined && previousView !== undefined
        ? vethOtherEnd(this.w, previousView, senderLink.index, senderLink.peerIndex) : undefined
      if (port === undefined || port.view !== view || view.link(port.dev)?.master !== inDev) return undefined
      link = view.link(port.dev)!
      dev = port.dev
    }
    if (link === undefined || packet.size <= link.mtu + (link.kind === 'veth' ? VLAN_HLEN : 0)) return undefined
    // a bridge port too small for its pod: the pod's MTU is the one out of line with its node's
    const roomy = Math.max(senderLink?.mtu ?? packet.size, packet.size)
    const fix = dev !== inDev
      ? {node: previous!.node, command: `ip link set ${previous!.out} mtu ${link.mtu}`}
      : {node: view.name, command: `ip link set ${inDev} mtu ${roomy}`}
    // a peer's tunnel sized for a larger underlay than this one: lower it, or raise this underlay
    const t = packet.tunnel
    const vxMtu = t?.device.link?.mtu
    const fixes = t !== undefined && dev === inDev && t.sender !== view && vxMtu !== undefined && vxMtu + VXLAN_OVERHEAD > link.mtu
      ? tunnelMtuFixes({node: view.name, underlay: {name: inDev, mtu: link.mtu}, vxlan: {name: t.device.name, mtu: vxMtu, on: t.sender.name},
        roomy, senders: this.senderFits(t.sender, link.mtu - VXLAN_OVERHEAD)})
      : [fix]
    return this.fail(hop, 'MTU_EXCEEDED', 'mtu', firstLine(link.raw),
      `the ${packet.size}-byte packet${packet.tunnel ? ' (vxlan outer)' : ''} is longer than ${dev}'s MTU ${link.mtu}${dev !== inDev ? ` (the ${inDev} port ${previous!.node}'s ${previous!.out} ends in)` : ''} on ${view.name}${link.kind === 'veth' ? ` and the ${VLAN_HLEN} bytes a veth allows over it` : ''}: it is dropped on the way in, and no one tells the sender`,
      fixes)
  }

  /**
   * rp_filter: strict (1) wants the route back to the source to leave by the receiving device; loose (2) any route.
   * `lookupIif`: the device the lookup back comes from, `lo` for a packet to this host, the outgoing device for one forwarded.
   */
  private reversePath(hop: Hop, view: HostView, inDev: string, packet: Packet, lookupIif = 'lo'): End | undefined {
    const martian = this.ownSource(hop, view, inDev, packet)
    if (martian) return martian
    if (!view.hasSysctls) {
      if (this.isNode(view)) this.assume(view, `no sysctls captured on ${view.name}: assumed rp_filter does not drop (not strict)`, 'sysctls')
      return undefined
    }
    const allRead = view.sysctlNumber('net.ipv4.conf.all.rp_filter')
    const devRead = view.confValue(inDev, 'rp_filter')
    if ((allRead === undefined || devRead === undefined) && this.isNode(view)) {
      // a pasted `sysctl net.ipv4.ip_forward` holds that key alone
      const missing = [...(allRead === undefined ? ['net.ipv4.conf.all.rp_filter'] : []), ...(devRead === undefined ? [`net.ipv4.conf.${inDev}.rp_filter`] : [])]
      this.assume(view, `${missing.join(' and ')} not captured on ${view.name}: assumed ${missing.length > 1 ? 'they are' : 'it is'} 0 (distributions often set 1 or 2)`, 'sysctls')
    }
    const {mode, evidence, loosen: fix} = rpFilterOf(view, inDev)
    if (mode === 0) return undefined
    const table = view.routes
    if (table === undefined) {
      // the check is a route lookup back to the source: with no routes read its answer is unknown, not a pass
      return this.insufficient(hop, 'sysctl', evidence,
        `rp_filter=${mode} on ${inDev}: ${view.name} drops the packet unless its route back to ${packet.src} ${mode === 1 ? `leaves by ${inDev}` : 'exists'}, and the routes of ${view.name} were not captured`,
        // (the kernel's input lookup validates the source as rp_filter does: "Invalid argument" when it drops)
        view.name, [`ip route get ${packet.dst} from ${packet.src} iif ${inDev}`, 'ip route show table all'])
    }
    // fib_validate_source: the lookup back to the source is made with mark 0, from lookupIif, with the
    // packet's protocol and its ports swapped (fib4_rules_early_flow_dissect): an
    // `ipproto`/`sport`/`dport` rule applies to it
    const reverse = view.routeFor({dst: packet.src, src: packet.dst, iif: lookupIif, proto: packet.proto, sport: packet.dport, dport: packet.sport,
      ephemeral: swappedPort(packet.ephemeral), ephemeralRange: packet.ephemeralRange})
    this.assumeRouteNotes(view, reverse.notes)
    if (reverse.missingTable !== undefined) {
      return this.insufficient(hop, 'sysctl', reverse.rule!.raw,
        `rp_filter=${mode} on ${inDev}: the route back to ${packet.src} is chosen by the rule \`${reverse.rule!.raw}\`, which looks up table ${reverse.missingTable}, whose routes were not captured on ${view.name}`,
        view.name, [`ip route show table ${reverse.missingTable}`])
    }
    const back = reverse.route
    const backDev = back !== undefined && back.type === 'unicast' ? routeDevice(table, back) : undefined
    if (backDev === undefined && view.snap.routesFilter !== undefined) {
      this.assume(view, `the routes of ${view.name} were pasted with \`${view.snap.routesFilter}\`: assumed rp_filter finds a route back to ${packet.src}`, 'routes')
      return undefined
    }
    if (backDev === undefined) {
      const routeFix = this.routeFixesOrRouter(view, packet.src)
      // strict: a route back by another device than the packet came in on is dropped too (a pod's packet
      // that came by the underlay, where the route the fix adds leaves by the tunnel), so it is loosened as well
      const elsewhere = mode === 1 ? routeFix.map(f => /^ip route \S+ .* dev (\S+)/.exec(f.command)?.[1]).find(d => d !== undefined && d !== inDev) : undefined
      return this.fail(hop, 'REVERSE_PATH_FILTERED', 'sysctl', evidence,
        `rp_filter=${mode} on ${inDev}: ${view.name} has no usable route back to ${packet.src}${back ? ` (${back.raw})` : ''}${reverse.rule ? ` by its policy rule \`${reverse.rule.raw}\`` : ''}, so it drops the packet as spoofed${
          elsewhere !== undefined ? ` (the route the fix adds leaves by ${elsewhere}, not ${inDev}, where the packet came in: strict rp_filter would drop it still, so it is loosened too)` : ''}`,
        routeFix.length === 0 ? fix : elsewhere !== undefined ? [...routeFix, ...fix] : routeFix)
    }
    if (mode === 1 && backDev !== inDev) {
      return this.fail(hop, 'REVERSE_PATH_FILTERED', 'sysctl', evidence,
        `strict rp_filter: the packet from ${packet.src} came in on ${inDev}, but ${view.name}'s route back (${back!.raw}) leaves by ${backDev}, so it is dropped as spoofed`,
        fix)
    }
    // A loose check that passes says nothing worth a line; a strict one is what mixed backends trip on.
    if (mode === 1) this.step(hop, 'sysctl', 'ok', evidence, `strict rp_filter: the route back to ${packet.src} leaves by ${inDev}, as it came in`)
    return undefined
  }

  /**
   * fib_validate_source drops a packet that arrives with one of this host's own addresses as its
   * source ("martian source"), whatever rp_filter says, unless accept_local is on (all or the
   * device). A pod reaching itself through a DNAT (a node port, a Service) without a masquerade
   * meets it: its SYN comes back to it from itself (its reply would bypass the DNAT anyway).
   */
  private ownSource(hop: Hop, view: HostView, inDev: string, packet: Packet): End | undefined {
    if (inDev === 'lo' || !view.isLocal(packet.src)) return undefined
    // An ICMP error about a DNATed connection comes back with its source rewritten to the address
    // the prober sent to (nf_nat_icmp_reply_translation), which this walk leaves to probeAnswered.
    if (packet.state === 'RELATED' && this.nat.some(r => r.field === 'dst')) return undefined
    const allRead = view.sysctlNumber('net.ipv4.conf.all.accept_local')
    const devRead = view.confValue(inDev, 'accept_local')
    if ((allRead ?? 0) > 0 || (devRead ?? 0) > 0) return undefined
    if (allRead === undefined || devRead === undefined) {
      this.assume(view, `accept_local not captured on ${view.name}: assumed 0, the kernel's default (\`sysctl net.ipv4.conf.all.accept_local net.ipv4.conf.${inDev}.accept_local\` on ${view.name} tells)`, 'sysctls')
    }
    const evidence = devRead !== undefined ? `net.ipv4.conf.${inDev}.accept_local = ${devRead}` : allRead !== undefined ? `net.ipv4.conf.all.accept_local = ${allRead}` : '(assumed: accept_local = 0)'
    const dnat = this.nat.find(r => r.field === 'dst' && r.to === packet.dst)
    const via = dnat !== undefined ? ` (${dnat.node}'s DNAT \`${dnat.evidence}\` sent ${packet.src}'s packet back to it, and nothing masqueraded it)` : ''
    const fix: Fix[] = dnat !== undefined
      ? [{node: dnat.node, command: `iptables -t nat -I POSTROUTING -s ${packet.src}/32 -d ${packet.dst}/32 -j MASQUERADE`}]
      : [{node: view.name, command: sysctlCommand(`net.ipv4.conf.${inDev}.accept_local`, 1)}]
    const end = this.fail(hop, 'REVERSE_PATH_FILTERED', 'sysctl', evidence,
      `the packet arrives on ${inDev} from ${packet.src}, an address of ${view.name} itself${via}: the kernel drops it as a martian source (accept_local is off)`, fix)
    if (dnat !== undefined || view.isLocal(packet.dst)) return end
    // Routed back to the host that sent it: a loop the martian check cuts short. Its routers are
    // handed on as a loop's are, so mendLoop can find the route that points the wrong way
    // (accept_local would only let the packet round again).
    const routers = this.routersOf(this.hops.slice(this.hops.findIndex(h => h.node === view.name), -1))
    return routers.length > 0 ? {...end, loop: routers} : end
  }

  // ---- the packet is for this host

  private arriveLocal(hop: Hop, view: HostView, inDev: string, packet: Packet, origin: boolean): Next {
    if (origin) {
      const looped = this.loopback(hop, view, packet, 'afterNat')
      if ('end' in looped) return looped
      packet = looped
    } else {
      const denied = this.filter(hop, view, 'INPUT', packet, inDev, undefined)
      if ('end' in denied) {
        if (denied.reject && packet.tunnel === undefined) this.rejectedProbe(view, inDev, packet, denied.reject, true)
        return denied
      }
      // A reply to a connection this host sent and DNATed in OUTPUT is mapped back at INPUT.
      packet = this.conntrackUndo(hop, view, packet, 'dst')
    }
    if (packet.tunnel !== undefined) return this.decapsulate(hop, view, packet)
    hop.out = 'local'
    const other = this.otherAddressee(view, packet)
    if (other !== undefined && this.direction === 'return') return this.replyElsewhere(hop, view, packet, other)
    const balanced = this.ipvs(hop, view, packet)
    if (balanced !== undefined) return balanced
    // An echo request reaches the host and the kernel answers it, unless told to ignore them all.
    if (this.direction === 'forward' && packet.icmpType === 8 && view.sysctlNumber('net.ipv4.icmp_echo_ignore_all') === 1) {
      return this.fail(hop, 'DENIED_BY_FILTER', 'sysctl', 'net.ipv4.icmp_echo_ignore_all = 1',
        `${view.name} ignores every ICMP echo request (net.ipv4.icmp_echo_ignore_all = 1): ${packet.dst} is reached, but ping gets no answer; TCP and UDP are not affected`,
        [{node: view.name, command: sysctlCommand('net.ipv4.icmp_echo_ignore_all', 0)}])
    }
    const owned = view.ownAddress(packet.dst)
    const service = ipvsServiceAddress(view, packet.dst) ? ` (a Service address on ${IPVS_SERVICE_DEVICE}: the node answers a ping itself, IPVS takes TCP and UDP)` : ''
    const notMeant = other !== undefined ? ` (${addresseeName(other)}, which has the same address, is not reached)` : ''
    this.step(hop, 'deliver', 'delivered', owned?.raw ?? `(${packet.dst} is local to ${view.name})`,
      `${packet.dst} is an address of ${view.name}: delivered${notMeant}${service}${this.direction === 'forward' ? listenerNote(view.name, packet) : ''}`)
    return {end: true, disposition: 'DELIVERED'}
  }

  /** the host the packet is meant for, where `view` is another that has its address too */
  private otherAddressee(view: HostView, packet: Packet): Walk['addressee'] {
    const meant = this.addressee
    if (meant === undefined || packet.dst !== meant.ip || view === meant.view || meant.view.ownAddress(meant.ip) === undefined) return undefined
    return meant
  }

  /**
   * A reply delivered to a host that has the sender's address but is not the sender: no socket
   * there waits for it (an echo reply is dropped, a SYN-ACK answered with a reset), and the sender
   * hears nothing. Where nothing on the way rewrote the sender's address, masquerading its
   * traffic on its node, as docker does, brings the reply back to that node.
   */
  private replyElsewhere(hop: Hop, view: HostView, packet: Packet, sender: NonNullable<Walk['addressee']>): End {
    const owned = view.ownAddress(packet.dst)
    const unmasqueraded = !this.nat.some(r => r.field === 'src')
    const bridge = unmasqueraded && sender.node !== undefined ? sender.node.routes?.connectedRoute(sender.ip) : undefined
    const fix: Fix[] = bridge?.dev !== undefined && bridge.dst !== 'default'
      ? [{node: sender.node!.name, command: `iptables -t nat -A POSTROUTING -s ${routeDstText(bridge)} ! -o ${bridge.dev} -j MASQUERADE`}]
      : [{node: view.name, command: `ip -br addr show to ${packet.dst}   # ${sender.name} has this address too: one of them needs another`}]
    return this.fail(hop, 'DUPLICATE_ADDRESS', 'deliver', owned?.raw ?? `(${packet.dst} is local to ${view.name})`,
      `${packet.dst} is an address of ${view.name} too: the reply is delivered here, not to ${addresseeName(sender)}, which sent the request and hears nothing${unmasqueraded ? ` (its request kept its own address: nothing on the way masqueraded it)` : ''}`,
      fix)
  }

  /**
   * A packet a host sends to one of its own addresses leaves by `lo` and comes back in by it
   * (checked: `iptables -P INPUT DROP`, or a native input chain with policy drop, stops a node's
   * ping to its own address), so it meets OUTPUT and POSTROUTING out of lo, then PREROUTING and
   * INPUT in by lo, its mark kept; nat PREROUTING does not see it again (its connection's
   * destination was settled in OUTPUT).
   */
  loopback(hop: Hop, view: HostView, packet: Packet, outputPhase: 'all' | 'afterNat' = 'all'): Packet | End {
    let looped = packet
    const hooks = [['OUTPUT', undefined, 'lo'], ['POSTROUTING', undefined, 'lo'], ['PREROUTING', 'lo', undefined], ['INPUT', 'lo', undefined]] as const
    for (const [hook, inDev, outDev] of hooks) {
      const passed = this.filter(hop, view, hook, looped, inDev, outDev, false, hook === 'OUTPUT' ? outputPhase : 'all')
      if ('end' in passed) return passed
      looped = withMark(looped, passed)
      if (hook === 'POSTROUTING') this.loopbackSourceNat(hop, view, looped)
    }
    return this.conntrackUndo(hop, view, looped, 'dst')
  }

  /**
   * nat POSTROUTING sees the looped packet too (a rule without `-o` rewrites its source), and the
   * way back from an address not the host's own starts with a route lookup from 127.0.0.1 or
   * wherever the socket is bound (checked: SNAT to 10.91.1.5 of a router's ping REDIRECTed to
   * 127.0.0.1 gets no reply), which the trace does not follow: said, not modelled.
   */
  private loopbackSourceNat(hop: Hop, view: HostView, packet: Packet): void {
    if (this.conntrackState(view, packet) !== 'NEW' || !natAt(view, 'POSTROUTING', arrivedBy(undefined))) return
    const outcome = postrouting(view, this.facts(view, packet, undefined, 'lo'), packet.dst)
    if (outcome === undefined || outcome.newSrc === undefined) return
    for (const a of outcome.decision.assumptions) this.assume(view, a)
    if (outcome.newSrc === packet.src) {
      this.step(hop, 'nat', 'unchanged', outcome.decision.evidence, `POSTROUTING ${outcome.verdict === 'masquerade' ? 'MASQUERADE' : 'SNAT'}: source ${packet.src} stays (the address it has already)`)
      return
    }
    this.assume(view, `\`${outcome.decision.evidence}\` in nat POSTROUTING rewrites the source of the packet ${view.name} sends itself (by lo) to ${outcome.newSrc}: the trace keeps ${packet.src} and takes the reply as getting back (\`conntrack -L -d ${packet.dst}\` on ${view.name} shows the connection)`)
  }

  /**
   * kube-proxy's IPVS mode: IPVS takes a TCP or UDP packet for one of its virtual services at
   * LOCAL_IN, after the INPUT filter, and sends it on to an endpoint the ipvsadm table picks. A
   * Service address (on kube-ipvs0) is one surely; another local address (a NodePort) may be.
   */
  private ipvs(hop: Hop, view: HostView, packet: Packet): End | undefined {
    if (this.direction !== 'forward' || (packet.proto !== 'tcp' && packet.proto !== 'udp') || !runsIpvs(view)) return undefined
    const service = `${packet.dst}${packet.dport !== undefined ? `:${packet.dport}` : ''}`
    const list = `ipvsadm -Ln ${packet.proto === 'tcp' ? '-t' : '-u'} ${packet.dport !== undefined ? service : `${packet.dst}:<port>`}`
    if (ipvsServiceAddress(view, packet.dst)) {
      return this.insufficient(hop, 'nat', view.ownAddress(packet.dst)?.raw ?? `(${packet.dst} on ${IPVS_SERVICE_DEVICE})`,
        `${packet.dst} is a Service address kube-proxy's IPVS mode put on ${IPVS_SERVICE_DEVICE} of ${view.name}: IPVS sends the connection to one of the Service's endpoints (with no virtual service for ${packet.proto} ${service}, ${view.name} itself answers), and its table is not among those read`,
        view.name, [list])
    }
    this.assume(view, `kube-proxy runs in IPVS mode on ${view.name}: assumed no IPVS virtual service for ${packet.proto} ${service} (a NodePort or external IP there would send it on to an endpoint; \`${list}\` tells)`)
    return undefined
  }

  private decapsulate(hop: Hop, view: HostView, outer: Packet): Next {
    const t = outer.tunnel!
    let device: VxlanDevice
    // links pasted for some devices only (`ip -d link show eth0`) may lack the receiving one
    const unseen = view.hasLinks && view.snap.linksOfSomeDevicesOnly === true && receivingDevice(view, t.port, t.vni).match === undefined
    if (!view.hasLinks || unseen) {
      device = {...(assumedVxlan(t.device.name, view) ?? t.device), id: t.vni, port: t.port, assumed: true, mac: undefined, link: undefined}
      this.assume(view, `${unseen ? `the links of ${view.name} were pasted for some devices only` : `no link details captured on ${view.name}`}: assumed ${device.name} takes VNI ${t.vni} on UDP ${t.port}`, 'links')
    } else {
      const r = receivingDevice(view, t.port, t.vni)
      // A device known without its vxlan details cannot be said to disagree: it takes what its twin sends.
      const twin = r.match === undefined ? vxlanDevices(view).find(d => d.assumed && d.name === t.device.name) : undefined
      const match = r.match ?? (twin !== undefined ? {...twin, id: t.vni, port: t.port} : undefined)
      if (match === undefined) return this.tunnelMismatch(hop, view, outer, r.samePort, r.sameVni)
      device = match
      if (device.assumed) this.assume(view, this.assumedDeviceMessage(view, device), this.assumedDeviceTable(device))
      if (device.portAssumed) {
        this.assume(view, this.assumedPortMessage(view, device, t.port))
        device = {...device, port: t.port}
      }
      if (view.deviceDown(device.name)) {
        return this.fail(hop, 'DEVICE_DOWN', 'decap', firstLine(device.link!.raw),
          `${device.name} on ${view.name} is down: its UDP ${t.port} socket is closed and the packet is refused`,
          [{node: view.name, command: `ip link set ${device.name} up`}])
      }
      // vxlan_set_mac drops a frame from the device's own MAC as a loop (multicast echo), learning or not:
      // two nodes whose VTEPs share one MAC (VMs cloned with one /etc/machine-id) reach each other's pods never
      if (device.mac !== undefined && t.device.mac !== undefined && device.mac.toLowerCase() === t.device.mac.toLowerCase()) {
        return this.fail(hop, 'STALE_VTEP_MAC', 'decap', firstLine(device.link!.raw),
          `${t.sender.name}'s ${t.device.name} and ${view.name}'s ${device.name} have the same MAC ${device.mac}: ${view.name} takes a frame from its own MAC for a loop and drops it (VMs cloned with one /etc/machine-id get one MAC)`,
          this.sharedMacFix([{view: t.sender, device: t.device, underlay: outer.src}, {view, device, underlay: outer.dst}]))
      }
      // learning makes the receiver's fdb part of the decision: unread, a static entry elsewhere could drop the frame
      if (device.learning && t.device.mac !== undefined && !view.hasFdbOn(device.name)) {
        this.assume(view, `the fdb of ${view.name} for ${device.name} was not captured, and ${device.name} learns (\`learning\`): assumed no static entry puts ${t.sender.name}'s VTEP MAC ${t.device.mac} elsewhere than ${outer.src} (the kernel drops the frame then; \`bridge fdb show dev ${device.name}\` on ${view.name} tells)`, 'fdb')
      }
      const snooped = snoopedAway(view, device, t.device.mac, outer.src)
      if (snooped !== undefined) {
        return this.fail(hop, 'WRONG_VTEP_HOST', 'decap', snooped.raw,
          `${device.name} on ${view.name} learns (\`learning\`) and its ${snooped.flags.includes('permanent') ? 'permanent' : 'static'} fdb entry puts ${t.sender.name}'s VTEP MAC ${t.device.mac} at ${snooped.dst}, not at ${outer.src} the frame came from: the kernel does not move such an entry and drops the frame`,
          [{node: view.name, command: `bridge fdb replace ${t.device.mac} dev ${device.name} dst ${outer.src} self permanent`}])
      }
      if (device.mac !== undefined && device.mac !== t.innerMac) {
        return this.staleMac(hop, t, view, device, 'decap')
      }
      // a learning device that has no static entry for the sender's MAC learns (or moves) one to where the frame came from
      if (device.learning && t.device.mac !== undefined && fdbLookup(view, device.name, t.device.mac).entry?.dst !== outer.src) {
        this.learnedFdb.set(learnedKey(view, device.name, t.device.mac), outer.src)
      }
    }
    const learns = device.learning && t.device.mac !== undefined && this.learnedFdb.get(learnedKey(view, device.name, t.device.mac)) === outer.src
    this.step(hop, 'decap', device.assumed ? 'assumed' : 'ok', vxlanEvidence(device),
      `UDP ${outer.src} → ${outer.dst}:${t.port} VNI ${t.vni}: ${device.name} takes the frame for ${t.innerMac} and hands in ${t.inner.src} → ${t.inner.dst}${
        learns ? `; it learns (\`learning\`) that ${t.device.mac} is at ${outer.src}, which its frames back follow` : ''}`)
    hop.in = device.name
    this.lastPacket = t.inner
    // the inner packet arrives on another host: the sender's mark stays behind
    const inner = this.prerouting(hop, view, device.name, {...t.inner, mark: undefined})
    if ('end' in inner) return inner
    // the source is validated after the route lookup (see visit): forward() does it for a forwarded packet
    if (view.isLocal(inner.dst)) {
      const down = this.reversePath(hop, view, device.name, inner)
      if (down) return down
      return this.arriveLocal(hop, view, device.name, inner, false)
    }
    return this.forward(hop, view, device.name, inner, false)
  }

  private tunnelMismatch(hop: Hop, view: HostView, outer: Packet, samePort?: VxlanDevice, sameVni?: VxlanDevice): End {
    const t = outer.tunnel!
    const theirs = samePort ?? sameVni
    // Put right whichever side disagrees with the other nodes; with no majority, the receiver.
    const usual = (pick: (d: VxlanDevice) => number): number | undefined => {
      const counts = new Map<number, number>()
      for (const v of this.w.nodeViews()) {
        const d = vxlanDevices(v).find(x => x.name === t.device.name)
        if (d) counts.set(pick(d), (counts.get(pick(d)) ?? 0) + 1)
      }
      const sorted = [...counts].sort((a, b) => b[1] - a[1])
      return sorted.length > 0 && (sorted.length === 1 || sorted[0][1] > sorted[1][1]) ? sorted[0][0] : undefined
    }
    // flannel names a VTEP after its VNI: with no majority (two nodes), a flannel.<N> without VNI N is the odd one
    const misnamed = (d: VxlanDevice | undefined) => d !== undefined && isVxlanDeviceName(d.name) && d.name !== `flannel.${d.id}`
    // the network's own setting, when the store was read, for the device flannel names after its VNI
    const configured = (field: 'id' | 'port'): number | undefined => {
      const net = this.w.world.vxlan
      return net !== undefined && t.device.name === `flannel.${net.vni}` ? (field === 'id' ? net.vni : net.port) : undefined
    }
    const fixes = (field: 'id' | 'port'): Fix[] => {
      const norm = usual(d => d[field]) ?? configured(field)
      const senderFix = (value: number) => this.recreateVxlan(t.sender, t.device, {...t.device, [field]: value})
      const receiverFix = () => this.recreateVxlan(view, theirs, {id: t.vni, port: t.port, name: theirs?.name ?? t.device.name, local: theirs?.local ?? outer.dst})
      if (theirs === undefined) return receiverFix()
      if (norm !== undefined) return t.device[field] !== norm && theirs[field] === norm ? senderFix(norm) : receiverFix()
      if (field === 'id' && misnamed(t.device) !== misnamed(theirs)) return misnamed(t.device) ? senderFix(theirs.id) : receiverFix()
      // Nothing tells which of the two is the network's: either may be put right, as two ways. Both
      // directions of a pair offer the same two, in the same order (by node), so the request's and
      // the reply's fixes, listed together, are one choice.
      const what = field === 'id' ? 'VNI' : 'UDP port'
      const ways = [
        {view: t.sender, value: theirs[field], other: view.name, fix: () => senderFix(theirs[field])},
        {view, value: t.device[field], other: t.sender.name, fix: receiverFix},
      ].sort((a, b) => a.view.name.localeCompare(b.view.name))
      return ways.flatMap((w, i) => w.fix().map(f => ({...f, option: {choice: i + 1,
        why: `${w.view.name}'s ${t.device.name} to ${what} ${w.value}, the one ${w.other}'s has: nothing read says which of the two the network uses (no store with its net-conf, no third node to outvote)`}})))
    }
    if (samePort !== undefined) {
      return this.fail(hop, 'VNI_MISMATCH', 'decap', vxlanEvidence(samePort),
        `${view.name}'s ${samePort.name} listens on UDP ${t.port} for VNI ${samePort.id}, but ${t.sender.name} sends VNI ${t.vni}: the frame is dropped`,
        fixes('id'))
    }
    if (sameVni !== undefined) {
      return this.fail(hop, 'PORT_MISMATCH', 'decap', vxlanEvidence(sameVni),
        `${view.name}'s ${sameVni.name} (VNI ${t.vni}) listens on UDP ${sameVni.port}, but ${t.sender.name} sends to UDP ${t.port}: nothing takes the packet`,
        fixes('port'))
    }
    // a device of the sender's name that differs in both VNI and port is re-created, not added beside ("File exists")
    const named = vxlanDevices(view).find(d => d.name === t.device.name)
    return this.fail(hop, 'PORT_MISMATCH', 'decap', named !== undefined ? vxlanEvidence(named) : `(no vxlan device on ${view.name})`,
      `no vxlan device on ${view.name} listens on UDP ${t.port}${named !== undefined ? ` (its ${named.name} is for VNI ${named.id} on UDP ${named.port}, ${t.sender.name}'s for VNI ${t.vni} on UDP ${t.port})` : ''}: the kernel answers port unreachable`,
      this.recreateVxlan(view, named, {id: t.vni, port: t.port, name: t.device.name, local: named?.local ?? outer.dst}))
  }

  /**
   * Commands that (re)create a vxlan device with other settings. Deleting a device takes its
   * address, neighbours, fdb entries and routes with it, so they are put back from the snapshot.
   */
  private recreateVxlan(view: HostView, old: VxlanDevice | undefined, want: {id: number, port: number, name: string, local?: string}): Fix[] {
    const name = want.name
    const under = old?.dev ?? (want.local !== undefined ? view.ownAddress(want.local)?.dev : undefined)
    const mtu = old?.link?.mtu
    const cmds = [
      ...(old ? [`ip link del ${name}`] : []),
      `ip link add ${name}${old?.mac ? ` address ${old.mac}` : ''}${mtu ? ` mtu ${mtu}` : ''} type vxlan id ${want.id}${want.local ? ` local ${want.local}` : ''}${under ? ` dev ${under}` : ''} dstport ${want.port} nolearning`,
      ...view.ipv4On(name).map(a => `ip addr add ${a.local}/${a.prefixlen} dev ${name}`),
      `ip link set ${name} up`,
      ...(view.snap.neighbors ?? []).filter(n => n.dev === name && n.lladdr && n.state.includes('PERMANENT')).map(n => `ip neigh replace ${n.dst} lladdr ${n.lladdr} dev ${name} nud permanent`),
      ...(view.snap.fdb ?? []).filter(e => e.dev === name && e.dst !== undefined).map(e => `bridge fdb append ${e.mac} dev ${name} dst ${e.dst} self permanent`),
      ...(view.snap.routes ?? []).filter(r => r.dev === name && r.proto !== 'kernel').map(r => `ip route replace ${r.raw}`),
    ]
    return cmds.map(command => ({node: view.name, command}))
  }

  private staleMac(hop: Hop, t: Tunnel, peer: HostView, device: VxlanDevice, kind: StepKind): End {
    const sender = t.sender.name
    const dev = t.device.name
    const remote = vtepAddress(this.w, peer, device)
    const moved = this.peerMove(t, peer, device, remote)
    const n = t.sender.neighbour(dev, t.nexthop)
    const why = `${sender} sends frames for ${t.nexthop} to MAC ${t.innerMac}, but ${peer.name}'s ${device.name} now has MAC ${device.mac} (${this.whyMacChanged(t, peer, device, remote, moved)}): ${peer.name} drops them`
    if (moved !== undefined) {
      const pod = this.w.podAt(t.inner.dst, peer.name)
      const stranded = pod !== undefined && pod.node === peer.name && strandedPod(this.w, pod) ? pod : undefined
      // the peer's lease announces another MAC than its device has: the sender's sync would write that one, so the peer publishes first (as doctor says)
      const announced = this.leaseOf(remote)?.vtepMac?.toLowerCase()
      const unpublished = announced !== undefined && device.mac !== undefined && announced !== device.mac.toLowerCase()
      return this.fail(hop, 'STALE_VTEP_MAC', kind, n?.raw ?? vxlanEvidence(device),
        `${why}${unpublished ? `; ${peer.name}'s lease still announces ${announced}, so ${sender}'s sync puts that back until ${peer.name} publishes the new one` : ''}${
          stranded !== undefined ? `; ${stranded.name} stayed on the old subnet, which ${peer.name} no longer has, so it needs re-creating` : ''}`,
        [...(unpublished ? [publishVtepMacFix(peer.name, device.name, builtByOlderFlanneld(peer.snap))] : []), ...this.behindMoveFixes(t, peer.name, device, remote, moved, unpublished),
          ...(stranded !== undefined ? [recreatePodFix(peer.name, stranded.name)] : [])], sender)
    }
    const fix: Fix[] = [{node: sender, command: `ip neigh replace ${t.nexthop} lladdr ${device.mac} dev ${dev} nud permanent`}]
    if (remote !== undefined) fix.push({node: sender, command: `bridge fdb replace ${device.mac} dev ${dev} dst ${remote} self permanent`})
    if (t.sender.fdb(dev, t.innerMac).length > 0) fix.push({node: sender, command: `bridge fdb del ${t.innerMac} dev ${dev}`})
    const lease = this.leaseOf(remote)
    // the peer's lease still announces the old MAC: the sender's next sync would put the old entries back
    if (lease?.vtepMac !== undefined && lease.vtepMac.toLowerCase() === t.innerMac.toLowerCase()) fix.unshift(publishVtepMacFix(peer.name, device.name, builtByOlderFlanneld(peer.snap)))
    return this.fail(hop, 'STALE_VTEP_MAC', kind, n?.raw ?? vxlanEvidence(device), why, fix, sender)
  }

  /**
   * Two VTEPs with one MAC: one of them (the one at the higher underlay address, so the request's and
   * the reply's fixes are the same commands) gets a MAC of its own. A device's new MAC wipes its own
   * neighbour entries, permanent ones too (checked on the kernel), so its entry for the other VTEP
   * is written again after it, then the other node's entries for the new MAC.
   */
  private sharedMacFix(ends: {view: HostView, device: VxlanDevice, underlay: string}[]): Fix[] {
    const [keep, change] = [...ends].sort((a, b) => ipToInt(a.underlay) - ipToInt(b.underlay))
    const mac = stableVtepMac(change.underlay, change.device.id)
    const vtepIp = (end: typeof keep) => end.view.ipv4Addresses().find(a => a.dev === end.device.name)?.local ?? `<${end.view.name}'s ${end.device.name} address>`
    return [
      {node: change.view.name, command: `ip link set ${change.device.name} address ${mac}`},
      {node: change.view.name, command: `ip neigh replace ${vtepIp(keep)} lladdr ${keep.device.mac} dev ${change.device.name} nud permanent`},
      {node: keep.view.name, command: `ip neigh replace ${vtepIp(change)} lladdr ${mac} dev ${keep.device.name} nud permanent`},
      {node: keep.view.name, command: `bridge fdb replace ${mac} dev ${keep.device.name} dst ${change.underlay} self permanent`},
    ]
  }

  /** The store's lease of the node at `publicIP`, when the store was read (doctor). */
  private leaseOf(publicIP: string | undefined): NonNullable<World['leases']>[number] | undefined {
    return publicIP === undefined ? undefined : this.w.world.leases?.find(l => l.publicIP === publicIP)
  }

  /**
   * A peer whose VTEP is on another subnet than the one the sender routes to: its lease moved
   * (reset --release, then init), by the store's lease for its address, else by its VTEP address now.
   * `subnet` is its pod subnet now where the store or its connected routes tell it.
   */
  private peerMove(t: Tunnel, peer: HostView, device: VxlanDevice, remote: string | undefined): PeerMove | undefined {
    const lease = this.leaseOf(remote)
    if (lease !== undefined) {
      return cidrContainsIp(lease.subnet, t.nexthop) ? undefined : {subnet: lease.subnet, vtep: lease.subnet.split('/')[0], byStore: true}
    }
    const vtep = peer.ipv4On(device.name).find(a => a.prefixlen === 32)?.local
    if (vtep === undefined || vtep === t.nexthop) return undefined
    const served = peer.snap.routes?.find(r => r.proto === 'kernel' && r.dev !== device.name && r.dst !== 'default' && cidrContainsIp(normaliseDst(r.dst), vtep))
    return {subnet: served !== undefined ? normaliseDst(served.dst) : undefined, vtep, byStore: false}
  }

  /**
   * What mends a sender behind a peer's move: its sync, as doctor leads with; or, in its place (marked
   * byHand), the old route, neighbour and fdb entries go and the peer's new ones come. Patching the old neighbour
   * with the new MAC (the fix before) brought frames to a peer that routes the old subnet nowhere.
   */
  private behindMoveFixes(t: Tunnel, peer: string, device: VxlanDevice, remote: string | undefined, moved: PeerMove, unpublished: boolean): Fix[] {
    // a sender an older flanneld built has no sync to lead: the commands by hand are its fix, no alternative
    const noSync = builtByOlderFlanneld(t.sender.snap)
    const on = (command: string): Fix => (noSync ? {node: t.sender.name, command} : {node: t.sender.name, command, byHand: true})
    const dev = t.device.name
    const oldRoutes = (t.sender.snap.routes ?? []).filter(r => r.dev === dev && r.gateway === t.nexthop && inMainTable(r))
    return [
      ...(noSync ? [] : [behindMoveSync(t.sender.name, peer, moved.subnet ?? moved.vtep, {unpublished, byHand: true})]),
      ...oldRoutes.map(r => on(routeDelCommand(r))),
      ...(t.sender.neighbour(dev, t.nexthop) !== undefined ? [on(`ip neigh del ${t.nexthop} dev ${dev}`)] : []),
      ...(t.sender.fdb(dev, t.innerMac).length > 0 ? [on(`bridge fdb del ${t.innerMac} dev ${dev}`)] : []),
      ...(moved.subnet !== undefined ? [on(`ip route replace ${moved.subnet} via ${moved.vtep} dev ${dev} onlink`)] : []),
      on(`ip neigh replace ${moved.vtep} lladdr ${device.mac} dev ${dev} nud permanent`),
      ...(remote !== undefined ? [on(`bridge fdb replace ${device.mac} dev ${dev} dst ${remote} self permanent`)] : []),
    ]
  }

  /**
   * Why a peer's VTEP has another MAC, by what the store shows (its lease, found by the peer's
   * address), else by the tables (the peer's VTEP address now): its lease moved to another subnet
   * (reset --release and init made the device anew) and the sender still uses the old one, or the
   * device was re-created on the same lease, its lease announcing the new MAC or still the old.
   */
  private whyMacChanged(t: Tunnel, peer: HostView, device: VxlanDevice, remote: string | undefined, moved: PeerMove | undefined): string {
    if (moved?.byStore === true) {
      return `${peer.name}'s lease moved to ${moved.subnet}, the store shows, and its ${device.name} was made anew: ${t.sender.name} has not synced since`
    }
    if (moved !== undefined) {
      return `${peer.name}'s ${device.name} is ${moved.vtep} now, not ${t.nexthop}: its subnet moved to a new lease and ${t.sender.name} has not synced since`
    }
    const vtepMac = this.leaseOf(remote)?.vtepMac?.toLowerCase()
    if (vtepMac === device.mac?.toLowerCase()) return `it was re-created, e.g. after a reboot, and its lease announces the new MAC: ${t.sender.name} has not synced since`
    if (vtepMac === t.innerMac.toLowerCase()) return `it was re-created, e.g. after a reboot, and its lease still announces the old MAC: ${peer.name} has not published the new one`
    return 'it was re-created, e.g. after a reboot'
  }

  // ---- the packet goes on

  /**
   * `socketMark`: the mark a packet born here had as its socket sent it, where visit already walked
   * the OUTPUT stages before nat OUTPUT (raw, mangle): their mark is the packet's, and a change of
   * it has the route looked up again
   */
  private forward(hop: Hop, view: HostView, inDev: string, packet: Packet, origin: boolean, socketMark?: {mark?: number, markDoubt?: string}): Next {
    const outer = packet.tunnel !== undefined
    if (!origin) {
      const off = this.forwarding(hop, view, inDev)
      if (off) return off
      packet = {...packet, ttl: packet.ttl - 1}
    }
    const table = view.routes
    if (table === undefined) {
      return this.insufficient(hop, 'route', `(no routing table captured on ${view.name})`,
        `the routes of ${view.name} were not captured, so where it sends ${packet.dst} is unknown`, view.name, ['ip route show'])
    }
    const marked = socketMark !== undefined ? {mark: packet.mark, doubt: packet.markDoubt} : this.routingMark(view, packet, origin ? undefined : inDev)
    const asSent = socketMark !== undefined ? {...packet, ...socketMark} : packet
    const res = view.routeFor(this.routingFlow(view, asSent, origin ? 'lo' : inDev, marked))
    this.assumeRouteNotes(view, res.notes)
    if (res.missingTable !== undefined) {
      return this.insufficient(hop, 'route', res.rule!.raw,
        `the rule \`${res.rule!.raw}\` looks up table ${res.missingTable} for ${packet.dst}, whose routes were not captured on ${view.name}, so where it sends the packet is unknown`,
        view.name, [`ip route show table ${res.missingTable}`])
    }
    if (res.action !== undefined) {
      // the router answers as for a null route: "Packet filtered" (!X) for prohibit, "Network unreachable" (!N), a blackhole nothing
      const icmp = res.action === 'prohibit' ? '!X' : res.action === 'blackhole' ? undefined : '!N'
      if (icmp !== undefined && !origin && !outer && this.direction === 'forward') this.answerProbe(view, inDev, packet, icmp)
      const discarded = origin && !outer ? this.unsent(view, RULE_SEND_ERRORS[res.action])
        : `the packet is discarded there${res.action === 'blackhole' ? ' silently' : ` (ICMP ${res.action === 'prohibit' ? 'administratively prohibited' : 'network unreachable'})`}`
      return this.fail(hop, 'NULL_ROUTED', 'route', res.rule!.raw,
        `the policy rule \`${res.rule!.raw}\` on ${view.name} matches the ${outer ? 'outer vxlan packet' : 'packet'} from ${packet.src} to ${packet.dst} and says ${res.action}: ${discarded}`,
        [{node: view.name, command: `ip rule del pref ${res.rule!.priority}`}])
    }
    const route = res.route
    /** the policy rule that chose the table, when it is not the kernel's `from all lookup main` */
    const chosen = res.rule !== undefined ? {rule: res.rule, table: res.table!} : undefined
    const byRule = chosen === undefined ? '' : ` (table ${chosen.table}, chosen by the policy rule \`${chosen.rule.raw}\`)`
    const narrowed = view.snap.routesFilter
    if (route === undefined && narrowed !== undefined) {
      const some = narrowed === '-6' ? `hold IPv6 routes only (\`ip -6 route\`), so the IPv4 route it has for ${packet.dst} is unknown`
        : `were pasted with \`${narrowed}\`, which prints some only, so the route it has for ${packet.dst} is unknown`
      return this.insufficient(hop, 'route', `(no route to ${packet.dst} among the routes pasted with \`${narrowed}\`)`,
        `the routes of ${view.name} ${some}`, view.name, [`ip route get ${packet.dst}`])
    }
    if (narrowed !== undefined) this.assume(view, `the routes of ${view.name} were pasted with \`${narrowed}\`: assumed no other route is more specific for ${packet.dst}`, 'routes')
    if (route === undefined) {
      // The kernel answers a packet it cannot route with "network unreachable" (traceroute's !N).
      if (!origin && !outer && this.direction === 'forward') this.answerProbe(view, inDev, packet, '!N')
      const downSegment = this.segmentDown(view, packet.dst)
      if (downSegment !== undefined) {
        return this.fail(hop, 'NO_ROUTE', 'route', `(no route to ${packet.dst}: ${downSegment.evidence})`,
          `${view.name} has no route for ${packet.dst}: ${downSegment.why} (network is unreachable)`, downSegment.fix)
      }
      const podHere = this.w.podAt(packet.dst, view.name)
      const unplugged = podHere !== undefined && podHere.node === view.name ? unpluggedPod(this.w, view, podHere) : undefined
      if (unplugged !== undefined) {
        return this.fail(hop, 'NO_ROUTE', 'route', `(no route to ${packet.dst} in table main)`,
          `${view.name} has no route for ${packet.dst}: ${unplugged.why} (network is unreachable)`, unplugged.fix)
      }
      // a pod its node gave up (a new lease): a route toward its node would end there too
      if (podHere !== undefined && strandedPod(this.w, podHere)) {
        return this.fail(hop, 'NO_ROUTE', 'route', `(no route to ${packet.dst} in table main)`,
          `${view.name} has no route for ${packet.dst}: ${podHere.name} on ${podHere.node} is on a subnet its node no longer has (its veth is in no bridge and no bridge holds its gateway), so no node routes it; it needs re-creating (network is unreachable)`,
          [recreatePodFix(podHere.node, podHere.name)])
      }
      const fix = this.routeFixesOrRouter(view, packet.dst)
      const downTunnel = vxlanDevices(view).find(d => view.deviceDown(d.name) === true)
      if (res.byRules) {
        return this.fail(hop, 'NO_ROUTE', 'route', `(no route to ${packet.dst} in the tables ${view.name}'s policy rules look up)`,
          `${view.name}'s policy rules find no route for ${packet.dst} from ${packet.src}: the packet is dropped (network is unreachable)`,
          fix.length > 0 ? fix : [{node: view.name, command: `ip route replace ${packet.dst} via GATEWAY dev DEVICE`}])
      }
      const thrown = table.lookup(packet.dst)
      if (thrown?.type === 'throw') {
        return this.fail(hop, 'NO_ROUTE', 'route', thrown.raw,
          `${packet.dst} matches a throw route on ${view.name}: the lookup goes on to the next table, which has no route for it either: the packet is dropped (network is unreachable)`,
          fix.length > 0 ? fix : [{node: view.name, command: `ip route replace ${routeDstText(thrown)} via GATEWAY dev DEVICE`}])
      }
      return this.fail(hop, 'NO_ROUTE', 'route', `(no route to ${packet.dst} in table main)`,
        `${view.name} has no route for ${packet.dst} and no default route: the packet is dropped (network is unreachable)${downTunnel !== undefined ? `; ${downTunnel.name} is down, and the kernel removed the routes through it` : ''}`,
        fix.length > 0 ? fix : [{node: view.name, command: `ip route replace ${packet.dst} via GATEWAY dev DEVICE`}])
    }
    this.routeOfHop.set(hop, route)
    if (chosen !== undefined && chosen.table !== 'main') this.ruleOfHop.set(hop, chosen.rule)
    else this.ruleOfHop.delete(hop)
    if (NULL_ROUTE_TYPES.has(route.type)) {
      const home = homeNode(this.w, packet.dst)
      const fix = this.routeDeleted(hop, view, route)
      // the outer packet is for a VTEP: a route into the tunnel would be circular (the kernel refuses it: ELOOP)
      if (home !== undefined && home.view !== view && !outer) fix.push(...this.routeFixesOrRouter(view, packet.dst))
      // The route is looked up before the TTL is checked: the router answers a probe of any TTL with
      // "host unreachable" (!H) or "administratively prohibited" (!X); a blackhole stays silent.
      const icmp = route.type === 'unreachable' ? '!H' : route.type === 'prohibit' ? '!X' : undefined
      if (icmp !== undefined && !origin && !outer && this.direction === 'forward') this.answerProbe(view, inDev, packet, icmp)
      const kept = chosen === undefined && !outer ? daemonBlockNullRoute(this.w, view, route, packet.dst, home) : undefined
      if (kept !== undefined) {
        return this.fail(hop, 'NULL_ROUTED', 'route', route.raw, `${packet.dst} matches ${route.type === 'unreachable' ? 'an' : 'a'} ${route.type} route on ${view.name}: the packet is discarded there. ${kept.why}`, kept.fix)
      }
      return this.fail(hop, 'NULL_ROUTED', 'route', route.raw,
        `${outer ? `the outer vxlan packet (${packet.src} → ${packet.dst}, UDP ${packet.dport}${packet.mark ? `, mark ${hexMark(packet.mark)} kept from the inner packet` : ''}): ` : ''}${packet.dst} matches ${route.type === 'unreachable' ? 'an' : 'a'} ${route.type} route on ${view.name}${byRule}: ${origin && !outer ? this.unsent(view, ROUTE_SEND_ERRORS[route.type]) : 'the packet is discarded there'}${home !== undefined && home.view !== view ? ` although ${packet.dst} lives on ${home.view.name}` : ''}`,
        fix)
    }
    if (route.type !== 'unicast') {
      return this.fail(hop, 'NO_ROUTE', 'route', route.raw,
        `${packet.dst} matches ${/^[aeiou]/.test(route.type) ? 'an' : 'a'} ${route.type} route${byRule}: it gives no route to forward by`,
        routeFixes(this.w, view, packet.dst))
    }
    const dev = routeDevice(table, route)
    if (!origin) {
      // __mkroute_input hands the route's device to fib_validate_source as `oif`, which becomes the
      // lookup's iif: an `iif lo` rule steers the check for a packet to this host, not for one it forwards
      const rp = this.reversePath(hop, view, inDev, packet, dev ?? 'lo')
      if (rp) return rp
    }
    // The kernel checks that a gateway is on a link when the route is added (fib_check_nh), not when
    // it forwards: a route that names its device keeps sending there after the connected route that
    // let it in is gone or replaced, and ARP on that device decides (linkLayer), as for `onlink`.
    if (route.gateway !== undefined && !route.onlink && route.dev === undefined && (dev === undefined || table.connectedRoute(route.gateway) === undefined)) {
      return this.fail(hop, 'NEXT_HOP_NOT_ONLINK', 'route', route.raw,
        `the gateway ${route.gateway} is not on any link of ${view.name}${route.dev ? ` through ${route.dev}` : ''} (no connected route covers it), so the kernel cannot send to it (network is unreachable)`,
        this.notOnlinkFixes(hop, view, route, packet.dst))
    }
    if (dev === undefined) {
      return this.insufficient(hop, 'route', route.raw, `the route names no device`, view.name, ['ip route show'])
    }
    const tunnel = packet.tunnel
    // `ip link add … type vxlan … dev eth0` names the underlay for multicast and the MTU; it does not bind the route
    const unbound = tunnel !== undefined && tunnel.sender === view && tunnel.oif === undefined && tunnel.device.dev !== undefined && tunnel.device.dev !== dev
      ? `; ${tunnel.device.name}'s \`dev ${tunnel.device.dev}\` does not bind the outer packet to ${tunnel.device.dev}, only an fdb entry's \`via\` does` : ''
    const again = packet.unboundSrc && (marked.mark ?? 0) !== (asSent.mark ?? 0)
      ? `; mangle OUTPUT gave it mark ${hexMark(marked.mark ?? 0)}, so the kernel looked the route up again, from ${packet.src} (ip_route_me_harder)` : ''
    const bridged = this.bridgedDnat(hop, view, inDev, dev, packet, origin)
    if (bridged) packet = {...packet, ttl: packet.ttl + 1}
    this.step(hop, 'route', 'ok', route.raw, (outer ? 'outer packet: ' : '') + describeRoute(route, packet.dst, dev) + byRule + unbound + again +
      (bridged ? `; ${this.direction === 'return' ? 'conntrack\'s mapping back' : 'the DNAT'} sent it to an address behind ${dev}, the bridge it came in by, so br_netfilter switches it there instead of routing it (no TTL taken off, no traceroute hop)` : ''))
    if (route.paths !== undefined && route.paths > 1) {
      // fib_select_multipath hashes the flow with a seed the kernel picks at random: which path is not in the tables
      this.assume(view, `\`${firstLine(route.raw)}\` on ${view.name} is a multipath route with ${route.paths} nexthops: the kernel sends each flow by one of them, chosen by a hash with a random seed; traced the first (${route.gateway !== undefined ? `via ${route.gateway} ` : ''}dev ${dev}), the flow may take another (\`ip route get ${packet.dst} from ${packet.src}${origin ? '' : ` iif ${inDev}`}\` on ${view.name} tells)`)
    }
    if (hop.out === '-') hop.out = dev
    if (!origin && !outer && !bridged && this.direction === 'forward') this.answerProbe(view, inDev, packet)
    if (bridged && packet.dst === packet.src) {
      const hairpin = this.hairpinOff(hop, view, dev, packet)
      if (hairpin) return hairpin
    }

    // A device taken down loses its routes: one still read through it ends here. A device that is up
    // without a carrier (the other end of its veth down) keeps them, marked linkdown, and the kernel
    // routes by them: the MTU check, FORWARD (OUTPUT) and POSTROUTING see the packet before the
    // device fails to send it (checked on the kernel: a pod's DF ping over its MTU through such a
    // veth says "message too long", not that it is unreachable), so that failure comes last, in carrierLost.
    if (view.link(dev)?.up === false) {
      const down = linkDownCause(this.w, view, dev)
      return this.fail(hop, 'DEVICE_DOWN', 'route', firstLine(view.link(dev)!.raw),
        `the route sends the packet out of ${dev}, and ${down.why}`, down.fix)
    }
    if (view.deviceDown(dev) === undefined && !route.linkdown) this.assume(view, assumedUp(view, dev), 'links')
    // The kernel checks the MTU before the filter: ip_forward() answers "fragmentation needed" ahead
    // of the FORWARD hook, and a socket refuses a DF packet too big for its route before OUTPUT.
    const sized = this.mtu(hop, view, dev, packet, route)
    if (sized !== undefined && 'end' in sized) return sized
    if (sized !== undefined) packet = sized
    const denied = this.filter(hop, view, origin ? 'OUTPUT' : 'FORWARD', packet, origin ? undefined : inDev, dev, false, socketMark !== undefined ? 'afterNat' : 'all')
    if ('end' in denied) {
      if (denied.reject && !origin && !outer) this.rejectedProbe(view, inDev, packet, denied.reject, false)
      return denied
    }
    packet = withMark(packet, denied)
    const nexthop = route.gateway ?? packet.dst
    const mangled = this.filter(hop, view, 'POSTROUTING', packet, origin ? undefined : inDev, dev)
    if ('end' in mangled) return mangled
    packet = withMark(packet, mangled)
    packet = this.sourceNat(hop, view, origin ? undefined : inDev, dev, nexthop, this.conntrackUndo(hop, view, packet, 'dst'))

    this.tcFilters(hop, view, dev, 'egress')
    const lost = this.carrierLost(hop, view, dev, route, nexthop, packet)
    if (lost) return lost
    const vx = vxlanDevice(view, dev)
    if (vx !== undefined) return this.vxlanSend(hop, view, vx, nexthop, packet, route)
    const ovs = ovsBridgeOf(view, dev)
    if (ovs !== undefined) {
      return this.insufficient(hop, 'route', route.raw,
        `${dev} is ${ovs === '' ? 'a port of Open vSwitch (master ovs-system)' : `an internal port of the Open vSwitch bridge ${ovs}`}: the frame goes where the bridge's flows send it, which no table read here holds`,
        view.name, ovsCommands(ovs, dev, packet.src, packet.dst))
    }
    if (view.link(dev)?.kind === 'tun' || /^flannel0$/.test(dev)) {
      return this.insufficient(hop, 'route', route.raw,
        `${dev} is a TUN device (flannel's udp backend): flanneld carries the packet in user space, which the trace does not model`, view.name, ['cat /run/flannel/subnet.env'])
    }
    const sent = this.linkLayer(hop, view, dev, nexthop, packet, route)
    if (res.boundOnLink && packet.tunnel !== undefined && 'end' in sent && sent.failure !== undefined) this.boundTunnelFix(view, packet, sent.failure)
    return sent
  }

  /**
   * The packet routed out of a device that is up but has no carrier: lost as the device sends it. Losing
   * its carrier flushed the device's neighbours but the permanent ones, so on a device that resolves
   * by ARP a next hop without a usable entry is asked for, unanswered: host unreachable, as any ARP
   * that fails (checked: traceroute through a node whose eth0 lost its carrier prints it twice, then `!H`).
   * A host sending its own packet out of a device without carrier hears nothing back: its ping is
   * silent and traceroute prints `*` (checked: a veth whose other end is down, in a namespace of its own).
   */
  private carrierLost(hop: Hop, view: HostView, dev: string, route: Route, nexthop: string, packet: Packet): End | undefined {
    const noCarrier = view.deviceDown(dev)
    if (noCarrier === false || (noCarrier === undefined && !route.linkdown)) return undefined
    const kind = view.link(dev)?.kind
    const entry = view.neighbour(dev, nexthop)
    const unanswered = hop.in !== 'local' && (kind === undefined || ARP_KINDS.has(kind)) && (entry === undefined || neighbourUse(entry) !== 'usable') ? this.arpUnanswered(hop, view, packet) : ''
    if (noCarrier === true) {
      const down = linkDownCause(this.w, view, dev, nexthop)
      return this.fail(hop, 'DEVICE_DOWN', 'route', firstLine(view.link(dev)!.raw),
        `the route sends the packet out of ${dev}, and ${down.why}${unanswered}`, down.fix)
    }
    // The device itself was not captured; the route's own flag is the evidence of its carrier.
    return this.fail(hop, 'DEVICE_DOWN', 'route', route.raw,
      `the route sends the packet out of ${dev}, which has no carrier (\`ip route\` marks the route linkdown): its cable or the other end of its veth is down${unanswered}`,
      [{node: view.name, command: `ip -d link show ${dev}`}])
  }

  /**
   * A pod on a macvlan/ipvlan of its node's device and that node's own address on the device: the
   * driver hands neither the other's frames (checked on this kernel: ARP from the pod for the node's
   * address stays INCOMPLETE, the router on the same wire answers). The usual way round is a shim
   * device of the same kind on the node, routing the pod through it.
   */
  private stackedIsolation(view: HostView, dev: string, answer: Answer, nexthop: string): {reason: string, fix: Fix[]} | undefined {
    if (answer.kind !== 'host') return undefined
    const other = answer.view
    const pod = this.w.podOf(view)
    const otherPod = this.w.podOf(other)
    // the node's side is the device that answers or sends; the pod's, the device facing it
    let child: HostView, childDev: string, node: HostView, nodeDev: string
    if (pod !== undefined && pod.node === other.name) [child, childDev, node, nodeDev] = [view, dev, other, answer.inDev]
    else if (otherPod !== undefined && otherPod.node === view.name) [child, childDev, node, nodeDev] = [other, answer.inDev, view, dev]
    else return undefined
    // a parent whose frames reach the node's answering device by the wire (another device) is no obstacle
    const parent = stackedParent(child, childDev, node)
    if (parent === undefined || parent !== nodeDev) return undefined
    const kind = child.link(childDev)!.kind
    const podIp = (pod ?? otherPod)!.ip
    return {
      reason: `${childDev} of ${child.name} is a ${kind} device on ${parent} of ${node.name}, and ${nexthop} is ${other === node ? `${node.name}'s own address` : `${child.name}'s address`}: a ${kind} child and its parent never get each other's frames (they leave by the wire, which does not send them back), so ARP for ${nexthop} gets no reply (a ${kind} shim on the node with an address of its own carries the node's traffic to the pod, and the pod reaches the node at that address)`,
      fix: [{node: node.name, command: `ip link add ${kind}-shim link ${parent} type ${kind}${kind === 'macvlan' ? ' mode bridge' : ''} && ip addr add <a free address>/32 dev ${kind}-shim && ip link set ${kind}-shim up && ip route add ${podIp}/32 dev ${kind}-shim`}],
    }
  }

  /**
   * The outer packet was bound to the fdb entry's `via` device, no route out of it reaches the
   * VTEP, and the kernel's guess that the VTEP is on that link failed: the entry without `via`
   * (when the tables route the VTEP without it), else a route out of that device through a router.
   */
  private boundTunnelFix(view: HostView, packet: Packet, failure: Failure): void {
    const t = packet.tunnel!
    const oif = t.oif!
    const free = view.routeFor({...this.routingFlow(view, packet, 'lo', {mark: packet.mark}), oif: undefined})
    const router = this.routerOnLink(view, oif, packet.dst)
    failure.reason += ` (the fdb entry binds ${t.device.name}'s outer packets for ${t.innerMac} to ${oif} with \`via\`, and no route out of ${oif} leads to ${packet.dst}, so the kernel looks for it on ${oif}'s link)`
    failure.fix = free.route?.type === 'unicast'
      ? [{node: view.name, command: `bridge fdb replace ${t.innerMac} dev ${t.device.name} dst ${packet.dst} self permanent`}]
      : router !== undefined ? [{node: view.name, command: `ip route replace ${packet.dst} via ${router} dev ${oif}`}] : failure.fix
  }

  /**
   * The mark a packet carries when `view` routes it: PREROUTING has run (the walk carried its
   * marks), or, for one it sends, raw and mangle OUTPUT's MARK rules that surely match set it as
   * the route is looked up again. Policy rules with `fwmark` see it. Unknown (`doubt`) when iptables
   * was not captured or a marking rule may or may not match.
   */
  private routingMark(view: HostView, packet: Packet, inDev: string | undefined): {mark?: number, doubt?: string} {
    const rules = view.iptables
    if (rules === undefined) return {doubt: `no iptables captured on ${view.name}`}
    if (inDev !== undefined) return {mark: packet.mark, doubt: packet.markDoubt}
    if (!rules.mayMark) return {mark: packet.mark ?? 0}
    const facts = this.facts(view, packet, undefined, undefined)
    const r = rules.markAfter({...facts, dstIsLocal: false}, 'mangle', 'OUTPUT')
    return 'mark' in r ? {mark: r.mark} : {doubt: `\`${r.doubt.raw}\` may set one`}
  }

  /**
   * What the route lookup of `packet` sees (fib_rules_lookup's flow): a tunnel's outer packet is
   * bound to its fdb entry's `via` device, has a source port hashed from the inner flow, and keeps
   * the inner packet's mark; a packet sent without a source address looks its route up from 0.0.0.0.
   */
  private routingFlow(view: HostView, packet: Packet, iif: string, marked: {mark?: number, doubt?: string}): RoutingFlow {
    const tunnel = packet.tunnel
    // the binding and the inherited mark hold on the sending host only; a router sees a plain UDP packet
    const sending = tunnel !== undefined && tunnel.sender === view && iif === 'lo'
    const doubt = marked.doubt ?? (sending ? tunnel.markDoubt : undefined)
    // a mark mangle OUTPUT changed has the route looked up again (ip_route_me_harder), from the source it now has
    const rerouted = (marked.mark ?? 0) !== (packet.mark ?? 0)
    return {
      dst: packet.dst, src: packet.unboundSrc && !rerouted ? '0.0.0.0' : packet.src, iif, proto: packet.proto, sport: packet.sport, dport: packet.dport,
      ephemeral: packet.ephemeral, ephemeralRange: packet.ephemeralRange, mark: marked.mark, markDoubt: () => doubt,
      ...(sending ? {oif: tunnel.oif, oifKnown: true} : {}),
      ...(tunnel !== undefined ? {sportDoubt: `the outer packet's source port is hashed from the inner flow (${tunnel.device.name}'s srcport range)`} : {}),
    }
  }

  /** `route` deleted, and with it the policy rule that chose its table, where one did: with the route alone gone, the table may still decide */
  private routeDeleted(hop: Hop, view: HostView, route: Route): Fix[] {
    const rule = this.ruleOfHop.get(hop)
    return [{node: view.name, command: routeDelCommand(route)}, ...(rule !== undefined ? [{node: view.name, command: `ip rule del pref ${rule.priority}`}] : [])]
  }

  /**
   * A route whose gateway nothing on its link answers for. One in a table a policy rule chose goes
   * with that rule, as a null route there does: a route put in main would never be looked up (router
   * fuzz seed 2222 case 36: `ip route replace` in main left r2's lookup in table 200, the same drop).
   */
  private notOnlinkFixes(hop: Hop, view: HostView, route: Route, dst: string): Fix[] {
    if (this.ruleOfHop.has(hop) && tableOf(route) !== 'main') return this.routeDeleted(hop, view, route)
    const dev = route.dev
    if (dev !== undefined && vxlanDevice(view, dev) !== undefined) {
      return [{node: view.name, command: `ip route replace ${routeDstText(route)} via ${route.gateway} dev ${dev} onlink`}]
    }
    const viaTunnel = routeFixes(this.w, view, dst)
    if (viaTunnel.length > 0) return viaTunnel
    // (a link of this host reaches the destination itself: without this route, its connected route does)
    if (directlyConnected(this.w, view, dst)) return [{node: view.name, command: routeDelCommand(route)}]
    const router = dev !== undefined ? this.routerOnLink(view, dev, dst) : undefined
    if (router !== undefined) return [{node: view.name, command: `ip route replace ${routeDstText(route)} via ${router} dev ${dev}`}]
    const def = view.routes?.lookup('0.0.0.0')
    if (def?.gateway !== undefined && isDefaultRoute(def)) {
      return [{node: view.name, command: `ip route replace ${routeDstText(route)} via ${def.gateway}${def.dev ? ` dev ${def.dev}` : ''}`}]
    }
    return [{node: view.name, command: routeDelCommand(route)}]
  }

  /**
   * The route `view` lacks for `dst`: through the pod network's own fixes when `dst` is a pod or
   * node of it, else via a router on one of `view`'s links that forwards and routes `dst` on (the
   * prefix that router has for it).
   */
  private routeFixesOrRouter(view: HostView, dst: string): Fix[] {
    const fixes = routeFixes(this.w, view, dst)
    if (fixes.length > 0 || this.w.podOf(view) !== undefined || directlyConnected(this.w, view, dst)) return fixes
    for (const a of view.ipv4Addresses()) {
      if (a.prefixlen === 32 || view.deviceDown(a.dev) === true || isVxlanLink(view, a.dev)) continue
      const router = this.routerOnLink(view, a.dev, dst)
      if (router === undefined) continue
      const theirs = this.w.firstOwner(router, o => this.isNode(o.view))?.view.routes?.lookup(dst)
      const prefix = theirs !== undefined && !isDefaultRoute(theirs) ? routeDstText(theirs) : dst
      // a router on a link whose connected route another took the place of: that route back first,
      // or the kernel refuses the gateway ("Nexthop has invalid gateway"; router fuzz seed 9898 case 25)
      const link = displacedSubnet(view, router)
      return [...(link !== undefined ? [{node: view.name, command: link}] : []), {node: view.name, command: `ip route replace ${prefix} via ${router} dev ${a.dev}`}]
    }
    return []
  }

  /** A host on `dev`'s segment that forwards and routes `dst` on: the gateway a route to it should name. */
  private routerOnLink(view: HostView, dev: string, dst: string): string | undefined {
    const mine = view.deviceAddress(dev)
    if (mine === undefined) return undefined
    for (const other of this.w.nodeViews()) {
      if (other === view) continue
      const facing = other.deviceFacing(mine)
      // the kernel forwards by the receiving device's own switch (IN_DEV_FORWARD), which ip_forward sets for all
      if (facing === undefined || other.forwardingOff(facing.dev) !== undefined) continue
      const onward = other.routes?.lookup(dst)
      // A peer's own tunnel would carry it too, but that is a detour through a flannel node, not a router.
      if (facing !== undefined && onward?.type === 'unicast' && !isDefaultRoute(onward) && onward.dev !== undefined && onward.dev !== facing.dev &&
        !isVxlanLink(other, onward.dev)) return facing.local
    }
    return undefined
  }

  private forwarding(hop: Hop, view: HostView, inDev: string): End | undefined {
    const global = view.globalForwarding()
    const perDev = view.devConfNumber(inDev, 'forwarding')
    if (global === undefined && perDev === undefined) {
      if (!this.isNode(view)) {
        return this.fail(hop, 'FORWARDING_DISABLED', 'sysctl', '(assumed: net.ipv4.ip_forward = 0 in a pod namespace)',
          `${view.name} is a pod's namespace, which does not forward packets for others`, [])
      }
      this.assume(view, `no net.ipv4.ip_forward captured on ${view.name}: assumed forwarding is on`, 'sysctls')
      this.step(hop, 'sysctl', 'assumed', '(no sysctl data)', 'forwarding assumed on, as on any flannel node')
      return undefined
    }
    const key = view.forwardingOff(inDev)
    if (key !== undefined) {
      return this.fail(hop, 'FORWARDING_DISABLED', 'sysctl', `${key} = 0`,
        `${view.name} does not forward packets${global === 0 ? '' : ` that arrive on ${inDev}`}: the packet is dropped`,
        [{node: view.name, command: sysctlCommand(key, 1)}])
    }
    this.step(hop, 'sysctl', 'ok', perDev !== undefined && global === undefined ? `net.ipv4.conf.${inDev}.forwarding = ${perDev}` : `net.ipv4.ip_forward = ${global}`,
      `${view.name} forwards packets`)
    return undefined
  }

  /**
   * The packet's state in `view`'s conntrack. A reply on a host the request did not pass (the way
   * back differs) matches no connection there: an echo reply or a SYN-ACK cannot start one
   * (INVALID: `--ctstate ESTABLISHED` does not match it, `--ctstate INVALID -j DROP` does), a UDP
   * datagram starts its own (NEW).
   */
  private conntrackState(view: HostView, packet: Packet): PacketFacts['state'] {
    if (packet.untrackedAt === view.name) return 'UNTRACKED'
    if (packet.tunnel !== undefined || !this.noConnectionOn(view)) return packet.state
    if (packet.state === 'RELATED') return 'INVALID'
    if (packet.state !== 'ESTABLISHED') return packet.state
    return packet.proto === 'udp' ? 'NEW' : 'INVALID'
  }

  /**
   * For the reply (and an ICMP error): `view` has no connection that expects it, because the
   * request did not pass it or passed it untracked (raw NOTRACK).
   */
  private noConnectionOn(view: HostView): boolean {
    return this.requestSeenOn !== undefined && (!this.requestSeenOn.has(view.name) || this.requestUntrackedOn?.has(view.name) === true)
  }

  /** marks a translation the reply gets itself (see replyNatWhy), which no conntrack undoes */
  private ofReply(): {ofReply?: true} {
    return this.direction === 'return' ? {ofReply: true} : {}
  }

  /** Why a reply meets `view`'s nat table at all (a translation of it is the reply's own): said on its nat steps. */
  private replyNatWhy(view: HostView): string {
    return this.direction === 'return' ? ` (${this.noConnectionWhy(view)}; so the reply starts one of its own, which nat sees)` : ''
  }

  /** Why a filter that drops the reply sees it NEW or INVALID, not ESTABLISHED: said in the drop's reason. */
  private stateWhy(view: HostView, state: PacketFacts['state']): string {
    if (this.direction !== 'return' || (state !== 'NEW' && state !== 'INVALID') || !this.noConnectionOn(view)) return ''
    return ` (${this.noConnectionWhy(view)}; so the ${state === 'NEW' ? 'reply starts a connection of its own' : `${this.first.state === 'RELATED' ? 'ICMP error' : this.first.proto === 'tcp' ? 'SYN-ACK' : this.first.proto === 'icmp' ? 'echo reply' : 'reply'} starts none and is INVALID`})`
  }

  private noConnectionWhy(view: HostView): string {
    const by = this.requestUntrackedOn?.get(view.name)
    return `${view.name} has no connection for the reply: ${by !== undefined ? `\`${by.rule}\` (${by.chain}) took the request out of conntrack there` : 'the request did not pass it'}`
  }

  private facts(view: HostView, packet: Packet, inDev: string | undefined, outDev: string | undefined): NftFacts {
    const {localDevOf, routeBack} = view.routeFacts(packet)
    // every field always present, unset ones undefined: the filters copy these objects for each
    // table and chain, and copies of objects of one shape are cheap
    return {
      // the walk carries the mark from chain to chain on this host (see filter)
      mark: packet.mark, markFollowed: true, markDoubt: packet.markDoubt,
      // conntrack remembers which translations this host made for the connection (`ct status dnat`)
      ctDnat: this.nat.some(r => r.node === view.name && r.field === 'dst'),
      ctSnat: this.nat.some(r => r.node === view.name && r.field === 'src'),
      ctZoneUnknown: view.setsConntrackZone,
      src: packet.src, dst: packet.dst, proto: packet.proto, sport: packet.sport, dport: packet.dport, ephemeral: packet.ephemeral, ephemeralRange: packet.ephemeralRange,
      inDev: arrivedBy(inDev), outDev, bridged: false, state: this.conntrackState(view, packet), icmpType: packet.icmpType, icmpCode: packet.icmpCode,
      dstIsLocal: view.isLocal(packet.dst), srcIsLocal: view.isLocal(packet.src),
      ttl: packet.ttl, length: packet.size ?? (this.mssRewrites !== undefined && packet.proto === 'tcp' ? HANDSHAKE_LENGTH : undefined), pktType: view.frameKindFor(packet.dst),
      localDevOf, routeBack,
      mssRewrite: this.mssRewrites !== undefined ? (rule: string, mss: number | undefined) => this.takeMssRewrite(view, packet, inDev, rule, mss) : undefined,
      ctDir: this.direction === 'return' && packet.state === 'ESTABLISHED' ? 'REPLY' : undefined,
      tcpFlags: undefined,
      randomPick: this.random?.pick,
    }
  }

  /**
   * A rewrite of the SYN-ACK's MSS to `mss`, else (clamped to the path MTU: xt_TCPMSS, nft_rt's
   * get_tcpmss) to the smaller MTU of this host's routes to the packet's destination and back to
   * its source, less 40. Checked on a router whose outgoing link has MTU 1300: a mangle FORWARD
   * `--clamp-mss-to-pmtu` made the SYN-ACK's MSS 1460 arrive as 1260, `--set-mss 1000` as 1000
   * (the client's TCP_MAXSEG 1248, 988); limited by `-o` to the SYN's way, the SYN-ACK kept 1460.
   * false where the MTU is not known here (said instead).
   */
  private takeMssRewrite(view: HostView, packet: Packet, inDev: string | undefined, rule: string, mss: number | undefined): boolean {
    if (this.direction === 'forward') return true
    const value = mss ?? clampedMss(view, packet, arrivedBy(inDev))
    if (value === undefined) return false
    this.mssRewrites!.push({mss: value, rule, node: view.name})
    return true
  }

  /**
   * Every table and native nftables chain that can drop a packet at `hook`, in netfilter's order
   * (by priority: raw, mangle, filter, security and native chains between them); nat only
   * rewrites addresses and is walked apart. At PREROUTING `phase` splits them around dstnat:
   * chains before it see the packet as it came, chains after it the translated one. Only filter's
   * verdict is a step unless another table drops: their chains are empty or marking on almost every
   * host. What passes carries the mark the MARK rules of every stage gave the packet, in order
   * (the skb keeps it: a mark mangle PREROUTING sets is the one filter FORWARD tests), or the
   * doubt of one that may or may not have set it.
   */
  private filter(hop: Hop, view: HostView, hook: Hook, packet: Packet, inDev: string | undefined, outDev: string | undefined, bridged = false, phase: 'all' | 'beforeNat' | 'afterNat' = 'all'): End | {mark?: number, markDoubt?: string} {
    const rules = view.iptables
    if (view.snap.nftRulesetUnread === true && this.isNode(view)) {
      // one warning per host however many hooks it is met at (Warnings keeps one of each)
      this.assume(view, `the nftables ruleset of ${view.name} was not captured: assumed no native nft chain (firewalld, nftables.service, kube-proxy's nftables mode, flanneld's EnableNFTables) drops, rewrites or marks the packet there; \`nft list ruleset\` on ${view.name} tells`, 'nft')
    }
    // without iptables-save, iptables-nft's own chains in `nft list ruleset` are read as native ones
    if (rules === undefined && phase !== 'afterNat' && hook !== 'PREROUTING' && hook !== 'POSTROUTING' && this.isNode(view) && !iptablesNftFilterAt(view, hook)) {
      this.assume(view, `no iptables rules captured on ${view.name}: assumed the ${hook} chain accepts`, 'iptables')
      if (hook === 'FORWARD') this.step(hop, 'filter', 'assumed', '(no iptables-save data)', `FORWARD assumed to accept, as flannel's FLANNEL-FWD rules do`)
    }
    let mark = packet.mark
    let markDoubt = packet.markDoubt
    let accepted: string | undefined
    // the packet's facts only where a stage reads them: on most hosts most hooks have none
    let facts: NftFacts | undefined
    for (const stage of view.hooks.stages(hook, 'filter', arrivedBy(inDev), bridged)) {
      const early = stage.priority < -100
      if ((phase === 'beforeNat' && !early) || (phase === 'afterNat' && early)) continue
      facts ??= this.filterFacts(view, packet, inDev, outDev, bridged)
      const marked = mark === facts.mark && markDoubt === facts.markDoubt ? facts : {...facts, mark, markDoubt}
      const seen = 'chain' in stage ? withIptablesMarks(rules, marked, hook, stage.priority) : undefined
      const end = 'chain' in stage
        ? this.nativeChain(hop, view, hook, stage.chain, seen!, bridged)
        : this.iptablesTable(hop, view, hook, stage.table, marked, bridged)
      if ('end' in end) {
        if (end.failure !== undefined && end.disposition === 'DENIED_BY_FILTER' && facts.state === 'UNTRACKED' && packet.untrackedBy !== undefined) {
          const tracked = {...(seen ?? marked), state: this.dataSegments && facts.proto === 'tcp' ? 'ESTABLISHED' as const : this.conntrackState(view, {...packet, untrackedAt: undefined})}
          const passes = 'chain' in stage
            ? !['drop', 'reject', 'unknown', 'queue'].includes(evaluateNftChain(stage.chain, tracked).verdict.kind)
            : rules!.evaluate(stage.table, hook, tracked).action === 'ACCEPT'
          if (passes) end.failure.fix = untrackedFirst(view.name, packet.untrackedBy, tracked.state, end.failure.fix)
        }
        if (accepted !== undefined && end.failure !== undefined && end.disposition === 'DENIED_BY_FILTER') {
          // the usual surprise: an accept somewhere else (flanneld's own chain) does not save the packet
          const note = ` (the accept in ${accepted} ended that chain only: every base chain at this hook must let the packet through)`
          end.failure.reason += note
          const last = hop.steps.at(-1)
          if (last !== undefined) last.explanation += note
        }
        if (this.passedDrops === undefined || end.failure === undefined || end.disposition !== 'DENIED_BY_FILTER') return end
        this.passedDrops.push(end.failure)
        continue
      }
      if (seen === undefined) {
        mark = end.mark
        markDoubt = end.markDoubt
      } else if (end.mark !== seen.mark) {
        // where iptables' own marks are replayed from the rules each time (withIptablesMarks), only what a native rule set is carried;
        // a native rule that gave a mark the trace cannot know leaves it in doubt
        mark = end.mark
        if (end.mark === undefined) markDoubt ??= 'a native nftables rule gave it one the trace cannot know'
        else if (facts.markFollowed === true) markDoubt = undefined
      }
      accepted = end.accepted ?? accepted
    }
    return {mark, markDoubt}
  }

  /**
   * What the filter tables read of `packet`: a sized TCP connection's data segments are ESTABLISHED,
   * without SYN; a bridged frame's PREROUTING is not walked, so its mark is replayed from the rules
   * (withIptablesMarks), not followed.
   */
  private filterFacts(view: HostView, packet: Packet, inDev: string | undefined, outDev: string | undefined, bridged: boolean): NftFacts {
    const own = this.facts(view, packet, inDev, outDev)
    const facts = bridged ? {...own, markFollowed: false} : own
    if (!this.dataSegments || facts.proto !== 'tcp') return facts
    return {...facts, state: facts.state === 'UNTRACKED' ? 'UNTRACKED' : 'ESTABLISHED', ctDir: 'ORIGINAL', tcpFlags: DATA_SEGMENT_FLAGS}
  }

  /** One iptables table's chain at `hook`; what it passes has the mark its MARK rules gave (followed on a non-bridged walk). */
  private iptablesTable(hop: Hop, view: HostView, hook: Hook, table: string, facts: NftFacts, bridged: boolean): End | {mark?: number, markDoubt?: string, accepted?: string} {
    const rules = view.iptables!
    // FORWARD's filter verdict is shown even from an empty chain: it is where pod traffic is let through or not.
    const shown = table === 'filter' && hook === 'FORWARD'
    if (!shown && !rules.active(table, hook)) return {mark: facts.mark, markDoubt: facts.markDoubt}
    const what = describeFlow(facts)
    const seen = facts.bridged === bridged ? facts : {...facts, bridged}
    const marked = facts.markFollowed === true ? rules.markThrough(seen, table, hook) : {mark: facts.mark}
    const passed = 'mark' in marked ? {mark: marked.mark, markDoubt: facts.markDoubt} : {mark: facts.mark, markDoubt: facts.markDoubt ?? `\`${marked.doubt.raw}\` (iptables) may set it`}
    const d = rules.evaluate(table, hook, seen)
    for (const a of d.assumptions) this.assume(view, a)
    this.resetDecidesOtherwise(view, table, hook, seen, d)
    const where = d.path.join(' → ')
    const chain = table === 'filter' ? hook : `${table} ${hook}`
    if (d.action === 'ACCEPT') {
      if (table === 'filter' && d.notCaptured) this.step(hop, 'filter', 'assumed', d.evidence, `${chain} assumed to accept: the pasted rules do not list it`)
      else if (table === 'filter') this.step(hop, 'filter', 'accept', d.evidence, `${chain}${bridged ? ' (bridged, br_netfilter)' : ''}: ${what} accepted ${d.rule ? `by ${where}` : 'by the chain policy'}`)
      return d.rule !== undefined ? {mark: passed.mark, markDoubt: passed.markDoubt, accepted: `iptables ${table === 'filter' ? '' : `-t ${table} `}${where}`} : passed
    }
    if (d.action === 'QUEUE') {
      const queue = /--queue-num (\d+)/.exec(d.evidence)?.[1] ?? '0'
      return this.queued(hop, view, chain, what, d.evidence, queue)
    }
    if (d.uncaptured !== undefined) {
      // the chain it skipped may have accepted the packet before this verdict
      return this.insufficient(hop, 'filter', d.uncaptured.rule.raw,
        `${chain} on ${view.name} jumps to ${d.uncaptured.chain}, which the pasted rules do not list; without it the packet would end at \`${d.evidence}\`, but ${d.uncaptured.chain} may decide first`,
        view.name, [`iptables${table === 'filter' ? '' : ` -t ${table}`} -S ${d.uncaptured.chain}`])
    }
    const fix = filterFixes(view, table, hook, d.rule, this.network, {src: facts.src, dst: facts.dst, proto: facts.proto, dport: facts.dport, sport: facts.sport, ephemeral: facts.ephemeral, state: facts.state,
      dstRange: this.nat.find(r => r.field === 'dst' && r.to === facts.dst && r.toRange !== undefined)?.toRange})
    const reject = d.action === 'REJECT' ? rejectAnswer(d.rule?.spec ?? '') : undefined
    const end = this.fail(hop, 'DENIED_BY_FILTER', 'filter', d.evidence,
      `${chain} on ${view.name}${bridged ? ' (bridged, br_netfilter)' : ''} ${reject ? 'rejects' : 'drops'} ${what} ${d.rule ? `at ${where}` : `by the chain policy ${d.action}`}${this.stateWhy(view, facts.state)}${reject ? this.rejectAnswered(reject, facts) : ''}`,
      fix)
    return reject !== undefined ? {...end, reject} : end
  }

  /**
   * The traced TCP reply is the SYN-ACK of a program listening on the port, which the tables do not
   * show; with none, the host answers with a reset (RST,ACK). A rule on `--tcp-flags` that treats the
   * two apart (a drop of resets in a pod's OUTPUT: the sender waits instead of "connection refused")
   * makes the reply's fate hang on the listener, which is said.
   */
  private resetDecidesOtherwise(view: HostView, table: string, hook: Hook, facts: PacketFacts, synAck: Decision): void {
    if (this.direction !== 'return' || facts.proto !== 'tcp' || facts.state === 'NEW') return
    const reset = view.iptables!.evaluate(table, hook, {...facts, tcpFlags: ['RST', 'ACK']})
    if ((reset.action === 'ACCEPT') === (synAck.action === 'ACCEPT')) return
    const port = facts.sport === undefined ? '' : ` ${facts.sport}`
    this.assume(view, `the reply traced is the SYN-ACK of a program listening on port${port}; with none, ${facts.src} answers with a reset (RST,ACK), which ${table} ${hook} on ${view.name} ${reset.action === 'ACCEPT' ? `lets through (\`${synAck.evidence}\` stops only the SYN-ACK)` : `stops at \`${reset.evidence}\`: the sender then waits instead of "connection refused"`} (\`ss -lnt 'sport = :${facts.sport ?? 'PORT'}'\` on the replying host tells)`)
  }

  private queued(hop: Hop, view: HostView, chain: string, what: string, evidence: string, queue: string): End {
    return this.insufficient(hop, 'filter', evidence,
      `${chain} on ${view.name} hands ${what} to a user-space program (NFQUEUE queue ${queue}): its verdict is not in any table, and with no program listening on the queue the kernel drops the packet`,
      view.name, ['cat /proc/net/netfilter/nfnetlink_queue'])
  }

  /**
   * A native nftables base chain, evaluated rule by rule (trace/nft.ts). An accept ends this chain
   * only: the next base chain at the hook still sees the packet. A rule the trace cannot decide
   * leaves the chain to what it may do: where it may drop the packet the trace stops there
   * (INSUFFICIENT_INFO, naming the rule and the chain), otherwise it goes on with an assumption.
   */
  private nativeChain(hop: Hop, view: HostView, hook: Hook, c: NftChain, facts: NftFacts, bridged: boolean): End | {mark?: number, markDoubt?: string, accepted?: string} {
    const o = evaluateNftChain(c, facts)
    for (const a of o.assumptions) this.assume(view, a)
    const what = describeFlow(facts)
    const chain = `nft ${c.family} ${c.table} ${c.name}${!bridged ? '' : c.family === 'bridge' ? ' (bridged)' : ' (bridged, br_netfilter)'}`
    const where = o.path.join(' → ')
    const v = o.verdict
    const marked = o.mark !== facts.mark && o.marked !== undefined
      ? `; ${o.mark === undefined ? 'the packet mark becomes unknown' : `the packet mark becomes ${hexMark(o.mark)}`} (${ruleName(o.marked)})` : ''
    if (v.kind === 'unknown') {
      const may = mayDo(c)
      // iptables-nft's own table read from the ruleset for want of iptables-save, which prints its matches (nft shows them as `xt`)
      const xt = view.snap.iptables === undefined && c.family === 'ip' && XTABLES.has(c.table)
      const why = `cannot evaluate ${ruleName(v.rule)} in native nftables chain ${c.family} ${c.table} ${c.name} on ${view.name}: ${v.what}${xt ? ` (the chain is iptables-nft's, and iptables-save, which prints its rules whole, was not captured on ${view.name})` : ''}`
      const find = [...(xt ? [`iptables-save -t ${c.table}`] : []), listChain(c)]
      if (may === 'decide') {
        const drops = c.policy === 'drop' ? 'the chain drops what none of its rules accepts' : 'a rule of it drops or rejects what it matches'
        return this.insufficient(hop, 'filter', v.rule.text, `${why}; ${drops}, so whether ${what} passes is not in the rules read`, view.name, find)
      }
      this.step(hop, 'filter', 'assumed', v.rule.text, `${why}; assumed the packet passes unchanged`)
      this.assume(view, `${why}: assumed the packet passes unchanged (${find.join(', ')})`)
      return {mark: facts.mark}
    }
    if (c.type === 'route' && o.mark !== facts.mark && v.kind !== 'drop' && v.kind !== 'reject') {
      // a route chain whose rules change the mark makes the kernel look the route up again; the trace keeps the first
      this.assume(view, `native nftables route chain ${c.family} ${c.table} ${c.name} on ${view.name} changes the packet mark${o.marked !== undefined ? ` at ${ruleName(o.marked)}` : ''}: the kernel routes it again with that mark, the trace kept the route it had (\`ip route get ${facts.dst}${o.mark !== undefined ? ` mark ${hexMark(o.mark)}` : ''}\` on ${view.name} tells)`)
    }
    if (v.kind === 'accept' || v.kind === 'nat') {
      if (v.rule !== undefined) this.step(hop, 'filter', 'accept', v.rule.text, `${chain}: ${what} accepted by ${ruleName(v.rule)}${o.path.length > 1 ? ` via ${where}` : ''}${marked}`)
      else if (marked !== '') this.step(hop, 'filter', 'ok', o.marked!.text, `${chain}: ${what} passes by the chain policy accept${marked}`)
      return {mark: o.mark, ...(v.rule !== undefined ? {accepted: `nft ${c.family} ${c.table} ${c.name}`} : {})}
    }
    if (v.kind === 'queue') return this.queued(hop, view, chain, what, v.rule.text, /queue num (\d+)/.exec(v.rule.text)?.[1] ?? '0')
    const rule = v.rule
    const fix = nftFilterFixes(view, c, rule, hook, this.network, facts)
    const reject = v.kind === 'reject' ? v.answer : undefined
    const end = this.fail(hop, 'DENIED_BY_FILTER', 'filter', rule?.text ?? c.raw,
      `${chain} on ${view.name} ${reject ? 'rejects' : 'drops'} ${what} ${rule ? `at ${ruleName(rule)}${o.path.length > 1 ? ` via ${where}` : ''}` : 'by the chain policy drop'}${this.stateWhy(view, facts.state)}${reject ? this.rejectAnswered(reject, facts) : ''}`,
      fix)
    return reject !== undefined ? {...end, reject} : end
  }

  /**
   * Who hears of a REJECT: the sender of the packet it stops. On the way back that is the replier,
   * not the traced sender, which only waits (a reply's REJECT on n2 makes n2 send the pod that
   * replied its error; the prober's ping, connect() or traceroute sees nothing). An ICMP error is
   * never answered with another (icmp_send), so a rejected one is lost without a word.
   */
  private rejectAnswered(reject: {error: string}, facts: PacketFacts): string {
    if (facts.proto === 'icmp' && facts.icmpType !== undefined && ICMP_ERROR_TYPES.has(facts.icmpType)) {
      return `: an ICMP error is never answered with another, so nobody hears of it`
    }
    if (this.direction === 'forward') return `: the sender gets ${reject.error}`
    // the socket error ("Connection refused") is what a prober's connecting socket reports; a
    // replier is mostly a kernel's echo reply or an established TCP socket, which report none
    return `: ${facts.src}, the reply's sender, gets ${reject.error.replace(/ \(".*"\)$/, '')}; ${facts.dst} hears nothing and times out`
  }

  /**
   * A REJECT answers every probe that reaches its hook, so traceroute ends on the rejecting host
   * with the flag of its error; the host that is the destination answers from that address.
   */
  private rejectedProbe(view: HostView, inDev: string, packet: Packet, reject: {error: string, mark?: string}, local: boolean): void {
    if (this.direction !== 'forward') return
    // A TCP reset is no ICMP error: it goes back as a TCP packet from the destination's address,
    // which the error walk does not model; its address is printed as before.
    if (local || reject.error.startsWith('a TCP reset')) {
      const from = local ? packet.dst : icmpErrorSource(view, inDev, packet.src)
      this.probeAnswered(reject.mark === undefined || from === '*' ? from : `${from} ${reject.mark}`)
    } else this.answerProbe(view, inDev, packet, reject.mark, 3)
  }

  /**
   * `--size` against the route's `mtu` metric (it stands in for the device's: ip_dst_mtu_maybe_forward,
   * ip_mtu) or the outgoing device's MTU. A packet that does not fit ends here, except a vxlan outer
   * packet without DF, which goes on as fragments (the packet returned, sized as its largest: see largestFragment), and
   * TCP, which sizes its segments to fit (see tcpSegments, tcpPathMtu).
   */
  private mtu(hop: Hop, view: HostView, dev: string, packet: Packet, route: Route): End | Packet | undefined {
    if (packet.size === undefined) return undefined
    const t = packet.tunnel
    const size = t ? `${packet.size}-byte outer packet (${t.inner.size} + ${VXLAN_OVERHEAD} bytes of vxlan encapsulation)` : `${packet.size}-byte packet`
    const limit = this.mtuLimit(hop, view, dev, packet, route)
    if (limit === undefined) {
      if (this.isNode(view)) this.assume(view, `no link details captured on ${view.name}: the MTU of ${dev} was not checked`, 'links')
      return undefined
    }
    // TCP sizes its segments by the MSS with or without DF; --no-df is a socket with
    // IP_PMTUDISC_DONT (what ping -M dont sets; checked: segments of the MSS, fragmented further on)
    const tcp = t === undefined && packet.proto === 'tcp' && this.direction === 'forward'
    if (tcp && hop.in === 'local') return this.tcpSegments(hop, view, packet, limit)
    if (packet.size <= limit.mtu) {
      this.step(hop, 'mtu', 'ok', limit.evidence, `the ${size} fits ${limit.fits}`)
      return undefined
    }
    if (tcp && !packet.noDf) return this.tcpPathMtu(hop, view, packet, limit)
    if (t === undefined && packet.noDf) {
      const tcpNoDf = tcp ? ' (a TCP socket with IP_PMTUDISC_DONT, or net.ipv4.ip_no_pmtu_disc=1: by default TCP sets DF)' : ''
      this.step(hop, 'mtu', 'ok', limit.evidence, `the ${size} does not fit ${limit.of}: it has no DF${tcpNoDf}, so ${view.name} sends it as ${fragmentsText(packet.size, limit.mtu)}; traced on with the largest`)
      return {...packet, size: largestFragment(limit.mtu)}
    }
    if (t === undefined) {
      // traceroute -F with the packet's size: a router answers the probes past its TTL check with
      // "fragmentation needed" (`ADDR !F-MTU`), a sender's own socket refuses them (`* !F-MTU`)
      if (this.direction === 'forward') {
        if (hop.in === 'local') this.probeAnswered(`* !F-${limit.mtu}`)
        else this.answerProbe(view, hop.in, packet, `!F-${limit.mtu}`)
      }
      if (hop.in === 'local') {
        return this.fail(hop, 'MTU_EXCEEDED', 'mtu', limit.evidence, `the ${size} does not fit ${limit.of}; with DF set the socket refuses it ("message too long, mtu=${limit.mtu}")`, limit.fix())
      }
      // (the error is a packet of its own: a filter on its way back leaves the sender untold; foreign fuzz seed 2525 case 19)
      const lost = this.errorLost(view, hop, packet)
      if (lost !== undefined) {
        return this.fail(hop, 'MTU_EXCEEDED', 'mtu', limit.evidence,
          `the ${size} does not fit ${limit.of}; with DF set ${view.name} drops it and sends "fragmentation needed" back to ${packet.src}, but ${lost.why}; so the sender is never told: a path MTU black hole (ping -M do gets no answer at all)`,
          [...lost.fix, ...limit.fix()])
      }
      return this.fail(hop, 'MTU_EXCEEDED', 'mtu', limit.evidence, `the ${size} does not fit ${limit.of}; with DF set it is dropped and the sender told "fragmentation needed"`, limit.fix())
    }
    // vxlan_xmit_one: the outer packet has DF only with `df set` (or `df inherit` and a DF inner
    // packet, as --size sends); else it is fragmented like any packet without DF. Either way the
    // device lowers the path MTU of its own route to the inner destination (skb_tunnel_check_pmtu),
    // which the host's own sockets obey and forwarding ignores (ip_forward_use_pmtu=0), and sends
    // no ICMP to the inner source (it is no bridge port).
    const vxName = t.device.name
    const innerMtu = limit.mtu - VXLAN_OVERHEAD
    const ownPacket = this.hops.find(h => h.node === t.sender.name)?.in === 'local'
    const dfWhy = t.device.df === undefined ? '`df unset`' : '`df inherit`, and the inner packet has none'
    if (t.device.df === undefined || (t.device.df === 'inherit' && t.inner.noDf)) {
      if (ownPacket && view === t.sender) {
        return this.fail(hop, 'MTU_EXCEEDED', 'mtu', limit.evidence,
          `the ${size} does not fit ${limit.of}; ${vxName} sends its outer packets without DF (${dfWhy}), so the first goes as fragments, but it lowers the path MTU of its route to ${t.inner.dst} to ${innerMtu}: ${view.name} refuses its own later DF packets of this size ("message too long, mtu=${innerMtu}")`,
          limit.fix())
      }
      this.step(hop, 'mtu', 'ok', limit.evidence,
        `the ${size} does not fit ${limit.of}: ${vxName} sends ${t.device.df === undefined ? 'its outer packets' : 'this outer packet'} without DF (${dfWhy}), so ${view.name} sends it as ${fragmentsText(packet.size, limit.mtu)}, which the receiver reassembles before decapsulation`)
      this.assume(view, `the vxlan outer packet (${packet.size} bytes) leaves ${view.name} as IP fragments, as ${limit.of} is too small for it: assumed the underlay carries fragments (some cloud networks and firewalls drop them); \`ip link set ${vxName} mtu ${innerMtu}\` on ${t.sender.name} avoids them`)
      return {...packet, size: largestFragment(limit.mtu)}
    }
    const told = ownPacket && view === t.sender
      ? `${view.name} refuses its own DF packets of this size ("message too long, mtu=${innerMtu}")`
      : `no one tells ${t.inner.src} (${vxName} has \`df ${t.device.df}\`: the outer packet is not fragmented, and forwarding ignores the path MTU the tunnel learns): a black hole for packets this big`
    return this.fail(hop, 'MTU_EXCEEDED', 'mtu', limit.evidence, `the ${size} does not fit ${limit.of}; ${told}`, limit.fix())
  }

  /**
   * The narrowest of what bounds a packet leaving `dev` on this hop: the path MTU the sender's own
   * socket learned from a "fragmentation needed" (kept until it expires, 10 minutes, even once the
   * path carries more: only the sender has it), the route's `mtu` metric, else the device's MTU.
   */
  private mtuLimit(hop: Hop, view: HostView, dev: string, packet: Packet, route: Route): MtuLimit | undefined {
    const learned = hop.in === 'local' && packet.tunnel === undefined ? view.learnedPathMtu(packet.dst, dev) : undefined
    if (learned?.mtu !== undefined && learned.mtu < (route.mtu ?? view.link(dev)?.mtu ?? Infinity)) {
      return {mtu: learned.mtu, evidence: learned.raw,
        of: `the path MTU ${learned.mtu} ${view.name} learned for ${packet.dst} from a "fragmentation needed" (its route cache, kept until it expires)`,
        fits: `the path MTU ${learned.mtu} ${view.name} learned for ${packet.dst}`,
        fix: () => [{node: view.name, command: `ip route flush cache`}]}
    }
    if (route.mtu !== undefined) {
      return {mtu: route.mtu, evidence: route.raw, of: `the mtu ${route.mtu} of the route it takes on ${view.name}`,
        fits: `the route's mtu ${route.mtu}`, fix: () => [{node: view.name, command: routeMtuClearCommand(route)}]}
    }
    const link = view.link(dev)
    if (link === undefined) return undefined
    return {mtu: link.mtu, evidence: firstLine(link.raw), of: `${dev}'s MTU ${link.mtu}`, fits: `${dev}'s MTU ${link.mtu}`,
      fix: () => this.mtuFixes(view, dev, link.mtu, packet, route)}
  }

  /**
   * A TCP sender never sends a segment its own route or device cannot carry: its MSS follows the
   * route's MTU (and a path MTU it learned; tcp_sync_mss), and the peer's SYN-ACK caps it further
   * with the MSS the peer's own device allows. `--size` is the data handed to the socket, which goes
   * as segments of that size.
   */
  private tcpSegments(hop: Hop, view: HostView, packet: Packet, limit: MtuLimit): Packet | undefined {
    const size = packet.size!
    const peer = this.peerMss !== undefined && this.peerMss.mtu < limit.mtu ? this.peerMss : undefined
    const cap = peer ?? limit
    const theirs = this.peerMss
    if (size <= cap.mtu) {
      const announced = theirs === undefined ? '' : theirs.rewritten ? ` and the MSS ${theirs.mtu - TCP_IP_HEADERS} its SYN-ACK arrives with` : ` and the MSS ${theirs.mtu - TCP_IP_HEADERS} ${packet.dst} announces`
      this.step(hop, 'mtu', 'ok', limit.evidence, `the ${size}-byte packet fits ${limit.fits}${announced}`)
      return undefined
    }
    const why = peer === undefined ? `its MSS follows ${limit.of}`
      : peer.rewritten ? `the SYN-ACK from ${packet.dst} arrives with MSS ${peer.mtu - TCP_IP_HEADERS} (${peer.of}), below what ${limit.of} allows`
      : `${packet.dst} announces MSS ${peer.mtu - TCP_IP_HEADERS} in its SYN-ACK (${peer.of}), below what ${limit.of} allows`
    this.step(hop, 'mtu', 'ok', cap.evidence,
      `TCP sends no ${size}-byte packet: ${why}, so ${view.name} sends the data as segments of at most ${cap.mtu} bytes (MSS ${cap.mtu - TCP_IP_HEADERS}); traced on with that size`)
    return {...packet, size: cap.mtu}
  }

  /**
   * A TCP segment too big for a link further on (DF is always set) is dropped by the router there,
   * which sends "fragmentation needed" back; the sender's TCP lowers its path MTU and sends smaller
   * segments (PMTUD). If that error does not get back, the connection hangs once the data flows:
   * the handshake passes, the first full-size segment never arrives (a PMTU black hole).
   */
  private tcpPathMtu(hop: Hop, view: HostView, packet: Packet, limit: MtuLimit): End | Packet {
    const size = `${packet.size}-byte segment`
    const lost = this.errorLost(view, hop, packet, 'so TCP shrinks its segments')
    if (lost === undefined) {
      this.step(hop, 'mtu', 'ok', limit.evidence,
        `the ${size} does not fit ${limit.of}: ${view.name} drops it and sends "fragmentation needed" (mtu ${limit.mtu}) back to ${packet.src}, whose TCP lowers its path MTU and sends segments of at most ${limit.mtu} bytes from then on (path MTU discovery); traced on with that size`)
      return {...packet, size: limit.mtu}
    }
    this.answerProbe(view, hop.in, packet, `!F-${limit.mtu}`)
    return this.fail(hop, 'MTU_EXCEEDED', 'mtu', limit.evidence,
      `the ${size} does not fit ${limit.of}; TCP sets DF, so ${view.name} drops it and sends "fragmentation needed" back to ${packet.src}, but ${lost.why}; so the sender's TCP never shrinks its segments: a path MTU black hole (the handshake passes, then the first full-size segment is lost again and again)`,
      [...lost.fix, ...limit.fix()])
  }

  /**
   * Whether the "fragmentation needed" `view` sends about `packet` is lost before it gets back to the
   * packet's source: why, and what lets it through; undefined where it gets back (or where it goes
   * is past the tables: assumed it does, saying what that assumption lets the sender do).
   */
  private errorLost(view: HostView, hop: Hop, packet: Packet, then = 'so the sender learns the path MTU'): {why: string, fix: Fix[]} | undefined {
    const back = this.icmpErrorBack(view, hop.in, packet, 3, 4)
    if (back.end?.disposition === 'DELIVERED') return undefined
    if (back.end?.disposition === 'INSUFFICIENT_INFO') {
      this.assume(view, `whether ${view.name}'s "fragmentation needed" gets back to ${packet.src} is unknown${back.end.failure !== undefined ? ` (at ${back.end.failure.node}, ${back.end.failure.reason})` : ''}: assumed it does, ${then}`)
      return undefined
    }
    const why = back.end === undefined
      ? `${view.name} has no address to send it from`
      : `it is lost on its way back${back.end.failure !== undefined ? ` at ${back.end.failure.node} (${back.end.disposition}): ${back.end.failure.reason}` : ` (${back.end.disposition})`}`
    return {why, fix: back.end?.failure?.fix ?? []}
  }

  /** The host that made the packet, when it is another than `view` (a pod): its own MTU is what it sends. */
  private sendingHost(view: HostView): Hop | undefined {
    const first = this.hops[0]
    return first !== undefined && first.in === 'local' && first.out !== '-' && first.node !== view.name ? first : undefined
  }

  /** The command that lowers the sending host's MTU to `fit`, when it sends more. */
  private senderFits(view: HostView, fit: number): Fix[] {
    const sender = this.sendingHost(view)
    return sender !== undefined && (this.w.view(sender.node)?.link(sender.out)?.mtu ?? Infinity) > fit
      ? [{node: sender.node, command: `ip link set ${sender.out} mtu ${fit}`}] : []
  }

  private mtuFixes(view: HostView, dev: string, mtu: number, packet: Packet, route: Route): Fix[] {
    const t = packet.tunnel
    const first = this.hops[0]
    const sender = this.sendingHost(view)
    const senderFits = (fit: number) => this.senderFits(view, fit)
    if (t !== undefined && t.sender === view) {
      // flannel sized the vxlan device for the underlay it saw; when the peer's underlay still has
      // that room, this host's underlay is the one that shrank. Otherwise the vxlan MTU is too big.
      const vxMtu = t.device.link?.mtu
      const peer = t.intended?.view
      const peerUnder = peer !== undefined && t.intended?.device?.dev !== undefined ? peer.link(t.intended.device.dev)?.mtu : undefined
      if (vxMtu !== undefined && peerUnder !== undefined && peerUnder >= vxMtu + VXLAN_OVERHEAD) {
        return tunnelMtuFixes({node: view.name, underlay: {name: dev, mtu}, vxlan: {name: t.device.name, mtu: vxMtu}, roomy: peerUnder,
          senders: senderFits(mtu - VXLAN_OVERHEAD)})
      }
      return [{node: view.name, command: `ip link set ${t.device.name} mtu ${mtu - VXLAN_OVERHEAD}`}]
    }
    // A vxlan device already fitted to an underlay that shrank (a sync did so) while the peer's
    // underlay still carries the packet: the pod is out of line, or the underlay.
    const vx = t === undefined ? vxlanDevice(view, dev) : undefined
    const under = vx?.dev !== undefined ? view.link(vx.dev) : undefined
    if (vx !== undefined && under !== undefined && mtu + VXLAN_OVERHEAD >= under.mtu && packet.size !== undefined) {
      const intended = intendedVtep(this.w, route.gateway ?? packet.dst, vx.id)
      const roomy = intended?.device?.dev !== undefined ? intended.view.link(intended.device.dev)?.mtu : undefined
      if (roomy !== undefined && roomy > under.mtu && roomy >= packet.size + VXLAN_OVERHEAD) {
        return tunnelMtuFixes({node: view.name, underlay: {name: under.name, mtu: under.mtu}, vxlan: {name: dev, mtu}, roomy,
          senders: senderFits(under.mtu - VXLAN_OVERHEAD)})
      }
    }
    if (sender !== undefined) return [{node: sender.node, command: `ip link set ${sender.out} mtu ${mtu}`}]
    return [{node: first?.node ?? view.name, command: `ping -M do -s ${mtu - 28} ${(t?.inner ?? packet).dst}`}]
  }

  private sourceNat(hop: Hop, view: HostView, inDev: string | undefined, dev: string, nexthop: string, packet: Packet): Packet {
    if (this.conntrackState(view, packet) !== 'NEW') return packet
    const natHere = natAt(view, 'POSTROUTING', arrivedBy(inDev))
    if (view.iptables === undefined && !natHere) {
      if (this.isNode(view) && packet.tunnel === undefined) this.assume(view, `no iptables rules captured on ${view.name}: assumed POSTROUTING does no NAT`, 'iptables')
      return packet
    }
    if (!natHere) return packet
    // iptables refuses `-i` in POSTROUTING itself, but a chain it jumps to matches it: ip_output hands the hook the receiving device (skb->dev)
    const outcome = postrouting(view, this.facts(view, packet, inDev, dev), nexthop)
    if (outcome === undefined) return packet
    for (const a of outcome.decision.assumptions) this.assume(view, a)
    const d = outcome.decision
    // a rule that remaps ports changes the client's port even where the address stays (MASQUERADE --random-fully)
    const ports = outcome.newSrc !== undefined && packet.ephemeral === 'sport' ? snatPorts(d, packet.ephemeralRange, view.name) : undefined
    if (outcome.newSrc === undefined || (outcome.newSrc === packet.src && ports === undefined)) {
      if (packet.tunnel === undefined) {
        const why = d.viaReturn ? `${d.path.join(' → ')} returns it untouched` : d.rule ? `${d.path.join(' → ')} accepts it` : 'no rule rewrites it'
        this.step(hop, 'nat', 'unchanged', d.viaReturn?.raw ?? d.evidence, `POSTROUTING: the source ${packet.src} stays (${why})${this.replyNatWhy(view)}`)
      }
      return packet
    }
    const port = ports !== undefined ? `, its port one of ${ports.ports[0]}-${ports.ports[1]}` : ''
    this.step(hop, 'nat', outcome.verdict, d.evidence, `POSTROUTING ${outcome.verdict === 'masquerade' ? 'MASQUERADE' : 'SNAT'}: source ${packet.src} ` +
      `${outcome.newSrc === packet.src ? `stays${port.replace(',', ';')}` : `becomes ${outcome.newSrc}${port}`}${packet.tunnel ? ' (outer packet)' : this.replyNatWhy(view)}`)
    if (packet.tunnel !== undefined) return {...packet, src: outcome.newSrc}
    const translated = this.sourceNatted(view, packet, outcome.newSrc, d, ports)
    this.lastPacket = translated
    return translated
  }

  /**
   * The request after `d` gave it the source `newSrc`, recorded for conntrack to undo on the reply;
   * a rule that remaps ports gives the client's port the rule's range from here on.
   */
  private sourceNatted(view: HostView, packet: Packet, newSrc: string, d: Decision,
    ports = packet.ephemeral === 'sport' ? snatPorts(d, packet.ephemeralRange, view.name) : undefined): Packet {
    this.nat.push({node: view.name, field: 'src', from: packet.src, to: newSrc, evidence: d.evidence, ...this.ofReply(), ...(ports !== undefined ? {portsBefore: {range: packet.ephemeralRange}} : {})})
    return {...packet, src: newSrc, ...(ports !== undefined ? {ephemeralRange: ports} : {})}
  }

  // ---- link layer: Ethernet, veth, bridge

  private linkLayer(hop: Hop, view: HostView, dev: string, nexthop: string, packet: Packet, route: Route): Next {
    this.vlanFiltering(view, dev)
    const pod = this.w.podOf(view)
    if (pod !== undefined && this.w.nodeViewOf(pod) === undefined) {
      return this.insufficient(hop, 'neigh', route.raw, `${pod.name}'s node ${this.w.noTablesOf(pod.node)}, so what answers ${nexthop} is unknown`,
        pod.node, ['ip addr show', 'ip route show', 'ip neigh show'])
    }
    const entry = view.neighbour(dev, nexthop)
    const answer = whoAnswers(this.w, view, dev, nexthop)
    const stacked = answer !== undefined ? this.stackedIsolation(view, dev, answer, nexthop) : undefined
    if (stacked !== undefined) return this.fail(hop, 'NEIGHBOR_MISSING', 'neigh', entry?.raw ?? `(no neighbour entry for ${nexthop} on ${dev})`, stacked.reason, stacked.fix)
    const reached = answer?.kind === 'bridged' ? answer.to : answer
    const ownerDown = reached?.kind === 'host' ? this.ownerDown(hop, view, dev, nexthop, packet, reached, entry) : undefined
    if (ownerDown !== undefined) return ownerDown
    if (entry !== undefined && neighbourUse(entry) === 'usable') {
      const known = `${nexthop} is at ${entry.lladdr} (${stateOf(entry)})`
      if (answer === undefined && pod === undefined && nexthop === packet.dst && this.w.isPodSide(view, dev)) {
        // Something answered ARP on the pod bridge for the destination itself: a pod the inventory does not list.
        this.step(hop, 'neigh', 'ok', entry.raw, known)
        this.step(hop, 'deliver', 'delivered', entry.raw, `${nexthop} answers on ${dev}, the pod side of ${view.name}: a pod the inventory does not list; taken as delivered`)
        return {end: true, disposition: 'DELIVERED'}
      }
      const owner = answer === undefined ? this.unseenOwner(hop, view, dev, nexthop, entry) : undefined
      if (owner !== undefined) return owner
      const exits = answer === undefined && isDefaultRoute(route) && this.isNode(view)
      if (answer !== undefined || exits) this.step(hop, 'neigh', 'ok', entry.raw, `${known}${answer?.kind === 'host' ? `: ${answer.explanation}` : ''}`)
      // (one step for the entry: beyond() says what it tells and where the tables run out)
      if (answer === undefined) return exits ? this.exit(hop, view, nexthop, packet, route) : this.beyond(hop, view, dev, nexthop, packet, route, entry.lladdr)
      const wrong = answer.kind === 'host' ? this.wrongMac(hop, view, dev, entry, answer) : undefined
      if (wrong) return wrong
      return this.cross(hop, answer, packet)
    }
    // a pod's gateway nothing answers for: why its node does not (proxy ARP off, or not forwarding) says more than `onlink` does
    const silence = answer === undefined && pod !== undefined ? podGatewaySilence(this.w, pod, nexthop) : undefined
    if (answer === undefined && silence === undefined && route.gateway !== undefined && view.routes!.connectedRoute(route.gateway, route.onlink ? undefined : dev) === undefined) {
      // `onlink` (or a connected route since gone) made the kernel accept a gateway outside every connected prefix; nothing on the link answers for it.
      const elsewhere = offSegmentOwners(this.w, view, route.gateway)
      return this.fail(hop, 'NEXT_HOP_NOT_ONLINK', 'route', route.raw,
        `the route ${route.onlink ? 'declares' : 'sends to'} ${route.gateway} ${route.onlink ? 'onlink' : `by ${dev}`}, but no connected route of ${view.name} covers it${route.onlink ? '' : ' (the kernel let the route in while one did)'} and nothing on ${dev}'s link answers ARP for it${elsewhere.length > 0 ? ` (it is ${elsewhere.join(', ')}'s address, on another segment)` : ''}${this.arpUnanswered(hop, view, packet)}`,
        this.notOnlinkFixes(hop, view, route, packet.dst))
    }
    const elsewhere = answer === undefined && nexthop === packet.dst ? this.wiredElsewhere(view, dev, packet.dst, route) : undefined
    if (elsewhere !== undefined) return this.fail(hop, 'NEIGHBOR_MISSING', 'neigh', entry?.raw ?? route.raw, elsewhere.reason, elsewhere.fix)
    if (answer === undefined && loopedVeth(view, dev)) {
      return this.fail(hop, 'NEIGHBOR_MISSING', 'neigh', entry?.raw ?? `(no neighbour entry for ${nexthop} on ${dev})`,
        `nothing answers ARP for ${nexthop}: ${dev} is a veth whose other end${peerName(view, dev)} is in ${view.name} too, so what it sends never leaves ${view.name}${this.arpUnanswered(hop, view, packet)}`,
        [{node: view.name, command: routeDelCommand(route)}])
    }
    if (silence?.unknown) {
      return this.insufficient(hop, 'neigh', entry?.raw ?? `(no neighbour entry for ${nexthop} on ${dev})`, `whether anything answers ARP for ${nexthop} is unknown: ${silence.reason}`,
        silence.fix[0].node, silence.fix.map(f => f.command))
    }
    if (silence !== undefined) {
      return this.fail(hop, 'NEIGHBOR_MISSING', 'neigh', entry?.raw ?? `(no neighbour entry for ${nexthop} on ${dev})`,
        `nothing answers ARP for ${nexthop}: ${silence.reason}`, silence.fix.length > 0 ? silence.fix : [{node: pod!.node, command: `ip route get ${nexthop}`}])
    }
    const owner = answer === undefined ? this.unseenOwner(hop, view, dev, nexthop, entry) : undefined
    if (owner !== undefined) return owner
    if (entry !== undefined && answer === undefined) {
      // On a pod bridge that is the destination itself: no pod has the address, and no command brings one.
      const noPod = nexthop === packet.dst && this.w.isPodSide(view, dev)
      return this.fail(hop, 'NEIGHBOR_MISSING', 'neigh', entry.raw,
        `ARP for ${nexthop} on ${dev} has failed (${stateOf(entry)}): no MAC to send to, and no ${noPod ? 'pod' : 'host in the snapshot'} owns it or answers for it${this.arpUnanswered(hop, view, packet)}`,
        noPod ? [] : [{node: view.name, command: `ip neigh del ${nexthop} dev ${dev}`}, ...routeFixes(this.w, view, packet.dst)])
    }
    const asker = entry === undefined && answer !== undefined ? this.learnedNeighbours.get(`${view.name}|${dev}|${nexthop}`) : undefined
    if (asker !== undefined) {
      // checked (overlay fuzz seed 3 case 52): n2's reply by eth0 to n1's 10.92.0.1 went out without ARP, its entry
      // learned from n1's ARP for the request's tunnel; n1's strict rp_filter, which would have ignored n2's own ARP, dropped it
      this.step(hop, 'neigh', 'ok', `(no neighbour entry for ${nexthop} on ${dev} in the tables read)`,
        `${asker}'s ARP request on the request's way gave ${view.name} an entry for its sender ${nexthop} (STALE): the packet goes without ARP`)
      return this.cross(hop, answer!, packet)
    }
    const filtered = answer !== undefined ? this.arpSenderFiltered(hop, view, dev, nexthop, packet, answer, entry?.raw ?? `(no neighbour entry for ${nexthop} on ${dev})`) : undefined
    if (filtered) return filtered
    if (entry !== undefined) {
      // A FAILED or INCOMPLETE entry is asked again for the next packet; someone on the link answers now.
      const via = answer!.kind === 'bridged' ? answer!.to : answer!
      this.assume(view, `the neighbour entry \`${entry.raw}\` is ${stateOf(entry)}; the kernel asks again for new packets and ${via.kind === 'host' ? via.view.name : via.pod.name} should answer (if it does not, the link between them is broken)`)
      this.step(hop, 'neigh', 'ok', entry.raw, `${stateOf(entry)} from an earlier try; ARP is asked again: ${via.explanation}`)
      return this.cross(hop, answer!, packet)
    }
    if (answer === undefined) {
      if (isDefaultRoute(route) && pod === undefined) return this.exit(hop, view, nexthop, packet, route)
      if (!view.hasNeighbours) {
        // an entry there (a host not read, a pod no list names) may be what answers: "no one" is not in the tables read
        return this.insufficient(hop, 'neigh', `(no neighbour entry for ${nexthop})`,
          `what answers ${nexthop} on ${dev} is unknown: no host read owns it, and the neighbours of ${view.name} were not captured`, view.name, [`ip neigh show ${nexthop}`])
      }
      if (view.hasNeighbours && !view.hasNeighboursOn(dev)) {
        return this.insufficient(hop, 'neigh', `(no neighbours pasted for ${dev})`,
          `the neighbours of ${view.name} were pasted ${view.snap.neighborDevices!.length > 0 ? `for ${view.snap.neighborDevices!.map(d => d.startsWith('master:') ? `${d.slice(7)} and its ports` : d).join(', ')} only` : 'in part only (IPv6 entries only, or narrowed by state or address)'}, and nothing in the snapshot answers ARP for ${nexthop} on ${dev}`, view.name, [`ip neigh show ${nexthop}`])
      }
      // no entry yet, so ARP will ask: where what answers is beyond the tables read, a ping there tells
      const arpUnknown = (reason: string) => this.insufficient(hop, 'neigh', `(no neighbour entry for ${nexthop} on ${dev})`, reason,
        view.name, [`ping -c 1 ${nexthop}`, `ip neigh show ${nexthop}`])
      const towardUnread = this.w.mayLeadToUnread(view, dev)
      if (this.w.world.partial || towardUnread) {
        return arpUnknown(`${view.name} has no neighbour entry for ${nexthop} on ${dev} yet, so ARP asks for it; whether anything answers is for hosts whose tables were not read${towardUnread ? this.w.unreadNote() : ''}`)
      }
      const gatewayOf = nexthop === packet.dst ? (view.snap.routes ?? []).find(r => isDefaultRoute(r) && r.gateway === nexthop && r.dev === dev) : undefined
      if (gatewayOf !== undefined) {
        // a host's default gateway is a host the snapshot seldom holds (a router, not a node): that
        // nothing read owns it says only that its tables were not read, not that ARP for it fails
        return arpUnknown(`${nexthop} is ${view.name}'s default gateway (\`${gatewayOf.raw}\`), none of the hosts read, and ${view.name} has no neighbour entry for it yet: whether it answers ARP is for that router, whose tables were not read`)
      }
      if (this.w.world.podsDiscovered && nexthop === packet.dst && this.w.isPodSide(view, dev)) {
        return arpUnknown(`no pod was found at ${nexthop}: ${view.name} has no neighbour entry for it on ${dev} and no CNI allocation read lists it. The pods were discovered, not listed, and an idle pod shows in neither, so whether one answers ARP there is not in the tables read`)
      }
      const fix = routeFixes(this.w, view, packet.dst)
      return this.fail(hop, 'NEIGHBOR_MISSING', 'neigh', `(no neighbour entry for ${nexthop} on ${dev})`,
        `no host in the snapshot owns ${nexthop} or answers ARP for it on ${dev}: ARP gets no reply and the packet is dropped${this.arpUnanswered(hop, view, packet)}`,
        fix.length > 0 ? fix : [{node: view.name, command: `ip neigh show ${nexthop}`}])
    }
    const via = answer.kind === 'bridged' ? answer.to : answer
    if (via.kind === 'pod') {
      // Only the inventory says the pod is there: its namespace, which would show the address, was not captured.
      const where = via.segment !== undefined ? `${dev}'s subnet ${via.segment.local}/${via.segment.prefixlen}` : `${dev}, the pod side of ${view.name}`
      this.assume(view, `no neighbour entry for pod ${via.pod.name} (${nexthop}) on ${view.name}'s ${dev}: assumed the pod answers ARP there (the inventory puts it on ${view.name}, its address is in ${where})`)
    }
    const unseen = !view.hasNeighboursOn(dev)
    if (unseen) {
      // the entry may be static: a PERMANENT or NOARP one with another MAC sends the frames to no one
      this.assume(view, `the neighbours of ${view.name} on ${dev} were not captured: assumed ARP resolves ${nexthop} (no static entry with another MAC stands in the way; \`ip neigh show ${nexthop} dev ${dev}\` on ${view.name} tells)`, 'neighbours')
    }
    this.step(hop, 'neigh', 'ok', via.kind === 'pod' && via.segment !== undefined ? via.segment.raw : via.evidence,
      `${unseen ? 'neighbours not captured' : 'no neighbour entry yet'}; ARP resolves ${nexthop}: ${via.explanation}`)
    this.learnSender(view, dev, nexthop, packet, via)
    return this.cross(hop, answer, packet)
  }

  /** the entry the answering host of an ARP request `view` asks gets for the request's sender (see learnedNeighbours) */
  private learnSender(view: HostView, dev: string, nexthop: string, packet: Packet, via: HostAnswer | PodAnswer): void {
    if (via.kind !== 'host') return
    const sender = arpSender(view, dev, nexthop, packet)
    if (sender !== undefined) this.learnedNeighbours.set(`${via.view.name}|${via.inDev}|${sender}`, view.name)
  }

  /**
   * arp_process answers a request only once ip_route_input finds the target local (or, by proxy,
   * routed elsewhere) for a packet from the request's sender address, and that lookup validates
   * the sender as rp_filter does: strict rp_filter on the answering device, whose route back to the
   * sender leaves by another one, leaves ARP unanswered (checked: r2 with rp_filter=1 on m0 and a
   * route to r1's 10.91.2.1 by n0 never answers r1's ARP for 10.91.2.2; r1's entry stays INCOMPLETE).
   * The sender address is the packet's source where that is the sender's own (arp_announce 0),
   * else its address on that link. Undecided (not read) is taken as answered, as before. The lookup
   * back is made from lo for the answerer's own address, but from the device its route to the target
   * leaves by when it answers by proxy (fib_validate_source's oif, as for a forwarded packet; checked:
   * r with proxy_arp and rp_filter=1 on a0 answers a's ARP for b's 10.91.3.2 past `ip rule add iif lo
   * to 10.91.1.2 lookup 100`, whose route leaves by b0, and ignores it under `iif b0 …` instead).
   */
  private arpSenderFiltered(hop: Hop, view: HostView, dev: string, nexthop: string, packet: Packet, answer: Answer, evidence: string): End | undefined {
    const via = answer.kind === 'bridged' ? answer.to : answer
    // (with the sender's neighbours not read, an entry there may carry the frames without ARP)
    if (via.kind !== 'host' || !via.view.hasSysctls || via.view.routes === undefined || !view.hasNeighboursOn(dev)) return undefined
    const sender = arpSender(view, dev, nexthop, packet)
    const {mode, evidence: rp, loosen} = rpFilterOf(via.view, via.inDev)
    if (sender === undefined || mode === 0) return undefined
    // fib_validate_source looks the sender up from its oif argument, lo where none: ip_route_input gives
    // none for a local target, but for one it forwards to (proxy ARP) the device its route leaves by
    const ahead = via.how === 'proxy-arp' ? via.view.routeFor({dst: nexthop, src: sender, iif: via.inDev}).route : undefined
    const from = ahead !== undefined && ahead.type === 'unicast' ? routeDevice(via.view.routes, ahead) ?? 'lo' : 'lo'
    const reverse = via.view.routeFor({dst: sender, src: nexthop, iif: from})
    if (reverse.missingTable !== undefined) return undefined
    const back = reverse.route
    const backDev = back !== undefined && back.type === 'unicast' ? routeDevice(via.view.routes, back) : undefined
    if (backDev === via.inDev || (mode === 2 && backDev !== undefined)) return undefined
    // a rule's action (prohibit, unreachable) ends the lookup back before any route: the rule is the fault
    const refusing = reverse.action !== undefined ? reverse.rule : undefined
    const how = refusing !== undefined ? `its policy rule \`${refusing.raw}\` says ${reverse.action} for the lookup back to ${sender}`
      : backDev === undefined ? `it has no route back to ${sender}${back !== undefined ? ` (${back.raw})` : ''}` : `its route back to ${sender} (${back!.raw}) leaves by ${backDev}`
    return this.fail(hop, 'NEIGHBOR_MISSING', 'neigh', evidence,
      `ARP for ${nexthop} on ${dev} gets no answer: ${via.view.name} checks the request's sender ${sender} as it checks a packet's source, and with ${rp} on ${via.inDev} ${how}, so it ignores the request${this.arpUnanswered(hop, view, packet)}`,
      refusing !== undefined ? [{node: via.view.name, command: `ip rule del pref ${refusing.priority}`}]
        : backDev === undefined ? [...this.routeFixesOrRouter(via.view, sender), ...loosen] : loosen)
  }

  /**
   * The device that owns (or answers ARP for) the next hop is down or has no carrier. Without a
   * usable neighbour entry this host's ARP goes unanswered and the packet dies here, answered with
   * ICMP host unreachable (checked: traceroute through a node whose peer's eth0 is down, or whose
   * bridge port to the pod is down, prints the node twice, then `!H`). With one, the frame leaves and
   * is lost at that device, said there; unless it is this host's own end of the veth that is down
   * (a pod's bridge port taken down): then it is lost here, silently.
   */
  private ownerDown(hop: Hop, view: HostView, dev: string, nexthop: string, packet: Packet, owner: HostAnswer, entry: Neighbor | undefined): End | undefined {
    if (owner.view === view || owner.view.deviceDown(owner.inDev) !== true) return undefined
    const link = owner.view.link(owner.inDev)!
    const otherEnd = link.up && link.kind === 'veth' && link.peerIndex !== undefined ? vethOtherEnd(this.w, owner.view, link.index, link.peerIndex) : undefined
    const ownEnd = otherEnd?.view === view && view.link(otherEnd.dev)?.up === false ? view.link(otherEnd.dev)! : undefined
    const arping = entry === undefined || neighbourUse(entry) !== 'usable'
    if (!arping && ownEnd === undefined) return undefined
    if (entry === undefined && !view.hasNeighboursOn(dev)) {
      this.assume(view, `the neighbours of ${view.name} on ${dev} were not captured: assumed none for ${nexthop}, so ${view.name} asks by ARP (with one, the frame would leave and be lost at ${owner.view.name}'s ${owner.inDev}; \`ip neigh show ${nexthop} dev ${dev}\` on ${view.name} tells)`, 'neighbours')
    }
    const down = ownEnd !== undefined
      ? {why: `${ownEnd.name} on ${view.name}, the veth to ${owner.view.name}'s ${owner.inDev}, is down`, fix: [{node: view.name, command: `ip link set ${ownEnd.name} up`}]}
      : linkDownCause(this.w, owner.view, owner.inDev)
    const reason = arping
      ? `ARP for ${nexthop} on ${dev} gets no answer: ${down.why}, so the request never reaches ${owner.view.name}${this.arpUnanswered(hop, view, packet)}`
      : `${nexthop} is at ${entry!.lladdr} (${stateOf(entry!)}), but ${down.why}: the frame is lost there`
    return this.fail(hop, 'DEVICE_DOWN', 'neigh', firstLine((ownEnd ?? link).raw), reason, down.fix)
  }

  /**
   * A router whose ARP for the next hop goes unanswered drops the packets it queued with ICMP host
   * unreachable (arp_error_report), after its TTL check: traceroute shows it twice, the second time
   * `ADDR !H`; the sender's socket gets "No route to host". A host sending its own packet sends that
   * error to itself, from the packet's source (checked: a pod's traceroute to a pod whose veth is down
   * on the node prints `POD !H`, the pod's own address, as ping prints "From POD … Destination Host
   * Unreachable"; overlay fuzz seed 2121 case 16).
   */
  private arpUnanswered(hop: Hop, view: HostView, packet: Packet): string {
    if (packet.tunnel !== undefined) return ''
    if (this.direction === 'forward') this.answerProbe(view, hop.in, packet, '!H')
    if (hop.in === 'local') return `; once ARP gives up (about 3 s), ${view.name} reports it to its own socket as ICMP host unreachable from ${packet.src} (ping prints "From ${packet.src} … Destination Host Unreachable", traceroute \`${packet.src} !H\`)`
    return `; once ARP gives up (about 3 s), ${view.name} answers the sender with ICMP host unreachable ("No route to host")`
  }

  /**
   * A neighbour entry whose MAC is not the one of the interface that owns (or proxies for) the next
   * hop, nor of any interface read: the frame is addressed to no one on the link and the receiver
   * drops it as another host's. A permanent (or noarp) entry stays wrong; a learned one is
   * re-checked by ARP within seconds, so only the first packets are lost.
   */
  private wrongMac(hop: Hop, view: HostView, dev: string, entry: {dst: string, lladdr?: string, state: string[], raw: string}, answer: HostAnswer): End | undefined {
    const theirs = answer.view.link(answer.inDev)?.mac?.toLowerCase()
    const mac = entry.lladdr?.toLowerCase()
    if (theirs === undefined || mac === undefined || mac === theirs) return undefined
    for (const v of this.w.views.values()) {
      if (v.hasLinks && (v.snap.links ?? []).some(l => l.mac?.toLowerCase() === mac)) return undefined
    }
    const fixed = entry.state.includes('PERMANENT') || entry.state.includes('NOARP')
    if (!fixed) {
      this.assume(view, `\`${entry.raw}\` on ${view.name} has MAC ${mac}, but ${answer.view.name}'s ${answer.inDev} is ${theirs}: the first packets go nowhere until ARP learns the right one`)
      return undefined
    }
    return this.fail(hop, 'NEIGHBOR_MISSING', 'neigh', entry.raw,
      `${view.name}'s ${stateOf(entry)} entry sends frames for ${entry.dst} to MAC ${mac}, but ${entry.dst} is ${answer.view.name}'s ${answer.inDev} with MAC ${theirs}${answer.how === 'proxy-arp' ? ' (answering by proxy ARP)' : ''}, and no interface read has ${mac}: ${answer.view.name} drops the frames as meant for another host`,
      [{node: view.name, command: `ip neigh replace ${entry.dst} lladdr ${theirs} dev ${dev}${entry.state.includes('PERMANENT') ? ' nud permanent' : ''}`}])
  }

  /**
   * A pod of this node that is plugged into another device than the one its route leaves by: a
   * second bridge (docker0) holding the pod subnet too, whose route the kernel picked first.
   */
  private wiredElsewhere(view: HostView, dev: string, dst: string, route: Route): {reason: string, fix: Fix[]} | undefined {
    // From a pod of the same node, the frame goes out of the node's device that pod is plugged into.
    const from = this.w.podOf(view)
    const node = from !== undefined ? this.w.nodeViewOf(from) : view
    const nodeDev = from !== undefined && node !== undefined ? this.w.podWiredDevice(node, from) : dev
    const pod = this.w.podAt(dst, node?.name)
    const wired = pod !== undefined && node !== undefined && pod.node === node.name ? this.w.podWiredDevice(node, pod) : undefined
    if (pod === undefined || node === undefined || nodeDev === undefined || wired === undefined || wired === nodeDev) return undefined
    const wiredLink = node.link(wired)
    if (wiredLink?.kind === 'veth' && wiredLink.master === undefined && node.link(nodeDev)?.kind === 'bridge' && node.ipv4On(wired).length === 0) {
      // A bridge deleted and made again (a reset and init) releases its ports: the pods stay cut off until re-plugged.
      return {
        reason: `${pod.name}'s veth ${wired} on ${node.name} is plugged into no bridge (a bridge that was deleted and re-created lets go of its ports), so ARP for ${dst} on ${nodeDev} gets no answer`,
        fix: [{node: node.name, command: `ip link set ${wired} master ${nodeDev}`}],
      }
    }
    if (from !== undefined) return undefined
    const clash = route.gateway === undefined && route.proto === 'kernel' ? view.addressCovering(dev, dst) : undefined
    const duplicate = clash !== undefined && view.addressCovering(wired, dst) !== undefined
    return {
      reason: `${pod.name} is plugged into ${wired}, but ${view.name}'s route to it (${route.raw}) leaves by ${dev}${duplicate ? `, which holds ${clash.local}/${clash.prefixlen} too` : ''}: ARP for ${dst} on ${dev} gets no answer`,
      fix: [{node: view.name, command: duplicate
        ? `ip addr del ${clash.local}/${clash.prefixlen} dev ${dev}   # and give ${dev} a subnet of its own (docker: "bip" in /etc/docker/daemon.json)`
        : `ip route replace ${routeDstText(route)} dev ${wired}`}],
    }
  }

  /**
   * The next hop answers but is not a host whose tables were read: where the packet goes next is in
   * that host's tables, so the next step is to read that host too (this host's own tables have
   * said all they can), through an inventory naming both or a snapshot that holds both.
   */
  private beyond(hop: Hop, view: HostView, dev: string, nexthop: string, packet: Packet, route: Route, mac?: string): End {
    const entry = view.neighbour(dev, nexthop)
    const seen = `${nexthop}${mac ? ` (${mac}${entry !== undefined ? `, ${stateOf(entry)}` : ''})` : ''}`
    const read = [...this.w.views.values()].filter(v => this.isNode(v)).map(v => v.name)
    const first = this.first
    const flags = `${first.proto !== 'icmp' ? ` --proto ${first.proto}${first.dport !== undefined ? ` --dport ${first.dport}` : ''}` : ''}${first.size !== undefined ? ` --size ${first.size}` : ''}`
    const outer = packet.tunnel !== undefined ? `the outer vxlan packet's next hop ` : ''
    const pod = this.w.podOf(view)
    const node = pod !== undefined ? this.w.nodeViewOf(pod) : undefined
    const unplugged = pod !== undefined && node !== undefined && !outer ? unpluggedPod(this.w, node, pod) : undefined
    if (unplugged !== undefined) {
      return this.fail(hop, 'NEIGHBOR_MISSING', 'neigh', entry?.raw ?? route.raw,
        `${seen} is left in ${view.name}'s neighbour table from before, and nothing answers for ${nexthop} now: ${unplugged.why}`, unplugged.fix)
    }
    // the pod's gateway answered (its MAC is in the entry), by its node's proxy ARP as likely as not: where
    // the node's proxy_arp or routes were not read, that is what is unknown, not a host beyond the tables
    const silent = pod !== undefined && !outer ? podGatewaySilence(this.w, pod, nexthop) : undefined
    if (silent?.unknown) {
      return this.insufficient(hop, 'neigh', entry?.raw ?? route.raw, `${seen} answers on ${dev}, and no host read owns it: ${silent.reason}`,
        silent.fix[0].node, silent.fix.map(f => f.command))
    }
    // a pod its node gave up (reset --release, init on a new lease): its old gateway's entry outlives the bridge
    const stranded = silent !== undefined && strandedPod(this.w, pod!) ? silent : undefined
    if (stranded !== undefined) {
      return this.fail(hop, 'NEIGHBOR_MISSING', 'neigh', entry?.raw ?? route.raw,
        `${seen} is left in ${view.name}'s neighbour table from before, and nothing answers for ${nexthop} now: ${stranded.reason}`, stranded.fix)
    }
    const unread = this.w.mayLeadToUnread(view, dev) ? this.w.unreadNote() : ''
    if (unread !== '') {
      // the inventory named the hosts, and one of them could not be read: reading it again is the way on
      return this.insufficient(hop, 'neigh', entry?.raw ?? route.raw,
        `${outer}${seen} answers on ${dev}, but it is a host whose tables were not read (only ${read.join(', ')} ${read.length === 1 ? 'was' : 'were'})${unread}: where the packet goes next is in its tables, so collect again once it can be read`,
        view.name, [`ping -c 1 ${nexthop}`, `ip neigh show ${nexthop}`])
    }
    if (this.w.world.partial) {
      return this.insufficient(hop, 'neigh', entry?.raw ?? route.raw,
        `${outer}${seen} answers on ${dev}, but it is a host whose tables were not read (only ${read.join(', ')} ${read.length === 1 ? 'was' : 'were'}): where the packet goes next is in its tables, so read it too: trace with an inventory that names both (hosts.yaml: \`nodes: [{name: ${view.name}, exec: local}, {name: NEXT, exec: ssh:root@${nexthop}}]\`), or add its \`flannelctl collect\` snapshot to a --snapshot directory with ${view.name}'s`,
        view.name, [`flannelctl trace ${first.src} ${first.dst}${flags} --inventory hosts.yaml`])
    }
    return this.insufficient(hop, 'neigh', entry?.raw ?? route.raw,
      `${outer}${seen} answers on ${dev}, but it is not an address of any host read: where the packet goes next is in its tables, so add that host (\`exec: ssh:root@${nexthop}\` in the inventory, or its \`flannelctl collect\` snapshot in the --snapshot directory) and trace again`,
      view.name, [`flannelctl trace ${first.src} ${first.dst}${flags}   # with the host at ${nexthop} added`])
  }

  /**
   * A device that is down loses its connected route while keeping its address: the kernel then
   * routes its subnet elsewhere (or nowhere), and bringing the device up brings the route back.
   */
  private segmentDown(view: HostView, dst: string): {evidence: string, why: string, fix: Fix[]} | undefined {
    const a = view.ipv4Addresses().find(x => view.deviceDown(x.dev) === true && view.addressCovering(x.dev, dst) === x)
    if (a === undefined) return undefined
    const down = linkDownCause(this.w, view, a.dev)
    return {evidence: firstLine(view.link(a.dev)!.raw), why: `${down.why}, and the kernel removed its route to ${a.local}/${a.prefixlen}'s subnet with it`, fix: down.fix}
  }

  /**
   * The next hop that no host read owns, where a node read without its addresses may: what answers
   * is unknown, not "no one" (the packet may go on to that node, whose tables decide). A pod's
   * gateway is its node's business (podGatewaySilence).
   */
  private unseenOwner(hop: Hop, view: HostView, dev: string, nexthop: string, entry: Neighbor | undefined): End | undefined {
    if (this.w.podOf(view) !== undefined) return undefined
    const evidence = entry?.raw ?? `(no neighbour entry for ${nexthop} on ${dev})`
    // A node read with neither `ip link` nor `ip addr` knows its addresses by its local routes alone,
    // which a device set down keeps (its subnet's route goes): whether that device is up is unseen.
    const held = this.w.firstOwner(nexthop, o => o.view !== view && this.isNode(o.view) && !o.view.hasLinks)
    if (held !== undefined) {
      const {view: owner, addr} = held
      return this.insufficient(hop, 'neigh', evidence,
        `${nexthop} is ${owner.name}'s address on ${addr.dev} by its local route, but no route of ${owner.name} puts ${addr.dev} on ${view.name}'s segment (${addr.dev} set down loses that route and keeps the address), and the links of ${owner.name} were not captured (no \`ip link\`, nor \`ip addr\`): whether ${addr.dev} is up is unknown`,
        owner.name, [`ip link show ${addr.dev}`, `ip -4 addr show dev ${addr.dev}`])
    }
    const mac = entry !== undefined && neighbourUse(entry) === 'usable' ? entry.lladdr : undefined
    const owners = unseenOwners(this.w, view, nexthop, mac)
    if (owners.length === 0) return undefined
    const [{view: first, dev: holder}] = owners
    const who = holder !== undefined ? `${first.name}'s ${holder}, whose MAC ${mac} answered for it` : owners.length === 1 ? first.name : `one of ${owners.map(o => o.view.name).join(', ')}`
    return this.insufficient(hop, 'neigh', evidence,
      `what answers ${nexthop} on ${dev} is unknown: no host read owns it, and it may be ${who}, as ${addressesUnseen(owners.map(o => o.view))}`,
      first.name, [`ip -4 addr show${holder !== undefined ? ` dev ${holder}` : ''}`])
  }

  private exit(hop: Hop, view: HostView, nexthop: string, packet: Packet, route: Route): End {
    if (packet.tunnel !== undefined) return this.vtepBeyondDefault(hop, view, nexthop, packet, packet.tunnel, route)
    this.step(hop, 'route', 'exit', route.raw, `${nexthop} is outside the hosts in the snapshot: the packet leaves the network by the default route`)
    const downSegment = this.segmentDown(view, packet.dst)
    if (downSegment !== undefined) {
      return {end: true, disposition: 'EXITS_NETWORK', failure: {node: view.name, step: 'route', evidence: route.raw,
        reason: `${packet.dst} is on ${view.name}'s own segment, but ${downSegment.why}: the packet goes to ${nexthop} by the default route`, fix: downSegment.fix}}
    }
    const pod = this.w.podAt(packet.dst, view.name)
    const unplugged = pod !== undefined && pod.node === view.name ? unpluggedPod(this.w, view, pod) : undefined
    if (unplugged !== undefined) {
      return {end: true, disposition: 'EXITS_NETWORK', failure: {node: view.name, step: 'route', evidence: route.raw,
        reason: `${packet.dst} is pod ${pod!.name} on ${view.name}, but ${view.name} has no route for it other than the default: ${unplugged.why}`, fix: unplugged.fix}}
    }
    const owner = this.w.firstOwner(packet.dst, o => this.w.isNode(o.view))
    const inside = pod !== undefined ? `pod ${pod.name} on ${pod.node}` : owner !== undefined ? `an address of ${owner.view.name}` : undefined
    if (inside === undefined) return {end: true, disposition: 'EXITS_NETWORK'}
    const reason = `${packet.dst} is ${inside}, but ${view.name} has no route for it other than the default: the packet goes to ${nexthop}, outside the cluster`
    return {end: true, disposition: 'EXITS_NETWORK', failure: {node: view.name, step: 'route', evidence: route.raw, reason, fix: routeFixes(this.w, view, packet.dst)}}
  }

  /**
   * The outer packet of a tunnel leaves by the default route. The inner packet's route is not at
   * fault (it chose the VTEP); the address the fdb entry names is. When the peer sits on this
   * host's own network at another address, that address is typically another interface's of the
   * peer (a NAT address 10.0.2.15 picked as its public IP): a failure with the fdb fix. Otherwise a
   * gateway not read decides whether the VTEP is reached (nodes on routed networks).
   */
  private vtepBeyondDefault(hop: Hop, view: HostView, nexthop: string, outer: Packet, tunnel: Tunnel, route: Route): End {
    const owner = this.w.firstOwner(outer.dst, o => this.w.isNode(o.view))
    const peer = tunnel.intended?.view ?? owner?.view
    const right = peer !== undefined ? this.onLinkAddressOf(view, peer) : undefined
    const where = owner !== undefined ? ` (${owner.view.name}'s address on ${owner.addr.dev})` : ''
    if (peer === undefined || right === undefined || right === outer.dst) {
      return this.insufficient(hop, 'route', route.raw,
        `the outer packet to VTEP ${outer.dst}${where} leaves by the default route to ${nexthop}, a host whose tables were not read; they would say whether it reaches ${outer.dst}`,
        view.name, [`ip route get ${outer.dst}`, `traceroute -n ${outer.dst}`])
    }
    this.step(hop, 'route', 'exit', route.raw, `${nexthop} is outside the hosts in the snapshot: the packet leaves the network by the default route`)
    const reason = `the fdb entry sends ${tunnel.inner.dst}'s frames to VTEP ${outer.dst}${where}, which ${view.name} reaches only by its default route (to ${nexthop}, outside the hosts read); `
      + `${peer.name} is at ${right} on ${view.name}'s own network, so it likely announces another interface's address as its public IP (flannel's --iface / --public-ip)`
    return {end: true, disposition: 'EXITS_NETWORK', failure: {node: view.name, step: 'route', evidence: route.raw, reason,
      fix: [{node: view.name, command: `bridge fdb replace ${tunnel.innerMac} dev ${tunnel.device.name} dst ${right} self permanent`}]}}
  }

  private cross(hop: Hop, answer: Answer, packet: Packet): Next {
    switch (answer.kind) {
      case 'host':
        if (answer.ambiguous) {
          this.assume(answer.view, `${answer.evidence.split(' ')[1] ?? 'the next hop'} is configured on several hosts (${[answer.view.name, ...answer.ambiguous].join(', ')}); assumed ${answer.view.name} is the one on ${hop.node}'s segment`)
        }
        return {view: answer.view, inDev: answer.inDev, packet, origin: false}
      case 'pod':
        if (answer.addressesUnseen !== undefined) {
          const ns = answer.addressesUnseen
          this.assume(ns, `${addressesUnseen([ns])}: assumed ${ns.name} holds ${answer.pod.ip}, as the inventory says, and takes the packet; its own tables were not traced (\`ip -4 addr show\` in ${ns.name} tells)`, 'addresses')
        }
        this.step(hop, 'deliver', 'delivered', answer.evidence, answer.explanation)
        return {end: true, disposition: 'DELIVERED'}
      case 'bridged': {
        const bridgeHop = this.newHop(answer.node.name, answer.bridge)
        bridgeHop.out = answer.bridge
        const link = answer.node.link(answer.bridge)
        if (link !== undefined && answer.node.deviceDown(answer.bridge) === true) {
          // A bridge set down disables its ports: frames between two of them are dropped too.
          const down = linkDownCause(this.w, answer.node, answer.bridge)
          return this.fail(bridgeHop, 'DEVICE_DOWN', 'fdb', firstLine(link.raw), `${down.why}: a bridge that is down switches no frames between its ports`, down.fix)
        }
        if (!answer.node.linkKindKnown(answer.bridge)) {
          this.assume(answer.node, `the links of ${answer.node.name} were not captured: assumed ${answer.bridge}, where its routes send both pods, is a bridge they are plugged into (\`ip -d link show master ${answer.bridge}\` on ${answer.node.name} tells)`, 'links')
        }
        this.step(bridgeHop, 'fdb', 'ok', link ? firstLine(link.raw) : `(bridge ${answer.bridge})`,
          `switched by ${answer.bridge}: both pods sit on this bridge, so the node does not route (no TTL decrement)`)
        const nf = answer.node.sysctl('net.bridge.bridge-nf-call-iptables')
        if (nf === undefined && !answer.node.hasSysctls) this.assume(answer.node, `no sysctls captured on ${answer.node.name}: assumed net.bridge.bridge-nf-call-iptables=1 (bridged pod traffic passes FORWARD)`, 'sysctls')
        const seen = nf === '1' || (nf === undefined && !answer.node.hasSysctls)
        this.switchedOn.set(answer.node.name, {bridge: answer.bridge, seen})
        if (seen) {
          const denied = this.filter(bridgeHop, answer.node, 'FORWARD', packet, answer.bridge, answer.bridge, true)
          if ('end' in denied) return denied
          // br_netfilter runs nat POSTROUTING on the bridged frame too (-i and -o are the bridge): a MASQUERADE there,
          // as flannel's `-s 10.244.0.0/16 ! -d 224.0.0.0/4` without its RETURN before it, gives it the bridge's address;
          // and conntrack gives a reply the source its request was DNATed from (a Service's endpoint on the client's bridge)
          const mapped = this.conntrackUndo(bridgeHop, answer.node, packet, 'dst')
          return this.cross(bridgeHop, answer.to, this.sourceNat(bridgeHop, answer.node, answer.bridge, answer.bridge, mapped.dst, mapped))
        } else {
          // without br_netfilter the IP hooks do not see a bridged frame, the bridge family's own chains still do
          for (const c of answer.node.hooks.chains('FORWARD', undefined, true).filter(x => x.family === 'bridge')) {
            const denied = this.nativeChain(bridgeHop, answer.node, 'FORWARD', c, this.facts(answer.node, packet, answer.bridge, answer.bridge), true)
            if ('end' in denied) return denied
          }
        }
        return this.cross(bridgeHop, answer.to, packet)
      }
    }
  }

  /**
   * br_netfilter's bridged DNAT (br_nf_pre_routing_finish): a frame that came in by a port of a
   * bridge whose PREROUTING changed its destination to an address routed out of that same bridge is
   * handed back to the bridge with the new destination's MAC, not routed (a docker published port
   * or a Service IP reached from a container or pod on the same bridge; the reply to a pod whose
   * neighbour on the bridge saw it masqueraded, which conntrack maps back in PREROUTING).
   */
  private bridgedDnat(hop: Hop, view: HostView, inDev: string, dev: string, packet: Packet, origin: boolean): boolean {
    if (origin || packet.tunnel !== undefined || dev !== inDev || view.link(dev)?.kind !== 'bridge') return false
    const dnat = packet.state === 'NEW' && this.nat.some(r => r.node === view.name && r.field === 'dst' && r.to === packet.dst)
    // (a de-nat before the route step is PREROUTING's: conntrack gave the reply its old destination)
    const mappedBack = this.direction === 'return' && hop.steps.some(s => s.verdict === 'de-nat')
    if (!dnat && !mappedBack) return false
    const nf = view.sysctl('net.bridge.bridge-nf-call-iptables')
    return nf === '1' || (nf === undefined && !view.hasSysctls)
  }

  /**
   * A pod (container) DNATed back to itself through a bridged DNAT: the bridge would send the frame
   * out of the port it came in by, which it does only with `hairpin on` on that port (the CNI bridge
   * plugin's hairpinMode, kubelet's --hairpin-mode=hairpin-veth, docker's userland-proxy=false).
   */
  private hairpinOff(hop: Hop, view: HostView, bridge: string, packet: Packet): End | undefined {
    const pod = this.w.podsOn(view.name).find(p => p.ip === packet.dst)
    const port = pod !== undefined ? this.w.podHostEnd(view, pod) : undefined
    if (port?.hairpin) {
      this.step(hop, 'fdb', 'ok', firstLine(port.raw), `${port.name} has hairpin on: ${bridge} sends the frame back out of the port it came in by`)
      return undefined
    }
    if (port === undefined) {
      return this.insufficient(hop, 'fdb', `(${bridge}: the port of ${packet.dst})`,
        `the DNAT sends ${packet.dst} to itself, behind the bridge port it came in by: ${bridge} sends the frame back out of it only with hairpin mode on that port, and which port it is was not read`,
        view.name, [`bridge -d link show master ${bridge}`])
    }
    return this.fail(hop, 'DENIED_BY_FILTER', 'fdb', firstLine(port.raw),
      `the DNAT sends ${packet.dst} to itself: ${bridge} would have to send the frame back out of ${port.name}, the port it came in by, and a bridge port does that only with hairpin mode on (it is off): the frame is dropped`,
      [{node: view.name, command: `bridge link set dev ${port.name} hairpin on`}])
  }

  // ---- link layer: vxlan

  /**
   * With net.ipv4.neigh.DEV.app_solicit > 0 an unresolved neighbour is sent to user space
   * (RTM_GETNEIGH, `ip monitor` prints `miss`), where an agent may add it: flannel before 0.9 set it
   * on flannel.1, with `l2miss` for the fdb, and answered from its leases. Whether one runs is in
   * no table: not a drop, but INSUFFICIENT_INFO. Unknown when the sysctl was not read and the
   * device has that flannel's `l2miss`. A FAILED entry is a miss no one answered.
   */
  private neighbourAgent(view: HostView, vx: VxlanDevice, nexthop: string, packet: Packet, entry: {state: string[]} | undefined, peerMac: string | undefined): {reason: string, commands: string[]} | undefined {
    if (entry?.state.includes('FAILED')) return undefined
    const key = `net.ipv4.neigh.${vx.name}.app_solicit`
    const solicit = view.sysctlNumber(key)
    if (solicit !== undefined ? solicit === 0 : !vx.l2miss) return undefined
    const manual = `\`ip neigh replace ${nexthop} lladdr ${peerMac ?? '<the peer\'s VTEP MAC>'} dev ${vx.name} nud permanent\` carries it`
    const check = [`ping -c 1 -W 1 ${packet.dst}`, `ip neigh show ${nexthop} dev ${vx.name}`]
    return solicit !== undefined
      ? {reason: `${vx.name} on ${view.name} has ${entry === undefined ? 'no neighbour entry' : `only an ${stateOf(entry)} entry`} for ${nexthop}, and ${key} = ${solicit} sends the miss to user space, where an agent may add it (flanneld before 0.9 did, from the peer's lease). Whether one answers is in no table; without one the packet is dropped, and ${manual}`, commands: check}
      : {reason: `${vx.name} on ${view.name} has no neighbour entry for ${nexthop}; it has l2miss, as flannel before 0.9 made it, which also set ${key} to send such misses to its agent. ${key} was not read, and whether an agent answers is in no table; without one the packet is dropped, and ${manual}`, commands: [`sysctl ${key.replace(`.${vx.name}.`, `.${vx.name.replace(/\./g, '/')}.`)}`, ...check]}
  }

  /**
   * A vxlan device with an IPv6 underlay (`local fd00::…`, or an fdb entry whose `dst` is IPv6, as
   * flanneld's flannel-v6.1) wraps the frame in an IPv6 packet: its way to the peer, and which
   * device takes it there (an IPv6 socket, not flannel.1's), is IPv6 forwarding, not modelled.
   * Judged by the IPv4 devices, the peer would seem to drop a frame the kernel delivers.
   */
  private ipv6Underlay(hop: Hop, view: HostView, vx: VxlanDevice, mac: string): End | undefined {
    const remote = view.hasFdbOn(vx.name) ? fdbLookup(view, vx.name, mac).entry?.dst : undefined
    const v6 = vx.local?.includes(':') ? vx.local : remote?.includes(':') ? remote : undefined
    if (v6 === undefined) return undefined
    const to = remote ?? 'the fdb entry\'s dst'
    return this.insufficient(hop, 'encap', vxlanEvidence(vx),
      `${vx.name} on ${view.name} carries the frame over IPv6 (${v6 === vx.local ? `local ${v6}` : `fdb dst ${v6}`}): the outer packet's way to ${to} is IPv6 forwarding, which the trace does not model`,
      view.name, remote !== undefined ? [`ip -6 route get ${remote}`] : [`bridge fdb show dev ${vx.name}`])
  }

  private vxlanSend(hop: Hop, view: HostView, vx: VxlanDevice, nexthop: string, packet: Packet, route: Route): Next {
    // vxlan_xmit_one drops an outer packet whose route leads into the device that made it ("circular
    // route"), and one nested tunnels bring back to it hits the transmit recursion limit ("Dead loop").
    // Checked: a /32 route for the peer's underlay address via flannel.1 stops the ping, and
    // `ip -s link show flannel.1` counts each packet under TX errors and collsns
    for (let t = packet.tunnel; t !== undefined; t = t.inner.tunnel) {
      if (t.sender.name !== view.name || t.device.name !== vx.name) continue
      return this.fail(hop, 'LOOP', 'encap', route.raw,
        `${view.name} routes ${vx.name}'s own encapsulated packet to VTEP ${packet.dst} back into ${vx.name} (\`${route.raw}\`): the kernel drops it as a circular route; a tunnel carries the peer's pods, not the peer's underlay address, which must be routed by the underlay`,
        [{node: view.name, command: routeDelCommand(route)}])
    }
    if (vx.assumed && this.isNode(view)) this.assume(view, this.assumedDeviceMessage(view, vx), this.assumedDeviceTable(vx))
    if (vx.portAssumed) this.assume(view, this.assumedPortMessage(view, vx, vx.port))
    if (!view.hasNeighboursOn(vx.name)) {
      return this.insufficient(hop, 'neigh', route.raw, `the neighbours of ${view.name} on ${vx.name} were not captured: the VTEP MAC for ${nexthop} is unknown`, view.name, [`ip neigh show dev ${vx.name}`])
    }
    const intended = intendedVtep(this.w, nexthop, vx.id)
    const entry = view.neighbour(vx.name, nexthop)
    let mac: string
    if (entry !== undefined && neighbourUse(entry) === 'usable') {
      mac = entry.lladdr!.toLowerCase()
      this.step(hop, 'neigh', 'ok', entry.raw, `${nexthop} is VTEP MAC ${mac} (${stateOf(entry)})`)
    } else {
      const flood = view.fdbDefaults(vx.name)
      const hit = intended?.device?.mac !== undefined ? flood.find(f => intended.view.isLocal(f.dst!)) : undefined
      const agent = this.neighbourAgent(view, vx, nexthop, packet, entry, intended?.device?.mac)
      // a miss an agent may answer is where the tables run out, checked once no ARP answer was found
      const unanswered = (a: {reason: string, commands: string[]}): End => this.insufficient(hop, 'neigh', entry?.raw ?? `(no neighbour entry for ${nexthop} on ${vx.name})`, a.reason, view.name, a.commands)
      if (hit === undefined || intended?.device?.mac === undefined) {
        // default entries that flood ARP only to hosts other than the one owning the next hop
        const missed = flood.length > 0 && intended !== undefined
          ? `ARP is flooded to the default fdb entries (${flood.map(f => f.dst).join(', ')}), none of which is ${intended.view.name}, whose ${intended.device?.name ?? 'vxlan device'} has ${nexthop}: no answer comes back`
          : undefined
        if (agent !== undefined) return unanswered(agent)
        return this.fail(hop, 'NEIGHBOR_MISSING', 'neigh', entry?.raw ?? `(no neighbour entry for ${nexthop} on ${vx.name})`,
          entry !== undefined
            ? `the entry for ${nexthop} on ${vx.name} is ${stateOf(entry)}: it carries no MAC, and ${missed ?? 'nothing answers ARP on a vxlan device without default fdb entries'}${(view.sysctlNumber(`net.ipv4.neigh.${vx.name}.app_solicit`) ?? 0) > 0 ? ` (net.ipv4.neigh.${vx.name}.app_solicit sends the miss to user space, and no agent answered it)` : ''}${this.arpUnanswered(hop, view, packet)}`
            : `${vx.name} has no neighbour entry for ${nexthop}, and ${missed ?? `nothing answers ARP on a vxlan device${vx.learning ? '' : ' with nolearning'} without default fdb entries (flanneld writes one permanent entry per peer; flannel before 0.9 filled them on L3 miss)`}${this.arpUnanswered(hop, view, packet)}`,
          this.vtepFixes(view, vx, nexthop, intended, packet.dst))
      }
      const noEntry = entry !== undefined ? `the entry for ${nexthop} is ${stateOf(entry)}` : `no neighbour entry for ${nexthop}`
      // The flooded ARP reaches the peer's vxlan device, which answers only for its host's own addresses or by proxy.
      const proxied = intended.view.isLocal(nexthop) ? undefined : proxyAnswer(intended.view, intended.device.name, nexthop, view.deviceAddress(vx.name))
      if (!intended.view.isLocal(nexthop) && proxied === undefined) {
        if (agent !== undefined) return unanswered(agent)
        return this.fail(hop, 'NEIGHBOR_MISSING', 'neigh', entry?.raw ?? `(no neighbour entry for ${nexthop} on ${vx.name})`,
          `${noEntry} on ${vx.name}: ARP is flooded to the default fdb entry \`${hit.raw}\` and reaches ${intended.view.name}'s ${intended.device.name}, but ${nexthop} is not an address of ${intended.view.name} and proxy_arp is off there, so nothing answers (flannel before 0.9 had its flanneld add this entry on the first miss)${this.arpUnanswered(hop, view, packet)}`,
          this.vtepFixes(view, vx, nexthop, intended, packet.dst))
      }
      mac = intended.device.mac
      this.step(hop, 'neigh', 'ok', hit.raw, `${noEntry}: ARP is flooded to the default fdb entries and ${intended.view.name} answers with ${mac}${proxied !== undefined ? ` by proxy (${proxied.evidence})` : ''}`)
    }
    const overIPv6 = this.ipv6Underlay(hop, view, vx, mac)
    if (overIPv6 !== undefined) return overIPv6
    const tunnel: Tunnel = {inner: packet, vni: vx.id, port: vx.port, innerMac: mac, sender: view, device: vx, nexthop, intended}
    if (intended?.device?.mac !== undefined && intended.device.mac !== mac) return this.staleMac(hop, tunnel, intended.view, intended.device, 'neigh')

    if (!view.hasFdbOn(vx.name)) {
      return this.insufficient(hop, 'fdb', entry?.raw ?? route.raw, `the fdb of ${view.name} for ${vx.name} was not captured: which VTEP gets MAC ${mac} is unknown`, view.name, [`bridge fdb show dev ${vx.name}`])
    }
    const f = fdbLookup(view, vx.name, mac)
    const learned = vx.learning ? this.learnedFdb.get(learnedKey(view, vx.name, mac)) : undefined
    // snoopedAway let the frame in only past no entry or a dynamic one, which the learning replaced
    let fdbEntry = learned !== undefined
      ? {mac, dev: vx.name, dst: learned, flags: ['self'], raw: `(learned: ${mac} dev ${vx.name} dst ${learned} self, from the frame ${view.name} took in from ${learned})`}
      : f.entry
    let flooded = false
    if (fdbEntry === undefined && f.flooded.length > 0) {
      fdbEntry = (intended ? f.flooded.find(e => intended.view.isLocal(e.dst!)) : undefined) ?? f.flooded[0]
      flooded = true
    }
    if (fdbEntry === undefined && vx.l2miss) {
      const right = intended !== undefined ? this.reachableVtep(view, intended) : undefined
      return this.insufficient(hop, 'fdb', `(no fdb entry for ${mac} on ${vx.name})`,
        `${vx.name} on ${view.name} has no fdb entry for ${mac} and is made with l2miss: the kernel asks a user-space agent which host it lives on (flanneld before 0.9 answers from the peer's lease). Whether one answers is in no table; without one the frame is dropped${right !== undefined ? `, and \`bridge fdb append ${mac} dev ${vx.name} dst ${right} self permanent\` carries it` : ''}`,
        view.name, [`ping -c 1 -W 1 ${packet.dst}`, `bridge fdb show dev ${vx.name}`])
    }
    if (fdbEntry === undefined || fdbEntry.dst === undefined) {
      return this.fail(hop, 'FDB_MISSING', 'fdb', f.withoutDst?.raw ?? `(no fdb entry for ${mac} on ${vx.name})`,
        `${vx.name} on ${view.name} has no fdb entry telling which host MAC ${mac} lives on: the frame is dropped`,
        this.vtepFixes(view, vx, nexthop, intended, packet.dst, mac))
    }
    const remote = fdbEntry.dst
    const remoteIsMine = view.isLocal(remote)
    // the peer's device still bound to the address the peer had: the entry is right, the peer moved
    const moved = !remoteIsMine && intended?.device?.local === remote ? lostVtepAddress(this.w, intended.view, intended.device) : undefined
    if (moved !== undefined) {
      return this.fail(hop, 'WRONG_VTEP_HOST', 'fdb', fdbEntry.raw,
        `the fdb entry sends frames for ${mac} to ${remote}, where ${intended!.view.name}'s ${intended!.device!.name} was, but ${moved.reason}: no host takes these frames`, moved.fix)
    }
    if (remoteIsMine || (intended !== undefined && !intended.view.isLocal(remote))) {
      const right = intended ? this.reachableVtep(view, intended) : undefined
      const reason = remoteIsMine
        ? `the fdb entry sends frames for ${mac} to ${remote}, an address of ${view.name} itself${intended ? `, not of ${intended.view.name} (${intended.why})` : ''}; often a NAT address every VM has, picked as flannel's public IP`
        : `the fdb entry sends frames for ${mac} to ${remote}, but ${intended!.view.name} (${intended!.why}) is at ${right ?? 'another address'}`
      return this.fail(hop, 'WRONG_VTEP_HOST', 'fdb', fdbEntry.raw, reason,
        right !== undefined ? [{node: view.name, command: `bridge fdb replace ${mac} dev ${vx.name} dst ${right} self permanent`}] : [{node: view.name, command: `bridge fdb show dev ${vx.name}`}])
    }
    this.step(hop, 'fdb', 'ok', fdbEntry.raw, flooded ? `no entry for ${mac}: the frame is flooded to the default entry ${remote}` : `frames for ${mac} go to VTEP ${remote}`)

    // vxlan_xmit_one: the outer packet's route is looked up bound to the fdb entry's `via` device
    // (not the vxlan device's own `dev`), from its `local` (none: 0.0.0.0), with the skb's mark
    const stranded = lostVtepAddress(this.w, view, vx)
    if (stranded !== undefined) {
      return this.fail(hop, 'NO_ROUTE', 'encap', vxlanEvidence(vx),
        `${stranded.reason}: the kernel routes no packet from an address the host does not own, so the encapsulated packet to ${remote} is dropped`, stranded.fix)
    }
    const oif = this.viaDevice(view, vx, fdbEntry)
    const carried = this.carriedMark(view, packet)
    if (oif !== undefined) tunnel.oif = oif
    if (carried.doubt !== undefined) tunnel.markDoubt = carried.doubt
    const outerSrc = vx.local
      ?? view.sourceRoute({dst: remote, iif: 'lo', proto: 'udp', dport: vx.port, mark: carried.mark, oif, oifKnown: true}).src
      ?? view.firstGlobalAddress() ?? '0.0.0.0'
    const outer = packetOf({
      src: outerSrc, dst: remote, proto: 'udp', dport: vx.port, state: 'NEW', ttl: START_TTL,
      size: packet.size !== undefined ? packet.size + VXLAN_OVERHEAD : undefined, tunnel,
      ...(carried.mark !== undefined && carried.mark !== 0 ? {mark: carried.mark} : {}),
      ...(vx.local === undefined ? {unboundSrc: true as const} : {}),
    })
    const how = [
      ...(vx.local === undefined ? [`${vx.name} has no \`local\`, so its route is looked up without a source (no \`from\` rule matches) and ${outerSrc} is the address that route gives`] : []),
      ...(oif !== undefined ? [`bound to ${oif} by the fdb entry's \`via\` (only routes out of ${oif} count, \`oif ${oif}\` rules match)`] : []),
      ...(outer.mark !== undefined ? [`it keeps the inner packet's mark ${hexMark(outer.mark)}, which \`fwmark\` rules see`] : []),
    ]
    this.step(hop, 'encap', vx.assumed ? 'assumed' : 'ok', vxlanEvidence(vx),
      `${packet.src} → ${packet.dst} wrapped in UDP ${outerSrc} → ${remote}:${vx.port}, VNI ${vx.id}, inner dst MAC ${mac}${how.length > 0 ? `; the outer packet: ${how.join('; ')}` : ''}`)
    return this.forward(hop, view, 'local', outer, true)
  }

  /** The device an fdb entry's `via` names (`via ifindex N` resolved by the links read). */
  private viaDevice(view: HostView, vx: VxlanDevice, entry: {via?: string | number, raw: string}): string | undefined {
    if (typeof entry.via !== 'number') return entry.via
    const name = view.snap.links?.find(l => l.index === entry.via)?.name
    if (name === undefined) this.assume(view, `\`${entry.raw}\` on ${view.name} binds ${vx.name}'s outer packets to ifindex ${entry.via}, which no link read has: assumed no \`oif\` rule names it (\`ip link\` tells)`)
    return name
  }

  /**
   * The mark the inner packet carries when the vxlan device sends it (after mangle POSTROUTING):
   * the outer packet keeps it (the tunnel is in the same namespace: skb_scrub_packet leaves it).
   */
  private carriedMark(view: HostView, packet: Packet): {mark?: number, doubt?: string} {
    if (view.iptables === undefined) return {mark: packet.mark, doubt: `no iptables captured on ${view.name}`}
    return {mark: packet.mark, doubt: packet.markDoubt}
  }

  /**
   * A request that died on a host before POSTROUTING: the source NAT that host would have given it,
   * so the reply is traced to where it would really go once the drop is fixed (a docker0 host whose
   * FORWARD drops the container's packet still masquerades it after the fix).
   */
  asIfForwarded(packet: Packet): Packet {
    const last = this.hops.at(-1)
    const view = last !== undefined ? this.w.view(last.node) : undefined
    if (view === undefined || packet.state !== 'NEW' || packet.tunnel !== undefined || this.nat.some(r => r.node === view.name && r.field === 'src')) return packet
    // A packet for this host itself goes on to INPUT, never through POSTROUTING: no SNAT to assume.
    if (view.isLocal(packet.dst)) return packet
    const table = view.routes
    const route = table?.lookup(packet.dst)
    if (table === undefined || route === undefined || route.type !== 'unicast') return packet
    if (!natAt(view, 'POSTROUTING', arrivedBy(last!.in))) return packet
    const outcome = postrouting(view, this.facts(view, packet, last!.in, routeDevice(table, route)), route.gateway ?? packet.dst)
    if (outcome?.newSrc === undefined || outcome.newSrc === packet.src) return packet
    this.assume(view, `the request stops on ${view.name}; its reply is traced as if it had gone on, with \`${outcome.decision.evidence}\` making its source ${outcome.newSrc}`)
    return this.sourceNatted(view, packet, outcome.newSrc, outcome.decision)
  }

  private assumedPortMessage(view: HostView, vx: VxlanDevice, port: number): string {
    return `the \`ip -d link\` line of ${vx.name} on ${view.name} prints no dstport (iproute2 before 3.12): assumed UDP ${port}`
  }

  /** No link table at all: its details are that table's; a link read without `-d` is not a table missing */
  private assumedDeviceTable(vx: VxlanDevice): UnreadTable | undefined {
    return vx.link !== undefined ? undefined : 'links'
  }

  private assumedDeviceMessage(view: HostView, vx: VxlanDevice): string {
    const settings = `vxlan id ${vx.id}${vx.local ? ` local ${vx.local}` : ''}${vx.dev ? ` dev ${vx.dev}` : ''} dstport ${vx.port}${vx.learning ? '' : ' nolearning'}`
    return vx.link !== undefined
      ? `the vxlan details of ${vx.name} on ${view.name} were not captured (\`ip -d link\`): assumed flannel's usual ${settings}`
      : `no link details captured on ${view.name}: assumed ${vx.name} is ${settings}`
  }

  /** An address of the intended peer that `view` reaches and does not own itself. */
  private reachableVtep(view: HostView, intended: IntendedVtep): string | undefined {
    const preferred = vtepAddress(this.w, intended.view, intended.device)
    if (preferred !== undefined && !view.isLocal(preferred)) return preferred
    return this.onLinkAddressOf(view, intended.view)
  }

  /** An underlay address of `peer` on one of `view`'s own networks (a connected route), not a pod or vxlan one. */
  private onLinkAddressOf(view: HostView, peer: HostView): string | undefined {
    for (const a of peer.ipv4Addresses()) {
      if (view.isLocal(a.local) || this.w.isPodSide(peer, a.dev) || isVxlanLink(peer, a.dev)) continue
      if (view.routes?.connectedRoute(a.local) !== undefined) return a.local
    }
    return undefined
  }

  private vtepFixes(view: HostView, vx: VxlanDevice, nexthop: string, intended: IntendedVtep | undefined, dst: string, mac?: string): Fix[] {
    if (intended === undefined && mac !== undefined) intended = this.macOwner(mac, vx.id)
    const peerMac = mac ?? intended?.device?.mac
    if (intended === undefined || peerMac === undefined) {
      const viaRoute = routeFixes(this.w, view, dst)
      return viaRoute.length > 0 ? viaRoute : [{node: view.name, command: `ip neigh show dev ${vx.name}`}]
    }
    const fixes: Fix[] = []
    const n = view.neighbour(vx.name, nexthop)
    if (n === undefined || neighbourUse(n) !== 'usable') fixes.push({node: view.name, command: `ip neigh replace ${nexthop} lladdr ${peerMac} dev ${vx.name} nud permanent`})
    const remote = this.reachableVtep(view, intended)
    if (remote !== undefined && !view.fdb(vx.name, peerMac).some(e => e.dst === remote)) {
      fixes.push({node: view.name, command: `bridge fdb append ${peerMac} dev ${vx.name} dst ${remote} self permanent`})
    }
    return fixes
  }

  /** The host whose vxlan device has `mac`: who an fdb entry for it should point at. */
  private macOwner(mac: string, vni: number): IntendedVtep | undefined {
    for (const view of this.w.nodeViews()) {
      const device = vxlanDevices(view).find(d => d.mac === mac && d.id === vni)
      if (device !== undefined) return {view, device, why: `${mac} is ${view.name}'s ${device.name}`}
    }
    return undefined
  }

  /** A pod whose namespace was not captured talking to a pod on the same node bridge. */
  bridgedStart(node: HostView, bridge: string, to: HostAnswer | PodAnswer, packet: Packet): Next {
    const before: Hop = {node: node.name, in: bridge, out: bridge, steps: []}
    return this.cross(before, {kind: 'bridged', node, bridge, to}, packet)
  }

  /**
   * A pod whose own tables were not read, sending to an address of its bridge's subnet that no pod
   * list names: the pod ARPs for it across the bridge, so the frame is switched to whatever answers
   * there (the node's neighbour entry tells), never routed by the node.
   */
  switchedStart(node: HostView, bridge: string, packet: Packet, connected: Route): Next {
    const hop = this.newHop(node.name, bridge)
    hop.out = bridge
    return this.linkLayer(hop, node, bridge, packet.dst, packet, connected)
  }

  // ---- loops

  private loop(hop: Hop, firstIndex: number): End {
    const cycle = this.hops.slice(firstIndex, -1)
    const route = cycle.length > 0 ? this.routeOfHop.get(cycle[0]) : undefined
    const routers = this.routersOf(cycle)
    const fix = cycleDeletions(routers)
    if (fix.length === 0 && route !== undefined) fix.push({node: hop.node, command: routeDelCommand(route)})
    const path = cycle.map(h => h.node).concat(hop.node).join(' → ')
    const reason = this.hops.length > MAX_HOPS
      ? `the packet is still moving after ${MAX_HOPS} hops: its TTL runs out (${path})`
      : `the packet comes back to ${hop.node} on ${hop.in} with the same addresses: ${path} pass it round until its TTL runs out`
    const end: End = {...this.fail(hop, 'LOOP', 'route', route?.raw ?? '(routing loop)', reason, fix), ...(this.hops.length > MAX_HOPS ? {} : {cycleLength: cycle.length})}
    return routers.length > 0 ? {...end, loop: routers} : end
  }

  /** the hosts of a way round, each with the route by which it sent the packet on to a gateway */
  private routersOf(hops: Hop[]): Array<{node: string, route: Route}> {
    return hops.flatMap(h => {
      const r = this.routeOfHop.get(h)
      return r?.gateway !== undefined ? [{node: h.node, route: r}] : []
    })
  }
}

// ---- endpoints and the two walks

function validate(req: TraceRequest): Flow {
  const proto = req.proto ?? 'icmp'
  if (!['icmp', 'tcp', 'udp'].includes(proto)) throw userError(`unknown protocol "${proto}"`, 'use --proto icmp, tcp or udp')
  const flow: Flow = {proto}
  if (req.dport !== undefined) {
    if (proto === 'icmp') throw userError('--dport needs --proto tcp or udp', 'add --proto tcp (or udp), or drop --dport')
    if (!Number.isInteger(req.dport) || req.dport < 1 || req.dport > 65535) throw userError(`bad port ${req.dport}`, 'a port is a whole number from 1 to 65535')
    flow.dport = req.dport
  }
  if (req.size !== undefined) {
    if (!Number.isInteger(req.size) || req.size < 28 || req.size > 65535) throw userError(`bad size ${req.size}`, '--size is the IP packet size in bytes, 28 to 65535')
    flow.size = req.size
  }
  if (req.noDf === true) {
    if (req.size === undefined) throw userError('--no-df needs --size', 'add --size BYTES: without a size no packet is too big')
    flow.df = false
  }
  return flow
}

/** Where the first packet from an endpoint enters the tables: the pod's namespace, else its node's pod-facing device. */
function startOf(w: WorldIndex, walk: Walk, from: ResolvedEndpoint, packet: Packet): Next {
  if (from.kind === 'node') return {view: from.nodeView!, inDev: 'local', packet, origin: true}
  const pod = from.pod!
  if (from.podView !== undefined) return {view: from.podView, inDev: 'local', packet, origin: true}
  const node = from.nodeView
  if (node === undefined) {
    const reason = `pod ${pod.name}'s node ${w.noTablesOf(pod.node)}`
    return {end: true, disposition: 'INSUFFICIENT_INFO', failure: {node: pod.node, step: 'route', evidence: `(no snapshot of ${pod.node})`, reason, fix: [{node: pod.node, command: 'flannelctl collect'}]}}
  }
  const facing = w.podFacingDevice(node, pod)
  if (facing === undefined) {
    const reason = `which interface of ${node.name} leads to pod ${pod.name} (${pod.ip}) is unknown: no route to it`
    return {end: true, disposition: 'INSUFFICIENT_INFO', failure: {node: node.name, step: 'route', evidence: `(no route to ${pod.ip} on ${node.name})`, reason, fix: [{node: node.name, command: `ip route get ${pod.ip}`}]}}
  }
  // Two pods on the same node bridge talk over the bridge, not through the node's routing.
  const other = w.podAt(packet.dst, pod.node)
  if (other !== undefined && other.node === pod.node && node.link(facing)?.kind === 'bridge' && w.podFacingDevice(node, other) === facing) {
    return walk.bridgedStart(node, facing, podAnswer(w, node, other, packet.dst), packet)
  }
  if (other === undefined && node.link(facing)?.kind === 'bridge' && !w.isOwned(packet.dst)) {
    const onBridge = node.routes?.connectedRoute(packet.dst, facing)
    if (onBridge !== undefined) return walk.switchedStart(node, facing, packet, onBridge)
  }
  return {view: node, inDev: facing, packet, origin: false}
}

function sameHops(a: Hop, b: {node: string, in: string, out: string}): boolean {
  return a.node === b.node && a.in === b.in && a.out === b.out
}

function asymmetry(forward: Hop[], back: Hop[]): TraceWarning | undefined {
  const mirrored = [...back].reverse().map(h => ({node: h.node, in: h.out, out: h.in}))
  const n = Math.max(forward.length, mirrored.length)
  for (let i = 0; i < n; i++) {
    const f = forward[i]
    const r = mirrored[i]
    if (f !== undefined && r !== undefined && sameHops(f, r)) continue
    const node = f?.node ?? r!.node
    const there = f ? `${f.node} (${f.in} → ${f.out})` : 'nowhere'
    const back = r ? `${r.node} (${r.out} → ${r.in})` : 'nowhere'
    return {code: 'ASYMMETRIC_PATH', node, message: `the request passes ${there}, the reply ${back}: the paths differ from here`}
  }
  return undefined
}

/**
 * The MTU behind the MSS a TCP peer announces in its SYN-ACK, by its route toward the client's
 * address: the route's `advmss` metric as it is, else its `mtu` metric or device MTU less 40
 * (ipv4_default_advmss). Checked: a receiver's route with `advmss 1000` announced MSS 1000, one with
 * `mtu 1300` (locked or not) 1260; `advmss` on the client's own route changes only the MSS the
 * client announces. Unknown for a destination whose tables were not read; behind a DNAT,
 * traceWorld asks again of the endpoint it reached.
 */
function peerMssOf(dst: ResolvedEndpoint, client: string): Walk['peerMss'] {
  const view = dst.kind === 'pod' ? dst.podView : dst.kind === 'node' ? dst.nodeView : undefined
  const route = view?.routes !== undefined ? view.routeFor({dst: client, src: dst.ip, iif: 'lo', proto: 'tcp'}).route : undefined
  if (route?.advmss !== undefined && route.type === 'unicast') {
    return {mtu: route.advmss + TCP_IP_HEADERS, evidence: route.raw, of: `the advmss ${route.advmss} of its route to ${client} on ${view!.name}`}
  }
  if (route?.mtu !== undefined && route.type === 'unicast') {
    return {mtu: route.mtu, evidence: route.raw, of: `the mtu ${route.mtu} of its route to ${client} on ${view!.name}`}
  }
  const dev = route !== undefined && route.type === 'unicast' ? routeDevice(view!.routes!, route) : undefined
  const link = dev !== undefined ? view!.link(dev) : undefined
  if (link === undefined) return undefined
  return {mtu: link.mtu, evidence: firstLine(link.raw), of: `${dev}'s MTU ${link.mtu} on ${view!.name}`}
}

/** An MSS rewrite the SYN-ACK met, with its value: see Walk.takeMssRewrite. */
interface MssRewrite {
  mss: number
  /** the rule's text */
  rule: string
  node: string
}

/** dst_mtu of the route `view` takes to `dst`: its mtu metric, else its device's MTU; none for a local address, undefined where not read. */
function routeMtuTo(view: HostView, dst: string, iif: string): number | undefined {
  if (view.isLocal(dst)) return Infinity
  const routes = view.routes
  const r = routes !== undefined ? view.routeFor({dst, src: '0.0.0.0', iif, proto: 'tcp'}).route : undefined
  if (r === undefined || r.type !== 'unicast') return undefined
  const dev = routeDevice(routes!, r)
  return r.mtu ?? (dev !== undefined ? view.link(dev)?.mtu : undefined)
}

/** The MSS a path MTU clamp on `view` gives the packet: the smaller MTU of its routes to the destination and back to the source, less 40. */
function clampedMss(view: HostView, packet: Packet, inDev: string | undefined): number | undefined {
  const out = routeMtuTo(view, packet.dst, inDev ?? 'lo')
  const back = routeMtuTo(view, packet.src, 'lo')
  if (out === undefined || back === undefined) return undefined
  const mtu = Math.min(out, back)
  return Number.isFinite(mtu) ? mtu - TCP_IP_HEADERS : undefined
}

/** The peer's MSS as the client gets it: what it announces, lowered by the smallest rewrite its SYN-ACK meets. */
function rewrittenMss(announced: Walk['peerMss'], rewrites: readonly MssRewrite[]): Walk['peerMss'] {
  const least = rewrites.reduce<MssRewrite | undefined>((a, r) => a === undefined || r.mss < a.mss ? r : a, undefined)
  if (least === undefined || least.mss + TCP_IP_HEADERS >= (announced?.mtu ?? Infinity)) return announced
  return {mtu: least.mss + TCP_IP_HEADERS, evidence: least.rule, rewritten: true,
    of: `\`${least.rule}\` on ${least.node} rewrites it${announced !== undefined ? ` from the ${announced.mtu - TCP_IP_HEADERS} announced by ${announced.of}` : ''}`}
}

function endpointOf(e: ResolvedEndpoint, ip = e.ip): Endpoint {
  const out: Endpoint = {kind: e.kind, name: e.name, ip}
  if (e.node !== undefined) out.node = e.node
  return out
}

/** Walk.learnedFdb's key: the entry `dev` on `view` learned for `mac` */
const learnedKey = (view: HostView, dev: string, mac: string) => `${view.name} ${dev} ${mac.toLowerCase()}`

/** A device taken as up for want of the links: the same words wherever the walk relies on it, so said once per device */
const assumedUp = (view: HostView, dev: string) => `no link details captured on ${view.name}: assumed ${dev} is up (\`ip link show ${dev}\` would tell)`

export function traceFlow(world: World, req: TraceRequest): Trace {
  const first = randomBranch(new Map())
  const traced = traceWorld(world, req, true, first)
  return withoutNeedlessOpenings(world, req, pastFixes(world, req, pastLearnedMtu(world, req, first.met.size === 0 ? traced : followBranches(world, req, traced, [...first.met]))))
}

/**
 * A packet routed back to its own sender is dropped there as a martian source, and turning
 * accept_local on is what lets it by; but where the rest of the fix mends the routes that sent it
 * back, accept_local only opens the host to packets with its own source address for nothing. So
 * the fix runs on the tables with and without it, and where both end alike it is left out (r2's
 * packet to r1 sent back by r3: with r3's and r2's routes mended it never returns; a packet to an
 * address no host has, sent back by the host its route names: it has nowhere to go either way).
 */
function withoutNeedlessOpenings(world: World, req: TraceRequest, t: Trace): Trace {
  const top = t.failure ?? t.returnPath.failure
  if (top === undefined) return t
  const traced = (w: World | undefined) => w === undefined ? undefined : traceWorld(w, req, false, randomBranch(new Map()))
  const endingOf = (again: Trace | undefined) => again === undefined ? undefined
    : [again.disposition, again.failure?.node, again.failure?.evidence, again.returnPath.disposition, again.returnPath.failure?.node, again.returnPath.failure?.evidence].join('|')
  // (where `settledOnly`, only where each way's end is its last word: delivered, or stopped before it left
  // the host it started from. A stop further on, whose own fix is still to come, may hide the way on)
  const settled = (way: {disposition: Disposition, hops: Hop[]}) => way.disposition === 'DELIVERED' || way.disposition === 'INSUFFICIENT_INFO' || way.hops.every(h => h.node === way.hops[0].node)
  /** whether `run` without `gone` ends as `run` does, on the tables each leaves */
  const needless = (run: Fix[], gone: Fix[], settledOnly: boolean): boolean => {
    const all = traced(worldAfterFixes(world, run))
    if (all === undefined || (settledOnly && (!settled(all) || !settled(all.returnPath)))) return false
    return endingOf(all) === endingOf(traced(worldAfterFixes(world, run.filter(x => !gone.includes(x)))))
  }
  for (const f of top.fix.filter(x => /^sysctl -w net\.ipv4\.conf\.\S+\.accept_local=1$/.test(x.command) && x.option === undefined)) {
    const run = modelled(top.fix)
    if (run.length < 2 || !needless(run, [f], false)) continue
    top.fix = top.fix.filter(x => x !== f)
    top.reason += ` (the rest of the fix keeps the packet from coming back to ${f.node}: accept_local stays off there)`
  }
  // Likewise the accepts for a chain the packet meets only because of routes the rest of the fix
  // mends (a stale route that sends a packet for an address no host has to a host whose FORWARD
  // drops it): run here with the accepts in the tables, not past them as the walks go. A chain's
  // accepts go together or not at all: flanneld's `-s NET` and `-d NET` each pass a pod's packet alone
  const chainOf = (f: Fix) => `${f.node} ${/ -[IA] (\S+)/.exec(f.command)?.[1] ?? ''}`
  const accepts = new Map<string, Fix[]>()
  for (const f of top.fix.filter(x => insertsAccept(x.command) && x.option === undefined)) accepts.set(chainOf(f), [...accepts.get(chainOf(f)) ?? [], f])
  for (const [where, group] of accepts) {
    if (group.length === top.fix.length || !needless(top.fix, group, true)) continue
    top.fix = top.fix.filter(x => !group.includes(x))
    const [node, chain] = where.split(' ')
    top.reason += ` (the rest of the fix keeps the packet away from ${node}'s ${chain} chain: it needs no accept there)`
  }
  return t
}

/**
 * A walk ends at the first fault, and some faults no walk can pass: a policy rule's refusal, a
 * missing route or neighbour, a sysctl. What stops the packet or its reply behind it shows once the
 * fix is run (checked: a reply stopped by r2's `prohibit` rule and, behind it, by r1's prerouting
 * drop; the rule deleted, r1 still dropped it). So where the fix's commands are ones the tables show
 * the effect of (fix-apply.ts), the trace runs again on the tables as they leave them; a stop found
 * there that this trace did not find is named in the reason, and its fix merged. Bounded: a few
 * rounds, each on the tables the fixes so far leave.
 */
function pastFixes(world: World, req: TraceRequest, t: Trace): Trace {
  const top = t.failure ?? t.returnPath.failure
  if (top === undefined) return t
  const known = {request: [t.failure], reply: [t.returnPath.failure]}
  const first = modelled(top.fix)
  let fixed = first.length > 0 ? worldAfterFixes(world, first) : undefined
  // (bounded: each round needs a fault the rounds before did not meet)
  for (let round = 0; round < 3 && fixed !== undefined; round++) {
    const again = traceWorld(fixed, req, false, randomBranch(new Map()))
    const later = [[again.failure, 'request'], [again.returnPath.failure, 'reply']] as const
    let next: World | undefined
    // (one rule may stop both ways, each needing a fix of its own: each way's stop is compared with that way's)
    for (const [stop, what] of later) {
      if (stop === undefined) continue
      if (known[what].some(k => k !== undefined && k.node === stop.node && k.evidence === stop.evidence)) {
        // the same first stop (an accept the fix inserts is not run): what its walks past the drops
        // found on these tables, behind the stops the fix mends, is new
        const found = stop.reason.split(LATER_STOP_CLAUSE).slice(1).filter(clause => !top.reason.includes(clause))
        const more = appendFixes(top.fix, stop.fix)
        if (found.length > 0 && more.length > top.fix.length) {
          // (the next round runs on the tables these fixes leave too, and so meets what is behind them)
          const after = worldAfterFixes(next ?? fixed, modelled(more.slice(top.fix.length)))
          top.reason += found.join('')
          top.fix = more
          if (after !== undefined) next = after
        }
        continue
      }
      const disposition = what === 'request' ? again.disposition : again.returnPath.disposition
      // (where the tables run out, the same reason met from another host is nothing new)
      if (disposition === 'INSUFFICIENT_INFO' && known[what].some(k => k?.reason === stop.reason)) continue
      known[what].push(stop)
      const after = worldAfterFixes(next ?? fixed, modelled(stop.fix))
      // a fix not modelled (a sync) may undo what the first one did: it is not merged blindly. Nor is a
      // device made anew: its list puts back the device's entries after deleting it, and those the
      // first fix lists already would be left out of it, to run before the deletion takes them
      const merged = disposition !== 'INSUFFICIENT_INFO' && !stop.fix.some(f => f.command.startsWith('ip link del '))
        && (after !== undefined || stop.fix.every(f => filterCommand(f.command)))
      top.reason += laterStop(ONCE_FIXED, what, stop, disposition, merged)
      if (!merged) continue
      // (after the fix, not in among it: this one was found on the tables the first one leaves)
      top.fix = appendFixes(top.fix, stop.fix)
      if (after !== undefined) next = after
    }
    fixed = next
  }
  return t
}

/** a fix as it is run on the tables: an accept it inserts is left out, as the walks go on past the filters that drop, so what it mends they pass already */
const modelled = (fixes: Fix[]) => fixes.filter(f => !insertsAccept(f.command))

/** how a stop behind the first one is named in the first one's reason: met past the drops, or on the tables the fix leaves */
const PAST_DROPS = 'past it'
const ONCE_FIXED = 'once the fix is run'
/** where such a clause starts in a reason */
const LATER_STOP_CLAUSE = new RegExp(`(?= \\((?:${PAST_DROPS}|${ONCE_FIXED}), )`)

/**
 * A stop behind the first, as a clause of the first one's reason: where the tables run out, why;
 * else the stop, and whether its fix is merged (`merged`) or to be found by tracing again after it.
 */
function laterStop(lead: string, what: 'request' | 'reply', stop: Failure, disposition: Disposition, merged: boolean): string {
  if (disposition === 'INSUFFICIENT_INFO') return ` (${lead}, the ${what} reaches what the tables do not show: ${stop.reason})`
  return ` (${lead}, ${stop.node}'s \`${stop.evidence}\` stops the ${what}: ${disposition}; ${merged ? 'the fix mends that too' : 'trace again then for its fix'})`
}

/**
 * A path MTU the sender learned stops its own DF packets (ping -M do: "message too long"), not
 * traceroute's probes (IP_PMTUDISC_PROBE ignores it): they go as the path takes them. The same
 * trace without the learned MTU gives that traceroute, and says whether flushing it is enough or
 * the path is still too narrow (its fixes come first then).
 */
function pastLearnedMtu(world: World, req: TraceRequest, t: Trace): Trace {
  const f = t.failure
  const sender = f?.step === 'mtu' ? world.hosts.find(h => h.name === f.node) : undefined
  if (f === undefined || sender?.pmtuCache?.some(r => r.raw === f.evidence) !== true) return t
  const path = traceFlow({...world, hosts: world.hosts.map(h => h === sender ? {...h, pmtuCache: undefined} : h)}, req)
  t.traceroute = path.traceroute
  if (path.disposition === 'DELIVERED' || path.failure === undefined) {
    f.reason += `; the path itself carries the ${req.size}-byte packet now (traced without the learned MTU): the flush is the fix`
  } else {
    f.reason += `; without the learned MTU it fails on ${path.failure.node} too (${path.disposition}: ${path.failure.reason}), which must be fixed first`
    f.fix = mergeFixes(path.failure.fix, f.fix)
  }
  return t
}

/**
 * The random choices one trace runs with (`-m statistic` rules, `numgen` map entries), and the
 * undecided ones it met, each with how the trace names it and how it picks (at random, in turn).
 */
interface RandomBranch {
  pick: NonNullable<PacketFacts['randomPick']>
  met: Map<string, {label: string, kind: PickKind}>
}

/** The same picks, without noting the undecided ones met: for a walk whose branches are not traced (one past the drops). */
function unrecorded(random: RandomBranch): RandomBranch {
  return {met: new Map(), pick: (key, label, kind) => {
    const noted = random.met.has(key)
    const chosen = random.pick(key, label, kind)
    if (!noted) random.met.delete(key)
    return chosen
  }}
}

/**
 * The drops a walk past the filters met after `first` (Walk.passedDrops): each is named in its
 * reason and its fix merged in, so the fix lets the packet through all of them, not the first alone.
 */
function addLaterDrops(first: Failure, drops: Failure[], what: 'request' | 'reply'): void {
  for (const later of drops.filter(d => d.node !== first.node || d.evidence !== first.evidence)) {
    first.reason += ` (${PAST_DROPS}, ${later.node}'s \`${later.evidence}\` drops the ${what} too: the fix lets it by there as well)`
    first.fix = mergeFixes(first.fix, later.fix)
  }
}

/**
 * Where the walk past the filters ended short of delivery, for another reason than a filter: the
 * stop behind the drops (a router that does not forward, a null route), found on the same tables,
 * so its fix is merged in as the reply's is (seed 2828 cases 0 and 18: the accepts run, the
 * kernel then lost the packet at r2's forwarding sysctl and at its blackhole route).
 */
function addStopPastDrops(first: Failure, end: End, what: 'request' | 'reply'): void {
  const stop = end.failure
  // (where the drop's fix is one of several ways, a walk past it is what one way leaves: a Service changed instead may send it elsewhere)
  if (stop === undefined || end.disposition === 'DELIVERED' || end.disposition === 'DENIED_BY_FILTER' || first.fix.some(f => f.option !== undefined)) return
  const merged = end.disposition !== 'INSUFFICIENT_INFO'
  first.reason += laterStop(PAST_DROPS, what, stop, end.disposition, merged)
  if (merged) first.fix = mergeFixes(first.fix, stop.fix)
}

function randomBranch(picks: ReadonlyMap<string, boolean>): RandomBranch {
  const met: RandomBranch['met'] = new Map()
  return {met, pick: (key, label = `\`${key}\``, kind = 'random') => {
    const chosen = picks.get(key)
    if (chosen === undefined) met.set(key, {label, kind})
    return chosen
  }}
}

/**
 * A `-m statistic --mode random` rule (kube-proxy's pick of a Service endpoint) takes some new
 * connections and not others, as a `numgen random` verdict map sends each to one of its entries: no
 * table says which a given one is. The first trace took no such rule and each map's first entry;
 * each other rule or entry is traced again as taken. Where the branches agree the trace stands; where they part
 * (one endpoint unreachable), the connection's fate is a coin toss: the trace reports a failing
 * branch, so the fault shows, and says what the others do.
 */
function followBranches(world: World, req: TraceRequest, traced: Trace, choices: [key: string, pick: {label: string, kind: PickKind}][]): Trace {
  const branches = [{label: undefined as string | undefined, trace: traced},
    ...choices.slice(0, 16).map(([key, {label}]) => ({label, trace: traceWorld(world, req, true, randomBranch(new Map([[key, true]])))}))]
  // a connection needs its replies too: a branch whose reply is lost fails as surely as one whose request is
  const outcome = (t: Trace) => `${t.disposition}${t.failure !== undefined ? ` on ${t.failure.node}` : ''}` +
    (t.disposition === 'DELIVERED' && t.returnPath.disposition !== 'DELIVERED' ? `, its reply ${t.returnPath.disposition}${t.returnPath.failure !== undefined ? ` on ${t.returnPath.failure.node}` : ''}` : '')
  const fails = (t: Trace) => t.disposition !== 'DELIVERED' || (t.returnPath.disposition !== 'DELIVERED' && t.returnPath.disposition !== 'INSUFFICIENT_INFO')
  if (branches.every(b => outcome(b.trace) === outcome(traced))) return traced
  const shown = branches.find(b => fails(b.trace)) ?? branches[0]
  const where = (t: Trace) => {
    const dnat = t.hops.flatMap(h => h.steps).filter(s => s.kind === 'nat' && s.verdict === 'dnat').at(-1)
    return dnat !== undefined ? / becomes (\S+)$/.exec(dnat.explanation)?.[1] ?? dnat.evidence : 'on'
  }
  // (a numgen entry's key is its rule and entry joined by ⇒, see ChainWalk.lookup)
  // a round robin (numgen inc, statistic nth) sends connections to each branch in turn, not by chance
  const kinds = new Set(choices.map(([, c]) => c.kind))
  const kind = kinds.size > 1 ? 'random or round-robin' : [...kinds][0]
  const first = choices.some(([key]) => key.includes(' ⇒ ')) ? `by the first entry of each ${kind} map` : `past every ${kind} rule`
  const each = branches.map(b => `${b.label === undefined ? first : `by ${b.label}`} to ${where(b.trace)}: ${outcome(b.trace)}${b === shown ? ' (traced here)' : ''}`)
  const node = shown.trace.hops.find(h => h.steps.some(s => s.kind === 'nat' && s.verdict === 'dnat'))?.node ?? shown.trace.hops[0]?.node ?? ''
  const some = branches.some(b => !fails(b.trace))
  shown.trace.warnings.push({code: 'ASSUMED', node,
    message: `${some ? 'the outcome' : 'where the connection fails'} depends on ${kind === 'round-robin' ? `a round-robin pick on ${node}, each connection in turn to the next branch` : `a ${kind} pick on ${node}, made anew for each connection`}: ${each.join('; ')}. ${some ? 'Some connections get through and others do not' : 'None gets through'} (\`conntrack -L -p ${req.proto ?? 'icmp'} -d ${traced.dst.ip}\` on ${node} shows which endpoint each took)`})
  return shown.trace
}

/** One change of one route on one router of a loop, and the world it makes. */
interface RouteChange {
  node: string
  command: string
  world: World
}

/**
 * The routers of a loop each send the packet on to the next: deleting every route of the cycle
 * leaves none at all. One of them points the wrong way; which one is found by trying, with this
 * same engine, each single change the tables offer (deleting the route so a wider one takes over,
 * or sending it via another forwarding host on one of the router's links) and keeping those after
 * which the packet and its reply get through. One router's change working: that is the fix. Both
 * routers' working: the tables cannot tell which route was meant, and the reason says so. No host
 * read having the destination: the routes are left over, and all of them go.
 */
function mendLoop(world: World, req: TraceRequest, w: WorldIndex, dst: string, end: End, leg: 'request' | 'reply'): void {
  const failure = end.failure!
  const routers = end.loop!.filter((r, i, all) => all.findIndex(x => x.node === r.node) === i)
  const outcomes = routers.map(r => ({...r, tried: loopChanges(world, w, r.node, r.route, dst).map(change => ({change, trace: traceWorld(change.world, req, false)}))}))
  const through = (t: Trace) => t.returnPath.disposition === 'DELIVERED' || t.returnPath.disposition === 'INSUFFICIENT_INFO'
  // Both ways first; a reply that fails for a fault of its own (its fix is added below) does not
  // make the request's route the wrong one.
  const pick = (both: boolean) => outcomes.map(r => ({...r, change: r.tried.find(x => x.trace.disposition === 'DELIVERED' && (!both || through(x.trace)))?.change}))
    .filter(r => r.change !== undefined)
  const both = pick(true)
  // (a reply's loop is mended only by a change that brings the reply through)
  const fixed = both.length > 0 || leg === 'reply' ? both : pick(false)
  const gets = both.length > 0 ? 'the packet and its reply get through' : 'the packet gets through'
  const text = (r: {node: string, route: Route}) => `${r.node}'s \`${firstLine(r.route.raw)}\``
  if (fixed.length === 1) {
    const r = fixed[0]
    failure.reason += `; ${text(r)} is the one that points the wrong way: changed alone (\`${r.change!.command}\`), ${gets}, while no change of ${routers.filter(x => x.node !== r.node).map(x => text(x)).join(', ')} does`
    failure.fix = [{node: r.node, command: r.change!.command}]
  } else if (fixed.length > 1) {
    const r = fixed[0]
    failure.reason += `; which route points the wrong way is not in the tables: changing any one of them alone ends the loop (${fixed.map(x => `\`${x.change!.command}\` on ${x.node}`).join(', or ')}); the fix changes ${r.node}'s, keep the other router's if that is the one that is right`
    failure.fix = [{node: r.node, command: r.change!.command}]
  } else if (!w.isOwned(dst) && homeNode(w, dst) === undefined) {
    // (the fix loop() made stays: every route of the cycle deleted; a packet sent back to its
    // sender, cut short there as a martian, gets the same)
    const deletions = cycleDeletions(routers)
    if (end.disposition !== 'LOOP' && deletions.length > 0) failure.fix = deletions
    failure.reason += `; no host read has ${dst} (a node that is gone leaves such routes behind): the routes that pass it round lead nowhere, and deleting them all makes the kernel answer "network unreachable" at once`
  } else {
    const r = routers[0]
    failure.reason += `; no change of one route to a host read gets ${leg === 'reply' ? 'the reply' : 'the packet'} through: ${r.node} needs a route for ${dst} via a router that leads to it, not back into the loop`
    failure.fix = [{node: r.node, command: `ip route replace ${routeDstText(r.route)} via GATEWAY dev DEVICE${tableOf(r.route) !== 'main' ? ` table ${tableOf(r.route)}` : ''}`}]
  }
}

/** a loop's routes deleted, one for each router, but a default route, which the router's other traffic needs */
function cycleDeletions(routers: Array<{node: string, route: Route}>): Fix[] {
  const fix: Fix[] = []
  for (const r of routers) if (!isDefaultRoute(r.route) && !fix.some(f => f.node === r.node)) fix.push({node: r.node, command: routeDelCommand(r.route)})
  return fix
}

/** The single-route changes to try on a router of a loop: delete its route, or send it via another forwarding neighbour. */
function loopChanges(world: World, w: WorldIndex, node: string, route: Route, dst: string): RouteChange[] {
  const view = w.view(node)
  if (view === undefined) return []
  const same = (x: Route) => x.raw === route.raw && tableOf(x) === tableOf(route)
  const edited = (routes: (rs: Route[]) => Route[]): World => ({
    ...world, hosts: world.hosts.map(h => h.name === node && h.routes !== undefined ? {...h, routes: routes(h.routes)} : h),
  })
  const changes: RouteChange[] = [{node, command: routeDelCommand(route), world: edited(rs => rs.filter(x => !same(x)))}]
  const table = tableOf(route) !== 'main' ? ` table ${tableOf(route)}` : ''
  for (const a of view.ipv4Addresses()) {
    if (a.prefixlen === 32 || a.local.startsWith('127.') || view.deviceDown(a.dev) === true || isVxlanLink(view, a.dev)) continue
    for (const other of w.nodeViews()) {
      if (other === view || (other.sysctlNumber('net.ipv4.ip_forward') === 0 && !other.isLocal(dst))) continue
      const facing = other.deviceFacing(a.local)
      if (facing === undefined || facing.local === route.gateway) continue
      const command = `ip route replace ${routeDstText(route)} via ${facing.local} dev ${a.dev}${table}`
      const [replacement] = parseIpRouteText(`${routeDstText(route)} via ${facing.local} dev ${a.dev}${route.metric !== undefined ? ` metric ${route.metric}` : ''}`)
      if (replacement === undefined) continue
      const placed: Route = table === '' ? replacement : {...replacement, table: tableOf(route)}
      changes.push({node, command, world: edited(rs => rs.map(x => same(x) ? placed : x))})
    }
  }
  return changes.slice(0, 8)
}

/**
 * `peer`: the TCP peer's MSS to trace with, once a first walk found that a DNAT sends the
 * connection to another endpoint than the one named (its SYN-ACK, not the named one's, sizes the
 * segments).
 */
function traceWorld(world: World, req: TraceRequest, mendLoops: boolean, random?: RandomBranch, peer?: {mss: Walk['peerMss'], rewrites?: MssRewrite[]}, setUp?: MssRewrite[]): Trace {
  const flow = validate(req)
  const warnings = new Warnings()
  let w = indexWorld(world)
  let src = w.resolveEndpoint(req.src, 'source')
  if (src.unlisted) {
    warnings.add('ASSUMED', src.node!, `${src.ip} is in ${src.node}'s pod subnet but no pod there is known by it (no neighbour entry, no CNI allocation read): traced as a packet from it arriving on ${src.node}`)
    // The trace starts from it, so it is there: the reply comes back to it as to any listed pod.
    w = new WorldIndex({...world, pods: [...world.pods, src.pod!]})
    src = w.resolveEndpoint(req.src, 'source')
  }
  const dst = w.resolveEndpoint(req.dst, 'destination')
  const nat: NatRecord[] = []
  const network = podNetwork(w, src.ip, dst.ip)

  // A node named as the source sends from the address its route to the destination selects: the
  // lookup made before the socket has a source (iif lo, from 0.0.0.0, so no `from` rule matches).
  let srcIp = src.ip
  const unbound = src.kind === 'node' && req.src === src.name
  // (a UDP socket has its port before that lookup: connect() and sendto() bind one first, inet_autobind;
  // TCP's connect() looks up with port 0, and ping has none)
  const first = unbound ? src.nodeView!.sourceRoute({dst: dst.ip, iif: 'lo', proto: flow.proto, dport: flow.dport,
    ...(flow.proto === 'udp' ? {sport: 40000, ephemeral: 'sport' as const, ephemeralRange: clientPortRange(src)} : {})}) : undefined
  if (first !== undefined) srcIp = first.src ?? srcIp
  const request = packetOf({src: srcIp, dst: dst.ip, proto: flow.proto, dport: flow.dport, sport: flow.proto === 'icmp' ? undefined : 40000, ...(flow.proto === 'icmp' ? {} : {ephemeral: 'sport' as const, ephemeralRange: clientPortRange(src)}), size: flow.size, ttl: START_TTL, state: 'NEW', icmpType: flow.proto === 'icmp' ? 8 : undefined, ...(flow.df === false ? {noDf: true} : {})})
  // ping sends by that first lookup; a TCP or UDP socket connect()s, which looks the route up again
  // from the source it got, so a `from` rule for that address applies to it (and to traceroute's probes)
  if (unbound && flow.proto === 'icmp') request.unboundSrc = true
  // ... but connect() fails at once where that first lookup does (ip_route_connect: checked, a rule
  // `not from 10.91.2.0/30 iif lo unreachable` gives ENETUNREACH though the address it would pick is
  // in that prefix): the walk then routes from 0.0.0.0 as for ping, and ends there
  const unrouted = first !== undefined && first.missingTable === undefined && !src.nodeView!.isLocal(dst.ip) && src.nodeView!.routes !== undefined
    && (first.action !== undefined || first.route === undefined || first.route.type !== 'unicast')
  if (unrouted) request.unboundSrc = true

  const sizedTcp = flow.proto === 'tcp' && flow.size !== undefined
  // The connection's set-up (the SYN, its SYN-ACK back) is walked first: a SYN that does not get
  // through is the connection's end, before any data; and the segments are sized by the MSS the
  // SYN-ACK arrives with (a rule may rewrite it), from the first on.
  let rewrites = peer?.rewrites
  if (sizedTcp && rewrites === undefined) {
    rewrites = []
    const setUp = traceWorld(world, {...req, size: undefined, noDf: undefined}, mendLoops, random, undefined, rewrites)
    if (setUp.disposition !== 'DELIVERED') return {...setUp, flow}
    // what the SYN's walk had to assume (a `--ctstate NEW` rule it could not decide) the data's walk may not meet
    for (const a of setUp.warnings) if (a.code === 'ASSUMED') warnings.add(a.code, a.node, a.message, a.table)
  }
  const announced = sizedTcp ? (peer !== undefined ? peer.mss : peerMssOf(dst, srcIp)) : undefined
  const requestWalk = (said: Warnings, records: NatRecord[], branch: RandomBranch | undefined, collect: MssRewrite[] | undefined) => {
    const walk = new Walk(w, said, records, 'forward', network, request)
    walk.addressee = addresseeOf(dst)
    walk.random = branch
    if (sizedTcp) {
      walk.peerMss = rewrittenMss(announced, rewrites!)
      walk.mssRewrites = []
      walk.dataSegments = true
    }
    if (collect !== undefined) walk.mssRewrites = collect
    return walk
  }
  const fwd = requestWalk(warnings, nat, random, setUp)
  // a walk beside it whose findings are read, not traced: its warnings, NAT records, picks and MSS rewrites stay its own
  const asideWalk = () => requestWalk(new Warnings(), [], random !== undefined ? unrecorded(random) : undefined, setUp !== undefined ? [] : undefined)
  // (a node sending to its own address still passes nat OUTPUT: docker's DNAT of a published port sends it on)
  const toItself = src.ip === dst.ip && src.kind === dst.kind && !(src.kind === 'node' && outputDnats(src.nodeView!, request))
  const fwdEnd = toItself
    ? selfDelivery(fwd, src, request, dst)
    : fwd.run(startOf(w, fwd, src, request))
  // a filter further on that drops the request too would drop it once the first is fixed: its fix is listed as well
  let deliveredPastDrops: Walk | undefined
  if (!toItself && fwdEnd.disposition === 'DENIED_BY_FILTER' && fwdEnd.failure !== undefined) {
    const past = asideWalk()
    past.passedDrops = []
    const pastEnd = past.run(startOf(w, past, src, request))
    if (pastEnd.disposition === 'DELIVERED') deliveredPastDrops = past
    addLaterDrops(fwdEnd.failure, past.passedDrops, 'request')
    addStopPastDrops(fwdEnd.failure, pastEnd, 'request')
  }

  if (request.unboundSrc && flow.proto === 'icmp') {
    const view = src.nodeView!
    const first = view.routeFor({dst: dst.ip, src: '0.0.0.0', iif: 'lo', proto: 'icmp'})
    const bound = view.routeFor({dst: dst.ip, src: srcIp, iif: 'lo', proto: 'udp'})
    const taken = fwd.hops[0]?.steps.find(s => s.kind === 'route')?.evidence
    if (bound.route !== first.route && (bound.rule !== undefined || first.rule !== undefined) && taken === first.route?.raw) {
      const by = (r: typeof bound) => r.route?.raw ?? (r.action !== undefined ? `the rule's ${r.action}` : 'no route')
      warnings.add('ASSUMED', view.name, `ping from ${view.name} has no source address when its route is looked up, so it goes by \`${by(first)}\`${first.rule ? ` (rule \`${first.rule.raw}\`)` : ''}; traceroute, TCP and UDP sockets connect() and look it up again from ${srcIp}, which ${bound.rule ? `the rule \`${bound.rule.raw}\` sends by` : 'takes'} \`${by(bound)}\` (\`ip route get ${dst.ip} from ${srcIp}\` on ${view.name}): the traceroute line follows ping's route`)
    }
  }

  if (mendLoops && fwdEnd.loop !== undefined && fwdEnd.failure !== undefined) mendLoop(world, req, w, dst.ip, fwdEnd, 'request')
  // traceroute's UDP probes bind their port before their lookup: a refusal of port 0 does not stop them
  let probed = fwd
  let probedEnd = fwdEnd
  if (fwd.portlessRefused) {
    probed = asideWalk()
    probed.probesPorted = true
    probedEnd = probed.run(startOf(w, probed, src, request))
  }
  const traceroute = [...probed.traceroute]
  // traceroute goes on to its last probe (-m 30): round a loop the same routers answer in turn
  const cycle = fwdEnd.cycleLength
  if (cycle !== undefined && cycle > 0 && traceroute.length >= cycle && !fwd.hops.slice(-cycle).some(h => h.node === fwd.hops[0]?.node)) {
    while (traceroute.length < TRACEROUTE_MAX_HOPS) traceroute.push(traceroute[traceroute.length - cycle])
  }

  let returnPath: ReturnPath
  const seen = fwdEnd.disposition === 'DELIVERED' ? fwd.lastPacket : fwd.asIfForwarded(fwd.lastPacket)
  // A DNAT on the way sent the request elsewhere: the reply starts where it went.
  const deliveredOn = fwdEnd.disposition === 'DELIVERED' ? fwd.hops.at(-1)?.node : undefined
  // (a request that stopped is answered as if it had gone on: by the pod of that address nearest where it stopped,
  // one of two docker hosts' containers of one address behind the published port it was sent to, say)
  const lastNode = deliveredOn ?? fwd.hops.at(-1)?.node
  const near = lastNode !== undefined ? w.podsByName.get(lastNode)?.node ?? lastNode : undefined
  // a REDIRECT in nat OUTPUT sends the host's own packet to 127.0.0.1: the host itself answers from it,
  // as it would where a chain on its way round by lo stopped the request
  const home = lastNode !== undefined && seen.dst.startsWith('127.') ? w.view(lastNode) : undefined
  const replier = home !== undefined && w.isNode(home)
    ? {kind: 'node' as const, name: home.name, ip: seen.dst, nodeView: home}
    : replierOf(w, seen.dst === dst.ip ? dst : w.resolveEndpoint(seen.dst, 'destination', near), deliveredOn)
  if (peer === undefined && sizedTcp && replier !== dst) {
    const mss = peerMssOf(replier, seen.src)
    if (mss?.mtu !== announced?.mtu) return traceWorld(world, req, mendLoops, random, {mss, rewrites})
  }
  if (replier.kind === 'address') {
    // (said where the reply would start: a host whose addresses were not read may own the address)
    const from = lastNode !== undefined ? w.view(lastNode) : undefined
    const owners = from !== undefined ? unseenOwners(w, from, seen.dst).map(o => o.view) : []
    returnPath = {disposition: 'INSUFFICIENT_INFO', hops: [], failure: {node: owners[0]?.name ?? lastNode ?? src.name, step: 'route', evidence: `(no host read owns ${seen.dst})`,
      reason: `the reply would start at ${seen.dst}, which no host read owns${owners.length > 0 ? `: it may be ${owners.map(v => v.name).join(' or ')}, as ${addressesUnseen(owners)}` : ''}`, fix: []}}
  } else {
    // An echo reply is as big as the request, without DF (links fragment it, receivers still drop
    // frames longer than their MTU); a TCP or UDP reply's size is unknown.
    const reply = packetOf({
      src: seen.dst, dst: seen.src, proto: flow.proto, sport: seen.dport, dport: seen.sport, ephemeral: swappedPort(seen.ephemeral), ephemeralRange: seen.ephemeralRange,
      ttl: START_TTL, state: 'ESTABLISHED', icmpType: flow.proto === 'icmp' ? 0 : undefined,
      ...(flow.proto === 'icmp' && flow.size !== undefined ? {size: flow.size, noDf: true} : {}),
    })
    const replyWalk = (said: Warnings, records: NatRecord[]) => {
      const walk = new Walk(w, said, records, 'return', network, reply)
      walk.addressee = addresseeOf(src)
      // the reply to a TCP request is its SYN-ACK: the MSS rewrites it meets are taken (in the set-up, collected)
      walk.mssRewrites = fwd.mssRewrites
      // (a reply's outer vxlan packet is a UDP flow of its own on every host: NEW, as the request's)
      if (fwdEnd.disposition === 'DELIVERED') walk.answers(fwd)
      // a request a filter stopped is answered as if it had gone on: the walk past the drops did, and
      // says where it passed and where a raw NOTRACK took it out of conntrack (seed 2828 case 31: the
      // server's own reply then starts a connection of its own, which its output chain rejects)
      else if (deliveredPastDrops !== undefined) walk.answers(deliveredPastDrops)
      walk.learnedFdb = fwd.learnedFdb
      walk.learnedNeighbours = fwd.learnedNeighbours
      return walk
    }
    const back = replyWalk(warnings, nat)
    const backEnd = toItself ? selfDelivery(back, src, reply) : back.mappedBack(back.run(startOf(w, back, replier, reply)), request)
    // a filter further on that drops the reply too would drop it once the first is fixed: its fix is listed as well
    if (!toItself && backEnd.disposition === 'DENIED_BY_FILTER' && backEnd.failure !== undefined) {
      const past = replyWalk(new Warnings(), [...nat])
      past.passedDrops = []
      const pastEnd = past.run(startOf(w, past, replier, reply))
      addLaterDrops(backEnd.failure, past.passedDrops, 'reply')
      addStopPastDrops(backEnd.failure, pastEnd, 'reply')
    }
    if (mendLoops && backEnd.loop !== undefined && backEnd.failure !== undefined) mendLoop(world, req, w, reply.dst, backEnd, 'reply')
    returnPath = {disposition: backEnd.disposition, hops: back.hops}
    if (backEnd.failure) {
      returnPath.failure = backEnd.failure
      // The reply heads for an address a SNAT rule gave the request and no host has: the rule is the fault.
      const snat = nat.find(r => r.field === 'src' && r.to === reply.dst && /-j SNAT\b/.test(r.evidence))
      const home = snat !== undefined ? w.view(snat.node) : undefined
      const real = home !== undefined ? w.nodeAddress(home) : undefined
      if (snat !== undefined && real !== undefined && backEnd.disposition === 'NEIGHBOR_MISSING' && !w.isOwned(snat.to)) {
        const spec = snat.evidence.replace(/^-A (\S+) /, '')
        backEnd.failure.reason += ` (${snat.to} is the source ${snat.node}'s rule \`${snat.evidence}\` gives the request, and no host has it)`
        backEnd.failure.fix = [
          {node: snat.node, command: `iptables -t nat -D ${snat.evidence.replace(/^-A /, '')}`},
          {node: snat.node, command: `iptables -t nat -A ${snat.evidence.split(' ')[1]} ${spec.replace(/--to-source \S+/, `--to-source ${real}`)}`},
        ]
      }
    }
    // A pod's request left the pod network with its own address (nothing masqueraded it) for a host
    // that has no route into the pod network: masquerading on the pod's node brings the reply back too.
    const stranded = backEnd.failure?.node !== undefined ? w.view(backEnd.failure.node) : undefined
    if (backEnd.disposition === 'NO_ROUTE' && backEnd.failure && src.kind === 'pod' && src.node !== undefined && network !== undefined
      && reply.dst === src.ip && !cidrContainsIp(network, reply.src) && !nat.some(r => r.field === 'src')
      && stranded?.snap.routes !== undefined && !stranded.snap.routes.some(r => r.dst !== 'default' && cidrOverlaps(parseCidr(normaliseDst(r.dst)), parseCidr(network)))) {
      backEnd.failure.reason += ` (the request left ${src.node} with ${src.name}'s own address ${src.ip}: nothing there masqueraded it, as flannel's ip-masq rules do for traffic leaving ${network})`
      backEnd.failure.fix.push({node: src.node, command: `iptables -t nat -A POSTROUTING -s ${network} ! -d ${network} -j MASQUERADE`})
    }
    // A ping needs both ways: the fix lists what the reply needs too. A VNI or port disagreement is
    // one fault seen from both ends, and fixing one side settles it, so those are not merged. Where
    // either way ran out of tables (INSUFFICIENT_INFO), its commands are reads ("Find out"), no fix:
    // they stay with their own path, not listed as the other's fixes.
    const notMerged = ['VNI_MISMATCH', 'PORT_MISMATCH', 'INSUFFICIENT_INFO']
    if (fwdEnd.failure && backEnd.failure && !notMerged.includes(fwdEnd.disposition) && !notMerged.includes(backEnd.disposition)) {
      fwdEnd.failure.fix = mergeFixes(fwdEnd.failure.fix, backEnd.failure.fix)
      // A pod re-created gets an address in its node's new subnet, which the other node routes only
      // once the reply's fixes (its sync) have run: last, as doctor has it, so the list runs top to bottom.
      const recreations = fwdEnd.failure.fix.filter(f => f.recreates !== undefined)
      fwdEnd.failure.fix = [...fwdEnd.failure.fix.filter(f => !recreations.includes(f)), ...recreations]
    }
    // A return path that leaves the tables read is unknown, not broken.
    if (backEnd.disposition !== 'DELIVERED' && backEnd.disposition !== 'INSUFFICIENT_INFO') {
      const where = backEnd.failure ? ` at ${backEnd.failure.node}: ${backEnd.failure.reason}` : ''
      warnings.add('NO_RETURN_ROUTE', backEnd.failure?.node ?? dst.node ?? dst.name,
        `the reply from ${reply.src} to ${reply.dst} is not delivered (${backEnd.disposition})${where}`)
    } else if (fwdEnd.disposition === 'DELIVERED') {
      const asym = asymmetry(fwd.hops, back.hops)
      if (asym) warnings.add(asym.code, asym.node, asym.message)
    }
  }
  // The destination shows in traceroute only when its answer gets back to the prober.
  let answered = returnPath.disposition === 'DELIVERED' || returnPath.disposition === 'INSUFFICIENT_INFO'
  if (flow.proto === 'udp' && fwdEnd.disposition === 'DELIVERED' && replier.kind !== 'address' && !(src.ip === dst.ip && src.kind === dst.kind)) {
    answered = portUnreachableBack(w, warnings, nat, network, fwd, seen, replier, returnPath)
  }
  if (probedEnd.disposition === 'DELIVERED') traceroute.push(answered ? dst.ip : '*')
  if (src.kind === 'pod' && dst.kind === 'pod') {
    // A request stopped on the way is seen by no one yet: the rewrite is what its destination will see once the drop is fixed.
    const sees = fwdEnd.disposition === 'DELIVERED' ? `${dst.name} sees` : `once the request gets through, ${dst.name} will see`
    for (const r of nat.filter(x => x.field === 'src')) {
      warnings.add('SOURCE_NATED', r.node, `${r.node} rewrites the source ${r.from} to ${r.to} (${r.evidence}): ${sees} ${r.to} instead of ${src.name}'s address`)
    }
  }
  const trace: Trace = {
    src: endpointOf(src, srcIp), dst: endpointOf(dst), flow,
    disposition: fwdEnd.disposition, hops: fwd.hops,
    returnPath, traceroute, warnings: warnings.list,
  }
  if (fwdEnd.failure) trace.failure = fwdEnd.failure
  return trace
}

/**
 * A UDP port nothing listens on is answered by the kernel with ICMP port unreachable, RELATED to
 * the request where it passed: what traceroute's UDP probes get (their ports are unused), and what
 * a sender gets with no program behind the port. Its way back is walked as the reply's is; when a
 * filter treats it apart from the UDP answer traced (a pod's OUTPUT dropping ICMP), the sender's
 * fate hangs on the listener, which is said. Returns whether the error gets back to the prober.
 */
function portUnreachableBack(w: WorldIndex, warnings: Warnings, nat: NatRecord[], network: string | undefined, fwd: Walk, seen: Packet, replier: ResolvedEndpoint, reply: ReturnPath): boolean {
  const error = packetOf({src: seen.dst, dst: seen.src, proto: 'icmp', icmpType: 3, icmpCode: 3, ttl: START_TTL, state: 'RELATED'})
  const back = new Walk(w, new Warnings(), [...nat], 'return', network, error)
  back.answers(fwd)
  const end = back.run(startOf(w, back, replier, error))
  const errorBack = end.disposition === 'DELIVERED' || end.disposition === 'INSUFFICIENT_INFO'
  const replyBack = reply.disposition === 'DELIVERED' || reply.disposition === 'INSUFFICIENT_INFO'
  if (errorBack === replyBack) return errorBack
  const port = seen.dport === undefined ? '' : ` ${seen.dport}`
  const stop = errorBack ? reply.failure : end.failure
  const where = stop !== undefined ? ` at ${stop.node} (\`${stop.evidence}\`)` : ''
  const node = stop?.node ?? replier.node ?? replier.name
  warnings.add('ASSUMED', node, errorBack
    ? `the reply traced is the answer of a program listening on udp port${port}; with none, ${error.src} answers with ICMP port unreachable, which gets back to ${error.dst}${where ? ` past what stops the answer${where}` : ''}: the sender then gets "connection refused" instead of waiting, and traceroute, whose probes go to unused ports, lists the destination (\`ss -lnu 'sport = :${seen.dport ?? 'PORT'}'\` on ${replier.name} shows whether one listens)`
    : `the reply traced is the answer of a program listening on udp port${port}; with none, ${error.src} answers with ICMP port unreachable, which is lost on its way back${stop !== undefined ? `: ${stop.reason} (\`${stop.evidence}\`)` : ''}; the sender then waits instead of "connection refused", and traceroute, whose probes go to unused ports, prints \`*\` for the destination (\`ss -lnu 'sport = :${seen.dport ?? 'PORT'}'\` on ${replier.name} shows whether one listens)`)
  return errorBack
}

/**
 * Delivery to a TCP or UDP port ends what the tables tell: whether a program listens there is in
 * the host's sockets, which are not read. Said, with the command that tells, and what the sender
 * sees when nothing does.
 */
function listenerNote(host: string, packet: Packet): string {
  if (packet.dport === undefined || (packet.proto !== 'tcp' && packet.proto !== 'udp')) return ''
  const none = packet.proto === 'tcp' ? 'with a TCP reset (connection refused)' : 'with ICMP port unreachable'
  return ` to its ${packet.proto} port ${packet.dport}; whether a program listens there is not in the tables read (\`ss -ln${packet.proto === 'tcp' ? 't' : 'u'} 'sport = :${packet.dport}'\` on ${host}: with none, the kernel answers ${none})`
}

/** `, d1,` naming a looped veth's other end, when its index was read */
function peerName(view: HostView, dev: string): string {
  const index = view.link(dev)?.peerIndex
  const name = index !== undefined ? view.linkByIndex(index)?.name : undefined
  return name !== undefined ? `, ${name},` : ''
}

function selfDelivery(walk: Walk, e: ResolvedEndpoint, packet: Packet, meant?: ResolvedEndpoint): End {
  const node = e.podView?.name ?? e.nodeView?.name ?? e.node ?? e.name
  const hop: Hop = {node, in: 'local', out: 'local', steps: []}
  walk.hops.push(hop)
  // the packet goes round by lo as to any other address of the host: its tables, where read, see it
  const view = e.podView ?? (e.kind === 'node' ? e.nodeView : undefined)
  const looped = view !== undefined ? walk.loopback(hop, view, packet) : packet
  if ('end' in looped) return looped
  // two docker hosts' containers share addresses: the one named as the destination is not reached by it
  const elsewhere = meant !== undefined && meant.name !== e.name ? `: it stays in ${e.name}, and ${meant.name} on ${meant.node ?? meant.name}, which has the same address, is not reached by it` : ''
  hop.steps.push({kind: 'deliver', verdict: 'delivered', evidence: `(${e.ip} is the source itself)`, explanation: `source and destination are the same address${elsewhere}`})
  return {end: true, disposition: 'DELIVERED'}
}

/**
 * The exit code the trace command reports for a trace: 0 only when the exchange works. A ping and a
 * TCP connection need their reply, so a reply known to be lost on its way back fails them as a lost
 * request does (the return path that left the tables read is unknown, not lost); a UDP datagram
 * needs no answer, so its exit code is the request's alone.
 */
export function traceExitCode(t: Trace): number {
  if (t.disposition !== 'DELIVERED') return ExitCode.notDelivered
  const back = t.returnPath.disposition
  const replyLost = back !== 'DELIVERED' && back !== 'INSUFFICIENT_INFO'
  return replyLost && t.flow.proto !== 'udp' ? ExitCode.notDelivered : ExitCode.ok
}


/**
 * The endpoint the reply starts from: the one the request was delivered to. Docker hosts all number
 * their containers in 172.17.0.0/16, so the address a published port DNATs to may be a listed
 * container's on another host: the reply then starts on the host that delivered it, from a
 * container the inventory does not list, as the request's delivery said.
 */
function replierOf(w: WorldIndex, resolved: ResolvedEndpoint, deliveredOn: string | undefined): ResolvedEndpoint {
  if (deliveredOn === undefined || resolved.kind !== 'pod' || deliveredOn === resolved.name || deliveredOn === resolved.node) return resolved
  // (a container sending to another host's container of its own address reaches itself)
  const there = w.podsByName.get(deliveredOn)
  if (there !== undefined && there.ip === resolved.ip) return w.resolveEndpoint(there.name, 'destination')
  const host = w.view(deliveredOn)
  if (host === undefined || !w.isNode(host)) return resolved
  const pod: PodRef = {name: resolved.ip, ip: resolved.ip, node: host.name}
  return {kind: 'pod', name: pod.name, ip: pod.ip, node: host.name, pod, nodeView: host, unlisted: true}
}

/**
 * The ports the client picks its source port from: its own net.ipv4.ip_local_port_range (a pod's
 * is its namespace's, read with its tables), else undefined: the default.
 */
function clientPortRange(client: ResolvedEndpoint): EphemeralRange | undefined {
  const view = client.kind === 'pod' ? client.podView : client.kind === 'node' ? client.nodeView : undefined
  const ports = localPortRange(view?.sysctl('net.ipv4.ip_local_port_range'))
  return ports === undefined ? undefined : {ports, client: client.name}
}

/** A pod or node whose tables were read, as the host a packet is meant for. */
function addresseeOf(e: ResolvedEndpoint): Walk['addressee'] {
  const view = e.kind === 'pod' ? e.podView : e.kind === 'node' ? e.nodeView : undefined
  return view === undefined ? undefined : {name: e.name, view, ip: e.ip, node: e.nodeView}
}

/** `p1b on n1`, or a node's own name */
function addresseeName(a: NonNullable<Walk['addressee']>): string {
  return a.node !== undefined && a.node !== a.view ? `${a.name} on ${a.node.name}` : a.name
}

/** Whether nat OUTPUT on `view` sends a packet it sends to itself elsewhere (a published port's DNAT). */
function outputDnats(view: HostView, packet: Packet): boolean {
  const outcome = destinationNat(view, 'OUTPUT', {src: packet.src, dst: packet.dst, proto: packet.proto, sport: packet.sport, dport: packet.dport, ephemeral: packet.ephemeral, ephemeralRange: packet.ephemeralRange,
    state: 'NEW', icmpType: packet.icmpType, dstIsLocal: true, srcIsLocal: true})
  return outcome?.newDst !== undefined && !view.isLocal(outcome.newDst)
}
