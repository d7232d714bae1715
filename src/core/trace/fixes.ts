/**
 * The commands that would mend a failed hop, built from facts in the snapshots (a peer's VTEP MAC
 * from its flannel.1 link, its underlay address) so they can be pasted as they are.
 */
import {inMainTable, makesSubnetRoute, type IptablesRule, type NftChain, type NftRule, type Route} from '../model.js'
import {cidrContains, cidrContainsIp, cidrToString, isIPv4, ipToInt, normaliseDst, parseCidr} from '../addr.js'
import {routeDstText} from './routes.js'
import type {Fix, PodRef, Trace} from './types.js'
import type {HostView} from './host-view.js'
import type {WorldIndex} from './world.js'
import {neighbourUse} from './host-view.js'
import {VXLAN_OVERHEAD, vtepAddress, vxlanDevices} from './vxlan.js'
import {builtByOlderFlanneld, olderFlanneldRules} from '../flannel.js'
import {firewallCmd, firewalldRichAccept, firewalldRichRuleOwner, forwardAcceptHint, isFirewalldTable, nftAcceptHint, nftDeleteOf} from '../forward-verdict.js'
import {chainBeforeConntrack} from './nft.js'

/** The node a destination address belongs to: its pod's node, its owner, or the node whose pod subnet holds it. */
export function homeNode(w: WorldIndex, dst: string): {view: HostView, subnet: string} | undefined {
  const pod = w.podsByIp.get(dst)
  const view = (pod !== undefined ? w.nodeViewOf(pod) : undefined) ?? w.firstOwner(dst, o => w.isNode(o.view))?.view
  if (view !== undefined) return {view, subnet: podSubnet(w, view, dst) ?? dst}
  const home = w.podSubnetOwner(dst)
  if (home === undefined) return undefined
  return {view: home.view, subnet: podSubnet(w, home.view, dst) ?? dst}
}

/**
 * The prefix a node's pods are routed under: the node's own block when it null-routes one
 * (Calico's `blackhole 10.233.64.64/26`), else its pod bridge's connected route (flannel's cni0).
 */
function podSubnet(w: WorldIndex, view: HostView, dst: string): string | undefined {
  let n: number
  try {
    n = ipToInt(dst)
  } catch {
    return undefined
  }
  for (const r of view.snap.routes ?? []) {
    if (r.type !== 'blackhole' && r.type !== 'unreachable') continue
    if (!inMainTable(r)) continue
    try {
      if (cidrContains(parseCidr(normaliseDst(r.dst)), n)) return normaliseDst(r.dst)
    } catch {
      continue
    }
  }
  const r = view.routes?.connectedRoute(dst)
  if (r !== undefined && r.dev !== undefined && w.isPodSide(view, r.dev)) return routeDstText(r)
  return undefined
}

/** Route protocols of the kernel and of an administrator: any other (bird, bgp, zebra, a number) is a routing daemon's, which puts back a route deleted by hand. */
const KERNEL_OR_HAND_PROTOCOLS = new Set(['kernel', 'boot', 'static', 'dhcp', 'ra', 'redirect', 'unspec'])

/**
 * A null route of a node's own pod block that its routing daemon keeps (Calico's BIRD: `blackhole
 * 10.66.1.0/26 proto bird`), matched by `dst`: each pod of the block has a longer route of its own,
 * so what matches the block is an address no pod route covers. Deleting the null route is undone
 * by the daemon, and meanwhile sends the block's free addresses out by the default route: the fix is
 * the pod's missing route where a pod has the address, else none (no pod is there). `home`: homeNode(w, dst).
 */
export function daemonBlockNullRoute(w: WorldIndex, view: HostView, route: Route, dst: string, home: ReturnType<typeof homeNode>): {why: string, fix: Fix[]} | undefined {
  if (route.proto === undefined || KERNEL_OR_HAND_PROTOCOLS.has(route.proto) || route.dst === 'default') return undefined
  // another node's address or pod subnet behind a daemon's null route is a routing fault, fixed as one
  if (home !== undefined && home.view !== view) return undefined
  const kept = `${view.name}'s routing daemon (proto ${route.proto}) keeps ${routeDstText(route)} null-routed, as Calico's BIRD does a node's own pod block for the addresses none of its pods has`
  const pod = w.podAt(dst, view.name)
  if (pod !== undefined && pod.node === view.name) {
    const hostEnd = w.podHostEnd(view, pod)
    const dev = hostEnd !== undefined && hostEnd.master === undefined ? hostEnd.name : undefined
    const route = {node: view.name, command: dev !== undefined ? `ip route replace ${dst} dev ${dev} scope link` : `ip route replace ${dst} dev DEVICE scope link   # DEVICE: ${pod.name}'s veth on ${view.name}`}
    const missing = `${kept}; pod ${pod.name} has ${dst}, but ${view.name} has no route of its own for it (${dst} dev ${dev ?? 'its veth'})`
    // The kernel took the pod's route away when its veth went down, and refuses it back
    // through a device that is down ("Device for nexthop is not up"): the veth comes up first.
    if (dev !== undefined && hostEnd?.up === false) {
      return {why: `${missing}: ${dev} is down, and the kernel drops a device's routes when it goes down`,
        fix: [{node: view.name, command: `ip link set ${dev} up`}, route]}
    }
    return {why: missing, fix: [route]}
  }
  return {why: `${kept}, and no pod read has ${dst}: nothing is there to deliver to (deleting the route would not help: the daemon puts it back)`,
    fix: [{node: view.name, command: `ip route show table all match ${dst}   # a pod's own route for ${dst} would show here: which pod should have it?`}]}
}

