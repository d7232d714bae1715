/**
 * Dataplanes that forward outside the tables trace reads: kube-proxy's IPVS, XDP and tc BPF
 * programs (Cilium, Calico's eBPF mode), Open vSwitch. Where they decide, the trace says so
 * (INSUFFICIENT_INFO, or an ASSUMED warning) and names what to run, instead of a verdict from tables
 * the packet never meets.
 */
import {expect} from 'chai'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {traceFlow} from '../../src/core/trace/engine.js'
import {loadSource} from '../../src/services/collect.js'
import {parseIpLinkJson} from '../../src/core/parse/json.js'
import {parseIpLinkText} from '../../src/core/parse/text.js'
import {parseQdiscs} from '../../src/core/parse/index.js'
import type {HostSnapshot, Link} from '../../src/core/model.js'
import {applyPatches, loadWorld} from '../fixtures/trace/load.js'

const SNAPSHOTS = join(import.meta.dirname, '..', 'fixtures', 'snapshots')
const real = (name: string): string => readFileSync(new URL(`../fixtures/parse/real/${name}`, import.meta.url), 'utf8')

describe('trace: kube-proxy in IPVS mode', () => {
  // kube-proxy-ipvs: the kube-proxy-clusterip hosts with IPVS mode's shapes: Service 10.96.0.10 on the
  // dummy kube-ipvs0 (state DOWN, as kube-proxy leaves it; an address on a down device is still local:
  // checked with `ip route get`/ping on this kernel), its local-table route, and the ipset-based rules
  async function trace(req: Parameters<typeof traceFlow>[1]) {
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, 'kube-proxy-ipvs')})
    return traceFlow(world, req)
  }

  it('a TCP connection to a Service address ends where IPVS takes it, naming ipvsadm (it was "delivered" to the node)', async () => {
    const t = await trace({src: 'p1', dst: '10.96.0.10', proto: 'tcp', dport: 80})
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure!.node).to.equal('n1')
    expect(t.failure!.step).to.equal('nat')
    expect(t.failure!.evidence).to.equal('inet 10.96.0.10/32 scope global kube-ipvs0')
    expect(t.failure!.reason).to.include('a Service address kube-proxy\'s IPVS mode put on kube-ipvs0 of n1')
    expect(t.failure!.fix).to.deep.equal([{node: 'n1', command: 'ipvsadm -Ln -t 10.96.0.10:80'}])
    expect(t.hops.at(-1)!.steps.some(s => s.kind === 'deliver')).to.equal(false)
  })

  it('UDP asks for the UDP virtual service', async () => {
    const t = await trace({src: 'p1', dst: '10.96.0.10', proto: 'udp', dport: 53})
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure!.fix).to.deep.equal([{node: 'n1', command: 'ipvsadm -Ln -u 10.96.0.10:53'}])
  })

  it('a ping to a Service address is answered by the node itself, and the trace says why', async () => {
    const t = await trace({src: 'p1', dst: '10.96.0.10'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.hops.at(-1)!.steps.at(-1)!.explanation).to.include('a Service address on kube-ipvs0: the node answers a ping itself, IPVS takes TCP and UDP')
  })

  it('a connection to a node address of an IPVS node is delivered with the NodePort doubt named', async () => {
    const t = await trace({src: 'n2', dst: '192.168.70.1', proto: 'tcp', dport: 30080})
    expect(t.disposition).to.equal('DELIVERED')
    const doubt = t.warnings.filter(w => w.node === 'n1' && w.message.includes('IPVS mode'))
    expect(doubt.map(w => w.message)).to.deep.equal([
      'kube-proxy runs in IPVS mode on n1: assumed no IPVS virtual service for tcp 192.168.70.1:30080 (a NodePort or external IP there would send it on to an endpoint; `ipvsadm -Ln -t 192.168.70.1:30080` tells)'])
  })

  it('the same trace on the iptables-mode hosts is untouched', async () => {
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, 'kube-proxy-clusterip')})
    const t = traceFlow(world, {src: 'n2', dst: '192.168.70.1', proto: 'tcp', dport: 30080})
    expect(t.warnings.filter(w => w.message.includes('IPVS mode'))).to.deep.equal([])
  })
})

