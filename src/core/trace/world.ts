/**
 * The hosts and pods a trace can visit, indexed once per World: which host owns an address, which
 * snapshot is a pod's own namespace, what a name on the command line means.
 */
import {isConventionalBridgeName, type Address, type Link} from '../model.js'
import {cidrContains, cidrToString, intToIp, ipToInt, isIPv4, maskOf, parseCidr, specialRange} from '../addr.js'
import {isIPv6} from '../parse/common.js'
import {type FlannelctlError, userError} from '../../errors.js'
import {HostView} from './host-view.js'
import type {Endpoint, PodRef, World} from './types.js'
import {isVxlanLink} from './vxlan.js'

export interface Owner {
  view: HostView
  addr: Address
}

/** A resolved command-line endpoint, with where its packets start or end. */
export interface ResolvedEndpoint extends Endpoint {
  pod?: PodRef
  /** the host the endpoint lives on: a pod's node, or the node itself */
  nodeView?: HostView
  /** the pod's own namespace snapshot, when captured */
  podView?: HostView
  /** a source address in a node's pod subnet that no pod list names */
  unlisted?: boolean
}

export class WorldIndex {
  readonly views = new Map<string, HostView>()
  readonly podsByName = new Map<string, PodRef>()
  readonly podsByIp = new Map<string, PodRef>()
  /** `node|ip`: docker hosts number their containers alike (172.17.0.2 on each), so an address names a pod per node */
  private readonly podsByNodeIp = new Map<string, PodRef>()
  private readonly podsOfNode = new Map<string, PodRef[]>()
  /** pod namespace snapshot name -> pod */
  private readonly podOfView = new Map<string, PodRef>()
  /** per address, the owners found so far (in host order) and the next host to look at */
  private readonly ownerScans = new Map<string, {found: Owner[]; next: number}>()
  private hostList?: HostView[]
  /** one past the last node in hostList: no host after it is a node */
  private nodesEnd?: number
  private nodeList?: HostView[]
  private guessedNetwork?: {network: string | undefined}
  private podSubnets?: {base: number, prefixlen: number, view: HostView, addr: Address}[]

  constructor(readonly world: World) {
    for (const h of world.hosts) if (!this.views.has(h.name)) this.views.set(h.name, new HostView(h))
    for (const p of world.pods) {
      if (!this.podsByName.has(p.name)) this.podsByName.set(p.name, p)
      if (!this.podsByIp.has(p.ip)) this.podsByIp.set(p.ip, p)
      if (!this.podsByNodeIp.has(`${p.node}|${p.ip}`)) this.podsByNodeIp.set(`${p.node}|${p.ip}`, p)
      const list = this.podsOfNode.get(p.node)
      if (list) list.push(p)
      else this.podsOfNode.set(p.node, [p])
      if (p.netns !== undefined && this.views.has(p.netns)) this.podOfView.set(p.netns, p)
    }
  }

  view(name: string): HostView | undefined {
    return this.views.get(name)
  }

  /** Why a node the world lists as not read has no tables (World.unread); undefined for any other name. */
  unreadReason(name: string): string | undefined {
    return this.world.unread?.find(u => u.name === name)?.reason
  }

  /** A node without tables, said as its absence: `n4 has no snapshot`, or why it was not read. */
  noTablesOf(node: string): string {
    const why = this.unreadReason(node)
    return why === undefined ? `${node} has no snapshot` : `${node}'s tables are missing (not read: ${why})`
  }

  /**
   * Whether a frame out of `dev` on `view` may reach a node that could not be read: out of any device
   * but one facing the node's own pods (a pod bridge leads to no other node).
   */
  mayLeadToUnread(view: HostView, dev: string): boolean {
    return (this.world.unread?.length ?? 0) > 0 && !(this.isNode(view) && this.isPodSide(view, dev))
  }

