/**
 * Whether this host's firewall lets forwarded pod traffic through: iptables' FORWARD, read from
 * iptables-save (forwardVerdict), and every native nftables base chain on the forward hook
 * (nativeForwardDrops), each of which decides for itself. sync, its agent, migrate's preflight and
 * doctor's FORWARD_DROP ask the same question; sync also asks whether the way in (PREROUTING, INPUT) lets vxlan's outer
 * packets in (vxlanInputDrop). Pure.
 */
import {cidrContainsIp, cidrOverlaps, cidrSize, cidrWithin, nthAddress, parseCidr} from './addr.js'
import type {HostSnapshot, IptablesRule, NftChain, NftRule} from './model.js'
import {RuleSet, dropTables, setOverlaps} from './trace/iptables.js'
import {type NftFacts, XTABLES, evaluateNftChain, ruleName, stagesAt, withIptablesMarks} from './trace/nft.js'
import {nftJsonItems, rulesReached} from './parse/nft.js'
import {HostView} from './trace/host-view.js'
import {FLANNEL_NFT_TABLES} from './flannel-nft.js'
import {isVxlanDeviceName} from './flannel.js'

/**
 * Accepts at the top of FORWARD (of `table`, filter unless told): they work whatever the chain holds
 * (appended, they would sit behind a final REJECT). `net` is the pod network, as flanneld's
 * FLANNEL-FWD accepts it: both directions of pod traffic, also what a node forwards for other nodes'
 * pods (a NodePort's DNAT to a pod elsewhere), which the node's own subnet would miss. The one text
 * of this fix: trace, doctor, sync and migrate's preflight print it.
 */
export const forwardAcceptHint = (net: string, table = 'filter'): string[] =>
  ['-s', '-d'].map(dir => `iptables ${table === 'filter' ? '' : `-t ${table} `}-I FORWARD 1 ${dir} ${net} -j ACCEPT`)

/** What FORWARD decides for pod traffic: see forwardVerdict. */
export type ForwardVerdict =
  | {verdict: 'ACCEPT'}
  | {verdict: 'DROP', rule: IptablesRule, only?: string[]}
  /** no rule decides for the whole network, the policy does; these accepts let part of it through */
  | {verdict: 'PARTIAL', only: string[]}
  | undefined

/**
 * What FORWARD (following jumps) does first with the pod network's traffic (`net`): a rule accepts
 * all of it, a rule drops or rejects some of it (a host firewall's final `-j REJECT`), or neither
 * and the policy decides. An accept counts when its addresses hold the whole network, as
 * FLANNEL-FWD's do: one for the node's own /24 lets its pods' traffic through but not what the node
 * forwards for other nodes' pods (a NodePort's DNAT to a pod elsewhere: dropped on the kernel, see
 * test/integration/doctor-forward-accept.test.ts); such accepts are returned as `only` (`from
 * 10.244.1.0/24`), for the message to say what is still dropped. A drop counts when it concerns
 * any of the network. Only plain address matches count: a rule with other matches (state, mark,
 * ports) may not fire, and a drop limited by interface or negation may not concern pods, so neither
 * decides here. An ipset match (`-m set --match-set S src`) counts as `-s`/`-d` do: when a collected set's entry
 * overlaps the network, the rule concerns pod traffic; when none does, or the sets were not read, it
 * does not.
 */