describe('trace: XDP programs', () => {
  // ip-link-xdp.*: a veth pair in a namespace, a two-instruction XDP_PASS program loaded with the bpf()
  // syscall and attached with `ip link set dev eth0 xdpgeneric pinned …` and `… eth0p xdp pinned …`
  it('reads the attachment from ip -j -d link, ip -d link and ip link', () => {
    const fromJson = parseIpLinkJson(real('ip-link-xdp.json'))
    const fromText = parseIpLinkText(real('ip-link-xdp.txt'))
    const fromBrief = parseIpLinkText(real('ip-link-xdp-no-details.txt'))
    for (const links of [fromJson, fromText, fromBrief]) {
      expect(links.find(l => l.name === 'eth0')!.xdp).to.deep.equal({mode: 'generic', progId: 97, progName: 'fcf_pass'})
      expect(links.find(l => l.name === 'eth0p')!.xdp).to.deep.equal({mode: 'driver', progId: 97, progName: 'fcf_pass'})
      expect(links.find(l => l.name === 'lo')!.xdp).to.equal(undefined)
    }
    expect(fromJson.find(l => l.name === 'eth0')!.raw.split('\n').at(-1)).to.equal('    prog/xdp id 97 name fcf_pass (xdpgeneric)')
  })

  it('knows macvlan, ipvlan and openvswitch devices by kind (they were "other", which may be a VRF)', () => {
    expect(parseIpLinkJson(real('ip-link-macvlan.json'))[0].kind).to.equal('macvlan')
    const text = '7: mv0@eth0: <BROADCAST,MULTICAST,M-DOWN> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 1000\n' +
      '    link/ether 92:6b:a1:b0:e8:fe brd ff:ff:ff:ff:ff:ff promiscuity 0  allmulti 0 minmtu 68 maxmtu 65535 \n' +
      '    macvlan mode bridge bcqueuelen 1000 usedbcqueuelen 1000 addrgenmode eui64 numtxqueues 1 numrxqueues 1 gso_max_size 65536 gso_max_segs 65535 \n'
    expect(parseIpLinkText(text)[0].kind).to.equal('macvlan')
  })

  it('a packet received by a device with an XDP program is traced as passed, with the program named', () => {
    const xdpLink = parseIpLinkJson(real('ip-link-xdp.json')).find(l => l.name === 'eth0')!
    const w = applyPatches(loadWorld('flannel-vxlan'), [
      {host: 'node2', op: 'update', table: 'links', where: {name: 'eth0'}, value: {xdp: xdpLink.xdp} as Partial<Link>}])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('DELIVERED')
    // the outer vxlan packet meets it as eth0 receives it (the hop is named by the inner packet's way)
    const step = t.hops.find(h => h.node === 'node2')!.steps[0]
    expect(step).to.deep.include({kind: 'filter', verdict: 'assumed', evidence: 'prog/xdp id 97 name fcf_pass (xdpgeneric)'})
    expect(t.warnings.map(w => w.message)).to.include(
      'eth0 on node2 runs XDP program 97 (fcf_pass) on every frame it receives, before any table: assumed it passes this packet (it may drop, bounce or redirect it; `bpftool prog dump xlated id 97` shows what it does)')
    // the same world without the program: no such step, no such warning
    const plain = traceFlow(loadWorld('flannel-vxlan'), {src: 'pod-a', dst: 'pod-b'})
    expect(plain.warnings.filter(x => x.message.includes('XDP'))).to.deep.equal([])
  })
})