  /**
   * Where the tables read run out while some nodes could not be read: those nodes, named, as what
   * may lie beyond (`; the tables of n4 are missing (…)`); '' when every node listed was read.
   */
  unreadNote(): string {
    const unread = this.world.unread ?? []
    if (unread.length === 0) return ''
    // (why each could not be read is said where it is named alone: noTablesOf, doctor's HOST_NOT_READ)
    return `; ${unread.length === 1 ? `the tables of node ${unread[0].name} are` : `the tables of nodes ${unread.map(u => u.name).join(', ')} are`} missing (${unread.length === 1 ? 'it' : 'they'} could not be read), so it may be ${unread.length === 1 ? 'that node' : 'one of them'}`
  }

  podOf(view: HostView): PodRef | undefined {
    return this.podOfView.get(view.name)
  }

  isNode(view: HostView): boolean {
    return !this.podOfView.has(view.name)
  }

  podView(pod: PodRef): HostView | undefined {
    return pod.netns === undefined ? undefined : this.views.get(pod.netns)
  }

  nodeViewOf(pod: PodRef): HostView | undefined {
    const v = this.views.get(pod.node)
    return v !== undefined && this.isNode(v) ? v : undefined
  }

  podsOn(node: string): PodRef[] {
    return this.podsOfNode.get(node) ?? []
  }

  /** podNetworkGuess of the pods' addresses, the same for every trace of this world */
  guessedPodNetwork(): string | undefined {
    this.guessedNetwork ??= {network: podNetworkGuess(this.podsByIp.keys())}
    return this.guessedNetwork.network
  }

  nodeViews(): HostView[] {
    this.nodeList ??= [...this.views.values()].filter(v => this.isNode(v))
    return this.nodeList
  }

  /**
   * The node whose pod bridge (or other pod-facing device) has an address whose subnet holds `ip`:
   * where an address of a pod the inventory does not list lives. Built from addresses alone, so
   * it costs no route tables on a 1000-node world.
   */
  podSubnetOwner(ip: string): {view: HostView, addr: Address} | undefined {
    let n: number
    try {
      n = ipToInt(ip)
    } catch {
      return undefined
    }
    const hit = this.podSubnetList().find(p => cidrContains(p, n))
    return hit === undefined ? undefined : {view: hit.view, addr: hit.addr}
  }

  /** Every node's pod-facing subnets, most specific first. */
  private podSubnetList(): {base: number, prefixlen: number, view: HostView, addr: Address}[] {
    if (!this.podSubnets) {
      this.podSubnets = []
      for (const view of this.nodeViews()) {
        for (const addr of view.ipv4Addresses()) {
          if (addr.prefixlen >= 31 || !this.isPodSide(view, addr.dev)) continue
          try {
            const c = parseCidr(`${addr.local}/${addr.prefixlen}`)
            this.podSubnets.push({...c, view, addr})
          } catch {
            continue
          }
        }
      }
      this.podSubnets.sort((a, b) => b.prefixlen - a.prefixlen)
    }
    return this.podSubnets
  }

  private hosts(): HostView[] {
    return (this.hostList ??= [...this.views.values()])
  }

  /** Hosts with the address configured on an interface (several for 172.17.0.1 on every docker0), in host order. */
  owners(ip: string): readonly Owner[] {
    for (const _ of this.eachOwner(ip));
    return this.ownerScans.get(ip)!.found
  }

  /** The first of owners(ip) that `wanted` accepts, looking at no more hosts than it takes to find it. */
  firstOwner(ip: string, wanted: (o: Owner) => boolean): Owner | undefined {
    for (const o of this.eachOwner(ip)) if (wanted(o)) return o
    return undefined
  }

  /** The nodes among owners(ip), looking at no host after the last node. */
  nodeOwners(ip: string): Owner[] {
    if (this.nodesEnd === undefined) {
      const hosts = this.hosts()
      let end = hosts.length
      while (end > 0 && !this.isNode(hosts[end - 1])) end--
      this.nodesEnd = end
    }
    const found: Owner[] = []
    for (const o of this.eachOwner(ip, this.nodesEnd)) if (this.isNode(o.view)) found.push(o)
    return found
  }

