import {expect} from 'chai'
import {diagnose} from '../../src/services/doctor.js'
import {labFixLine, renderDoctor} from '../../src/ui/doctor.js'
import {renderTrace} from '../../src/ui/trace-render.js'
import {labFixes} from '../../src/commands/trace.js'
import {traceFlow} from '../../src/core/trace/engine.js'
import {mergeFixes} from '../../src/core/trace/fixes.js'
import {fixParts, type Fix} from '../../src/core/trace/types.js'
import {applyPatches, loadWorld} from '../fixtures/trace/load.js'

/** flannel-vxlan after `lab break n1 mtu-mismatch` and a sync on node1: eth0 1400, flannel.1 1350, the pods still 1450 */
const raw = (name: string, mtu: number) => `2: ${name}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu ${mtu} qdisc noqueue state UP mode DEFAULT group default`
const shrunk = (synced: boolean) => applyPatches(loadWorld('flannel-vxlan'), [
  {host: 'node1', op: 'update', table: 'links', where: {name: 'eth0'}, value: {mtu: 1400, raw: raw('eth0', 1400)}},
  ...(synced ? [{host: 'node1', op: 'update' as const, table: 'links', where: {name: 'flannel.1'}, value: {mtu: 1350, raw: raw('flannel.1', 1350)}}] : []),
])

