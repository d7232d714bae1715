/**
 * doctor: every pod pair traced, plus the host checks that catch what operators hit most
 * (design.md "Users' known pains"): forwarding, FORWARD policy, MTU, stale and missing peer
 * entries, duplicate subnets, VtepMAC drift. Checks read only the snapshots (and the store's
 * leases when a lab names one), so they run the same on live hosts and on snapshot directories.
 */
import {capturedFor, inMainTable, type HostSnapshot, type Link, type Route} from '../core/model.js'
import {cidrContainsIp, cidrOverlaps, cidrToKey, cidrWithin, normaliseDst, parseCidr, cidrToString, isIPv4} from '../core/addr.js'
import {DEFAULT_SUBNET_FILE, MASQ_CHAIN, VXLAN_OVERHEAD, gatewayAddress, isVxlanDeviceName, builtByOlderFlanneld, olderFlanneldRules, type OlderFlanneldRules} from '../core/flannel.js'
import {freeSubnets} from '../core/ipam.js'
import {parseNetConf} from '../core/netconf.js'
import {addressScope, forwardAcceptHint, forwardVerdict, nativeDropText, nativeForwardDrops, partialAcceptText} from '../core/forward-verdict.js'
import {rulesMode, NFT_TABLE_V4, type RulesMode} from '../core/flannel-nft.js'
import {RouteTable, isOnLink, onLinkAddresses} from '../core/route-lookup.js'
import {PolicyRouter} from '../core/trace/routes.js'
import {podBridgeName} from '../core/inventory.js'
import type {Trace, TraceWarning, World, Disposition, Fix} from '../core/trace/types.js'
import {traceWorld} from './trace.js'
import {flanneldAddressFixes} from '../core/trace/vxlan.js'
import {behindMoveSync, peerMacSync, publishVtepMacFix, sourceNatFixes, tunnelMtuFixes} from '../core/trace/fixes.js'
import {podNetworkGuess} from '../core/trace/world.js'
import {knownPeers, loadSource, networkVxlan, readStoreOf, type LoadOptions, type LoadedSource, type SourceOptions} from './collect.js'
import {migrationStopped, type UnfinishedMigration} from './lease.js'
import {Lab, withLabCommands} from './lab.js'
import {inventoryStateFiles, withHostStateFiles} from '../ui/carry.js'
import type {Runner} from '../adapters/runner.js'
import {userError} from '../errors.js'

export type Severity = 'error' | 'warning'

/**
 * The NODE of a finding about the store, not a host (NETCONF_INVALID, LEASES_OFF_CONFIG, MIGRATION_UNFINISHED): its
 * spec (a file store's path, etcd's endpoints) goes in the evidence, not in the table's NODE column.
 */
export const STORE_NODE = 'store'

export interface DoctorFinding {
  code: string
  severity: Severity
  /** the host it is about, or STORE_NODE */
  node: string
  /** the peer node (or, known by its lease alone, its address) whose entries on `node` it is about */
  peer?: string
  /** that peer's pod subnet, by its lease */
  peerSubnet?: string
  /**
   * the VTEP MAC of the entry it is about: a STALE_FDB's or WRONG_VTEP_HOST's fdb entry's, a
   * VTEP_MAC_DRIFT's neighbour's (the peer's old MAC), the one a MISSING_FDB finds no fdb entry for
   */
  mac?: string
  message: string
  /** the table line it rests on */
  evidence?: string
  /** shell commands for `node`: the text of `fixes`, one each (findingFixText) */
  fix: string[]
  /** the same fixes as trace's objects: where each runs (`scope`), which sync leads, which commands are its alternative by hand */
  fixes: Fix[]
  /**
   * Those of `fix` that are commands for the cluster's API (trace's `scope: 'cluster'`: what to
   * change instead of a Calico or kube-proxy rule), run wherever kubectl reaches it, not on `node`.
   * Absent when there are none; `fix` keeps every command, as before.
   */
  clusterFixes?: string[]
}

/** A finding as the checks make it: its fixes as commands on its node, or as objects. */
type FindingDraft = Omit<DoctorFinding, 'fix' | 'fixes' | 'clusterFixes'> & {fix?: string[]; fixes?: Fix[]}

/** A fix's line in the finding's `fix`: one for another host than the finding's says where it runs. */
function findingFixText(node: string, fix: Fix): string {
  return fix.scope !== undefined || fix.node === node ? fix.command : `${fix.command}   # on ${fix.node}`
}

/** Gives the finding `fixes`, and the strings `--json` has always had (`fix`, `clusterFixes`) made from them. */
export function setFixes(f: DoctorFinding, fixes: Fix[]): DoctorFinding {
  const clusterFixes = fixes.filter(x => x.scope === 'cluster').map(x => findingFixText(f.node, x))
  f.fix = fixes.map(x => findingFixText(f.node, x))
  f.fixes = fixes
  if (clusterFixes.length > 0) f.clusterFixes = clusterFixes
  else delete f.clusterFixes
  return f
}

/** A finding from its draft: commands given as strings run on its node. */
function finding({fix, fixes, ...f}: FindingDraft): DoctorFinding {
  return setFixes({...f, fix: [], fixes: []}, fixes ?? (fix ?? []).map(command => ({node: f.node, command})))
}

/** Ways of one choice on `node`, each its commands and why: the first recommended (see Fix.option). */
function ways(node: string, ...choices: {why: string; commands: string[]}[]): Fix[] {
  return choices.flatMap(({why, commands}, i) => commands.map(command => ({node, command, option: {choice: i + 1, why, ...(i === 0 ? {recommended: true as const} : {})}})))
}

/** Accepts for the pod network ahead of a rule that drops it: the rule stays for all other traffic, as its firewall meant. */
const ACCEPT_AHEAD = 'accept the pod network ahead of it: the rule keeps dropping what else it drops, as the firewall that wrote it meant'
const DELETE_RULE = 'delete the rule, where nothing else needs it dropped (a firewall that wrote it may put it back)'

/** Commands that do by hand, on `node`, what the sync leading them does. */
function byHandOn(node: string, commands: string[]): Fix[] {
  return commands.map(command => ({node, command, byHand: true}))
}

export interface PairResult {
  from: string
  to: string
  disposition: Disposition
  /** where it failed (or the warning's node) */
  node?: string
  reason?: string
  fix: Fix[]
  warnings: string[]
  /** real ping (with --ping): true = answered */
  ping?: boolean
}

export interface DoctorReport {
  source: string
  nodes: string[]
  /** the pods of the matrix */
  pods: string[]
  /** true when there were too many pods and the matrix took one per node */
  sampled: boolean
  pairs: PairResult[]
  findings: DoctorFinding[]
  /**
   * per flannel node, where its masquerade and forward rules are: iptables (FLANNEL-FWD,
   * FLANNEL-POSTRTG), nftables (flanneld's table ip flannel-ipv4, EnableNFTables), both, none, or unknown;
   * `old-flanneld`: in iptables, where a flanneld before 0.20 wrote them (POSTROUTING and FORWARD themselves)
   */
  rules: Record<string, NodeRulesMode>
  /** true when nothing is wrong */
  healthy: boolean
}

/** Where a node's flannel rules are: rulesMode's places, or an older flanneld's (olderFlanneldRules). */
export type NodeRulesMode = RulesMode | 'old-flanneld'

/** What a host looks like as a flannel node, read off its tables. */
interface NodeFacts {
  host: HostSnapshot
  bridge?: Link
  /** the pod subnet: the bridge's IPv4 network */
  subnet?: string
  vxlan?: Link
  underlay?: Link
  publicIP?: string
}

/**
 * Who built a flannel node, as its tables tell: flannelctl (or a flanneld of 0.20 on, whose rules,
 * devices and leases are the ones flannelctl keeps, so its sync takes the node over), an older
 * flanneld (builtByOlderFlanneld), or a hand (nothing of flannel's but the peers routing its subnet
 * to it: a host-gw node set up with `ip route`).
 */
type Maker = 'flannelctl' | 'older flanneld' | 'hand'

/** A host that is a flannel peer by its tables (see flannelPeers): its subnet is known. */
type PeerNode = NodeFacts & {subnet: string; maker: Maker}

/** An older flanneld's rules on the host (olderFlanneldRules), where its iptables rules were read. */
function olderFlanneldRulesOf(h: HostSnapshot): OlderFlanneldRules | undefined {
  return h.iptables === undefined ? undefined : olderFlanneldRules(h.iptables.rules)
}

/**
 * What on a host's tables says flannel made it a node, beside a bridge with an address (docker0,
 * a lab's br0 are bridges with addresses too): a flannel device (its VTEP `flannel.N`, the `cni0`
 * flannel's CNI plugin makes), flannel's rules (its chains or nftables table, or an older
 * flanneld's masquerade of a network holding the subnet), or a lease of the store for its subnet.
 * Undefined: nothing does.
 */
function flannelSign(n: NodeFacts, leases?: {subnet: string}[]): string | undefined {
  if (n.subnet === undefined) return undefined
  if (n.vxlan !== undefined && isVxlanDeviceName(n.vxlan.name)) return n.vxlan.name
  if (n.bridge?.name === 'cni0') return 'cni0'
  const mode = rulesMode(n.host)
  if (mode === 'iptables' || mode === 'nftables' || mode === 'both') return `flannel's rules (${mode})`
  const old = olderFlanneldRulesOf(n.host)
  if (old !== undefined && cidrWithin(parseCidr(n.subnet), parseCidr(old.network))) return `an older flanneld's rules for ${old.network}`
  if (leases?.some(l => l.subnet === n.subnet)) return `lease ${n.subnet}`
  return undefined
}

/**
 * The hosts that are flannel peers by their tables: a flannel sign of their own (flannelSign), or
 * a peer of those routing their subnet via their address (a host-gw node with nothing else to show).
 * A docker host an inventory lists as a node is not one: its docker0 subnet is docker's.
 */
function flannelPeers(world: World, leases?: {subnet: string}[], nodes = nodeFactsOf(world)): PeerNode[] {
  const withSubnet = nodes.filter((n): n is NodeFacts & {subnet: string} => n.subnet !== undefined)
  const signed = withSubnet.filter(n => flannelSign(n, leases) !== undefined)
  const isSigned = new Set(signed)
  const routedTo = (n: NodeFacts & {subnet: string}) => signed.some(o => o !== n && (o.host.routes ?? []).some(r => inMainTable(r) && r.gateway !== undefined &&
    normaliseDst(r.dst) === n.subnet && (n.host.addresses ?? []).some(a => a.local === r.gateway)))
  return withSubnet.filter(n => isSigned.has(n) || routedTo(n))
    .map(n => ({...n, maker: !isSigned.has(n) ? 'hand' : builtByOlderFlanneld(n.host) ? 'older flanneld' : 'flannelctl'}))
}

/** The hosts that are nodes (not a pod's namespace), with what their tables say of them. */
function nodeFactsOf(world: World): NodeFacts[] {
  const podHosts = new Set(world.pods.map(p => p.netns).filter((n): n is string => n !== undefined))
  return world.hosts.filter(h => !podHosts.has(h.name)).map(nodeFacts)
}

/** flannelctl keeps no state on a node another built, so a `flannelctl sync` is no fix for it: the kernel's commands (or its flanneld's) are. */
function builtByOther(n: PeerNode): boolean {
  return n.maker !== 'flannelctl'
}

interface PeerFacts {
  name: string
  subnet: string
  publicIP?: string
  vtepMac?: string
  /** a static peer (`peer add`) of this node alone: another node's entries for it are stale, its lack of them is right */
  onlyFor?: string
}

