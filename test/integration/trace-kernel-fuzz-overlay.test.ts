/**
 * A randomised differential test of trace against the kernel on flannel's own data path: two nodes
 * n1 and n2 on one underlay link (eth0, 10.92.0.1 and .2), each with a bridge cni0 (10.93.N.1/24)
 * holding two pods (pN a at .2, pN b at .3) and a vxlan device flannel.1 (10.93.N.0/32) that routes
 * the peer's pod subnet through the peer's VTEP, as flanneld sets it up. Each case (fast-check, seeded)
 * draws, per node, the vxlan device (VNI, dstport, `local` right / wrong / none, learning, `df set` or
 * `inherit`, l2miss/l3miss, MTU, up or down), the entries flanneld writes for the peer (the fdb entry right / missing / to a wrong, a third
 * or an off-link address / for another MAC / only all-zero entries, duplicated; the neighbour entry
 * of the peer's VTEP right / missing / another MAC / noarp / stale / reachable / failed; the route
 * to the peer's subnet by the VTEP onlink / missing / by the underlay / by the whole /16 on the
 * device / through a gateway nobody answers for) and a few faults more (MTU of the vxlan, bridge, pod
 * veth (either end) and underlay; a device down; a bridge port's hairpin; rp_filter; FORWARD policy
 * DROP with or without flanneld's accepts, drops of the vxlan port or the tunnel's traffic;
 * flanneld's masquerade). It probes from a pod (or a node) to a pod on the other node, on its own
 * node, to the other node's addresses, or to a Service-like address both nodes DNAT to n1's first
 * pod (the hairpin case), by ping (with `-M do` and a size near the MTUs, or none), UDP or TCP, and
 * compares what the kernel did with `trace SRC DST --json`:
 * - whether the reply came back, against request and reply DELIVERED;
 * - whether the request reached a destination pod (its IpInReceives), against the trace's hops;
 * - the devices the packets left the nodes by (cni0, flannel.1 and the underlay's eth0: tx counters,
 *   probed again once ARP is done), against the trace's hops, where both get through;
 * - the DROP rule or policy whose counter moved, against a `DENIED_BY_FILTER` failure's evidence;
 * - whether rp_filter dropped (TcpExt IPReversePathFilter), and where;
 * - the host an ICMP error came from (ping), against the failure's node, and a "fragmentation
 *   needed" (or the sender's own "message too long") against `MTU_EXCEEDED`.
 * Where the trace says ASSUMED or INSUFFICIENT_INFO, a disagreement is reported but tolerated.
 *
 * FC_KDIFF_RUNS (default 10) and FC_KDIFF_SEED (default 1) run more cases for hunting; FC_KDIFF_CASE=i
 * runs only case i of that seed; FC_KDIFF_TRACEROUTE=1 compares `traceroute -n -I` for each ping too; FC_KDIFF_FAULTS=n draws up to n faults a node (default 2); FC_KDIFF_VERBOSE=1 prints the tolerated disagreements, =2 every case.
 * A failure prints the seed, the case's index and the commands that built it; FC_KDIFF_COLLECT=DIR
 * writes the hosts' tables of each disagreeing case there (`collect --format txt`), a fixture's start.
 * FC_KDIFF_TAG=vx makes the namespaces fcov-vx…-HOST (for several hunts on one machine).
 * Each case trace and the kernel agree dies in has its fix run and is probed again (runCases, fix-probe.ts):
 * a fix that fails to run or leaves the same drop fails the case; FC_KDIFF_FIXES=0 leaves the fixes out.
 * FC_KDIFF_NETNS=xy names the namespaces and scratch directory xy-… instead of fcov-….
 */
import {expect} from 'chai'
import fc from 'fast-check'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {spawn, type ChildProcess} from 'node:child_process'
import {join} from 'node:path'
import {cli, sh, shIn, uniqueLab} from '../helpers/cli.js'
import {type CaseResult, CLIENT, FLUSH_CONNTRACK, FORGET_UNRESOLVED, compareWithKernel, devicesProbedAgain, readCounters, runCases, SERVER} from '../helpers/kernel-probe.js'
import {python3} from '../helpers/python.js'
import type {Trace} from '../../src/core/trace/types.js'

type Node = 'n1' | 'n2'
type Pod = 'p1a' | 'p1b' | 'p2a' | 'p2b'
type Host = Node | Pod
type Proto = 'icmp' | 'udp' | 'tcp'
interface Case {
  src: Host
  dst: string
  proto: Proto
  dport: number
  /** the IP packet's size, sent with DF (ping -M do); absent: ping's default */
  size?: number
  /** the commands that build the case on each host, after the reset (the vxlan device and flanneld's entries included) */
  setup: Partial<Record<Host, string[]>>
}

