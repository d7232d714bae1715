/**
 * Evaluating iptables chains the way netfilter walks them: rules in order, jumps into user chains
 * (`-j FLANNEL-FWD`, `-j DOCKER-USER`), `RETURN` back to the caller, the built-in chain's policy when
 * nothing decides. A match the tracer cannot evaluate (ipsets, marks it cannot know) is reported as
 * an assumption instead of being guessed silently.
 */
import type {IpSet, Iptables, IptablesRule} from '../model.js'
import {showsChain} from '../model.js'
import {type Cidr, cidrContains, cidrContainsIp, cidrOverlaps, cidrWithin, intToIp, ipToInt, maskOf, parseCidr} from '../addr.js'
import type {Proto} from './types.js'
import {natRangeAddress} from './nat-pick.js'

/** What a packet's headers say of its flow: the engine's packet and the facts a rule sees share it. */
export interface FlowTuple {
  src: string
  dst: string
  proto: Proto
  sport?: number
  dport?: number
  /**
   * which port is the client's ephemeral one, which its kernel picks per connection (the request's
   * source port, the reply's destination port): its number is a stand-in, rules that test it are
   * decided by the range (see EPHEMERAL_PORTS)
   */
  ephemeral?: 'sport' | 'dport'
  /** the range the client picks that port from (its net.ipv4.ip_local_port_range); undefined: not read, the default */
  ephemeralRange?: EphemeralRange
}

export interface PacketFacts extends FlowTuple {
  inDev?: string
  outDev?: string
  /**
   * conntrack state: NEW for the first packet, ESTABLISHED for the reply, UNTRACKED after a raw
   * NOTRACK; INVALID for an echo reply or a SYN-ACK on a host the request did not pass (asymmetric
   * routing), which no connection of its conntrack expects; RELATED for an ICMP error about a
   * packet that passed the host (INVALID where it did not)
   */
  state: 'NEW' | 'ESTABLISHED' | 'RELATED' | 'UNTRACKED' | 'INVALID'
  icmpType?: number
  /** an ICMP error's code, when known: a rule's `--icmp-type 3/3` matches only port unreachable */
  icmpCode?: number
  dstIsLocal?: boolean
  srcIsLocal?: boolean
  /** a frame bridged by a bridge with br_netfilter on (physdev matches) */
  bridged?: boolean
  /** the IP TTL at this hook; undefined when unknown */
  ttl?: number
  /** the IP total length in bytes; undefined when the flow gave no --size */
  length?: number
  /** the link-layer kind of the destination (`-m pkttype`); the traced packet is unicast unless told otherwise */
  pktType?: 'unicast' | 'broadcast' | 'multicast'
  /** the packet's mark where it is known (see RuleSet.markAfter); 0 when absent */
  mark?: number
  /**
   * `mark` is the one the trace followed through the chains this host ran before (MARK rules of
   * raw, mangle and nat applied in order): 0 is then 0, not a guess, unless `markDoubt` says why not
   */
  markFollowed?: boolean
  /** why the packet's mark is not known here (a rule that may or may not have set it) */
  markDoubt?: string
  /** whether this host's nat gave the connection a new destination (conntrack's DNAT status, `ct status dnat`) or source */
  ctDnat?: boolean
  ctSnat?: boolean
  /** a rule of this host may give the connection a conntrack zone, which nf_nat's pick from an address range depends on */
  ctZoneUnknown?: boolean
  /** the packet's direction in its connection (`--ctdir`): a NEW packet's is ORIGINAL; undefined when not known */
  ctDir?: 'ORIGINAL' | 'REPLY'
  /** the device whose local route holds `ip` (`-m addrtype --limit-iface-in/out`); undefined when not known */
  localDevOf?: (ip: string) => string | undefined
  /**
   * The route back to the packet's source as `-m rpfilter` looks it up (from the packet's
   * destination, iif lo, with `mark`): its type (`unicast`, `local`, `none` for no route or a null
   * one) and, for unicast, the device; undefined when the routes read cannot tell.
   */
  routeBack?: (mark: number) => {type: string, dev?: string} | undefined
  /**
   * A TCP trace that sizes its segments takes the MSS rewrites (TCPMSS, nft's `tcp option maxseg
   * size set`) of its SYN and SYN-ACK: handed the rule and its value (undefined: clamped to the
   * path MTU), true when it applies it, so nothing needs saying; false leaves it said, as ASSUMED.
   */
  mssRewrite?: (ruleText: string, mss: number | undefined) => boolean
  /** a TCP segment's flags when it is not the traced SYN or its SYN-ACK (a reset from a closed port) */
  tcpFlags?: readonly string[]
  /**
   * whether a random choice takes this connection: a `-m statistic` rule (keyed by its text), or one
   * entry of a `numgen` verdict map (keyed, and named in the trace's words by `label`). The trace
   * decides it to follow each branch in turn; undefined leaves it undecided (see traceFlow)
   */
  randomPick?: (key: string, label?: string, kind?: PickKind) => boolean | undefined
}

/** How a load-balancing rule picks its connections: by chance, or each in turn (numgen inc, statistic nth). */
export type PickKind = 'random' | 'round-robin'

export type Tri = boolean | 'unknown'

interface Condition {
  test: (p: PacketFacts) => Tri
  /**
   * what the answer rests on besides the addresses: the packet's mark (taken as 0, see
   * RuleSet.markSetter), or a device the packet may not have at every hook
   */
  on?: 'mark' | 'inDev' | 'outDev'
  /** the rule text this evaluator cannot decide (an ipset, an owner match) */
  undecidable?: string
  /** why it cannot, when the generic "cannot evaluate" would mislead (a rate limit matches some packets, not others) */
  why?: string
  /** what the answer depends on that no table shows (the connection's mark, the sending process; the client's port range, per packet) */
  needs?: string | ((p: PacketFacts) => string)
  /** the command whose output would decide it (`ipset list SET`; for the client's port, per packet) */
  settledBy?: string | ((p: PacketFacts) => string)
  /** the mark bits a `-m mark` match tests */
  markMask?: number
}

export interface ParsedRule {
  rule: IptablesRule
  conditions: Condition[]
  target?: string
  targetArgs: string[]
  goto: boolean
}

/** QUEUE: NFQUEUE hands the packet to a user-space program, whose verdict no table holds */
export type Action = 'ACCEPT' | 'DROP' | 'REJECT' | 'MASQUERADE' | 'SNAT' | 'DNAT' | 'REDIRECT' | 'QUEUE'

export interface Decision {
  action: Action
  /** the deciding rule; undefined when the chain's policy decided */
  rule?: IptablesRule
  /** the deciding line: the rule's raw or `-P CHAIN POLICY` */
  evidence: string
  /** user chains entered on the way, e.g. ['FORWARD', 'FLANNEL-FWD'] */
  path: string[]
  /** SNAT/DNAT target address */
  toAddress?: string
  /** the target's address range (`--to-destination A-B`), of which toAddress is the first: the kernel picks one per connection */
  toRange?: string
  /** DNAT/REDIRECT (and SNAT) target port range, low to high: `--to-destination A:80`, `--to-ports 8080-8090` */
  toPorts?: [number, number]
  /** `--random`/`--random-fully` (nft's `random`, `fully-random`): a new port for every connection, even one whose port is free */
  randomPorts?: boolean
  assumptions: string[]
  /** a RETURN in a user chain sent the packet back and the policy decided */
  viaReturn?: IptablesRule
  /** the chain itself was not captured: the ACCEPT is assumed */
  notCaptured?: boolean
  /** a rule on the way jumped to a chain the paste did not list (`iptables -S FORWARD`): it may have decided first */
  uncaptured?: {chain: string, rule: IptablesRule}
  /** the first rule on the way that could not be decided and would not have dropped: where it matches, it may have let the packet out first */
  undecided?: IptablesRule
}

const TERMINAL: ReadonlySet<string> = new Set(['ACCEPT', 'DROP', 'REJECT', 'MASQUERADE', 'SNAT', 'DNAT', 'REDIRECT'])
/** Non-terminating targets that leave the packet's fate to the rules after them (marks are followed apart). */
const GOES_ON: ReadonlySet<string> = new Set(['LOG', 'NFLOG', 'ULOG', 'MARK', 'CONNMARK', 'CT', 'NOTRACK', 'TRACE', 'TCPMSS',
  'CLASSIFY', 'DSCP', 'TOS', 'ECN', 'SET', 'AUDIT', 'CHECKSUM', 'TEE', 'SECMARK', 'CONNSECMARK', 'IDLETIMER', 'LED', 'RATEEST',
  'HMARK', 'TCPOPTSTRIP', 'NETMAP'])
const PROTO_NUMBERS: Record<string, string> = {'1': 'icmp', '6': 'tcp', '17': 'udp'}
/** ICMP type names as iptables' `--icmp-type` (in any case) and nft's `icmp type` spell them. */
export const ICMP_TYPE_NAMES: Readonly<Record<string, number>> = {
  'echo-reply': 0, 'pong': 0, 'destination-unreachable': 3, 'source-quench': 4, 'redirect': 5, 'echo-request': 8, 'ping': 8,
  'router-advertisement': 9, 'router-solicitation': 10, 'time-exceeded': 11, 'ttl-exceeded': 11, 'parameter-problem': 12,
  'timestamp-request': 13, 'timestamp-reply': 14, 'info-request': 15, 'info-reply': 16, 'address-mask-request': 17, 'address-mask-reply': 18,
}
/** iptables' names for one code of a type: `--icmp-type fragmentation-needed` is 3/4. */
const ICMP_CODE_NAMES: Readonly<Record<string, readonly [number, number]>> = {
  'network-unreachable': [3, 0], 'host-unreachable': [3, 1], 'protocol-unreachable': [3, 2], 'port-unreachable': [3, 3],
  'fragmentation-needed': [3, 4], 'source-route-failed': [3, 5], 'network-unknown': [3, 6], 'host-unknown': [3, 7],
  'network-prohibited': [3, 9], 'host-prohibited': [3, 10], 'tos-network-unreachable': [3, 11], 'tos-host-unreachable': [3, 12],
  'communication-prohibited': [3, 13], 'host-precedence-violation': [3, 14], 'precedence-cutoff': [3, 15],
  'network-redirect': [5, 0], 'host-redirect': [5, 1], 'tos-network-redirect': [5, 2], 'tos-host-redirect': [5, 3],
  'ttl-zero-during-transit': [11, 0], 'ttl-zero-during-reassembly': [11, 1], 'ip-header-bad': [12, 0], 'required-option-missing': [12, 1],
}

