/**
 * trace's STALE_VTEP_MAC fix on a node behind a peer's move, run on the kernel: the peer took a new
 * lease (reset --release, init) and its VTEP came back with another MAC. The old fix patched the
 * old neighbour with the new MAC, and the path stayed broken; the fix now has to work when run.
 */
import {expect} from 'chai'
import {cli, sh, uniqueLab} from '../helpers/cli.js'
import {Lab, loadLab, type LabState} from '../../src/services/lab.js'
import type {Trace} from '../../src/core/trace/types.js'
import type {DoctorReport} from '../../src/services/doctor.js'

/** A lab whose n2 moved to a new lease (reset --release, init), its flannel.1 then made anew with a MAC its lease does not announce. */
async function upMoved(name: string, nodes: number): Promise<void> {
  const up = await cli(['lab', 'up', '--name', name, '--nodes', String(nodes), '--pods', '1'])
  if (up.exitCode !== 0) throw new Error(`lab up failed: ${up.stderr}`)
  const subnetOfN2 = async () => (JSON.parse((await cli(['lab', 'status', '--name', name, '--json'])).stdout) as LabState).nodes.find(n => n.name === 'n2')!.subnet
  const before = await subnetOfN2()
  // init draws the new lease at random among the free subnets, the one just released among them: drawn
  // again (about one time in a hundred), n2 has not moved, so it releases and draws once more
  for (let attempt = 1; ; attempt++) {
    for (const step of [['flannelctl', 'reset', '--release'], ['flannelctl', 'init', '--network', '10.244.0.0/16', '--backend', 'vxlan', '--iface', 'eth0', '--yes']]) {
      const r = await cli(['lab', 'exec', '--name', name, 'n2', '--', ...step])
      if (r.exitCode !== 0) throw new Error(`${step.join(' ')} on n2 failed: ${r.stderr}`)
    }
    if (await subnetOfN2() !== before) break
    if (attempt === 5) throw new Error(`n2 drew its old subnet ${before} five times`)
  }
  // flannelctl's VTEP MAC is stable per address and VNI: a reboot's re-created device gets a random one
  const broke = await cli(['lab', 'break', '--name', name, 'n1', 'stale-vtep-mac'])
  if (broke.exitCode !== 0) throw new Error(`lab break failed: ${broke.stderr}`)
}

