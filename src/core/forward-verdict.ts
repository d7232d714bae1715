/**
 * Whether this host's firewall lets forwarded pod traffic through: iptables' FORWARD, read from
 * iptables-save (forwardVerdict), and every native nftables base chain on the forward hook
 * (nativeForwardDrops), each of which decides for itself. sync, its agent, migrate's preflight and
 * doctor's FORWARD_DROP ask the same question. Pure.
 */
import {cidrContainsIp, cidrOverlaps, cidrSize, nthAddress, parseCidr} from './addr.js'
import type {HostSnapshot, IptablesRule, NftChain, NftRule} from './model.js'
import {RuleSet, setOverlaps} from './trace/iptables.js'
import {type NftFacts, XTABLES, evaluateNftChain, ruleName, stagesAt, withIptablesMarks} from './trace/nft.js'
import {nftJsonItems, rulesReached} from './parse/nft.js'
import {FLANNEL_NFT_TABLES} from './flannel-nft.js'

/**
 * Accepts at the top of FORWARD (of `table`, filter unless told): they work whatever the chain holds
 * (appended, they would sit behind a final REJECT). `net` is the pod network, as flanneld's
 * FLANNEL-FWD accepts it: both directions of pod traffic, also what a node forwards for other nodes'
 * pods (a NodePort's DNAT to a pod elsewhere), which the node's own subnet would miss. The one text
 * of this fix: trace, doctor, sync and migrate's preflight print it.
 */
export const forwardAcceptHint = (net: string, table = 'filter'): string[] =>
  ['-s', '-d'].map(dir => `iptables ${table === 'filter' ? '' : `-t ${table} `}-I FORWARD 1 ${dir} ${net} -j ACCEPT`)

/**
 * What FORWARD (following jumps) does first with traffic to or from `subnet`: a rule accepts it, a
 * rule drops or rejects it (a host firewall's final `-j REJECT`), or neither and the policy decides.
 * Only plain address matches count: a rule with other matches (state, mark, ports) may not fire, and
 * a drop limited by interface or negation may not concern pods, so neither decides here. An ipset
 * match (`-m set --match-set S src`) counts as `-s`/`-d` do: when a collected set's entry overlaps
 * the subnet, the rule concerns pod traffic; when none does, or the sets were not read, it does not.
 */
export function forwardVerdict(h: HostSnapshot, subnet: string): {verdict: 'ACCEPT'} | {verdict: 'DROP', rule: IptablesRule} | undefined {
  const rules = h.iptables?.rules.filter(r => r.table === 'filter') ?? []
  const chains = new Set(h.iptables?.chains.filter(c => c.table === 'filter').map(c => c.name) ?? [])
  const seen = new Set<string>()
  const walk = (chain: string): ReturnType<typeof forwardVerdict> => {
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
      if (set !== undefined && setOverlaps(h.ipsets, set, subnet) !== true) continue
      const covers = (x: string | undefined) => x === undefined || cidrOverlaps(parseCidr(x), parseCidr(subnet))
      // a rule about other sources or other destinations says nothing about pod traffic as a whole
      if (!covers(s) || !covers(d)) continue
      if (target === 'ACCEPT') return {verdict: 'ACCEPT'}
      if (target === 'DROP' || target === 'REJECT') {
        if (!words.includes('!') && !words.includes('-i') && !words.includes('-o')) return {verdict: 'DROP', rule: r}
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
  return walk('FORWARD')
}

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
  for (const l of h.links ?? []) if (l.kind === 'vxlan' && /^flannel\.\d+$/.test(l.name)) peerDevs.add(l.name)
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