describe('fixes that are ways of one choice', () => {
  it('fixParts: steps stay steps; consecutive fixes with options are one choice, each way with its own steps', () => {
    const way1 = {choice: 1, why: 'one', recommended: true as const}
    const way2 = {choice: 2, why: 'two'}
    const fixes: Fix[] = [
      {node: 'a', command: 'first'},
      {node: 'a', command: 'low', option: way1}, {node: 'b', command: 'high', option: way2},
      {node: 'c', command: 'low too', option: way1},
      {node: 'a', command: 'last'},
    ]
    expect(fixParts(fixes).map(p => p.ways === undefined
      ? p.steps.map(s => s.fix.command)
      : p.ways.map(w => [w.option.why, ...w.steps.map(s => s.fix.command)]))).to.deep.equal([
      ['first'],
      [['one', 'low', 'low too'], ['two', 'high']],
      ['last'],
    ])
  })

  it('trace prints the ways as either (recommended) / or, and the --lab list runs the recommended one only', () => {
    const t = traceFlow(shrunk(true), {src: 'pod-a', dst: 'pod-b', size: 1450})
    const text = renderTrace(t, {color: false})
    expect(text).to.include([
      '  Fix, one of 2 ways:',
      '    either (recommended): eth0 on node1 back to 1500, the MTU flannel.1 was sized for and the other nodes\' underlay has: one node\'s change that mends every pair, where the network under node1 carries 1500-byte packets as it does under them',
      '      (on node1): ip link set eth0 mtu 1500',
      '      (on node1): ip link set flannel.1 mtu 1450',
      '    or: where the network under node1 carries only 1400: what sends into flannel.1 down to 1350, what flannel gives pods over that underlay (FLANNEL_MTU; a pod re-created gets it); every pair works only once every node\'s flannel.1 and every pod are lowered alike, as a pod drops what arrives larger than its MTU',
      '      (on pod-a): ip link set eth0 mtu 1350',
      '      (on node2): ip link set flannel.1 mtu 1350',
      '      (on pod-b): ip link set eth0 mtu 1350',
    ].join('\n'))
    const lab = labFixes(t, 'demo').split('\n')
    expect(lab.filter(l => !l.startsWith('  #'))).to.deep.equal([
      '',
      'In the lab, apply it with:',
      '  flannelctl lab exec node1 -- ip link set eth0 mtu 1500',
      '  flannelctl lab exec node1 -- ip link set flannel.1 mtu 1450',
    ])
    expect(lab).to.include('  #   flannelctl lab exec pod-a -- ip link set eth0 mtu 1350')
    expect(lab.find(l => l.startsWith('  # or: '))).to.match(/^ {2}# or: where the network under node1 carries only 1400/)
  })

  it('doctor prints a pair\'s and a finding\'s ways alike, --json keeps fix and fixes and adds option', () => {
    const synced = diagnose(shrunk(true), 'test')
    const text = renderDoctor(synced, {color: false})
    expect(text).to.include([
      '    pairs: pod-a→pod-b',
      '    fix, one of 2 ways:',
      '      either (recommended): eth0 on node1 back to 1500, the MTU flannel.1 was sized for and the other nodes\' underlay has: one node\'s change that mends every pair, where the network under node1 carries 1500-byte packets as it does under them',
      '        [node1]: ip link set eth0 mtu 1500',
      '        [node1]: ip link set flannel.1 mtu 1450',
      '      or: where the network under node1 carries only 1400: what sends into flannel.1 down to 1350, what flannel gives pods over that underlay (FLANNEL_MTU; a pod re-created gets it); every pair works only once every node\'s flannel.1 and every pod are lowered alike, as a pod drops what arrives larger than its MTU',
      '        [pod-a]: ip link set eth0 mtu 1350',
    ].join('\n'))
    expect(labFixLine(synced, 'demo')).to.match(/; of "either … or …" ways, run the fixes of one way$/)
    // before the sync: flannel.1 still 1450 over eth0 1400, a host finding with the same two ways
    const before = diagnose(shrunk(false), 'test')
    const f = before.findings.find(x => x.code === 'MTU_MISMATCH' && x.evidence.includes('flannel.1'))!
    expect(f.fix).to.deep.equal([
      'ip link set eth0 mtu 1500',
      'ip link set flannel.1 mtu 1350',
      'ip link set cni0 mtu 1350   # and each pod\'s eth0: re-create the pods, or ip link set eth0 mtu 1350 in each (flannelctl sync sets flannel.1 and cni0, and FLANNEL_MTU for new pods)',
    ])
    expect(f.fixes.map(x => x.option?.choice)).to.deep.equal([1, 2, 2])
    expect(f.fixes[0].option!.recommended).to.equal(true)
    expect(renderDoctor(before, {color: false})).to.include([
      '    fix, one of 2 ways:',
      '      either (recommended): eth0 on node1 back to 1500, the MTU flannel.1 was sized for and the other nodes\' underlay has: one node\'s change that mends every pair, where the network under node1 carries 1500-byte packets as it does under them',
      '        [node1]: ip link set eth0 mtu 1500',
      '      or: where the network under node1 carries only 1400: what sends into flannel.1 and flannel.1 itself down to 1350, what flannel gives pods over that underlay (FLANNEL_MTU; a pod re-created gets it); every pair works only once every node\'s flannel.1 and every pod are lowered alike, as a pod drops what arrives larger than its MTU',
      '        [node1]: ip link set flannel.1 mtu 1350',
    ].join('\n'))
  })
})

describe('the request\'s fixes and the reply\'s as one list (mergeFixes)', () => {
  it('keeps each command once, and puts a route deletion before a replace of the same prefix and table on that node', () => {
    const replace: Fix = {node: 'n2', command: 'ip route replace 172.17.0.0/16 via 10.95.0.1 dev eth0'}
    const del: Fix = {node: 'n2', command: 'ip route del blackhole 172.17.0.0/16'}
    expect(mergeFixes([replace], [del, replace])).to.deep.equal([del, replace])
    // another table, or another node: the replace does not overwrite that route, so the order stays
    const other: Fix = {node: 'n2', command: 'ip route del blackhole 172.17.0.0/16 table 100'}
    expect(mergeFixes([replace], [other])).to.deep.equal([replace, other])
    expect(mergeFixes([replace], [{...del, node: 'n1'}])).to.deep.equal([replace, {...del, node: 'n1'}])
  })

  it('brings a device up before a route through it on that node (the kernel refuses one through a device that is down)', () => {
    // found by the foreign-host fuzz: the request's fix routed to a pod on its downed veth, the reply's brought the veth up after it
    const route: Fix = {node: 'n2', command: 'ip route replace 10.66.2.2 dev calip2a scope link'}
    const up: Fix = {node: 'n2', command: 'ip link set calip2a up'}
    expect(mergeFixes([route], [up])).to.deep.equal([up, route])
    // the same device on another node, or another device (calip2 is not calip2a): nothing to wait for
    expect(mergeFixes([route], [{...up, node: 'n1'}])).to.deep.equal([route, {...up, node: 'n1'}])
    const other: Fix = {node: 'n2', command: 'ip link set calip2 up'}
    expect(mergeFixes([route], [other])).to.deep.equal([route, other])
    // already first: kept once, where it is
    expect(mergeFixes([up, route], [up])).to.deep.equal([up, route])
  })
})