/** Routes (with the neighbour and fdb entries they need) that take `view`'s traffic for `dst` to its node. */
export function routeFixes(w: WorldIndex, view: HostView, dst: string): Fix[] {
  const pod = w.podOf(view)
  if (pod !== undefined) return podRouteFixes(w, view, pod)
  const local = w.podAt(dst, view.name)
  if (local !== undefined && local.node === view.name) {
    const bare = bareBridgeFix(w, view, local)
    if (bare !== undefined) return [bare]
  }
  const own = displacedSubnet(view, dst)
  if (own !== undefined) return [{node: view.name, command: own}]
  const home = homeNode(w, dst)
  if (home === undefined || home.view === view) return []
  const peer = home.view
  const fixes: Fix[] = []
  const add = (command: string) => fixes.push({node: view.name, command})
  // A tunnel carries the peer's pods, not the peer's own underlay address: a route sending the
  // outer packet to a VTEP into the tunnel would loop it.
  const tunnels = podSubnet(w, peer, dst) !== undefined ? vxlanDevices(view) : []
  for (const mine of tunnels) {
    const theirDevices = vxlanDevices(peer)
    // Else the device of the same name (flannel.<VNI>) with a VNI or port that differs on one side:
    // that mismatch is a finding with its own fix, and a route around the tunnel (via the peer's
    // underlay address) would be a host-gw route the next sync takes out again.
    const theirs = theirDevices.find(d => d.id === mine.id && d.port === mine.port) ?? theirDevices.find(d => d.name === mine.name)
    const gw = theirs ? peer.deviceAddress(theirs.name) : undefined
    if (theirs === undefined || gw === undefined) continue
    // First: the kernel refuses a route through a device that is down ("Nexthop device is not up"),
    // and dropped the routes and neighbours it had when it went down.
    if (view.deviceDown(mine.name) === true) add(`ip link set ${mine.name} up`)
    const n = view.neighbour(mine.name, gw)
    if (theirs.mac !== undefined && (n === undefined || neighbourUse(n) !== 'usable' || n.lladdr?.toLowerCase() !== theirs.mac)) {
      add(`ip neigh replace ${gw} lladdr ${theirs.mac} dev ${mine.name} nud permanent`)
    }
    const remote = vtepAddress(w, peer, theirs)
    if (theirs.mac !== undefined && remote !== undefined && !view.fdb(mine.name, theirs.mac).some(e => e.dst === remote)) {
      add(`bridge fdb replace ${theirs.mac} dev ${mine.name} dst ${remote} self permanent`)
    }
    add(`ip route replace ${home.subnet} via ${gw} dev ${mine.name} onlink`)
    return fixes
  }
  const table = view.routes
  // the destination is on a link of this host: its connected route reaches it, and a route via
  // another address of its host would only shadow that (r2's `blackhole 10.91.3.2` deleted: b is on b0)
  if (directlyConnected(w, view, dst)) return fixes
  for (const a of peer.ipv4Addresses()) {
    const conn = table?.connectedRoute(a.local)
    // (the destination itself on a link of this host: a route via it to itself is refused, "Nexthop has invalid gateway")
    if (conn !== undefined && conn.dev !== undefined && !w.isPodSide(view, conn.dev) && !view.isLocal(a.local) && a.local !== dst && !tunnelsItsOwnVteps(view, peer, conn.dev, home.subnet)) {
      add(`ip route replace ${home.subnet} via ${a.local} dev ${conn.dev}`)
      return fixes
    }
  }
  // The peer is on no link of this host and there is no tunnel to it: no route via it would work.
  return fixes
}

/** Whether a connected route of `view` (not one to its pods) reaches `dst` without a gateway. */
export function directlyConnected(w: WorldIndex, view: HostView, dst: string): boolean {
  const direct = view.routes?.connectedRoute(dst)
  return direct?.dev !== undefined && !w.isPodSide(view, direct.dev)
}

/**
 * `dst` is on the subnet of an address of this host whose device is up, yet no connected route
 * covers it: another route took the connected route's place (`ip route replace throw|blackhole
 * 10.91.1.0/24` replaces the kernel's `10.91.1.0/24 dev a0 proto kernel`, same prefix and metric),
 * or it was deleted. Deleting the one that took its place brings nothing back: the fix puts the
 * connected route back, as the kernel made it. Routing the subnet via a router instead (router
 * fuzz seed 9191 case 11: via the router that sends it back) loops it.
 */
