/**
 * Faults a lab can be broken with, each one a thing that happens to real flannel clusters. Every
 * fault is injected with the plain tools an operator would use (ip, bridge, iptables, sysctl) in
 * the lab's namespaces, so what the tracer sees is what a real kernel does, not a simulation.
 */
import {FlannelctlError, userError} from '../errors.js'
import {RealRunner, type Runner} from '../adapters/runner.js'
import {Lab, POD_NETWORK, labNameArg, requireLabRoot, type LabNode, type LabState, type LabPod} from './lab.js'
import {FWD_CHAIN, isVxlanDeviceName, vtepAddress} from '../core/flannel.js'
import {cidrWithin, isCanonicalCidr, parseCidr} from '../core/addr.js'

export interface FaultTarget {
  lab: LabState
  node: LabNode
  peer: LabNode
}

/** Which trace shows the fault, and what it must say. */
export interface FaultExpectation {
  disposition: string
  /** the probe's source pod runs on this side; the destination pod on the other */
  from: 'node' | 'peer'
  /** the failure is on the forward trace, or only on the reply's (returnPath) */
  path: 'forward' | 'return'
  /** the node the trace must name */
  at: 'node' | 'peer'
  /** a warning code the trace must carry instead of (or besides) a failure */
  warning?: string
  /** trace with this packet size (bytes) */
  size?: number
}

/**
 * What the probe's trace shows for a fault, in lab break's "see it" line: a fault that breaks only
 * the reply says so, or a user reading DELIVERED beside "expect MTU_EXCEEDED" thinks it missed.
 */
export function expectedSighting(e: FaultExpectation): string {
  const reply = e.path === 'return' ? `the reply fails with ${e.disposition}` : undefined
  if (e.warning === undefined) return reply ?? e.disposition
  return reply === undefined ? `warning ${e.warning}` : `${reply}, warning ${e.warning}`
}

export interface Fault {
  name: string
  description: string
  requires?: {backend?: 'vxlan' | 'host-gw'; segments?: 2; nodes?: number; peerSameSegment?: boolean; peerOtherSegment?: boolean}
  expect: FaultExpectation
  /** what the changed node publishes on its sync (a new VTEP MAC) is held by every other node: they all sync after it */
  everyNodeFollows?: boolean
  /** runs its commands through `sh`, which keeps them for the user as `[host] command`; says why where sync does not undo it */
  inject(f: FaultTarget, sh: FaultShell): Promise<void | {syncKeeps?: string; masked?: string}>
}

/**
 * FORWARD's own accepts of the lab's pod traffic, as iptables-save prints them: an accept of the
 * pod network by source or destination (what trace prints as the fix for a FORWARD drop), or of
 * everything. A policy DROP changes nothing while one is there. Rules narrowed further (a port, an
 * interface, a state) are not counted: they may leave part of the traffic to the policy.
 */
export function podAccepts(filterTable: string[]): string[] {
  return filterTable.filter(l => {
    if (!l.startsWith('-A FORWARD ') || !l.endsWith(' -j ACCEPT')) return false
    const words = l.slice('-A FORWARD '.length, -' -j ACCEPT'.length).trim().split(/\s+/).filter(Boolean)
    if (words.length === 0) return true
    if (words.length !== 2 || (words[0] !== '-s' && words[0] !== '-d') || !isCanonicalCidr(words[1])) return false
    return cidrWithin(parseCidr(POD_NETWORK), parseCidr(words[1]))
  })
}

/** Runs commands in lab namespaces and keeps a log of them for the user. */
export class FaultShell {
  readonly log: string[] = []
  private readonly lab: Lab
  constructor(runner: Runner = new RealRunner()) {
    this.lab = new Lab(runner)
  }

  async run(host: LabNode, file: string, args: string[]): Promise<string> {
    this.log.push(`[${host.name}] ${[file, ...args].map(a => (/[\s"'!]/.test(a) ? `'${a}'` : a)).join(' ')}`)
    try {
      return await this.lab.inNs(host.netns, file, args)
    } catch (error) {
      if (!(error instanceof FlannelctlError)) throw error
      // its first step deletes an entry that is not there: the fault is in place already (broken twice, or by hand)
      if (this.log.length === 1 && args.includes('del') && /No such (file or directory|process)/.test(error.message)) {
        throw userError(`${host.name} has no such entry to remove (${file} ${args.join(' ')}): the fault is in place already`,
          `flannelctl sync on ${host.name} puts back what flannel owns, then break it again`)
      }
      // the lab is whole: the fault stopped part-way, after the commands before this one
      const done = this.log.slice(0, -1)
      throw new FlannelctlError(error.message, `${done.length > 0 ? `the fault was injected up to here (${done.join('; ')}); ` : ''}flannelctl sync on ${host.name} puts back what flannel owns`, error.exitCode)
    }
  }

