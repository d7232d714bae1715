/**
 * trace after a peer's move whose VTEP's new MAC its lease does not announce, from a collected lab
 * (lab-vxlan-peer-moved-new-mac): trace reads the store's leases only for such a question, and its
 * fixes, run top to bottom, are doctor's order.
 */
import {expect} from 'chai'
import {cp, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {runTrace} from '../../src/services/trace.js'
import {runDoctor} from '../../src/services/doctor.js'
import {withLabCommands} from '../../src/services/lab.js'
import {labFixes} from '../../src/commands/trace.js'
import type {Trace} from '../../src/core/trace/types.js'
import {tempDirHooks} from '../helpers/temp-dir.js'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'snapshots')

describe('trace after a peer moved, its lease still announcing the old VTEP MAC (lab-vxlan-peer-moved-new-mac)', () => {
  // lab tlone (vxlan, 3 nodes, kernel): n2 `reset --release`, `init --iface eth0` (10.244.26.0/24 → 10.244.102.0/24),
  // then `lab break n1 stale-vtep-mac` re-made n2's flannel.1 as 06:36:e0:…: its lease still says 16:58:7b:64:7f:ad.
  // Kernel: n1's sync before n2's wrote 16:58:… back and pod-1a <-> pod-2a stayed lost (0/2 after the re-creation);
  // n2 sync, n1 sync, lab pod recreate pod-2a: both answered.
  const dir = join(FIXTURES, 'lab-vxlan-peer-moved-new-mac')
  const publish = {node: 'n2', command: 'flannelctl sync   # publishes flannel.1\'s MAC in the lease (flanneld: restart it); then flannelctl sync on the peers', sync: 'publish'}
  const recreate = {node: 'n2', command: 'ip -4 addr show type bridge   # the node\'s pod subnet now; re-create pod-2a in it', recreates: 'pod-2a'}
  const behindSync = 'flannelctl sync   # n1 has not synced since n2\'s lease moved to 10.244.102.0/24: once n2\'s own sync has published its VTEP\'s new MAC (VTEP_MAC_NOT_PUBLISHED), it replaces the old entries; or by hand:'
  let copy = ''
  tempDirHooks('fc-trace-moved-', d => (copy = d), {each: true})

  it('reads the snapshot\'s store.json: n2\'s own sync leads, then n1\'s, which says it waits for it, the by-hand entries carry the new MAC, and the re-creation ends it', async () => {
    const {trace} = await runTrace({snapshot: dir, src: 'pod-1a', dst: 'pod-2a'})
    expect(trace.disposition).to.equal('STALE_VTEP_MAC')
    expect(trace.failure!.reason).to.contain('n2\'s lease still announces 16:58:7b:64:7f:ad, so n1\'s sync puts that back until n2 publishes the new one')
    const fix = trace.failure!.fix
    expect(fix.slice(0, 2)).to.deep.equal([publish, {node: 'n1', command: behindSync, sync: 'peer'}])
    expect(fix).to.deep.include({node: 'n1', command: 'ip neigh replace 10.244.102.0 lladdr 06:36:e0:f4:ea:f9 dev flannel.1 nud permanent', byHand: true})
    expect(fix.at(-1)).to.deep.equal(recreate)
    // doctor, reading the same store, leads the pair the same way
    const pair = (await runDoctor({snapshot: dir}, {})).pairs.find(p => p.from === 'pod-1a' && p.to === 'pod-2a')!
    expect(pair.fix.slice(0, 2)).to.deep.equal(fix.slice(0, 2))
  })

  it('without a store (none saved) it leads with n1\'s sync, as before; a question the store does not answer leaves store.json unread', async () => {
    await cp(dir, copy, {recursive: true})
    await rm(join(copy, 'store.json'))
    const {trace} = await runTrace({snapshot: copy, src: 'pod-1a', dst: 'pod-2a'})
    expect(trace.failure!.fix[0].node).to.equal('n1')
    expect(trace.failure!.fix[0].command).to.match(/^flannelctl sync {3}# n1 has not synced since n2's lease moved to 10\.244\.102\.0\/24: it replaces/)
    // a delivered trace never opens it: one that is not what collect writes would refuse the trace
    await writeFile(join(copy, 'store.json'), 'not json')
    expect((await runTrace({snapshot: copy, src: 'pod-1a', dst: 'pod-3a'})).trace.disposition).to.equal('DELIVERED')
  })

  it('from the stranded pod (its request and the reply both fail): the lab\'s list runs n2\'s and n1\'s syncs first and re-creates pod-2a last, each once', async () => {
    const {trace} = await runTrace({snapshot: dir, src: 'pod-2a', dst: 'pod-1a'})
    // the request's fix lists what the reply needs too: the re-creation after them, not first where the request failed
    expect(trace.returnPath.disposition).to.equal('STALE_VTEP_MAC')
    expect(trace.failure!.fix.slice(0, 2)).to.deep.equal([publish, {node: 'n1', command: behindSync, sync: 'peer'}])
    expect(trace.failure!.fix.at(-1)).to.deep.equal(recreate)
    expect(trace.failure!.fix.filter(f => f.command === recreate.command)).to.have.length(1)
    const inLab: Trace = {...trace, failure: {...trace.failure!, fix: withLabCommands(trace.failure!.fix, 'tlone')},
      returnPath: {...trace.returnPath, failure: {...trace.returnPath.failure!, fix: withLabCommands(trace.returnPath.failure!.fix, 'tlone')}}}
    const lines = labFixes(inLab, 'tlone').split('\n').slice(2)
    expect(lines[0]).to.equal(`  flannelctl lab exec --name tlone n2 -- ${publish.command}`)
    expect(lines[1]).to.equal(`  flannelctl lab exec --name tlone n1 -- ${behindSync}`)
    expect(lines.at(-1)).to.equal('  flannelctl lab pod recreate pod-2a --name tlone')
    expect(new Set(lines).size).to.equal(lines.length)
    // doctor's pair: the same syncs in the same order, the re-creation last
    const pair = (await runDoctor({snapshot: dir}, {})).pairs.find(p => p.from === 'pod-2a' && p.to === 'pod-1a')!
    expect(pair.fix).to.deep.equal(trace.failure!.fix)
  })
})

describe('trace between two pods a node left on its old subnet (lab-pods-stranded-same-node)', () => {
  // lab fcnu1 (vxlan, 3 nodes, 2 pods each, kernel): n2 `reset --release`, `init` (10.244.66.0/24 → 10.244.42.0/24);
  // collected, then cut down to n2 and its two pods. Their veths are in no bridge.
  const dir = join(FIXTURES, 'lab-pods-stranded-same-node')

  it('names the neighbour pod the ARP is for, not a gateway, and re-creates both pods', async () => {
    const {trace} = await runTrace({snapshot: dir, src: 'pod-2a', dst: 'pod-2b'})
    expect(trace.disposition).to.equal('NEIGHBOR_MISSING')
    expect(trace.failure!.reason).to.contain('no bridge of n2 is on the subnet of 10.244.66.3 (pod-2b\'s address) any more')
    expect(trace.failure!.reason).to.not.contain('gateway')
    expect(trace.failure!.fix.map(f => f.recreates)).to.deep.equal(['pod-2a', 'pod-2b'])
  })

  it('still calls the gateway a gateway on the way off the node', async () => {
    const {trace} = await runTrace({snapshot: dir, src: 'pod-2a', dst: '10.244.27.2'})
    expect(trace.failure!.reason).to.contain('no bridge of n2 holds its gateway 10.244.66.1 any more')
  })
})