export function forwardVerdict(h: HostSnapshot, net: string): ForwardVerdict {
  const rules = h.iptables?.rules.filter(r => r.table === 'filter') ?? []
  const chains = new Set(h.iptables?.chains.filter(c => c.table === 'filter').map(c => c.name) ?? [])
  const network = parseCidr(net)
  const seen = new Set<string>()
  const only: string[] = []
  const walk = (chain: string): Exclude<ForwardVerdict, {verdict: 'PARTIAL'}> => {
    if (seen.has(chain)) return undefined
    seen.add(chain)
    for (const r of rules.filter(x => x.chain === chain)) {
      const words = r.spec.split(/\s+/)
      const target = words[words.indexOf('-j') + 1]
      const val = (flag: string) => {
        const i = words.indexOf(flag)
        return i >= 0 && words[i - 1] !== '!' ? words[i + 1] : undefined
      }
      const s = val('-s')
      const d = val('-d')
      const set = val('--match-set')
      const other = words.some((w, i) => w.startsWith('-') && !['-s', '-d', '-j', '-m', '--comment', '-i', '-o', '--reject-with', ...(set !== undefined ? ['--match-set'] : [])].includes(w) && !(w === '-m' || words[i - 1] === '-m'))
      if (other) continue
      if (set !== undefined && setOverlaps(h.ipsets, set, net) !== true) continue
      const covers = (x: string | undefined) => x === undefined || cidrOverlaps(parseCidr(x), network)
      // a rule about other sources or other destinations says nothing about pod traffic as a whole
      if (!covers(s) || !covers(d)) continue
      if (target === 'ACCEPT') {
        const holds = (x: string | undefined) => x === undefined || cidrWithin(network, parseCidr(x))
        if (holds(s) && holds(d)) return {verdict: 'ACCEPT'}
        only.push(scopeText(s, d))
        continue
      }
      if (target === 'DROP' || target === 'REJECT') {
        if (!words.includes('!') && !words.includes('-i') && !words.includes('-o')) return {verdict: 'DROP', rule: r, ...(only.length > 0 ? {only} : {})}
        continue
      }
      if (target === 'RETURN') return undefined
      if (target && chains.has(target)) {
        const v = walk(target)
        if (v !== undefined) return v
      }
      // `iptables -S FORWARD` pasted: a chain it jumps to is not listed, and may accept
      if (target && !chains.has(target) && partial && !NON_ACCEPTING_TARGETS.has(target)) return {verdict: 'ACCEPT'}
    }
    return undefined
  }
  const partial = h.iptables?.covers !== undefined
  return walk('FORWARD') ?? (only.length > 0 ? {verdict: 'PARTIAL', only} : undefined)
}

/** The addresses a rule is limited to, as doctor and sync say them: `from A to B`, either alone. */
const scopeText = (s: string | undefined, d: string | undefined): string =>
  [['from', s], ['to', d]].filter(([, a]) => a !== undefined).map(([w, a]) => `${w} ${a}`).join(' ')

/** The addresses a FORWARD rule names (`-s`, `-d`, not negated) in those words; undefined for a rule about every address. */
export function addressScope(spec: string): string | undefined {
  const words = spec.split(/\s+/)
  const address = (flag: string) => {
    const i = words.indexOf(flag)
    return i >= 0 && words[i - 1] !== '!' ? words[i + 1] : undefined
  }
  return scopeText(address('-s'), address('-d')) || undefined
}

/**
 * What accepts for part of the pod network leave dropped, in the words of doctor and sync: the
 * rest of the network's traffic through the node, what it forwards for other nodes' pods.
 */
export const partialAcceptText = (only: string[], net: string): string =>
  `its FORWARD accepts only pod traffic ${only.join(', ')}: the rest of ${net} is dropped, what this node forwards for other nodes' pods (a NodePort's DNAT to a pod on another node, and its replies)`

/** Extension targets (not chains) that never accept a packet themselves. */
const NON_ACCEPTING_TARGETS = new Set(['DROP', 'REJECT', 'RETURN', 'LOG', 'NFLOG', 'ULOG', 'MARK', 'CONNMARK', 'CT', 'NOTRACK', 'TRACE',
  'TCPMSS', 'AUDIT', 'CHECKSUM', 'CLASSIFY', 'DSCP', 'TOS', 'TTL', 'HL', 'SET', 'SECMARK', 'CONNSECMARK', 'NFQUEUE', 'QUEUE', 'LED', 'IDLETIMER'])

/**
 * firewalld's own table: firewalld writes it anew on every `firewall-cmd --reload` and restart, so a
 * rule inserted there with nft is gone after one; what lasts is firewalld's own configuration.
 */
export const isFirewalldTable = (c: Pick<NftChain, 'family' | 'table'>): boolean => c.family === 'inet' && c.table === 'firewalld'

/** `firewall-cmd` now and `--permanent` (for the next reload or restart), as firewalld's docs pair them. */
export const firewallCmd = (change: string): string[] => [`firewall-cmd ${change}`, `firewall-cmd --permanent ${change}`]