  async read(host: LabNode, file: string, args: string[]): Promise<string> {
    return this.lab.inNs(host.netns, file, args)
  }
}

/**
 * The node's VTEP: flannel.<VNI>, whichever VNI the lab uses now (`migrate --vni` moves it). Two
 * of them are a VNI migration stopped midway, which a fault would only muddle.
 */
async function vxlanDevOf(sh: FaultShell, host: LabNode): Promise<string> {
  const links = JSON.parse(await sh.read(host, 'ip', ['-j', 'link', 'show', 'type', 'vxlan'])) as {ifname: string}[]
  const names = links.map(l => l.ifname).filter(n => isVxlanDeviceName(n))
  if (names.length === 0) throw userError(`${host.name} has no vxlan device flannel.<VNI>`, 'this fault needs a vxlan lab: flannelctl lab up --backend vxlan')
  if (names.length > 1) {
    throw userError(`${host.name} has ${names.join(' and ')}: a VNI migration is in progress`, 'finish it (flannelctl migrate … --lab NAME --yes, as doctor prints) or roll it back first')
  }
  return names[0]
}

interface VxlanState {
  name: string
  mac: string
  mtu: number
  id: number
  port: number
  local: string
  dev: string
  addresses: string[]
  routes: {dst: string; gateway?: string; onlink: boolean}[]
  neighbors: {dst: string; lladdr: string}[]
  fdb: {mac: string; dst: string}[]
}

async function readVxlan(sh: FaultShell, host: LabNode): Promise<VxlanState> {
  const vtep = await vxlanDevOf(sh, host)
  const [link] = JSON.parse(await sh.read(host, 'ip', ['-d', '-j', 'link', 'show', 'dev', vtep])) as {address: string; mtu: number; linkinfo?: {info_data?: {id: number; port: number; local: string; link?: string}}}[]
  const info = link.linkinfo?.info_data
  if (!info) throw userError(`${host.name} has no vxlan device ${vtep}`, 'this fault needs a vxlan lab: flannelctl lab up --backend vxlan')
  const addrs = JSON.parse(await sh.read(host, 'ip', ['-j', '-4', 'addr', 'show', 'dev', vtep])) as {addr_info: {local: string; prefixlen: number}[]}[]
  const routes = JSON.parse(await sh.read(host, 'ip', ['-j', 'route', 'show', 'dev', vtep])) as {dst: string; gateway?: string; flags?: string[]}[]
  const neigh = JSON.parse(await sh.read(host, 'ip', ['-j', 'neigh', 'show', 'dev', vtep])) as {dst: string; lladdr?: string}[]
  const fdb = JSON.parse(await sh.read(host, 'bridge', ['-j', 'fdb', 'show', 'dev', vtep])) as {mac: string; dst?: string}[]
  return {
    name: vtep, mac: link.address, mtu: link.mtu, id: info.id, port: info.port, local: info.local, dev: info.link ?? 'eth0',
    addresses: addrs.flatMap(a => a.addr_info.map(i => `${i.local}/${i.prefixlen}`)),
    routes: routes.filter(r => r.dst !== 'default').map(r => ({dst: r.dst.includes('/') ? r.dst : `${r.dst}/32`, gateway: r.gateway, onlink: (r.flags ?? []).includes('onlink')})),
    neighbors: neigh.filter(n => n.lladdr).map(n => ({dst: n.dst, lladdr: n.lladdr!})),
    fdb: fdb.filter(f => f.dst && f.mac !== '00:00:00:00:00:00').map(f => ({mac: f.mac, dst: f.dst!})),
  }
}

