import {expect} from 'chai'
import {traceFlow} from '../../src/core/trace/engine.js'
import type {Trace, World} from '../../src/core/trace/types.js'
import {FlannelctlError} from '../../src/errors.js'
import {applyPatches, loadScenario, loadWorld} from '../fixtures/trace/load.js'

const nodesOf = (t: Trace) => t.hops.map(h => h.node)
const devicesOf = (t: Trace) => t.hops.map(h => `${h.node}:${h.in}>${h.out}`)
const kindsAt = (t: Trace, node: string) => t.hops.find(h => h.node === node)!.steps.map(s => s.kind)
const codes = (t: Trace) => t.warnings.map(w => w.code)

describe('trace engine', () => {
  describe('flannel vxlan, pods with their own namespace snapshots', () => {
    const world = loadWorld('flannel-vxlan')

    it('delivers pod to pod across nodes through flannel.1', () => {
      const t = traceFlow(world, {src: 'pod-a', dst: 'pod-b'})
      expect(t.disposition).to.equal('DELIVERED')
      expect(t.failure).to.equal(undefined)
      expect(devicesOf(t)).to.deep.equal(['pod-a:local>eth0', 'node1:cni0>flannel.1', 'node2:flannel.1>cni0', 'pod-b:eth0>local'])
      expect(kindsAt(t, 'node1')).to.include.members(['sysctl', 'route', 'filter', 'nat', 'neigh', 'fdb', 'encap'])
      expect(kindsAt(t, 'node2')[0]).to.equal('decap')
      const encap = t.hops[1].steps.find(s => s.kind === 'encap')!
      expect(encap.explanation).to.contain('UDP 192.168.100.11 → 192.168.100.12:8472, VNI 1')
      expect(t.src).to.deep.equal({kind: 'pod', name: 'pod-a', ip: '10.244.1.34', node: 'node1'})
    })

    it('predicts traceroute as [cni0 gateway of the source node, peer <subnet>.0, destination]', () => {
      expect(traceFlow(world, {src: 'pod-a', dst: 'pod-b'}).traceroute).to.deep.equal(['10.244.1.1', '10.244.2.0', '10.244.2.5'])
    })

    it('traces the reply back and finds it symmetric', () => {
      const t = traceFlow(world, {src: 'pod-a', dst: 'pod-b'})
      expect(t.returnPath.disposition).to.equal('DELIVERED')
      expect(t.returnPath.hops.map(h => h.node)).to.deep.equal(['pod-b', 'node2', 'node1', 'pod-a'])
      expect(codes(t)).to.not.include('ASYMMETRIC_PATH')
      expect(codes(t)).to.not.include('NO_RETURN_ROUTE')
    })

    it('quotes the exact table lines as evidence', () => {
      const t = traceFlow(world, {src: 'pod-a', dst: 'pod-b'})
      const evidence = t.hops.flatMap(h => h.steps.map(s => s.evidence))
      expect(evidence).to.include('10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink')
      expect(evidence).to.include('10.244.2.0 dev flannel.1 lladdr d6:12:9b:77:c2:02 PERMANENT')
      expect(evidence).to.include('d6:12:9b:77:c2:02 dev flannel.1 dst 192.168.100.12 self permanent')
      expect(evidence).to.include('-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT')
    })

    it('takes the mark of a forwarded pod packet as 0 when no visible rule sets one: no warning for flannel\'s masq rule', () => {
      const t = traceFlow(world, {src: 'pod-a', dst: 'pod-b'})
      expect(t.warnings).to.deep.equal([])
    })

    it('carries the mark nat PREROUTING gives (KUBE-MARK-MASQ) to POSTROUTING, and warns when a marking rule may or may not match', () => {
      const marking = (chain: string, spec: string) => ({host: 'node1', op: 'add' as const, table: 'iptables.rules', value: {table: 'nat', chain, spec, raw: `-A ${chain} ${spec}`}})
      const chain = {host: 'node1', op: 'add' as const, table: 'iptables.chains', value: {table: 'nat', name: 'KUBE-MARK-MASQ'}}
      const sure = applyPatches(world, [chain, marking('KUBE-MARK-MASQ', '-j MARK --set-xmark 0x4000/0x4000'),
        marking('PREROUTING', '-s 10.244.1.0/24 -j KUBE-MARK-MASQ')])
      const t = traceFlow(sure, {src: 'pod-a', dst: 'pod-b'})
      expect(t.warnings).to.deep.equal([])
      expect(t.hops[1].steps.find(x => x.kind === 'nat')!.evidence).to.contain('-m mark --mark 0x4000/0x4000')
      const maybe = applyPatches(world, [chain, marking('KUBE-MARK-MASQ', '-j MARK --set-xmark 0x4000/0x4000'),
        marking('PREROUTING', '-s 10.244.1.0/24 -m statistic --mode random --probability 0.5 -j KUBE-MARK-MASQ')])
      const assumed = traceFlow(maybe, {src: 'pod-a', dst: 'pod-b'}).warnings.filter(x => x.code === 'ASSUMED')
      expect(assumed.map(x => x.node)).to.include('node1')
      expect(assumed.map(x => x.message).join('\n')).to.contain('packet mark unknown after nat PREROUTING on node1: `-A PREROUTING -s 10.244.1.0/24 -m statistic')
      // a packet from another subnet does not meet that jump
      expect(traceFlow(sure, {src: 'pod-b', dst: 'pod-a'}).warnings).to.deep.equal([])
    })

    it('shows only the vxlan line of `ip -d link` as encap and decap evidence, up to the port and learning words', () => {
      const t = traceFlow(world, {src: 'pod-a', dst: 'pod-b'})
      const encap = t.hops[1].steps.find(s => s.kind === 'encap')!
      const decap = t.hops[2].steps.find(s => s.kind === 'decap')!
      expect(encap.evidence).to.equal('vxlan id 1 local 192.168.100.11 dev eth0 srcport 0 0 dstport 8472 nolearning')
      expect(decap.evidence).to.equal('vxlan id 1 local 192.168.100.12 dev eth0 srcport 0 0 dstport 8472 nolearning')
      const raw = world.hosts.find(h => h.name === 'node1')!.links!.find(l => l.name === 'flannel.1')!.raw
      expect(raw).to.contain(encap.evidence)
      // with learning on, iproute2 prints no learning word: the line ends at the port
      const learning = applyPatches(world, [{host: 'node1', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {
        vxlan: {learning: true}, raw: raw.replace(' nolearning', ''),
      }}])
      const hop = traceFlow(learning, {src: 'pod-a', dst: 'pod-b'}).hops[1]
      expect(hop.steps.find(s => s.kind === 'encap')!.evidence).to.equal('vxlan id 1 local 192.168.100.11 dev eth0 srcport 0 0 dstport 8472')
    })

    it('starts at the node\'s bridge when the pod namespace was not captured', () => {
      const t = traceFlow(world, {src: 'pod-c', dst: 'pod-a'})
      expect(t.disposition).to.equal('DELIVERED')
      expect(devicesOf(t)[0]).to.equal('node2:cni0>flannel.1')
      expect(t.traceroute).to.deep.equal(['10.244.2.1', '10.244.1.0', '10.244.1.34'])
      // the reply ends on node2's bridge, handed to the pod
      const last = t.returnPath.hops.at(-1)!
      expect(last.node).to.equal('node2')
      expect(last.steps.at(-1)!.kind).to.equal('deliver')
    })

    it('switches pods on the same bridge without routing (br_netfilter still runs FORWARD and nat POSTROUTING)', () => {
      const t = traceFlow(world, {src: 'pod-a', dst: 'pod-a2'})
      expect(t.disposition).to.equal('DELIVERED')
      expect(devicesOf(t)).to.deep.equal(['pod-a:local>eth0', 'node1:cni0>cni0', 'pod-a2:eth0>local'])
      expect(kindsAt(t, 'node1')).to.deep.equal(['fdb', 'filter', 'nat'])
      // flannel's RETURN for pod-to-pod keeps the source
      expect(t.hops.find(h => h.node === 'node1')!.steps.at(-1)!.verdict).to.equal('unchanged')
      expect(t.traceroute).to.deep.equal(['10.244.1.35'])
    })

    it('traces from a node: the source is the address its route selects (flannel.1\'s)', () => {
      const t = traceFlow(world, {src: 'node1', dst: 'pod-b'})
      expect(t.disposition).to.equal('DELIVERED')
      expect(t.src).to.deep.equal({kind: 'node', name: 'node1', ip: '10.244.1.0'})
      expect(t.hops[0]).to.include({node: 'node1', in: 'local', out: 'flannel.1'})
      expect(t.traceroute).to.deep.equal(['10.244.2.0', '10.244.2.5'])
    })

    it('delivers a pod to its own node', () => {
      const t = traceFlow(world, {src: 'pod-a', dst: 'node1'})
      expect(t.disposition).to.equal('DELIVERED')
      expect(t.dst.ip).to.equal('192.168.100.11')
      expect(nodesOf(t)).to.deep.equal(['pod-a', 'node1'])
      expect(t.traceroute).to.deep.equal(['192.168.100.11'])
    })

    it('accepts pod IPs and node names', () => {
      const t = traceFlow(world, {src: '10.244.1.34', dst: 'node2'})
      expect(t.src.name).to.equal('pod-a')
      expect(t.disposition).to.equal('DELIVERED')
    })

    it('lets a packet to the internet exit by the default route without a failure', () => {
      const t = traceFlow(world, {src: 'pod-a', dst: '203.0.113.7'})
      expect(t.disposition).to.equal('EXITS_NETWORK')
      expect(t.failure).to.equal(undefined)
      expect(t.dst.kind).to.equal('address')
      // flannel masquerades pod traffic leaving the network
      const nat = t.hops[1].steps.find(s => s.kind === 'nat')!
      expect(nat.verdict).to.equal('masquerade')
      expect(nat.explanation).to.contain('becomes 192.168.100.11')
      expect(t.returnPath.disposition).to.equal('INSUFFICIENT_INFO')
      expect(codes(t)).to.not.include('NO_RETURN_ROUTE')
    })

    it('checks --size against each MTU, with 50 bytes of vxlan on the underlay', () => {
      const ok = traceFlow(world, {src: 'pod-a', dst: 'pod-b', size: 1450})
      expect(ok.disposition).to.equal('DELIVERED')
      const mtu = ok.hops[1].steps.filter(s => s.kind === 'mtu').map(s => s.explanation)
      expect(mtu[1]).to.contain('1500-byte outer packet (1450 + 50 bytes of vxlan encapsulation)')
      const big = traceFlow(world, {src: 'pod-a', dst: 'pod-b', size: 1451})
      expect(big.disposition).to.equal('MTU_EXCEEDED')
      expect(big.failure!.node).to.equal('pod-a')
    })

    it('matches tcp ports in filter rules and reports the dropping rule', () => {
      const w = applyPatches(world, [
        {host: 'node2', op: 'add', table: 'iptables.rules', value: {table: 'filter', chain: 'FLANNEL-FWD', spec: '-p tcp -m tcp --dport 5432 -j REJECT --reject-with icmp-port-unreachable', raw: '-A FLANNEL-FWD -p tcp -m tcp --dport 5432 -j REJECT --reject-with icmp-port-unreachable'}},
      ])
      // appended after the ACCEPT rules: never reached
      expect(traceFlow(w, {src: 'pod-a', dst: 'pod-b', proto: 'tcp', dport: 5432}).disposition).to.equal('DELIVERED')
      const first = applyPatches(world, [
        {host: 'node2', op: 'remove', table: 'iptables.rules', where: {chain: 'FORWARD'}},
        {host: 'node2', op: 'add', table: 'iptables.rules', value: {table: 'filter', chain: 'FORWARD', spec: '-p tcp -m tcp --dport 5432 -j REJECT --reject-with icmp-port-unreachable', raw: '-A FORWARD -p tcp -m tcp --dport 5432 -j REJECT --reject-with icmp-port-unreachable'}},
        {host: 'node2', op: 'add', table: 'iptables.rules', value: {table: 'filter', chain: 'FORWARD', spec: '-m comment --comment "flanneld forward" -j FLANNEL-FWD', raw: '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD'}},
      ])
      expect(traceFlow(first, {src: 'pod-a', dst: 'pod-b', proto: 'tcp', dport: 80}).disposition).to.equal('DELIVERED')
      const t = traceFlow(first, {src: 'pod-a', dst: 'pod-b', proto: 'tcp', dport: 5432})
      expect(t.disposition).to.equal('DENIED_BY_FILTER')
      expect(t.failure!.evidence).to.equal('-A FORWARD -p tcp -m tcp --dport 5432 -j REJECT --reject-with icmp-port-unreachable')
      expect(t.failure!.fix).to.deep.equal([{node: 'node2', command: 'iptables -D FORWARD -p tcp -m tcp --dport 5432 -j REJECT --reject-with icmp-port-unreachable'}])
    })

    it('flags the naive masquerade rule: peers see the node instead of the pod', () => {
      const w = applyPatches(world, [
        {host: 'node1', op: 'remove', table: 'iptables.rules', where: {chain: 'POSTROUTING'}},
        {host: 'node1', op: 'add', table: 'iptables.rules', value: {table: 'nat', chain: 'POSTROUTING', spec: '-s 10.244.1.0/24 ! -o docker0 -j MASQUERADE', raw: '-A POSTROUTING -s 10.244.1.0/24 ! -o docker0 -j MASQUERADE'}},
      ])
      const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
      expect(t.disposition).to.equal('DELIVERED')
      const nated = t.warnings.find(x => x.code === 'SOURCE_NATED')!
      expect(nated.node).to.equal('node1')
      expect(nated.message).to.contain('10.244.1.34 to 10.244.1.0')
      expect(nated.message).to.match(/: pod-b sees 10\.244\.1\.0 instead of pod-a's address$/)
      // a request dropped further on reaches no one: what pod-b will see once it gets through, not what it sees
      const dropped = traceFlow(applyPatches(w, [{host: 'node2', op: 'remove', table: 'routes', where: {dst: '10.244.2.0/24'}}]), {src: 'pod-a', dst: 'pod-b'})
      expect(dropped.disposition).to.not.equal('DELIVERED')
      expect(dropped.warnings.find(x => x.code === 'SOURCE_NATED')?.message).to.match(/: once the request gets through, pod-b will see 10\.244\.1\.0 instead of pod-a's address$/)
      // the reply goes to node1's flannel.1 address and conntrack hands it back to the pod
      expect(t.returnPath.disposition).to.equal('DELIVERED')
      const denat = t.returnPath.hops.find(h => h.node === 'node1')!.steps.find(s => s.kind === 'nat')!
      expect(denat).to.include({kind: 'nat', verdict: 'de-nat'})
    })

    it('warns when the reply cannot come back', () => {
      const w = applyPatches(world, [{host: 'node2', op: 'remove', table: 'routes', where: {dst: '10.244.1.0/24'}}])
      const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
      expect(t.disposition).to.equal('DELIVERED')
      expect(t.returnPath.disposition).to.equal('EXITS_NETWORK')
      const warn = t.warnings.find(x => x.code === 'NO_RETURN_ROUTE')!
      expect(warn.node).to.equal('node2')
      expect(t.returnPath.failure!.fix[0].command).to.equal('ip route replace 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink')
    })

    it('warns when the reply takes another path', () => {
      // node2 answers node1's pods over the underlay directly (DirectRouting on one side only)
      const w = applyPatches(world, [
        {host: 'node2', op: 'remove', table: 'routes', where: {dst: '10.244.1.0/24'}},
        {host: 'node2', op: 'add', table: 'routes', value: {dst: '10.244.1.0/24', type: 'unicast', gateway: '192.168.100.11', dev: 'eth0', raw: '10.244.1.0/24 via 192.168.100.11 dev eth0'}},
      ])
      const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
      expect(t.returnPath.disposition).to.equal('DELIVERED')
      const asym = t.warnings.find(x => x.code === 'ASYMMETRIC_PATH')!
      expect(asym.node).to.equal('node1')
      expect(asym.message).to.contain('flannel.1').and.contain('eth0')
    })

    describe('tables pasted from `ip addr`/`ifconfig`: links without their `ip -d link` details', () => {
      // What the parsers make of `ip addr`: every link an Ethernet link, no vxlan details.
      const pasted = (hosts: string[]) => applyPatches(world, hosts.flatMap(host => [
        {host, op: 'update' as const, table: 'links', where: {name: 'flannel.1'}, value: {kind: 'ether', vxlan: undefined, raw: `flannel.1: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1450`}},
        {host, op: 'update' as const, table: 'links', where: {name: 'cni0'}, value: {kind: 'ether'}},
        {host, op: 'update' as const, table: 'links', where: {kind: 'veth'}, value: {kind: 'ether'}},
      ]))

      it('takes flannel.N as flannel\'s usual vxlan device (VNI N, port 8472, local on the default route\'s device), keeping its MAC', () => {
        const t = traceFlow(pasted(['node1', 'node2']), {src: 'pod-a', dst: 'pod-b'})
        expect(t.disposition).to.equal('DELIVERED')
        expect(devicesOf(t)).to.deep.equal(['pod-a:local>eth0', 'node1:cni0>flannel.1', 'node2:flannel.1>cni0', 'pod-b:eth0>local'])
        const encap = t.hops[1].steps.find(s => s.kind === 'encap')!
        expect(encap.verdict).to.equal('assumed')
        expect(encap.evidence).to.equal('(assumed for flannel.1: vxlan id 1 local 192.168.100.11 dev eth0 dstport 8472 nolearning)')
        expect(encap.explanation).to.contain('UDP 192.168.100.11 → 192.168.100.12:8472, VNI 1')
        expect(t.hops[2].steps[0]).to.include({kind: 'decap', verdict: 'assumed'})
        const assumed = t.warnings.filter(w => w.code === 'ASSUMED' && w.message.includes('flannel.1'))
        expect(assumed.map(w => w.node)).to.have.members(['node1', 'node2'])
        expect(assumed[0].message).to.contain('`ip -d link`').and.contain('vxlan id 1 local 192.168.100.11 dev eth0 dstport 8472')
        expect(t.returnPath.disposition).to.equal('DELIVERED')
        expect(t.traceroute).to.deep.equal(['10.244.1.1', '10.244.2.0', '10.244.2.5'])
      })

      it('still finds a peer\'s re-created device by its MAC: STALE_VTEP_MAC', () => {
        const w = applyPatches(pasted(['node1', 'node2']), [{host: 'node2', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {mac: 'd6:12:9b:77:c2:99'}}])
        const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
        expect(t.disposition).to.equal('STALE_VTEP_MAC')
        expect(t.failure!.node).to.equal('node1')
        expect(t.failure!.fix[0].command).to.equal('ip neigh replace 10.244.2.0 lladdr d6:12:9b:77:c2:99 dev flannel.1 nud permanent')
        // a device that is down stays down
        const down = applyPatches(pasted(['node1', 'node2']), [{host: 'node2', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {up: false}}])
        expect(traceFlow(down, {src: 'pod-a', dst: 'pod-b'}).disposition).to.equal('DEVICE_DOWN')
      })

      it('generalises to any flannel.<VNI>, and a device of another known kind is not taken for vxlan', async () => {
        const {HostView} = await import('../../src/core/trace/host-view.js')
        const {vxlanDevice} = await import('../../src/core/trace/vxlan.js')
        const node = pasted(['node1']).hosts.find(h => h.name === 'node1')!
        const renamed = {...node, links: node.links!.map(l => l.name === 'flannel.1' ? {...l, name: 'flannel.42', mtu: 1400} : l)}
        const d = vxlanDevice(new HostView(renamed), 'flannel.42')!
        expect(d).to.include({id: 42, port: 8472, local: '192.168.100.11', dev: 'eth0', learning: false, assumed: true, mac: '8e:6a:3c:4f:a1:01'})
        expect(d.link!.mtu).to.equal(1400)
        const dummy = {...node, links: node.links!.map(l => l.name === 'flannel.1' ? {...l, kind: 'dummy' as const} : l)}
        expect(vxlanDevice(new HostView(dummy), 'flannel.1')).to.equal(undefined)
      })

      it('takes cni0 known only from ifconfig as the pod bridge it is named for', () => {
        const w = applyPatches(pasted(['node2']), [{host: 'node2', op: 'remove', table: 'neighbors', where: {dst: '10.244.2.6'}}])
        const t = traceFlow(w, {src: 'pod-a', dst: 'pod-c'})
        expect(t.disposition).to.equal('DELIVERED')
        expect(t.hops.at(-1)!.steps.at(-2)!.explanation).to.contain('ARP resolves 10.244.2.6')
        expect(t.warnings.find(x => x.code === 'ASSUMED' && x.message.includes('answers ARP'))!.message).to.contain("cni0, the pod side of node2")
        // discovered, not listed: an idle pod there is unknown, not missing
        expect(traceFlow({...w, podsDiscovered: true}, {src: 'pod-a', dst: '10.244.2.77'}).disposition).to.equal('INSUFFICIENT_INFO')
      })

      it('resolves a pod without a neighbour entry on its node\'s bridge as ARP would, saying what it assumed', () => {
        // a bridge whose kind and name say nothing: only its subnet puts the pod there
        const renamed = (['links', 'addresses', 'routes', 'neighbors'] as const).flatMap(table => table === 'links'
          ? [{host: 'node2', op: 'update' as const, table, where: {name: 'cni0'}, value: {name: 'pods0'}}, {host: 'node2', op: 'update' as const, table, where: {master: 'cni0'}, value: {master: 'pods0'}}]
          : [{host: 'node2', op: 'update' as const, table, where: {dev: 'cni0'}, value: {dev: 'pods0'}}])
        const w = applyPatches(pasted(['node2']), [...renamed, {host: 'node2', op: 'remove', table: 'neighbors', where: {dst: '10.244.2.6'}}])
        const t = traceFlow(w, {src: 'pod-a', dst: 'pod-c'})
        expect(t.disposition).to.equal('DELIVERED')
        const [neigh, deliver] = t.hops.at(-1)!.steps.slice(-2)
        expect(neigh).to.include({kind: 'neigh', verdict: 'ok'})
        expect(neigh.evidence).to.equal(w.hosts.find(h => h.name === 'node2')!.addresses!.find(a => a.local === '10.244.2.1')!.raw)
        expect(neigh.explanation).to.contain('ARP resolves 10.244.2.6').and.contain('the inventory puts pod pod-c on node2').and.contain("pods0's subnet (10.244.2.1/24)")
        expect(deliver).to.include({kind: 'deliver', verdict: 'delivered'})
        const warn = t.warnings.find(x => x.code === 'ASSUMED' && x.message.includes('answers ARP'))!
        expect(warn.node).to.equal('node2')
        expect(warn.message).to.contain('pod pod-c (10.244.2.6)')
        // the reply from the pod starts at the bridge and goes home as before
        expect(t.returnPath.disposition).to.equal('DELIVERED')
        // an address the inventory does not put on node2 gets no such benefit
        expect(traceFlow(w, {src: 'pod-a', dst: '10.244.2.77'}).disposition).to.equal('NEIGHBOR_MISSING')
      })
    })

    it('takes an address answering on a node\'s pod bridge as a pod the inventory does not list', () => {
      const w = {hosts: world.hosts, pods: world.pods.filter(p => p.name !== 'pod-c')}
      const t = traceFlow(w, {src: 'pod-a', dst: '10.244.2.6'})
      expect(t.disposition).to.equal('DELIVERED')
      expect(t.hops.at(-1)!.steps.at(-1)!).to.include({kind: 'deliver', evidence: '10.244.2.6 dev cni0 lladdr 0a:58:0a:f4:02:06 REACHABLE'})
      expect(traceFlow(w, {src: 'pod-a', dst: '10.244.2.77'}).disposition).to.equal('NEIGHBOR_MISSING')
    })

    it('rejects unknown names with the known ones as a hint', () => {
      expect(() => traceFlow(world, {src: 'pod-x', dst: 'pod-b'})).to.throw(FlannelctlError)
      try {
        traceFlow(world, {src: 'pod-a', dst: 'nope'})
      } catch (e) {
        const err = e as FlannelctlError
        expect(err.exitCode).to.equal(2)
        expect(err.message).to.contain('"nope"')
        expect(err.hint).to.contain('pod-a').and.contain('node1')
      }
      expect(() => traceFlow(world, {src: '10.9.9.9', dst: 'pod-b'})).to.throw(FlannelctlError, /unknown source/)
      expect(() => traceFlow(world, {src: 'pod-a', dst: 'pod-b', dport: 80})).to.throw(FlannelctlError, /--dport needs/)
      // before: NO_ROUTE, with the fix `ip route replace 224.0.0.1 via GATEWAY dev DEVICE`
      for (const [dst, range] of [['224.0.0.1', '224.0.0.0/4, multicast'], ['255.255.255.255', '240.0.0.0/4'], ['0.0.0.0', '0.0.0.0/8']]) {
        expect(() => traceFlow(world, {src: 'pod-a', dst}), dst).to.throw(FlannelctlError, `the destination ${dst} is no unicast address (it is in ${range}`)
      }
      expect(() => traceFlow(world, {src: 'pod-a', dst: '10.244.2.0/24'})).to.throw(FlannelctlError, 'the destination 10.244.2.0/24 is a prefix: a packet goes from one address to one address')
      expect(traceFlow(world, {src: 'pod-a', dst: '127.0.0.1'}).disposition, 'its own loopback').to.equal('DELIVERED')
      expect(() => traceFlow(world, {src: 'pod-a', dst: 'pod-b', size: 10})).to.throw(FlannelctlError, /bad size/)
    })
  })

  describe('a node\'s default gateway, a router no inventory lists', () => {
    it('with no neighbour entry for it yet: where the tables run out, not an ARP that fails (checked on namespaces: the router answers)', () => {
      const w = applyPatches(loadWorld('flannel-vxlan'), [{host: 'node1', op: 'remove', table: 'neighbors', where: {dst: '192.168.100.1'}}])
      const t = traceFlow(w, {src: 'pod-a', dst: '192.168.100.1'})
      // before: NEIGHBOR_MISSING, "no host in the snapshot owns 192.168.100.1 or answers ARP for it on eth0"
      expect(t.disposition).to.equal('INSUFFICIENT_INFO')
      expect(t.failure).to.deep.include({node: 'node1', step: 'neigh', evidence: '(no neighbour entry for 192.168.100.1 on eth0)'})
      expect(t.failure!.reason).to.contain('192.168.100.1 is node1\'s default gateway').and.contain('whose tables were not read')
      expect(t.failure!.fix.map(f => f.command)).to.deep.equal(['ping -c 1 192.168.100.1', 'ip neigh show 192.168.100.1'])
      // an address beside it that is no host's and nobody's gateway: the hosts are taken as the whole network
      expect(traceFlow(w, {src: 'pod-a', dst: '192.168.100.99'}).disposition).to.equal('NEIGHBOR_MISSING')
    })
  })

  describe('flannel host-gw', () => {
    it('routes via the peer\'s underlay address; traceroute shows it', () => {
      const t = traceFlow(loadWorld('flannel-host-gw'), {src: 'pod-a', dst: 'pod-b'})
      expect(t.disposition).to.equal('DELIVERED')
      expect(devicesOf(t)).to.deep.equal(['pod-a:local>eth0', 'node1:cni0>eth0', 'node2:eth0>cni0', 'pod-b:eth0>local'])
      expect(t.traceroute).to.deep.equal(['10.244.1.1', '192.168.100.12', '10.244.2.5'])
      expect(t.hops.flatMap(h => h.steps).some(s => s.kind === 'encap')).to.equal(false)
    })

    it('assumes a flannel node\'s usual settings where sysctls and iptables were not captured', () => {
      const t = traceFlow(loadWorld('flannel-host-gw-partial'), {src: 'pod-a', dst: 'pod-b'})
      expect(t.disposition).to.equal('DELIVERED')
      const assumed = t.warnings.filter(w => w.code === 'ASSUMED' && w.node === 'node2').map(w => w.message)
      expect(assumed.some(m => m.includes('forwarding is on'))).to.equal(true)
      expect(assumed.some(m => m.includes('FORWARD chain accepts'))).to.equal(true)
      expect(assumed.some(m => m.includes('rp_filter'))).to.equal(true)
      const node2 = t.hops.find(h => h.node === 'node2')!
      expect(node2.steps.filter(s => s.verdict === 'assumed').map(s => s.kind)).to.deep.equal(['sysctl', 'filter'])
    })
  })

  describe('flannel DirectRouting', () => {
    const world = loadWorld('flannel-directrouting')

    it('goes direct to a peer on the same segment', () => {
      const t = traceFlow(world, {src: 'pod-a', dst: 'pod-b'})
      expect(t.disposition).to.equal('DELIVERED')
      expect(devicesOf(t)).to.deep.equal(['node1:cni0>eth0', 'node2:eth0>cni0'])
      expect(t.traceroute).to.deep.equal(['10.244.1.1', '192.168.100.12', '10.244.2.5'])
    })

    it('tunnels to a peer behind a router; the router carries only the outer packet', () => {
      const t = traceFlow(world, {src: 'pod-a', dst: 'pod-d'})
      expect(t.disposition).to.equal('DELIVERED')
      expect(devicesOf(t)).to.deep.equal(['node1:cni0>flannel.1', 'router:eth0>eth1', 'node3:flannel.1>cni0'])
      const router = t.hops[1].steps.find(s => s.kind === 'route')!
      expect(router.explanation).to.contain('192.168.200.13')
      // the router does not see the traced packet's TTL: it is not a traceroute hop
      expect(t.traceroute).to.deep.equal(['10.244.1.1', '10.244.3.0', '10.244.3.7'])
      expect(t.returnPath.hops.map(h => h.node)).to.deep.equal(['node3', 'router', 'node1'])
      expect(codes(t)).to.not.include('ASYMMETRIC_PATH')
    })
  })

  describe('flannel before 0.9', () => {
    const world = loadWorld('flannel-old')

    it('traces one /16 route to flannel.1 with per-pod neighbour entries', () => {
      const t = traceFlow(world, {src: 'pod-a', dst: 'pod-b'})
      expect(t.disposition).to.equal('DELIVERED')
      expect(t.hops[0].steps.find(s => s.kind === 'route')!.evidence).to.equal('10.244.0.0/16 dev flannel.1 proto kernel scope link src 10.244.1.0')
      expect(t.hops[0].steps.find(s => s.kind === 'neigh')!.evidence).to.equal('10.244.2.5 dev flannel.1 lladdr 9a:1c:55:e0:02:02 REACHABLE')
      expect(t.traceroute).to.deep.equal(['10.244.1.1', '10.244.2.0', '10.244.2.5'])
    })

    it('cannot tell whether its agent adds a missing neighbour entry: INSUFFICIENT_INFO naming app_solicit', () => {
      // flannel before 0.9 made flannel.1 with l2miss and set app_solicit=3, so misses went to flanneld
      const t = traceFlow(world, {src: 'pod-a', dst: 'pod-b2'})
      expect(t.disposition).to.equal('INSUFFICIENT_INFO')
      expect(t.failure!.reason).to.contain('ip neigh replace 10.244.2.6 lladdr 9a:1c:55:e0:02:02 dev flannel.1 nud permanent')
      expect(t.failure!.fix.map(f => f.command)).to.deep.equal(['sysctl net.ipv4.neigh.flannel/1.app_solicit', 'ping -c 1 -W 1 10.244.2.6', 'ip neigh show 10.244.2.6 dev flannel.1'])
    })

    it('reports a pod without a neighbour entry as NEIGHBOR_MISSING when no miss goes to user space (app_solicit = 0)', () => {
      const t = traceFlow(applyPatches(world, [{host: 'node1', op: 'set', table: 'sysctls', value: {'net.ipv4.neigh.flannel.1.app_solicit': '0'}}]), {src: 'pod-a', dst: 'pod-b2'})
      expect(t.disposition).to.equal('NEIGHBOR_MISSING')
      expect(t.failure!.node).to.equal('node1')
      expect(t.failure!.fix).to.deep.equal([{node: 'node1', command: 'ip neigh replace 10.244.2.6 lladdr 9a:1c:55:e0:02:02 dev flannel.1 nud permanent'}])
    })
  })

  it('a pod\'s veth without carrier: the fix brings up the end that is down, on the node, not the pod\'s eth0 that is up', () => {
    const t = traceFlow(applyPatches(loadWorld('flannel-vxlan'), [
      {host: 'node2', op: 'update', table: 'links', where: {name: 'veth9c0d4e21'}, value: {up: false, operstate: 'DOWN'}},
      {host: 'pod-b', op: 'update', table: 'links', where: {name: 'eth0'}, value: {operstate: 'LOWERLAYERDOWN'}},
    ]), {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('DEVICE_DOWN')
    // said where the frame is lost, on node2 (it was said on pod-b, which the frame never reaches)
    expect(t.failure!.node).to.equal('node2')
    expect(t.failure!.reason).to.equal('10.244.2.5 is at 0a:58:0a:f4:02:05 (REACHABLE), but veth9c0d4e21 on node2, the veth to pod-b\'s eth0, is down: the frame is lost there')
    expect(t.failure!.fix).to.deep.equal([{node: 'node2', command: 'ip link set veth9c0d4e21 up'}])
  })

  describe('a vxlan device with a default (flood) fdb entry and no neighbour entry', () => {
    const flood = {host: 'node1', op: 'add' as const, table: 'fdb' as const, value: {mac: '00:00:00:00:00:00', dev: 'flannel.1', flags: ['self', 'permanent'], dst: '192.168.100.12',
      raw: '00:00:00:00:00:00 dev flannel.1 dst 192.168.100.12 self permanent'}}

    it('the flooded ARP reaches the peer, which does not own the pod\'s address: nothing answers', () => {
      const t = traceFlow(applyPatches(loadWorld('flannel-old'), [flood,
        {host: 'node1', op: 'set', table: 'sysctls', value: {'net.ipv4.neigh.flannel.1.app_solicit': '0'}}]), {src: 'pod-a', dst: 'pod-b2'})
      expect(t.disposition).to.equal('NEIGHBOR_MISSING')
      expect(t.failure!.node).to.equal('node1')
      expect(t.failure!.reason).to.contain('reaches node2\'s flannel.1, but 10.244.2.6 is not an address of node2 and proxy_arp is off there')
      expect(t.failure!.fix[0]).to.deep.equal({node: 'node1', command: 'ip neigh replace 10.244.2.6 lladdr 9a:1c:55:e0:02:02 dev flannel.1 nud permanent'})
    })

    it('the peer answers by proxy when proxy_arp is on its vxlan device', () => {
      const t = traceFlow(applyPatches(loadWorld('flannel-old'), [flood,
        {host: 'node2', op: 'set', table: 'sysctls', value: {'net.ipv4.conf.flannel.1.proxy_arp': '1'}}]), {src: 'pod-a', dst: 'pod-b2'})
      expect(t.disposition).to.equal('DELIVERED')
      const arp = t.hops.flatMap(h => h.steps).find(s => s.kind === 'neigh' && s.evidence === flood.value.raw)!
      expect(arp.explanation).to.contain('node2 answers with 9a:1c:55:e0:02:02 by proxy (net.ipv4.conf.flannel.1.proxy_arp = 1)')
    })
  })

  describe('Calico (BGP, no encapsulation)', () => {
    const world = loadWorld('calico')

    it('gets pods out through 169.254.1.1, answered by proxy ARP on the cali veth', () => {
      const t = traceFlow(world, {src: 'web-0', dst: 'db-0'})
      expect(t.disposition).to.equal('DELIVERED')
      expect(devicesOf(t)).to.deep.equal(['web-0:local>eth0', 'cal1:cali1a2b3c4d5e6>eth0', 'cal2:eth0>cali9f8e7d6c5b4', 'db-0:eth0>local'])
      const arp = t.hops[0].steps.find(s => s.kind === 'neigh')!
      expect(arp.evidence).to.equal('net.ipv4.conf.cali1a2b3c4d5e6.proxy_arp = 1')
      expect(arp.explanation).to.contain('proxy')
    })

    it('predicts traceroute from the node addresses (the cali veths have none)', () => {
      expect(traceFlow(world, {src: 'web-0', dst: 'db-0'}).traceroute).to.deep.equal(['192.168.100.11', '192.168.100.12', '10.233.64.66'])
    })

    it('assumes an ipset match does not match, and says so', () => {
      const t = traceFlow(world, {src: 'web-0', dst: 'db-0'})
      const w = t.warnings.find(x => x.code === 'ASSUMED' && x.node === 'cal1')!
      expect(w.message).to.contain('--match-set cali40masq-ipam-pools src')
    })

    it('null-routes an address of the node\'s own block that no pod has', () => {
      const t = traceFlow(world, {src: 'db-0', dst: '10.233.64.9'})
      expect(t.disposition).to.equal('NULL_ROUTED')
      expect(t.failure!.node).to.equal('cal1')
      expect(t.failure!.evidence).to.equal('blackhole 10.233.64.0/26 proto bird')
      expect(t.traceroute, 'a blackhole answers nothing').to.deep.equal(['192.168.100.12'])
    })

    it('an unreachable route answers traceroute with !H from the router (its route lookup comes before the TTL check)', () => {
      const t = traceFlow(applyPatches(world, [
        {host: 'cal1', op: 'update', table: 'routes', where: {dst: '10.233.64.0/26'}, value: {type: 'unreachable', raw: 'unreachable 10.233.64.0/26 proto bird'}},
      ]), {src: 'db-0', dst: '10.233.64.9'})
      expect(t.disposition).to.equal('NULL_ROUTED')
      expect(t.failure!.reason).to.contain('matches an unreachable route on cal1')
      expect(t.traceroute).to.deep.equal(['192.168.100.12', '192.168.100.11 !H'])
    })
  })

  describe('ARP toward a device that is down (checked on namespaces against traceroute -n)', () => {
    const hostGw = loadWorld('flannel-host-gw')
    const scenario = (file: string) => loadScenario(file).world

    it('the bridge port to the pod is down: node2 is blamed, not the pod, and answers !H (it was "FAILED from an earlier try; ARP is asked again", then pod-2a blamed, no !H)', () => {
      const t = traceFlow(scenario('device-down-bridge-port.json'), {src: 'pod-a', dst: 'pod-b'})
      expect(t.failure!.node).to.equal('node2')
      expect(t.failure!.reason).to.equal('ARP for 10.244.2.5 on cni0 gets no answer: veth9c0d4e21 on node2, the veth to pod-b\'s eth0, is down, so the request never reaches pod-b; once ARP gives up (about 3 s), node2 answers the sender with ICMP host unreachable ("No route to host")')
      expect(t.failure!.fix).to.deep.equal([{node: 'node2', command: 'ip link set veth9c0d4e21 up'}])
      // kernel: 1 10.244.1.1  2 192.168.100.12  3 192.168.100.12 !H
      expect(t.traceroute).to.deep.equal(['10.244.1.1', '192.168.100.12', '192.168.100.12 !H'])
    })

    it('with a usable entry the frame leaves and is lost at the down port, silently: no !H', () => {
      const t = traceFlow(applyPatches(scenario('device-down-bridge-port.json'), [
        {host: 'node2', op: 'add', table: 'neighbors', value: {dst: '10.244.2.5', dev: 'cni0', lladdr: '0a:58:0a:f4:02:05', state: ['PERMANENT'], raw: '10.244.2.5 dev cni0 lladdr 0a:58:0a:f4:02:05 PERMANENT'}},
      ]), {src: 'pod-a', dst: 'pod-b'})
      expect(t.disposition).to.equal('DEVICE_DOWN')
      expect(t.failure!.node).to.equal('node2')
      expect(t.failure!.reason).to.contain('the frame is lost there')
      expect(t.traceroute).to.deep.equal(['10.244.1.1', '192.168.100.12'])
    })

    it('the peer\'s eth0 is down: the packet dies on the sender, which answers !H (it was said on node2, which the packet never reached, and no !H)', () => {
      const t = traceFlow(scenario('device-down-peer-unanswered.json'), {src: 'pod-a', dst: 'pod-b'})
      expect(t.hops.map(h => h.node)).to.deep.equal(['pod-a', 'node1'])
      expect(t.failure!.fix).to.deep.equal([{node: 'node2', command: 'ip link set eth0 up'}])
      expect(t.traceroute).to.deep.equal(['10.244.1.1', '10.244.1.1 !H'])
    })

    it('the sender\'s own device has no carrier and no entry for the next hop: its ARP fails too, !H', () => {
      const noCarrier = applyPatches(hostGw, [
        {host: 'node1', op: 'update', table: 'links', where: {name: 'eth0'}, value: {operstate: 'DOWN', raw: '2: eth0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state DOWN mode DEFAULT group default'}},
        {host: 'node1', op: 'remove', table: 'neighbors', where: {dst: '192.168.100.12'}},
      ])
      const t = traceFlow(noCarrier, {src: 'pod-a', dst: 'pod-b'})
      expect(t.disposition).to.equal('DEVICE_DOWN')
      expect(t.failure!.node).to.equal('node1')
      expect(t.failure!.step).to.equal('route')
      expect(t.traceroute).to.deep.equal(['10.244.1.1', '10.244.1.1 !H'])
      // a permanent entry survives the carrier loss: the frame goes to the device, which drops it without a word
      const permanent = traceFlow(applyPatches(noCarrier, [
        {host: 'node1', op: 'add', table: 'neighbors', value: {dst: '192.168.100.12', dev: 'eth0', lladdr: '52:54:00:00:01:12', state: ['PERMANENT'], raw: '192.168.100.12 dev eth0 lladdr 52:54:00:00:01:12 PERMANENT'}},
      ]), {src: 'pod-a', dst: 'pod-b'})
      expect(permanent.traceroute).to.deep.equal(['10.244.1.1'])
    })
  })

  describe('docker0 with MASQUERADE', () => {
    it('SNAT to an address no host has: the reply dies on the far host, and the fix is the rule, not that host\'s neighbour table', () => {
      const t = traceFlow(applyPatches(loadWorld('docker-masq'), [
        {host: 'docker1', op: 'update', table: 'iptables.rules', where: {raw: '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE'},
          value: {spec: '-s 172.17.0.0/16 ! -o docker0 -j SNAT --to-source 192.168.100.99', raw: '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j SNAT --to-source 192.168.100.99'}},
      ]), {src: 'web', dst: 'host2'})
      expect(t.disposition).to.equal('DELIVERED')
      expect(t.returnPath.disposition).to.equal('NEIGHBOR_MISSING')
      expect(t.returnPath.failure!.reason).to.contain('192.168.100.99 is the source docker1\'s rule')
      expect(t.returnPath.failure!.fix).to.deep.equal([
        {node: 'docker1', command: 'iptables -t nat -D POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j SNAT --to-source 192.168.100.99'},
        {node: 'docker1', command: 'iptables -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j SNAT --to-source 192.168.100.21'},
      ])
    })

    it('a request dropped before POSTROUTING: the reply is traced as if it had gone on, masqueraded, so no false NO_RETURN_ROUTE', () => {
      const t = traceFlow(applyPatches(loadWorld('docker-masq'), [
        {host: 'docker1', op: 'remove', table: 'iptables.rules', where: {raw: '-A FORWARD -i docker0 ! -o docker0 -j ACCEPT'}},
        {host: 'docker1', op: 'update', table: 'iptables.chains', where: {table: 'filter', name: 'FORWARD'}, value: {policy: 'DROP'}},
      ]), {src: 'web', dst: 'host2'})
      expect(t.disposition).to.equal('DENIED_BY_FILTER')
      expect(t.returnPath.disposition).to.equal('DELIVERED')
      expect(codes(t)).to.not.include('NO_RETURN_ROUTE')
      expect(t.failure!.fix.every(f => f.node === 'docker1'), JSON.stringify(t.failure!.fix)).to.equal(true)
      expect(t.warnings.find(w => w.code === 'ASSUMED' && w.message.includes('its reply is traced as if it had gone on'))).to.not.equal(undefined)
    })

    it('shows the masquerade, then conntrack undoing it for the reply', () => {
      const t = traceFlow(loadWorld('docker-masq'), {src: 'web', dst: 'host2'})
      expect(t.disposition).to.equal('DELIVERED')
      const nat = t.hops[1].steps.find(s => s.kind === 'nat')!
      expect(nat).to.include({verdict: 'masquerade', evidence: '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE'})
      expect(codes(t)).to.not.include('SOURCE_NATED')
      const back = t.returnPath.hops.find(h => h.node === 'docker1')!
      expect(back.steps[0]).to.include({kind: 'nat', verdict: 'de-nat'})
      // the reply is ESTABLISHED: docker's conntrack rule lets it in
      expect(back.steps.find(s => s.kind === 'filter')!.evidence).to.equal('-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT')
      expect(t.returnPath.disposition).to.equal('DELIVERED')
      expect(t.traceroute).to.deep.equal(['172.17.0.1', '192.168.100.22'])
    })
  })

  it('to an address on a node\'s pod bridge that nothing answers for: dropped when the pods are listed, unknown when they were only discovered', () => {
    const w = loadWorld('flannel-vxlan')
    const listed = traceFlow(w, {src: 'pod-a', dst: '10.244.2.77'})
    expect(listed.disposition).to.equal('NEIGHBOR_MISSING')
    const discovered = traceFlow({...w, podsDiscovered: true}, {src: 'pod-a', dst: '10.244.2.77'})
    expect(discovered.disposition).to.equal('INSUFFICIENT_INFO')
    expect(discovered.failure!.node).to.equal('node2')
    expect(discovered.failure!.evidence).to.equal('(no neighbour entry for 10.244.2.77 on cni0)')
    expect(discovered.failure!.reason).to.contain('no pod was found at 10.244.2.77: node2 has no neighbour entry for it on cni0 and no CNI allocation read lists it')
    // a failed ARP for it on the bridge: no pod has it, and no command on the node would make one
    const failed = traceFlow(applyPatches(w, [{host: 'node2', op: 'add', table: 'neighbors', value: {dst: '10.244.2.77', dev: 'cni0', state: ['FAILED'], raw: '10.244.2.77 dev cni0 FAILED'}}]), {src: 'pod-a', dst: '10.244.2.77'})
    expect(failed.disposition).to.equal('NEIGHBOR_MISSING')
    expect(failed.failure!.reason).to.contain('no pod owns it')
    expect(failed.failure!.fix).to.deep.equal([])
    // a next hop that is not the destination is not a pod that might be idle
    expect(traceFlow({...w, podsDiscovered: true}, {src: 'pod-a', dst: 'pod-b'}).disposition).to.equal(traceFlow(w, {src: 'pod-a', dst: 'pod-b'}).disposition)
  })

  describe('this host alone (a partial world: its pods idle, the other hosts not read)', () => {
    const full = loadWorld('flannel-vxlan')
    // what `flannelctl trace` on node1 sees: node1's tables, no pod namespaces, no pods listed yet
    const local = (patches: Parameters<typeof applyPatches>[1] = []): World => {
      const w = applyPatches(full, [
        {host: 'node1', op: 'remove', table: 'neighbors', where: {dst: '192.168.100.12'}},
        {host: 'node1', op: 'remove', table: 'neighbors', where: {dst: '10.244.1.35'}},
        ...patches,
      ])
      return {hosts: w.hosts.filter(h => h.name === 'node1'), pods: [], partial: true}
    }

    it('a next hop without a neighbour entry is where the tables run out, not a drop', () => {
      const t = traceFlow(local(), {src: 'node1', dst: '10.244.2.5'})
      expect(t.disposition).to.equal('INSUFFICIENT_INFO')
      expect(t.failure!.evidence).to.equal('(no neighbour entry for 192.168.100.12 on eth0)')
      expect(t.failure!.reason).to.contain('node1 has no neighbour entry for 192.168.100.12 on eth0 yet, so ARP asks for it')
      expect(codes(t)).to.not.include('NO_RETURN_ROUTE')
      // the same tables taken as the whole network: nothing answers, so the packet is dropped
      const closed = traceFlow({...local(), partial: undefined}, {src: 'node1', dst: '10.244.2.5'})
      expect(closed.disposition).to.equal('NEIGHBOR_MISSING')
    })

    it('an address in a node\'s pod subnet that no pod list names is traced from its node\'s bridge, as assumed', () => {
      const t = traceFlow(local(), {src: '10.244.1.34', dst: '10.244.2.5'})
      expect(t.src).to.deep.equal({kind: 'pod', name: '10.244.1.34', ip: '10.244.1.34', node: 'node1'})
      expect(devicesOf(t)[0]).to.equal('node1:cni0>flannel.1')
      expect(t.warnings.find(w => w.code === 'ASSUMED')?.message).to.contain('10.244.1.34 is in node1\'s pod subnet but no pod there is known by it')
      expect(() => traceFlow(local(), {src: '10.99.0.7', dst: '10.244.2.5'})).to.throw(FlannelctlError, 'unknown source')
    })

    it('an unknown name with only this host read points to where other hosts come from (a lab\'s pod traced without --lab)', () => {
      expect(() => traceFlow(local(), {src: 'pod-1a', dst: 'pod-2a'})).to.throw(FlannelctlError, 'unknown source "pod-1a": not a pod, a pod IP or a node that the tables read show')
        .with.property('hint').that.matches(/^known names: .*node1.*; to read other hosts: --lab NAME, --inventory FILE or --snapshot DIR$/)
      expect(() => traceFlow({...local(), partial: undefined}, {src: 'pod-1a', dst: 'pod-2a'})).to.throw(FlannelctlError, 'a node of the hosts read')
        .with.property('hint').that.does.not.contain('--lab')
    })

    it('to an address on its own bridge the frame is switched, not routed: unknown while nothing shows who has it, delivered once the node has a neighbour entry', () => {
      const unknown = traceFlow(local(), {src: '10.244.1.34', dst: '10.244.1.35'})
      expect(devicesOf(unknown)).to.deep.equal(['node1:cni0>cni0'])
      expect(unknown.disposition).to.equal('INSUFFICIENT_INFO')
      expect(unknown.failure!.reason).to.contain('node1 has no neighbour entry for 10.244.1.35 on cni0 yet, so ARP asks for it')
      expect(unknown.traceroute).to.deep.equal([])

      const seen = local([{host: 'node1', op: 'add', table: 'neighbors', value: {dst: '10.244.1.35', dev: 'cni0', lladdr: '0a:58:0a:f4:01:23', state: ['REACHABLE'], raw: '10.244.1.35 dev cni0 lladdr 0a:58:0a:f4:01:23 REACHABLE'}}])
      // as `trace` on the host lists it: found by that entry on the bridge
      const t = traceFlow({...seen, pods: [{name: '10.244.1.35', ip: '10.244.1.35', node: 'node1'}]}, {src: '10.244.1.34', dst: '10.244.1.35'})
      expect(t.disposition).to.equal('DELIVERED')
      expect(devicesOf(t)).to.deep.equal(['node1:cni0>cni0'])
      expect(t.returnPath.disposition, 'the reply reaches the source the trace started from').to.equal('DELIVERED')
    })
  })
})