/**
 * The zone (`--zone=public`) or policy (`--policy=NAME`) of a rich rule's chain in firewalld's
 * table: firewalld puts a rich rule that drops or rejects in `filter_IN_<zone>_deny` (priority 0),
 * one with a priority in `_pre` (below 0) or `_post` (above); undefined for its other chains (the
 * zone's own target, its ports and services, its invalid-state drop). Only firewalld's
 * configuration lasts there: `nft delete rule` of it is undone by the next `firewall-cmd --reload`.
 */
export function firewalldRichRuleOwner(chain: string): string | undefined {
  const m = /^filter_(?:IN|FWD|OUT)_(.+)_(?:pre|deny|post)$/.exec(chain)
  if (m === null) return undefined
  return m[1].startsWith('policy_') ? `--policy=${m[1].slice('policy_'.length)}` : `--zone=${m[1]}`
}

/**
 * A rich rule accepting `match` ahead of every other rich rule of the zone or policy (the lowest
 * priority, -32768, runs first, in `_pre`, before `_deny`), now and `--permanent`: it outlasts a
 * reload as the rule it overrides does. `--add-port` would not do: ports are accepted in `_allow`,
 * after `_deny`. Removing the rule is the other way (`--list-rich-rules` shows its text,
 * `--remove-rich-rule` takes it), which flannelctl cannot spell from the nft rule.
 */
export const firewalldRichAccept = (owner: string, match: string): string[] =>
  firewallCmd(`${owner} --add-rich-rule='rule priority="-32768" family="ipv4" ${match} accept'`)

/**
 * Accepts at the top of a native base chain: the first rules it walks, so they end its walk for pod
 * traffic before any drop or jump. In firewalld's table: the pod network as a source of its trusted
 * zone (checked on the kernel with firewalld 1.3: forwarded pod traffic both ways passes, also
 * after a --reload, where the inserted accepts were gone).
 */
export const nftAcceptHint = (c: Pick<NftChain, 'family' | 'table' | 'name'>, net: string): string[] =>
  isFirewalldTable(c) ? firewallCmd(`--zone=trusted --add-source=${net}`)
    : ['saddr', 'daddr'].map(dir => `nft insert rule ${c.family} ${c.table} ${c.name} ip ${dir} ${net} accept`)

/**
 * `nft delete rule … handle N` for a rule that drops some packets only (it names an address, a
 * port, a set); undefined for a catch-all rule (deleting it changes nothing where the policy drops)
 * or one read without its handle.
 */
export function nftDeleteOf(rule: NftRule | undefined): string | undefined {
  const specific = rule !== undefined && rule.handle !== undefined && rule.expr.some(s => typeof s === 'object' && s !== null && ('match' in s || 'vmap' in s))
  return specific ? `nft delete rule ${rule.family} ${rule.table} ${rule.chain} handle ${rule.handle}` : undefined
}

/** Where forwarded pod traffic passes on this host: what the packets that nativeForwardDrops judges carry. */
export interface PodPaths {
  network: string
  /** this host's pod subnet; absent: not known (not leased yet), an address of the network stands in */
  subnet?: string
  /** the pods' bridge (cni0) */
  bridge?: string
  /** the devices traffic to and from other nodes' pods passes: flannel.VNI, the node's interface (host-gw, DirectRouting) */
  peerDevs?: string[]
}

/** A native nftables base chain on the forward hook that drops (or rejects) pod traffic. */
export interface NativeForwardDrop {
  chain: NftChain
  /** the rule that drops; absent: the chain's policy */
  rule?: NftRule
  reject: boolean
  /** `at` the rule as `nft list` prints it and where it sits (handle), or `by its policy drop` */
  at: string
  /** the packet it drops, e.g. `icmp 10.244.1.2 → 10.244.0.2 (NEW) cni0 → flannel.1` */
  flow: string
  /** the rule's deletion, when it drops some packets only (nftDeleteOf) */
  remove?: string
  /** accepts that end this chain's walk for pod traffic first (whatever drops it: policy, a rule, a chain jumped to) */
  fix: string[]
}

/**
 * The bridge, subnet and peer-facing devices of a host flannelctl (or flanneld) built, as the
 * snapshot shows them: the bridge holding the pods' gateway address, the devices of the routes to
 * the network's other subnets, and the vxlan device. What is not there stays absent.
 */
