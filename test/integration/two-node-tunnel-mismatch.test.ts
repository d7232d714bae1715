/**
 * A 2-node lab whose vxlan devices disagree (lab break wrong-port): no third node outvotes either,
 * so the request's trace and the reply's must name the same node to put right, the one off the
 * store's net-conf. Before, each direction fixed its receiver: the lab's paste list ran both and
 * the nodes swapped ports, still apart.
 */
import {expect} from 'chai'
import {cli, sh, uniqueLab} from '../helpers/cli.js'
import {Lab, loadLab, type LabState} from '../../src/services/lab.js'

describe('two nodes, one vxlan device on another UDP port (real kernel)', function () {
  this.timeout(120000)
  const name = uniqueLab('tnm')
  let state: LabState

  before(async function () {
    this.timeout(60000)
    const up = await cli(['lab', 'up', '--name', name, '--nodes', '2', '--pods', '1'])
    if (up.exitCode !== 0) throw new Error(`lab up failed: ${up.stderr}`)
    state = await loadLab(name)
  })

  after(async () => {
    await new Lab().down(name)
  })

  it('trace --lab names the node off the network\'s port, both ways, and its paste list, run as printed, mends the pair', async () => {
    const [a, b] = state.pods
    const ping = async () => (await sh('ip', ['netns', 'exec', a.netns, 'ping', '-c', '1', '-W', '1', b.ip])).exitCode === 0
    const broke = await cli(['lab', 'break', 'n1', 'wrong-port', '--name', name])
    expect(broke.exitCode, broke.stderr).to.equal(0)
    expect(await ping(), 'ping with the ports apart').to.equal(false)
    const t = await cli(['trace', a.name, b.name, '--lab', name])
    expect(t.exitCode, t.stderr).to.equal(1)
    const paste = t.stdout.slice(t.stdout.indexOf('In the lab, apply it with:')).split('\n').slice(1)
      .map(l => l.trim()).filter(l => l.startsWith('flannelctl lab exec'))
    expect(paste.length, t.stdout).to.be.greaterThan(0)
    expect(paste.every(l => l.includes(' n1 -- ')), `only n1's device is off 8472:\n${paste.join('\n')}`).to.equal(true)
    for (const line of paste) {
      const argv = line.replace(/#.*$/, '').trim().split(/\s+/).slice(1)
      const r = await cli(argv)
      expect(r.exitCode, `${line}: ${r.stderr}`).to.equal(0)
    }
    expect(await ping(), 'ping after the printed fix').to.equal(true)
  })
})