/** Delete the VTEP and build it again, under its name, with some settings changed, restoring every entry it carried. */
async function recreateVxlan(sh: FaultShell, host: LabNode, change: (now: VxlanState) => Partial<Pick<VxlanState, 'id' | 'port' | 'mac'>>): Promise<void> {
  const now = await readVxlan(sh, host)
  const s = {...now, ...change(now)}
  const vtep = s.name
  await sh.run(host, 'ip', ['link', 'del', vtep])
  await sh.run(host, 'ip', ['link', 'add', vtep, 'address', s.mac, 'mtu', String(s.mtu), 'type', 'vxlan', 'id', String(s.id),
    'local', s.local, 'dev', s.dev, 'dstport', String(s.port), 'nolearning'])
  for (const a of s.addresses) await sh.run(host, 'ip', ['addr', 'add', a, 'dev', vtep])
  await sh.run(host, 'ip', ['link', 'set', vtep, 'up'])
  for (const n of s.neighbors) await sh.run(host, 'ip', ['neigh', 'replace', n.dst, 'lladdr', n.lladdr, 'dev', vtep, 'nud', 'permanent'])
  for (const f of s.fdb) await sh.run(host, 'bridge', ['fdb', 'replace', f.mac, 'dev', vtep, 'dst', f.dst, 'self', 'permanent'])
  for (const r of s.routes) {
    if (!r.gateway) continue
    await sh.run(host, 'ip', ['route', 'replace', r.dst, 'via', r.gateway, 'dev', vtep, ...(r.onlink ? ['onlink'] : [])])
  }
}

function subnetOf(n: LabNode): string {
  if (!n.subnet) throw userError(`lab node ${n.name} has no subnet recorded`, 'rebuild the lab: flannelctl lab down && flannelctl lab up')
  return n.subnet
}

function randomMac(): string {
  const bytes = Array.from({length: 6}, () => Math.floor(Math.random() * 256))
  bytes[0] = (bytes[0] & 0xfe) | 0x02 // unicast, locally administered
  return bytes.map(b => b.toString(16).padStart(2, '0')).join(':')
}