export function podPathsOf(h: HostSnapshot, network: string): PodPaths {
  const net = parseCidr(network)
  const inNet = (ip: string) => cidrContainsIp(network, ip)
  const gateway = (h.addresses ?? []).find(a => a.family === 4 && a.prefixlen < 32 && inNet(a.local)
    && (h.links ?? []).some(l => l.name === a.dev && l.kind === 'bridge'))
  const subnet = gateway === undefined ? undefined : `${nthAddress(parseCidr(`${gateway.local}/${gateway.prefixlen}`), 0)}/${gateway.prefixlen}`
  const peerDevs = new Set<string>()
  for (const r of h.routes ?? []) {
    if (r.dev === undefined || r.dev === gateway?.dev || r.dst === 'default') continue
    if (r.type === 'unicast' && cidrOverlaps(parseCidr(r.dst), net)) peerDevs.add(r.dev)
  }
  for (const l of h.links ?? []) if (l.kind === 'vxlan' && isVxlanDeviceName(l.name)) peerDevs.add(l.name)
  return {network, ...(subnet !== undefined ? {subnet} : {}), ...(gateway !== undefined ? {bridge: gateway.dev} : {}), ...(peerDevs.size > 0 ? {peerDevs: [...peerDevs]} : {})}
}

/**
 * The native nftables base chains on the forward hook (every table of family ip and inet,
 * firewalld's, nftables.service's, flanneld's own) that drop or reject forwarded pod traffic,
 * evaluated by the trace's own evaluator (trace/nft.ts). An accept in one base chain ends that
 * chain only: a packet passes when every one accepts it, so an accept in iptables' FORWARD or in
 * flanneld's table saves nothing from a drop here. The packets: a pod here to a pod on another
 * node and back, new ICMP and TCP and an established TCP reply, through the bridge and each
 * peer-facing device. A rule the evaluator cannot decide (marks, sets it could not read) says
 * nothing: no warning on a guess. Empty when the snapshot holds no native chains (not read).
 */
export function nativeForwardDrops(h: HostSnapshot, paths: PodPaths): NativeForwardDrop[] {
  const chains = stagesAt(h, 'FORWARD', 'filter', [], {})
    .flatMap(s => ('chain' in s && (s.chain.family === 'ip' || s.chain.family === 'inet') ? [s.chain] : []))
  if (chains.length === 0) return []
  const net = parseCidr(paths.network)
  const sub = paths.subnet !== undefined ? parseCidr(paths.subnet) : undefined
  const here = nthAddress(sub ?? net, 2)
  // a pod on another node: the network's first subnet, else the next one (outside the network only when told the subnet alone)
  const there = sub === undefined ? nthAddress(net, cidrSize(net) / 2 + 2)
    : [nthAddress(net, 2), nthAddress(sub, cidrSize(sub) + 2)].find(ip => cidrContainsIp(paths.network, ip) && !cidrContainsIp(paths.subnet!, ip)) ?? nthAddress(sub, cidrSize(sub) + 2)
  const bridge = paths.bridge
  const devs = paths.peerDevs?.length ? paths.peerDevs : [undefined]
  const ways = devs.flatMap(dev => [{src: here, dst: there, inDev: bridge, outDev: dev}, {src: there, dst: here, inDev: dev, outDev: bridge}])
  // new connections both ways first (what a drop usually stops), then the replies of established ones
  const packets: NftFacts[] = [
    ...ways.flatMap(w => [{...w, proto: 'icmp', icmpType: 8, state: 'NEW'}, {...w, proto: 'tcp', state: 'NEW'}] as const),
    ...ways.map(w => ({...w, proto: 'tcp', state: 'ESTABLISHED'}) as const),
  ]
  // iptables' MARK rules matter to a chain that reads the mark only; reading them costs ~70 ms at 3000 rules, on every sync
  const readsMark = chains.some(c => rulesReached(c).some(r => JSON.stringify(r.expr).includes('"key":"mark"')))
  // with the ipsets read, as the trace has them: a MARK rule by `-m set` is decided, not a doubt that silences the chain
  const rules = h.iptables !== undefined && readsMark ? new RuleSet(h.iptables, h.ipsets) : undefined
  const drops: NativeForwardDrop[] = []
  for (const chain of chains) {
    for (const p of packets) {
      const v = evaluateNftChain(chain, withIptablesMarks(rules, p, 'FORWARD', chain.priority)).verdict
      if (v.kind !== 'drop' && v.kind !== 'reject') continue
      const devices = p.inDev !== undefined || p.outDev !== undefined ? ` ${p.inDev ?? '?'} → ${p.outDev ?? '?'}` : ''
      const remove = nftDeleteOf(v.rule)
      drops.push({chain, rule: v.rule, reject: v.kind === 'reject', ...(remove !== undefined ? {remove} : {}), fix: nftAcceptHint(chain, paths.network),
        at: v.rule !== undefined ? `at ${ruleName(v.rule)}` : 'by its policy drop',
        flow: `${p.proto} ${p.src} → ${p.dst} (${p.state})${devices}`})
      break
    }
  }
  return drops
}

