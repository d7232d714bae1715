import {expect} from 'chai'
import {traceFlow} from '../../src/core/trace/engine.js'
import {DISPOSITIONS, type Fix} from '../../src/core/trace/types.js'
import {applyPatches, loadScenario, loadWorld, scenarioFiles} from '../fixtures/trace/load.js'
import {labFixes} from '../../src/commands/trace.js'

describe('trace failures (one fixture per disposition)', () => {
  const seen = new Set<string>()

  for (const file of scenarioFiles()) {
    const {scenario, world} = loadScenario(file)
    it(`${file}: ${scenario.description}`, () => {
      const t = traceFlow(world, scenario.request)
      seen.add(t.disposition)
      expect(t.disposition, t.failure?.reason).to.equal(scenario.expect.disposition)
      expect(t.failure, 'a failure').to.not.equal(undefined)
      expect(t.failure!.node).to.equal(scenario.expect.failureNode)
      if (scenario.expect.failureStep) expect(t.failure!.step).to.equal(scenario.expect.failureStep)
      expect(t.failure!.reason).to.be.a('string').and.not.equal('')
      expect(t.failure!.evidence).to.be.a('string').and.not.equal('')
      expect(t.failure!.fix, 'a fix').to.not.be.empty
      const commands = t.failure!.fix.map(f => f.command)
      for (const c of scenario.expect.fix ?? []) expect(commands, 'fix commands').to.include(c)
      // the failing step is the last step of the trace and carries the failure's evidence
      const last = t.hops.at(-1)!.steps.at(-1)!
      expect(last.evidence).to.equal(t.failure!.evidence)
      expect(last.verdict === 'drop' || last.verdict === 'unknown' || last.verdict === 'exit').to.equal(true)
    })
  }

  // DUPLICATE_ADDRESS and NAT_NOT_UNDONE end a reply only (a request is answered by whoever has its
  // destination, and it has no translation to undo): trace-kernel-diff.test.ts has them, on fixtures collected from the kernel
  const REPLY_ONLY = ['DUPLICATE_ADDRESS', 'NAT_NOT_UNDONE']
  it('covers every disposition but DELIVERED and the reply\'s DUPLICATE_ADDRESS and NAT_NOT_UNDONE', () => {
    expect([...seen].sort()).to.deep.equal(DISPOSITIONS.filter(d => d !== 'DELIVERED' && !REPLY_ONLY.includes(d)).sort())
  })
})