describe('trace: BPF dataplanes (Cilium, Calico eBPF)', () => {
  const device = (name: string, index: number): Link => ({name, index, kind: 'veth', mtu: 1500, up: true,
    raw: `${index}: ${name}@${name === 'cilium_host' ? 'cilium_net' : 'bpfout.cali'}: <BROADCAST,MULTICAST,NOARP,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000`})
  const traceWith = (host: string, link: Link) =>
    traceFlow(applyPatches(loadWorld('flannel-vxlan'), [{host, op: 'add', table: 'links', value: link}]), {src: 'pod-a', dst: 'pod-b'})

  it('a host running Cilium ends the trace where the packet enters it, naming the tc programs and cilium-dbg monitor', () => {
    // before: the trace followed node1's routes and iptables, which Cilium's tc programs bypass
    const t = traceWith('node1', device('cilium_host', 40))
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure!.node).to.equal('node1')
    expect(t.failure!.evidence).to.equal('(cilium_host on node1)')
    expect(t.failure!.reason).to.include('node1 runs Cilium (it has cilium_host)')
    expect(t.failure!.reason).to.include('its BPF programs on cni0, where the packet comes in, and on the device it leaves by')
    expect(t.failure!.fix.map(f => f.command)).to.include.members(['tc filter show dev cni0 ingress',
      'cilium-dbg monitor --type trace --type drop   # in the node\'s cilium agent pod, while the packet is sent'])
  })

  it('Calico\'s eBPF mode is recognised by its bpfnat pair', () => {
    const t = traceWith('node2', device('bpfin.cali', 40))
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure!.node).to.equal('node2')
    expect(t.failure!.reason).to.include('node2 runs Calico\'s eBPF dataplane (it has bpfin.cali)')
  })
})

describe('trace: Open vSwitch', () => {
  it('a route out of an OVS internal port ends there, naming ofproto/trace (it was switched as a Linux bridge)', () => {
    const w = applyPatches(loadWorld('flannel-vxlan'), [{host: 'node1', op: 'update', table: 'links', where: {name: 'cni0'}, value: {kind: 'openvswitch'} as Partial<Link>}])
    const t = traceFlow(w, {src: 'node1', dst: 'pod-a'})
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure!.node).to.equal('node1')
    expect(t.failure!.reason).to.include('cni0 is an internal port of the Open vSwitch bridge cni0')
    expect(t.failure!.fix.map(f => f.command)).to.deep.equal([
      'ovs-appctl ofproto/trace cni0 in_port=cni0,ip,nw_src=10.244.1.1,nw_dst=10.244.1.34', 'ovs-ofctl dump-flows cni0'])
  })

  it('a frame arriving on a port of the OVS datapath (an uplink in br-ex) ends there', () => {
    const w = applyPatches(loadWorld('flannel-vxlan'), [{host: 'node2', op: 'update', table: 'links', where: {name: 'eth0'}, value: {master: 'ovs-system'} as Partial<Link>}])
    const t = traceFlow(w, {src: 'node1', dst: 'node2'})
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure!.node).to.equal('node2')
    expect(t.failure!.reason).to.include('eth0 on node2 is a port of Open vSwitch (master ovs-system)')
    expect(t.failure!.fix[0].command).to.equal('ovs-appctl ofproto/trace $(ovs-vsctl port-to-br eth0) in_port=eth0,ip,nw_src=192.168.100.11,nw_dst=192.168.100.12')
  })
})