  /** Whether any host has the address (owners(ip) is not empty), looking no further than the first. */
  isOwned(ip: string): boolean {
    return this.firstOwner(ip, () => true) !== undefined
  }

  /**
   * owners(ip), found as they are asked for. Asked for a few addresses per trace: hosts whose
   * address table cannot hold this one are not parsed at all, and a question answered by an early
   * host (a node: nodes come before pods) leaves the rest unread; a thousand-node snapshot has two
   * thousand address tables. `hostsUpTo`: look at none of the hosts from that index on (owners
   * found there by an earlier question are still given).
   */
  *eachOwner(ip: string, hostsUpTo?: number): Generator<Owner> {
    const hosts = this.hosts()
    const end = hostsUpTo ?? hosts.length
    let scan = this.ownerScans.get(ip)
    if (scan === undefined) this.ownerScans.set(ip, scan = {found: [], next: ip.startsWith('127.') ? hosts.length : 0})
    for (let i = 0; ; ) {
      while (i < scan.found.length) yield scan.found[i++]
      if (scan.next >= end) return
      const view = hosts[scan.next]
      // a table that fails to parse throws here, and again at the next question: the host is not passed over
      if (view.mayHoldAddress(ip)) for (const addr of view.ipv4Addresses()) if (addr.local === ip) scan.found.push({view, addr})
      scan.next++
    }
  }

  /**
   * The interface of `node` that faces the pod: the host end of the pod's veth (or the bridge it is
   * enslaved to), found by veth peer index, else by the node's route to the pod's address.
   */
  podFacingDevice(node: HostView, pod: PodRef): string | undefined {
    const wired = this.podWiredDevice(node, pod)
    if (wired !== undefined) return wired
    const r = node.routes?.lookup(pod.ip)
    if (r !== undefined && r.type === 'unicast' && r.gateway === undefined && r.dev !== undefined) return r.dev
    return undefined
  }

  /**
   * The node's device the pod's veth is plugged into (its bridge, else the host end), known only
   * when both ends of the veth were read: unlike a route, it says where the pod really is.
   */
  podWiredDevice(node: HostView, pod: PodRef): string | undefined {
    const hostEnd = this.podHostEnd(node, pod)
    return hostEnd === undefined ? undefined : hostEnd.master ?? hostEnd.name
  }

  /** The node's end of the pod's veth (a bridge port, or a Calico-style routed device), when both ends were read. */
  podHostEnd(node: HostView, pod: PodRef): Link | undefined {
    const ns = this.podView(pod)
    if (ns === undefined) return undefined
    const owned = ns.ownAddress(pod.ip)
    const podLink = owned ? ns.link(owned.dev) : undefined
    if (podLink?.peerIndex === undefined) return undefined
    const hostEnd = node.linkByIndex(podLink.peerIndex)
    if (hostEnd === undefined || (hostEnd.peerIndex !== undefined && hostEnd.peerIndex !== podLink.index)) return undefined
    return hostEnd
  }

  /** A device that leads to this node's pods rather than to other hosts. */
  isPodSide(view: HostView, dev: string): boolean {
    const l: Link | undefined = view.link(dev)
    if (l !== undefined) {
      if (isVxlanLink(view, dev)) return false
      if (l.kind === 'bridge' || l.master !== undefined) return true
      if (l.kind === 'veth' && view.ipv4On(dev).length === 0) return true
      // known only from ifconfig or `ip addr`: a bridge by its name (it holds the pods' gateway address)
      if ((l.kind === 'ether' || l.kind === 'other') && isConventionalBridgeName(dev)) return true
      return /^(cali|veth|cni|docker|br-|tap|lxc)/.test(dev) && view.ipv4On(dev).length === 0
    }
    return !/^(eth|en|wl|bond|ib|vlan|flannel|vxlan|lo$)/.test(dev)
  }