describe('trace failures found on a real kernel', () => {
  const vxlan = loadWorld('flannel-vxlan')

  it('a peer whose address changed under its running flannel.1 (a DHCP renumber): the peer moved, the fix moves its VTEP, both ways', () => {
    // kernel (3-node lab): nothing leaves the renumbered node (flannel.1 sends from an address it
    // lost), and peers' frames go to the old address, which no host has; the trace said
    // WRONG_VTEP_HOST "… is at 192.168.100.12" with a fix that rewrote the entry it already had
    const w = applyPatches(vxlan, [
      {host: 'node2', op: 'update', table: 'addresses', where: {dev: 'eth0', local: '192.168.100.12'},
        value: {local: '192.168.100.22', raw: 'inet 192.168.100.22/24 brd 192.168.100.255 scope global eth0'}},
      {host: 'node2', op: 'update', table: 'routes', where: {dst: '192.168.100.0/24'},
        value: {src: '192.168.100.22', raw: '192.168.100.0/24 dev eth0 proto kernel scope link src 192.168.100.22'}}])
    const fix = {node: 'node2', command: 'flannelctl sync --public-ip 192.168.100.22   # flannel.1 and the node\'s lease move to 192.168.100.22; peers follow on their next sync'}
    const there = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(there.disposition).to.equal('WRONG_VTEP_HOST')
    expect(there.failure!.node).to.equal('node1')
    expect(there.failure!.reason).to.include('flannel.1 on node2 is bound to local 192.168.100.12, which is no address of node2 any more (eth0 has 192.168.100.22: its address changed)')
    expect(there.failure!.fix).to.deep.equal([fix])
    const back = traceFlow(w, {src: 'pod-b', dst: 'pod-a'})
    expect(back.disposition).to.equal('NO_ROUTE')
    expect(back.failure!.node).to.equal('node2')
    expect(back.failure!.step).to.equal('encap')
    expect(back.failure!.fix).to.deep.equal([fix])
    // the node itself is reached at the address it has, not the one its VTEP lost
    expect(traceFlow(w, {src: 'pod-a', dst: 'node2'}).dst.ip).to.equal('192.168.100.22')
  })

  it('a node given another node\'s address (--public-ip) and bound to it: not a renumber; the fix keeps the other node\'s lease', () => {
    // kernel (3-node lab, init --public-ip <n2's address> on n3): nothing leaves n3; doctor said DUPLICATE_SUBNET "reset --release", which deletes n2's lease
    const w = applyPatches(vxlan, [{host: 'node2', op: 'update', table: 'links', where: {name: 'flannel.1'},
      value: {vxlan: {id: 1, local: '192.168.100.11', dev: 'eth0', port: 8472, learning: false}}}])
    const back = traceFlow(w, {src: 'pod-b', dst: 'pod-a'})
    expect(back.disposition).to.equal('NO_ROUTE')
    expect(back.failure!.reason).to.include('flannel.1 on node2 is bound to local 192.168.100.11, which is node1\'s address, not node2\'s (eth0 has 192.168.100.12)')
    expect(back.failure!.fix.map(f => f.command)).to.deep.equal([
      'flannelctl reset   # not --release: the lease for 192.168.100.11 is node1\'s',
      'flannelctl init --iface eth0 --public-ip 192.168.100.12   # its own address; then re-create its pods',
    ])
  })

  it('an underlay that shrank: raised again (recommended), or the tunnel and the pod sending into it lowered to fit, as two ways', () => {
    const w = applyPatches(vxlan, [{host: 'node1', op: 'update', table: 'links', where: {name: 'eth0'},
      value: {mtu: 1400, raw: '2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc noqueue state UP mode DEFAULT group default\n    link/ether 52:54:00:00:01:11 brd ff:ff:ff:ff:ff:ff'}}])
    // kernel: the outer packet leaves node1 as fragments (flannel.1 has no `df set`) and pod-b
    // answers; its echo reply, a 1500-byte outer packet from node2, is too long for node1's eth0
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b', size: 1450})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.warnings.map(x => x.message).join('\n')).to.include('leaves node1 as IP fragments')
    expect(t.returnPath.disposition).to.equal('MTU_EXCEEDED')
    expect(t.returnPath.failure!.node).to.equal('node1')
    // node2's tunnel alone lowered would still leave pod-b's full-size packets too big: the pod goes with it
    const fix = t.returnPath.failure!.fix
    expect(fix.map(f => [f.option?.choice, f.node, f.command])).to.deep.equal([
      [1, 'node1', 'ip link set eth0 mtu 1500'],
      [2, 'node2', 'ip link set flannel.1 mtu 1350'],
      [2, 'pod-b', 'ip link set eth0 mtu 1350'],
    ])
    expect(fix.filter(f => f.option?.recommended).map(f => f.option!.choice)).to.deep.equal([1])
    expect(fix[0].option!.why).to.include('where the network under node1 carries 1500-byte packets as it does under them')
    expect(fix[1].option!.why).to.include('only once every node\'s flannel.1 and every pod are lowered alike')
  })

  describe('two nodes whose flannel.1 disagree on the UDP port (lab break wrong-port on a 2-node lab)', () => {
    // kernel (2-node lab, n1's flannel.1 re-created on 4789): the request's fix made n2 listen on
    // 4789 and the reply's made n1 listen on 8472 again; the lab's paste list ran both, and the
    // two nodes swapped ports, still apart (ping 100% lost)
    const {world} = loadScenario('port-mismatch.json')
    const ways = (fixes: Fix[]) => fixes.map(f => `${f.option?.choice ?? '-'} ${f.node}: ${f.command}`)

    it('without the store: the request and the reply offer the same two ways, one node put onto the other\'s port', () => {
      const there = traceFlow(world, {src: 'pod-a', dst: 'pod-b'})
      const back = traceFlow(world, {src: 'pod-b', dst: 'pod-a'})
      expect([there.disposition, back.disposition]).to.deep.equal(['PORT_MISMATCH', 'PORT_MISMATCH'])
      expect(ways(back.failure!.fix)).to.deep.equal(ways(there.failure!.fix))
      const [first, second] = [1, 2].map(choice => there.failure!.fix.filter(f => f.option?.choice === choice))
      expect([...new Set(first.map(f => f.node))], 'way 1').to.deep.equal(['node1'])
      expect(first.map(f => f.command)).to.include('ip link add flannel.1 address 8e:6a:3c:4f:a1:01 mtu 1450 type vxlan id 1 local 192.168.100.11 dev eth0 dstport 4789 nolearning')
      expect([...new Set(second.map(f => f.node))], 'way 2').to.deep.equal(['node2'])
      expect(second.map(f => f.command)).to.include('ip link add flannel.1 address d6:12:9b:77:c2:02 mtu 1450 type vxlan id 1 local 192.168.100.12 dev eth0 dstport 8472 nolearning')
      expect(there.failure!.fix.every(f => f.option !== undefined && f.option.recommended === undefined), 'no way is recommended').to.equal(true)
      expect(first[0].option!.why).to.equal('node1\'s flannel.1 to UDP port 4789, the one node2\'s has: nothing read says which of the two the network uses (no store with its net-conf, no third node to outvote)')
    })

    it('a node that also lost its route to the peer: the route goes back through flannel.1, as sync builds it, not around the tunnel', () => {
      // kernel (3-node lab, plain vxlan: route, neighbour and fdb for n2 gone on n1, then lab break n1 wrong-port): the fix was
      // `ip route replace 10.244.12.0/24 via 192.168.100.12 dev eth0`, a host-gw route that sync takes out again
      const w = applyPatches(world, [
        {host: 'node1', op: 'remove', table: 'routes', where: {dst: '10.244.2.0/24'}},
        {host: 'node1', op: 'remove', table: 'routes', where: {dst: 'default'}},
        {host: 'node1', op: 'remove', table: 'neighbors', where: {dst: '10.244.2.0', dev: 'flannel.1'}},
        {host: 'node1', op: 'remove', table: 'fdb', where: {mac: 'd6:12:9b:77:c2:02', dev: 'flannel.1'}}])
      const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
      expect(t.disposition).to.equal('NO_ROUTE')
      expect(t.failure!.fix.map(f => `${f.node}: ${f.command}`)).to.deep.equal([
        'node1: ip neigh replace 10.244.2.0 lladdr d6:12:9b:77:c2:02 dev flannel.1 nud permanent',
        'node1: bridge fdb replace d6:12:9b:77:c2:02 dev flannel.1 dst 192.168.100.12 self permanent',
        'node1: ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink'])
      // the reply's fix re-creates node2's flannel.1 here; where it re-creates the node's own (the
      // lab: n1 on 4789), pasting the request's route first lost it again with the device: the
      // list that re-creates a device goes first
      const mine = applyPatches(w, [{host: 'node2', op: 'update', table: 'links', where: {name: 'flannel.1'},
        value: {vxlan: {port: 8472}, raw: 'x'}}, {host: 'node1', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {vxlan: {port: 4789}, raw: 'x'}}])
      const lab = labFixes(traceFlow({...mine, vxlan: {vni: 1, port: 8472}}, {src: 'pod-a', dst: 'pod-b'}), 'demo').split('\n').filter(l => l.startsWith('  flannelctl'))
      const del = lab.findIndex(l => l.endsWith('-- ip link del flannel.1'))
      expect(del, lab.join('\n')).to.be.at.least(0)
      expect(lab.findIndex(l => l.endsWith('ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink')), lab.join('\n')).to.be.above(del)
    })

    it('with the store\'s net-conf: the node off its port is put right, by the request\'s fix and the reply\'s alike', () => {
      const there = traceFlow({...world, vxlan: {vni: 1, port: 8472}}, {src: 'pod-a', dst: 'pod-b'})
      const back = traceFlow({...world, vxlan: {vni: 1, port: 8472}}, {src: 'pod-b', dst: 'pod-a'})
      expect(ways(back.failure!.fix)).to.deep.equal(ways(there.failure!.fix))
      expect(there.failure!.fix.map(f => f.node)).to.satisfy((nodes: string[]) => nodes.every(n => n === 'node2'))
      expect(there.failure!.fix.map(f => f.command)).to.include('ip link add flannel.1 address d6:12:9b:77:c2:02 mtu 1450 type vxlan id 1 local 192.168.100.12 dev eth0 dstport 8472 nolearning')
      expect(there.failure!.fix.some(f => f.option !== undefined)).to.equal(false)
      // the network on 4789: node1 is the one off it
      const on4789 = traceFlow({...world, vxlan: {vni: 1, port: 4789}}, {src: 'pod-a', dst: 'pod-b'})
      expect([...new Set(on4789.failure!.fix.map(f => f.node))]).to.deep.equal(['node1'])
    })
  })

  it('a frame longer than the receiving device\'s MTU is dropped on the way in', () => {
    const w = applyPatches(vxlan, [{host: 'node2', op: 'update', table: 'links', where: {name: 'eth0'},
      value: {mtu: 1400, raw: '2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc noqueue state UP mode DEFAULT group default\n    link/ether 52:54:00:00:01:12 brd ff:ff:ff:ff:ff:ff'}}])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b', size: 1450})
    expect(t.disposition).to.equal('MTU_EXCEEDED')
    expect(t.failure!.node).to.equal('node2')
    expect(t.failure!.fix.map(f => [f.option?.choice, f.node, f.command])).to.deep.equal([
      [1, 'node2', 'ip link set eth0 mtu 1500'],
      [2, 'node1', 'ip link set flannel.1 mtu 1350'],
      [2, 'pod-a', 'ip link set eth0 mtu 1350'],
    ])
  })

  it('a pod larger than its node\'s tunnel, fitted (by a sync) to an underlay that shrank: the underlay and the tunnel raised again (recommended), or the pods and the peer\'s tunnel lowered', () => {
    // lab: lab break n1 mtu-mismatch, then sync on n1 (flannel.1 1350, FLANNEL_MTU 1350; pod-1a keeps 1450)
    const raw = (name: string, mtu: number) => `2: ${name}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu ${mtu} qdisc noqueue state UP mode DEFAULT group default`
    const w = applyPatches(vxlan, [
      {host: 'node1', op: 'update', table: 'links', where: {name: 'eth0'}, value: {mtu: 1400, raw: raw('eth0', 1400)}},
      {host: 'node1', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {mtu: 1350, raw: raw('flannel.1', 1350)}},
    ])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b', size: 1450})
    expect(t.disposition).to.equal('MTU_EXCEEDED')
    expect(t.failure!.fix.map(f => [f.option?.choice, f.option?.recommended, f.node, f.command])).to.deep.equal([
      [1, true, 'node1', 'ip link set eth0 mtu 1500'],
      [1, true, 'node1', 'ip link set flannel.1 mtu 1450'],
      [2, undefined, 'pod-a', 'ip link set eth0 mtu 1350'],
      // the reply's (node2's 1500-byte outer packet on node1's eth0): its raise is the first way's already, its lowering joins the second
      [2, undefined, 'node2', 'ip link set flannel.1 mtu 1350'],
      [2, undefined, 'pod-b', 'ip link set eth0 mtu 1350'],
    ])
    // either way mends the flow, both directions
    const raised = applyPatches(w, [
      {host: 'node1', op: 'update', table: 'links', where: {name: 'eth0'}, value: {mtu: 1500, raw: raw('eth0', 1500)}},
      {host: 'node1', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {mtu: 1450, raw: raw('flannel.1', 1450)}},
    ])
    expect(traceFlow(raised, {src: 'pod-a', dst: 'pod-b', size: 1450}).returnPath.disposition).to.equal('DELIVERED')
    const lowered = applyPatches(w, [
      {host: 'pod-a', op: 'update', table: 'links', where: {name: 'eth0'}, value: {mtu: 1350}},
      {host: 'pod-b', op: 'update', table: 'links', where: {name: 'eth0'}, value: {mtu: 1350}},
      {host: 'node2', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {mtu: 1350, raw: raw('flannel.1', 1350)}},
    ])
    const small = traceFlow(lowered, {src: 'pod-a', dst: 'pod-b', size: 1350})
    expect([small.disposition, small.returnPath.disposition]).to.deep.equal(['DELIVERED', 'DELIVERED'])
  })

  /** the vxlan world with a pod's eth0 at another MTU (its node's bridge port keeps 1450) */
  const withPodMtu = (pod: string, mtu: number) => applyPatches(vxlan, [{host: pod, op: 'update', table: 'links', where: {name: 'eth0'},
    value: {mtu, raw: `2: eth0@if5: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu ${mtu} qdisc noqueue state UP mode DEFAULT group default`}}])

  it('a veth takes in a frame up to 4 bytes over its MTU (room for a VLAN tag), as the kernel does', () => {
    // checked on a lab: pod-2a at MTU 1400 answers a 1404-byte DF ping, a 1405-byte one is lost
    const w = withPodMtu('pod-b', 1400)
    expect(traceFlow(w, {src: 'pod-a', dst: 'pod-b', size: 1404}).disposition).to.equal('DELIVERED')
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b', size: 1405})
    expect(t.disposition).to.equal('MTU_EXCEEDED')
    expect(t.failure).to.include({node: 'pod-b', step: 'mtu'})
    expect(t.failure!.reason).to.include('no one tells the sender')
  })

  it('a pod of MTU 9000 on a bridge port of 1450: the port drops what is over 1454 bytes, even to the node\'s own address', () => {
    // checked on a lab: pod-1a at MTU 9000 reaches n1's eth0 address with 1504 bytes over a port of 1500, not 1505
    const w = withPodMtu('pod-a', 9000)
    expect(traceFlow(w, {src: 'pod-a', dst: 'node1', size: 1454}).disposition).to.equal('DELIVERED')
    const local = traceFlow(w, {src: 'pod-a', dst: 'node1', size: 1455})
    expect(local.disposition).to.equal('MTU_EXCEEDED')
    expect(local.failure).to.include({node: 'node1', step: 'mtu'})
    expect(local.failure!.reason).to.include('veth3f9a1c2e\'s MTU 1450 (the cni0 port pod-a\'s eth0 ends in)')
    expect(local.failure!.fix).to.deep.equal([{node: 'pod-a', command: 'ip link set eth0 mtu 1450'}])
    // past the port, the route out is what refuses it, with "fragmentation needed"
    const through = traceFlow(w, {src: 'pod-a', dst: 'pod-b', size: 1451})
    expect(through.failure!.reason).to.include('does not fit flannel.1\'s MTU 1450')
  })

  it('with --size, the traceroute line is what `traceroute -F` prints: `* !F-MTU` from a sender that refuses its own packet, `ADDR !F-MTU` after a router\'s time exceeded', () => {
    // checked on labs: `traceroute -n -I -F POD 1451` from a pod of MTU 1450 prints `1  * !F-1450`,
    // and from a pod of MTU 9000 (its node sends "fragmentation needed") `10.244.x.1` then `10.244.x.1 !F-1450`
    const own = traceFlow(vxlan, {src: 'pod-a', dst: 'pod-b', size: 1451})
    expect(own.traceroute).to.deep.equal(['* !F-1450'])
    expect(own.failure!.reason).to.include('the socket refuses it ("message too long, mtu=1450")')
    const w = withPodMtu('pod-a', 9000)
    const routed = traceFlow(w, {src: 'pod-a', dst: 'pod-b', size: 1451})
    expect(routed.traceroute).to.deep.equal(['10.244.1.1', '10.244.1.1 !F-1450'])
    expect(routed.failure!.reason).to.include('the sender told "fragmentation needed"')
  })

  it('a TCP reply: a rule that drops resets makes its fate hang on a listener, which is said; the SYN-ACK traced is delivered', () => {
    // checked on a lab: with `iptables -A OUTPUT -p tcp --tcp-flags RST RST -j DROP` in pod-2a, a connect
    // to a port with a listener succeeds and to one without waits (no "connection refused")
    const jump = {table: 'filter', chain: 'FORWARD', spec: '-m comment --comment "flanneld forward" -j FLANNEL-FWD', raw: '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD'}
    const spec = '-p tcp -m tcp --tcp-flags RST RST -j DROP'
    const w = applyPatches(vxlan, [
      {host: 'node2', op: 'remove', table: 'iptables.rules', where: {chain: 'FORWARD', spec: jump.spec}},
      {host: 'node2', op: 'add', table: 'iptables.rules', value: {table: 'filter', chain: 'FORWARD', spec, raw: `-A FORWARD ${spec}`}},
      {host: 'node2', op: 'add', table: 'iptables.rules', value: jump}])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b', proto: 'tcp', dport: 8081})
    expect(t.returnPath.disposition).to.equal('DELIVERED')
    const note = t.warnings.find(x => x.code === 'ASSUMED' && x.node === 'node2')
    expect(note?.message).to.include('with none, 10.244.2.5 answers with a reset (RST,ACK), which filter FORWARD on node2 stops at `-A FORWARD -p tcp -m tcp --tcp-flags RST RST -j DROP`')
    expect(traceFlow(vxlan, {src: 'pod-a', dst: 'pod-b', proto: 'tcp', dport: 8081}).warnings.filter(x => x.code === 'ASSUMED')).to.deep.equal([])
  })

  it('a pod of MTU 1500 on a cni0 of 1450 (host-gw → vxlan): the bridge takes the frame in, the route out via flannel.1 says "fragmentation needed"', () => {
    const mtu1500 = (host: string, name: string, index: number) => ({host, op: 'update' as const, table: 'links' as const, where: {name},
      value: {mtu: 1500, raw: `${index}: ${name}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default`}})
    const w = applyPatches(vxlan, [mtu1500('pod-a', 'eth0', 2), mtu1500('node1', 'veth3f9a1c2e', 5), mtu1500('node1', 'veth7b21d0aa', 6)])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b', size: 1500})
    expect(t.disposition).to.equal('MTU_EXCEEDED')
    expect(t.failure!.node).to.equal('node1')
    expect(t.failure!.reason).to.include('does not fit flannel.1\'s MTU 1450').and.not.include('cni0')
    expect(t.failure!.fix.map(f => f.command)).to.not.include('ip link set cni0 mtu 1500')
  })

  it('an onlink host-gw route to a peer on another segment is NEXT_HOP_NOT_ONLINK, fixed through the tunnel', () => {
    const w = applyPatches(loadWorld('flannel-directrouting'), [
      {host: 'node1', op: 'remove', table: 'routes', where: {dst: '10.244.3.0/24'}},
      {host: 'node1', op: 'add', table: 'routes', value: {dst: '10.244.3.0/24', type: 'unicast', gateway: '192.168.200.13', dev: 'eth0', onlink: true, raw: '10.244.3.0/24 via 192.168.200.13 dev eth0 onlink'}},
      {host: 'node1', op: 'add', table: 'neighbors', value: {dst: '192.168.200.13', dev: 'eth0', state: ['INCOMPLETE'], raw: '192.168.200.13 dev eth0 INCOMPLETE'}},
    ])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-d'})
    expect(t.disposition).to.equal('NEXT_HOP_NOT_ONLINK')
    expect(t.failure!.node).to.equal('node1')
    expect(t.failure!.reason).to.contain('node3\'s address, on another segment')
    expect(t.failure!.fix.map(f => f.command)).to.include('ip route replace 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink')
  })

  it('without a tunnel or a default route, NEXT_HOP_NOT_ONLINK is fixed through the router on the segment that routes the subnet', () => {
    const w = applyPatches(loadWorld('flannel-directrouting'), [
      {host: 'node1', op: 'remove', table: 'routes', where: {dst: '10.244.3.0/24'}},
      {host: 'node1', op: 'remove', table: 'routes', where: {dst: 'default'}},
      {host: 'node1', op: 'remove', table: 'links', where: {name: 'flannel.1'}},
      {host: 'node1', op: 'add', table: 'routes', value: {dst: '10.244.3.0/24', type: 'unicast', gateway: '192.168.200.13', dev: 'eth0', onlink: true, raw: '10.244.3.0/24 via 192.168.200.13 dev eth0 onlink'}},
      {host: 'router', op: 'add', table: 'routes', value: {dst: '10.244.3.0/24', type: 'unicast', gateway: '192.168.200.13', dev: 'eth1', raw: '10.244.3.0/24 via 192.168.200.13 dev eth1'}},
    ])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-d'})
    expect(t.disposition).to.equal('NEXT_HOP_NOT_ONLINK')
    // the reply's outer packet from 192.168.200.13 then meets loose rp_filter on node1, which (default
    // route removed) has no way back to that network: the same router is the fix
    expect(t.failure!.fix).to.deep.equal([
      {node: 'node1', command: 'ip route replace 10.244.3.0/24 via 192.168.100.1 dev eth0'},
      {node: 'node1', command: 'ip route replace 192.168.200.0/24 via 192.168.100.1 dev eth0'},
    ])
  })

  it('a VNI mismatch is fixed on the node that disagrees with the others', () => {
    const w = applyPatches(loadWorld('flannel-directrouting'), [{host: 'node1', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {vxlan: {id: 2}}}])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-d'})
    expect(t.disposition).to.equal('VNI_MISMATCH')
    expect(t.failure!.node).to.equal('node3')
    expect(new Set(t.failure!.fix.map(f => f.node))).to.deep.equal(new Set(['node1']))
    expect(t.failure!.fix.map(f => f.command)).to.include('ip link add flannel.1 address 8e:6a:3c:4f:a1:01 mtu 1450 type vxlan id 1 local 192.168.100.11 dev eth0 dstport 8472 nolearning')
  })

  it('a VNI mismatch between two nodes (no majority) is fixed on the one whose flannel.<N> has not VNI N, both ways', () => {
    // before: the receiver each way, so the fixes of the request and of the reply swapped the VNIs (checked on a 2-node lab)
    const w = applyPatches(loadWorld('flannel-vxlan'), [{host: 'node1', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {vxlan: {id: 2}}}])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('VNI_MISMATCH')
    expect(t.returnPath.disposition).to.equal('VNI_MISMATCH')
    for (const fix of [t.failure!.fix, t.returnPath.failure!.fix]) {
      expect(new Set(fix.map(f => f.node))).to.deep.equal(new Set(['node1']))
      expect(fix.map(f => f.command).find(c => c.startsWith('ip link add'))).to.match(/ type vxlan id 1 /)
    }
  })

  it('a pod gateway nobody proxies for: the node routes 169.254.1.1 nowhere else', () => {
    const w = applyPatches(loadWorld('calico'), [{host: 'cal1', op: 'remove', table: 'routes', where: {dst: 'default'}}])
    const t = traceFlow(w, {src: 'web-0', dst: 'db-0'})
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure!.node).to.equal('web-0')
    expect(t.failure!.reason).to.contain('proxy_arp on cali1a2b3c4d5e6')
    expect(t.failure!.fix).to.deep.include({node: 'cal1', command: 'ip route replace 169.254.1.1 dev eth0 scope link'})
  })

  it('a FAILED neighbour entry is asked again when someone on the link answers', () => {
    const w = applyPatches(loadWorld('flannel-host-gw'), [
      {host: 'node1', op: 'update', table: 'neighbors', where: {dst: '192.168.100.12'}, value: {lladdr: undefined, state: ['FAILED'], raw: '192.168.100.12 dev eth0 FAILED'}},
    ])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.warnings.some(x => x.code === 'ASSUMED' && x.message.includes('192.168.100.12 dev eth0 FAILED'))).to.equal(true)
  })

  it('lists what the reply needs too: a MAC change also flushed the peer\'s own entries', () => {
    const w = applyPatches(vxlan, [
      {host: 'node2', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {mac: 'f6:0b:21:9d:4e:77'}},
      {host: 'node2', op: 'remove', table: 'neighbors', where: {dst: '10.244.1.0'}},
    ])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('STALE_VTEP_MAC')
    expect(t.returnPath.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure!.fix).to.deep.include({node: 'node2', command: 'ip neigh replace 10.244.1.0 lladdr 8e:6a:3c:4f:a1:01 dev flannel.1 nud permanent'})
  })

  it('says why the peer\'s VTEP MAC changed by what the store shows, else by the tables (lab fcd3a: n2 reset --release + init, a new MAC, said "re-created, e.g. after a reboot")', () => {
    const newMac = {host: 'node2', op: 'update' as const, table: 'links', where: {name: 'flannel.1'}, value: {mac: 'f6:0b:21:9d:4e:77'}}
    const reason = (w: ReturnType<typeof loadWorld>) => /now has MAC f6:0b:21:9d:4e:77 \((.*)\): node2 drops them$/.exec(traceFlow(w, {src: 'pod-a', dst: 'pod-b'}).failure!.reason)?.[1]
    // node2's VTEP is on another subnet now: its lease moved; node1 still routes the old one
    const moved = applyPatches(vxlan, [newMac, {host: 'node2', op: 'update', table: 'addresses', where: {dev: 'flannel.1'}, value: {local: '10.244.7.0', raw: 'inet 10.244.7.0/32 scope global flannel.1'}}])
    expect(reason(moved)).to.equal('node2\'s flannel.1 is 10.244.7.0 now, not 10.244.2.0: its subnet moved to a new lease and node1 has not synced since')
    const leases = (subnet: string, vtepMac: string) => [{subnet: '10.244.1.0/24', publicIP: '192.168.100.11'}, {subnet, publicIP: '192.168.100.12', vtepMac}]
    expect(reason({...moved, leases: leases('10.244.7.0/24', 'f6:0b:21:9d:4e:77')})).to.equal('node2\'s lease moved to 10.244.7.0/24, the store shows, and its flannel.1 was made anew: node1 has not synced since')
    // same subnet: re-created, the lease announcing the new MAC or still the old one
    const rebooted = applyPatches(vxlan, [newMac])
    expect(reason(rebooted)).to.equal('it was re-created, e.g. after a reboot')
    expect(reason({...rebooted, leases: leases('10.244.2.0/24', 'f6:0b:21:9d:4e:77')})).to.equal('it was re-created, e.g. after a reboot, and its lease announces the new MAC: node1 has not synced since')
    expect(reason({...rebooted, leases: leases('10.244.2.0/24', 'd6:12:9b:77:c2:02')})).to.equal('it was re-created, e.g. after a reboot, and its lease still announces the old MAC: node2 has not published the new one')
  })

  it('a sender behind a peer\'s move gets the new entries, led by its sync; the old neighbour patched with the new MAC left the path broken (lab tfone: n2 reset --release + init)', () => {
    const moved = applyPatches(vxlan, [
      {host: 'node2', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {mac: 'f6:0b:21:9d:4e:77'}},
      {host: 'node2', op: 'update', table: 'addresses', where: {dev: 'flannel.1'}, value: {local: '10.244.7.0', raw: 'inet 10.244.7.0/32 scope global flannel.1'}},
      {host: 'node2', op: 'add', table: 'routes', value: {dst: '10.244.7.0/24', type: 'unicast', dev: 'cni0', proto: 'kernel', scope: 'link', prefsrc: '10.244.7.1', raw: '10.244.7.0/24 dev cni0 proto kernel scope link src 10.244.7.1'}},
    ])
    const commands = (w: ReturnType<typeof loadWorld>) => traceFlow(w, {src: 'pod-a', dst: 'pod-b'}).failure!.fix.map(f => `${f.node}: ${f.command}`)
    const byHand = [
      'node1: ip route del 10.244.2.0/24 via 10.244.2.0',
      'node1: ip neigh del 10.244.2.0 dev flannel.1',
      'node1: bridge fdb del d6:12:9b:77:c2:02 dev flannel.1',
      'node1: ip route replace 10.244.7.0/24 via 10.244.7.0 dev flannel.1 onlink',
      'node1: ip neigh replace 10.244.7.0 lladdr f6:0b:21:9d:4e:77 dev flannel.1 nud permanent',
      'node1: bridge fdb replace f6:0b:21:9d:4e:77 dev flannel.1 dst 192.168.100.12 self permanent',
    ]
    // the same leading sync as doctor's MISSING_ROUTE, so doctor's pair list does not get it twice
    expect(commands(moved)).to.deep.equal(['node1: flannelctl sync   # node1 has not synced since node2\'s lease moved to 10.244.7.0/24: it replaces the old entries; or by hand:', ...byHand])
    const leases = [{subnet: '10.244.1.0/24', publicIP: '192.168.100.11'}, {subnet: '10.244.9.0/24', publicIP: '192.168.100.12', vtepMac: 'f6:0b:21:9d:4e:77'}]
    expect(commands({...moved, leases})[0]).to.contain('node2\'s lease moved to 10.244.9.0/24')
    expect(commands({...moved, leases})).to.include('node1: ip route replace 10.244.9.0/24 via 10.244.9.0 dev flannel.1 onlink')
  })

  it('a re-created VTEP whose lease still announces the old MAC: the peer publishes it first, as doctor says, or the sender\'s next sync undoes the by-hand fix', () => {
    const w = applyPatches(vxlan, [{host: 'node2', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {mac: 'f6:0b:21:9d:4e:77'}}])
    const leases = [{subnet: '10.244.1.0/24', publicIP: '192.168.100.11'}, {subnet: '10.244.2.0/24', publicIP: '192.168.100.12', vtepMac: 'd6:12:9b:77:c2:02'}]
    const fix = traceFlow({...w, leases}, {src: 'pod-a', dst: 'pod-b'}).failure!.fix
    expect(fix[0]).to.deep.equal({node: 'node2', command: 'flannelctl sync   # publishes flannel.1\'s MAC in the lease (flanneld: restart it); then flannelctl sync on the peers', sync: 'publish'})
    expect(fix[1]).to.deep.equal({node: 'node1', command: 'ip neigh replace 10.244.2.0 lladdr f6:0b:21:9d:4e:77 dev flannel.1 nud permanent'})
    expect(traceFlow(w, {src: 'pod-a', dst: 'pod-b'}).failure!.fix[0].node).to.equal('node1')
  })

  it('on nodes an older flanneld built (an l2miss VTEP), no flannelctl sync: the sender\'s entries by hand alone, the peer\'s flanneld restart to publish its MAC', () => {
    const older = (host: string, mac: string, local: string) => ({host, op: 'update' as const, table: 'links', where: {name: 'flannel.1'},
      value: {mac, vxlan: {id: 1, local, dev: 'eth0', port: 8472, learning: false, l2miss: true}}})
    const moved = applyPatches(vxlan, [
      older('node1', '8e:6a:3c:4f:a1:01', '192.168.100.11'), older('node2', 'f6:0b:21:9d:4e:77', '192.168.100.12'),
      {host: 'node2', op: 'update', table: 'addresses', where: {dev: 'flannel.1'}, value: {local: '10.244.7.0', raw: 'inet 10.244.7.0/32 scope global flannel.1'}},
      {host: 'node2', op: 'add', table: 'routes', value: {dst: '10.244.7.0/24', type: 'unicast', dev: 'cni0', proto: 'kernel', scope: 'link', prefsrc: '10.244.7.1', raw: '10.244.7.0/24 dev cni0 proto kernel scope link src 10.244.7.1'}},
    ])
    const fix = traceFlow(moved, {src: 'pod-a', dst: 'pod-b'}).failure!.fix
    // before: `flannelctl sync   # node1 has not synced since …; or by hand:` led, the commands marked byHand
    expect(fix.filter(f => f.command.includes('flannelctl'))).to.deep.equal([])
    expect(fix.some(f => f.byHand === true)).to.equal(false)
    expect(fix.map(f => f.command)).to.include('ip route replace 10.244.7.0/24 via 10.244.7.0 dev flannel.1 onlink')
    const w = applyPatches(vxlan, [older('node2', 'f6:0b:21:9d:4e:77', '192.168.100.12')])
    const leases = [{subnet: '10.244.1.0/24', publicIP: '192.168.100.11'}, {subnet: '10.244.2.0/24', publicIP: '192.168.100.12', vtepMac: 'd6:12:9b:77:c2:02'}]
    expect(traceFlow({...w, leases}, {src: 'pod-a', dst: 'pod-b'}).failure!.fix[0]).to.deep.equal(
      {node: 'node2', command: 'systemctl restart flanneld   # on start it announces flannel.1\'s MAC in its lease; peers\' flanneld follow'})
  })

  it('TCP segments follow the MSS the receiver announces by its route back: its advmss, else its route mtu less 40, else its device', () => {
    // kernel (2-node lab, python3 8 KB transfer, tcpdump in the receiver): `advmss 1000` on the receiver's route to the
    // client made its SYN-ACK announce MSS 1000 (client TCP_MAXSEG 988), `mtu 1300` (locked or not) 1260; `advmss 900` on
    // the client's own route changed only the MSS the client announced (its TCP_MAXSEG stayed 1398)
    const backRoute = (extra: Record<string, unknown>, raw: string) => applyPatches(vxlan, [
      {host: 'pod-b', op: 'update', table: 'routes', where: {dst: '10.244.0.0/16'}, value: {...extra, raw: `10.244.0.0/16 via 10.244.2.1 dev eth0 ${raw}`}},
    ])
    const sent = (w: ReturnType<typeof loadWorld>) => traceFlow(w, {src: 'pod-a', dst: 'pod-b', proto: 'tcp', dport: 80, size: 8000}).hops[0].steps.find(s => s.kind === 'mtu')!
    const advmss = sent(backRoute({advmss: 1000}, 'advmss 1000'))
    expect(advmss.explanation).to.contain('announces MSS 1000 in its SYN-ACK (the advmss 1000 of its route to 10.244.1.34 on pod-b)')
    expect(advmss.explanation).to.contain('segments of at most 1040 bytes (MSS 1000)')
    expect(advmss.evidence).to.equal('10.244.0.0/16 via 10.244.2.1 dev eth0 advmss 1000')
    expect(sent(backRoute({mtu: 1300}, 'mtu 1300')).explanation).to.contain('announces MSS 1260 in its SYN-ACK (the mtu 1300 of its route to 10.244.1.34 on pod-b)')
    const own = applyPatches(vxlan, [{host: 'pod-a', op: 'update', table: 'routes', where: {dst: '10.244.0.0/16'}, value: {advmss: 900}}])
    expect(sent(own).explanation).to.contain('segments of at most 1450 bytes (MSS 1410)')
  })

  it('spells a sysctl of a device with a dot the way sysctl takes it', () => {
    const w = applyPatches(vxlan, [
      {host: 'node1', op: 'remove', table: 'routes', where: {dst: '10.244.2.0/24'}},
      {host: 'node1', op: 'add', table: 'routes', value: {dst: '10.244.2.0/24', type: 'unicast', gateway: '192.168.100.12', dev: 'eth0', raw: '10.244.2.0/24 via 192.168.100.12 dev eth0'}},
      {host: 'node1', op: 'set', table: 'sysctls', value: {'net.ipv4.conf.all.rp_filter': '1', 'net.ipv4.conf.flannel.1.rp_filter': '1'}},
    ])
    const t = traceFlow(w, {src: 'pod-b', dst: 'pod-a'})
    expect(t.disposition).to.equal('REVERSE_PATH_FILTERED')
    expect(t.failure!.fix.map(f => f.command)).to.include('sysctl -w net.ipv4.conf.flannel/1.rp_filter=2')
  })

  it('a VTEP address reached only by the default route (a peer that announced its NAT interface) is the fdb entry\'s fault, fixed there', () => {
    const w = applyPatches(vxlan, [
      {host: 'node2', op: 'add', table: 'links', value: {name: 'eth1', index: 7, kind: 'ether', mtu: 1500, up: true, operstate: 'UP', mac: '08:00:27:5e:0c:12',
        raw: '7: eth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP mode DEFAULT group default qlen 1000\n    link/ether 08:00:27:5e:0c:12 brd ff:ff:ff:ff:ff:ff'}},
      {host: 'node2', op: 'add', table: 'addresses', value: {dev: 'eth1', family: 4, local: '10.0.2.15', prefixlen: 24, scope: 'global', raw: 'inet 10.0.2.15/24 brd 10.0.2.255 scope global dynamic eth1'}},
      {host: 'node1', op: 'update', table: 'fdb', where: {mac: 'd6:12:9b:77:c2:02'}, value: {dst: '10.0.2.15', raw: 'd6:12:9b:77:c2:02 dev flannel.1 dst 10.0.2.15 self permanent'}},
    ])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('EXITS_NETWORK')
    expect(t.failure!.node).to.equal('node1')
    // it used to blame pod-b's route, which is there, and "fix" it with that same route
    expect(t.failure!.reason).to.contain('the fdb entry sends 10.244.2.')
    expect(t.failure!.reason).to.contain('to VTEP 10.0.2.15 (node2\'s address on eth1), which node1 reaches only by its default route')
    expect(t.failure!.reason).to.contain('node2 is at 192.168.100.12 on node1\'s own network')
    expect(t.failure!.fix).to.deep.equal([{node: 'node1', command: 'bridge fdb replace d6:12:9b:77:c2:02 dev flannel.1 dst 192.168.100.12 self permanent'}])
  })
})