export const FAULTS: Fault[] = [
  {
    name: 'missing-fdb',
    description: 'the node loses its fdb entry for the peer\'s VTEP MAC: encapsulated frames have nowhere to go',
    requires: {backend: 'vxlan'},
    expect: {disposition: 'FDB_MISSING', from: 'node', path: 'forward', at: 'node'},
    async inject({node, peer}, sh) {
      const mac = (await readVxlan(sh, peer)).mac
      await sh.run(node, 'bridge', ['fdb', 'del', mac, 'dev', await vxlanDevOf(sh, node), 'dst', peer.underlayIP, 'self'])
    },
  },
  {
    name: 'missing-neigh',
    description: 'the node loses its permanent neighbour entry for the peer\'s VTEP address (its vxlan device, flannel.<VNI>, cannot ARP)',
    requires: {backend: 'vxlan'},
    expect: {disposition: 'NEIGHBOR_MISSING', from: 'node', path: 'forward', at: 'node'},
    async inject({node, peer}, sh) {
      await sh.run(node, 'ip', ['neigh', 'del', vtepAddress(subnetOf(peer)), 'dev', await vxlanDevOf(sh, node)])
    },
  },
  {
    name: 'missing-route',
    description: 'the node loses its route to the peer\'s pod subnet',
    expect: {disposition: 'NO_ROUTE', from: 'node', path: 'forward', at: 'node'},
    async inject({node, peer}, sh) {
      await sh.run(node, 'ip', ['route', 'del', subnetOf(peer)])
    },
  },
  {
    name: 'forward-drop',
    description: 'FORWARD policy DROP and the jump to FLANNEL-FWD removed (what a host firewall or docker does; in nftables mode the policy alone, which flanneld\'s nftables accepts do not overrule)',
    expect: {disposition: 'DENIED_BY_FILTER', from: 'node', path: 'forward', at: 'node'},
    async inject({lab, node}, sh) {
      await sh.run(node, 'iptables', ['-w', '-P', 'FORWARD', 'DROP'])
      const jump = ['-m', 'comment', '--comment', 'flanneld forward', '-j', FWD_CHAIN]
      const filter = (await sh.read(node, 'iptables-save', ['-t', 'filter'])).split('\n')
      if (filter.some(l => l === `-A FORWARD ${jump.map(w => (w.includes(' ') ? `"${w}"` : w)).join(' ')}`)) await sh.run(node, 'iptables', ['-w', '-D', 'FORWARD', ...jump])
      const masked = podAccepts(filter)
      const note = masked.length === 0 ? undefined : {masked: `${node.name}'s FORWARD still accepts pod traffic by rules not flannel's, so the fault does not show; to see it, remove them: ${masked.map(l => `flannelctl lab exec${labNameArg(lab.name)} ${node.name} -- iptables ${l.replace(/^-A /, '-D ')}`).join('; ')}`}
      // a node in nftables mode (EnableNFTables) has no FLANNEL-FWD chain; one in iptables mode broken
      // before has the chain without the jump, and its sync does put both back
      if (!filter.some(l => l.startsWith(`:${FWD_CHAIN} `))) return {syncKeeps: 'in nftables mode sync leaves iptables\' FORWARD to its owner, as flanneld does', ...note}
      return note
    },
  },
  {
    name: 'forwarding-off',
    description: 'net.ipv4.ip_forward=0 on the node: it stops routing pod traffic',
    expect: {disposition: 'FORWARDING_DISABLED', from: 'node', path: 'forward', at: 'node'},
    async inject({node}, sh) {
      await sh.run(node, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=0'])
    },
  },
  {
    name: 'wrong-vni',
    description: 'the node\'s vxlan device (flannel.<VNI>) is recreated with VNI 2 (3 if the network uses 2; MAC and entries unchanged): peers drop its packets',
    requires: {backend: 'vxlan'},
    expect: {disposition: 'VNI_MISMATCH', from: 'node', path: 'forward', at: 'peer'},
    async inject({node}, sh) {
      await recreateVxlan(sh, node, now => ({id: now.id === 2 ? 3 : 2}))
    },
  },
  {
    name: 'wrong-port',
    description: 'the node\'s vxlan device (flannel.<VNI>) is recreated with UDP port 4789 instead of 8472 (or the reverse)',
    requires: {backend: 'vxlan'},
    expect: {disposition: 'PORT_MISMATCH', from: 'node', path: 'forward', at: 'peer'},
    async inject({node}, sh) {
      await recreateVxlan(sh, node, now => ({port: now.port === 4789 ? 8472 : 4789}))
    },
  },
  {
    name: 'stale-vtep-mac',
    description: 'the peer\'s vxlan device (flannel.<VNI>) comes back with a new random MAC (a reboot): the node\'s neigh/fdb entries are stale',
    requires: {backend: 'vxlan'},
    expect: {disposition: 'STALE_VTEP_MAC', from: 'node', path: 'forward', at: 'node'},
    everyNodeFollows: true,
    async inject({peer}, sh) {
      await recreateVxlan(sh, peer, () => ({mac: randomMac()}))
    },
  },
  {
    name: 'wrong-vtep-host',
    description: 'the node\'s fdb entry for the peer\'s VTEP points at another node\'s address (the wrong public IP)',
    requires: {backend: 'vxlan', nodes: 3},
    expect: {disposition: 'WRONG_VTEP_HOST', from: 'node', path: 'forward', at: 'node'},
    async inject({lab, node, peer}, sh) {
      const third = lab.nodes.find(n => n !== node && n !== peer)!
      const mac = (await readVxlan(sh, peer)).mac
      await sh.run(node, 'bridge', ['fdb', 'replace', mac, 'dev', await vxlanDevOf(sh, node), 'dst', third.underlayIP, 'self', 'permanent'])
    },
  },
  {
    name: 'mtu-mismatch',
    // the request leaves as fragments (the vxlan device sends without DF); the peer's 1500-byte reply is what no longer fits
    description: 'the node\'s underlay MTU drops to 1400 while pods still send 1450-byte packets: vxlan + payload no longer fits, and the peer\'s full-size replies are dropped on the way in',
    requires: {backend: 'vxlan'},
    expect: {disposition: 'MTU_EXCEEDED', from: 'node', path: 'return', at: 'node', size: 1450},
    async inject({node}, sh) {
      await sh.run(node, 'ip', ['link', 'set', 'eth0', 'mtu', '1400'])
      return {syncKeeps: 'the underlay\'s MTU is not flannelctl\'s: sync fits the pod MTU to it instead, and the other nodes still send full size'}
    },
  },
  {
    name: 'missing-return-route',
    description: 'the peer loses its route back to the node\'s pod subnet: requests arrive, replies cannot leave',
    expect: {disposition: 'NO_ROUTE', from: 'node', path: 'return', at: 'peer', warning: 'NO_RETURN_ROUTE'},
    async inject({node, peer}, sh) {
      await sh.run(peer, 'ip', ['route', 'del', subnetOf(node)])
    },
  },
  {
    name: 'naive-masquerade',
    description: '`-s SUBNET ! -o cni0 -j MASQUERADE` at the top of POSTROUTING: peers see the node\'s address, not the pod\'s',
    expect: {disposition: 'DELIVERED', from: 'node', path: 'forward', at: 'node', warning: 'SOURCE_NATED'},
    async inject({node}, sh) {
      await sh.run(node, 'iptables', ['-w', '-t', 'nat', '-I', 'POSTROUTING', '1', '-s', subnetOf(node), '!', '-o', 'cni0', '-j', 'MASQUERADE'])
      return {syncKeeps: 'the rule is not flannelctl\'s: sync leaves other software\'s rules as they are'}
    },
  },
  {
    name: 'hostgw-via-router',
    description: 'a host-gw route to a peer on the other segment (behind the router): the next hop is not on-link',
    requires: {segments: 2, peerOtherSegment: true},
    expect: {disposition: 'NEXT_HOP_NOT_ONLINK', from: 'node', path: 'forward', at: 'node'},
    async inject({node, peer}, sh) {
      // The kernel refuses this route without `onlink` ("Nexthop has invalid gateway"); with it, ARP goes unanswered.
      await sh.run(node, 'ip', ['route', 'replace', subnetOf(peer), 'via', peer.underlayIP, 'dev', 'eth0', 'onlink'])
      // with a VTEP (vxlan, DirectRouting) sync routes the peer through it again; on host-gw it routes no peer off the segment
      const vteps = JSON.parse(await sh.read(node, 'ip', ['-j', 'link', 'show', 'type', 'vxlan']) || '[]') as {ifname: string}[]
      if (!vteps.some(l => isVxlanDeviceName(l.ifname))) {
        return {syncKeeps: 'on host-gw sync adds no route to a peer off the segment, and leaves this one, which it did not make'}
      }
    },
  },
  {
    name: 'rp-filter',
    description: 'strict rp_filter on the node while its route back to the peer\'s pods leaves by eth0 and the peer sends over vxlan',
    requires: {backend: 'vxlan', peerSameSegment: true},
    expect: {disposition: 'REVERSE_PATH_FILTERED', from: 'peer', path: 'forward', at: 'node'},
    async inject({node, peer}, sh) {
      await sh.run(node, 'ip', ['route', 'replace', subnetOf(peer), 'via', peer.underlayIP, 'dev', 'eth0'])
      await sh.run(node, 'sysctl', ['-q', '-w', 'net.ipv4.conf.all.rp_filter=1', `net.ipv4.conf.${(await vxlanDevOf(sh, node)).replace(/\./g, '/')}.rp_filter=1`])
    },
  },
]

export function findFault(name: string): Fault {
  const f = FAULTS.find(x => x.name === name)
  if (!f) throw userError(`no fault named '${name}'`, `known faults: ${FAULTS.map(x => x.name).join(', ')} (flannelctl lab break --list)`)
  return f
}

/** The peer a fault pairs with the node: given, else the first node that fits the fault. */
export function choosePeer(state: LabState, fault: Fault, node: LabNode, peerName?: string): LabNode {
  const findNode = (name: string) => {
    const n = state.nodes.find(x => x.name === name)
    if (!n) throw userError(`lab '${state.name}' has no node '${name}'`, `nodes: ${state.nodes.map(x => x.name).join(', ')}`)
    return n
  }
  const req = fault.requires ?? {}
  if (peerName) {
    const peer = findNode(peerName)
    if (peer === node) throw userError(`--peer ${peerName} is the node itself`, 'name another node')
    if (req.peerOtherSegment && peer.segment === node.segment) throw userError(`${fault.name} needs a peer on the other segment; ${peer.name} is on ${node.name}'s`, 'choose a node behind the router')
    if (req.peerSameSegment && peer.segment !== node.segment) throw userError(`${fault.name} needs a peer on ${node.name}'s segment`, 'choose a node on the same switch')
    return peer
  }
  const candidates = state.nodes.filter(n => n !== node
    && (!req.peerOtherSegment || n.segment !== node.segment)
    && (!req.peerSameSegment || n.segment === node.segment))
  if (candidates.length === 0) {
    // before: a one-node lab heard "needs a peer on the same segment" and "--segments 2", for a fault that needs neither
    if (state.nodes.length === 1) throw userError(`${fault.name} needs a peer of ${node.name}, and lab '${state.name}' has no other node`, 'bring up a lab with more nodes: flannelctl lab up --name NAME --nodes 2')
    throw req.peerOtherSegment
      ? userError(`${fault.name} needs a peer on the other segment of ${node.name}`, 'bring up a lab with two segments: flannelctl lab up --name NAME --segments 2 --nodes 3')
      : userError(`${fault.name} needs a peer on ${node.name}'s segment`, 'choose a node that shares a segment with another, or bring up a lab with more nodes (--nodes 4 on two segments)')
  }
  return candidates[0]
}

/** `backendNow`: the store's backend, when `migrate` or `backend set` changed it since lab up. */
export function checkFits(state: LabState, fault: Fault, backendNow: string = state.backend): void {
  const req = fault.requires ?? {}
  if (req.backend && backendNow !== req.backend) {
    const since = backendNow !== state.backend ? ` now (lab up built ${state.backend}; the store's network config says ${backendNow})` : ''
    throw userError(`${fault.name} needs a ${req.backend} lab; '${state.name}' is ${backendNow}${since}`,
      // this lab moved to it, or another lab (this one's name is taken: lab up with it is refused)
      `flannelctl migrate --backend ${req.backend} --lab ${state.name} --yes, or a lab of its own: flannelctl lab up --name NAME --backend ${req.backend}`)
  }
  if (req.segments && state.segments !== req.segments) throw userError(`${fault.name} needs a lab with two segments`, 'flannelctl lab up --name NAME --segments 2')
  if (req.nodes && state.nodes.length < req.nodes) throw userError(`${fault.name} needs at least ${req.nodes} nodes`, `flannelctl lab up --name NAME --nodes ${req.nodes}`)
}

export interface InjectedFault {
  fault: Fault
  node: LabNode
  peer: LabNode
  commands: string[]
  /** a pod pair whose trace shows the fault */
  probe: {src: LabPod; dst: LabPod}
  /** why `flannelctl sync` does not repair it here; absent: it does */
  syncKeeps?: string
  /** what on the node keeps the fault from showing (rules of its own that accept what it drops) */
  masked?: string
}

/** The pod pair that crosses the broken path, per the fault's expectation. */
export function probeFor(state: LabState, fault: Fault, node: LabNode, peer: LabNode): {src: LabPod; dst: LabPod} {
  const [a, b] = fault.expect.from === 'node' ? [node, peer] : [peer, node]
  const src = state.pods.find(p => p.node === a.name)
  const dst = state.pods.find(p => p.node === b.name)
  if (!src || !dst) throw userError(`nodes ${a.name} and ${b.name} need a pod each to show ${fault.name}`, 'bring the lab up with --pods 1 or more')
  return {src, dst}
}

/**
 * The nodes whose `flannelctl sync` undoes an injected fault, in order: those whose tables it
 * changed, then the broken node; after a new VTEP MAC, which the peer's sync publishes, every other
 * node too (each holds the old one, not only the node the fault was aimed at).
 */
export function repairSyncOrder(state: LabState, injected: Pick<InjectedFault, 'fault' | 'node' | 'commands'>): string[] {
  const changed = injected.commands.map(c => /^\[([^\]]+)\]/.exec(c)?.[1]).filter((n): n is string => n !== undefined)
  const followers = injected.fault.everyNodeFollows ? state.nodes.map(n => n.name) : []
  return [...new Set([...changed, injected.node.name, ...followers])]
}

export async function breakLab(state: LabState, nodeName: string, faultName: string, peerName?: string, runner?: Runner): Promise<InjectedFault> {
  requireLabRoot(state.name, 'lab break')
  const fault = findFault(faultName)
  // the backend the lab has now: migrate may have moved it since lab up (no vxlan device to break on host-gw)
  const view = fault.requires?.backend === undefined ? undefined : await new Lab(runner).storeView(state).catch(() => undefined)
  checkFits(state, fault, view?.backend?.type ?? state.backend)
  const node = state.nodes.find(n => n.name === nodeName)
  if (!node) throw userError(`lab '${state.name}' has no node '${nodeName}'`, `nodes: ${state.nodes.map(n => n.name).join(', ')}`)
  const peer = choosePeer(state, fault, node, peerName)
  const probe = probeFor(state, fault, node, peer)
  const sh = new FaultShell(runner)
  const kept = await fault.inject({lab: state, node, peer}, sh)
  return {fault, node, peer, commands: sh.log, probe, ...(kept?.syncKeeps !== undefined ? {syncKeeps: kept.syncKeeps} : {}), ...(kept?.masked !== undefined ? {masked: kept.masked} : {})}
}