export function displacedSubnet(view: HostView, dst: string): string | undefined {
  if (view.routes === undefined || view.snap.routesFilter !== undefined || view.routes.connectedRoute(dst) !== undefined) return undefined
  const a = view.ipv4Addresses().find(x => makesSubnetRoute(x) && view.deviceDown(x.dev) !== true && cidrContainsIp(`${x.local}/${x.prefixlen}`, dst) && x.local !== dst)
  if (a === undefined) return undefined
  return `ip route replace ${cidrToString(parseCidr(`${a.local}/${a.prefixlen}`))} dev ${a.dev} proto kernel scope link src ${a.local}`
}

/**
 * Whether `prefix` holds an address `dev`'s encapsulated packets go to (a VTEP its fdb names, or
 * the peer's): a route for it through `dev`, a vxlan device, sends them back into it, which the
 * kernel drops as a circular route.
 */
function tunnelsItsOwnVteps(view: HostView, peer: HostView, dev: string, prefix: string): boolean {
  if (!vxlanDevices(view).some(d => d.name === dev)) return false
  const inPrefix = (ip: string | undefined) => ip !== undefined && isIPv4(ip) && cidrContainsIp(prefix, ip)
  return (view.snap.fdb ?? []).some(e => e.dev === dev && inPrefix(e.dst)) || vxlanDevices(peer).some(d => inPrefix(d.local))
}

/**
 * A pod plugged into a bridge of its node that has no IPv4 address (flushed by a network manager,
 * re-created bare): its connected route, and the pod's gateway, went with the address. The fix
 * gives the bridge the pod's gateway back, with the length of the pod's own prefix.
 */
export function bareBridgeFix(w: WorldIndex, node: HostView, pod: PodRef): Fix | undefined {
  const bridge = w.podWiredDevice(node, pod)
  if (bridge === undefined || node.link(bridge)?.kind !== 'bridge' || node.ipv4On(bridge).length > 0) return undefined
  const ns = w.podView(pod)
  const own = ns?.ipv4Addresses().find(a => a.local === pod.ip && a.prefixlen < 32)
  const gateway = ns?.routes?.lookup('0.0.0.0')?.gateway
  if (gateway === undefined) return undefined
  const len = own !== undefined && cidrContains(parseCidr(`${own.local}/${own.prefixlen}`), ipToInt(gateway)) ? String(own.prefixlen) : undefined
  return {node: node.name, command: len !== undefined ? `ip addr add ${gateway}/${len} dev ${bridge}` : `ip addr add ${gateway}/PREFIX dev ${bridge}   # PREFIX: the length of ${pod.name}'s subnet`}
}

/**
 * A pod left on a subnet its node no longer has (reset, then init on a new lease): its veth in no
 * bridge, no bridge of its node holding its gateway, and the node not routing its address to it.
 * Not a deleted bridge (unpluggedPod), which making the bridge again mends.
 */
export function strandedPod(w: WorldIndex, pod: PodRef): boolean {
  const node = w.nodeViewOf(pod)
  const facing = node === undefined ? undefined : w.podFacingDevice(node, pod)
  if (node === undefined || facing === undefined) return false
  const link = node.link(facing)
  if (link?.kind !== 'veth' || link.master !== undefined || node.proxyArp(facing) || node.routes?.lookup(pod.ip)?.dev === facing) return false
  const gateway = w.podView(pod)?.routes?.lookup('0.0.0.0')?.gateway
  if (gateway === undefined || node.ownAddress(gateway) !== undefined) return false
  return unpluggedPod(w, node, pod) === undefined
}

/** What mends a stranded pod: CNI ADD gives it an address in its node's subnet now. */
export function recreatePodFix(node: string, pod: string): Fix {
  return {node, command: `ip -4 addr show type bridge   # the node's pod subnet now; re-create ${pod} in it`, recreates: pod}
}

/**
 * A pod of `node` whose veth is plugged into no bridge while no bridge of `node` holds its gateway:
 * the bridge was deleted (`ip link del cni0`), and with it the pods' gateway address and their
 * connected route. The fix makes it again (flannel's cni0) and plugs the veth back in: a sync
 * does it for every pod at once, or the commands by hand, as two ways.
 */
