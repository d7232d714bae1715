/**
 * A snapshot missing a node collect could not read (`unread:` in its inventory.yaml): trace and
 * doctor say where that node's tables are missing instead of calling the packet dropped or the
 * network healthy; the nodes read keep their own verdicts.
 */
import {expect} from 'chai'
import {cp, readFile, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {loadSource} from '../../src/services/collect.js'
import {diagnose} from '../../src/services/doctor.js'
import {traceFlow} from '../../src/core/trace/engine.js'
import {FlannelctlError} from '../../src/errors.js'
import {tempDirHooks} from '../helpers/temp-dir.js'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'snapshots')
const WHY = 'ssh:root@n2: ssh: connect to host n2 port 22: No route to host'

describe('a snapshot with a node collect could not read', () => {
  let dir = ''
  tempDirHooks('fc-unread-', d => (dir = d), {each: true})

  /** the pasted vxlan pair, n2 recorded as unread (its directory gone), pods listed or not */
  async function snapshot(o: {pods: boolean}) {
    await cp(join(FIXTURES, 'vxlan-route-n'), dir, {recursive: true})
    await rm(join(dir, 'n2'), {recursive: true})
    const inv = await readFile(join(dir, 'inventory.yaml'), 'utf8')
    const marked = inv.replace('  - name: n2\n', `  - name: n2\n    unread: '${WHY}'\n`)
    await writeFile(join(dir, 'inventory.yaml'), o.pods ? marked : marked.slice(0, marked.indexOf('pods:')))
    return (await loadSource({snapshot: dir})).world
  }

  it('a packet leaving n1 for n2 ends where n1\'s tables do, naming n2 as not read, not a drop', async () => {
    const world = await snapshot({pods: true})
    expect(world.unread).to.deep.equal([{name: 'n2', reason: WHY}])
    const t = traceFlow(world, {src: 'pod-1a', dst: 'pod-2a'})
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure?.node).to.equal('n1')
    expect(t.failure?.reason).to.contain('the tables of node n2 are missing (it could not be read), so it may be that node')
    expect(t.failure?.fix.map(f => f.command)).to.include('ping -c 1 192.168.100.12')
  })

  it('from a pod of n2: its start is missing, and why', async () => {
    const t = traceFlow(await snapshot({pods: true}), {src: 'pod-2a', dst: 'pod-1a'})
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure).to.deep.include({node: 'n2', reason: `pod pod-2a's node n2's tables are missing (not read: ${WHY})`})
  })

  it('n2 named as an endpoint: one error saying its tables are missing, with the way on', async () => {
    const world = await snapshot({pods: true})
    expect(() => traceFlow(world, {src: 'pod-1a', dst: 'n2'})).to.throw(FlannelctlError, `the destination n2 is a node whose tables are missing (not read: ${WHY})`)
      .with.property('hint').that.equals('collect again once n2 can be read; meanwhile trace between the hosts that were read, or to its pods (pod-2a) to see where a path to it runs out')
  })

  it('an address on n1\'s own pod bridge is still judged by n1\'s tables: n2 cannot answer there', async () => {
    const t = traceFlow(await snapshot({pods: true}), {src: 'pod-1a', dst: '10.244.8.9'})
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure?.reason).to.not.contain('n2')
  })

  it('doctor: HOST_NOT_READ is an error; n1\'s entries for n2 are not stale for want of n2', async () => {
    const report = diagnose(await snapshot({pods: true}), 'test')
    expect(report.findings.find(f => f.code === 'HOST_NOT_READ')).to.deep.include({severity: 'error', node: 'n2', evidence: `unread: ${WHY}`})
    expect(report.findings.filter(f => f.code.startsWith('STALE_'))).to.deep.equal([])
    expect(report.healthy).to.equal(false)
  })

  it('pods not listed: a pod name none of the tables shows gets its IP as the way on, with an example and the subnets', async () => {
    const world = await snapshot({pods: false})
    expect(world.podsDiscovered).to.equal(true)
    expect(() => traceFlow(world, {src: 'pod-1a', dst: 'n1'})).to.throw(FlannelctlError, 'unknown source "pod-1a": not a pod, a pod IP or a node of the hosts read')
      .with.property('hint').that.equals('known names: pods 10.244.8.2, 10.244.8.3; nodes n1; the pods are not listed (no `pods:`), only found in the tables, and an idle pod shows there by no name: give its IP instead, e.g. trace 10.244.8.2 10.244.8.3 (pod subnets: n1 10.244.8.0/24), or list the pods in the inventory (pods: [{name: pod-1a, ip: 10.244.8.2, node: n1}])')
    // what the hint says works
    expect(traceFlow(world, {src: '10.244.8.2', dst: '10.244.8.3'}).disposition).to.equal('DELIVERED')
  })
})
