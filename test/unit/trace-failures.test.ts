import {expect} from 'chai'
import {traceFlow} from '../../src/core/trace/engine.js'
import {DISPOSITIONS} from '../../src/core/trace/types.js'
import {applyPatches, loadScenario, loadWorld, scenarioFiles} from '../fixtures/trace/load.js'

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

  it('covers every disposition but DELIVERED', () => {
    expect([...seen].sort()).to.deep.equal(DISPOSITIONS.filter(d => d !== 'DELIVERED').sort())
  })
})

describe('trace failures found on a real kernel', () => {
  const vxlan = loadWorld('flannel-vxlan')

  it('an underlay that shrank is raised again, not the vxlan MTU lowered', () => {
    const w = applyPatches(vxlan, [{host: 'node1', op: 'update', table: 'links', where: {name: 'eth0'},
      value: {mtu: 1400, raw: '2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc noqueue state UP mode DEFAULT group default\n    link/ether 52:54:00:00:01:11 brd ff:ff:ff:ff:ff:ff'}}])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b', size: 1450})
    expect(t.disposition).to.equal('MTU_EXCEEDED')
    expect(t.failure!.node).to.equal('node1')
    expect(t.failure!.fix[0]).to.deep.equal({node: 'node1', command: 'ip link set eth0 mtu 1500'})
  })

  it('a frame longer than the receiving device\'s MTU is dropped on the way in', () => {
    const w = applyPatches(vxlan, [{host: 'node2', op: 'update', table: 'links', where: {name: 'eth0'},
      value: {mtu: 1400, raw: '2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc noqueue state UP mode DEFAULT group default\n    link/ether 52:54:00:00:01:12 brd ff:ff:ff:ff:ff:ff'}}])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b', size: 1450})
    expect(t.disposition).to.equal('MTU_EXCEEDED')
    expect(t.failure!.node).to.equal('node2')
    expect(t.failure!.fix[0]).to.deep.equal({node: 'node2', command: 'ip link set eth0 mtu 1500'})
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

  it('a VNI mismatch is fixed on the node that disagrees with the others', () => {
    const w = applyPatches(loadWorld('flannel-directrouting'), [{host: 'node1', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {vxlan: {id: 2}}}])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-d'})
    expect(t.disposition).to.equal('VNI_MISMATCH')
    expect(t.failure!.node).to.equal('node3')
    expect(new Set(t.failure!.fix.map(f => f.node))).to.deep.equal(new Set(['node1']))
    expect(t.failure!.fix.map(f => f.command)).to.include('ip link add flannel.1 address 8e:6a:3c:4f:a1:01 mtu 1450 type vxlan id 1 local 192.168.100.11 dev eth0 dstport 8472 nolearning')
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
})