export function unpluggedPod(w: WorldIndex, node: HostView, pod: PodRef): {why: string, fix: Fix[]} | undefined {
  const hostEnd = w.podHostEnd(node, pod)
  if (hostEnd?.kind !== 'veth' || hostEnd.master !== undefined || node.ipv4On(hostEnd.name).length > 0) return undefined
  const ns = w.podView(pod)
  const gateway = ns?.routes?.lookup('0.0.0.0')?.gateway
  const own = ns?.ipv4Addresses().find(a => a.local === pod.ip && a.prefixlen < 32)
  const bridge = 'cni0'
  if (gateway === undefined || own === undefined || node.ownAddress(gateway) !== undefined || node.link(bridge) !== undefined) return undefined
  const byHand = [`ip link add ${bridge} type bridge`, `ip addr add ${gateway}/${own.prefixlen} dev ${bridge}`, `ip link set ${bridge} up`, `ip link set ${hostEnd.name} master ${bridge}`]
  return {
    why: `${pod.name}'s veth ${hostEnd.name} on ${node.name} is plugged into no bridge, and no device of ${node.name} holds ${pod.name}'s gateway ${gateway}: its bridge was deleted, with the gateway address and the route to the pods`,
    // an older flanneld's node has no sync to offer: the commands by hand are its fix
    fix: builtByOlderFlanneld(node.snap) ? byHand.map(command => ({node: node.name, command})) : [
      {node: node.name, command: 'flannelctl sync', option: {choice: 1, recommended: true,
        why: `where flannelctl built ${node.name}: sync makes ${bridge} again as it was (its address, its MTU) and plugs every pod's veth back into it, at once`}},
      ...byHand.map(command => ({node: node.name, command, option: {choice: 2, why: `by hand, on any node: flannel's bridge with ${pod.name}'s gateway, and ${pod.name}'s veth plugged back (another pod's veth, likewise)`}})),
    ],
  }
}

/** A sysctl command line; sysctl spells a dot inside a device name as a slash (`flannel/1`). */
export function sysctlCommand(key: string, value: string | number): string {
  return `sysctl -w ${sysctlSpelling(key)}=${value}`
}

/** A key as sysctl takes it: a device name's dots as slashes (`net.ipv4.conf.flannel/1.rp_filter`). */
export function sysctlSpelling(key: string): string {
  const m = /^(net\.ipv4\.conf\.)(.+)\.([a-z_]+)$/.exec(key)
  return m ? `${m[1]}${m[2].replace(/\./g, '/')}.${m[3]}` : key
}

/** A pod's namespace needs a default route through its node. */
function podRouteFixes(w: WorldIndex, view: HostView, pod: PodRef): Fix[] {
  const node = w.nodeViewOf(pod)
  const dev = view.ownAddress(pod.ip)?.dev ?? 'eth0'
  const facing = node ? w.podFacingDevice(node, pod) : undefined
  const gw = node && facing ? node.deviceAddress(facing, pod.ip) : undefined
  if (gw !== undefined) return [{node: view.name, command: `ip route replace default via ${gw} dev ${dev}`}]
  if (node && facing && node.proxyArp(facing)) {
    return [
      {node: view.name, command: `ip route replace 169.254.1.1 dev ${dev} scope link`},
      {node: view.name, command: `ip route replace default via 169.254.1.1 dev ${dev}`},
    ]
  }
  return []
}

/**
 * The pod network, for ACCEPT rules: the one the world was told (the net-conf's), else guessed from
 * the pod addresses. Undefined when neither end is a pod (an accept for the flow itself fits then).
 */
export function podNetwork(w: WorldIndex, a: string, b: string): string | undefined {
  const known = w.world.network
  if (known !== undefined && [a, b].some(ip => isIPv4(ip) && cidrContainsIp(known, ip))) return known
  if (!w.podsByIp.has(a) && !w.podsByIp.has(b)) return undefined
  return w.guessedPodNetwork()
}


/**
 * A reply or an error about a connection (conntrack ESTABLISHED, RELATED) is let through by its
 * state: its port is the client's ephemeral one, which an accept for the traced flow would only guess.
 */
type FilteredPacket = {src: string, dst: string, proto: string, dport?: number, sport?: number, ephemeral?: 'sport' | 'dport', state?: string, dstRange?: string}
const ofConnection = (p: FilteredPacket) => p.state === 'ESTABLISHED' || p.state === 'RELATED'

/**
 * The port an accept for the flow names: not the client's ephemeral one, which the next connection
 * does not reuse. A reply that no conntrack state lets through (NOTRACK made it UNTRACKED) goes to
 * that port: its source, the server's port, is what every reply of the service has.
 */
function acceptPort(p: FilteredPacket): {side: 'sport' | 'dport', port: number} | undefined {
  if (p.proto !== 'tcp' && p.proto !== 'udp') return undefined
  if (p.ephemeral === 'dport' && p.sport !== undefined) return {side: 'sport', port: p.sport}
  return p.dport !== undefined ? {side: 'dport', port: p.dport} : undefined
}

/**
 * Chains (and nftables tables) a controller writes and puts back as it wrote them: a rule deleted
 * by hand comes back (at Felix's and kube-proxy's periodic resync, when docker restarts).
 * The fix offers two ways: what to change instead (`lasting`, recommended), or the deletion, a
 * temporary workaround.
 */