/** A peer known by its lease alone (this host read alone) by its address: `lease SUBNET` reads wrong where its subnet moved. */
function peerLabel(p: PeerFacts): string {
  return p.name === `lease ${p.subnet}` && p.publicIP !== undefined ? p.publicIP : p.name
}

function linkNamed(h: HostSnapshot, name: string | undefined): Link | undefined {
  return name === undefined ? undefined : h.links?.find(l => l.name === name)
}

function networkOf(local: string, prefixlen: number): string {
  return cidrToString(parseCidr(`${local}/${prefixlen}`))
}

export function nodeFacts(host: HostSnapshot): NodeFacts {
  const links = host.links ?? []
  const addrs = (host.addresses ?? []).filter(a => a.family === 4)
  const bridgeName = podBridgeName(host)
  const bridge: Link | undefined = bridgeName === undefined ? undefined
    : linkNamed(host, bridgeName) ?? {name: bridgeName, kind: 'bridge', mtu: 0, up: true, raw: `(${bridgeName}: link details not captured)`}
  const bridgeAddr = bridge ? addrs.find(a => a.dev === bridge.name && a.prefixlen < 32) : undefined
  const vxlan = links.find(l => l.kind === 'vxlan' && /^flannel\./.test(l.name)) ?? links.find(l => l.kind === 'vxlan')
    ?? links.find(l => isVxlanDeviceName(l.name))
  let underlay = linkNamed(host, vxlan?.vxlan?.dev)
  let publicIP = vxlan?.vxlan?.local
  if (!publicIP) {
    const skip = new Set(['lo', bridge?.name, vxlan?.name])
    const candidate = addrs.find(a => !skip.has(a.dev) && a.scope !== 'host' && !links.some(l => l.name === a.dev && (l.kind === 'veth' && l.master)))
    publicIP = candidate?.local
    if (!underlay && candidate) underlay = linkNamed(host, candidate.dev)
  }
  if (!underlay && publicIP) underlay = linkNamed(host, addrs.find(a => a.local === publicIP)?.dev)
  return {host, bridge, subnet: bridgeAddr ? networkOf(bridgeAddr.local, bridgeAddr.prefixlen) : undefined, vxlan, underlay, publicIP}
}

function usableMac(mac: string | undefined): mac is string {
  return mac !== undefined && mac !== '00:00:00:00:00:00'
}

/**
 * The host checks; `leases` (the store's view) widen "who is a peer" beyond the visible hosts.
 * Undefined when not read: in a partial world (this host alone) the peers are then unknown, so
 * nothing on the vxlan device is called stale.
 */