/** `--icmp-type` as iptables reads it: a name, `TYPE` or `TYPE/CODE`; undefined when it is none of these. */
function icmpTypeSpec(v: string): {type: number, code?: number} | 'any' | undefined {
  const name = v.toLowerCase()
  if (name === 'any') return 'any'
  if (ICMP_TYPE_NAMES[name] !== undefined) return {type: ICMP_TYPE_NAMES[name]}
  const coded = ICMP_CODE_NAMES[name]
  if (coded !== undefined) return {type: coded[0], code: coded[1]}
  const m = /^(\d+)(?:\/(\d+))?$/.exec(v)
  return m ? {type: Number(m[1]), ...(m[2] !== undefined ? {code: Number(m[2])} : {})} : undefined
}

/** Whether an ICMP packet is of `spec`: an echo's code is 0; an error's unknown code leaves a rule on the code undecided. */
function icmpMatches(spec: ReturnType<typeof icmpTypeSpec>, p: PacketFacts): Tri {
  if (spec === undefined || p.icmpType === undefined) return 'unknown'
  if (spec === 'any') return true
  if (spec.type !== p.icmpType) return false
  if (spec.code === undefined) return true
  const code = p.icmpCode ?? (p.icmpType === 0 || p.icmpType === 8 ? 0 : undefined)
  return code === undefined ? 'unknown' : code === spec.code
}

export type Hook = 'PREROUTING' | 'INPUT' | 'FORWARD' | 'OUTPUT' | 'POSTROUTING'

/** The tables netfilter runs at each hook, in priority order. */
const HOOK_TABLES: Record<Hook, readonly string[]> = {
  PREROUTING: ['raw', 'mangle', 'nat'],
  INPUT: ['mangle', 'filter', 'security', 'nat'],
  FORWARD: ['mangle', 'filter', 'security'],
  OUTPUT: ['raw', 'mangle', 'nat', 'filter', 'security'],
  POSTROUTING: ['mangle', 'nat'],
}

/**
 * Where each iptables table sits among a hook's nftables chains (iptables-nft registers its tables
 * at these priorities, as iptables-legacy does): a native chain of priority -10 runs before filter.
 */
export function tablePriority(table: string, hook: Hook): number {
  switch (table) {
    case 'raw': return -300
    case 'mangle': return -150
    case 'nat': return hook === 'PREROUTING' || hook === 'OUTPUT' ? -100 : 100
    case 'security': return 50
    default: return 0
  }
}

/** The tables at `hook` whose rules can drop a packet: all but nat, where iptables refuses DROP. */
export function dropTables(hook: Hook): readonly string[] {
  return HOOK_TABLES[hook].filter(t => t !== 'nat')
}

/** The hooks a packet passes, in order: a packet without a receiving device was born on this host. */
function hooksOf(p: PacketFacts): Hook[] {
  if (p.inDev === undefined && !p.bridged) return ['OUTPUT', 'POSTROUTING']
  return p.dstIsLocal ? ['PREROUTING', 'INPUT'] : ['PREROUTING', 'FORWARD', 'POSTROUTING']
}

/** The (table, built-in chain) pairs a packet has passed when it reaches `table` `chain`, that one included. */
function passedBefore(p: PacketFacts, table: string, chain: string): [string, string][] {
  const out: [string, string][] = []
  for (const hook of hooksOf(p)) {
    for (const t of HOOK_TABLES[hook]) {
      out.push([t, hook])
      if (hook === chain && t === table) return out
    }
  }
  out.push([table, chain])
  return out
}

/**
 * Whether a rule's target can give a packet whose mark is 0 another mark. MARK writes
 * `(mark & ~mask) ^ value` (or `| value` for --set-mark/--or-mark), so from 0 it becomes `value`;
 * a zero value (clearing bits) or --and-mark leaves it 0. CONNMARK --restore-mark, HMARK and TPROXY are
 * taken as marking; CONNMARK's other forms set the connection's mark, not the packet's.
 */
function setsMark(pr: ParsedRule): boolean {
  if (pr.target === 'CONNMARK') return pr.targetArgs.includes('--restore-mark')
  // HMARK writes a hash of the packet's addresses and ports
  if (pr.target === 'TPROXY' || pr.target === 'HMARK') return true
  if (pr.target !== 'MARK') return false
  const args = pr.targetArgs
  if (args.includes('--and-mark')) return false
  const i = args.findIndex(a => ['--set-xmark', '--set-mark', '--or-mark', '--xor-mark'].includes(a))
  if (i === -1) return true
  const value = Number((args[i + 1] ?? '').split('/')[0])
  return !Number.isFinite(value) || value !== 0
}

export function tokenize(spec: string): string[] {
  const out: string[] = []
  let cur = ''
  let inToken = false
  let quote: string | undefined
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i]
    if (quote) {
      if (c === '\\' && i + 1 < spec.length) {
        cur += spec[++i]
      } else if (c === quote) {
        quote = undefined
      } else {
        cur += c
      }
    } else if (c === '"' || c === "'") {
      quote = c
      inToken = true
    } else if (/\s/.test(c)) {
      if (inToken) out.push(cur)
      cur = ''
      inToken = false
    } else {
      cur += c
      inToken = true
    }
  }
  if (inToken) out.push(cur)
  return out
}

/**
 * `-s A,B/n` as a test of an address, the list read once with its rule: an address that is none
 * matches nothing; a part that is no CIDR leaves the rule unknown from there on.
 */
function cidrListTest(list: string): (ip: string) => Tri {
  const parts = list.split(',').map(c => {
    try {
      return parseCidr(c)
    } catch {
      return undefined
    }
  })
  return ip => {
    let n: number
    try {
      n = ipToInt(ip)
    } catch {
      return false
    }
    for (const c of parts) {
      if (c === undefined) return 'unknown'
      if (cidrContains(c, n)) return true
    }
    return false
  }
}

function ifaceMatches(pattern: string, dev: string | undefined): Tri {
  if (dev === undefined) return false
  if (pattern.endsWith('+')) return dev.startsWith(pattern.slice(0, -1))
  return dev === pattern
}

function portIn(spec: string, port: number | undefined): Tri {
  if (port === undefined) return false
  const ranges = portRanges(spec)
  return ranges === undefined ? 'unknown' : ranges.some(([a, b]) => port >= a && port <= b)
}

/** A port spec's `A:B` parts (multiport lists them with commas); undefined when one is malformed. */
function portRanges(spec: string): [number, number][] | undefined {
  const ranges: [number, number][] = []
  for (const part of spec.split(',')) {
    const [lo, hi] = part.split(':')
    const a = lo === '' ? 0 : Number(lo)
    const b = hi === undefined ? a : hi === '' ? 65535 : Number(hi)
    if (!Number.isFinite(a) || !Number.isFinite(b)) return undefined
    ranges.push([a, b])
  }
  return ranges
}

/**
 * The client's source port (the reply's destination port) is the ephemeral one its kernel picks
 * per connection from net.ipv4.ip_local_port_range, whose default this is; no table read shows it.
 */
export const EPHEMERAL_PORTS: readonly [number, number] = [32768, 60999]

/**
 * The ports a client picks its source port from: its net.ipv4.ip_local_port_range where read
 * (`client` names the host or pod), else the default; after a source NAT that remaps ports
 * (`natBy`), the ports that rule picks from.
 */
export interface EphemeralRange {
  ports: readonly [number, number]
  client?: string
  natBy?: {rule: string, node: string}
}

/** The ports the client's port lies in: `range`'s, else (not read) the default. */
export function ephemeralPorts(range: EphemeralRange | undefined): readonly [number, number] {
  return range?.ports ?? EPHEMERAL_PORTS
}

/** What a rule on the client's port depends on, with the range it is judged by and whose that is. */
export function ephemeralPortNeeds(range: EphemeralRange | undefined): string {
  const [lo, hi] = ephemeralPorts(range)
  if (range?.natBy !== undefined) return `the client's source port, which \`${range.natBy.rule}\` on ${range.natBy.node} rewrites to one of ${lo}-${hi}`
  return `the client's source port, which its kernel picks from net.ipv4.ip_local_port_range (${lo}-${hi} ${range?.client !== undefined ? `on ${range.client}` : 'by default'})`
}

/** Where the client's port shows: its socket (`ss -tun` on the client), or the connection of the host whose NAT rewrote it. */
export function ephemeralPortSettledBy(range: EphemeralRange | undefined): string {
  return range?.natBy !== undefined ? 'conntrack -L' : 'ss -tun'
}

export const EPHEMERAL_PORT_UNSEEN = {
  needs: (p: PacketFacts) => ephemeralPortNeeds(p.ephemeralRange),
  settledBy: (p: PacketFacts) => ephemeralPortSettledBy(p.ephemeralRange),
}

/**
 * A client's net.ipv4.ip_local_port_range as its sysctl reads (`32768\t60999`); undefined when
 * not read or not a range the kernel takes.
 */
export function localPortRange(value: string | undefined): readonly [number, number] | undefined {
  const m = value === undefined ? null : /^\s*(\d+)\s+(\d+)\s*$/.exec(value)
  if (m === null) return undefined
  const [lo, hi] = [Number(m[1]), Number(m[2])]
  return lo >= 1 && lo <= hi && hi <= 65535 ? [lo, hi] : undefined
}

/** Whether `ranges` hold every port of `within` (true), none of them (false), or some ('unknown'). */
export function rangesCover(ranges: readonly (readonly [number, number])[], within: readonly [number, number]): Tri {
  const [lo, hi] = within
  const overlapping = ranges.filter(([a, b]) => a <= hi && b >= lo).sort((x, y) => x[0] - y[0])
  if (overlapping.length === 0) return false
  let next = lo
  for (const [a, b] of overlapping) {
    if (a > next) return 'unknown'
    next = Math.max(next, b + 1)
  }
  return next > hi ? true : 'unknown'
}

type Ports = Pick<Tuple, 'sport' | 'dport' | 'ephemeral'>

