/**
 * WorldIndex finds an address's owners host by host, as far as a question needs: the answers must
 * be those of a full scan, in host order, whatever was asked before.
 */
import {expect} from 'chai'
import fc from 'fast-check'
import type {HostSnapshot} from '../../src/core/model.js'
import {indexWorld} from '../../src/core/trace/world.js'
import type {PodRef} from '../../src/core/trace/types.js'

/** Hosts whose address tables count how often they are read. */
function world(addressesOf: string[][], podCount: number) {
  const reads = new Map<string, number>()
  const host = (name: string, ips: string[]): HostSnapshot => {
    const snap: HostSnapshot = {name}
    Object.defineProperty(snap, 'addresses', {
      enumerable: true, configurable: true,
      get: () => {
        reads.set(name, (reads.get(name) ?? 0) + 1)
        return ips.map((ip, i) => ({dev: `eth${i}`, family: 4 as const, local: ip, prefixlen: 24, raw: `inet ${ip}/24 scope global eth${i}`}))
      },
    })
    return snap
  }
  const nodes = addressesOf.slice(0, addressesOf.length - podCount)
  const podHosts = addressesOf.slice(addressesOf.length - podCount)
  const pods: PodRef[] = podHosts.map((_, i) => ({name: `pod${i}`, ip: `10.99.${i}.2`, node: 'node0', netns: `pod${i}`}))
  const hosts = [...nodes.map((ips, i) => host(`node${i}`, ips)), ...podHosts.map((ips, i) => host(`pod${i}`, ips))]
  return {w: indexWorld({hosts, pods}), reads}
}

describe('trace: the owners of an address', () => {
  it('a node answering first leaves the pods\' address tables unread; owners() then finds the rest, in host order', () => {
    const {w, reads} = world([['192.0.2.1'], ['192.0.2.2', '10.1.0.1'], ['192.0.2.3'], ['10.1.0.1'], ['10.1.0.1']], 2)
    expect(w.firstOwner('10.1.0.1', o => w.isNode(o.view))?.view.name).to.equal('node1')
    expect(reads.has('pod0') || reads.has('pod1') || reads.has('node2')).to.equal(false)
    expect(w.nodeOwners('10.1.0.1').map(o => o.view.name)).to.deep.equal(['node1'])
    expect(reads.has('pod0') || reads.has('pod1')).to.equal(false)
    expect(w.owners('10.1.0.1').map(o => o.view.name)).to.deep.equal(['node1', 'pod0', 'pod1'])
    expect(w.isOwned('10.1.0.1')).to.equal(true)
    expect(w.isOwned('10.1.0.9')).to.equal(false)
    expect(w.owners('127.0.0.1')).to.deep.equal([])
  })

  it('a host whose address table cannot be read fails every question that reaches it, not just the first', () => {
    const {w} = world([['10.0.0.1'], ['10.0.0.2'], ['10.0.0.3']], 0)
    Object.defineProperty(w.view('node1')!.snap, 'addresses', {get: () => { throw new Error('cannot read node1/ip-addr.json') }})
    expect(w.firstOwner('10.0.0.1', () => true)?.view.name).to.equal('node0')
    for (let k = 0; k < 2; k++) expect(() => w.owners('10.0.0.3')).to.throw('cannot read node1/ip-addr.json')
  })

  it('whatever was asked before, each question gets the answer of a full scan', () => {
    const ip = fc.constantFrom('10.0.0.1', '10.0.0.2', '10.0.0.3')
    const question = fc.record({kind: fc.constantFrom('owners', 'nodes', 'first-node', 'first-pod', 'owned', 'each'), ip})
    fc.assert(fc.property(fc.array(fc.uniqueArray(ip, {maxLength: 3}), {minLength: 1, maxLength: 7}), fc.nat(3), fc.array(question, {maxLength: 8}),
      (tables, podWish, questions) => {
        const podCount = Math.min(podWish, tables.length - 1)
        const {w} = world(tables, podCount)
        const full = (a: string) => tables.flatMap((ips, i) => ips.includes(a) ? [i < tables.length - podCount ? `node${i}` : `pod${i - (tables.length - podCount)}`] : [])
        for (const q of questions) {
          const want = full(q.ip)
          const isPod = (n: string) => n.startsWith('pod')
          switch (q.kind) {
            case 'owners': expect(w.owners(q.ip).map(o => o.view.name)).to.deep.equal(want); break
            case 'nodes': expect(w.nodeOwners(q.ip).map(o => o.view.name)).to.deep.equal(want.filter(n => !isPod(n))); break
            case 'first-node': expect(w.firstOwner(q.ip, o => w.isNode(o.view))?.view.name).to.equal(want.find(n => !isPod(n))); break
            case 'first-pod': expect(w.firstOwner(q.ip, o => !w.isNode(o.view))?.view.name).to.equal(want.find(isPod)); break
            case 'owned': expect(w.isOwned(q.ip)).to.equal(want.length > 0); break
            case 'each': {
              // a question asked inside another's walk over the same address
              const outer: string[] = []
              for (const o of w.eachOwner(q.ip)) {
                outer.push(o.view.name)
                expect(w.firstOwner(q.ip, x => x.view.name === want[want.length - 1])?.view.name).to.equal(want[want.length - 1])
              }
              expect(outer).to.deep.equal(want)
            }
          }
        }
      }), {numRuns: 300})
  })
})
