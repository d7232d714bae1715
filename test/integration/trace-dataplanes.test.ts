/**
 * A tc filter the tables do not show, on the real kernel: node2's eth0 gets a clsact qdisc whose
 * ingress filter redirects every frame to a down ifb device (the kernel drops them). ping then fails;
 * the trace, which reads `tc qdisc show` but not the filters, keeps its verdict from the tables and
 * says where it assumed (it said nothing before). Without the qdisc nothing is said.
 */
import {expect} from 'chai'
import {cli, inNs, sh, uniqueLab} from '../helpers/cli.js'
import {Lab, loadLab, type LabState} from '../../src/services/lab.js'
import type {Trace} from '../../src/core/trace/types.js'

describe('trace names tc filters it cannot read (real kernel)', function () {
  this.timeout(120000)
  const name = uniqueLab('fcftc')
  let state: LabState

  before(async () => {
    const up = await cli(['lab', 'up', '--name', name, '--nodes', '2', '--pods', '1'])
    if (up.exitCode !== 0) throw new Error(`lab up failed: ${up.stderr}`)
    state = await loadLab(name)
  })

  after(async () => {
    await new Lab().down(name)
  })

  const trace = async (): Promise<Trace> => {
    const [a, b] = state.pods
    const r = await cli(['trace', a.name, b.name, '--lab', name, '--json'])
    return JSON.parse(r.stdout) as Trace
  }
  const ping = () => sh('ip', ['netns', 'exec', state.pods[0].netns, 'ping', '-c', '1', '-W', '1', state.pods[1].ip])

  it('a plain lab: delivered, and no qdisc is mentioned', async () => {
    expect((await ping()).exitCode).to.equal(0)
    const t = await trace()
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.warnings.filter(w => w.message.includes('qdisc'))).to.deep.equal([])
  })

  it('a redirecting ingress filter on node2\'s eth0: the kernel drops, and the trace says it assumed the filters let the packet by', async () => {
    const node2 = state.nodes.find(n => n.name === state.pods[1].node)!
    await inNs(node2.netns, 'ip', 'link', 'add', 'ifb0', 'type', 'ifb')
    await inNs(node2.netns, 'tc', 'qdisc', 'add', 'dev', 'eth0', 'clsact')
    await inNs(node2.netns, 'tc', 'filter', 'add', 'dev', 'eth0', 'ingress', 'u32', 'match', 'u32', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', 'ifb0')
    expect((await ping()).exitCode).to.not.equal(0)
    const t = await trace()
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.warnings.map(w => `${w.node}: ${w.message}`)).to.include(
      `${node2.name}: eth0 on ${node2.name} has a clsact qdisc: tc filters there (BPF programs, redirects) see the packet as it comes in, before any table; assumed they let it go on unchanged (\`tc filter show dev eth0 ingress\` lists them)`)
  })
})