/**
 * A port match on `field` of the packet (or of one of its connection's tuples, `on`): by the
 * client's range where that port is its unchosen ephemeral one.
 */
function portMatches(spec: string, p: PacketFacts, field: 'sport' | 'dport', on: Ports = p): Tri {
  if (on.ephemeral !== field) return portIn(spec, on[field])
  const ranges = portRanges(spec)
  return ranges === undefined ? 'unknown' : rangesCover(ranges, ephemeralPorts(p.ephemeralRange))
}

/** `A-B` (iprange): inclusive; a malformed range is unknown rather than false. */
function inIpRange(spec: string, ip: string): Tri {
  const [a, b] = spec.split('-')
  try {
    const n = ipToInt(ip)
    return n >= ipToInt(a) && n <= ipToInt(b ?? a)
  } catch {
    return 'unknown'
  }
}

/** `A[:B]` (length): inclusive, an open end reaching 0 or 65535 as iptables reads it. */
function inNumberRange(spec: string, value: number | undefined): Tri {
  if (value === undefined) return 'unknown'
  const [lo, hi] = spec.split(':')
  const a = lo === '' ? 0 : Number(lo)
  const b = hi === undefined ? a : hi === '' ? 65535 : Number(hi)
  if (!Number.isFinite(a) || !Number.isFinite(b)) return 'unknown'
  return value >= a && value <= b
}

function ttlMatches(op: string, n: number, ttl: number | undefined): Tri {
  if (ttl === undefined || !Number.isFinite(n)) return 'unknown'
  return op === '--ttl-eq' ? ttl === n : op === '--ttl-lt' ? ttl < n : ttl > n
}

function not(t: Tri, negate: boolean): Tri {
  if (t === 'unknown' || !negate) return t
  return !t
}

const TCP_FLAGS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG']

/** Words that end one `-m` match's options: the next match, or the target. */
const MATCH_ENDS: ReadonlySet<string> = new Set(['-m', '--match', '-j', '--jump', '-g', '--goto'])

/** A packet the host forwards (or bridges): it belongs to no local socket, so owner and cgroup matches have none to test. */
function forwarded(p: PacketFacts): boolean {
  return p.bridged === true || (p.inDev !== undefined && p.dstIsLocal === false)
}

/**
 * The packet as `table` sees it: raw runs (-300) before conntrack (-200) at its only hooks,
 * PREROUTING and OUTPUT, so there the packet has no connection yet and xt_conntrack reads it
 * INVALID (UNTRACKED once a NOTRACK took it out), translated by no nat.
 */
function asTableSees(table: string, p: PacketFacts): PacketFacts {
  if (table !== 'raw') return p
  return {...p, state: p.state === 'UNTRACKED' ? 'UNTRACKED' : 'INVALID', ctDnat: false, ctSnat: false}
}

/**
 * `--ctstate`: the packet's conntrack state, and for a tracked one the virtual states DNAT and
 * SNAT, set once this host's nat changed the connection's destination or source (xt_conntrack).
 */
function ctStateMatches(states: readonly string[], p: PacketFacts): Tri {
  if (states.includes(p.state)) return true
  if (p.state === 'UNTRACKED' || p.state === 'INVALID') return false
  let result: Tri = false
  for (const [name, translated] of [['DNAT', p.ctDnat], ['SNAT', p.ctSnat]] as const) {
    if (!states.includes(name)) continue
    if (translated === true) return true
    if (translated === undefined) result = 'unknown'
  }
  return result
}

/** The packet's direction in its connection: the first packet is the original direction; otherwise what the caller knows. */
export function ctDirOf(p: PacketFacts): 'ORIGINAL' | 'REPLY' | undefined {
  if (p.state === 'UNTRACKED' || p.state === 'INVALID') return undefined
  return p.ctDir ?? (p.state === 'NEW' ? 'ORIGINAL' : undefined)
}

export interface Tuple {
  src: string
  dst: string
  sport?: number
  dport?: number
  /** which of its ports is the client's ephemeral one (PacketFacts.ephemeral) */
  ephemeral?: 'sport' | 'dport'
}

/** The same port seen from the other end: a packet's source port is its reply's destination port. */
export function swappedPort(field: 'sport' | 'dport' | undefined): 'sport' | 'dport' | undefined {
  return field === undefined ? undefined : field === 'sport' ? 'dport' : 'sport'
}

/** The connection's original and reply tuples, where no nat on this host changed them (else unknown: the addresses before it are not here). */
export function ctTuples(p: PacketFacts): {orig: Tuple, repl: Tuple} | undefined {
  const dir = ctDirOf(p)
  if (dir === undefined || p.ctDnat !== false || p.ctSnat !== false) return undefined
  const here = {src: p.src, dst: p.dst, sport: p.sport, dport: p.dport, ephemeral: p.ephemeral}
  const back = {src: p.dst, dst: p.src, sport: p.dport, dport: p.sport, ephemeral: swappedPort(p.ephemeral)}
  return dir === 'ORIGINAL' ? {orig: here, repl: back} : {orig: back, repl: here}
}

/**
 * What `-m addrtype` calls an address: the type of its route in the local table
 * (inet_dev_addr_type), 0/8 and 255.255.255.255 broadcast, 224/4 multicast, anything the local
 * table does not hold unicast. With --limit-iface-in/out (`dev`, null without) only that device's
 * local routes count: an address of another device is unicast there (Calico's masquerade of what
 * leaves by tunl0 from an address not on tunl0). undefined when that device is not known.
 */
function addrType(ip: string, local: boolean, p: PacketFacts, dev: string | undefined | null): string | undefined {
  let n: number
  try {
    n = ipToInt(ip)
  } catch {
    return undefined
  }
  if (n >>> 24 === 0 || n === 0xffffffff) return 'BROADCAST'
  if (n >>> 28 === 0xe) return 'MULTICAST'
  const directed = ip === p.dst && p.pktType === 'broadcast'
  if (!local && !directed) return 'UNICAST'
  if (dev === null) return local ? 'LOCAL' : 'BROADCAST'
  // a directed broadcast's own device is not in the facts
  if (dev === undefined || !local) return undefined
  const holder = p.localDevOf?.(ip)
  return holder === undefined ? undefined : holder === dev ? 'LOCAL' : 'UNICAST'
}

/**
 * `-m rpfilter` (xt_rpfilter): the route back to the source, looked up as from the packet's
 * destination (with the packet's mark for --validmark), must be unicast (or local with
 * --accept-local) and leave by the receiving device, or any device with --loose. A packet from
 * lo always passes. --invert turns the answer.
 */
function rpfilterMatches(p: PacketFacts, flags: ReadonlySet<string>): Tri {
  const invert = flags.has('--invert')
  if (p.inDev === 'lo') return !invert
  if (p.inDev === undefined || p.routeBack === undefined || p.pktType === 'multicast') return 'unknown'
  const back = p.routeBack(flags.has('--validmark') ? p.mark ?? 0 : 0)
  if (back === undefined) return 'unknown'
  let dev: string | undefined
  if (back.type === 'unicast') dev = back.dev
  else if (back.type === 'local' && flags.has('--accept-local')) dev = p.localDevOf?.(p.src)
  else return invert
  if (flags.has('--loose')) return !invert
  return dev === undefined ? 'unknown' : (dev === p.inDev) !== invert
}

/** What options the evaluator cannot decide depend on, and the command that shows it. */
const CANNOT_SEE: Readonly<Record<string, {needs: string, settledBy?: string}>> = (() => {
  const table: Record<string, {needs: string, settledBy?: string}> = {}
  const add = (options: string[], seen: {needs: string, settledBy?: string}) => {
    for (const o of options) table[o] = seen
  }
  add(['--physdev-in', '--physdev-out', '--physdev-is-in', '--physdev-is-out'], {needs: 'the bridge port the frame came in or leaves by', settledBy: 'bridge link show'})
  add(['--dscp', '--dscp-class', '--tos'], {needs: 'the packet\'s DSCP/TOS byte, which the sender or a DSCP/TOS target sets'})
  add(['--src-group', '--dst-group'], {needs: 'the devices\' groups', settledBy: 'ip -d link show'})
  add(['--realm'], {needs: 'the realm of the route taken', settledBy: 'ip route show table all'})
  add(['--u32', '--string', '--hex-string', '--bytecode', '--object-pinned', '--tcp-option', '--mss'], {needs: 'the packet\'s bytes beyond its addresses and ports, which a trace does not have'})
  add(['--connlimit-above', '--connlimit-upto'], {needs: 'how many connections are open already', settledBy: 'conntrack -L'})
  add(['--connbytes', '--ctstatus', '--ctexpire'], {needs: 'the connection\'s status and counters', settledBy: 'conntrack -L'})
  add(['--quota'], {needs: 'how much of the quota earlier packets used', settledBy: 'iptables-save -c'})
  add(['--timestart', '--timestop', '--weekdays', '--monthdays', '--datestart', '--datestop'], {needs: 'the time the packet is sent'})
  add(['--helper', '--label'], {needs: 'the connection\'s helper and labels', settledBy: 'conntrack -L -o extended'})
  add(['--pol', '--dir', '--strict', '--reqid', '--spi', '--proto', '--tunnel-src', '--tunnel-dst'], {needs: 'the IPsec policy the packet passed', settledBy: 'ip xfrm policy'})
  add(['--mac-source'], {needs: 'the sending device\'s MAC address', settledBy: 'ip neigh'})
  add(['--cpu'], {needs: 'the CPU that handles the packet'})
  return table
})()

/** Modules that decide by what no table shows, whatever their options. */
const MODULES_UNSEEN: Readonly<Record<string, {needs: string, settledBy?: string}>> = {
  socket: {needs: 'whether a local socket takes the packet', settledBy: 'ss -tunap'},
  ipvs: {needs: 'IPVS\'s connections', settledBy: 'ipvsadm -Lnc'},
}

/**
 * `--tcp-flags MASK COMP` (and `--syn`, which is `SYN,RST,ACK,FIN SYN`): the flags in MASK must be
 * exactly those in COMP. The traced request is a connection's first segment (SYN), its reply the
 * SYN-ACK.
 */