export function hostChecks(world: World, leases?: World['leases'], backend?: {type: string; directRouting: boolean}): DoctorFinding[] {
  const nodes = nodeFactsOf(world)
  const flannelNodes = flannelPeers(world, leases, nodes)
  const findings: DoctorFinding[] = []
  const add = (f: FindingDraft): DoctorFinding => {
    const made = finding(f)
    findings.push(made)
    return made
  }
  const network = podNetworkOf(world, leases)

  // Peers: visible nodes with a pod subnet, then leases for subnets no visible node holds.
  const peers: PeerFacts[] = flannelNodes.map(n => ({name: n.host.name, subnet: n.subnet!, publicIP: n.publicIP, vtepMac: n.vxlan?.mac}))
  const peersKnown = !readsPart(world) || leases !== undefined
  for (const l of leases ?? []) {
    const visible = peers.find(p => p.subnet === l.subnet)
    if (!visible) peers.push({name: `lease ${l.subnet}`, subnet: l.subnet, publicIP: l.publicIP, vtepMac: l.vtepMac, ...(l.staticOf !== undefined ? {onlyFor: l.staticOf} : {})})
    else if (!visible.vtepMac && l.vtepMac) visible.vtepMac = l.vtepMac
  }

  // Subnets whose visible VTEP has another MAC than their lease announces (see VTEP_MAC_NOT_PUBLISHED).
  const unpublished = new Set((leases ?? []).filter(l => {
    const mac = peers.find(p => p.subnet === l.subnet && p.publicIP === l.publicIP)?.vtepMac
    return l.vtepMac !== undefined && mac !== undefined && mac.toLowerCase() !== l.vtepMac.toLowerCase()
  }).map(l => l.subnet))

  const peerIndex = {
    bySubnet: new Map(peers.map(p => [p.subnet, p])),
    byVtepAddress: new Map(peers.map(p => [p.subnet.split('/')[0], p])),
    byMac: new Map(peers.filter(p => p.vtepMac).map(p => [p.vtepMac!.toLowerCase(), p])),
    byPublicIP: new Map(peers.filter(p => p.publicIP).map(p => [p.publicIP!, p])),
  }

  // Sorted by network address, overlapping subnets are neighbours: one pass instead of all pairs.
  const bySubnetStart = flannelNodes.map(n => ({n, c: parseCidr(n.subnet!)})).sort((a, b) => a.c.base - b.c.base || a.c.prefixlen - b.c.prefixlen)
  let widest: typeof bySubnetStart[number] | undefined
  const end = (x: typeof bySubnetStart[number]) => x.c.base + 2 ** (32 - x.c.prefixlen) - 1
  for (const b of bySubnetStart) {
    const a = widest
    if (!a || end(b) > end(a)) widest = b
    if (!a || b.c.base > end(a)) continue
    // one address announced by both: DUPLICATE_PUBLIC_IP below says which node took whose lease
    if (a.n.vxlan && b.n.vxlan && a.n.publicIP !== undefined && a.n.publicIP === b.n.publicIP) continue
    add({code: 'DUPLICATE_SUBNET', severity: 'error', node: b.n.host.name,
      message: `${a.n.host.name} and ${b.n.host.name} both use pod subnet ${a.n.subnet === b.n.subnet ? a.n.subnet : `${a.n.subnet} / ${b.n.subnet}`} (a lost store handed it out twice)`,
      evidence: `${b.n.bridge!.name} ${b.n.subnet}`,
      fix: b.n.maker === 'older flanneld' ? flanneldNewSubnet(b.n, a.n.host.name) : b.n.maker === 'hand' ? newSubnetByHand(b.n, network, [...flannelNodes.map(o => o.subnet), ...(leases ?? []).map(l => l.subnet)])
        : ['flannelctl reset --release', 'flannelctl init   # a fresh subnet; then recreate its pods']})
  }
  // A node whose address changed (a renumber) while its lease still names the old one: peers route
  // and tunnel to an address nobody has. Told from the lease, so host-gw nodes are found too.
  for (const n of flannelNodes) {
    const lease = leases?.find(l => l.subnet === n.subnet)
    const own = (ip: string, h: HostSnapshot) => (h.addresses ?? []).some(a => a.local === ip)
    if (lease === undefined || n.host.addresses === undefined || own(lease.publicIP, n.host) || nodes.some(o => own(lease.publicIP, o.host))) continue
    const now = n.underlay !== undefined ? (n.host.addresses ?? []).find(a => a.dev === n.underlay!.name && a.family === 4 && a.scope !== 'host')?.local : undefined
    add({code: 'LEASE_ADDRESS_GONE', severity: 'error', node: n.host.name,
      message: `the store's lease for ${n.host.name}'s subnet ${n.subnet} names ${lease.publicIP}, which no host has${now !== undefined ? ` (${n.host.name}'s ${n.underlay!.name} has ${now}: its address changed?)` : ''}: peers send its pods' traffic there`,
      evidence: `lease ${n.subnet} PublicIP ${lease.publicIP}`,
      ...(n.maker !== 'flannelctl' ? {fixes: flanneldAddressFixes(n.host.name, n.vxlan?.name ?? 'its VTEP', n.underlay?.name, now)} : {fix: [now !== undefined ? `flannelctl sync --public-ip ${now}   # the lease moves to ${now}, same subnet; peers follow on their next sync` : 'flannelctl sync --public-ip ADDRESS   # the node\'s address now']})})
  }
  // A node that serves its subnet while the store holds no lease for it (expired while its agent
  // was down, deleted, a store restored from a backup): every pair still works, but each peer's next
  // sync removes its routes to it, and a new host may lease the subnet again. Its own sync re-leases it.
  if (leases !== undefined && leases.length > 0) {
    // a node built by hand is a peer only because others route to it: the store never knew it
    for (const n of flannelNodes.filter(o => o.maker !== 'hand')) {
      const subnet = parseCidr(n.subnet)
      if (network !== undefined && !cidrWithin(subnet, parseCidr(network))) continue
      if (leases.some(l => cidrOverlaps(parseCidr(l.subnet), subnet))) continue
      add({code: 'LEASE_MISSING', severity: 'error', node: n.host.name,
        message: `no lease in the store holds ${n.host.name}'s subnet ${n.subnet} (expired, deleted, or the store lost it): its pods still answer, but each peer's next sync removes its routes to them, and a new host may lease the subnet`,
        evidence: `${n.bridge?.name ?? n.host.name} ${n.subnet}; no lease ${n.subnet.replace('/', '-')} in the store`,
        fix: [n.maker === 'older flanneld' ? 'systemctl restart flanneld   # on start it leases the subnet its subnet.env names again' : 'flannelctl sync   # leases its subnet again']})
    }
  }
  // Every node announcing the same address (a VM's NAT 10.0.2.15) sends peers' tunnels nowhere.
  const byPublic = new Map<string, PeerNode[]>()
  for (const n of flannelNodes) if (n.vxlan && n.publicIP) byPublic.set(n.publicIP, [...(byPublic.get(n.publicIP) ?? []), n])
  for (const [addr, same] of byPublic) {
    if (same.length < 2) continue
    const names = same.map(n => n.host.name)
    // One of them has the address: the others were given it (--public-ip of another node) and took
    // that node's lease, whose release would cut the owner off.
    const owners = same.filter(n => (n.host.addresses ?? []).some(a => a.local === addr)).map(n => n.host.name)
    const borrowed = owners.length > 0 && owners.length < same.length
    // Every one of them announces it (their leases are one entry): each is re-initialised on the address peers reach.
    for (const n of same.filter(x => !borrowed || !owners.includes(x.host.name))) {
      const right = reachableAddress(n, flannelNodes, addr)
      const init = right !== undefined
        ? `flannelctl init --iface ${right.dev} --public-ip ${right.local}   # the address its peers reach it on`
        : 'flannelctl init --iface IFACE --public-ip ADDR   # the address peers can reach'
      const other = n.maker !== 'flannelctl' ? vtepAddressFixes(n, flannelNodes, right) : undefined
      add({code: 'DUPLICATE_PUBLIC_IP', severity: 'error', node: n.host.name,
        message: borrowed
          ? `${n.host.name} announces ${addr}, which is ${owners.join(', ')}'s address, not its own: it took ${owners.join(', ')}'s lease and subnet (--public-ip of another node?)`
          : `${names.join(', ')} all use ${addr} as their VTEP address (the wrong interface chosen on a multi-NIC host?)`,
        evidence: `vxlan local ${addr}`, ...(other !== undefined ? {fixes: other}
          : {fix: [borrowed ? `flannelctl reset   # not --release: the lease is ${owners.join(', ')}'s` : 'flannelctl reset --release', init]})})
    }
  }

  // An underlay MTU below the other nodes' is the usual cause of a tunnel MTU that no longer matches theirs.
  const underlayMtus = flannelNodes.filter(n => n.vxlan && n.underlay).map(n => n.underlay!.mtu)
  const commonMtu = mostCommon(underlayMtus)
  for (const n of flannelNodes) {
    if (!n.vxlan || !n.underlay || commonMtu === undefined || n.underlay.mtu >= commonMtu) continue
    add({code: 'MTU_MISMATCH', severity: 'error', node: n.host.name,
      message: `${n.underlay.name} MTU ${n.underlay.mtu} is below the other nodes' ${commonMtu}: their ${n.vxlan.name} MTU ${commonMtu - VXLAN_OVERHEAD} packets do not fit this node's tunnel`,
      evidence: firstLine(n.underlay.raw),
      // the vxlan device only when it is not already at the size that underlay fits (the usual case is just the underlay shrinking)
      fix: [`ip link set ${n.underlay.name} mtu ${commonMtu}`, ...(n.vxlan.mtu !== commonMtu - VXLAN_OVERHEAD ? [`ip link set ${n.vxlan.name} mtu ${commonMtu - VXLAN_OVERHEAD}`] : [])]})
  }

  for (const n of flannelNodes) {
    const h = n.host
    const name = h.name
    const fwd = h.sysctls?.['net.ipv4.ip_forward']
    if (fwd === '0') {
      add({code: 'FORWARDING_DISABLED', severity: 'error', node: name, message: 'net.ipv4.ip_forward is 0: the node does not route pod traffic',
        evidence: 'net.ipv4.ip_forward = 0', fix: ['sysctl -w net.ipv4.ip_forward=1']})
    }
    const policy = h.iptables?.chains.find(c => c.table === 'filter' && c.name === 'FORWARD')?.policy
    // the accepts name the pod network, as trace's fix for the same drop does: the node's own subnet would miss what it forwards for others' pods
    const podNet = network ?? n.subnet!
    // judged for the network: FLANNEL-FWD's accepts hold it, one for the node's /24 does not (it drops a NodePort's DNAT to a pod elsewhere)
    const verdict = h.iptables === undefined ? undefined : forwardVerdict(h, podNet)
    const partly = verdict?.verdict !== 'ACCEPT' && verdict?.only !== undefined ? `: ${partialAcceptText(verdict.only, podNet)}` : ''
    // What is dropped is the pod network's traffic through this node (its pods' and what it forwards for others'), as the accepts say; a rule naming addresses drops only those.
    if (verdict?.verdict === 'DROP') {
      add({code: 'FORWARD_DROP', severity: 'error', node: name, message: `a FORWARD rule drops pod traffic through ${name} (${addressScope(verdict.rule.spec) ?? podNet}) before any rule accepts it (a host firewall's catch-all?)${partly}`,
        evidence: verdict.rule.raw, fixes: ways(name, {why: ACCEPT_AHEAD, commands: forwardAcceptHint(podNet)},
          {why: DELETE_RULE, commands: [`iptables -D ${verdict.rule.chain} ${verdict.rule.spec}`]})})
    } else if (policy === 'DROP' && (verdict === undefined || verdict.verdict === 'PARTIAL')) {
      // flanneld's nftables accept (EnableNFTables) is in a table of its own: iptables' FORWARD still drops
      const nft = rulesMode(h) === 'nftables'
      add({code: 'FORWARD_DROP', severity: 'error', node: name,
        message: verdict === undefined
          ? `FORWARD policy is DROP and no rule accepts pod traffic through ${name} (${podNet})${nft ? `: the accepts in flanneld's nftables table ${NFT_TABLE_V4} do not overrule iptables' FORWARD` : ''}`
          : `FORWARD policy is DROP on ${name} and ${partialAcceptText(verdict.only, podNet)}`,
        evidence: ':FORWARD DROP', fixes: nft || builtByOther(n) ? forwardAcceptHint(podNet).map(command => ({node: name, command}))
          : ways(name, {why: 'flannel\'s own accepts back: sync restores the jump to FLANNEL-FWD, and keeps it there', commands: ['flannelctl sync   # restores the FLANNEL-FWD jump']},
            {why: 'the same accepts by hand, ahead of the policy', commands: forwardAcceptHint(podNet)})})
    }
    // each base chain on the forward hook decides for itself: a native firewall's drop is not overruled by flannel's accepts, in either mode
    const peerDevs = [n.vxlan?.name, n.underlay?.name].filter((d): d is string => d !== undefined)
    for (const d of nativeForwardDrops(h, {network: podNet, subnet: n.subnet, bridge: n.bridge?.name, peerDevs})) {
      add({code: 'FORWARD_DROP', severity: 'error', node: name,
        message: `${nativeDropText(d)}: every base chain on the forward hook must accept a packet, so flannel's accepts (${rulesMode(h) === 'nftables' ? `nftables table ${NFT_TABLE_V4}` : 'iptables FORWARD'}) do not overrule it`,
        evidence: d.rule?.text ?? d.chain.raw,
        fixes: d.remove !== undefined ? ways(name, {why: ACCEPT_AHEAD, commands: d.fix}, {why: DELETE_RULE, commands: [d.remove]})
          : d.fix.map(command => ({node: name, command}))})
    }

    // MTU: flannel.1 = underlay − 50, and the bridge no larger than what the tunnel carries.
    if (n.vxlan && n.underlay) {
      const want = n.underlay.mtu - VXLAN_OVERHEAD
      if (n.vxlan.mtu > want) {
        add({code: 'MTU_MISMATCH', severity: 'error', node: name,
          message: `${n.vxlan.name} MTU ${n.vxlan.mtu} exceeds ${n.underlay.name} MTU ${n.underlay.mtu} − ${VXLAN_OVERHEAD}: full-size pod packets are dropped after encapsulation`,
          evidence: firstLine(n.vxlan.raw), fixes: tunnelMtuFixes({node: name, underlay: n.underlay, vxlan: n.vxlan, roomy: n.vxlan.mtu + VXLAN_OVERHEAD,
            senders: [{node: name, command: `ip link set ${n.bridge?.name ?? 'cni0'} mtu ${want}   # and each pod's eth0: re-create the pods, or ip link set eth0 mtu ${want} in each${
              builtByOther(n) ? '' : ` (flannelctl sync sets ${n.vxlan.name} and ${n.bridge?.name ?? 'cni0'}, and FLANNEL_MTU for new pods)`}`}]})})
      } else if (n.vxlan.mtu < want) {
        add({code: 'MTU_MISMATCH', severity: 'warning', node: name,
          message: `${n.vxlan.name} MTU ${n.vxlan.mtu} is below ${n.underlay.name} MTU ${n.underlay.mtu} − ${VXLAN_OVERHEAD} = ${want} (works, wastes bandwidth)`,
          evidence: firstLine(n.vxlan.raw), fix: [`ip link set ${n.vxlan.name} mtu ${want}`]})
      }
    }
    // The store is what every peer's sync reads: a VTEP re-created with a new MAC (a reboot, a hand
    // re-creation) that its own lease does not announce makes peers put the old MAC back, however
    // often their entries are mended by hand.
    const ownLease = leases?.find(l => l.subnet === n.subnet && l.publicIP === n.publicIP)
    if (n.vxlan?.mac && ownLease?.vtepMac && ownLease.vtepMac.toLowerCase() !== n.vxlan.mac.toLowerCase()) {
      add({code: 'VTEP_MAC_NOT_PUBLISHED', severity: 'error', node: name,
        message: `${name}'s lease ${n.subnet} announces VTEP MAC ${ownLease.vtepMac}, but its ${n.vxlan.name} has ${n.vxlan.mac}: peers that sync from the store keep sending to the old MAC`,
        evidence: n.vxlan.raw.split('\n').find(l => l.includes(n.vxlan!.mac!))?.trim() ?? firstLine(n.vxlan.raw),
        fixes: [publishVtepMacFix(name, n.vxlan.name, n.maker !== 'flannelctl')]})
    }
    // Only a tunnel that routes carries pod packets: a host-gw node keeping its VTEP for peers not
    // yet migrated sends nothing through it (and its sync keeps cni0 at the underlay's MTU).
    const tunnelMtu = n.vxlan && (h.routes ?? []).some(r => r.type === 'unicast' && r.dev === n.vxlan!.name) ? n.vxlan.mtu : undefined
    if (n.bridge && n.bridge.mtu > 0 && tunnelMtu !== undefined && n.bridge.mtu > tunnelMtu) {
      add({code: 'MTU_MISMATCH', severity: 'error', node: name,
        message: `${n.bridge.name} MTU ${n.bridge.mtu} is larger than ${n.vxlan!.name} MTU ${tunnelMtu}: pods send packets the tunnel cannot carry`,
        evidence: firstLine(n.bridge.raw), fix: [`ip link set ${n.bridge.name} mtu ${tunnelMtu}   # and the pods' eth0 (FLANNEL_MTU in subnet.env)`]})
    }

    // Indexed lookups: a thousand-node snapshot means a thousand peers per node.
    const isOther = (p: PeerFacts | undefined): p is PeerFacts => p !== undefined && p.name !== name && p.subnet !== n.subnet && (p.onlyFor === undefined || p.onlyFor === name)
    const others = peers.filter(isOther)
    const vx = n.vxlan
    // A device that is down lost its routes (and the tunnel its neighbours): up first, or no route through it is accepted.
    for (const dev of [n.bridge, vx, n.underlay]) {
      // set down, not merely without carrier: a bridge with no pods yet has none and keeps its route
      if (dev === undefined || dev.up) continue
      add({code: 'DEVICE_DOWN', severity: 'error', node: name, message: `${dev.name} is down: the kernel removed the routes through it`,
        evidence: firstLine(dev.raw), fix: [`ip link set ${dev.name} up`, ...(dev === n.bridge || builtByOther(n) ? [] : ['flannelctl sync   # the routes and neighbours it lost'])]})
    }
    const vxDown = vx !== undefined && !vx.up
    const routes = (h.routes ?? []).filter(r => inMainTable(r) && r.type === 'unicast')
    const nullRoutes = (h.routes ?? []).filter(r => inMainTable(r) && (r.type === 'blackhole' || r.type === 'unreachable' || r.type === 'prohibit') && isCidr(normaliseDst(r.dst)))
    const routeByDst = new Map<string, Route>()
    for (const r of routes) if (!routeByDst.has(normaliseDst(r.dst))) routeByDst.set(normaliseDst(r.dst), r)
    // the longest prefix the kernel would take, a default route aside: one table per host, not a scan per peer
    const specific = new RouteTable(routes.filter(r => normaliseDst(r.dst) !== 'default'))
    const neighByKey = new Map((h.neighbors ?? []).map(x => [`${x.dev}|${x.dst}`, x]))
    const fdbMacs = new Set((h.fdb ?? []).filter(f => f.dst).map(f => `${f.dev}|${f.mac.toLowerCase()}`))
    // Stale entries that lead to a peer's address (by the fdb, or by its VTEP MAC): an older lease of that peer, by public IP
    const olderLeaseEntries = new Map<string, {finding: DoctorFinding; subnet?: string}[]>()
    const ofOlderLease = (ip: string | undefined, finding: DoctorFinding, subnet?: string) => {
      if (ip !== undefined && peerIndex.byPublicIP.has(ip)) olderLeaseEntries.set(ip, [...olderLeaseEntries.get(ip) ?? [], {finding, subnet}])
    }
    const hostOfMac = (mac: string | undefined): string | undefined => mac === undefined ? undefined
      : peerIndex.byMac.get(mac.toLowerCase())?.publicIP ?? (h.fdb ?? []).find(f => f.dev === vx?.name && f.dst && f.mac.toLowerCase() === mac.toLowerCase())?.dst
    if (vx && peersKnown) {
      // Stale entries: routes, neighbours, fdb on the vxlan device that no peer accounts for.
      for (const r of routes.filter(x => x.dev === vx.name)) {
        const dst = normaliseDst(r.dst)
        if (dst === 'default' || !isCidr(dst) || dst === n.subnet || isOther(peerIndex.bySubnet.get(dst))) continue
        if (others.some(p => cidrWithin(parseCidr(p.subnet), parseCidr(dst)))) continue // old flannel: one route for the whole network
        const stale = add({code: 'STALE_ROUTE', severity: 'warning', node: name, message: `route to ${dst} via ${vx.name}, but no node or lease holds that subnet`,
          evidence: r.raw, fix: [`ip route del ${dst}`]})
        ofOlderLease(r.gateway !== undefined && peerIndex.byPublicIP.has(r.gateway) ? r.gateway : hostOfMac(r.gateway === undefined ? undefined : neighByKey.get(`${vx.name}|${r.gateway}`)?.lladdr), stale, dst)
      }
      for (const nb of (h.neighbors ?? []).filter(x => x.dev === vx.name && isIPv4(x.dst))) {
        if (isOther(peerIndex.byVtepAddress.get(nb.dst))) continue
        if (others.some(p => cidrContainsIp(p.subnet, nb.dst))) continue // old flannel: a neighbour per remote pod
        ofOlderLease(hostOfMac(nb.lladdr), add({code: 'STALE_NEIGH', severity: 'warning', node: name, message: `neighbour ${nb.dst} on ${vx.name} belongs to no node or lease`,
          evidence: nb.raw, fix: [`ip neigh del ${nb.dst} dev ${vx.name}`]}))
      }
      for (const f of (h.fdb ?? []).filter(x => x.dev === vx.name && x.dst && usableMac(x.mac))) {
        const byMac = peerIndex.byMac.get(f.mac.toLowerCase())
        const byIp = peerIndex.byPublicIP.get(f.dst!)
        const macPeer = isOther(byMac) ? byMac : undefined
        const ipPeer = isOther(byIp) ? byIp : undefined
        if (!macPeer && !ipPeer) {
          add({code: 'STALE_FDB', severity: 'warning', node: name, mac: f.mac, message: `fdb entry ${f.mac} → ${f.dst} on ${vx.name}: no node or lease has that VTEP`,
            evidence: f.raw, fix: [`bridge fdb del ${f.mac} dev ${vx.name} dst ${f.dst} self`]})
        } else if (macPeer && macPeer.publicIP && f.dst !== macPeer.publicIP) {
          add({code: 'WRONG_VTEP_HOST', severity: 'error', node: name, peer: peerLabel(macPeer), peerSubnet: macPeer.subnet, mac: f.mac,
            message: `fdb sends ${macPeer.name}'s VTEP MAC ${f.mac} to ${f.dst}, but ${macPeer.name}'s address is ${macPeer.publicIP}`,
            evidence: f.raw, fix: [`bridge fdb replace ${f.mac} dev ${vx.name} dst ${macPeer.publicIP} self permanent`, `bridge fdb del ${f.mac} dev ${vx.name} dst ${f.dst} self`]})
        } else if (!macPeer && ipPeer) {
          ofOlderLease(f.dst, add({code: 'STALE_FDB', severity: 'warning', node: name, peer: peerLabel(ipPeer), peerSubnet: ipPeer.subnet, mac: f.mac, message: `fdb entry ${f.mac} → ${f.dst} on ${vx.name}: ${peerLabel(ipPeer)}'s VTEP MAC is ${ipPeer.vtepMac ?? 'unknown'} now`,
            evidence: f.raw, fix: [`bridge fdb del ${f.mac} dev ${vx.name} dst ${f.dst} self`]}))
        }
      }
    }

    // host-gw's routes via the underlay to a node: one to a subnet no lease holds is left from that
    // node's older lease (flannelctl records them and sync deletes them; doctor cannot read the record,
    // so the route's shape stands in for it: inside the network, via a node's address)
    const under = n.underlay
    if (under && peersKnown && network !== undefined) {
      for (const r of routes.filter(x => x.dev === under.name && x.gateway !== undefined && isOther(peerIndex.byPublicIP.get(x.gateway)))) {
        const dst = normaliseDst(r.dst)
        if (dst === 'default' || !isCidr(dst) || dst === n.subnet || isOther(peerIndex.bySubnet.get(dst)) || !cidrWithin(parseCidr(dst), parseCidr(network))) continue
        if (others.some(p => cidrOverlaps(parseCidr(p.subnet), parseCidr(dst))) || (n.subnet !== undefined && cidrOverlaps(parseCidr(n.subnet), parseCidr(dst)))) continue
        const via = peerIndex.byPublicIP.get(r.gateway!)!
        ofOlderLease(r.gateway, add({code: 'STALE_ROUTE', severity: 'warning', node: name,
          message: `route to ${dst} via ${r.gateway} (${via.name}) on ${under.name}, but no node or lease holds that subnet`,
          evidence: r.raw, fix: [`ip route del ${dst} via ${r.gateway} dev ${under.name}`]}), dst)
      }
    }

    // DirectRouting: a peer on this node's segment is routed straight to its address, not through the tunnel.
    const direct = vx && backend?.type === 'vxlan' && backend.directRouting && h.routes !== undefined
      ? onLinkAddresses(routes, others.map(p => p.publicIP).filter((ip): ip is string => ip !== undefined)) : new Set<string>()

    // Missing entries: every peer subnet needs a route; over vxlan also the neighbour and fdb behind it.
    for (const p of others) {
      if (h.routes === undefined) break
      const who = peerLabel(p)
      const route = routeByDst.get(p.subnet) ?? specific.lookup(cidrToString(parseCidr(p.subnet)).split('/')[0])
      // routes pasted for one device (`ip route show dev flannel.1`) may lack one that exists elsewhere
      if (!route && h.routesFilter !== undefined) continue
      // a blackhole (unreachable, prohibit) route for the subnet is a route, not none: name it
      const nulled = route === undefined ? nullRoutes.find(r => cidrOverlaps(parseCidr(normaliseDst(r.dst)), parseCidr(p.subnet))) : undefined
      // no route of its own: the kernel takes the default one, and the router it names may route the subnet on
      const def = route === undefined && nulled === undefined ? routeByDst.get('default') : undefined
      const onward = def?.gateway !== undefined ? followGateway(world, def.gateway, gatewayAddress(p.subnet), gatewayAddress(n.subnet)) : undefined
      if (!route) {
        const offLink = !n.vxlan && p.publicIP !== undefined && !isOnLink(routes, p.publicIP)
        // the router of the default route, read, routes it nowhere: the route it lacks, where the peer is on its segment, mends it for every node behind it
        const routerFix = onward?.kind === 'dead-end' && p.publicIP !== undefined && onward.host.routes !== undefined && isOnLink(onward.host.routes.filter(inMainTable), p.publicIP)
          ? {node: onward.host.name, command: `ip route replace ${p.subnet} via ${p.publicIP}`} : undefined
        // flannel's own way across a router is vxlan (the migrate): the router's route is said, and is the fix only where flannelctl built nothing
        const routerSaid = onward?.kind === 'dead-end' ? `; its default route's router ${onward.host.name} (${onward.gateway}) has none either${
          routerFix !== undefined && !builtByOther(n) ? ` (\`${routerFix.command}\` on ${onward.host.name} would carry it)` : ''}` : ''
        // the peer's lease in the store, and this node still on entries of its older one: behind the peer's move
        const older = p.publicIP !== undefined && !offLink && !vxDown && leases?.some(l => l.subnet === p.subnet) ? olderLeaseEntries.get(p.publicIP) : undefined
        // unless its own tables say it lacks the route anyway: behind a peer's move, or its VTEP down
        if (onward?.kind === 'reaches' && older === undefined && !vxDown) continue
        if (onward?.kind === 'unread' && older === undefined && !vxDown) {
          add({code: 'ASSUMED', severity: 'warning', node: name, peer: who, peerSubnet: p.subnet,
            message: `${name} has no route of its own to ${who}'s pod subnet ${p.subnet}: its default route sends it to ${onward.gateway}, whose tables were not read: assumed ${onward.gateway} routes it on to ${p.name}${p.publicIP !== undefined ? ` (${p.publicIP})` : ''}; \`ip route get ${gatewayAddress(p.subnet)}\` there tells (if it does not, ${offLink
              ? `${onward.gateway} needs \`ip route replace ${p.subnet} via ${p.publicIP}\`` : `${name} needs \`${peerRouteFix(n, p)}\``})`,
            evidence: def!.raw})
          continue
        }
        const was = older?.find(o => o.subnet !== undefined)?.subnet
        // a node another built has no sync to lead: the entries by hand are its fix
        const sync = older && !builtByOther(n) ? behindMoveSync(name, who, p.subnet, {unpublished: unpublished.has(p.subnet), byHand: true}) : undefined
        add({code: 'MISSING_ROUTE', severity: 'error', node: name, peer: who, peerSubnet: p.subnet,
          message: offLink
            ? `no route to ${p.name}'s pod subnet ${p.subnet}${routerSaid}: ${p.name} (${p.publicIP}) is not on ${name}'s segment, and host-gw routes only to peers on it`
            : nulled !== undefined && !older ? `no route to ${who}'s pod subnet ${p.subnet} but a ${nulled.type} route: its pods' packets are discarded on ${name}`
            : `no route to ${who}'s pod subnet ${p.subnet}${routerSaid}${older ? `: ${who}'s lease moved there${was !== undefined ? ` from ${was}` : ''}, and ${name} has not synced since` : ''}`,
          evidence: nulled?.raw ?? (def !== undefined ? `(no route but the default: ${def.raw})` : '(no matching route)'),
          fixes: offLink ? (!builtByOther(n) ? [{node: name, command: OFF_SEGMENT_FIX, scope: 'network'}] : routerFix !== undefined ? [routerFix] : [{node: name, command: `ip route replace ${p.subnet} via ROUTER dev ${n.underlay?.name ?? 'eth0'}   # ROUTER: one on ${name}'s segment that routes ${p.subnet} on to ${p.publicIP} (host-gw routes only to peers on the segment)`}]) : sync ? [sync, ...byHandOn(name, peerEntriesByHand(n, p))]
            : builtByOther(n) ? [...(vxDown ? [`ip link set ${vx!.name} up`] : []), ...peerEntriesByHand(n, p)].map(command => ({node: name, command}))
            : n.vxlan ? ways(name, {why: 'sync: the route, with the neighbour and fdb entries behind it, as the store says them (every other peer\'s too)', commands: ['flannelctl sync']},
              {why: p.vtepMac !== undefined && p.publicIP !== undefined ? 'by hand: the route, with the neighbour and fdb entries behind it'
                : `by hand: the route (${p.name}'s VTEP MAC or address is not known here: its neighbour and fdb entries, sync writes)`,
              commands: [...(vxDown ? [`ip link set ${vx!.name} up`] : []), ...peerEntriesByHand(n, p)]})
              : [{node: name, command: peerRouteFix(n, p)}]})
        for (const o of older ?? []) {
          o.finding.message += ` (${who}'s, before its lease moved to ${p.subnet})`
          Object.assign(o.finding, {peer: who, peerSubnet: p.subnet})
          if (sync !== undefined) setFixes(o.finding, [sync, ...o.finding.fixes.map(f => ({...f, byHand: true as const}))])
        }
        continue
      }
      // host-gw's route to a peer behind a router: `onlink` let the kernel take a gateway no connected route covers, and ARP for it goes unanswered
      const gw = route.gateway
      if (gw !== undefined && under !== undefined && route.dev === under.name && h.addresses !== undefined && !onLinkAddresses(specific, [gw], under.name).has(gw)) {
        add({code: 'NEXT_HOP_NOT_ONLINK', severity: 'error', node: name, peer: who, peerSubnet: p.subnet,
          message: `route to ${who}'s pod subnet ${p.subnet} via ${gw}${route.onlink ? ' onlink' : ''} on ${under.name}, but no connected route of ${name} covers ${gw}: nothing on ${under.name}'s link answers ARP for it${
            gw === p.publicIP ? ` (${p.name}'s address, on another segment: host-gw routes only to peers on the node's own)` : ''}`,
          evidence: route.raw, fixes: notOnlinkRouteFixes(world, n, p, routeByDst.get('default'), builtByOther(n))})
        continue
      }
      if (!vx || route.dev !== vx.name || !route.gateway) continue
      if (p.publicIP !== undefined && direct.has(p.publicIP)) {
        const dev = addressDevice(h, specific, p.publicIP) ?? n.underlay?.name ?? 'eth0'
        add({code: 'DIRECT_ROUTING_NOT_APPLIED', severity: 'warning', node: name, peer: who, peerSubnet: p.subnet,
          message: `the network has DirectRouting and ${p.name} (${p.publicIP}) is on ${name}'s segment, but ${name} routes ${p.subnet} through ${vx.name}`,
          evidence: route.raw, fixes: builtByOther(n) ? [{node: name, command: `ip route replace ${p.subnet} via ${p.publicIP} dev ${dev}`}] : ways(name, {why: 'sync: every peer on the segment routed directly, as the network config says, and the VTEP entries those no longer use removed', commands: ['flannelctl sync']},
            {why: `by hand, this route alone (the next sync makes the same, and removes ${p.name}'s VTEP entries)`, commands: [`ip route replace ${p.subnet} via ${p.publicIP} dev ${dev}`]})})
        continue
      }
      const nb = neighByKey.get(`${vx.name}|${route.gateway}`)
      if (h.neighbors !== undefined && capturedFor(h.neighborDevices, vx.name) && (!nb || !usableMac(nb.lladdr))) {
        // the fdb entry behind it too when that is missing: otherwise the fix leaves the next finding
        const fdbToo = p.vtepMac !== undefined && p.publicIP !== undefined && h.fdb !== undefined && capturedFor(h.fdbDevices, vx.name) && !fdbMacs.has(`${vx.name}|${p.vtepMac.toLowerCase()}`)
        add({code: 'MISSING_NEIGH', severity: 'error', node: name, peer: who, peerSubnet: p.subnet, message: `no neighbour entry for ${route.gateway} (${p.name}'s VTEP) on ${vx.name}`,
          evidence: route.raw, fix: p.vtepMac ? [`ip neigh replace ${route.gateway} lladdr ${p.vtepMac} dev ${vx.name} nud permanent`,
            ...(fdbToo ? [`bridge fdb append ${p.vtepMac} dev ${vx.name} dst ${p.publicIP} self permanent`] : [])]
            : builtByOther(n) ? [`ip neigh replace ${route.gateway} lladdr VTEP_MAC dev ${vx.name} nud permanent   # VTEP_MAC: ${p.name}'s VTEP's (\`ip link show\` on it), not known here`]
              : ['flannelctl sync']})
        continue
      }
      if (!nb?.lladdr) continue
      if (p.vtepMac && nb.lladdr.toLowerCase() !== p.vtepMac.toLowerCase() && p.name !== `lease ${p.subnet}`) {
        add({code: 'VTEP_MAC_DRIFT', severity: 'error', node: name, peer: who, peerSubnet: p.subnet, mac: nb.lladdr,
          message: `neighbour ${route.gateway} says ${p.name}'s VTEP MAC is ${nb.lladdr}, but ${p.name}'s VTEP has ${p.vtepMac} (it was recreated)${
            unpublished.has(p.subnet) ? `; ${p.name}'s lease still announces the old MAC, so a sync here puts it back until ${p.name} publishes the new one (VTEP_MAC_NOT_PUBLISHED)` : ''}`,
          evidence: nb.raw, fix: [`ip neigh replace ${route.gateway} lladdr ${p.vtepMac} dev ${vx.name} nud permanent`,
            ...(p.publicIP ? [`bridge fdb replace ${p.vtepMac} dev ${vx.name} dst ${p.publicIP} self permanent`, `bridge fdb del ${nb.lladdr} dev ${vx.name} dst ${p.publicIP} self`] : [])]})
        continue
      }
      if (h.fdb !== undefined && capturedFor(h.fdbDevices, vx.name) && !fdbMacs.has(`${vx.name}|${nb.lladdr.toLowerCase()}`)) {
        add({code: 'MISSING_FDB', severity: 'error', node: name, peer: who, peerSubnet: p.subnet, mac: nb.lladdr, message: `no fdb entry on ${vx.name} for ${p.name}'s VTEP MAC ${nb.lladdr}`,
          evidence: nb.raw, fix: p.publicIP ? [`bridge fdb append ${nb.lladdr} dev ${vx.name} dst ${p.publicIP} self permanent`]
            : builtByOther(n) ? [`bridge fdb append ${nb.lladdr} dev ${vx.name} dst ADDRESS self permanent   # ADDRESS: ${p.name}'s, not known here`] : ['flannelctl sync']})
      }
    }
  }
  // A drifted VTEP MAC also leaves its fdb entry behind; the drift finding's fix removes it already.
  const drifted = new Set(findings.filter(f => f.code === 'VTEP_MAC_DRIFT').map(f => `${f.node}|${f.mac?.toLowerCase()}`))
  return findings.filter(f => f.code !== 'STALE_FDB' || !drifted.has(`${f.node}|${f.mac?.toLowerCase()}`))
}

