/** lab status: a namespace of the lab that is gone is said, with what builds the lab again (or, for pods alone, re-creates them). */
import {expect} from 'chai'
import {labRebuildCommand, labRepair, missingLabNamespaces, type LabState} from '../../src/services/lab.js'
import {renderLabStatus} from '../../src/ui/lab.js'

const state: LabState = {
  name: 'ls', prefix: 'fc-ls-', backend: 'vxlan', directRouting: false, segments: 1, store: 'file:/run/flannelctl/labs/ls/store', dir: '/run/flannelctl/labs/ls',
  switches: ['fc-ls-sw1'],
  nodes: [
    {name: 'n1', netns: 'fc-ls-n1', underlayIP: '192.168.100.11', segment: 1, dir: '/run/flannelctl/labs/ls/n1', subnet: '10.244.1.0/24'},
    {name: 'n2', netns: 'fc-ls-n2', underlayIP: '192.168.100.12', segment: 1, dir: '/run/flannelctl/labs/ls/n2', subnet: '10.244.2.0/24'},
  ],
  pods: [{name: 'pod-1a', netns: 'fc-ls-n1-a', node: 'n1', ip: '10.244.1.2'}, {name: 'pod-2a', netns: 'fc-ls-n2-a', node: 'n2', ip: '10.244.2.2'}],
} as unknown as LabState
const all = ['fc-ls-sw1', 'fc-ls-n1', 'fc-ls-n2', 'fc-ls-n1-a', 'fc-ls-n2-a']

describe('lab status: namespaces gone', () => {
  it('none gone: nothing said, the table as before', () => {
    expect(missingLabNamespaces(state, all)).to.deep.equal([])
    expect(renderLabStatus(state, undefined, [])).to.not.contain('gone')
  })

  it('a node deleted (ip netns del fc-ls-n2): marked in the table and named, with lab down and lab up', () => {
    const missing = missingLabNamespaces(state, all.filter(n => n !== 'fc-ls-n2'))
    expect(missing).to.deep.equal([{what: 'node n2', netns: 'fc-ls-n2'}])
    const out = renderLabStatus(state, undefined, missing)
    expect(out).to.contain('fc-ls-n2 (gone)')
    expect(out).to.contain('node n2 (fc-ls-n2)')
    expect(out).to.contain('flannelctl lab down --name ls && flannelctl lab up --name ls --nodes 2 --pods 1')
  })

  it('only pods gone: each is re-created (lab pod recreate makes its namespace anew), the lab is not rebuilt', () => {
    const missing = missingLabNamespaces(state, all.filter(n => n !== 'fc-ls-n2-a' && n !== 'fc-ls-n1-a'))
    const out = renderLabStatus(state, undefined, missing)
    expect(out).to.contain('pod-2a 10.244.2.2 (gone)')
    expect(out).to.contain('re-create them (a new namespace, then CNI DEL and ADD, as a runtime re-creates a pod): flannelctl lab pod recreate pod-1a --name ls && flannelctl lab pod recreate pod-2a --name ls')
    expect(out).to.not.contain('lab down')
    // a node gone with them takes its links and flannel's state: the lab is built again
    expect(labRepair(state, ['fc-ls-n2', 'fc-ls-n2-a'])).to.deep.equal({podsOnly: false, command: labRebuildCommand(state)})
  })

  it('the rebuild keeps the lab\'s backend, segments, rules and its own etcd', () => {
    const seg = {...state, backend: 'host-gw', segments: 2, nftables: true, directRouting: true, etcd: {netns: 'fc-ls-etcd', pid: 1, endpoint: '192.168.100.2:2379'}, store: 'etcd:http://192.168.100.2:2379'}
    expect(labRebuildCommand(seg)).to.equal('flannelctl lab down --name ls && flannelctl lab up --name ls --nodes 2 --pods 1 --segments 2 --backend host-gw --directrouting --nftables --store etcd')
    expect(missingLabNamespaces(seg, all).map(m => m.what)).to.deep.equal(['etcd'])
  })
})