function tcpFlagsMatch(mask: string[], comp: string[], p: PacketFacts): boolean {
  const expand = (list: string[]): Set<string> => new Set(list.includes('ALL') ? TCP_FLAGS : list.filter(f => f !== 'NONE'))
  const flags = new Set(p.tcpFlags ?? (p.state === 'NEW' ? ['SYN'] : ['SYN', 'ACK']))
  const m = expand(mask)
  const c = expand(comp)
  return [...m].every(f => flags.has(f) === c.has(f))
}

/** `-m mark --mark V[/M]` as a test of the packet's mark: 0 unless a walk that applied MARK rules knows another (see RuleSet.markSetter). */
function markTest(spec: string): (mark: number) => boolean {
  const [v, m] = spec.split('/')
  const value = Number(v)
  const mask = m === undefined ? 0xffffffff : Number(m)
  return mark => ((mark & mask) >>> 0) === (value >>> 0)
}

/**
 * The mark a MARK rule leaves on a packet that had `mark`: --set-xmark V/M is `(mark & ~M) ^ V`,
 * --set-mark `(mark & ~M) | V`, and --and/--or/--xor-mark what they say. undefined when the rule
 * is not a MARK the tracer can apply (CONNMARK restoring a connection's mark, TPROXY). CONNMARK's
 * --save-mark and --set-* write the connection's mark and leave the packet's as it was.
 */
function markAfterRule(pr: ParsedRule, mark: number): number | undefined {
  if (pr.target === 'CONNMARK' && !pr.targetArgs.includes('--restore-mark')) return mark
  const op = markOp(pr)
  if (op === undefined) return undefined
  const {kind, value, mask} = op
  switch (kind) {
    case '--set-xmark': return (((mark & ~mask) >>> 0) ^ value) >>> 0
    case '--set-mark': return (((mark & ~mask) >>> 0) | value) >>> 0
    case '--or-mark': return (mark | value) >>> 0
    case '--xor-mark': return (mark ^ value) >>> 0
    default: return (mark & value) >>> 0
  }
}

/** A MARK rule's operation, value and mask; undefined for another target or one that cannot be read. */
function markOp(pr: ParsedRule): {kind: string, value: number, mask: number} | undefined {
  if (pr.target !== 'MARK') return undefined
  const args = pr.targetArgs
  const i = args.findIndex(a => ['--set-xmark', '--set-mark', '--or-mark', '--xor-mark', '--and-mark'].includes(a))
  if (i === -1) return undefined
  const [v, m] = (args[i + 1] ?? '').split('/')
  const value = Number(v)
  const mask = m === undefined ? 0xffffffff : Number(m)
  if (!Number.isFinite(value) || !Number.isFinite(mask)) return undefined
  return {kind: args[i], value, mask}
}

/**
 * The bits of the mark a MARK rule decides whatever the packet had: all those its mask covers for
 * --set-xmark and --set-mark, the ones --or-mark sets and --and-mark clears. --xor-mark decides none.
 */
function markBitsDecided(pr: ParsedRule): number {
  const op = markOp(pr)
  if (op === undefined) return 0
  switch (op.kind) {
    case '--set-xmark': case '--set-mark': return op.mask >>> 0
    case '--or-mark': return op.value >>> 0
    case '--and-mark': return (~op.value) >>> 0
    default: return 0
  }
}

/**
 * The mark as a walk through a table's chains changes it: Calico's filter chains set a bit
 * (`-j MARK --set-xmark 0x10000/0x10000`) for a later `-m mark` to accept by. `known` holds the bits
 * a MARK rule of this walk decided; `doubt` a marking rule that may or may not have matched.
 */
interface WalkMark {
  mark: number
  known: number
  doubt?: IptablesRule
}

/**
 * Whether an ipset holds any address of `net` in each of its address dimensions, as a check about
 * a whole pod subnet counts `-s`/`-d` when they overlap it: an entry that overlaps the subnet
 * counts, unless a more specific `nomatch` entry carves out all of the overlap. A set by port or
 * by range is unknown (a port, like any match beside the addresses, may not fire).
 */
export function setOverlaps(ipsets: readonly IpSet[] | undefined, name: string, net: string): Tri {
  return ipsets === undefined ? 'unknown' : overlapsIpset(name, parseCidr(net), new Map(ipsets.map(x => [x.name, x])))
}

/**
 * A set's answer by name: a hash set's from `inHashSet`, a list:set's from its members (any member
 * that holds it holds it), a set not captured (or a list nested too deep) unknown.
 */
function ipsetAnswer(name: string, sets: ReadonlyMap<string, IpSet>, inHashSet: (set: IpSet) => Tri, depth = 0): Tri {
  const set = sets.get(name)
  if (set === undefined || depth > 4) return 'unknown'
  if (set.type !== 'list:set') return inHashSet(set)
  const answers = set.members.map(m => ipsetAnswer(m.split(/\s+/)[0], sets, inHashSet, depth + 1))
  return answers.includes(true) ? true : answers.includes('unknown') ? 'unknown' : false
}

function overlapsIpset(name: string, net: Cidr, sets: ReadonlyMap<string, IpSet>): Tri {
  return ipsetAnswer(name, sets, set => hashSetOverlaps(set, net))
}

function hashSetOverlaps(set: IpSet, net: Cidr): Tri {
  const dims = /^hash:(.+)$/.exec(set.type)?.[1].split(',')
  if (dims === undefined || dims.some(d => d !== 'ip' && d !== 'net')) return 'unknown'
  const entries: {cidrs: Cidr[], nomatch: boolean}[] = []
  for (const member of set.members) {
    const [entry, ...options] = member.split(/\s+/)
    const values = entry.split(',')
    if (values.length !== dims.length || values.some(v => v.includes(':'))) continue // another family's
    if (values.some(v => v.includes('-'))) return 'unknown'
    entries.push({cidrs: values.map(v => parseCidr(v)), nomatch: options.includes('nomatch')})
  }
  // the overlap of an entry and the subnet is the narrower of the two
  const overlap = (c: Cidr) => c.prefixlen >= net.prefixlen ? c : net
  return entries.some(e => !e.nomatch && e.cidrs.every(c => cidrOverlaps(c, net)) &&
    !entries.some(n => n.nomatch && n.cidrs.every((c, k) => c.prefixlen > e.cidrs[k].prefixlen && cidrWithin(overlap(e.cidrs[k]), c))))
}

/**
 * Whether the packet is in an ipset, looking each dimension up by its direction flag (`dst`,
 * `src,dst`): hash sets of addresses, networks and ports, and list:set of those. The most specific
 * entry decides, so a `nomatch` entry carves a hole in a wider one. Other kinds are unknown.
 */
function inIpset(name: string, dirs: string[], p: PacketFacts, sets: ReadonlyMap<string, IpSet>): Tri {
  return ipsetAnswer(name, sets, set => packetInHashSet(set, dirs, p))
}

function packetInHashSet(set: IpSet, dirs: string[], p: PacketFacts): Tri {
  const dims = /^hash:(.+)$/.exec(set.type)?.[1].split(',')
  if (dims === undefined || dims.some(d => d !== 'ip' && d !== 'net' && d !== 'port') || dirs.length < dims.length) return 'unknown'
  let best: {specificity: number, nomatch: boolean} | undefined
  // an entry whose port is one the client's kernel may pick: the set holds some of its ports, not all
  let unsure = false
  for (const member of set.members) {
    const [entry, ...options] = member.split(/\s+/)
    const values = entry.split(',')
    if (values.length !== dims.length) continue
    let specificity = 0
    let matches = true
    let ephemeral = false
    for (const [k, dim] of dims.entries()) {
      const src = dirs[k] === 'src'
      const value = values[k]
      if (dim === 'port') {
        const [proto, port] = value.includes(':') ? value.split(':') : ['tcp', value]
        if (!/^\d+$/.test(port)) return 'unknown'
        const field = src ? 'sport' : 'dport'
        ephemeral = p.ephemeral === field
        matches = proto === p.proto && (ephemeral ? portMatches(port, p, field) !== false : Number(port) === p[field])
      } else {
        if (value.includes('-')) return 'unknown'
        const addr = src ? p.src : p.dst
        matches = value.includes('/') ? cidrContainsIp(value, addr) : value === addr
        specificity += value.includes('/') ? Number(value.split('/')[1]) : 32
      }
      if (!matches) break
    }
    if (matches && ephemeral) unsure = true
    else if (matches && (best === undefined || specificity > best.specificity)) best = {specificity, nomatch: options.includes('nomatch')}
  }
  return unsure ? 'unknown' : best !== undefined && !best.nomatch
}