/**
 * The tables of `nft -j list tables` whose forward chains the builder must read to judge pod
 * traffic: family ip and inet, other than flanneld's (read anyway) and iptables-nft's (iptables-save
 * shows them, and kube-proxy's can hold thousands of rules). A host without such a table costs no
 * read more; one with them one `nft -j list table` each, not the whole ruleset.
 */
export function tablesToJudge(listTables: string, iptablesFlavour: 'nft' | 'legacy' | undefined): {family: string, name: string}[] {
  return (nftJsonItems(listTables) ?? []).flatMap(item => {
    const {family, name} = (item as {table?: {family?: unknown, name?: unknown}} | null)?.table ?? {}
    if ((family !== 'ip' && family !== 'inet') || typeof name !== 'string') return []
    if (FLANNEL_NFT_TABLES.some(t => t.family === family && t.name === name)) return []
    if (family === 'ip' && XTABLES.has(name) && iptablesFlavour === 'nft') return []
    return [{family, name}]
  })
}

/** A native drop in one line, as sync, migrate and doctor say it. */
export function nativeDropText(d: NativeForwardDrop): string {
  return `nftables chain ${d.chain.family} ${d.chain.table} ${d.chain.name} (hook forward, priority ${d.chain.priority}) ${d.reject ? 'rejects' : 'drops'} forwarded pod traffic (${d.flow}) ${d.at}`
}

/** Where this host drops the peers' vxlan packets on their way in: what sync warns of, as trace's DENIED_BY_FILTER at PREROUTING or INPUT says. */
export interface VxlanInputDrop {
  /** `iptables INPUT`, `iptables -t raw PREROUTING` or `nftables chain inet filter input (hook input, priority 0)` */
  where: string
  /** the rule (iptables-save's line, nft's text with its handle) or the policy */
  evidence: string
  reject: boolean
  /** in firewalld's table: the port opened in its zone (an inserted rule is gone after a reload) */
  firewalld: boolean
  /** a rich rule of this zone or policy (`--zone=public`) drops it: accepted ahead of it in the same */
  richRuleOf?: string
  /** the peers (public IPs) whose packets it drops */
  peers: string[]
  fix: string[]
}

/**
 * Whether the firewall on the way in (PREROUTING's raw and mangle tables and native chains, netdev
 * ingress first, then every table and native base chain at INPUT, in netfilter's order, by the
 * evaluator trace uses there) drops or rejects the vxlan packets the peers send to
 * `local`:`port` on `dev`. Dropped there, the packets never reach the vxlan device: every peer
 * is cut off, though routes, neighbours and fdb are right. Each peer is a packet of its own (a rule
 * may accept the node network's addresses); a new UDP flow each (vxlan's source port is a hash, so
 * the two directions are two flows). A rule the evaluator cannot decide says nothing, as in
 * nativeForwardDrops. A raw NOTRACK on the way makes the packet UNTRACKED for what follows, as
 * trace has it. The fix accepts the port first, where the drop is: the iptables table and chain,
 * the native chain, or firewalld's zone.
 */