const NODES: Node[] = ['n1', 'n2']
const PODS: Record<Node, Pod[]> = {n1: ['p1a', 'p1b'], n2: ['p2a', 'p2b']}
const HOSTS: Host[] = ['n1', 'n2', 'p1a', 'p1b', 'p2a', 'p2b']
const INDEX: Record<Node, number> = {n1: 1, n2: 2}
const PEER: Record<Node, Node> = {n1: 'n2', n2: 'n1'}
const UNDERLAY: Record<Node, string> = {n1: '10.92.0.1', n2: '10.92.0.2'}
const VTEP_MAC: Record<Node, string> = {n1: '0e:00:00:00:00:01', n2: '0e:00:00:00:00:02'}
const POD_IP: Record<Pod, string> = {p1a: '10.93.1.2', p1b: '10.93.1.3', p2a: '10.93.2.2', p2b: '10.93.2.3'}
const NODE_OF: Record<Pod, Node> = {p1a: 'n1', p1b: 'n1', p2a: 'n2', p2b: 'n2'}
/** each pod's veth on its node, a port of cni0 */
const PORT: Record<Pod, string> = {p1a: 'veth-a', p1b: 'veth-b', p2a: 'veth-a', p2b: 'veth-b'}
/** an address both nodes DNAT to p1a (a Service's cluster IP, say): from p1a it comes back to the port it left by */
const SERVICE_IP = '10.96.0.10'
const OWNER: Record<string, Host> = {
  '10.92.0.1': 'n1', '10.93.1.1': 'n1', '10.93.1.0': 'n1', '10.92.0.2': 'n2', '10.93.2.1': 'n2', '10.93.2.0': 'n2',
  ...Object.fromEntries(Object.entries(POD_IP).map(([p, ip]) => [ip, p as Pod])),
}
const BASE_MTU = 1450

// ---- the grammar ----------------------------------------------------------------------------
/**
 * A node as flanneld leaves it, in parts a fault replaces: the vxlan device's parameters, the fdb and
 * neighbour entries for the peer's VTEP, the route to the peer's pod subnet, and commands after them.
 */