export function parseRule(rule: IptablesRule, sets?: ReadonlyMap<string, IpSet>): ParsedRule {
  const t = tokenize(rule.spec)
  const conditions: Condition[] = []
  let target: string | undefined
  let targetArgs: string[] = []
  let goto = false
  let negate = false
  const modules = new Set<string>()
  let module: string | undefined
  const unknown = (text: string, seen?: {needs: string, settledBy?: string}): void => {
    conditions.push({test: () => 'unknown', undecidable: text, ...seen})
  }
  /** an option of the same `-m` match as the word at `at` (`--limit-iface-out` of a `--src-type`, `--name` of a `--rcheck`), with its word after */
  const optionInMatch = (at: number, names: readonly string[]): {name: string, value?: string} | undefined => {
    let first = at
    while (first > 0 && !MATCH_ENDS.has(t[first - 1])) first--
    for (let j = first; j < t.length && (j <= at || !MATCH_ENDS.has(t[j])); j++) if (names.includes(t[j])) return {name: t[j], value: t[j + 1]}
    return undefined
  }
  for (let i = 0; i < t.length; i++) {
    const tok = t[i]
    if (tok === '!') {
      negate = true
      continue
    }
    const neg = negate
    negate = false
    const arg = (): string => t[++i] ?? ''
    switch (tok) {
      case '-s': case '--source': case '--src': {
        const inList = cidrListTest(arg())
        conditions.push({test: p => not(inList(p.src), neg)})
        break
      }
      case '-d': case '--destination': case '--dst': {
        const inList = cidrListTest(arg())
        conditions.push({test: p => not(inList(p.dst), neg)})
        break
      }
      case '-i': case '--in-interface': {
        const v = arg()
        conditions.push({test: p => not(ifaceMatches(v, p.inDev), neg), on: 'inDev'})
        break
      }
      case '-o': case '--out-interface': {
        const v = arg()
        conditions.push({test: p => not(ifaceMatches(v, p.outDev), neg), on: 'outDev'})
        break
      }
      case '-p': case '--protocol': {
        const v = arg().toLowerCase()
        const proto = PROTO_NUMBERS[v] ?? v
        conditions.push({test: p => not(proto === 'all' || proto === '0' ? true : proto === p.proto, neg)})
        break
      }
      case '-m': case '--match':
        module = arg()
        modules.add(module)
        if (module === 'rpfilter') {
          const flags = new Set<string>()
          for (let j = i + 1; j < t.length && !MATCH_ENDS.has(t[j]); j++) flags.add(t[j])
          conditions.push({test: p => rpfilterMatches(p, flags), undecidable: ['-m rpfilter', ...flags].join(' '), ...(flags.has('--validmark') ? {on: 'mark' as const} : {}),
            needs: 'the route back to the source', settledBy: 'ip route get SOURCE from DESTINATION iif lo'})
        }
        break
      case '--dport': case '--destination-port': case '--dports': case '--destination-ports': {
        const v = arg()
        conditions.push({test: p => not(portMatches(v, p, 'dport'), neg), undecidable: `${neg ? '! ' : ''}${tok} ${v}`, ...EPHEMERAL_PORT_UNSEEN})
        break
      }
      case '--sport': case '--source-port': case '--sports': case '--source-ports': {
        const v = arg()
        conditions.push({test: p => not(portMatches(v, p, 'sport'), neg), undecidable: `${neg ? '! ' : ''}${tok} ${v}`, ...EPHEMERAL_PORT_UNSEEN})
        break
      }
      case '--ports': {
        const v = arg()
        conditions.push({test: p => {
          const a = portMatches(v, p, 'sport')
          const b = portMatches(v, p, 'dport')
          return not(a === true || b === true ? true : a === 'unknown' || b === 'unknown' ? 'unknown' : false, neg)
        }, undecidable: `${neg ? '! ' : ''}${tok} ${v}`, ...EPHEMERAL_PORT_UNSEEN})
        break
      }
      case '--comment':
        arg()
        break
      case '--ctstate': case '--state': {
        const states = arg().toUpperCase().split(',')
        conditions.push({test: p => not(ctStateMatches(states, p), neg), undecidable: `${neg ? '! ' : ''}${tok} ${states.join(',')}`,
          needs: 'whether this host\'s nat translated the connection', settledBy: 'conntrack -L'})
        break
      }
      case '--ctdir': {
        const v = arg().toUpperCase()
        conditions.push({test: p => {
          const dir = ctDirOf(p)
          return dir === undefined ? 'unknown' : not(dir === v, neg)
        }, undecidable: `${neg ? '! ' : ''}--ctdir ${v}`, needs: 'which way this packet goes in its connection', settledBy: 'conntrack -L'})
        break
      }
      case '--ctorigsrc': case '--ctorigdst': case '--ctreplsrc': case '--ctrepldst':
      case '--ctorigsrcport': case '--ctorigdstport': case '--ctreplsrcport': case '--ctrepldstport': {
        const v = arg()
        const [, side, field] = /^--ct(orig|repl)(src|dst)/.exec(tok)!
        const port = tok.endsWith('port')
        const inList = cidrListTest(v)
        conditions.push({test: p => {
          const tuple = ctTuples(p)?.[side as 'orig' | 'repl']
          if (tuple === undefined || (port && p.proto !== 'tcp' && p.proto !== 'udp')) return 'unknown'
          return not(port ? portMatches(v, p, field === 'src' ? 'sport' : 'dport', tuple) : inList(field === 'src' ? tuple.src : tuple.dst), neg)
        }, undecidable: `${neg ? '! ' : ''}${tok} ${v}`, settledBy: 'conntrack -L',
        // a tuple known but for the client's port: its range is what was missing
        needs: p => port && ctTuples(p) !== undefined ? ephemeralPortNeeds(p.ephemeralRange) : 'the connection\'s addresses before this host\'s nat'})
        break
      }
      case '--ctproto': {
        const v = arg().toLowerCase()
        const proto = PROTO_NUMBERS[v] ?? v
        conditions.push({test: p => p.state === 'UNTRACKED' || p.state === 'INVALID' ? 'unknown' : not(proto === p.proto, neg),
          undecidable: `${neg ? '! ' : ''}--ctproto ${v}`, needs: 'a connection the packet has none of'})
        break
      }
      case '--icmp-type': {
        const v = arg()
        const spec = icmpTypeSpec(v)
        conditions.push({test: p => p.proto !== 'icmp' ? false : not(icmpMatches(spec, p), neg),
          undecidable: `${neg ? '! ' : ''}--icmp-type ${v}`, needs: spec === undefined ? 'an ICMP type name the trace does not know' : 'the ICMP code, which the trace does not know here'})
        break
      }
      case '--mark': {
        const v = arg()
        if (module === 'connmark') {
          // the connection's mark, which CONNMARK rules set, not the packet's
          unknown(`${neg ? '! ' : ''}-m connmark --mark ${v}`, {needs: 'the connection\'s mark, which no table holds', settledBy: 'conntrack -L'})
          break
        }
        const mask = v.includes('/') ? Number(v.split('/')[1]) : 0xffffffff
        const matches = markTest(v)
        conditions.push({test: p => not(matches(p.mark ?? 0), neg), on: 'mark', markMask: Number.isFinite(mask) ? mask >>> 0 : 0xffffffff})
        break
      }
      case '--dst-type': case '--src-type': {
        const types = arg().toUpperCase().split(',')
        const which = tok === '--dst-type' ? 'dst' : 'src'
        const limit = optionInMatch(i, ['--limit-iface-in', '--limit-iface-out'])?.name
        conditions.push({test: p => {
          const local = Boolean(which === 'dst' ? p.dstIsLocal : p.srcIsLocal)
          const type = addrType(which === 'dst' ? p.dst : p.src, local, p, limit === undefined ? null : limit === '--limit-iface-in' ? p.inDev : p.outDev)
          return type === undefined ? 'unknown' : not(types.includes(type), neg)
        }, undecidable: `${neg ? '! ' : ''}${tok} ${types.join(',')}${limit !== undefined ? ` ${limit}` : ''}`, needs: 'which device holds the address', settledBy: 'ip route show table local'})
        break
      }
      case '--limit-iface-in': case '--limit-iface-out':
        // read with the --src-type/--dst-type before it
        break
      case '--uid-owner': case '--gid-owner': case '--socket-exists': {
        const v = tok === '--socket-exists' ? '' : arg()
        // owner runs in OUTPUT and POSTROUTING: a forwarded packet has no socket, and only negated owner matches match it
        conditions.push({test: p => forwarded(p) ? not(false, neg) : 'unknown', undecidable: `${neg ? '! ' : ''}${tok} ${v}`.trim(),
          needs: 'the user of the program that sends it', settledBy: 'ss -tuenp'})
        break
      }
      case '--suppl-groups':
        break
      case '--path': case '--cgroup': {
        const v = arg()
        // xt_cgroup: no socket (a forwarded packet) is no match, negated or not
        conditions.push({test: p => forwarded(p) ? false : 'unknown', undecidable: `${neg ? '! ' : ''}${tok} ${v}`,
          needs: 'the cgroup of the program whose socket the packet belongs to', settledBy: 'cat /proc/PID/cgroup'})
        break
      }
      case '--set': case '--rcheck': case '--update': case '--remove': {
        if (module !== 'recent') {
          unknown(tok)
          break
        }
        const name = optionInMatch(i, ['--name'])?.value ?? 'DEFAULT'
        // --set adds the source and matches (xt_recent); the others ask the list what earlier packets left there
        if (tok === '--set') conditions.push({test: () => not(true, neg)})
        else unknown(`${neg ? '! ' : ''}-m recent ${tok} --name ${name}`, {needs: `the addresses list ${name} holds from earlier packets`, settledBy: `cat /proc/net/xt_recent/${name}`})
        break
      }
      case '--name': case '--seconds': case '--hitcount': case '--mask': case '--reap': case '--rttl': case '--rsource': case '--rdest': {
        if (module !== 'recent') {
          unknown(`${tok} ${tok === '--reap' || tok === '--rttl' || tok === '--rsource' || tok === '--rdest' ? '' : arg()}`.trim())
          break
        }
        // options of the --rcheck/--update read there
        if (!['--reap', '--rttl', '--rsource', '--rdest'].includes(tok)) arg()
        break
      }
      case '--algo':
        // the string match's search algorithm: its --string says what it cannot see
        if (module === 'string') arg()
        else unknown(`--algo ${arg()}`)
        break
      case '--transparent': case '--nowildcard': case '--restore-skmark': case '--loose': case '--validmark': case '--accept-local': case '--invert':
        // options of -m socket and -m rpfilter, which the module's own warning covers
        if (module !== 'socket' && module !== 'rpfilter') unknown(tok)
        break
      case '--limit-burst':
        arg()
        break
      case '--src-range': case '--dst-range': {
        const v = arg()
        const which = tok === '--src-range' ? 'src' : 'dst'
        conditions.push({test: p => not(inIpRange(v, p[which]), neg)})
        break
      }
      case '--ttl-eq': case '--ttl-lt': case '--ttl-gt': {
        const n = Number(arg())
        conditions.push({test: p => not(ttlMatches(tok, n, p.ttl), neg), undecidable: `${neg ? '! ' : ''}${tok} ${n} (the TTL is unknown here)`})
        break
      }
      case '--pkt-type': {
        const v = arg().toLowerCase()
        // `host` is the kernel's name for unicast to this host; both mean a unicast frame here.
        const wanted = v === 'host' ? 'unicast' : v
        conditions.push({test: p => not((p.pktType ?? 'unicast') === wanted, neg)})
        break
      }
      case '--length': {
        const v = arg()
        conditions.push({test: p => not(inNumberRange(v, p.length), neg), undecidable: `${neg ? '! ' : ''}--length ${v} (the packet size is unknown: give --size)`})
        break
      }
      case '--match-set': {
        const name = arg()
        const flags = arg()
        const text = `${neg ? '! ' : ''}--match-set ${name} ${flags}`
        const settledBy = `ipset list ${name}`
        if (sets === undefined) {
          conditions.push({test: () => 'unknown', undecidable: text, settledBy})
          break
        }
        const dirs = flags.split(',')
        const ports = /^hash:.*port/.test(sets.get(name)?.type ?? '')
        conditions.push({test: p => not(inIpset(name, dirs, p, sets), neg), undecidable: text, settledBy, ...(ports ? {needs: EPHEMERAL_PORT_UNSEEN.needs} : {})})
        break
      }
      case '--nfacct-name':
        // nfacct counts and matches every packet
        arg()
        break
      case '--update-counters': case '--update-subcounters':
        // counters only: `! --update-counters` changes no verdict
        break
      case '--mode': case '--probability': case '--every': case '--packet': {
        if (!modules.has('statistic')) {
          unknown(`${tok} ${arg()}`)
          break
        }
        // kube-proxy's load balancing: which connections a random (or every-nth) rule takes is in no table
        const words = [tok, arg()]
        while (i + 1 < t.length && /^--(mode|probability|every|packet)$/.test(t[i + 1])) words.push(t[++i], t[++i] ?? '')
        const raw = rule.raw
        const kind: PickKind = words[words.indexOf('--mode') + 1] === 'nth' ? 'round-robin' : 'random'
        conditions.push({test: p => p.randomPick?.(raw, undefined, kind) ?? 'unknown', undecidable: `-m statistic ${words.join(' ')}`.trim(), why: 'random'})
        break
      }
      case '--limit': case '--hashlimit-upto': case '--hashlimit-above': case '--hashlimit': {
        // Token buckets: the first packets (up to the burst) match, later ones do not, so neither answer holds.
        const words = [tok, arg()]
        while (i + 1 < t.length && /^--(limit-burst|hashlimit-)/.test(t[i + 1])) words.push(t[++i], t[++i] ?? '')
        conditions.push({test: () => 'unknown', undecidable: words.join(' ').trim(), why: 'rate limited'})
        break
      }
      case '--syn': {
        conditions.push({test: p => p.proto !== 'tcp' ? false : not(tcpFlagsMatch(['SYN', 'RST', 'ACK', 'FIN'], ['SYN'], p), neg)})
        break
      }
      case '--tcp-flags': {
        const mask = arg().toUpperCase().split(',')
        const comp = arg().toUpperCase().split(',')
        conditions.push({test: p => p.proto !== 'tcp' ? false : not(tcpFlagsMatch(mask, comp, p), neg)})
        break
      }
      case '--physdev-is-bridged':
        conditions.push({test: p => not(Boolean(p.bridged), neg)})
        break
      case '-f': case '--fragment':
        conditions.push({test: () => not(false, neg)})
        break
      case '-j': case '--jump': case '-g': case '--goto':
        target = arg()
        goto = tok === '-g' || tok === '--goto'
        targetArgs = t.slice(i + 1)
        i = t.length
        break
      default: {
        if (tok.startsWith('-')) {
          // An option this evaluator does not know: take its arguments and treat the rule as undecidable.
          const words = [tok]
          while (i + 1 < t.length && !t[i + 1].startsWith('-') && t[i + 1] !== '!') words.push(t[++i])
          unknown([neg ? '!' : '', ...words].filter(Boolean).join(' '), CANNOT_SEE[tok])
        }
      }
    }
  }
  // Modules that decide without any option; the others' options were judged above.
  for (const m of modules) if (MODULES_UNSEEN[m] !== undefined) unknown(`-m ${m}`, MODULES_UNSEEN[m])
  return {rule, conditions, target, targetArgs, goto}
}