export function vxlanInputDrop(h: HostSnapshot, p: {port: number, local: string, peers: string[], dev?: string}): VxlanInputDrop | undefined {
  const tables = h.iptables ?? h.nftables
  if (tables === undefined) return undefined
  const verdicts = inputVerdictsFor(tables, h, `${p.port}|${p.local}|${p.dev ?? ''}`)
  if (p.peers.length === 0) {
    // No peer yet: the first to join is cut off where the drop holds for any source. Where a rule
    // reads the source, who joins decides, and that is not known: nothing is said on a guess (the
    // round that brings the peer asks again).
    let drop = verdicts.get(ANY_PEER)
    if (drop === undefined) {
      const asked = inputEvaluator(h, p)(standInPeer(h, p.local))
      drop = asked.sourceRead ? null : asked.drop ?? null
      verdicts.set(ANY_PEER, drop)
    }
    return drop === null ? undefined : {...drop, peers: []}
  }
  let evaluate: ReturnType<typeof inputEvaluator> | undefined
  let found: VxlanInputDrop | undefined
  for (const peer of p.peers) {
    let drop = verdicts.get(peer)
    if (drop === undefined) {
      evaluate ??= inputEvaluator(h, p)
      const asked = evaluate(peer)
      drop = asked.drop ?? null
      verdicts.set(peer, drop)
      // No rule on the way looked at the source: every peer's packet fares the same.
      if (!asked.sourceRead) {
        for (const other of p.peers) if (!verdicts.has(other)) verdicts.set(other, drop)
      }
    }
    if (drop === null) continue
    if (found === undefined) found = {...drop, peers: [peer]}
    else if (found.where === drop.where && found.evidence === drop.evidence) found.peers.push(peer)
  }
  return found
}

/** What sync says before an INPUT drop's fix: where the accept goes, and for firewalld why its own configuration. */
export function inputDropAdvice(d: Pick<VxlanInputDrop, 'firewalld' | 'richRuleOf'>): string {
  if (d.richRuleOf !== undefined) {
    return `A rich rule of firewalld's ${d.richRuleOf.slice(2).replace('=', ' ')} drops it (an nft deletion of it is undone by the next firewall-cmd --reload, and --add-port would not help: ports are accepted after rich rules' drops). `
      + `Remove that rich rule (firewall-cmd ${d.richRuleOf} --list-rich-rules shows it; --remove-rich-rule='…', now and with --permanent), or accept the port ahead of it`
  }
  return d.firewalld ? 'Open the port in firewalld\'s zone (a rule inserted in its table is gone after a firewall-cmd --reload)' : 'Accept the port before it'
}

type InputVerdicts = Map<string, Omit<VxlanInputDrop, 'peers'> | null>

/** The verdict kept for a node with no peers: any source's, or null where a rule reads the source. */
const ANY_PEER = '*'

/** A source for the packet of a peer yet to join: another address of the node's own network (any will do where no rule reads it). */
function standInPeer(h: HostSnapshot, local: string): string {
  const own = h.addresses?.find(a => a.family === 4 && a.local === local && a.prefixlen < 31)
  if (own === undefined) return local
  const net = parseCidr(`${local}/${own.prefixlen}`)
  return [1, 2].map(n => nthAddress(net, n)).find(ip => ip !== local)!
}

/**
 * Each peer's verdict, kept while the host's rule tables are the same objects: an agent's event
 * rounds plan against the tables of one read, so only new peers are evaluated (at 1000 peers the
 * whole pass is ~3.5 ms, on every round).
 */
const inputVerdictCache = new WeakMap<object, {nftables?: NftChain[], ipsets?: HostSnapshot['ipsets'], iptables?: HostSnapshot['iptables'], where: string, verdicts: InputVerdicts}>()

function inputVerdictsFor(key: object, h: HostSnapshot, where: string): InputVerdicts {
  const kept = inputVerdictCache.get(key)
  if (kept !== undefined && kept.where === where && kept.iptables === h.iptables && kept.nftables === h.nftables && kept.ipsets === h.ipsets) return kept.verdicts
  const verdicts: InputVerdicts = new Map()
  inputVerdictCache.set(key, {iptables: h.iptables, nftables: h.nftables, ipsets: h.ipsets, where, verdicts})
  return verdicts
}

/**
 * One peer's verdict, and whether any rule on the way read the packet's source: where none did (the
 * usual INPUT: rules by port, state or interface), the verdict holds for every peer, and a round
 * that adds 1000 peers asks once instead of 1000 times (~3.5 µs each).
 */
