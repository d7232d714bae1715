/** Which lab a fault fits: the backend the store says now, not only the one lab up built. */
import {expect} from 'chai'
import {FAULTS, checkFits} from '../../src/services/faults.js'
import type {LabState} from '../../src/services/lab.js'

describe('lab break: which lab a fault fits', () => {
  const lab = {name: 'demo', prefix: 'fc-demo', backend: 'vxlan', directRouting: false, segments: 1, store: 'file:/x', dir: '/x', switches: [], nodes: [], pods: []} as LabState
  const missingFdb = FAULTS.find(f => f.name === 'missing-fdb')!

  it('a vxlan fault on a lab migrated to host-gw since lab up is refused, naming both and the way back', () => {
    expect(() => checkFits(lab, missingFdb)).to.not.throw()
    expect(() => checkFits(lab, missingFdb, 'host-gw')).to.throw(/missing-fdb needs a vxlan lab; 'demo' is host-gw now \(lab up built vxlan; the store's network config says host-gw\)/)
      .with.property('hint').that.contains('flannelctl migrate --backend vxlan --lab demo --yes')
    expect(() => checkFits({...lab, backend: 'host-gw'}, missingFdb)).to.throw(/needs a vxlan lab; 'demo' is host-gw$/)
  })
})