/**
 * The warning for a rule the walk skipped because it could not decide it. A skipped DROP/REJECT is
 * named as such: the trace may then say DELIVERED for a packet the kernel drops.
 */
function assumedNoMatch(pr: ParsedRule, undecided: Condition[], p: PacketFacts): string {
  // needs and settledBy are texts, or (the client's port range) made from the packet
  const text = (v: string | ((p: PacketFacts) => string)) => typeof v === 'function' ? v(p) : v
  const texts = undecided.flatMap(c => c.undecidable !== undefined ? [`\`${c.undecidable}\`${c.needs !== undefined && c.why === undefined ? ` (it depends on ${text(c.needs)})` : ''}`] : []).join(' and ')
  if (undecided.every(c => c.why === 'random') && pr.target !== undefined) {
    return `${texts} in \`${pr.rule.raw}\` sends some new connections to ${pr.target} and the others on, at random: traced the others (the trace follows each branch and says where they part)`
  }
  const rated = undecided.some(c => c.why === 'rate limited')
  const head = rated
    ? `rate limited: ${texts} in \`${pr.rule.raw}\` matches the first packets (up to its burst) and not those after them`
    : `cannot evaluate ${texts} in \`${pr.rule.raw}\``
  const stops = pr.target === 'DROP' || pr.target === 'REJECT'
  const settle = [...new Set(undecided.flatMap(c => c.settledBy !== undefined ? [`\`${text(c.settledBy)}\``] : []))]
  const tail = (settle.length > 0 ? ` (${settle.join(' and ')} would tell)` : '') + (stops ? `; assumed the rule does not match, but where it does the packet is ${pr.target === 'DROP' ? 'dropped' : 'rejected'}` : '; assumed the rule does not match')
  return head + tail
}

/** The `A-B` of `--to-destination A-B[:P]` / `--to-source A-B`: the kernel picks one address of it per connection. */
function addressRange(args: string[]): string | undefined {
  const i = args.findIndex(a => a === '--to-source' || a === '--to-destination')
  const address = i === -1 ? undefined : (args[i + 1] ?? '').split(':')[0]
  return address !== undefined && address.includes('-') ? address : undefined
}

/**
 * A rule that rewrites the MSS option of the traced SYN (or its SYN-ACK) — iptables' TCPMSS, nft's
 * `tcp option maxseg size set` — makes the peer send segments no bigger than that (`mss`, or this
 * host's route MTU less 40 when clamped to it), fewer bytes than --size may ask. A trace that
 * takes it (mssRewrite) sizes its segments by it; where it cannot (the MTU not read), or a caller
 * that does not take rewrites walks a TCP packet with a size, it is said. undefined for another packet.
 */
export function mssRewriteNote(ruleText: string, mss: number | undefined, p: PacketFacts): string | undefined {
  if (p.proto !== 'tcp' || !tcpFlagsMatch(['SYN'], ['SYN'], p)) return undefined
  if (p.mssRewrite === undefined ? p.length === undefined : p.mssRewrite(ruleText, mss)) return undefined
  const to = mss !== undefined ? `at most ${mss}` : 'at most the MTU of the route this host sends it by, less 40'
  // the reply's walk carries no size: the SYN's walk speaks for the SYN-ACK too, which caps what the client sends
  const which = p.state === 'NEW' ? 'the SYN (and the SYN-ACK, where the rule takes that too)' : 'the SYN-ACK'
  return `\`${ruleText}\` rewrites the MSS option of ${which} to ${to}: the peer that reads it then sends segments no bigger than that; ` +
    'the trace\'s segment sizes do not apply it (`ss -ti` on the sender shows the MSS it uses)'
}

function targetAddress(args: string[]): string | undefined {
  const i = args.findIndex(a => a === '--to-source' || a === '--to-destination' || a === '--to')
  if (i === -1) return undefined
  const v = args[i + 1] ?? ''
  return v.split(/[-:]/)[0] || undefined
}

/** NETMAP --to PREFIX: the prefix's network bits with the address's host bits. */
function netmap(address: string, to: string): string | undefined {
  try {
    const c = parseCidr(to.includes('/') ? to : `${to}/32`)
    const mask = maskOf(c.prefixlen)
    return intToIp((((ipToInt(address) & ~mask) >>> 0) | c.base) >>> 0)
  } catch {
    return undefined
  }
}

/** The port range of `--to-destination A:P[-Q]` / `--to-source A:P[-Q]` / `--to-ports P[-Q]`, if it names one. */
function targetPorts(args: string[]): [number, number] | undefined {
  const i = args.findIndex(a => a === '--to-source' || a === '--to-destination' || a === '--to' || a === '--to-ports')
  if (i === -1) return undefined
  const v = args[i + 1] ?? ''
  const m = /^(\d+)(?:-(\d+))?$/.exec(args[i] === '--to-ports' ? v : v.split(':')[1] ?? '')
  if (!m) return undefined
  const low = Number(m[1])
  return [low, m[2] !== undefined ? Number(m[2]) : low]
}

/**
 * What a REJECT rule sends back (`--reject-with`, icmp-port-unreachable by default): the error in
 * words, what the sending socket reports, and what `traceroute` appends to the rejecting host's
 * address (`!X` for the prohibited kinds; none for a port unreachable or a TCP reset, which
 * traceroute takes as the destination answering).
 */
export function rejectAnswer(spec: string): {error: string, mark?: string} {
  const args = tokenize(spec)
  const i = args.indexOf('--reject-with')
  return rejectAnswerOf((i === -1 ? 'icmp-port-unreachable' : args[i + 1] ?? '').replace(/^icmp-/, ''))
}

/** What the sender of a rejected packet gets for the error `kind` (`host-prohibited`, `tcp-reset`), iptables' names or nft's. */
export function rejectAnswerOf(kind: string): {error: string, mark?: string} {
  switch (kind) {
    case 'net-unreachable': case 'net-unreach': return {error: 'ICMP network unreachable ("Network is unreachable")', mark: '!N'}
    case 'host-unreachable': case 'host-unreach': return {error: 'ICMP host unreachable ("No route to host")', mark: '!H'}
    case 'proto-unreachable': case 'proto-unreach': return {error: 'ICMP protocol unreachable ("Protocol not available")', mark: '!P'}
    case 'net-prohibited': case 'host-prohibited': case 'admin-prohibited':
      return {error: `ICMP ${kind.replace('-', ' ')} ("No route to host")`, mark: '!X'}
    case 'tcp-reset': case 'tcp-rst': return {error: 'a TCP reset ("Connection refused")'}
    default: return {error: 'ICMP port unreachable ("Connection refused")'}
  }
}

/**
 * One chain of a dump: its rules, parsed on first use, and its policy (a user chain has none). A
 * walk enters few of a big dump's chains: kube-proxy's nat table holds a KUBE-SVC-… and a
 * KUBE-SEP-… chain per service and endpoint, and a packet meets one of each at most.
 */