function inputEvaluator(h: HostSnapshot, p: {port: number, local: string, dev?: string}): (peer: string) => {drop?: Omit<VxlanInputDrop, 'peers'>, sourceRead: boolean} {
  const rules = h.iptables !== undefined ? new RuleSet(h.iptables, h.ipsets) : undefined
  // the way in, as trace walks it: PREROUTING's raw and mangle (and native chains there, netdev ingress first), then INPUT
  const stages = (['PREROUTING', 'INPUT'] as const).flatMap(hook =>
    stagesAt(h, hook, 'filter', rules !== undefined ? dropTables(hook) : [], {inDev: p.dev}).map(stage => ({hook, stage})))
  const view = new HostView(h)
  return peer => {
    let sourceRead = false
    // mark 0: a packet off the wire has none (undefined would be a mark not known)
    const facts: NftFacts = {get src() { sourceRead = true; return peer }, dst: p.local, proto: 'udp', dport: p.port, inDev: p.dev, state: 'NEW', dstIsLocal: true, mark: 0}
    // addrtype --limit-iface-in and rpfilter read the host's addresses and routes, as in trace; the route back reads the source through the watch
    Object.assign(facts, view.routeFacts(facts))
    const drop = firstInputDrop(stages, rules, facts, p.port)
    return {drop, sourceRead}
  }
}

/** Below conntrack's priority (-200) a native `notrack` takes the packet out of it, as iptables' raw NOTRACK does. */
const CONNTRACK_PRIORITY = -200

function firstInputDrop(stages: {hook: 'PREROUTING' | 'INPUT', stage: ReturnType<typeof stagesAt>[number]}[], rules: RuleSet | undefined, facts: NftFacts, port: number): Omit<VxlanInputDrop, 'peers'> | undefined {
  let untrackedBy: string | undefined
  for (const {hook, stage} of stages) {
    // untracked, `--ctstate NEW` accepts miss it (the facts are this peer's own: set, not copied, to keep the watch on src)
    if (untrackedBy !== undefined) facts.state = 'UNTRACKED'
    const because = untrackedBy === undefined ? '' : `; ${untrackedBy} took the packet out of conntrack, so rules accepting state NEW miss it`
    if ('chain' in stage) {
      const c = stage.chain
      const o = evaluateNftChain(c, withIptablesMarks(rules, facts, hook, stage.priority))
      const v = o.verdict
      if (o.notrack !== undefined && hook === 'PREROUTING' && c.priority < CONNTRACK_PRIORITY && v.kind !== 'unknown') untrackedBy ??= ruleName(o.notrack)
      if (v.kind !== 'drop' && v.kind !== 'reject') continue
      const firewalld = isFirewalldTable(c)
      const richRuleOf = firewalld && v.rule !== undefined ? firewalldRichRuleOwner(v.rule.chain) : undefined
      const portMatch = `port port="${port}" protocol="udp"`
      return {where: `nftables chain ${c.family} ${c.table} ${c.name} (hook ${c.hook}, priority ${c.priority})`, evidence: `${v.rule !== undefined ? ruleName(v.rule) : 'its policy drop'}${because}`,
        reject: v.kind === 'reject', firewalld, ...(richRuleOf !== undefined ? {richRuleOf} : {}),
        fix: richRuleOf !== undefined ? firewalldRichAccept(richRuleOf, portMatch) : firewalld ? firewallCmd(`--add-port=${port}/udp`) : [`nft insert rule ${c.family} ${c.table} ${c.name} udp dport ${port} accept`]}
    }
    if (rules === undefined || !rules.active(stage.table, hook)) continue
    if (hook === 'PREROUTING' && stage.table === 'raw') {
      const u = rules.untracks(facts, 'PREROUTING')
      if (u !== undefined && 'rule' in u) untrackedBy ??= `\`${u.rule.raw || u.rule.spec}\``
    }
    const d = rules.evaluate(stage.table, hook, facts)
    // a chain the paste did not list, or a rule the evaluator cannot decide, may have accepted first: no warning on a guess
    if ((d.action !== 'DROP' && d.action !== 'REJECT') || d.uncaptured !== undefined || d.undecided !== undefined) continue
    const t = stage.table === 'filter' ? '' : `-t ${stage.table} `
    return {where: `iptables ${t}${hook}`, evidence: `${d.evidence}${because}`, reject: d.action === 'REJECT', firewalld: false, fix: [`iptables ${t}-I ${hook} -p udp --dport ${port} -j ACCEPT`]}
  }
  return undefined
}