  /** The address a node is known by: its default route's device address, else its VTEP, else any global one. */
  nodeAddress(view: HostView): string | undefined {
    const def = view.routes?.lookup('0.0.0.0')
    if (def !== undefined && def.dev !== undefined) {
      const a = view.deviceAddress(def.dev, def.gateway)
      if (a !== undefined) return a
    }
    // (a device still bound to an address the host lost, a renumber, does not make it the node's)
    for (const l of view.vxlanLinks()) if (l.vxlan?.local !== undefined && (view.snap.addresses === undefined || view.isLocal(l.vxlan.local))) return l.vxlan.local
    const plain = view.ipv4Addresses().find(a => (a.scope ?? 'global') === 'global' && !a.local.startsWith('127.') && !this.isPodSide(view, a.dev) && !isVxlanLink(view, a.dev))
    return plain?.local ?? view.firstGlobalAddress()
  }

  /** The pod with address `ip` on `node` when there is one, else the first pod listed with it. */
  podAt(ip: string, node?: string): PodRef | undefined {
    return (node !== undefined ? this.podsByNodeIp.get(`${node}|${ip}`) : undefined) ?? this.podsByIp.get(ip)
  }

  /** `near`: the node whose pod an address shared by pods of several nodes means (where a packet was delivered) */
  resolveEndpoint(text: string, role: 'source' | 'destination', near?: string): ResolvedEndpoint {
    // a pod's name first: isIPv4 of a word that is no dotted quad costs the address library an exception
    if (!this.podsByName.has(text) && isIPv4(text) && (near === undefined || this.podsByNodeIp.get(`${near}|${text}`) === undefined)) {
      const alike = this.world.pods.filter(p => p.ip === text)
      if (alike.length > 1) {
        throw userError(`${text} is the address of ${alike.map(p => `pod ${p.name} (on ${p.node})`).join(' and ')}`, `name the pod: ${alike.map(p => p.name).join(' or ')}`)
      }
    }
    const pod = this.podsByName.get(text) ?? (isIPv4(text) ? this.podAt(text, near) : undefined)
    if (pod !== undefined) {
      return {kind: 'pod', name: pod.name, ip: pod.ip, node: pod.node, pod, nodeView: this.nodeViewOf(pod), podView: this.podView(pod)}
    }
    const unread = this.unreadReason(text)
    if (unread !== undefined) {
      throw userError(`the ${role} ${text} is a node whose tables are missing (not read: ${unread})`,
        `collect again once ${text} can be read; meanwhile trace between the hosts that were read${this.podsOn(text).length > 0 ? `, or to its pods (${this.podsOn(text).slice(0, 3).map(p => p.name).join(', ')}) to see where a path to it runs out` : ''}`)
    }
    const host = this.views.get(text)
    if (host !== undefined && this.isNode(host)) {
      const ip = this.nodeAddress(host)
      if (ip === undefined) {
        throw userError(`node ${text} has no IPv4 address in its snapshot`, `capture \`ip addr\` on ${text}, or trace to one of its pods`)
      }
      return {kind: 'node', name: host.name, ip, nodeView: host}
    }
    if (isIPv4(text)) {
      const owner = this.firstOwner(text, o => this.isNode(o.view))
      if (owner !== undefined) return {kind: 'node', name: owner.view.name, ip: text, nodeView: owner.view}
      if (role === 'destination') {
        // not one host's: the engine follows a unicast packet through routes and ARP, which these never take
        // (it said NO_ROUTE with a fix `ip route replace 224.0.0.1 via GATEWAY`)
        const special = text.startsWith('127.') ? undefined : specialRange(parseCidr(`${text}/32`))
        if (special !== undefined) {
          throw userError(`the destination ${text} is no unicast address (it is in ${special.range}, ${special.what}): flannelctl trace follows a packet to one host`,
            'give a pod, a node or another host\'s address')
        }
        return {kind: 'address', name: text, ip: text}
      }
      // A pod nothing lists (idle: no neighbour entry yet, and no CNI state read): its packets enter
      // its node where the pod subnet is, which is what the trace follows.
      const home = this.podSubnetOwner(text)
      if (home !== undefined) {
        const pod: PodRef = {name: text, ip: text, node: home.view.name}
        return {kind: 'pod', name: text, ip: text, node: pod.node, pod, nodeView: home.view, unlisted: true}
      }
    }
    const v6 = ipv6Literal(text)
    if (v6 !== undefined) throw this.ipv6Refusal(text, v6, role)
    const prefix = /^(\d+\.\d+\.\d+\.\d+)\/\d+$/.exec(text)?.[1]
    if (prefix !== undefined && isIPv4(prefix)) {
      throw userError(`the ${role} ${text} is a prefix: a packet goes from one address to one address`, `give one address, e.g. ${intToIp(ipToInt(prefix) + 1)}, or a pod or node name`)
    }
    // a lab's pod name traced without --lab is the usual way here: the hosts read are this one alone
    const alone = this.world.partial === true
    throw userError(`unknown ${role} "${text}": not a pod, a pod IP or a node ${alone ? 'that the tables read show' : 'of the hosts read'}`,
      `known names: ${this.knownNames()}${this.podIpsInstead(text, !alone)}${alone ? '; to read other hosts: --lab NAME, --inventory FILE or --snapshot DIR' : ''}`)
  }