describe('trace after a peer moved to a new lease with a new VTEP MAC (real kernel)', function () {
  this.timeout(120000)
  const name = uniqueLab('dmv')
  let state: LabState

  const exec = (host: string, command: string[]) => cli(['lab', 'exec', '--name', name, host, '--', ...command])
  const ping = (netns: string, dst: string) => sh('ip', ['netns', 'exec', netns, 'ping', '-c', '1', '-W', '1', dst])

  before(async () => {
    await upMoved(name, 2)
    state = await loadLab(name)
  })

  after(async () => {
    await new Lab().down(name)
  })

  it('doctor: every pair with pod-2a leads with n2\'s sync (its lease still announces the old MAC), then n1\'s, and ends with the lab command that re-creates pod-2a, run from here', async () => {
    const r = await cli(['doctor', '--lab', name, '--json'])
    const report = JSON.parse(r.stdout) as DoctorReport
    const withPod2 = report.pairs.filter(p => p.from === 'pod-2a' || p.to === 'pod-2a')
    expect(withPod2).to.have.length(2)
    for (const p of withPod2) {
      expect(p.fix[0].node, JSON.stringify(p)).to.equal('n2')
      expect(p.fix[0].command).to.match(/^flannelctl sync {3}# publishes flannel\.1's MAC in the lease/)
      expect(p.fix[1].node).to.equal('n1')
      expect(p.fix[1].command).to.match(/^flannelctl sync {3}# n1 has not synced since n2's lease moved/)
      expect(p.fix.at(-1)).to.deep.equal({node: 'n2', command: `flannelctl lab pod recreate pod-2a --name ${name}`, scope: 'lab', recreates: 'pod-2a'})
      expect(new Set(p.fix.map(f => `${f.node} ${f.command}`)).size).to.equal(p.fix.length)
    }
    expect(report.findings.map(f => f.code)).to.not.include('POD_TO_NODE')
    // lab status names n2's subnet now, not the one lab up recorded
    const moved = /moved to (\S+):/.exec(withPod2[0].fix[1].command)![1]
    const status = JSON.parse((await cli(['lab', 'status', '--name', name, '--json'])).stdout) as LabState
    expect(status.nodes.find(n => n.name === 'n2')!.subnet).to.equal(moved)
  })

  it('reads the lab\'s store: n2\'s own sync leads (its lease still announces the old MAC), then the sender\'s, and its by-hand commands, run as printed, reach the peer\'s new subnet', async () => {
    const r = await cli(['trace', 'pod-1a', 'pod-2a', '--lab', name, '--json'])
    const t = JSON.parse(r.stdout) as Trace
    expect(t.disposition, t.failure?.reason).to.equal('STALE_VTEP_MAC')
    expect(t.failure!.reason).to.contain('the store shows')
    const fix = t.failure!.fix
    expect(fix[0].node).to.equal('n2')
    expect(fix[0].command).to.match(/^flannelctl sync {3}# publishes flannel\.1's MAC in the lease/)
    expect(fix[1].node).to.equal('n1')
    expect(fix[1].command).to.match(/^flannelctl sync +# n1 has not synced since n2's lease moved to 10\.244\.\d+\.0\/24: once n2's own sync/)
    const subnet = /moved to (10\.244\.(\d+)\.0\/24)/.exec(fix[1].command)!
    const newGateway = `10.244.${subnet[2]}.1`
    const pod1 = state.pods.find(p => p.name === 'pod-1a')!
    // the kernel before: n1 routes only the old subnet
    expect((await ping(pod1.netns, newGateway)).exitCode).to.not.equal(0)
    const byHand = fix.slice(2).filter(f => f.node === 'n1')
    expect(byHand.map(f => f.command)).to.include(`ip route replace ${subnet[1]} via 10.244.${subnet[2]}.0 dev flannel.1 onlink`)
    for (const f of byHand) {
      const run = await exec(f.node, f.command.split(' '))
      expect(run.exitCode, `${f.command}: ${run.stderr}`).to.equal(0)
    }
    expect((await ping(pod1.netns, newGateway)).exitCode).to.equal(0)
    // pod-2a stayed on the old subnet: re-creating it is the rest of the fix, in a lab by a lab command
    expect(fix.at(-1)).to.deep.equal({node: 'n2', command: `flannelctl lab pod recreate pod-2a --name ${name}`, scope: 'lab', recreates: 'pod-2a'})
  })

  it('the rest of the fix, run as printed (lab pod recreate), gives pod-2a an address in n2\'s new subnet, and the pods ping each other', async () => {
    const before = (await loadLab(name)).pods.find(p => p.name === 'pod-2a')!
    const r = await cli(['lab', 'pod', 'recreate', 'pod-2a', '--name', name, '--json'])
    expect(r.exitCode, r.stderr).to.equal(0)
    const out = JSON.parse(r.stdout) as {oldIP: string; newIP: string; subnet: string}
    expect(out.oldIP).to.equal(before.ip)
    const subnet = out.subnet.replace(/\.0\/24$/, '.')
    expect(out.newIP.startsWith(subnet), `${out.newIP} in ${out.subnet}`).to.equal(true)
    const pods = (await loadLab(name)).pods
    const [pod1, pod2] = ['pod-1a', 'pod-2a'].map(n => pods.find(p => p.name === n)!)
    expect(pod2.ip).to.equal(out.newIP)
    expect((await ping(pod1.netns, pod2.ip)).exitCode).to.equal(0)
    expect((await ping(pod2.netns, pod1.ip)).exitCode).to.equal(0)
    const t = JSON.parse((await cli(['trace', 'pod-1a', 'pod-2a', '--lab', name, '--json'])).stdout) as Trace
    expect(t.disposition, t.failure?.reason).to.equal('DELIVERED')
  })

  it('an unknown pod or lab: exit 2, one line saying which', async () => {
    const pod = await cli(['lab', 'pod', 'recreate', 'pod-9z', '--name', name])
    expect(pod.exitCode).to.equal(2)
    expect(pod.stderr).to.contain(`lab '${name}' has no pod 'pod-9z'`)
    const lab = await cli(['lab', 'pod', 'recreate', 'pod-2a', '--name', 'nosuchlab'])
    expect(lab.exitCode).to.equal(2)
    expect(lab.stderr).to.contain('no lab named \'nosuchlab\' is up')
  })
})

describe('trace from a pod left on its moved node\'s old subnet: the printed fixes, run top to bottom (real kernel)', function () {
  this.timeout(120000)
  const name = uniqueLab('dmo')
  const ping = (netns: string, dst: string) => sh('ip', ['netns', 'exec', netns, 'ping', '-c', '1', '-W', '1', dst])
  const exec = (host: string, command: string[]) => cli(['lab', 'exec', '--name', name, host, '--', ...command])

  before(async () => {
    await upMoved(name, 3)
  })

  after(async () => {
    await new Lab().down(name)
  })

  it('the request (pod-2a\'s gateway) and the reply (n1\'s stale entries) fail; n2\'s and n1\'s syncs then lab pod recreate pod-2a, as printed, and pod-1a and pod-2a answer each other', async () => {
    const r = await cli(['trace', 'pod-2a', 'pod-1a', '--lab', name])
    expect(r.exitCode).to.equal(1)
    const list = r.stdout.split('In the lab, apply it with:\n')[1].trim().split('\n').map(l => l.trim().replace(/ {3}#.*$/, ''))
    expect(list[0]).to.equal(`flannelctl lab exec --name ${name} n2 -- flannelctl sync`)
    expect(list[1]).to.equal(`flannelctl lab exec --name ${name} n1 -- flannelctl sync`)
    expect(list.at(-1)).to.equal(`flannelctl lab pod recreate pod-2a --name ${name}`)
    // the flannelctl commands, top to bottom (the by-hand ones are the sync's alternative)
    for (const line of list.filter(l => /^flannelctl lab (exec .* -- flannelctl sync|pod recreate )/.test(l))) {
      const run = await cli(line.split(' ').slice(1))
      expect(run.exitCode, `${line}: ${run.stderr}`).to.equal(0)
    }
    const pods = (await loadLab(name)).pods
    const [pod1, pod2, pod3] = ['pod-1a', 'pod-2a', 'pod-3a'].map(n => pods.find(p => p.name === n)!)
    expect((await ping(pod1.netns, pod2.ip)).exitCode).to.equal(0)
    expect((await ping(pod2.netns, pod1.ip)).exitCode).to.equal(0)
    // n3 was not on this trace's path: its own sync (doctor's fix for its pairs) and every pair answers
    expect((await exec('n3', ['flannelctl', 'sync'])).exitCode).to.equal(0)
    for (const a of [pod1, pod2, pod3]) {
      for (const b of [pod1, pod2, pod3]) if (a !== b) expect((await ping(a.netns, b.ip)).exitCode, `${a.name} → ${b.name}`).to.equal(0)
    }
  })
})
