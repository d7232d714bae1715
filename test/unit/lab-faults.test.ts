/** Which lab a fault fits: the backend the store says now, not only the one lab up built. */
import {expect} from 'chai'
import {FAULTS, FaultShell, checkFits, choosePeer, expectedSighting, podAccepts, repairSyncOrder} from '../../src/services/faults.js'
import type {LabNode, LabState} from '../../src/services/lab.js'
import type {Command, CommandResult, Runner} from '../../src/adapters/runner.js'

describe('lab break: which lab a fault fits', () => {
  const lab = {name: 'demo', prefix: 'fc-demo', backend: 'vxlan', directRouting: false, segments: 1, store: 'file:/x', dir: '/x', switches: [], nodes: [], pods: []} as LabState
  const missingFdb = FAULTS.find(f => f.name === 'missing-fdb')!

  it('a vxlan fault on a lab migrated to host-gw since lab up is refused, naming both and the way back', () => {
    expect(() => checkFits(lab, missingFdb)).to.not.throw()
    expect(() => checkFits(lab, missingFdb, 'host-gw')).to.throw(/missing-fdb needs a vxlan lab; 'demo' is host-gw now \(lab up built vxlan; the store's network config says host-gw\)/)
      .with.property('hint').that.contains('flannelctl migrate --backend vxlan --lab demo --yes')
    // a lab built host-gw: moved to vxlan too (before, the hint named only another lab, with a placeholder for its name)
    expect(() => checkFits({...lab, backend: 'host-gw'}, missingFdb)).to.throw(/needs a vxlan lab; 'demo' is host-gw$/)
      .with.property('hint', 'flannelctl migrate --backend vxlan --lab demo --yes, or a lab of its own: flannelctl lab up --name NAME --backend vxlan')
  })
})

describe('lab break: the peer a fault needs', () => {
  const node = (name: string, segment: number) => ({name, segment, netns: `fc-demo-${name}`, underlayIP: `192.168.${segment === 1 ? 100 : 200}.1${name.slice(1)}`, subnet: `10.244.${name.slice(1)}.0/24`} as LabNode)
  const fault = (name: string) => FAULTS.find(f => f.name === name)!

  it('names what is missing: another node at all, one behind the router, or one on the node\'s segment', () => {
    // before: a one-node lab heard "missing-fdb needs a peer on the same segment of n1" and "--nodes 3, --segments 2"
    const solo = {name: 'solo', nodes: [node('n1', 1)]} as unknown as LabState
    expect(() => choosePeer(solo, fault('missing-fdb'), solo.nodes[0])).to.throw('missing-fdb needs a peer of n1, and lab \'solo\' has no other node')
      .with.property('hint', 'bring up a lab with more nodes: flannelctl lab up --name NAME --nodes 2')
    const flat = {name: 'flat', nodes: [node('n1', 1), node('n2', 1)]} as unknown as LabState
    expect(() => choosePeer(flat, fault('hostgw-via-router'), flat.nodes[0])).to.throw('hostgw-via-router needs a peer on the other segment of n1')
      .with.property('hint').that.contains('--segments 2')
    const split = {name: 'split', nodes: [node('n1', 1), node('n2', 2)]} as unknown as LabState
    expect(() => choosePeer(split, fault('rp-filter'), split.nodes[0])).to.throw('rp-filter needs a peer on n1\'s segment')
    expect(choosePeer(flat, fault('missing-fdb'), flat.nodes[0]).name).to.equal('n2')
  })
})

describe('lab break: the VTEP a fault works on', () => {
  /** A node whose VTEP is flannel.2 on port 4789 (after `migrate --vni 2 --port 4789`), and the commands run on it. */
  function nodeAfterMigrate(devices = ['flannel.2']): {sh: FaultShell, ran: string[]} {
    const ran: string[] = []
    const answer = (args: string[]): string => {
      const a = args.join(' ')
      if (a === '-j link show type vxlan') return JSON.stringify(devices.map(ifname => ({ifname})))
      if (a.startsWith('-d -j link show dev ')) return JSON.stringify([{address: '26:a4:39:90:02:9a', mtu: 1450, linkinfo: {info_data: {id: 2, port: 4789, local: '192.168.100.11', link: 'eth0'}}}])
      if (a.includes(' show dev ') || a.includes('fdb show')) return '[]'
      return ''
    }
    const runner: Runner = {
      target: {kind: 'local'},
      run: async (cmd: Command): Promise<CommandResult> => {
        const [, , , file, ...args] = cmd.args // ip netns exec NS FILE ARGS
        if (!args.includes('show')) ran.push(`${file} ${args.join(' ')}`)
        return {stdout: answer(args), stderr: '', exitCode: 0}
      },
    }
    return {sh: new FaultShell(runner), ran}
  }
  const node = {name: 'n1', netns: 'fc-demo-n1', underlayIP: '192.168.100.11', subnet: '10.244.1.0/24'} as LabNode
  const target = {lab: {} as LabState, node, peer: node}

  it('is flannel.<VNI> the lab uses now, and wrong-vni/wrong-port pick a VNI and port other than its own', async () => {
    // before: flannel.1 was named whatever the VNI, and lab break failed ("the lab is half built") after migrate --vni
    const vni = nodeAfterMigrate()
    await FAULTS.find(f => f.name === 'wrong-vni')!.inject(target, vni.sh)
    expect(vni.ran).to.include('ip link del flannel.2')
    expect(vni.ran.find(c => c.startsWith('ip link add'))).to.match(/^ip link add flannel\.2 .* id 3 .* dstport 4789 /)
    const port = nodeAfterMigrate()
    await FAULTS.find(f => f.name === 'wrong-port')!.inject(target, port.sh)
    expect(port.ran.find(c => c.startsWith('ip link add'))).to.match(/ id 2 .* dstport 8472 /)
  })

  it('is refused while a VNI migration has two of them', async () => {
    const {sh} = nodeAfterMigrate(['flannel.1', 'flannel.2'])
    let error: unknown
    await FAULTS.find(f => f.name === 'wrong-vni')!.inject(target, sh).catch(e => { error = e })
    expect(String(error)).to.contain('n1 has flannel.1 and flannel.2: a VNI migration is in progress')
  })
})

describe('lab break --list: the descriptions', () => {
  it('name no fixed flannel.1: faults work on the lab\'s flannel.<VNI> of now', () => {
    for (const f of FAULTS) expect(f.description, f.name).to.not.match(/flannel\.1\b/)
  })
})

describe('lab break: the repair it prints', () => {
  const node = (name: string) => ({name, netns: `fc-demo-${name}`, underlayIP: `192.168.100.1${name.slice(1)}`, subnet: `10.244.${name.slice(1)}.0/24`} as LabNode)
  const lab = {name: 'demo', nodes: [node('n1'), node('n2'), node('n3')]} as LabState
  const fault = (name: string) => FAULTS.find(f => f.name === name)!
  /** A shell that runs nothing. */
  const quietShell = (): FaultShell => new FaultShell({
    target: {kind: 'local'},
    run: async (): Promise<CommandResult> => ({stdout: '', stderr: '', exitCode: 0}),
  })

  it('says sync does not undo what is not flannelctl\'s: the underlay MTU, another program\'s masquerade rule', async () => {
    // before: both printed "or flannelctl lab exec n1 -- flannelctl sync", after which doctor still found the fault
    for (const name of ['mtu-mismatch', 'naive-masquerade']) {
      const kept = await fault(name).inject({lab, node: lab.nodes[0], peer: lab.nodes[1]}, quietShell())
      expect(kept, name).to.have.property('syncKeeps').that.matches(/not flannelctl's/)
    }
  })

  it('hostgw-via-router: sync repairs it where the node has a VTEP to route the peer through, not on host-gw', async () => {
    // before: on a host-gw lab it printed "or … flannelctl sync", which said "up to date: nothing to change" and left the route
    const shellWith = (vxlanLinks: string): FaultShell => new FaultShell({
      target: {kind: 'local'},
      run: async (cmd: Command): Promise<CommandResult> => ({stdout: cmd.args.includes('type') ? vxlanLinks : '', stderr: '', exitCode: 0}),
    })
    const target = {lab, node: lab.nodes[0], peer: lab.nodes[2]}
    expect(await fault('hostgw-via-router').inject(target, shellWith('[]'))).to.have.property('syncKeeps').that.contains('host-gw')
    expect(await fault('hostgw-via-router').inject(target, shellWith('[{"ifname":"flannel.1"}]'))).to.equal(undefined)
  })

  it('forward-drop: sync repairs an iptables-mode node, also one whose jump was already gone (the fault applied twice), not one in nftables mode', async () => {
    // before: a second `lab break n1 forward-drop` on an iptables lab said sync would not repair it, "in nftables mode"
    const withFilter = (save: string): FaultShell => new FaultShell({
      target: {kind: 'local'},
      run: async (cmd: Command): Promise<CommandResult> => ({stdout: cmd.args.includes('iptables-save') ? save : '', stderr: '', exitCode: 0}),
    })
    const target = {lab, node: lab.nodes[0], peer: lab.nodes[1]}
    const jumped = '*filter\n:FORWARD ACCEPT [0:0]\n:FLANNEL-FWD - [0:0]\n-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD\nCOMMIT\n'
    const unjumped = '*filter\n:FORWARD DROP [0:0]\n:FLANNEL-FWD - [0:0]\nCOMMIT\n'
    const nftMode = '*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n'
    expect(await fault('forward-drop').inject(target, withFilter(jumped))).to.equal(undefined)
    expect(await fault('forward-drop').inject(target, withFilter(unjumped))).to.equal(undefined)
    expect(await fault('forward-drop').inject(target, withFilter(nftMode))).to.have.property('syncKeeps').that.contains('nftables mode')
  })

  it('a fault already in place (broken twice) is said so, exit 2, not as a failed program', async () => {
    // before: exit 3, "ip netns exec fc-demo-n1 ip route del 10.244.2.0/24 failed: RTNETLINK answers: No such process"
    const absent = new FaultShell({
      target: {kind: 'local'},
      run: async (): Promise<CommandResult> => ({stdout: '', stderr: 'RTNETLINK answers: No such process', exitCode: 2}),
    })
    let error: unknown
    await fault('missing-route').inject({lab, node: lab.nodes[0], peer: lab.nodes[1]}, absent).catch(e => { error = e })
    expect(error).to.include({exitCode: 2, message: 'n1 has no such entry to remove (ip route del 10.244.2.0/24): the fault is in place already'})
      .and.to.have.property('hint', 'flannelctl sync on n1 puts back what flannel owns, then break it again')
  })

  it('syncs the changed node, then the broken one; after a new VTEP MAC every node, since each holds the old one', () => {
    const missingReturn = {fault: fault('missing-return-route'), node: lab.nodes[0], commands: ['[n2] ip route del 10.244.1.0/24']}
    expect(repairSyncOrder(lab, missingReturn)).to.deep.equal(['n2', 'n1'])
    // before: n2 then n1 only, and n3 kept sending to n2's old MAC (doctor: VTEP_MAC_DRIFT on n3)
    const staleMac = {fault: fault('stale-vtep-mac'), node: lab.nodes[0], commands: ['[n2] ip link del flannel.1', '[n2] ip link add flannel.1 …']}
    expect(repairSyncOrder(lab, staleMac)).to.deep.equal(['n2', 'n1', 'n3'])
  })
})

describe('lab break: what the trace it prints is expected to show', () => {
  const sighting = (name: string) => expectedSighting(FAULTS.find(f => f.name === name)!.expect)

  it('a fault that breaks only the reply says the reply fails, with or without a warning; others the disposition or the warning', () => {
    // the request of mtu-mismatch is DELIVERED (fragmented: the vxlan device sends without DF); the peer's full-size reply is dropped
    expect(sighting('mtu-mismatch')).to.equal('the reply fails with MTU_EXCEEDED')
    expect(sighting('missing-return-route')).to.equal('the reply fails with NO_ROUTE, warning NO_RETURN_ROUTE')
    expect(sighting('naive-masquerade')).to.equal('warning SOURCE_NATED')
    expect(sighting('missing-fdb')).to.equal('FDB_MISSING')
  })
})

describe('lab break forward-drop: accepts of its own on the node', () => {
  // kernel (3-node lab): trace's fix for forward-drop (iptables -I FORWARD 1 -s|-d 10.244.0.0/16 -j ACCEPT) applied,
  // then forward-drop again: it said "expect DENIED_BY_FILTER" and the trace was DELIVERED
  it('names the accepts of the pod network (or of everything) that keep the policy from dropping it; narrower ones are not counted', () => {
    const table = [
      ':FORWARD DROP [0:0]',
      '-A FORWARD -d 10.244.0.0/16 -j ACCEPT',
      '-A FORWARD -s 10.244.0.0/16 -j ACCEPT',
      '-A FORWARD -s 10.0.0.0/8 -j ACCEPT',
      '-A FORWARD -j ACCEPT',
      '-A FORWARD -s 10.244.1.0/24 -j ACCEPT',
      '-A FORWARD -s 10.244.0.0/16 -p tcp -m tcp --dport 80 -j ACCEPT',
      '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
      '-A FORWARD -s 10.244.0.0/16 -j DROP',
    ]
    expect(podAccepts(table)).to.deep.equal(['-A FORWARD -d 10.244.0.0/16 -j ACCEPT', '-A FORWARD -s 10.244.0.0/16 -j ACCEPT', '-A FORWARD -s 10.0.0.0/8 -j ACCEPT', '-A FORWARD -j ACCEPT'])
    expect(podAccepts([':FORWARD DROP [0:0]'])).to.deep.equal([])
  })

  it('inject says so, with the deletions to paste, and keeps saying sync repairs the rest', async () => {
    const lab = {name: 'demo', nodes: [{name: 'n1', netns: 'fc-demo-n1'}, {name: 'n2', netns: 'fc-demo-n2'}]} as unknown as LabState
    const save = '*filter\n:FORWARD ACCEPT [0:0]\n:FLANNEL-FWD - [0:0]\n-A FORWARD -s 10.244.0.0/16 -j ACCEPT\n-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD\nCOMMIT\n'
    const sh = new FaultShell({target: {kind: 'local'}, run: async (cmd: Command): Promise<CommandResult> => ({stdout: cmd.args.includes('iptables-save') ? save : '', stderr: '', exitCode: 0})})
    const r = await FAULTS.find(f => f.name === 'forward-drop')!.inject({lab, node: lab.nodes[0], peer: lab.nodes[1]}, sh)
    expect(r).to.deep.equal({masked: 'n1\'s FORWARD still accepts pod traffic by rules not flannel\'s, so the fault does not show; to see it, remove them: flannelctl lab exec n1 -- iptables -D FORWARD -s 10.244.0.0/16 -j ACCEPT'})
  })
})