const CONTROLLERS: {chain: RegExp, nftTable?: string, owner: string, back: string, lasting: string, instead: (p: FilteredPacket) => string, cluster?: true}[] = [
  {chain: /^cali-/, nftTable: 'calico', owner: "Calico's Felix", back: 'at its next resync',
    lasting: 'change the policy: Felix writes this rule from the cluster\'s NetworkPolicy, so an allow there lasts',
    instead: p => `kubectl get networkpolicy -A   # Calico policy drops ${flowText(p)}: allow it in the NetworkPolicy (or Calico GlobalNetworkPolicy) that selects the pod`, cluster: true},
  {chain: /^KUBE-/, nftTable: 'kube-proxy', owner: 'kube-proxy (KUBE-FIREWALL: kubelet)', back: 'at its next sync',
    lasting: 'change the Service: kube-proxy writes this rule from it, so a change there lasts',
    instead: () => 'kubectl get services,endpointslices -A   # kube-proxy writes this rule from a Service: change the Service (its endpoints, externalTrafficPolicy, loadBalancerSourceRanges)', cluster: true},
  {chain: /^DOCKER(?!-USER$)/, owner: 'docker', back: 'when it restarts',
    lasting: 'an accept in DOCKER-USER, which is yours: FORWARD passes it first and docker leaves it alone',
    instead: p => `iptables -I DOCKER-USER ${ofConnection(p) ? '-m conntrack --ctstate RELATED,ESTABLISHED' : `-s ${p.src} -d ${p.dst}`} -j ACCEPT`},
]

const flowText = (p: FilteredPacket) => `${p.proto} ${p.src} → ${p.dst}${p.dport !== undefined ? `:${p.dport}` : ''}`

/** What to change instead of a controller's rule, or its deletion as a temporary workaround, as two ways; undefined for a rule no controller owns. */
function controlledFixes(node: string, chain: string, nftTable: string | undefined, remove: string, p: FilteredPacket): Fix[] | undefined {
  const c = CONTROLLERS.find(x => nftTable !== undefined ? x.nftTable === nftTable : x.chain.test(chain))
  if (c === undefined) return undefined
  return [
    {node, command: c.instead(p), ...(c.cluster ? {scope: 'cluster' as const} : {}), option: {choice: 1, recommended: true, why: c.lasting}},
    {node, command: remove, option: {choice: 2, why: `delete the rule, a temporary workaround only: ${c.owner} owns ${nftTable !== undefined ? `table ${nftTable}` : chain} and puts the rule back ${c.back}`}},
  ]
}

export function filterFixes(view: HostView, table: string, chain: string, rule: IptablesRule | undefined,
  network: string | undefined, packet: FilteredPacket): Fix[] {
  const t = table === 'filter' ? '' : `-t ${table} `
  if (rule !== undefined) {
    const remove = `iptables ${t}-D ${rule.chain} ${rule.spec}`
    return controlledFixes(view.name, rule.chain, undefined, remove, packet) ?? [{node: view.name, command: remove}]
  }
  if (chain === 'FORWARD' && network !== undefined) return forwardAcceptHint(network, table).map(command => ({node: view.name, command}))
  // the raw table runs before conntrack: there no packet has its connection yet
  if (ofConnection(packet) && table !== 'raw') return [{node: view.name, command: `iptables ${t}-I ${chain} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`}]
  const port = acceptPort(packet)
  const proto = `-p ${packet.proto}${port !== undefined ? ` --${port.side} ${port.port}` : ''}`
  // a DNAT to a range gives each connection its own address of it: the accept holds for all of them
  const dst = packet.dstRange !== undefined ? `-m iprange --dst-range ${packet.dstRange}` : `-d ${packet.dst}`
  return [{node: view.name, command: `iptables ${t}-I ${chain} -s ${packet.src} ${dst} ${proto} -j ACCEPT`}]
}

/**
 * What lets a packet through a native nftables base chain `c` that drops it: a rule that matches
 * some packets only (it names an address, a port, a set) is deleted by its handle; a catch-all
 * rule or the chain's policy stays, and an accept for the pod network (for the flow, off FORWARD)
 * goes first in the base chain, where it ends the chain's walk before the drop. In firewalld's
 * table nothing is changed with nft (a reload undoes it): a rich rule's drop gets a rich accept
 * ahead of it, the rest the trusted zone or an opened port. The text form
 * without `-a` has no handles: the accept then too.
 */