interface NodeParts {
  vni: number
  port: number
  /** `local ADDRESS`, or '' for none */
  local: string
  /** `nolearning` or `learning`, and any further words of `ip link add … type vxlan` */
  flags: string
  fdb: string[]
  neigh: string[]
  route: string[]
  more: string[]
}
const flanneldParts = (n: Node): NodeParts => ({
  vni: 1, port: 8472, local: `local ${UNDERLAY[n]}`, flags: 'nolearning',
  fdb: [`bridge fdb append ${VTEP_MAC[PEER[n]]} dev flannel.1 dst ${UNDERLAY[PEER[n]]} self permanent`],
  neigh: [`ip neigh replace 10.93.${INDEX[PEER[n]]}.0 lladdr ${VTEP_MAC[PEER[n]]} dev flannel.1 nud permanent`],
  route: [`ip route replace 10.93.${INDEX[PEER[n]]}.0/24 via 10.93.${INDEX[PEER[n]]}.0 dev flannel.1 onlink`],
  more: [],
})
/** the commands that build a node's parts (the vxlan device's MTU on its own: the kernel refuses one above the underlay's less 50) */
const nodeCommands = (n: Node, p: NodeParts): string[] => [
  `ip link add flannel.1 type vxlan id ${p.vni} ${p.local} dev eth0 dstport ${p.port} ${p.flags}`.replace(/ +/g, ' '),
  `ip link set flannel.1 address ${VTEP_MAC[n]} up`, `ip link set flannel.1 mtu ${BASE_MTU}`, `ip addr add 10.93.${INDEX[n]}.0/32 dev flannel.1`,
  ...p.fdb, ...p.neigh, ...p.route, ...p.more,
]
type Fault = (p: NodeParts) => NodeParts
/** the vxlan device with one parameter off */
const deviceFault = (n: Node): fc.Arbitrary<Fault> => fc.oneof(
  fc.constant((p: NodeParts) => ({...p, vni: 2})),
  fc.constant((p: NodeParts) => ({...p, port: 4789})),
  fc.constantFrom('local 10.92.0.9', `local ${UNDERLAY[PEER[n]]}`, '').map(local => (p: NodeParts) => ({...p, local})),
  fc.constant((p: NodeParts) => ({...p, flags: 'learning'})),
  // learning and no entry for the peer: what it learns from the peer's frames is all it has
  fc.constant((p: NodeParts) => ({...p, flags: 'learning', fdb: []})),
  // DF on the outer packet (a black hole where the underlay is narrower), flannel before 0.9's miss notifications
  fc.constantFrom('df set', 'df inherit', 'l2miss l3miss').map(extra => (p: NodeParts) => ({...p, flags: `${p.flags} ${extra}`})),
)
/** the fdb entry for the peer's VTEP MAC: where its frames go */
const fdbFault = (n: Node): fc.Arbitrary<Fault> => {
  const mac = VTEP_MAC[PEER[n]]
  const peer = UNDERLAY[PEER[n]]
  return fc.constantFrom(
    [],
    // its own address, one on the link nobody has, one no route reaches
    [`bridge fdb append ${mac} dev flannel.1 dst ${UNDERLAY[n]} self permanent`],
    [`bridge fdb append ${mac} dev flannel.1 dst 10.92.0.3 self permanent`],
    [`bridge fdb append ${mac} dev flannel.1 dst 10.99.0.1 self permanent`],
    // the entry for a MAC the peer does not have
    [`bridge fdb append 0e:00:00:00:00:09 dev flannel.1 dst ${peer} self permanent`],
    // all-zero entries (the default destinations: each unknown frame goes to all of them), duplicated
    [`bridge fdb append 00:00:00:00:00:00 dev flannel.1 dst ${peer} self permanent`, 'bridge fdb append 00:00:00:00:00:00 dev flannel.1 dst 10.92.0.3 self permanent'],
    ['bridge fdb append 00:00:00:00:00:00 dev flannel.1 dst 10.92.0.3 self permanent'],
    [`bridge fdb append ${mac} dev flannel.1 dst ${peer} self permanent`, 'bridge fdb append 00:00:00:00:00:00 dev flannel.1 dst 10.92.0.3 self permanent'],
  ).map(fdb => (p: NodeParts) => ({...p, fdb}))
}
/** the neighbour entry of the peer's VTEP address (10.93.P.0) on flannel.1 */
const neighFault = (n: Node): fc.Arbitrary<Fault> => {
  const vtep = `10.93.${INDEX[PEER[n]]}.0`
  const mac = VTEP_MAC[PEER[n]]
  return fc.constantFrom(
    [],
    [`ip neigh replace ${vtep} lladdr 0e:00:00:00:00:09 dev flannel.1 nud permanent`],
    [`ip neigh replace ${vtep} lladdr ${mac} dev flannel.1 nud noarp`],
    [`ip neigh replace ${vtep} lladdr ${mac} dev flannel.1 nud stale`],
    [`ip neigh replace ${vtep} lladdr ${mac} dev flannel.1 nud reachable`],
    [`ip neigh replace ${vtep} dev flannel.1 nud failed`],
  ).map(neigh => (p: NodeParts) => ({...p, neigh}))
}
/** the route to the peer's pod subnet */
const routeFault = (n: Node): fc.Arbitrary<Fault> => {
  const i = INDEX[PEER[n]]
  return fc.constantFrom(
    [],
    // host-gw's route instead: the peer forwards what comes in by its eth0
    [`ip route replace 10.93.${i}.0/24 via ${UNDERLAY[PEER[n]]} dev eth0`],
    // the whole network on the device, no gateway: each pod's own address needs a neighbour entry there
    ['ip route replace 10.93.0.0/16 dev flannel.1'],
    // a gateway on the device that no entry names
    [`ip route replace 10.93.${i}.0/24 via 10.93.${i}.1 dev flannel.1 onlink`],
  ).map(route => (p: NodeParts) => ({...p, route}))
}
const mtu = fc.constantFrom(1400, 1450, 1500)
/** a fault of a node beyond its vxlan device and flanneld's entries */
const moreFault = (n: Node): fc.Arbitrary<Fault> => fc.oneof(
  fc.tuple(fc.constantFrom('cni0', 'veth-a', 'veth-b', 'eth0', 'flannel.1'), mtu).map(([d, m]) => [`ip link set ${d} mtu ${m}`]),
  // a jumbo underlay on this end of the link only, and the vxlan device grown to fit it (the kernel refuses it larger)
  fc.constantFrom(['ip link set eth0 mtu 9000'], ['ip link set eth0 mtu 9000', 'ip link set flannel.1 mtu 1500', 'ip link set cni0 mtu 1500']),
  fc.constantFrom('flannel.1', 'cni0', 'veth-a', 'veth-b').map(d => [`ip link set ${d} down`]),
  fc.constantFrom('veth-a', 'veth-b').map(d => [`bridge link set dev ${d} hairpin on`]),
  fc.tuple(fc.constantFrom('all', 'flannel.1', 'eth0', 'cni0'), fc.constantFrom(1, 2)).map(([d, v]) => [`sysctl -qw net.ipv4.conf.${d}.rp_filter=${v}`]),
  // a FORWARD policy DROP (docker's) with flanneld's accepts, or without them
  fc.constantFrom(['iptables -P FORWARD DROP'], ['iptables -P FORWARD DROP', 'iptables -F FORWARD']),
  fc.constantFrom(
    ['iptables -I INPUT -p udp --dport 8472 -j DROP'], ['iptables -I FORWARD -i flannel.1 -j DROP'], ['iptables -I FORWARD -o flannel.1 -j DROP'],
    ['iptables -I FORWARD -i cni0 -o cni0 -j DROP'], ['iptables -I OUTPUT -p udp --dport 8472 -j DROP'], ['iptables -I INPUT -i flannel.1 -j DROP'],
  ),
  // flanneld's masquerade of pod traffic leaving the pod network
  fc.constant([`iptables -t nat -A POSTROUTING -s 10.93.${INDEX[n]}.0/24 ! -d 10.93.0.0/16 -j MASQUERADE`]),
).map(more => (p: NodeParts) => ({...p, more: [...p.more, ...more]}))
/** a node with up to two faults (FC_KDIFF_FAULTS; none on about a third of the nodes), each from the whole grammar */
const nodeSetup = (n: Node) => fc.array(fc.oneof(
  {arbitrary: deviceFault(n), weight: 2}, {arbitrary: fdbFault(n), weight: 2}, {arbitrary: neighFault(n), weight: 2},
  {arbitrary: routeFault(n), weight: 2}, {arbitrary: moreFault(n), weight: 4},
), {maxLength: Number(process.env.FC_KDIFF_FAULTS ?? 2)}).map(faults => nodeCommands(n, faults.reduce((p, f) => f(p), flanneldParts(n))))
const podFault = (p: Pod) => mtu.map(m => [`ip link set eth0 mtu ${m}`])
const SOURCES: Host[] = ['p1a', 'p1a', 'p1a', 'p1b', 'p2a', 'n1']
const destinations = (src: Host): string[] => {
  const home: Node = src === 'n1' || src === 'n2' ? src : NODE_OF[src]
  const peer = PEER[home]
  return [...PODS[peer].map(p => POD_IP[p]), ...PODS[peer].map(p => POD_IP[p]), ...PODS[home].filter(p => p !== src).map(p => POD_IP[p]),
    UNDERLAY[peer], `10.93.${INDEX[peer]}.1`, `10.93.${INDEX[peer]}.0`, SERVICE_IP]
}
const SIZES = [1400, 1422, 1450, 1451, 1454, 1455, 1500, 1501]
const caseArb: fc.Arbitrary<Case> = fc.constantFrom(...SOURCES).chain(src => fc.record({
  src: fc.constant(src),
  dst: fc.constantFrom(...destinations(src)),
  proto: fc.constantFrom<Proto>('icmp', 'icmp', 'udp', 'tcp'),
  dport: fc.constantFrom(80, 8080),
  size: fc.option(fc.constantFrom(...SIZES), {nil: undefined, freq: 2}),
  n1: nodeSetup('n1'), n2: nodeSetup('n2'),
  pods: fc.array(fc.constantFrom<Pod>('p1a', 'p1b', 'p2a', 'p2b').chain(p => podFault(p).map(f => [p, f] as const)), {maxLength: 1}),
})).map(({src, dst, proto, dport, size, n1, n2, pods}) => {
  const setup: Case['setup'] = {n1, n2}
  for (const [p, f] of pods) setup[p] = [...(setup[p] ?? []), ...f]
  return {src, dst, proto, dport, ...(proto === 'icmp' && size !== undefined ? {size} : {}), setup}
})

