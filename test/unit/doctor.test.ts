import {expect} from 'chai'
import {diagnose, type DoctorReport, type PairResult} from '../../src/services/doctor.js'
import {renderDoctor} from '../../src/ui/doctor.js'
import {applyPatches, loadWorld} from '../fixtures/trace/load.js'

describe('doctor report', () => {
  const vxlan = loadWorld('flannel-vxlan')

  it('groups the pairs one cause breaks, even though each pair\'s reason names its own addresses', () => {
    // FORWARD policy DROP with nothing accepting: every pair through node1 fails, each reason naming its addresses
    const w = applyPatches(vxlan, [{host: 'node1', op: 'remove', table: 'iptables.rules', where: {table: 'filter', chain: 'FORWARD'}}])
    const report = diagnose(w, 'test')
    const bad = report.pairs.filter(p => p.disposition === 'DENIED_BY_FILTER')
    expect(new Set(bad.map(p => p.reason)).size, 'the reasons differ').to.be.greaterThan(1)
    const text = renderDoctor(report, {color: false})
    expect(text.match(/DENIED_BY_FILTER[^\n]* at node1:/g), text).to.have.length(1)
  })

  it('keeps causes apart that need different fixes', () => {
    const pair = (from: string, to: string, command: string): PairResult => ({from, to, disposition: 'NO_ROUTE', node: 'n1', reason: `no route for ${to}`, fix: [{node: 'n1', command}], warnings: []})
    const report: DoctorReport = {source: 'test', nodes: ['n1'], pods: ['a', 'b', 'c'], sampled: false, findings: [], healthy: false,
      pairs: [pair('a', 'b', 'ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink'), pair('a', 'c', 'ip route replace 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink')]}
    expect(renderDoctor(report, {color: false}).match(/NO_ROUTE at n1/g)).to.have.length(2)
  })
})