  /**
   * With pods discovered rather than listed, an idle pod has no name here (nothing showed it): its
   * address works all the same, from its node's pod subnet. Says so with addresses of this world,
   * and how to list pods by name; '' when the pods were listed.
   */
  private podIpsInstead(name: string, fromInventory: boolean): string {
    if (!this.world.podsDiscovered) return ''
    const seen = new Set<string>()
    const subnets = this.podSubnetList().filter(p => !seen.has(p.view.name) && seen.add(p.view.name))
      .sort((a, b) => a.view.name.localeCompare(b.view.name))
    if (subnets.length === 0 && this.world.pods.length === 0) return ''
    // a pod found on each node where there is one, else the address after its bridge's
    const example = (p: typeof subnets[number]) => this.podsOn(p.view.name)[0]?.ip ?? intToIp(ipToInt(p.addr.local) + 1)
    const ips = subnets.length >= 2 ? [example(subnets[0]), example(subnets[1])] : this.world.pods.slice(0, 2).map(p => p.ip)
    const where = subnets.slice(0, 4).map(p => `${p.view.name} ${cidrToString(p)}`).join(', ') + (subnets.length > 4 ? ', …' : '')
    const listed = subnets[0] !== undefined ? `{name: ${name}, ip: ${example(subnets[0])}, node: ${subnets[0].view.name}}` : `{name: ${name}, ip: IP, node: NODE}`
    const instead = `give its IP instead${ips.length === 2 ? `, e.g. trace ${ips[0]} ${ips[1]}` : ''}${where !== '' ? ` (pod subnets: ${where})` : ''}`
    // this host read alone has no inventory to list pods in
    return fromInventory ? `; the pods are not listed (no \`pods:\`), only found in the tables, and an idle pod shows there by no name: ${instead}, or list the pods in the inventory (pods: [${listed}])`
      : `; pods here are known only from the tables, and an idle pod by no name: ${instead}`
  }