/**
 * A pair that fails on a node behind a peer's move: the trace patches the entries it meets, one by
 * one, where that node's sync (as its host findings say) replaces them all. It leads that node's fixes.
 * The findings are read by their code, node, peer and fixes, never by their messages' words.
 */
export function syncBehindNodesFirst(world: World, pairs: PairResult[], findings: DoctorFinding[]): void {
  const behind = new Map(findings.filter(f => f.code === 'MISSING_ROUTE' && f.fixes[0]?.sync === 'peer').map(f => [f.node, f]))
  const foreign = new Set(flannelPeers(world, world.leases).filter(builtByOther).map(n => n.host.name))
  const nodeOf = new Map(world.pods.map(p => [p.name, p.node]))
  const unpublished = new Map(findings.filter(f => f.code === 'VTEP_MAC_NOT_PUBLISHED').map(f => [f.node, f.fixes[0]]))
  for (const p of pairs) {
    const first = p.fix.findIndex(f => behind.has(f.node))
    // trace leads with the same sync where it sees the move itself
    if (first >= 0 && p.fix[first].sync === undefined) {
      const node = p.fix[first].node
      // the trace's commands of that node after it are what its sync does, by hand
      p.fix = [...p.fix.slice(0, first), behind.get(node)!.fixes[0],
        ...p.fix.slice(first).map(f => f.node === node && f.scope === undefined ? {...f, byHand: true as const} : f)]
    }
    // A pod left on the moved node's old subnet is re-created into the new one, which the other
    // pod's node routes only once it has synced: the trace, dying at the stranded pod, cannot see that.
    const recreate = p.fix.find(f => f.recreates !== undefined)
    if (recreate === undefined) continue
    // and it comes last, after the entries of every node that will route its new address (a reply's come after it in the trace)
    p.fix = [...p.fix.filter(f => f !== recreate), recreate]
    const stranded = recreate.recreates!
    const home = nodeOf.get(stranded)
    const other = nodeOf.get(stranded === p.from ? p.to : p.from)
    if (home === undefined || other === undefined) continue
    const drifted = findings.some(f => f.code === 'VTEP_MAC_DRIFT' && f.node === other && f.peer === home)
    // a node another built has no sync to lead (its host findings' fixes are the kernel's)
    if ((behind.has(other) || (drifted && !foreign.has(other))) && !p.fix.some(f => f.node === other && f.sync !== undefined)) {
      // no command of that node by hand follows this one here: the host check's MISSING_ROUTE lists them
      const move = behind.get(other)
      p.fix.unshift(move !== undefined
        ? behindMoveSync(other, move.peer!, move.peerSubnet!, {unpublished: unpublished.has(move.peer!), byHand: false})
        : peerMacSync(other, home))
    }
    // the other node's sync writes what the moved node's lease announces: its own sync publishes its VTEP's MAC first
    const publish = unpublished.get(home)
    if (publish !== undefined && p.fix.some(f => f.node === other) && !p.fix.some(f => f.node === home && f.command === publish.command)) p.fix.unshift(publish)
  }
}