describe('trace: every table at every hook (raw, mangle, nat PREROUTING)', () => {
  const vxlan = loadWorld('flannel-vxlan')
  /** `iptables -t TABLE -A CHAIN SPEC` on a host of the vxlan world */
  const rule = (host: string, table: string, chain: string, spec: string) => ({host, op: 'add' as const, table: 'iptables.rules', value: {table, chain, spec, raw: `-A ${chain} ${spec}`}})

  it('a raw PREROUTING drop of vxlan UDP on the receiver stops the outer packet there', () => {
    const w = applyPatches(vxlan, [rule('node2', 'raw', 'PREROUTING', '-p udp -m udp --dport 8472 -j DROP')])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.failure).to.deep.include({node: 'node2', step: 'filter', evidence: '-A PREROUTING -p udp -m udp --dport 8472 -j DROP'})
    expect(t.failure!.reason).to.contain('raw PREROUTING on node2 drops udp 192.168.100.11 → 192.168.100.12:8472')
    expect(t.failure!.fix).to.deep.include({node: 'node2', command: 'iptables -t raw -D PREROUTING -p udp -m udp --dport 8472 -j DROP'})
  })

  it('a mangle FORWARD drop ends the trace where the packet is forwarded', () => {
    const w = applyPatches(vxlan, [rule('node2', 'mangle', 'FORWARD', '-d 10.244.2.5/32 -j DROP')])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.failure!.node).to.equal('node2')
    expect(t.failure!.reason).to.match(/^mangle FORWARD on node2 drops icmp 10\.244\.1\.34 → 10\.244\.2\.5/)
    expect(t.failure!.fix).to.deep.equal([{node: 'node2', command: 'iptables -t mangle -D FORWARD -d 10.244.2.5/32 -j DROP'}])
  })

  it('a mangle POSTROUTING drop on the sender stops the inner packet, not the outer one', () => {
    const w = applyPatches(vxlan, [rule('node1', 'mangle', 'POSTROUTING', '-d 10.244.2.5/32 -j DROP')])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.failure!.node).to.equal('node1')
    expect(t.failure!.reason).to.contain('mangle POSTROUTING on node1 drops icmp 10.244.1.34 → 10.244.2.5')
  })

  it('a mangle PREROUTING drop meets the inner packet after decapsulation', () => {
    const w = applyPatches(vxlan, [rule('node2', 'mangle', 'PREROUTING', '-s 10.244.1.34/32 -i flannel.1 -j DROP')])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.failure!.node).to.equal('node2')
    expect(t.hops.at(-1)!.steps.map(s => s.kind)).to.deep.equal(['decap', 'filter'])
  })

  it('decides a ttl match on the TTL the packet has at that host: one less per routing hop', () => {
    const w = applyPatches(vxlan, [
      rule('node1', 'mangle', 'FORWARD', '-m ttl --ttl-lt 63 -j DROP'),
      rule('node2', 'mangle', 'FORWARD', '-m ttl --ttl-lt 63 -j DROP'),
    ])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.failure!.node).to.equal('node2')
    expect(t.warnings.map(x => x.message).join('\n')).to.not.contain('ttl')
  })

  it('a rate-limited DROP is an assumption that names the drop, not a clean delivery nor a certain drop', () => {
    const w = applyPatches(vxlan, [rule('node2', 'mangle', 'FORWARD', '-p icmp -m limit --limit 1/sec -j DROP')])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('DELIVERED')
    const warning = t.warnings.find(x => x.code === 'ASSUMED' && x.node === 'node2')
    expect(warning?.message).to.contain('rate limited').and.to.contain('the packet is dropped')
  })

  it('a nat PREROUTING DNAT sends the packet to the new destination, and the reply gets the old one back as its source', () => {
    const dnat = '-d 10.244.2.99/32 -p icmp -j DNAT --to-destination 10.244.2.5'
    const w = applyPatches(vxlan, [rule('node2', 'nat', 'PREROUTING', dnat)])
    const t = traceFlow(w, {src: 'pod-a', dst: '10.244.2.99'})
    expect(t.disposition).to.equal('DELIVERED')
    const node2 = t.hops.find(h => h.node === 'node2')!
    expect(node2.steps.find(s => s.kind === 'nat')).to.deep.equal({kind: 'nat', verdict: 'dnat', evidence: `-A PREROUTING ${dnat}`,
      explanation: 'PREROUTING DNAT: destination 10.244.2.99 becomes 10.244.2.5'})
    expect(t.hops.at(-1)!.node).to.equal('pod-b')
    expect(t.returnPath.disposition).to.equal('DELIVERED')
    expect(t.returnPath.hops[0].node).to.equal('pod-b')
    const back = t.returnPath.hops.find(h => h.node === 'node2')!.steps.find(s => s.kind === 'nat')
    expect(back).to.include({verdict: 'de-nat', evidence: `-A PREROUTING ${dnat}`})
    expect(back!.explanation).to.contain('the source 10.244.2.99')
    expect(t.warnings.filter(x => x.code === 'SOURCE_NATED')).to.deep.equal([])
  })

  it('a DNAT that rests on an undecidable match (kube-proxy\'s -m statistic) is assumed not to happen', () => {
    const w = applyPatches(vxlan, [rule('node2', 'nat', 'PREROUTING', '-d 10.244.2.5/32 -m statistic --mode random --probability 0.5 -j DNAT --to-destination 10.244.2.6')])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.hops.at(-1)!.node).to.equal('pod-b')
    expect(t.warnings.some(x => x.code === 'ASSUMED' && x.node === 'node2' && x.message.includes('--mode random'))).to.equal(true)
  })

  it('a nat OUTPUT DNAT redirects what the host itself sends, and the reply is mapped back when it arrives', () => {
    const dnat = '-d 10.244.2.99/32 -j DNAT --to-destination 10.244.2.5'
    const w = applyPatches(vxlan, [rule('node1', 'nat', 'OUTPUT', dnat)])
    const t = traceFlow(w, {src: 'node1', dst: '10.244.2.99'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.hops[0].steps[0]).to.include({kind: 'nat', verdict: 'dnat', evidence: `-A OUTPUT ${dnat}`})
    expect(t.hops.at(-1)!.node).to.equal('pod-b')
    const last = t.returnPath.hops.at(-1)!
    expect(last.node).to.equal('node1')
    expect(last.steps.map(s => s.verdict)).to.include('de-nat')
  })

  it('only the first packet of a connection meets nat: the reply is not DNATed', () => {
    const w = applyPatches(vxlan, [rule('node1', 'nat', 'PREROUTING', '-s 10.244.2.5/32 -j DNAT --to-destination 10.244.1.35')])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.returnPath.disposition).to.equal('DELIVERED')
    expect(t.returnPath.hops.at(-1)!.node).to.equal('pod-a')
  })

  const cni0Down = {host: 'node1', op: 'update' as const, table: 'links', where: {name: 'cni0'},
    value: {up: false, operstate: 'DOWN', raw: '3: cni0: <BROADCAST,MULTICAST> mtu 1450 qdisc noqueue state DOWN mode DEFAULT group default\n    link/ether 0a:58:0a:f4:01:01 brd ff:ff:ff:ff:ff:ff'}}
  // a bridge set down loses its connected route with it, and keeps its address
  const cni0Route = {host: 'node1', op: 'remove' as const, table: 'routes', where: {dst: '10.244.1.0/24'}}

  it('a bridge that is down switches nothing between its ports: two pods on it are DEVICE_DOWN, fixed by bringing it up', () => {
    const t = traceFlow(applyPatches(vxlan, [cni0Down, cni0Route]), {src: 'pod-a', dst: 'pod-a2'})
    expect(t.disposition).to.equal('DEVICE_DOWN')
    expect(t.failure!.node).to.equal('node1')
    expect(t.failure!.fix).to.deep.equal([{node: 'node1', command: 'ip link set cni0 up'}])
  })

  it('a pod whose bridge is down leaves by the default route: fixed by bringing the bridge up', () => {
    const t = traceFlow(applyPatches(vxlan, [cni0Down, cni0Route]), {src: 'pod-b', dst: 'pod-a'})
    expect(t.disposition).to.equal('EXITS_NETWORK')
    expect(t.failure!.node).to.equal('node1')
    expect(t.failure!.reason).to.contain('cni0 on node1 is down')
    expect(t.failure!.fix.map(f => f.command)).to.deep.equal(['ip link set cni0 up'])
  })

  it('no route to a pod because its bridge is down: NO_ROUTE fixed by bringing the bridge up, and traceroute ends in !N', () => {
    const t = traceFlow(applyPatches(vxlan, [cni0Down, cni0Route, {host: 'node1', op: 'remove', table: 'routes', where: {dst: 'default'}}]), {src: 'pod-b', dst: 'pod-a'})
    expect(t.disposition).to.equal('NO_ROUTE')
    expect(t.failure!.node).to.equal('node1')
    expect(t.failure!.reason).to.contain('cni0 on node1 is down')
    expect(t.failure!.fix.map(f => f.command)).to.deep.equal(['ip link set cni0 up'])
    expect(t.traceroute).to.deep.equal(['10.244.2.1', '10.244.1.0 !N'])
  })

  it('a router without a route for the destination answers traceroute with !N', () => {
    const t = traceFlow(applyPatches(vxlan, [{host: 'node1', op: 'remove', table: 'routes', where: {dst: '10.244.2.0/24'}},
      {host: 'node1', op: 'remove', table: 'routes', where: {dst: 'default'}}]), {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('NO_ROUTE')
    expect(t.traceroute).to.deep.equal(['10.244.1.1 !N'])
  })

  it('the destination is missing from traceroute when its answer does not come back', () => {
    const t = traceFlow(applyPatches(vxlan, [{host: 'node2', op: 'remove', table: 'routes', where: {dst: '10.244.1.0/24'}}]), {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.returnPath.disposition).to.not.equal('DELIVERED')
    expect(t.traceroute.at(-1)).to.equal('*')
  })

  it('a second bridge holding the pod subnet, whose route comes first: NEIGHBOR_MISSING naming where the pod is plugged in', () => {
    const w = applyPatches(vxlan, [
      {host: 'node1', op: 'add', table: 'links', value: {name: 'docker0', index: 9, kind: 'bridge', mtu: 1500, up: true, operstate: 'UP', raw: '9: docker0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default'}},
      {host: 'node1', op: 'add', table: 'addresses', value: {dev: 'docker0', family: 4, local: '10.244.1.1', prefixlen: 24, scope: 'global', raw: 'inet 10.244.1.1/24 scope global docker0'}},
      cni0Route,
      {host: 'node1', op: 'add', table: 'routes', value: {dst: '10.244.1.0/24', type: 'unicast', dev: 'docker0', proto: 'kernel', scope: 'link', src: '10.244.1.1', raw: '10.244.1.0/24 dev docker0 proto kernel scope link src 10.244.1.1'}},
      {host: 'node1', op: 'add', table: 'routes', value: {dst: '10.244.1.0/24', type: 'unicast', dev: 'cni0', proto: 'kernel', scope: 'link', src: '10.244.1.1', raw: '10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1'}},
    ])
    const t = traceFlow(w, {src: 'pod-b', dst: 'pod-a'})
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure!.node).to.equal('node1')
    expect(t.failure!.reason).to.contain('pod-a is plugged into cni0')
    expect(t.failure!.fix[0].command).to.match(/^ip addr del 10\.244\.1\.1\/24 dev docker0\b/)
  })

  it('a request a host drops in INPUT is not masqueraded for its reply: the reply goes back to the pod', () => {
    const w = applyPatches(vxlan, [rule('node1', 'filter', 'INPUT', '-i cni0 -j DROP')])
    const t = traceFlow(w, {src: 'pod-a', dst: 'node1'})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.warnings.filter(x => x.code === 'ASSUMED')).to.deep.equal([])
    expect(t.returnPath.hops.at(-1)!.node).to.equal('pod-a')
  })

  it('a host that ignores echo requests (icmp_echo_ignore_all = 1): ping is answered by no one, TCP is delivered (checked with ping and a TCP connect)', () => {
    const w = applyPatches(vxlan, [{host: 'node2', op: 'set', table: 'sysctls', value: {'net.ipv4.icmp_echo_ignore_all': '1'}}])
    const t = traceFlow(w, {src: 'pod-a', dst: 'node2'})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.failure).to.include({node: 'node2', step: 'sysctl', evidence: 'net.ipv4.icmp_echo_ignore_all = 1'})
    expect(t.failure!.fix).to.deep.equal([{node: 'node2', command: 'sysctl -w net.ipv4.icmp_echo_ignore_all=0'}])
    expect(traceFlow(w, {src: 'pod-a', dst: 'node2', proto: 'tcp', dport: 80}).disposition).to.equal('DELIVERED')
    // forwarded through node2 to its pod: not node2's echo to answer
    expect(traceFlow(w, {src: 'pod-a', dst: 'pod-b'}).disposition).to.equal('DELIVERED')
  })

  it('delivery to a TCP or UDP port says the sockets were not read, how to look, and what the sender sees with no listener', () => {
    const tcp = traceFlow(vxlan, {src: 'pod-a', dst: 'pod-b', proto: 'tcp', dport: 8080})
    expect(tcp.hops.at(-1)!.steps.at(-1)!.explanation).to.match(/delivered to its tcp port 8080; whether a program listens there is not in the tables read \(`ss -lnt 'sport = :8080'` on pod-b: with none, the kernel answers with a TCP reset \(connection refused\)\)$/)
    const udp = traceFlow(vxlan, {src: 'pod-a', dst: 'pod-b', proto: 'udp', dport: 53})
    expect(udp.hops.at(-1)!.steps.at(-1)!.explanation).to.include("`ss -lnu 'sport = :53'` on pod-b: with none, the kernel answers with ICMP port unreachable")
    // the reply's delivery back to the sender's own port says nothing of sockets
    expect(tcp.returnPath.hops.at(-1)!.steps.at(-1)!.explanation).to.not.include('ss -l')
  })

  it('flannel.1 set down took its routes with it: the fix brings it up before it routes through it again', () => {
    const w = applyPatches(vxlan, [
      {host: 'node1', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {up: false, operstate: 'DOWN', raw: '4: flannel.1: <BROADCAST,MULTICAST> mtu 1450 qdisc noqueue state DOWN mode DEFAULT group default'}},
      {host: 'node1', op: 'remove', table: 'routes', where: {dst: '10.244.2.0/24'}},
      {host: 'node1', op: 'remove', table: 'routes', where: {dst: 'default'}},
      {host: 'node1', op: 'remove', table: 'neighbors', where: {dev: 'flannel.1'}},
    ])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('NO_ROUTE')
    expect(t.failure!.reason).to.contain('flannel.1 is down')
    expect(t.failure!.fix.map(f => f.command)).to.deep.equal([
      'ip link set flannel.1 up',
      'ip neigh replace 10.244.2.0 lladdr d6:12:9b:77:c2:02 dev flannel.1 nud permanent',
      'ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink',
    ])
  })

  describe('a pod whose veth a re-created bridge let go of', () => {
    // reset and init delete and re-create cni0: the pods' host ends stay, plugged into nothing
    const loose = () => {
      const w = loadWorld('flannel-vxlan')
      const node1 = w.hosts.find(h => h.name === 'node1')!
      delete (node1.links!.find(l => l.name === 'veth3f9a1c2e') as {master?: string}).master
      node1.neighbors = node1.neighbors!.filter(n => n.dst !== '10.244.1.34')
      return w
    }

    it('is not reached through the bridge: the fix plugs the veth back in', () => {
      for (const src of ['pod-b', 'pod-a2']) {
        const t = traceFlow(loose(), {src, dst: 'pod-a'})
        expect(t.disposition, src).to.equal('NEIGHBOR_MISSING')
        expect(t.failure!.reason).to.contain('plugged into no bridge')
        expect(t.failure!.fix).to.deep.equal([{node: 'node1', command: 'ip link set veth3f9a1c2e master cni0'}])
      }
    })

    it('left on the subnet its node gave up (reset --release, init on a new lease): re-creating it is the fix, not a route toward its node (checked on a 3-node lab)', () => {
      const w = loose()
      const node1 = w.hosts.find(h => h.name === 'node1')!
      node1.addresses = node1.addresses!.map(a => a.dev === 'cni0' ? {...a, local: '10.244.9.1', prefixlen: 25} : a)
      node1.routes = node1.routes!.map(r => r.dev === 'cni0' ? {...r, dst: '10.244.9.0/25'} : r).filter(r => r.dst !== 'default')
      const node2 = w.hosts.find(h => h.name === 'node2')!
      // node2 synced the new lease: the old /24 is gone, the /25 routed; no default route, as on a lab node
      node2.routes = node2.routes!.map(r => r.dst === '10.244.1.0/24' ? {...r, dst: '10.244.9.0/25'} : r).filter(r => r.dst !== 'default')
      // its entry for the gateway expired, as on the lab: ARP for it gets no answer
      w.hosts.find(h => h.name === 'pod-a')!.neighbors = []
      const t = traceFlow(w, {src: 'pod-b', dst: 'pod-a'})
      expect(t.disposition).to.equal('NO_ROUTE')
      expect(t.failure!.reason).to.contain('pod-a on node1 is on a subnet its node no longer has')
      // before: also `ip route replace 10.244.1.34 via 192.168.100.11 dev eth0` on node2, which ends at node1 all the same
      expect(t.failure!.fix).to.deep.equal([{node: 'node1', command: 'ip -4 addr show type bridge   # the node\'s pod subnet now; re-create pod-a in it', recreates: 'pod-a'}])
      expect(traceFlow(w, {src: 'pod-b', dst: 'node1'}).returnPath.disposition, 'another pod, to the same node').to.equal('DELIVERED')
      // its own node's reply to it, likewise (before: `ip route replace 10.244.1.34 via GATEWAY dev DEVICE`)
      const own = traceFlow(w, {src: 'pod-a', dst: 'node1'}).returnPath
      expect(own.failure!.fix).to.deep.equal(t.failure!.fix)
    })

    it('left on the subnet its node gave up, its old gateway still REACHABLE in its neighbour table: NEIGHBOR_MISSING and re-creating it, not a host to add (lab tfone: ping 100% lost)', () => {
      const w = loose()
      const node1 = w.hosts.find(h => h.name === 'node1')!
      node1.addresses = node1.addresses!.map(a => a.dev === 'cni0' ? {...a, local: '10.244.9.1', prefixlen: 25} : a)
      node1.routes = node1.routes!.map(r => r.dev === 'cni0' ? {...r, dst: '10.244.9.0/25'} : r).filter(r => r.dst !== 'default')
      const gateway = w.hosts.find(h => h.name === 'pod-a')!.neighbors!.find(n => n.dst === '10.244.1.1')
      expect(gateway?.state, 'the fixture keeps the old gateway\'s entry').to.include('REACHABLE')
      const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
      // before: INSUFFICIENT_INFO, "10.244.1.1 answers on eth0, but it is not an address of any host read"
      expect(t.disposition).to.equal('NEIGHBOR_MISSING')
      expect(t.failure!.reason).to.contain('is left in pod-a\'s neighbour table from before, and nothing answers for 10.244.1.1 now')
      expect(t.failure!.fix).to.deep.equal([{node: 'node1', command: 'ip -4 addr show type bridge   # the node\'s pod subnet now; re-create pod-a in it', recreates: 'pod-a'}])
    })

    it('reaches no other pod of its segment, with the same fix', () => {
      const t = traceFlow(loose(), {src: 'pod-a', dst: 'pod-a2'})
      expect(t.disposition).to.equal('NEIGHBOR_MISSING')
      expect(t.failure!.fix).to.deep.equal([{node: 'node1', command: 'ip link set veth3f9a1c2e master cni0'}])
    })

    it('the bridge deleted (`ip link del cni0`): the route to the pods and their gateway went with it; the fix makes it again and plugs the veths back, by a sync (checked on a 2-node lab) or by hand (checked on a 3-node lab), as two ways', () => {
      const w = loose()
      const node1 = w.hosts.find(h => h.name === 'node1')!
      delete (node1.links!.find(l => l.name === 'veth7b21d0aa') as {master?: string}).master
      node1.links = node1.links!.filter(l => l.name !== 'cni0')
      node1.addresses = node1.addresses!.filter(a => a.dev !== 'cni0')
      node1.routes = node1.routes!.filter(r => r.dev !== 'cni0')
      node1.neighbors = node1.neighbors!.filter(n => n.dev !== 'cni0')
      // two ways (before: the sync was a comment on the first command): the sync, for every pod at once, or by hand
      const byHand = {choice: 2, why: 'by hand, on any node: flannel\'s bridge with pod-a\'s gateway, and pod-a\'s veth plugged back (another pod\'s veth, likewise)'}
      const fix = [
        {node: 'node1', command: 'flannelctl sync', option: {choice: 1, recommended: true,
          why: 'where flannelctl built node1: sync makes cni0 again as it was (its address, its MTU) and plugs every pod\'s veth back into it, at once'}},
        {node: 'node1', command: 'ip link add cni0 type bridge', option: byHand},
        {node: 'node1', command: 'ip addr add 10.244.1.1/24 dev cni0', option: byHand},
        {node: 'node1', command: 'ip link set cni0 up', option: byHand},
        {node: 'node1', command: 'ip link set veth3f9a1c2e master cni0', option: byHand},
      ]
      // before: NO_ROUTE with `ip route replace 10.244.1.34 via GATEWAY dev DEVICE` (EXITS_NETWORK here: node1 has a default route)
      const to = traceFlow(w, {src: 'pod-b', dst: 'pod-a'})
      expect(to.disposition).to.equal('EXITS_NETWORK')
      expect(to.failure!.node).to.equal('node1')
      expect(to.failure!.reason).to.contain('pod-a\'s veth veth3f9a1c2e on node1 is plugged into no bridge, and no device of node1 holds pod-a\'s gateway 10.244.1.1')
      expect(to.failure!.fix).to.deep.equal(fix)
      // before: INSUFFICIENT_INFO "10.244.1.1 … answers on eth0, but it is not an address of any host read"
      const from = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
      expect(from.disposition).to.equal('NEIGHBOR_MISSING')
      expect(from.failure!.node).to.equal('pod-a')
      expect(from.failure!.fix).to.deep.equal(fix)
      // the pod's entry for its gateway expired: ARP gets no answer, for the same reason
      w.hosts.find(h => h.name === 'pod-a')!.neighbors = []
      const unanswered = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
      expect(unanswered.disposition).to.equal('NEIGHBOR_MISSING')
      expect(unanswered.failure!.reason).to.contain('its bridge was deleted')
      expect(unanswered.failure!.fix).to.deep.equal(fix)
    })

    it('a bridge with no port left is up without carrier: bringing it "up" is not the fix, plugging the veths back is', () => {
      const w = loose()
      const node1 = w.hosts.find(h => h.name === 'node1')!
      delete (node1.links!.find(l => l.name === 'veth7b21d0aa') as {master?: string}).master
      Object.assign(node1.links!.find(l => l.name === 'cni0')!, {operstate: 'DOWN', raw: '3: cni0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1450 qdisc noqueue state DOWN mode DEFAULT group default'})
      const t = traceFlow(w, {src: 'pod-b', dst: 'pod-a'})
      expect(t.failure!.fix.map(f => f.command)).to.include('ip link set veth3f9a1c2e master cni0')
      expect(t.failure!.fix.map(f => f.command)).to.not.include('ip link set cni0 up')
    })
  })
})

describe('trace: a pod\'s request that left the pod network unmasqueraded', () => {
  it('the router without a route back gets its route fix, and the pod\'s node the masquerade that also brings the reply back (both checked with ping)', async () => {
    // a 2-segment lab whose n1 had its FLANNEL-POSTRTG flushed: pod-1a pings the router's far address
    const {loadSource} = await import('../../src/services/collect.js')
    const {join} = await import('node:path')
    const {world} = await loadSource({snapshot: join(import.meta.dirname, '..', 'fixtures', 'snapshots', 'unmasqueraded-router')})
    const t = traceFlow(world, {src: 'pod-1a', dst: '192.168.200.1', proto: 'icmp'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.returnPath.disposition).to.equal('NO_ROUTE')
    expect(t.returnPath.failure!.reason).to.contain('the request left n1 with pod-1a\'s own address 10.244.61.2: nothing there masqueraded it')
    expect(t.returnPath.failure!.fix).to.deep.equal([
      {node: 'rt', command: 'ip route replace 10.244.61.0/24 via 192.168.100.11 dev eth1'},
      {node: 'n1', command: 'iptables -t nat -A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE'},
    ])
  })
})