describe('trace: tc filters (a clsact or ingress qdisc, read by collect and a live trace)', () => {
  // tc-qdisc.*: the same namespace, with `tc qdisc add dev eth0 clsact` and a BPF filter on each direction
  it('reads tc qdisc show in both forms', () => {
    const want = [{dev: 'eth0p', kind: 'noqueue'}, {dev: 'eth0', kind: 'noqueue'}, {dev: 'eth0', kind: 'clsact'}]
    for (const file of ['tc-qdisc.json', 'tc-qdisc.txt']) {
      expect(parseQdiscs(real(file)).map(({dev, kind}) => ({dev, kind}))).to.deep.equal(want)
    }
    expect(parseQdiscs(real('tc-qdisc.json'))[2].raw).to.equal('qdisc clsact ffff: dev eth0 parent ffff:fff1')
  })

  it('a device with a clsact qdisc on the way is a step and an ASSUMED warning each way, naming tc filter show', () => {
    const qdiscs = parseQdiscs(real('tc-qdisc.json'))
    const w = loadWorld('flannel-vxlan')
    w.hosts.find(h => h.name === 'node2')!.qdiscs = qdiscs as HostSnapshot['qdiscs']
    w.hosts.find(h => h.name === 'node1')!.qdiscs = qdiscs
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('DELIVERED')
    const messages = t.warnings.filter(x => x.message.includes('qdisc')).map(x => `${x.node}: ${x.message}`)
    expect(messages).to.deep.equal([
      'node1: eth0 on node1 has a clsact qdisc: tc filters there (BPF programs, redirects) see the packet as it leaves, after every table; assumed they let it go on unchanged (`tc filter show dev eth0 egress` lists them)',
      'node2: eth0 on node2 has a clsact qdisc: tc filters there (BPF programs, redirects) see the packet as it comes in, before any table; assumed they let it go on unchanged (`tc filter show dev eth0 ingress` lists them)',
      // and the reply, the other way
      'node2: eth0 on node2 has a clsact qdisc: tc filters there (BPF programs, redirects) see the packet as it leaves, after every table; assumed they let it go on unchanged (`tc filter show dev eth0 egress` lists them)',
      'node1: eth0 on node1 has a clsact qdisc: tc filters there (BPF programs, redirects) see the packet as it comes in, before any table; assumed they let it go on unchanged (`tc filter show dev eth0 ingress` lists them)',
    ])
    const egress = t.hops.find(h => h.node === 'node1')!.steps.find(s => s.evidence.startsWith('qdisc'))!
    expect(egress).to.deep.include({kind: 'filter', verdict: 'assumed', evidence: 'qdisc clsact ffff: dev eth0 parent ffff:fff1'})
    // without qdiscs read (or with none that hooks), nothing is said
    expect(traceFlow(loadWorld('flannel-vxlan'), {src: 'pod-a', dst: 'pod-b'}).warnings.filter(x => x.message.includes('qdisc'))).to.deep.equal([])
  })
})

describe('trace: a macvlan pod and its parent\'s own address', () => {
  // macvlan-parent: collected from namespaces here. node (eth0 192.168.77.1/24, wired to rt
  // 192.168.77.254) and pod, whose eth0 is a macvlan (mode bridge) of node's eth0. On the kernel the
  // pod pings rt but not node (its ARP for 192.168.77.1 stays INCOMPLETE), nor node the pod.
  const load = async () => (await loadSource({snapshot: join(SNAPSHOTS, 'macvlan-parent')})).world

  it('pod → node is NEIGHBOR_MISSING at the pod, with the shim that carries it (it was DELIVERED)', async () => {
    const t = traceFlow(await load(), {src: 'pod', dst: 'node'})
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure!.node).to.equal('pod')
    expect(t.failure!.reason).to.include('eth0 of pod is a macvlan device on eth0 of node, and 192.168.77.1 is node\'s own address: a macvlan child and its parent never get each other\'s frames')
    expect(t.failure!.fix).to.deep.equal([{node: 'node', command:
      'ip link add macvlan-shim link eth0 type macvlan mode bridge && ip addr add <a free address>/32 dev macvlan-shim && ip link set macvlan-shim up && ip route add 192.168.77.50/32 dev macvlan-shim'}])
  })

  it('node → pod fails the same way, at the node', async () => {
    const t = traceFlow(await load(), {src: 'node', dst: 'pod'})
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure!.node).to.equal('node')
    expect(t.failure!.reason).to.include('and 192.168.77.50 is pod\'s address')
  })

  it('a macvlan of another device than the one holding the address is no obstacle', async () => {
    const w = await load()
    const eth0 = w.hosts.find(h => h.name === 'pod')!.links!.find(l => l.name === 'eth0')!
    w.hosts.find(h => h.name === 'pod')!.links = w.hosts.find(h => h.name === 'pod')!.links!.map(l => l === eth0 ? {...eth0, peerIndex: 99} : l)
    expect(traceFlow(w, {src: 'pod', dst: 'node'}).disposition).to.equal('DELIVERED')
  })
})