function mostCommon(values: number[]): number | undefined {
  const counts = new Map<number, number>()
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1)
  let best: number | undefined
  for (const [v, c] of counts) if (best === undefined || c > counts.get(best)! || (c === counts.get(best)! && v > best)) best = v
  return best
}

/** A cheap shape check: this runs once per route of every node, a million times on a big snapshot. */
function isCidr(s: string): boolean {
  return /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\/\d{1,2}$/.test(s)
}

/**
 * The node's address other nodes share a subnet with, other than `not` (the address every node
 * announces): the interface flannel should have chosen on a multi-NIC host.
 */
function reachableAddress(n: NodeFacts, nodes: NodeFacts[], not: string): {dev: string, local: string} | undefined {
  const own = (n.host.addresses ?? []).filter(a => a.family === 4 && a.local !== not && a.scope !== 'host' && !a.local.startsWith('127.')
    && a.dev !== n.bridge?.name && a.dev !== n.vxlan?.name && a.prefixlen < 32)
  // (the shared address counts on the others: a node that borrowed it from its owner shares the owner's segment)
  const others = nodes.filter(o => o !== n).flatMap(o => (o.host.addresses ?? []).filter(a => a.family === 4).map(a => a.local))
  const shared = own.find(a => others.some(ip => cidrContainsIp(`${a.local}/${a.prefixlen}`, ip)))
  return shared === undefined ? undefined : {dev: shared.dev, local: shared.local}
}

/**
 * A new subnet for a node an older flanneld built: flanneld on start takes back the lease naming its
 * address, else the one of the subnet its subnet.env names (whoever holds it: how a duplicate
 * lives on), else a free one; the bridge then takes it. So the store's lease decides which of the
 * two moves: the one it does not name (`other` otherwise).
 */
function flanneldNewSubnet(n: PeerNode, other: string): string[] {
  const bridge = n.bridge!.name
  return [`etcdctl get /coreos.com/network/subnets/${cidrToKey(n.subnet)}   # if its PublicIP is ${n.publicIP ?? 'this node\'s address'}, this node takes the lease back on start: move ${other} instead, the same way`,
    'systemctl stop flanneld', `rm ${DEFAULT_SUBNET_FILE}   # else it asks for ${n.subnet} again`, 'systemctl start flanneld   # it leases a free subnet',
    bridge === 'docker0' ? 'systemctl restart docker   # docker0 takes the new subnet (--bip from subnet.env: mk-docker-opts.sh); then re-create its containers'
      : `ip link del ${bridge}   # the CNI bridge plugin makes it again on the new subnet; then re-create its pods`]
}

/** A new subnet for a node built by hand: the first of the network no node or lease holds, on its bridge, its peers' routes following. */
function newSubnetByHand(n: PeerNode, network: string | undefined, held: string[]): string[] {
  const bridge = n.bridge!.name
  const now = (n.host.addresses ?? []).find(a => a.dev === bridge && a.family === 4 && a.prefixlen < 32)
  const len = parseCidr(n.subnet).prefixlen
  let free: string | undefined
  try {
    free = network === undefined ? undefined : freeSubnets(parseNetConf(JSON.stringify({Network: network, SubnetLen: len, Backend: {Type: 'host-gw'}})), held, 1)[0]
  } catch {
    free = undefined // a subnet of another size than the network's config allows: said as a blank
  }
  return [...(now !== undefined ? [`ip addr del ${now.local}/${now.prefixlen} dev ${bridge}`] : []),
    `ip addr add ${free !== undefined ? `${gatewayAddress(free)}/${len}` : 'ADDRESS/LEN'} dev ${bridge}   # ${free !== undefined ? `${free}, free` : 'a free subnet'} in the network; then each peer's route to it${n.publicIP !== undefined ? ` via ${n.publicIP}` : ''}, and its pods re-created`]
}