/** the base of a case: flanneld's vxlan device and its entries for the peer, on both nodes */
const flanneld = (n: Node): string[] => nodeCommands(n, flanneldParts(n))
const pinned = (why: string, c: Omit<Case, 'setup'>, faults: Partial<Record<Host, string[]>> = {}): Case & {why: string} => ({
  why, ...c, setup: {n1: [...flanneld('n1'), ...(faults.n1 ?? [])], n2: [...flanneld('n2'), ...(faults.n2 ?? [])], ...Object.fromEntries(Object.entries(faults).filter(([h]) => !h.startsWith('n')))},
})
/** flanneld's own set-up, and cases the random ones found trace wrong on, kept as they were minimised */
const PINNED: (Case & {why: string})[] = [
  pinned('flanneld\'s set-up: pod to pod across the tunnel', {src: 'p1a', dst: '10.93.2.3', proto: 'icmp', dport: 80}),
  pinned('TCP across the tunnel', {src: 'p2a', dst: '10.93.1.3', proto: 'tcp', dport: 80}),
  pinned('a ping of the vxlan MTU fits', {src: 'p1a', dst: '10.93.2.2', proto: 'icmp', dport: 80, size: 1450}),
  pinned('one byte more does not: the pod\'s own device refuses it', {src: 'p1a', dst: '10.93.2.2', proto: 'icmp', dport: 80, size: 1451}),
  pinned('the peer on the other VNI', {src: 'p1a', dst: '10.93.2.2', proto: 'udp', dport: 80}, {n2: ['ip link del flannel.1', ...nodeCommands('n2', {...flanneldParts('n2'), vni: 2})]}),
  pinned('a vxlan device bound to an address its host lacks still takes the tunnel\'s packets: the request arrives, the reply dies',
    {src: 'p1a', dst: '10.93.2.3', proto: 'icmp', dport: 80}, {n2: ['ip link del flannel.1', ...nodeCommands('n2', {...flanneldParts('n2'), local: 'local 10.92.0.9'})]}),
  pinned('a veth without carrier still routes: a DF ping over the pod\'s MTU is "message too long" first',
    {src: 'p1a', dst: '10.93.2.2', proto: 'icmp', dport: 80, size: 1451}, {n1: ['ip link set veth-a down']}),
  pinned('a learning vxlan device drops a frame whose sender its permanent fdb entry puts elsewhere: the reply of a request that went by the underlay',
    {src: 'p2a', dst: '10.92.0.1', proto: 'icmp', dport: 80},
    {n2: ['ip link del flannel.1', ...nodeCommands('n2', {...flanneldParts('n2'), flags: 'learning', fdb: ['bridge fdb append 0e:00:00:00:00:01 dev flannel.1 dst 10.92.0.2 self permanent']})]}),
  pinned('a learning vxlan device without an entry for the peer learns one from the request: the reply follows it',
    {src: 'p1a', dst: '10.93.2.2', proto: 'udp', dport: 80}, {n2: ['ip link del flannel.1', ...nodeCommands('n2', {...flanneldParts('n2'), flags: 'learning', fdb: []})]}),
  pinned('two VTEPs with one MAC (cloned VMs): the receiver drops a frame from its own MAC as a loop',
    {src: 'p1a', dst: '10.93.2.2', proto: 'icmp', dport: 80},
    {n1: ['ip neigh replace 10.93.2.0 lladdr 0e:00:00:00:00:01 dev flannel.1 nud permanent', 'bridge fdb append 0e:00:00:00:00:01 dev flannel.1 dst 10.92.0.2 self permanent'],
      // a new MAC wipes the device's neighbour entries, permanent ones too
      n2: ['ip link set flannel.1 address 0e:00:00:00:00:01', 'ip neigh replace 10.93.1.0 lladdr 0e:00:00:00:00:01 dev flannel.1 nud permanent']}),
  // seed 3 case 52: trace had n2 ARP for 10.92.0.1 and n1's strict rp_filter ignore the request (sender 10.93.2.0)
  pinned('the reply by the underlay goes without ARP, its entry learned from the request\'s ARP for the tunnel: strict rp_filter drops it on arrival',
    {src: 'n1', dst: '10.93.2.0', proto: 'tcp', dport: 80}, {n1: ['sysctl -qw net.ipv4.conf.all.rp_filter=1'], n2: ['ip route replace 10.93.1.0/24 via 10.92.0.1 dev eth0']}),
]