export function nftFilterFixes(view: HostView, c: NftChain, rule: NftRule | undefined, hook: string,
  network: string | undefined, packet: FilteredPacket): Fix[] {
  const firewalld = isFirewalldTable(c)
  // in firewalld's table an nft deletion is undone by the next firewall-cmd --reload: what lasts is its configuration
  const remove = firewalld ? undefined : nftDeleteOf(rule)
  if (remove !== undefined) return controlledFixes(view.name, c.name, c.table, remove, packet) ?? [{node: view.name, command: remove}]
  const richRuleOf = firewalld && rule !== undefined ? firewalldRichRuleOwner(rule.chain) : undefined
  if (richRuleOf !== undefined && !ofConnection(packet)) {
    const source = hook === 'FORWARD' && network !== undefined && cidrContainsIp(network, packet.src) ? network : packet.src
    const port = acceptPort(packet)
    const what = port !== undefined ? `${port.side === 'sport' ? 'source-port' : 'port'} port="${port.port}" protocol="${packet.proto}"` : `protocol value="${packet.proto}"`
    return firewalldRichAccept(richRuleOf, `source address="${source}" ${what}`).map(command => ({node: view.name, command}))
  }
  const insert = (match: string): Fix => ({node: view.name, command: `nft insert rule ${c.family} ${c.table} ${c.name} ${match} accept`})
  // firewalld's trusted zone takes sources: a packet from outside the pod network gets its own accept (lost on a reload)
  if (hook === 'FORWARD' && network !== undefined && (!isFirewalldTable(c) || cidrContainsIp(network, packet.src))) {
    return nftAcceptHint(c, network).map(command => ({node: view.name, command}))
  }
  // a port firewalld's zone does not open (vxlan's 8472 at INPUT): opened in its zone, which lasts
  if (isFirewalldTable(c) && hook === 'INPUT' && !ofConnection(packet) && packet.ephemeral !== 'dport' && packet.dport !== undefined && (packet.proto === 'udp' || packet.proto === 'tcp')) {
    return firewallCmd(`--add-port=${packet.dport}/${packet.proto}`).map(command => ({node: view.name, command}))
  }
  // below conntrack's priority no packet has its connection yet: a reply is let by as a flow of its own
  if (ofConnection(packet) && !chainBeforeConntrack(c)) return [insert('ct state established,related')]
  const port = acceptPort(packet)
  const proto = packet.proto === 'icmp' ? 'ip protocol icmp' : port !== undefined ? `${packet.proto} ${port.side} ${port.port}` : `meta l4proto ${packet.proto}`
  return [insert(`ip saddr ${packet.src} ip daddr ${packet.dst} ${proto}`)]
}

/**
 * Why `dev` is down and the command that brings it up. A device that is itself up but has no carrier
 * (NO-CARRIER, LOWERLAYERDOWN) waits for what is behind it: a veth for its other end, in the pod's namespace or on its node, so that is
 * where the fix goes: `ip link set DEV up` on the end that is already up changes nothing.
 */
export function linkDownCause(w: WorldIndex, view: HostView, dev: string, toward?: string): {why: string, fix: Fix[]} {
  const link = view.link(dev)
  const here = {why: `${dev} on ${view.name} is down`, fix: [{node: view.name, command: `ip link set ${dev} up`}]}
  if (link === undefined || !link.up) return here
  if (link.kind === 'bridge') {
    // Set up, yet without carrier: no port of it is up. The port the packet needs is the veth to the
    // pod that holds its next hop; bringing that one up (or its pod's end) gives the bridge its carrier.
    const port = toward === undefined ? undefined : portToward(w, view, dev, toward)
    if (port !== undefined) return {why: `${dev} on ${view.name} is up but has no carrier: no port of it is up, and its port to ${toward}, ${port.why}`, fix: port.fix}
    // Veths in no bridge and without an address are pods' host ends a deleted and re-created bridge let go of.
    const loose = (view.snap.links ?? []).filter(l => l.kind === 'veth' && l.master === undefined && view.ipv4On(l.name).length === 0)
    return {why: `${dev} on ${view.name} is up but has no carrier: no port of it is up${loose.length > 0 ? ` (${loose.map(l => l.name).join(', ')} ${loose.length === 1 ? 'is' : 'are'} in no bridge)` : ''}`,
      fix: loose.length > 0 ? loose.map(l => ({node: view.name, command: `ip link set ${l.name} master ${dev}`})) : [{node: view.name, command: `ip link show master ${dev}`}]}
  }
  if (link.kind !== 'veth' || link.peerIndex === undefined) {
    // admin up without carrier: `ip link set up` is already done; what is missing lies behind the device
    return {why: `${dev} on ${view.name} is up but has no carrier: its cable, or the device behind it (the other end of a veth), is down`, fix: [{node: view.name, command: `ip -d link show ${dev}`}]}
  }
  const other = vethOtherEnd(w, view, link.index, link.peerIndex)
  if (other === undefined) {
    return {why: `${dev} on ${view.name} is up but has no carrier: the other end of the veth (ifindex ${link.peerIndex}, in a namespace not read) is down`,
      fix: [{node: view.name, command: `ip -d link show ${dev}`}]}
  }
  return {why: `${dev} on ${view.name} is up but has no carrier: the other end of the veth, ${other.dev} on ${other.view.name}, is down`,
    fix: [{node: other.view.name, command: `ip link set ${other.dev} up`}]}
}

/**
 * The port of `bridge` whose veth leads to the pod that holds `address`, and why it carries nothing:
 * set down here, or its pod's end set down.
 */
function portToward(w: WorldIndex, view: HostView, bridge: string, address: string): {why: string, fix: Fix[]} | undefined {
  for (const port of view.snap.links ?? []) {
    if (port.master !== bridge || port.kind !== 'veth' || port.peerIndex === undefined) continue
    const other = vethOtherEnd(w, view, port.index, port.peerIndex)
    if (other === undefined || !other.view.ipv4On(other.dev).some(a => a.local === address)) continue
    if (!port.up) return {why: `${port.name}, is down`, fix: [{node: view.name, command: `ip link set ${port.name} up`}]}
    if (other.view.link(other.dev)?.up === false) {
      return {why: `${port.name}, has no carrier: the other end of the veth, ${other.dev} in ${other.view.name}, is down`, fix: [{node: other.view.name, command: `ip link set ${other.dev} up`}]}
    }
  }
  return undefined
}

