/**
 * trace's STALE_VTEP_MAC fix on a node behind a peer's move, run on the kernel: the peer took a new
 * lease (reset --release, init) and its VTEP came back with another MAC. The old fix patched the
 * old neighbour with the new MAC, and the path stayed broken; the fix now has to work when run.
 */
import {expect} from 'chai'
import {cli, sh, uniqueLab} from '../helpers/cli.js'
import {Lab, loadLab, type LabState} from '../../src/services/lab.js'
import type {Trace} from '../../src/core/trace/types.js'

describe('trace after a peer moved to a new lease with a new VTEP MAC (real kernel)', function () {
  this.timeout(120000)
  const name = uniqueLab('dmv')
  let state: LabState

  const exec = (host: string, command: string[]) => cli(['lab', 'exec', '--name', name, host, '--', ...command])
  const ping = (netns: string, dst: string) => sh('ip', ['netns', 'exec', netns, 'ping', '-c', '1', '-W', '1', dst])

  before(async () => {
    const up = await cli(['lab', 'up', '--name', name, '--nodes', '2', '--pods', '1'])
    if (up.exitCode !== 0) throw new Error(`lab up failed: ${up.stderr}`)
    for (const step of [['flannelctl', 'reset', '--release'], ['flannelctl', 'init', '--network', '10.244.0.0/16', '--backend', 'vxlan', '--iface', 'eth0', '--yes']]) {
      const r = await exec('n2', step)
      if (r.exitCode !== 0) throw new Error(`${step.join(' ')} on n2 failed: ${r.stderr}`)
    }
    // flannelctl's VTEP MAC is stable per address and VNI: a reboot's re-created device gets a random one
    const broke = await cli(['lab', 'break', '--name', name, 'n1', 'stale-vtep-mac'])
    if (broke.exitCode !== 0) throw new Error(`lab break failed: ${broke.stderr}`)
    state = await loadLab(name)
  })

  after(async () => {
    await new Lab().down(name)
  })

  it('leads with the sender\'s sync, and its by-hand commands, run as printed, reach the peer\'s new subnet', async () => {
    const r = await cli(['trace', 'pod-1a', 'pod-2a', '--lab', name, '--json'])
    const t = JSON.parse(r.stdout) as Trace
    expect(t.disposition, t.failure?.reason).to.equal('STALE_VTEP_MAC')
    expect(t.failure!.reason).to.contain('its subnet moved to a new lease')
    const fix = t.failure!.fix
    expect(fix[0].node).to.equal('n1')
    expect(fix[0].command).to.match(/^flannelctl sync +# n1 has not synced since n2's lease moved to 10\.244\.\d+\.0\/24/)
    const subnet = /moved to (10\.244\.(\d+)\.0\/24)/.exec(fix[0].command)!
    const newGateway = `10.244.${subnet[2]}.1`
    const pod1 = state.pods.find(p => p.name === 'pod-1a')!
    // the kernel before: n1 routes only the old subnet
    expect((await ping(pod1.netns, newGateway)).exitCode).to.not.equal(0)
    const byHand = fix.slice(1).filter(f => f.node === 'n1')
    expect(byHand.map(f => f.command)).to.include(`ip route replace ${subnet[1]} via 10.244.${subnet[2]}.0 dev flannel.1 onlink`)
    for (const f of byHand) {
      const run = await exec(f.node, f.command.split(' '))
      expect(run.exitCode, `${f.command}: ${run.stderr}`).to.equal(0)
    }
    expect((await ping(pod1.netns, newGateway)).exitCode).to.equal(0)
    // pod-2a stayed on the old subnet: re-creating it is the rest of the fix
    expect(fix.at(-1)).to.deep.equal({node: 'n2', command: 'ip -4 addr show type bridge   # the node\'s pod subnet now; re-create pod-2a in it'})
  })
})