/**
 * Moves a VTEP that another than flannelctl built to the address its peers reach it on: an older
 * flanneld re-makes it from its flags on restart (so those say the address), a hand-made one
 * takes the address in place, and its peers' fdb entries follow.
 */
function vtepAddressFixes(n: PeerNode, nodes: PeerNode[], right: {dev: string, local: string} | undefined): Fix[] {
  const name = n.host.name
  const vx = n.vxlan!
  const addr = right?.local ?? 'ADDRESS'
  // every node announcing one address shares its lease: flanneld would ask for that lease's subnet again
  if (n.maker === 'older flanneld') return flanneldAddressFixes(name, vx.name, right?.dev, right?.local, {bridge: n.bridge?.name})
  const peersFdb = vx.mac === undefined ? [] : nodes.filter(o => o !== n && o.vxlan !== undefined)
    .map(o => ({node: o.host.name, command: `bridge fdb replace ${vx.mac} dev ${o.vxlan!.name} dst ${addr} self permanent`}))
  return [{node: name, command: `ip link set ${vx.name} type vxlan local ${addr}${right !== undefined ? ` dev ${right.dev}` : ''}`}, ...peersFdb]
}

/** Where a packet handed to `gateway` for `dst` ends, by the routes of the hosts read, as the kernel of each looks it up. */
type Onward = {kind: 'reaches'} | {kind: 'unread'; gateway: string} | {kind: 'dead-end'; host: HostSnapshot; gateway: string}

/**
 * Follows a pod's packet (from `src` to `dst`) from the router `gateway` on, hop by hop, each host's
 * policy rules and tables as its kernel looks them up: a host with a connected route to `dst` (the
 * peer's bridge, or a link the subnet is on) reaches it; a gateway no host read owns, routes not
 * read (a table a rule looks up, a paste filtered to some devices) leave it unknown; no route, a
 * null route or a loop is a dead end there.
 */
function followGateway(world: World, gateway: string, dst: string, src: string): Onward {
  const seen = new Set<string>()
  let gw = gateway
  let first: {host: HostSnapshot; gateway: string} | undefined
  for (let hop = 0; hop < 16; hop++) {
    const host = world.hosts.find(h => (h.addresses ?? []).some(a => a.local === gw))
    if (host?.routes === undefined) return {kind: 'unread', gateway: gw}
    first ??= {host, gateway: gw}
    if (seen.has(host.name)) return {kind: 'dead-end', ...first}
    seen.add(host.name)
    const r = forwardingRoute(host, dst, src, host.addresses!.find(a => a.local === gw)!.dev)
    if (r === 'unknown' || (r === undefined && host.routesFilter !== undefined)) return {kind: 'unread', gateway: gw}
    if (r === undefined || r.type !== 'unicast') return {kind: 'dead-end', host, gateway: gw}
    if (r.gateway === undefined) return {kind: 'reaches'}
    gw = r.gateway
  }
  return {kind: 'dead-end', ...first!}
}

/** The route a host forwards a packet by, arriving on `iif`: its main table, or its policy rules where it has more than the kernel's own. */
function forwardingRoute(host: HostSnapshot, dst: string, src: string, iif: string): Route | undefined | 'unknown' {
  const main = new RouteTable(host.routes ?? [])
  if (host.rules === undefined) return main.lookup(dst)
  const policy = new PolicyRouter(host.routes ?? [], host.rules, main)
  if (policy.onlyDefaultRules) return main.lookup(dst)
  const res = policy.lookup({dst, src, iif})
  return res.missingTable !== undefined ? 'unknown' : res.route
}

/** The device a host reaches an on-link address by. */
function addressDevice(h: HostSnapshot, specific: RouteTable, ip: string): string | undefined {
  return specific.lookup(ip)?.dev ?? h.addresses?.find(a => a.family === 4 && cidrContainsIp(`${a.local}/${a.prefixlen}`, ip))?.dev
}

/** The kernel refuses a gateway it reaches only through another one: vxlan carries such a peer. */
const offSegmentFix = (nodes = '') => `flannelctl migrate --backend vxlan --directrouting${nodes}   # direct routes on the segment, vxlan across the router`
const OFF_SEGMENT_FIX = offSegmentFix()

/** What a sync writes for a peer, by hand: its route, and over vxlan the neighbour and fdb entries behind it. */
function peerEntriesByHand(n: NodeFacts, p: PeerFacts): string[] {
  if (!n.vxlan || p.vtepMac === undefined || p.publicIP === undefined) return [peerRouteFix(n, p)]
  const vtep = p.subnet.split('/')[0]
  return [`ip route replace ${p.subnet} via ${vtep} dev ${n.vxlan.name} onlink`, `ip neigh replace ${vtep} lladdr ${p.vtepMac} dev ${n.vxlan.name} nud permanent`,
    `bridge fdb append ${p.vtepMac} dev ${n.vxlan.name} dst ${p.publicIP} self permanent`]
}

/**
 * What mends a route to peer `p` via a gateway off the node's segment, as the kernel's commands: the
 * route through the node's VTEP where it has one (vxlan, DirectRouting), else through the router
 * its default route names, which must route the subnet on too (said on it where it was read).
 * Without either, a network flannelctl built carries such peers over vxlan (OFF_SEGMENT_FIX).
 */