describe('trace against the kernel: random overlay configurations', function () {
  const runs = Number(process.env.FC_KDIFF_RUNS ?? 10)
  const seed = Number(process.env.FC_KDIFF_SEED ?? 1)
  this.timeout(60000 + (runs + PINNED.length) * 20000)
  const tag = uniqueLab(process.env.FC_KDIFF_TAG ?? '')
  const ns = (h: string) => `${process.env.FC_KDIFF_NETNS ?? 'fcov'}-${tag}-${h}`
  const servers: ChildProcess[] = []
  let dir: string
  let inventory: string
  const run = (host: string, command: string) => shIn(ns(host), command)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), `${process.env.FC_KDIFF_NETNS ?? 'fcov'}-`))
    inventory = join(dir, 'inventory.yaml')
    await writeFile(inventory, `nodes:\n${NODES.map(n => `  - {name: ${n}, exec: "netns:${ns(n)}"}`).join('\n')}\npods:\n${
      Object.entries(POD_IP).map(([p, ip]) => `  - {name: ${p}, ip: ${ip}, node: ${NODE_OF[p as Pod]}, netns: ${ns(p)}}`).join('\n')}\n`)
    for (const h of HOSTS) {
      await sh('ip', ['netns', 'add', ns(h)])
      // no IPv6: its autoconf packets would count as the probe's
      await run(h, 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1; ip link set lo up')
    }
    const made = await sh('ip', ['link', 'add', 'eth0', 'netns', ns('n1'), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns('n2')])
    if (made.exitCode !== 0) throw new Error(made.stderr)
    for (const n of NODES) {
      const i = INDEX[n]
      await run(n, `ip addr add ${UNDERLAY[n]}/24 dev eth0 && ip link set eth0 up && sysctl -qw net.ipv4.ip_forward=1
ip link add cni0 type bridge && ip link set cni0 address 0a:58:0a:5d:0${i}:01 up && ip addr add 10.93.${i}.1/24 dev cni0
iptables -t nat -A PREROUTING -d ${SERVICE_IP} -j DNAT --to-destination ${POD_IP.p1a}
sysctl -qw net.ipv4.tcp_synack_retries=0`)
      for (const p of PODS[n]) {
        const made = await sh('ip', ['link', 'add', PORT[p], 'netns', ns(n), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns(p)])
        if (made.exitCode !== 0) throw new Error(made.stderr)
        await run(n, `ip link set ${PORT[p]} master cni0 up`)
        await run(p, `ip link set eth0 up && ip addr add ${POD_IP[p]}/24 dev eth0 && ip route add default via 10.93.${i}.1 && sysctl -qw net.ipv4.tcp_synack_retries=0`)
      }
    }
    for (const h of HOSTS) servers.push(spawn('ip', ['netns', 'exec', ns(h), 'timeout', '3600', python3(), '-c', SERVER], {stdio: 'ignore'}))
    await reset()
    for (const n of NODES) for (const command of flanneld(n)) await run(n, command)
    expect((await probe('icmp', '10.93.2.2', 80, 'p1a')).ok).to.equal(true)
  })
  after(async () => {
    for (const s of servers) s.kill()
    for (const h of HOSTS) await sh('ip', ['netns', 'del', ns(h)])
    await rm(dir, {recursive: true, force: true})
  })

  /**
   * every host as the base has it: no vxlan device (each case makes its own), MTUs of 1450 on the
   * bridge, its ports and the pods (1500 on the underlay), every device up, no hairpin, rp_filter off,
   * FORWARD accepting with flanneld's accepts, no learned path MTU, no neighbour entry
   */
  const reset = async () => {
    // the nodes side by side: each touches its own namespaces only
    await Promise.all(NODES.map(async n => {
      const peer = INDEX[PEER[n]]
      await run(n, `ip link del flannel.1 2>/dev/null; ip route del 10.93.${peer}.0/24 2>/dev/null; ip route del 10.93.0.0/16 2>/dev/null
ip link set eth0 mtu 1500 up; ip link set cni0 mtu ${BASE_MTU} up
${PODS[n].map(p => `ip link set ${PORT[p]} mtu ${BASE_MTU} up; bridge link set dev ${PORT[p]} hairpin off`).join('\n')}
sysctl -qw ${['all', 'default', 'eth0', 'cni0'].map(d => `net.ipv4.conf.${d}.rp_filter=0`).join(' ')}
iptables -P FORWARD ACCEPT; iptables -F FORWARD; iptables -F INPUT; iptables -F OUTPUT; iptables -t nat -F POSTROUTING
iptables -A FORWARD -s 10.93.0.0/16 -j ACCEPT; iptables -A FORWARD -d 10.93.0.0/16 -j ACCEPT
ip route flush cache; ${FLUSH_CONNTRACK}; ip neigh flush all nud all; ip neigh flush all nud noarp; true`)
      for (const p of PODS[n]) await run(p, `ip link set eth0 mtu ${BASE_MTU}; ip route flush cache; ip neigh flush all nud all; true`)
    }))
  }
  /** what the kernel does with the probe: whether the reply came back, what it said, who sent an ICMP error */
  const probe = async (proto: Proto, dst: string, dport: number, src: Host, size?: number) => {
    if (proto === 'icmp') {
      const r = await sh('ip', ['netns', 'exec', ns(src), 'ping', '-n', '-c', '1', '-W', '2', ...(size === undefined ? [] : ['-M', 'do', '-s', String(size - 28)]), dst])
      const error = /From ([\d.]+):? icmp_seq=\d+ (?!Redirect)(.*)/.exec(r.stdout)
      const said = `${r.stdout.split('\n').slice(1, 2).join('')}${r.stderr.trim()}`
      return {ok: r.exitCode === 0, said, errorFrom: error?.[1], fragNeeded: /Frag needed|message too long/i.test(said)}
    }
    const bind = src.startsWith('p') ? POD_IP[src as Pod] : '0.0.0.0'
    const out = (await sh('ip', ['netns', 'exec', ns(src), python3(), '-c', CLIENT(proto, dst, dport, bind)])).stdout.trim()
    return {ok: out.startsWith('reply'), said: out, errorFrom: undefined, fragNeeded: false}
  }
  const trace = async (c: Case): Promise<Trace> => {
    const r = await cli(['trace', c.src, c.dst, '--inventory', inventory, '--json', '--proto', c.proto,
      ...(c.proto === 'icmp' ? [] : ['--dport', String(c.dport)]), ...(c.size === undefined ? [] : ['--size', String(c.size)])])
    if (r.stderr !== '' || r.stdout === '') throw new Error(`trace failed: ${r.stderr}`)
    return JSON.parse(r.stdout) as Trace
  }
  const counters = () => readCounters(HOSTS, run)
  /** the devices of the nodes a probe's packets leave by, as the trace names them: a vxlan hop's outer packet leaves by eth0, a frame the bridge switches by no device of these */
  const WATCHED = ['cni0', 'flannel.1', 'eth0']
  const tracedDevices = (t: Trace) => [...new Set([...t.hops, ...t.returnPath.hops]
    .filter(h => NODES.includes(h.node as Node) && WATCHED.includes(h.out) && !(h.in === 'cni0' && h.out === 'cni0'))
    .flatMap(h => (h.out === 'flannel.1' ? [`${h.node}:flannel.1`, `${h.node}:eth0`] : [`${h.node}:${h.out}`])))].sort()

  /** the disagreements of one case (empty: trace and kernel agree) */
  const check = async (c: Case): Promise<CaseResult> => {
    await reset()
    // a command the kernel refuses is left out of the case
    for (const h of HOSTS) {
      const taken: string[] = []
      for (const command of c.setup[h] ?? []) {
        const done = await sh('ip', ['netns', 'exec', ns(h), 'sh', '-c', command])
        if (done.exitCode === 0) taken.push(command)
        else if (process.env.FC_KDIFF_VERBOSE === '3') console.log(`refused on ${h}: ${command}\n  ${done.stderr}`)
      }
      if (c.setup[h] !== undefined) c.setup[h] = taken
    }
    return compare(c)
  }
  /** the disagreements of a case on the hosts as they are (built, or mended by a fix since) */
  const compare = async (c: Case): Promise<CaseResult> => {
    const t = await trace(c)
    // warm the neighbour caches of the pods' gateways, so no probe dies on ARP alone: the pods side by side
    // (each ping resolves its own gateway; one that is not answered waits its second beside the others), then the nodes' flush
    await Promise.all((['p1a', 'p1b', 'p2a', 'p2b'] as Pod[]).map(p => sh('ip', ['netns', 'exec', ns(p), 'ping', '-c', '1', '-W', '1', `10.93.${INDEX[NODE_OF[p]]}.1`])))
    await Promise.all(NODES.map(n => run(n, FLUSH_CONNTRACK)))
    const before = await counters()
    const k = await probe(c.proto, c.dst, c.dport, c.src, c.size)
    const after = await counters()
    const {problems, tolerated, kernel, moved, traced, failure} = compareWithKernel(t, k, before, after)
    const home = OWNER[c.dst]
    if (home !== undefined && home.startsWith('p') && home !== c.src) {
      const grew = (counted: 'received' | 'tcpReceived' | 'got', key: string) => after[counted].get(key)! - before[counted].get(key)!
      // less a late TCP segment of an earlier case, and the pod's own ICMP error to itself (its gateway's ARP failed)
      const reached = grew('received', home) - (c.proto === 'tcp' ? 0 : grew('tcpReceived', home)) - grew('got', `${home}:lo`) > 0
      // a hop on the pod that ends there as its device takes nothing in (no carrier, a frame over its MTU) is no arrival
      const arrived = t.hops.some(h => h.node === home) && !(t.failure?.node === home && ['DEVICE_DOWN', 'MTU_EXCEEDED'].includes(t.disposition))
      if (reached !== arrived) problems.push(`${home} ${reached ? 'received' : 'did not receive'} a packet, trace's hops ${arrived ? 'reach' : 'do not reach'} it`)
    }
    // an ARP nobody answers ends in the prober's own "Destination Host Unreachable": trace names the host that does not answer
    const ownArpFailure = OWNER[k.errorFrom ?? ''] === c.src && failure?.step === 'neigh'
    if (k.errorFrom !== undefined && failure !== undefined && OWNER[k.errorFrom] !== failure.node && k.errorFrom !== t.traceroute.at(-1)?.split(' ')[0] && !ownArpFailure) {
      problems.push(`the ICMP error came from ${k.errorFrom} (${OWNER[k.errorFrom]}), trace's failure is on ${failure.node} (its traceroute: ${t.traceroute.join(', ')})`)
    }
    // the frames each node's flannel.1 took in from the tunnel, against the hops the trace brings in by it (an
    // ARP request the kernel sends through the tunnel, where the trace ends at the neighbour step, counts too,
    // an ICMP error or a refusal on its way back to the prober, and a frame an fdb entry sends to the node's own address)
    const errorBack = k.errorFrom !== undefined || /refused/.test(k.said) || (t.traceroute.at(-1) ?? '').includes('!')
    for (const n of NODES) {
      const key = `${n}:flannel.1`
      const tookIn = (after.got.get(key) ?? 0) > (before.got.get(key) ?? 0)
      const tracedIn = [...t.hops, ...(t.disposition === 'DELIVERED' ? t.returnPath.hops : [])].some(h => h.node === n && h.in === 'flannel.1')
      if (tookIn !== tracedIn && !(tookIn && (failure?.step === 'neigh' || errorBack || (failure?.node === n && failure.step === 'fdb')))) problems.push(`${n}'s flannel.1 ${tookIn ? 'took in' : 'took in nothing'} from the tunnel, the trace's hops ${tracedIn ? 'come in by it' : 'do not come in by it'}`)
    }
    if (process.env.FC_KDIFF_TRACEROUTE === '1' && c.proto === 'icmp') {
      // `traceroute -n -I` (with -F and the size for a sized ping) against the trace's list, both without the silent hops at their end
      // (an ARP that goes unanswered answers with host unreachable after about 3 s: a wait of 1 s would see `*` or `!H` as the ARP's timing falls)
      const wait = t.traceroute.some(h => h.endsWith(' !H')) ? '4' : '1'
      const r = await sh('ip', ['netns', 'exec', ns(c.src), 'traceroute', '-n', '-I', '-q', '1', '-w', wait, '-m', '6', ...(c.size === undefined ? [c.dst] : ['-F', c.dst, String(c.size)])])
      const real = r.stdout.split('\n').slice(1).map(l => /^\s*\d+\s+(\S+)(?:\s+\S+ ms)?(\s+!\S+)?/.exec(l)).filter(m => m !== null).map(m => m![1] + (m![2] ?? ''))
      const audible = (hops: string[]) => hops.slice(0, hops.findLastIndex(h => h !== '*') + 1).join(' ')
      if (audible(real) !== audible(t.traceroute)) problems.push(`traceroute printed ${real.join(' ')}, trace's traceroute is ${t.traceroute.join(' ')}`)
    }
    if (k.ok && traced) {
      const left = await devicesProbedAgain(tracedDevices(t), {
        again: () => probe(c.proto, c.dst, c.dport, c.src, c.size), counters, flush: () => Promise.all(NODES.map(n => run(n, FLUSH_CONNTRACK))),
        watched: d => NODES.some(node => WATCHED.some(w => d === `${node}:${w}`)),
      })
      if (left !== undefined) problems.push(left)
    }
    return {problems, tolerated, kernel, trace: t, moved}
  }

  const replay = (c: Case) => HOSTS.flatMap(h => (c.setup[h] ?? []).map(command => `  ${h}: ${command}`)).join('\n')
  const describeCase = (name: string, c: Case) => `${name}: ${c.proto}${c.proto === 'icmp' ? (c.size === undefined ? '' : ` size ${c.size}`) : ` dport ${c.dport}`} ${c.src} → ${c.dst}\n${replay(c)}`

  it(`${PINNED.length} kept and ${runs} random overlay configurations (seed ${seed}): the trace's verdict is the kernel's`, async () => {
    const failures = await runCases(PINNED, fc.sample(caseArb, {seed, numRuns: runs}), seed, {
      check, describe: describeCase, tolerates: 'ASSUMED or INSUFFICIENT_INFO', collect: dir => cli(['collect', '--inventory', inventory, '--format', 'txt', '-o', dir]),
      fix: {run: (host, command) => sh('ip', ['netns', 'exec', ns(host), 'sh', '-c', command]), again: compare, forget: () => Promise.all(HOSTS.map(h => run(h, FORGET_UNRESOLVED)))},
    })
    expect(failures, failures.join('\n\n')).to.deep.equal([])
  })
})