interface ChainOf {
  listed: IptablesRule[]
  parsed?: ParsedRule[]
  policy?: string
}

/**
 * Words without which a rule cannot change a packet's mark nor pick at random (what mayMark looks
 * for): the targets MARK, CONNMARK, HMARK and TPROXY, and statistic's options. A rule whose text
 * lacks them all is not parsed to tell.
 */
const MARKS_OR_PICKS = /MARK|TPROXY|--mode|--probability|--every|--packet/

function marksOrPicks(pr: ParsedRule): boolean {
  return setsMark(pr) || pr.target === 'CONNMARK' || pr.conditions.some(c => c.why === 'random')
}

const NO_RULES: readonly ParsedRule[] = []

export class RuleSet {
  /** table -> chain: indexed once, as a walk asks for a chain at every rule that jumps and every hook a packet passes */
  private readonly tables = new Map<string, Map<string, ChainOf>>()
  /**
   * Whether a rule may change a packet's mark (or picks at random, which a walk must meet): where
   * none does, the mark walks (markSetter, markAfter, markThrough) have nothing to find and the
   * packet keeps the mark it came with.
   */
  get mayMark(): boolean {
    return (this.marking ??= this.iptables.rules.some(r => MARKS_OR_PICKS.test(r.spec) && marksOrPicks(parseRule(r, this.sets))))
  }
  private marking?: boolean
  private readonly sets?: ReadonlyMap<string, IpSet>

  constructor(readonly iptables: Iptables, ipsets?: IpSet[]) {
    this.sets = ipsets !== undefined ? new Map(ipsets.map(x => [x.name, x])) : undefined
    for (const c of iptables.chains) {
      const chain = this.chainOf(c.table, c.name)
      if (c.policy !== undefined) chain.policy = c.policy
    }
    for (const r of iptables.rules) this.chainOf(r.table, r.chain).listed.push(r)
  }

  private chainOf(table: string, name: string): ChainOf {
    let chains = this.tables.get(table)
    if (chains === undefined) this.tables.set(table, chains = new Map())
    let chain = chains.get(name)
    if (chain === undefined) chains.set(name, chain = {listed: []})
    return chain
  }

  private hasChain(table: string, chain: string): boolean {
    return this.tables.get(table)?.has(chain) ?? false
  }

  hasTable(table: string): boolean {
    return this.tables.has(table)
  }

  rules(table: string, chain: string): readonly ParsedRule[] {
    const c = this.tables.get(table)?.get(chain)
    if (c === undefined) return NO_RULES
    return (c.parsed ??= c.listed.map(r => parseRule(r, this.sets)))
  }

  policy(table: string, chain: string): string {
    return this.tables.get(table)?.get(chain)?.policy ?? 'ACCEPT'
  }

  /** True when the chain can do anything but accept: it has rules or a non-ACCEPT policy. */
  active(table: string, chain: string): boolean {
    // a filter or nat chain the paste did not list may do anything: evaluate() says what is assumed
    if (!this.covered(table, chain)) return table === 'filter' || table === 'nat'
    return (this.tables.get(table)?.get(chain)?.listed.length ?? 0) > 0 || this.policy(table, chain) !== 'ACCEPT'
  }

  /** Whether the dump shows `table` `chain`: a whole iptables-save does; `iptables -S X` shows X only. */
  covered(table: string, chain: string): boolean {
    return showsChain(this.iptables, table, chain)
  }

  /** The tables the dump holds: `iptables-save` prints every table in use, `iptables -t T -S` just one. */
  private tableCount(): number {
    return this.tables.size
  }

  /**
   * A visible rule that could give this packet a mark before `table` `chain` looks at it, or
   * undefined when none could. A forwarded or locally sent packet starts with mark 0, and while no
   * rule changes it, every `-m mark` match on the way is decided by 0 — so the walk reads mark
   * matches as 0 too. A match on a device the packet does not have at this hook counts as maybe.
   */
  markSetter(p: PacketFacts, table: string, chain: string): IptablesRule | undefined {
    if (!this.mayMark) return undefined
    for (const [t, hook] of passedBefore(p, table, chain)) {
      const found = this.markWalk(t, hook, p, 0).setter
      if (found !== undefined) return found
    }
    return undefined
  }

  /**
   * The mark a packet carries after the chains it passes up to and including `table` `chain`
   * (the route lookup after PREROUTING reads it), applying each MARK rule that surely matches, in
   * order, jumps and RETURNs included. A mark-setting rule that may or may not match, or one the
   * tracer cannot apply (CONNMARK restoring, TPROXY), makes it unknown: `doubt` names that rule.
   */
  markAfter(p: PacketFacts, table: string, chain: string): {mark: number} | {doubt: IptablesRule} {
    const state = {mark: p.mark ?? 0}
    if (!this.mayMark) return state
    for (const [t, hook] of passedBefore(p, table, chain)) {
      const r = this.markRun(t, hook, p, state, 0, false)
      if (typeof r === 'object') return r
    }
    return {mark: state.mark}
  }

  /**
   * The mark a packet carries out of `table` `chain` alone, from the one it came with: kube-proxy's
   * KUBE-MARK-MASQ sets 0x4000 in nat PREROUTING for KUBE-POSTROUTING to masquerade by, a hook
   * whose own walk sees the packet after DNAT and so cannot replay it. `doubt` as markAfter.
   * The facts are the packet's at this hook: a device it has none of (`-o` in PREROUTING) is none.
   */
  markThrough(packet: PacketFacts, table: string, chain: string): {mark: number} | {doubt: IptablesRule} {
    const p = asTableSees(table, packet)
    const state = {mark: p.mark ?? 0}
    if (!this.mayMark) return state
    const r = this.markRun(table, chain, p, state, 0, true)
    return typeof r === 'object' ? r : {mark: state.mark}
  }

  /**
   * The raw `NOTRACK` (or `CT --notrack`) rule that surely takes the packet out of conntrack at
   * `hook` (PREROUTING, or OUTPUT for one the host sends): from there its state is UNTRACKED, so
   * `--ctstate NEW`/`ESTABLISHED` rules do not match it and nat does not see it. `doubt` names such
   * a rule that may or may not match.
   */
  untracks(packet: PacketFacts, hook: 'PREROUTING' | 'OUTPUT'): {rule: IptablesRule} | {doubt: IptablesRule} | undefined {
    const p = asTableSees('raw', packet)
    const run = (chain: string, depth: number): {rule: IptablesRule} | {doubt: IptablesRule} | 'stop' | undefined => {
      if (depth > 32) return undefined
      for (const pr of this.rules('raw', chain)) {
        const m = this.couldMatch(pr, p)
        const target = pr.target
        if (m === false || target === undefined) continue
        if (target === 'NOTRACK' || (target === 'CT' && pr.targetArgs.includes('--notrack'))) return m === true ? {rule: pr.rule} : {doubt: pr.rule}
        if (TERMINAL.has(target) || target === 'RETURN') {
          if (m === true) return 'stop'
          continue
        }
        if (!this.hasChain('raw', target)) continue
        const sub = run(target, depth + 1)
        if (sub === 'stop') {
          if (m === true) return 'stop'
          continue
        }
        if (sub !== undefined) return m === true ? sub : {doubt: pr.rule}
      }
      return undefined
    }
    const r = run(hook, 0)
    return r === 'stop' ? undefined : r
  }

  private markRun(table: string, chain: string, p: PacketFacts, state: {mark: number}, depth: number, atHook: boolean): 'fallthrough' | 'return' | 'terminal' | {doubt: IptablesRule} {
    if (depth > 32) return 'fallthrough'
    for (const pr of this.rules(table, chain)) {
      const m = this.couldMatch(pr, {...p, mark: state.mark}, atHook)
      const target = pr.target
      if (m === false || target === undefined) continue
      if (setsMark(pr) || target === 'CONNMARK') {
        const next = m === true ? markAfterRule(pr, state.mark) : undefined
        if (next === undefined) return {doubt: pr.rule}
        state.mark = next
        continue
      }
      if (TERMINAL.has(target)) {
        if (m === true) return 'terminal'
        continue
      }
      if (target === 'RETURN') {
        if (m === true) return 'return'
        continue
      }
      if (!this.hasChain(table, target)) continue
      const before = state.mark
      const sub = this.markRun(table, target, p, state, depth + 1, atHook)
      if (typeof sub === 'object') return sub
      // a jump that may not happen and would change the mark leaves it unknown
      if (m !== true && state.mark !== before) return {doubt: pr.rule}
      if (m === true && sub === 'terminal') return sub
      if (m === true && pr.goto) return 'return'
    }
    return 'fallthrough'
  }

  /** `atHook`: the facts are the packet's at the rule's own hook, so a device it lacks is none, not one it may have elsewhere */
  private couldMatch(pr: ParsedRule, p: PacketFacts, atHook = false): Tri {
    let result: Tri = true
    for (const c of pr.conditions) {
      if (!atHook && (c.on === 'inDev' || c.on === 'outDev') && p[c.on] === undefined) {
        result = 'unknown'
        continue
      }
      const v = c.test(p)
      if (v === false) return false
      if (v === 'unknown') result = 'unknown'
    }
    return result
  }

  private markWalk(table: string, chain: string, p: PacketFacts, depth: number): {setter?: IptablesRule, end: 'fallthrough' | 'return' | 'terminal'} {
    if (depth > 32) return {end: 'fallthrough'}
    for (const pr of this.rules(table, chain)) {
      const m = this.couldMatch(pr, p)
      const target = pr.target
      if (m === false || target === undefined) continue
      if (setsMark(pr)) return {setter: pr.rule, end: 'terminal'}
      if (TERMINAL.has(target)) {
        if (m === true) return {end: 'terminal'}
        continue
      }
      if (target === 'RETURN') {
        if (m === true) return {end: 'return'}
        continue
      }
      if (!this.hasChain(table, target)) continue
      const sub = this.markWalk(table, target, p, depth + 1)
      if (sub.setter !== undefined) return sub
      if (m === true && sub.end === 'terminal') return sub
      if (m === true && pr.goto) return {end: 'return'}
    }
    return {end: 'fallthrough'}
  }