function notOnlinkRouteFixes(world: World, n: NodeFacts, p: PeerFacts, def: Route | undefined, other: boolean): Fix[] {
  const name = n.host.name
  const dev = n.underlay!.name
  if (n.vxlan && p.vtepMac !== undefined && p.publicIP !== undefined) return peerEntriesByHand(n, p).map(command => ({node: name, command}))
  const router = def?.gateway !== undefined && def.dev === dev ? def.gateway : undefined
  if (router === undefined) return other ? [{node: name, command: `ip route del ${p.subnet} via ${p.publicIP ?? 'GATEWAY'} dev ${dev}`}] : [{node: name, command: OFF_SEGMENT_FIX, scope: 'network'}]
  const routerHost = world.hosts.find(h => (h.addresses ?? []).some(a => a.local === router))
  const onward = routerHost?.routes === undefined ? undefined : new RouteTable(routerHost.routes.filter(r => inMainTable(r) && normaliseDst(r.dst) !== 'default')).lookup(p.subnet.split('/')[0])
  const routerNeeds = routerHost !== undefined && onward?.type !== 'unicast' && p.publicIP !== undefined
  return [{node: name, command: `ip route replace ${p.subnet} via ${router} dev ${dev}${routerNeeds ? '' : `   # the router ${router} must route ${p.subnet} on to ${p.publicIP ?? p.name}`}`},
    ...(routerNeeds ? [{node: routerHost.name, command: `ip route replace ${p.subnet} via ${p.publicIP}`}] : [])]
}

function peerRouteFix(n: NodeFacts, p: PeerFacts): string {
  if (n.vxlan) return `ip route replace ${p.subnet} via ${p.subnet.split('/')[0]} dev ${n.vxlan.name} onlink`
  return `ip route replace ${p.subnet} via ${p.publicIP ?? 'PEER_IP'} dev ${n.underlay?.name ?? 'eth0'}`
}

/** Problems a trace shows that are worth an exit code even when the packet arrives. */
const BAD_WARNINGS = new Set(['SOURCE_NATED', 'NO_RETURN_ROUTE'])

function pairFromTrace(from: string, to: string, t: Trace): PairResult {
  const warn = t.warnings.filter(w => w.code !== 'ASSUMED')
  const bad = warn.find(w => BAD_WARNINGS.has(w.code))
  const failure = t.failure ?? (t.returnPath.disposition !== 'DELIVERED' ? t.returnPath.failure : undefined)
  return {
    from, to, disposition: t.disposition,
    node: failure?.node ?? bad?.node,
    reason: failure?.reason ?? bad?.message,
    fix: failure?.fix ?? (bad?.code === 'SOURCE_NATED' ? sourceNatFixes(t) : []),
    warnings: [...new Set(warn.map(w => w.code))],
  }
}

export function pairIsBad(p: PairResult): boolean {
  return p.disposition !== 'DELIVERED' || p.warnings.some(w => BAD_WARNINGS.has(w)) || p.ping === false
}

/** The MTU of the pod's own interface, when its namespace was captured: the largest packet it sends. */
function podMtu(world: World, pod: World['pods'][number]): number | undefined {
  const ns = pod.netns === undefined ? undefined : world.hosts.find(h => h.name === pod.netns)
  const dev = ns?.addresses?.find(a => a.local === pod.ip)?.dev
  return dev === undefined ? undefined : ns?.links?.find(l => l.name === dev)?.mtu
}

/** Above this many pods the matrix takes one pod per node: paths differ by node, not by pod. */
export const MATRIX_POD_LIMIT = 60

export function matrixPods(world: World): World['pods'] {
  if (world.pods.length <= MATRIX_POD_LIMIT) return world.pods
  const seen = new Set<string>()
  return world.pods.filter(p => !seen.has(p.node) && seen.add(p.node))
}

/** An ASSUMED warning of the matrix's traces (its table, where it stands in for one not captured), with the pairs that rest on it. */
type AssumedInMatrix = Pick<TraceWarning, 'node' | 'message' | 'table'> & {pairs: string[]}

/** the ASSUMED warning of a traceroute hop whose time-exceeded may not get back (trace's answerProbe) */
const TRACEROUTE_GUESS = /; traceroute's \S+ is a guess \(it prints `\*` if the error is lost\)$/

/**
 * Trace every ordered pair of the matrix's pods, with full-size packets where the pod's MTU is known.
 * `assumed` collects the ASSUMED warnings of the pairs' traces, by node and message, with the pairs that rest on each.
 */
export function podMatrix(world: World, assumed?: Map<string, AssumedInMatrix>): PairResult[] {
  const out: PairResult[] = []
  const pods = matrixPods(world)
  for (const a of pods) {
    const size = podMtu(world, a)
    for (const b of pods) {
      // docker hosts' containers share addresses (172.17.0.2 on each): such a pair cannot address each other
      if (a === b || a.ip === b.ip) continue
      const t = traceWorld(world, {src: a.name, dst: b.name, size})
      for (const w of t.warnings) {
        // (the matrix judges delivery: a guess about which address traceroute prints is not one it rests on)
        if (assumed === undefined || w.code !== 'ASSUMED' || TRACEROUTE_GUESS.test(w.message)) continue
        const key = `${w.node}|${w.message}`
        const seen = assumed.get(key) ?? {node: w.node, message: w.message, ...(w.table !== undefined ? {table: w.table} : {}), pairs: []}
        seen.pairs.push(`${a.name}→${b.name}`)
        assumed.set(key, seen)
      }
      out.push(pairFromTrace(a.name, b.name, t))
    }
  }
  return out
}

const IPV4_IN_TEXT = /\b\d{1,3}(?:\.\d{1,3}){3}\b/g
const POD_IN_TEXT = /\bpod (\S+) \((\d{1,3}(?:\.\d{1,3}){3})\)/

/** A message with its pod and addresses taken out: the same assumption about different pods reads the same. */
function addressShape(message: string): string {
  return message.replace(POD_IN_TEXT, 'pod P').replace(IPV4_IN_TEXT, 'A')
}

/** Whom an assumption is about: its pod's name, else its first address. */
function assumedAbout(message: string): string {
  return POD_IN_TEXT.exec(message)?.[1] ?? message.match(IPV4_IN_TEXT)?.[0] ?? message
}

/**
 * What the matrix's verdicts rest on beyond the tables read (a table not captured, an undecidable
 * match): a pair that is fine only if an assumption holds must not make the report read as a plain
 * "healthy". One warning per node and table not captured (its assumptions said together, the head
 * they share once), else one per assumption, naming the pairs that rest on it.
 */
function assumedFindings(assumed: Map<string, AssumedInMatrix>): DoctorFinding[] {
  const groups = new Map<string, {node: string, messages: string[], pairs: string[], alike: boolean}>()
  for (const a of assumed.values()) {
    // where a table was not captured, each use the walk made of it is its own warning (each device taken as up, each MTU not checked): one table missing all the same;
    // one assumption made of many addresses (every idle pod of a node: no neighbour entry) is one warning too, not one a pod
    const key = a.table !== undefined ? `${a.node}|${a.table}` : `${a.node}|${addressShape(a.message)}`
    const g = groups.get(key) ?? {node: a.node, messages: [], pairs: [], alike: a.table === undefined}
    g.messages.push(a.message)
    for (const p of a.pairs) if (!g.pairs.includes(p)) g.pairs.push(p)
    groups.set(key, g)
  }
  return [...groups.values()].map(g => {
    const heads = new Set(g.messages.map(m => m.slice(0, m.indexOf(': ') + 2)))
    const others = g.alike ? [...new Set(g.messages.slice(1).map(assumedAbout))] : []
    const said = g.messages.length === 1 ? g.messages[0]
      : g.alike ? `${g.messages[0]} (the same for ${g.messages.length - 1} more: ${others.slice(0, 3).join(', ')}${others.length > 3 ? ', …' : ''})`
      : heads.size === 1 && !heads.has('') ? `${[...heads][0]}${g.messages.map(m => m.slice(m.indexOf(': ') + 2)).join('; ')}` : g.messages.join('; ')
    return finding({code: 'ASSUMED', severity: 'warning', node: g.node,
      message: `${g.pairs.length === 1 ? `pair ${g.pairs[0]} holds` : `${g.pairs.length} pairs (${g.pairs.slice(0, 3).join(', ')}${g.pairs.length > 3 ? ', …' : ''}) hold`} only if ${g.messages.length === 1 ? 'this does' : 'these do'}: ${said}`})
  })
}

/**
 * A pod reaching its own node (DNS or a metrics agent on the host, the replies to kubelet's probes):
 * a host firewall that drops it leaves every pod-to-pod pair green. One pod per node is traced.
 */
export function podToNodeChecks(world: World, pairs: PairResult[] = []): DoctorFinding[] {
  const findings: DoctorFinding[] = []
  const nodes = new Set(world.hosts.map(h => h.name))
  const seen = new Set<string>()
  for (const pod of matrixPods(world)) {
    if (seen.has(pod.node) || !nodes.has(pod.node)) continue
    seen.add(pod.node)
    let t: Trace
    try {
      t = traceWorld(world, {src: pod.name, dst: pod.node})
    } catch {
      continue // a node without an address of its own to trace to
    }
    const failure = t.failure ?? (t.disposition === 'DELIVERED' && t.returnPath.disposition !== 'DELIVERED' ? t.returnPath.failure : undefined)
    if (failure === undefined || t.disposition === 'INSUFFICIENT_INFO' || t.returnPath.disposition === 'INSUFFICIENT_INFO') continue
    // the pod's own pairs already fail there for the same reason (its gateway unanswered): said once, with them
    if (pairs.some(p => p.from === pod.name && p.node === failure.node && p.reason === failure.reason)) continue
    const way = t.failure === undefined ? `the reply from ${pod.node} to ${pod.name} is lost` : `${pod.name} cannot reach its own node ${pod.node}`
    // named by the host its fix runs on, as every other finding: the failure's hop may be the pod (no ARP answer for its gateway) while the fix is on its node
    const where = failure.fix[0]?.node ?? failure.node
    findings.push(finding({code: 'POD_TO_NODE', severity: 'error', node: where,
      message: `${way} (${t.failure === undefined ? t.returnPath.disposition : t.disposition}): ${failure.reason}`,
      evidence: failure.evidence, fixes: failure.fix}))
  }
  return findings
}

/**
 * Where each flannel node keeps its rules, and what does not fit: both places (left from a switch
 * of EnableNFTables), neither (flushed), or another place than the store's network config says (`enableNFTables`
 * undefined: the config was not read).
 */
export function rulesChecks(world: World, enableNFTables?: boolean): {rules: Record<string, NodeRulesMode>; findings: DoctorFinding[]} {
  const rules: Record<string, NodeRulesMode> = {}
  const findings: DoctorFinding[] = []
  for (const n of flannelPeers(world, world.leases)) {
    const name = n.host.name
    const inPlace = rulesMode(n.host)
    const old = olderFlanneldRulesOf(n.host)
    // an older flanneld's rules are in no chain of flannel's: where nftables was not read, its iptables rules tell where they are all the same
    const mode: NodeRulesMode = old !== undefined && (inPlace === 'none' || inPlace === 'unknown') ? 'old-flanneld' : inPlace
    rules[name] = mode
    const fix = ['flannelctl sync   # moves them where the network config says (EnableNFTables), then removes the others']
    const masqCut = mode === 'iptables' ? masqueradeCut(n.host) : undefined
    if (mode === 'both') {
      findings.push(finding({code: 'RULES_IN_BOTH', severity: 'warning', node: name,
        message: `${name} has flannel's rules both in iptables (FLANNEL-FWD, FLANNEL-POSTRTG) and in flanneld's nftables table ${NFT_TABLE_V4}: one set is left from a switch of EnableNFTables`, fix}))
    } else if (mode === 'none') {
      // what `nft flush ruleset` or a firewall's restart leaves: forwarding still works, so no pair shows it
      const none = builtByOther(n)
        // a node flannelctl did not build may never have had them: a flanneld without --ip-masq writes no masquerade
        ? `${name} has no rules of flannel's in any version's place (no FLANNEL-FWD or FLANNEL-POSTRTG chain, no nftables table ${NFT_TABLE_V4}, no older flanneld's masquerade in POSTROUTING; a flanneld without --ip-masq writes none)`
        : `${name} has none of flannel's rules (no FLANNEL-FWD or FLANNEL-POSTRTG chain, no nftables table ${NFT_TABLE_V4}; removed by \`nft flush ruleset\`, a firewall's restart or by hand?)`
      findings.push(finding({code: 'RULES_MISSING', severity: 'warning', node: name,
        message: `${none}: its pods' traffic leaving the network is not masqueraded, so hosts outside it cannot answer, and nothing of flannel's accepts forwarded pod traffic`,
        fix: builtByOther(n) ? oldFlanneldRules(podNetworkOf(world) ?? n.subnet) : ['flannelctl sync   # writes them again where the network config says (EnableNFTables)']}))
    } else if (mode === 'old-flanneld' && !old!.masquerade) {
      // its commented accepts are still in FORWARD: `iptables -t nat -F` took the masquerade alone
      findings.push(finding({code: 'MASQ_MISSING', severity: 'warning', node: name,
        message: `${name}'s older flanneld rules (before 0.20) accept ${old!.network} in FORWARD, but their masquerade in POSTROUTING is gone (\`iptables -t nat -F\`, a firewall's restart?): its pods' traffic leaving the network is not masqueraded, so hosts outside it cannot answer`,
        fix: oldFlanneldMasquerade(old!.network)}))
    } else if (masqCut !== undefined) {
      // `iptables -t nat -F` leaves the chain empty and unjumped: pod pairs all work, so no trace shows it
      findings.push(finding({code: 'MASQ_MISSING', severity: 'warning', node: name,
        message: `${name}'s ${MASQ_CHAIN} ${masqCut} (\`iptables -t nat -F\`, a firewall's restart?): its pods' traffic leaving the network is not masqueraded, so hosts outside it cannot answer`,
        fix: ['flannelctl sync   # writes the chain and its jump again']}))
    } else if (enableNFTables !== undefined && (mode === 'iptables' || mode === 'nftables') && (mode === 'nftables') !== enableNFTables) {
      findings.push(finding({code: 'RULES_MODE_MISMATCH', severity: 'warning', node: name,
        message: `${name} keeps flannel's rules in ${mode}, but the network config says ${enableNFTables ? '"EnableNFTables": true (nftables)' : 'iptables (no EnableNFTables)'}: it has not synced since the config changed`, fix}))
    }
  }
  return {rules, findings}
}

/** What an older flanneld wrote where flannel's rules now go in chains of their own: its masquerade in POSTROUTING, its accepts in FORWARD. */
function oldFlanneldRules(network: string): string[] {
  return [...oldFlanneldMasquerade(network), ...forwardAcceptHint(network)]
}

/** An older flanneld's masquerade: pod to pod keeps its source, pod traffic leaving the network (multicast aside) is masqueraded. */
function oldFlanneldMasquerade(network: string): string[] {
  return [`iptables -t nat -A POSTROUTING -s ${network} -d ${network} -j RETURN`, `iptables -t nat -A POSTROUTING -s ${network} ! -d 224.0.0.0/4 -j MASQUERADE`]
}

/** What is wrong with a node's masquerade chain, when it has one: empty, or not jumped to. */
function masqueradeCut(h: HostSnapshot): string | undefined {
  const rules = h.iptables?.rules ?? []
  if (!h.iptables?.chains.some(c => c.table === 'nat' && c.name === MASQ_CHAIN)) return undefined
  const masquerades = rules.some(r => r.table === 'nat' && r.chain === MASQ_CHAIN && /-j MASQUERADE\b/.test(r.spec))
  const jumped = rules.some(r => r.table === 'nat' && r.chain === 'POSTROUTING' && new RegExp(`-j ${MASQ_CHAIN}\\b`).test(r.spec))
  if (masquerades && jumped) return undefined
  return !masquerades && !jumped ? 'is empty and POSTROUTING no longer jumps to it' : !masquerades ? 'holds no MASQUERADE rule' : 'is not jumped to from POSTROUTING'
}

/**
 * The pod network doctor's accepts name (and its traces', so the two say one thing): the store's
 * net-conf when read, else guessed from the addresses of the pods and of the nodes' and leases'
 * subnets (a node without pods needs covering too).
 */
export function podNetworkOf(world: World, leases?: {subnet: string}[]): string | undefined {
  if (world.network !== undefined) return world.network
  const subnets = flannelPeers(world, leases ?? world.leases).map(n => n.subnet)
  return podNetworkGuess([...world.pods.map(p => p.ip), ...[...subnets, ...(leases ?? []).map(l => l.subnet)].map(s => s.split('/')[0])].filter(isIPv4))
}

/**
 * The nodes read are not all of the network's: the inventory says so (`partial: true`), or some of
 * its nodes could not be read. An entry for a peer no node read accounts for is then not stale.
 */
function readsPart(world: World): boolean {
  return world.partial === true || (world.unread?.length ?? 0) > 0
}

/**
 * A node collect could not read: nothing of it is checked and its pods' pairs end where its tables
 * are missing, so the report must not read as healthy for want of evidence.
 */
function unreadHostFindings(world: World): DoctorFinding[] {
  return (world.unread ?? []).map(u => finding({code: 'HOST_NOT_READ', severity: 'error', node: u.name,
    message: `${u.name}'s tables are missing: it could not be read, so nothing of it is checked and a path through it ends where the tables run out`,
    evidence: `unread: ${u.reason}`}))
}

export function diagnose(given: World, source: string, leases?: Parameters<typeof hostChecks>[1], backend?: Parameters<typeof hostChecks>[2], enableNFTables?: boolean): DoctorReport {
  const network = podNetworkOf(given, leases)
  // the store's leases go with the world: the traces say by them why an entry is stale
  const world = {...given, ...(network !== undefined ? {network} : {}), ...(leases !== undefined ? {leases} : {})}
  const podHosts = new Set(world.pods.map(p => p.netns).filter(Boolean))
  const assumed = new Map<string, AssumedInMatrix>()
  const pairs = podMatrix(world, assumed)
  const rules = rulesChecks(world, enableNFTables)
  const findings = [...unreadHostFindings(world), ...hostChecks(world, leases, backend), ...rules.findings, ...podToNodeChecks(world, pairs), ...assumedFindings(assumed)]
  syncBehindNodesFirst(world, pairs, findings)
  return {
    source,
    nodes: world.hosts.filter(h => !podHosts.has(h.name)).map(h => h.name),
    pods: matrixPods(world).map(p => p.name),
    sampled: matrixPods(world).length < world.pods.length,
    pairs, findings, rules: rules.rules,
    healthy: !pairs.some(pairIsBad) && !findings.some(f => f.severity === 'error'),
  }
}

async function pingPairs(src: LoadedSource, pairs: PairResult[], progress?: (m: string) => void): Promise<void> {
  const pods = src.world.pods
  if (src.lab) {
    const results = await new Lab().pingMatrix(src.lab)
    for (const p of pairs) p.ping = results.find(r => r.from === p.from && r.to === p.to)?.ok
    return
  }
  const runners = new Map<string, Runner>(src.live.filter(h => h.role === 'pod').map(h => [h.name, h.runner]))
  const queue = pairs.filter(p => runners.has(p.from))
  if (queue.length < pairs.length) progress?.(`--ping: ${pairs.length - queue.length} pairs have no pod namespace to ping from (give pods a netns: in the inventory)`)
  const worker = async () => {
    for (let p = queue.shift(); p; p = queue.shift()) {
      const dst = pods.find(x => x.name === p!.to)!
      const r = await runners.get(p.from)!.run({file: 'ping', args: ['-c', '1', '-W', '1', '-q', dst.ip]})
      p.ping = r.exitCode === 0
    }
  }
  await Promise.all(Array.from({length: 8}, worker))
}

/**
 * Real pings that fail where the tables deliver, over a vxlan device with UDP checksum offload on:
 * the known cause below the tables (design.md, flannel's troubleshooting), which only ethtool on the
 * sending node shows. Asked only on such a disagreement, so a healthy cluster is never told.
 */
export async function checksumOffloadSuspects(src: LoadedSource, pairs: PairResult[]): Promise<DoctorFinding[]> {
  const senders = new Map<string, string>()
  for (const p of pairs.filter(x => x.ping === false && x.disposition === 'DELIVERED')) {
    const t = traceWorld(src.world, {src: p.from, dst: p.to})
    for (const hop of t.hops) if (hop.steps.some(s => s.kind === 'encap') && !senders.has(hop.node)) senders.set(hop.node, hop.out)
  }
  const findings: DoctorFinding[] = []
  for (const [node, dev] of senders) {
    const runner = src.live.find(h => h.name === node && h.role === 'node')?.runner
    if (runner === undefined || !/^[\w.-]+$/.test(dev)) continue
    const r = await runner.run({file: 'ethtool', args: ['-k', dev]}).catch(() => undefined)
    const line = r?.exitCode === 0 ? r.stdout.split('\n').map(l => l.trim()).find(l => /^tx-checksum-ip-generic: on\b/.test(l)) : undefined
    if (line === undefined) continue // no ethtool there, or the offload is off already
    findings.push(finding({code: 'VXLAN_CHECKSUM_OFFLOAD', severity: 'warning', node,
      message: `real pings through ${node}'s ${dev} fail although its tables deliver them, and ${dev} computes UDP checksums by offload: on some kernels and NICs the receiver drops them ("UDP: bad checksum" in its dmesg). A suspect, not a certainty: turning it off is harmless`,
      evidence: `ethtool -k ${dev}: ${line}`, fix: [`ethtool -K ${dev} tx-checksum-ip-generic off   # persist it with a udev rule for ${dev}`]}))
  }
  return findings
}

export interface DoctorOptions extends SourceOptions {
  ping?: boolean
}

/** The nodes doctor read, as migrate takes them: without them migrate reconciles only the host it runs on. */
function nodesFlag(o: SourceOptions): string | undefined {
  return o.lab !== undefined ? `--lab ${o.lab}` : o.inventory !== undefined ? `--inventory ${o.inventory}` : undefined
}

/**
 * The command that finishes a stopped migration, with the nodes doctor was given: without them
 * `migrate` would reconcile the host it runs on only. The record does not keep the --lab or
 * --inventory the migration was started with; the hosts doctor reads are that network's. Read from
 * a snapshot or one host, the nodes are a blank to fill in.
 */
function finishOn(migration: UnfinishedMigration, o: SourceOptions): string {
  return migration.finish.replace(/ --yes$/, ` ${nodesFlag(o) ?? '--lab NAME (or --inventory FILE)'} --yes`)
}

/**
 * A migrate fix is the network's, run once from where doctor ran: given the nodes doctor read, it
 * names them, since run inside one host (as a lab's other fixes are) it would move that host alone.
 */
export function migrateOnNodesRead(findings: DoctorFinding[], nodes: string | undefined): DoctorFinding[] {
  if (nodes === undefined) return findings
  return findings.map(f => setFixes({...f}, f.fixes.map(x => x.scope === 'network' && x.command === OFF_SEGMENT_FIX ? {...x, command: offSegmentFix(` ${nodes} --yes`)} : x)))
}

/**
 * An inventory's hosts set up with a state file of their own (its nodes' stateFile:): a fix run
 * on one of them is given that file, as the command printed for this host carries its --state-file.
 */
function withNodeStateFiles(report: DoctorReport, nodes: {name: string; stateFile?: string}[]): void {
  const files = inventoryStateFiles(nodes)
  for (const p of report.pairs) p.fix = withHostStateFiles(p.fix, files)
  for (const f of report.findings) setFixes(f, withHostStateFiles(f.fixes, files))
}

/** In a lab, "re-create the pod" is a lab command, run from here: in every pair's and finding's fixes. */
function withLabCommandsIn(report: DoctorReport, lab: string): void {
  for (const p of report.pairs) p.fix = withLabCommands(p.fix, lab)
  for (const f of report.findings) setFixes(f, withLabCommands(f.fixes, lab))
}

/** Fixes run from where doctor ran, not inside a host: a migrate of the network, a lab's own command (re-create a pod). */
export function isNetworkFix(fix: Fix): boolean {
  return fix.scope === 'network' || fix.scope === 'lab'
}

/** A host with neither a pod bridge holding a subnet nor a vxlan device: nothing of a flannel node to check. */
export function isFlannelLess(world: World): boolean {
  return world.hosts.every(h => {
    const facts = nodeFacts(h)
    return facts.subnet === undefined && facts.vxlan === undefined
  })
}

export async function runDoctor(o: DoctorOptions, opts: LoadOptions = {}): Promise<DoctorReport> {
  const src = await loadSource(o, opts)
  // `doctor` with the --lab forgotten read the machine running the lab, and called it healthy
  if (src.kind === 'local' && isFlannelLess(src.world) && src.record === undefined) {
    throw userError(`${src.description} is no flannel node: no pod bridge with a subnet, no vxlan device and no flannelctl record, so there is nothing to check`,
      'a lab: flannelctl doctor --lab NAME; other hosts: --inventory FILE or --snapshot DIR; to make this host a node: flannelctl init')
  }
  // The lab's store, or on this host alone the one flannelctl init recorded here; offline, what collect saved of it.
  const summary = await readStoreOf(src, o, opts.progress)
  const store = summary?.store
  const leases = knownPeers(summary)
  const backend: Parameters<typeof hostChecks>[2] = summary?.backend ?? undefined
  const enableNFTables = summary?.enableNFTables ?? undefined
  const migration = summary?.migration ?? undefined
  const configProblem = summary?.configProblem ?? undefined
  const offConfig = summary?.offConfig ?? undefined
  if (readsPart(src.world) && leases === undefined) {
    const unread = src.world.unread?.map(u => u.name).join(', ')
    opts.progress?.(src.kind === 'local'
      ? 'note: only this host was read, without a store\'s leases: its peers are unknown, so no entry is called stale'
      : unread !== undefined ? `note: ${unread} could not be read and no store was read: peers are unknown, so no entry is called stale`
        : `note: the ${src.kind} says \`partial: true\` (its nodes are not all the network's hosts) and no store was read: peers are unknown, so no entry is called stale`)
  }
  const n = matrixPods(src.world).length
  if (src.world.hosts.length > 20) opts.progress?.(`checking ${src.world.hosts.length} hosts' tables${n > 20 ? ` and tracing ${n * (n - 1)} pod pairs` : ''}`)
  const network = summary?.network ?? undefined
  const vxlan = networkVxlan(summary)
  const report = diagnose({...src.world, ...(network !== undefined && {network}), ...(vxlan !== undefined && {vxlan})}, src.description, leases, backend, enableNFTables)
  report.findings = migrateOnNodesRead(report.findings, nodesFlag(o))
  if (o.lab !== undefined) withLabCommandsIn(report, o.lab)
  if (src.kind === 'inventory') withNodeStateFiles(report, src.inventory.nodes)
  // The tables still forward as last built, so every pair looks fine while no node can sync.
  if (configProblem) {
    report.findings.push(finding({code: 'NETCONF_INVALID', severity: 'error', node: STORE_NODE, message: configProblem, evidence: `store ${store!}`}))
    report.healthy = false
  }
  // Their nodes still forward and sync peers; what is off is the size of their own subnets.
  if (offConfig) report.findings.push(finding({code: 'LEASES_OFF_CONFIG', severity: 'warning', node: STORE_NODE, message: offConfig, evidence: `store ${store!}`}))
  // Forwarding works in a mixed state, so the tables look healthy; the store knows it is unfinished.
  // The command is the fix alone (with the nodes), not repeated in the message without them.
  if (migration) {
    report.findings.push(finding({code: 'MIGRATION_UNFINISHED', severity: 'warning', node: STORE_NODE, message: migrationStopped(migration), evidence: `store ${store!}`,
      fixes: [{node: STORE_NODE, command: finishOn(migration, o), scope: 'network'}]}))
  }
  const stale = report.findings.filter(f => f.code.startsWith('STALE_')).length
  if (stale > 0 && leases === undefined && !readsPart(src.world) && src.kind !== 'lab') {
    // Without a store, "stale" means "no node read accounts for it": a node left out looks gone.
    opts.progress?.(`note: ${stale} ${stale === 1 ? 'entry belongs' : 'entries belong'} to no node read and no store was read; if a node was left out, add \`partial: true\` to the ${src.kind === 'snapshot' ? 'snapshot\'s inventory.yaml' : 'inventory'} (or add the node) before deleting them`)
  }
  if (o.ping) {
    if (src.live.length === 0) opts.progress?.('--ping needs live hosts (a lab or an inventory); a snapshot cannot be pinged')
    else {
      await pingPairs(src, report.pairs, opts.progress)
      report.findings.push(...await checksumOffloadSuspects(src, report.pairs))
    }
    report.healthy = report.healthy && !report.pairs.some(p => p.ping === false)
  }
  return report
}


function firstLine(s: string): string {
  return s.split('\n')[0].trim()
}