  /**
   * The answer to an IPv6 endpoint: the engine's route lookup, neighbour, filter and NAT models are
   * IPv4's (fib6's source routing, router preference and ip6tables are not modelled), so a verdict
   * would be a guess. It names whose address it is, so the IPv4 trace of the same pair is one step away.
   */
  private ipv6Refusal(text: string, ip: string, role: 'source' | 'destination'): FlannelctlError {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(unbracketed(text))?.[1]
    const owner = mapped === undefined ? this.ipv6Owner(ip) : undefined
    // a link-local address is one per link: `fe80::1%eth0` is asked of the kernel as `oif eth0`
    const zoneName = /%([^%\]]+)\]?$/.exec(text)?.[1]
    const zone = zoneName === undefined ? '' : ` oif ${zoneName}`
    const whose = mapped !== undefined ? ` (the IPv4-mapped form of ${mapped})` : owner === undefined ? '' : ` (an address of ${owner.kind} ${owner.name})`
    const instead = mapped !== undefined ? `give the IPv4 address itself: ${mapped}`
      : owner !== undefined ? `trace ${owner.name} by name for its IPv4 path, and follow IPv6 with \`ip -6 route get ${ip}\` on each host`
        : role === 'source' ? `follow it with \`ip -6 route get DST from ${ip}${zone}\` on the sender, and \`ip -6 route get DST\` on each host after it`
          : `follow it with \`ip -6 route get ${ip}${zone}\` on each host (\`ip -6 route get ${ip} from SRC${zone}\` on the sender)`
    return userError(`the ${role} ${text} is an IPv6 address${whose}: flannelctl trace models IPv4 forwarding only`, instead)
  }

  /** The pod or node that has `ip` (an IPv6 address, compared in canonical form) on an interface. */
  private ipv6Owner(ip: string): {kind: 'pod' | 'node', name: string} | undefined {
    for (const view of this.views.values()) {
      if (!view.snap.addresses?.some(a => a.family === 6 && canonicalIPv6(a.local) === ip)) continue
      const pod = this.podOf(view)
      return pod === undefined ? {kind: 'node', name: view.name} : {kind: 'pod', name: pod.name}
    }
    return undefined
  }

  knownNames(): string {
    const pods = [...this.podsByName.keys()]
    const nodes = this.nodeViews().map(v => v.name)
    const list = (names: string[]) => names.length > 12 ? `${names.slice(0, 12).join(', ')}, … (${names.length} in all)` : names.join(', ')
    const parts = []
    if (pods.length) parts.push(`pods ${list(pods)}`)
    if (nodes.length) parts.push(`nodes ${list(nodes)}`)
    return parts.join('; ') || '(the inventory is empty)'
  }
}

/**
 * The canonical form of an IPv6 address given on a command line (`[fd00::2]`, `fe80::1%eth0`,
 * uncompressed groups are all the same address), or undefined when it is none.
 */
function ipv6Literal(text: string): string | undefined {
  const bare = unbracketed(text)
  return isIPv6(bare) ? canonicalIPv6(bare) : undefined
}

function unbracketed(text: string): string {
  return text.replace(/^\[(.*)\]$/, '$1').replace(/%[^%]*$/, '')
}

function canonicalIPv6(ip: string): string {
  // WHATWG URL parsing compresses an IPv6 host exactly as RFC 5952 (and `ip`) prints it; pure, no lookup
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1)
  } catch {
    return ip.toLowerCase()
  }
}

/**
 * The pod network as the addresses in it suggest: their common prefix, at least as wide as flannel's
 * default /16 (a node's pods alone share its /24, and an accept for that misses traffic it forwards
 * for other nodes' pods: a NodePort's, DNATed to a pod elsewhere). Undefined below a /8.
 */
export function podNetworkGuess(addresses: Iterable<string>): string | undefined {
  let first: number | undefined
  let common = 32
  for (const ip of addresses) {
    const n = ipToInt(ip)
    first ??= n
    const diff = (first ^ n) >>> 0
    common = Math.min(common, diff === 0 ? 32 : Math.clz32(diff))
  }
  if (first === undefined || common < 8) return undefined
  const len = Math.min(common, 16)
  return `${intToIp((first & maskOf(len)) >>> 0)}/${len}`
}

const cache = new WeakMap<World, WorldIndex>()

/** One index per World object: doctor's all-pairs traces share it. Do not mutate a World after tracing it. */
export function indexWorld(world: World): WorldIndex {
  let w = cache.get(world)
  if (!w) cache.set(world, w = new WorldIndex(world))
  return w
}