/** The other end of a veth: in the pod's node when `view` is a pod, else in one of the node's pods. */
export function vethOtherEnd(w: WorldIndex, view: HostView, index: number | undefined, peerIndex: number): {view: HostView, dev: string} | undefined {
  const pod = w.podOf(view)
  const node = pod !== undefined ? w.nodeViewOf(pod) : undefined
  const candidates = node !== undefined ? [node] : w.podsOn(view.name).map(p => w.podView(p)).filter((v): v is HostView => v !== undefined)
  for (const c of candidates) {
    const l = c.linkByIndex(peerIndex)
    if (l !== undefined && l.kind === 'veth' && (index === undefined || l.peerIndex === undefined || l.peerIndex === index)) return {view: c, dev: l.name}
  }
  return undefined
}

/** How a node's sync that takes a peer's entries anew is written: its command, then why. */
const BEHIND_SYNC = 'flannelctl sync   # '

/**
 * That fix for a node behind a peer's move: its sync replaces every entry of the peer's old lease at
 * once. `byHand`: the commands that do the same by hand follow it (marked `byHand`), which its text
 * announces. `unpublished`: the peer's lease still announces its VTEP's old MAC, which a sync before
 * the peer's own would write.
 */
export function behindMoveSync(node: string, peer: string, subnet: string, {unpublished = false, byHand}: {unpublished?: boolean; byHand: boolean}): Fix {
  const command = `${BEHIND_SYNC}${node} has not synced since ${peer}'s lease moved to ${subnet}: ${
    unpublished ? `once ${peer}'s own sync has published its VTEP's new MAC (VTEP_MAC_NOT_PUBLISHED), ` : ''}it replaces the old entries${byHand ? '; or by hand:' : ''}`
  return {node, command, sync: 'peer'}
}

/** The sync of a node whose neighbour still has a peer's VTEP's old MAC: it writes the one the peer's lease announces. */
export function peerMacSync(node: string, peer: string): Fix {
  return {node, command: `${BEHIND_SYNC}${node} takes ${peer}'s VTEP MAC from its lease`, sync: 'peer'}
}

/**
 * A node whose lease still announces its VTEP's old MAC: its sync publishes the new one, which peers
 * then sync. On a node an older flanneld built (`olderFlanneld`), flanneld does it on start.
 */
export function publishVtepMacFix(node: string, device: string, olderFlanneld = false): Fix {
  if (olderFlanneld) return {node, command: `systemctl restart flanneld   # on start it announces ${device}'s MAC in its lease; peers' flanneld follow`}
  return {node, command: `flannelctl sync   # publishes ${device}'s MAC in the lease (flanneld: restart it); then flannelctl sync on the peers`, sync: 'publish'}
}

/**
 * A vxlan tunnel whose underlay no longer has the room it was sized for, while the peers' underlay
 * (`roomy`) still has it: this node's underlay is the one that shrank. Two ways mend it, as options.
 * Recommended: give the underlay back the peers' MTU (and the tunnel with it), one node's change
 * that mends every pair, where the network under it carries that size as it does under the peers
 * (a device set above what its link carries loses every large frame). Else fit the tunnel and
 * what sends into it (`senders`: the pods, or the node's bridge) to the smaller underlay, what
 * flannel sizes for it; that mends every pair only once every node and pod is lowered alike: a
 * pod's eth0 drops what arrives larger than its MTU (checked: a pod at 1350 loses a peer pod's
 * 1450-byte ping), and the peers' tunnels still send full size to this node.
 */
export function tunnelMtuFixes({node, underlay, vxlan, roomy, senders}: {
  /** the node whose underlay shrank */
  node: string
  underlay: {name: string; mtu: number}
  /** the tunnel sending over it: `node`'s own, or a peer's whose packets arrive on it (`on`) */
  vxlan: {name: string; mtu: number; on?: string}
  roomy: number
  senders: Fix[]
}): Fix[] {
  const vxNode = vxlan.on ?? node
  const fit = underlay.mtu - VXLAN_OVERHEAD
  const raise = {choice: 1, recommended: true as const,
    why: `${underlay.name} on ${node} back to ${roomy}, the MTU ${vxlan.name} was sized for and the other nodes' underlay has: one node's change that mends every pair, where the network under ${node} carries ${roomy}-byte packets as it does under them`}
  const lower = {choice: 2,
    why: `where the network under ${node} carries only ${underlay.mtu}: what sends into ${vxlan.name}${vxlan.on !== undefined ? ` on ${vxlan.on}` : ''}${vxlan.mtu > fit ? ` and ${vxlan.name} itself` : ''} down to ${fit}, what flannel gives pods over that underlay (FLANNEL_MTU; a pod re-created gets it); every pair works only once every node's ${vxlan.name} and every pod are lowered alike, as a pod drops what arrives larger than its MTU`}
  return [
    {node, command: `ip link set ${underlay.name} mtu ${roomy}`, option: raise},
    ...(vxNode === node && vxlan.mtu < roomy - VXLAN_OVERHEAD ? [{node, command: `ip link set ${vxlan.name} mtu ${roomy - VXLAN_OVERHEAD}`, option: raise}] : []),
    ...(vxlan.mtu > fit ? [{node: vxNode, command: `ip link set ${vxlan.name} mtu ${fit}`, option: lower}] : []),
    ...senders.map(f => ({...f, option: lower})),
  ]
}