  evaluate(table: string, chain: string, packet: PacketFacts): Decision {
    const p = asTableSees(table, packet)
    if (!this.covered(table, chain)) {
      return {action: 'ACCEPT', evidence: `(${table} ${chain} not captured)`, path: [chain], notCaptured: true,
        assumptions: [`the ${table} table's ${chain} chain was not in the pasted \`iptables -S\` output: assumed it accepts${table === 'nat' ? ' and rewrites nothing' : ''}`]}
    }
    const assumptions: string[] = []
    const returns: {rule: IptablesRule, path: string[]}[] = []
    let setter: IptablesRule | undefined | null = null
    const marks: WalkMark = {mark: p.mark ?? 0, known: 0}
    // Only a mark some rule may have set is an assumption; an untouched packet's mark is 0.
    const markNote = (rule: IptablesRule, tested: number): string | undefined => {
      // bits a MARK rule of this walk set are known, whatever the packet came with
      if (marks.doubt === undefined && ((tested & ~marks.known) >>> 0) === 0) return undefined
      if (marks.doubt !== undefined) return `packet mark unknown: \`${marks.doubt.raw}\` may set one; assumed it did not for \`${rule.raw}\``
      if (p.markDoubt !== undefined) return `packet mark unknown: ${p.markDoubt}; assumed ${p.mark === undefined || p.mark === 0 ? '0' : `0x${p.mark.toString(16)}`} for \`${rule.raw}\``
      // a mark an earlier hook gave (kube-proxy's 0x4000 from nat PREROUTING) is known, not assumed 0
      if ((p.mark ?? 0) !== 0) return undefined
      if (this.tableCount() <= 1) return `packet mark unknown (only the ${table} table was captured): assumed 0 for \`${rule.raw}\``
      if (p.markFollowed === true) return undefined
      if (setter === null) setter = this.markSetter(p, table, chain)
      return setter === undefined ? undefined : `packet mark unknown: \`${setter.raw}\` may set one; assumed 0 for \`${rule.raw}\``
    }
    const skipped: {chain: string, rule: IptablesRule}[] = []
    const undecided: IptablesRule[] = []
    const r = this.walk(table, chain, p, assumptions, returns, [chain], 0, markNote, skipped, marks, undecided)
    const decision = r.kind === 'decided' ? r.decision : this.byPolicy(table, chain, returns.at(-1), assumptions)
    if (skipped[0] !== undefined) decision.uncaptured = skipped[0]
    if (undecided[0] !== undefined) decision.undecided = undecided[0]
    return decision
  }

  /** The verdict of a built-in chain's policy, reached past the rules (`last`: the RETURN that sent the walk back to it). */
  private byPolicy(table: string, chain: string, last: {rule: IptablesRule, path: string[]} | undefined, assumptions: string[]): Decision {
    const policy = this.policy(table, chain)
    const action: Action = policy === 'DROP' ? 'DROP' : 'ACCEPT'
    return {action, evidence: `-P ${chain} ${policy}`, path: last?.path ?? [chain], assumptions, viaReturn: last?.rule}
  }

  private walk(table: string, chain: string, p: PacketFacts, assumptions: string[], returns: {rule: IptablesRule, path: string[]}[], path: string[], depth: number,
    markNote: (rule: IptablesRule, tested: number) => string | undefined, skipped: {chain: string, rule: IptablesRule}[], marks: WalkMark, undecidedRules: IptablesRule[]):
    {kind: 'decided', decision: Decision} | {kind: 'return', rule?: IptablesRule} | {kind: 'end'} {
    if (depth > 32) return {kind: 'end'}
    for (const pr of this.rules(table, chain)) {
      let result: Tri = true
      let undecided: Condition[] | undefined
      const facts = marks.mark === (p.mark ?? 0) ? p : {...p, mark: marks.mark}
      for (const c of pr.conditions) {
        const v = c.test(facts)
        if (v === 'unknown') {
          result = 'unknown'
          undecided ??= []
          undecided.push(c)
          continue
        }
        // A known answer resting on an assumption (the packet's mark) still shaped the verdict.
        const note = c.on === 'mark' ? markNote(pr.rule, c.markMask ?? 0xffffffff) : undefined
        if (note !== undefined && !assumptions.includes(note)) assumptions.push(note)
        if (v === false) {
          result = false
          break
        }
      }
      if (result === 'unknown') {
        const a = assumedNoMatch(pr, undecided ?? [], facts)
        if (!assumptions.includes(a)) assumptions.push(a)
        if (setsMark(pr)) marks.doubt ??= pr.rule
        if (pr.target !== 'DROP' && pr.target !== 'REJECT' && !GOES_ON.has(pr.target ?? 'LOG')) undecidedRules.push(pr.rule)
        continue
      }
      if (!result) continue
      const target = pr.target
      if (target === undefined) continue
      if (target === 'MARK' || target === 'CONNMARK' || target === 'HMARK') {
        const next = markAfterRule(pr, marks.mark)
        if (next === undefined) marks.doubt ??= pr.rule
        else {
          marks.mark = next
          marks.known = (marks.known | markBitsDecided(pr)) >>> 0
        }
        continue
      }
      if (TERMINAL.has(target)) {
        const range = addressRange(pr.targetArgs)
        const picked = range === undefined ? undefined : natRangeAddress(range, facts, {action: target, persistent: pr.targetArgs.includes('--persistent')})
        const toAddress = picked ?? targetAddress(pr.targetArgs)
        if (range !== undefined && picked === undefined) {
          const note = `\`${pr.rule.raw}\` translates to an address of ${range}: the kernel picks one per connection; traced ${toAddress}`
          if (!assumptions.includes(note)) assumptions.push(note)
        }
        const randomPorts = pr.targetArgs.includes('--random') || pr.targetArgs.includes('--random-fully')
        return {kind: 'decided', decision: {action: target as Action, rule: pr.rule, evidence: pr.rule.raw, path, toAddress, ...(range !== undefined ? {toRange: range} : {}),
          toPorts: targetPorts(pr.targetArgs), ...(randomPorts ? {randomPorts} : {}), assumptions}}
      }
      if (target === 'TPROXY') {
        // tproxy_tg4: a socket on --on-port takes the packet (marked, accepted), or the kernel drops it
        const port = pr.targetArgs[pr.targetArgs.indexOf('--on-port') + 1] ?? '?'
        const note = `\`${pr.rule.raw}\` hands the packet to a local socket on port ${port}: the trace cannot see sockets (\`ss -ltnup\` shows them); assumed one listens and takes it (where none does, the kernel drops the packet)`
        if (!assumptions.includes(note)) assumptions.push(note)
        return {kind: 'decided', decision: {action: 'ACCEPT', rule: pr.rule, evidence: pr.rule.raw, path, assumptions}}
      }
      if (target === 'SET') {
        // `-j SET --add-set S src`: a later `--match-set S` of this packet sees it there, not the set as captured
        const set = pr.targetArgs[pr.targetArgs.findIndex(a => a === '--add-set' || a === '--del-set') + 1]
        const note = `\`${pr.rule.raw}\` changes ipset ${set ?? '?'} as the packet passes: later matches on it are read from the set as captured`
        if (!assumptions.includes(note)) assumptions.push(note)
      }
      if (target === 'TCPMSS') {
        const set = pr.targetArgs.includes('--set-mss') ? Number(pr.targetArgs[pr.targetArgs.indexOf('--set-mss') + 1]) : undefined
        const note = mssRewriteNote(pr.rule.raw, set, p)
        if (note !== undefined && !assumptions.includes(note)) assumptions.push(note)
      }
      if (target === 'NETMAP') {
        // a 1:1 prefix map: the destination in PREROUTING/OUTPUT, the source in POSTROUTING/INPUT; host bits kept
        const to = pr.targetArgs[pr.targetArgs.indexOf('--to') + 1]
        const dstSide = path[0] === 'PREROUTING' || path[0] === 'OUTPUT'
        const mapped = to !== undefined && pr.targetArgs.includes('--to') ? netmap(dstSide ? p.dst : p.src, to) : undefined
        if (mapped !== undefined) return {kind: 'decided', decision: {action: dstSide ? 'DNAT' : 'SNAT', rule: pr.rule, evidence: pr.rule.raw, path, toAddress: mapped, assumptions}}
      }
      if (target === 'NFQUEUE' || target === 'QUEUE') {
        // With --queue-bypass and no program listening the kernel accepts; otherwise a program decides (none listening: dropped).
        if (pr.targetArgs.includes('--queue-bypass')) {
          const note = `\`${pr.rule.raw}\` hands the packet to a user-space program: assumed none listens, so --queue-bypass accepts it (a program there gives its own verdict)`
          if (!assumptions.includes(note)) assumptions.push(note)
          return {kind: 'decided', decision: {action: 'ACCEPT', rule: pr.rule, evidence: pr.rule.raw, path, assumptions}}
        }
        return {kind: 'decided', decision: {action: 'QUEUE', rule: pr.rule, evidence: pr.rule.raw, path, assumptions}}
      }
      if (target === 'RETURN') {
        returns.push({rule: pr.rule, path})
        return {kind: 'return', rule: pr.rule}
      }
      if (this.hasChain(table, target)) {
        const sub = this.walk(table, target, p, assumptions, returns, [...path, target], depth + 1, markNote, skipped, marks, undecidedRules)
        if (sub.kind === 'decided') return sub
        if (pr.goto) return {kind: 'return', rule: sub.kind === 'return' ? sub.rule : undefined}
        continue
      }
      if (this.iptables.covers !== undefined && !this.covered(table, target)) {
        // `iptables -S FORWARD` lists the jump, not the chain it jumps to
        const note = `chain ${target} (\`${pr.rule.raw}\`) was not in the pasted \`iptables -S\` output: assumed it returns without a verdict`
        if (!assumptions.includes(note)) assumptions.push(note)
        skipped.push({chain: target, rule: pr.rule})
        continue
      }
      // LOG, MARK, CONNMARK, CT, NOTRACK, ...: the packet goes on to the next rule.
      if (!GOES_ON.has(target)) {
        // TTL, TPROXY, SYNPROXY, a target of a newer iptables: it may change where the packet goes
        const note = `\`${pr.rule.raw}\`: the trace does not model the ${target} target: assumed the packet goes on unchanged`
        if (!assumptions.includes(note)) assumptions.push(note)
      }
    }
    return {kind: 'end'}
  }
}