/**
 * A trace that arrives with its source rewritten carries a SOURCE_NATED warning but no failure,
 * so no fix. The rule is in the hop's nat step: a foreign rule is deleted as it was added; one of
 * flannel's own chains is put right by a sync. An older flanneld's masquerade straight in
 * POSTROUTING (before 0.20, commented or not) is its own, needed for pod traffic leaving the
 * network: what pod-to-pod traffic lost is the RETURN it wrote before it, put back in front.
 */
export function sourceNatFixes(trace: Trace): Fix[] {
  const warned = new Set(trace.warnings.filter(w => w.code === 'SOURCE_NATED').map(w => w.node))
  const fixes: Fix[] = []
  for (const hop of trace.hops) {
    if (!warned.has(hop.node)) continue
    for (const step of hop.steps) {
      if (step.kind !== 'nat' || (step.verdict !== 'masquerade' && step.verdict !== 'snat')) continue
      const m = /^-A (\S+) (.*)$/.exec(step.evidence.trim())
      if (!m) continue
      const older = m[1] === 'POSTROUTING' ? olderFlanneldRules([{table: 'nat', chain: m[1], spec: m[2]}]) : undefined
      const command = older !== undefined
        ? `iptables -t nat -I POSTROUTING 1 -s ${older.network} -d ${older.network} -j RETURN   # its flanneld's pod-to-pod exemption, back before its masquerade`
        : m[2].includes('flanneld masq') ? 'flannelctl sync' : `iptables -t nat -D ${m[1]} ${m[2]}`
      if (!fixes.some(f => f.node === hop.node && f.command === command)) fixes.push({node: hop.node, command})
    }
  }
  return fixes
}

/** The prefix and table an `ip route replace` or `ip route del` command names (a null route's type word skipped), else undefined. */
function routeCommandTarget(command: string, verb: 'replace' | 'del'): string | undefined {
  const m = new RegExp(`^ip route ${verb} (?:(?:blackhole|unreachable|prohibit|throw|unicast) )?(\\S+)(.*)$`).exec(command.replace(/#.*$/, '').trim())
  if (m === null) return undefined
  return `${m[1] === 'default' ? 'default' : normaliseDst(m[1])} table ${/\btable (\S+)/.exec(m[2])?.[1] ?? 'main'}`
}

/** the device `ip link set DEV up` brings up */
function deviceBroughtUp(command: string): string | undefined {
  return /^ip link set (\S+) up$/.exec(command.trim())?.[1]
}

/** whether a command adds a route through `dev`, which the kernel refuses while `dev` is down ("Device for nexthop is not up") */
function routesThrough(command: string, dev: string): boolean {
  const m = /^ip route (?:add|replace|change|append) (.*)$/.exec(command.replace(/#.*$/, '').trim())
  return m !== null && m[1].split(/\s+/).some((word, i, words) => word === dev && words[i - 1] === 'dev')
}

/** whether `fixes` already hold `fix`: the same command on the same node */
const listsFix = (fixes: readonly Fix[], fix: Fix) => fixes.some(x => x.node === fix.node && x.command === fix.command)

/**
 * `fixes`, then those of `more` it lacks, in the order found: for fixes found on the tables `fixes`
 * leave (a stop behind the first fault), which run after them; mergeFixes' reordering is for fixes
 * read from one state.
 */
export function appendFixes(fixes: Fix[], more: Fix[]): Fix[] {
  return [...fixes, ...more.filter(f => !listsFix(fixes, f))]
}

/**
 * `fixes` and then those of `more` it lacks, as one list to run top to bottom (the request's fixes and
 * the reply's). Two of `more` go earlier, where run last they would come too late:
 * - a route deletion, before a replace in `fixes` of the same prefix on the same node: the replace
 *   overwrites the route in its place (a null route too, at the same metric), so run after it the
 *   deletion finds nothing and fails ("No such process");
 * - `ip link set DEV up`, before a route in `fixes` through DEV on the same node: the kernel refuses
 *   a route through a device that is down.
 */
export function mergeFixes(fixes: Fix[], more: Fix[]): Fix[] {
  const merged = [...fixes]
  for (const f of more) {
    if (listsFix(merged, f)) continue
    const deleted = routeCommandTarget(f.command, 'del')
    const up = deviceBroughtUp(f.command)
    const before = deleted !== undefined ? merged.findIndex(x => x.node === f.node && routeCommandTarget(x.command, 'replace') === deleted)
      : up !== undefined ? merged.findIndex(x => x.node === f.node && routesThrough(x.command, up))
        : -1
    if (before >= 0) merged.splice(before, 0, f)
    else merged.push(f)
  }
  return merged
}
