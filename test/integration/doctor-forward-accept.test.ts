/**
 * FORWARD policy DROP on a node: doctor's FORWARD_DROP and trace's DENIED_BY_FILTER print one fix,
 * accepts for the pod network (as flanneld's FLANNEL-FWD), and on the kernel it lets through pod
 * traffic both ways and what the node forwards for another node's pod (a NodePort's DNAT). An
 * accept for the node's own /24, which doctor printed before, lets the pods' pings through but
 * not that: checked here too, on host-gw and vxlan.
 */
import {expect} from 'chai'
import {cli, sh, uniqueLab} from '../helpers/cli.js'
import {loadLab, Lab, type LabState} from '../../src/services/lab.js'
import type {DoctorReport} from '../../src/services/doctor.js'

for (const backend of ['vxlan', 'host-gw'] as const) {
  describe(`doctor FORWARD_DROP on a ${backend} lab: the printed accepts let the real traffic through (real kernel)`, function () {
    this.timeout(120000)
    const name = uniqueLab('fcdf')
    let state: LabState

    before(async function () {
      this.timeout(60000)
      const up = await cli(['lab', 'up', '--name', name, '--nodes', '2', '--pods', '1', '--backend', backend])
      if (up.exitCode !== 0) throw new Error(`lab up failed: ${up.stderr}`)
      state = await loadLab(name)
    })

    after(async () => {
      await new Lab().down(name)
    })

    it('doctor and trace print the same accepts, for the network; they restore pod pings both ways and a NodePort-style DNAT to the other node\'s pod', async () => {
      const [n1, n2] = state.nodes
      const [p1, p2] = [state.pods.find(p => p.node === n1.name)!, state.pods.find(p => p.node === n2.name)!]
      const on = (netns: string, ...args: string[]) => sh('ip', ['netns', 'exec', netns, ...args])
      const ping = async (netns: string, ip: string) => (await on(netns, 'ping', '-c', '1', '-W', '1', ip)).exitCode === 0
      const b = await cli(['lab', 'break', n1.name, 'forward-drop', '--name', name])
      expect(b.exitCode, b.stderr).to.equal(0)
      expect(await ping(p1.netns, p2.ip)).to.equal(false)

      const report = JSON.parse((await cli(['doctor', '--lab', name, '--json'])).stdout) as DoctorReport
      const drop = report.findings.find(f => f.code === 'FORWARD_DROP' && f.node === n1.name)!
      const accepts = drop.fix.filter(c => c.startsWith('iptables '))
      // what it says is dropped is what its accepts let through (below: the node port too, not only n1's /24)
      expect(drop.message).to.contain(`pod traffic through ${n1.name} (10.244.0.0/16)`)
      expect(accepts).to.deep.equal(['iptables -I FORWARD 1 -s 10.244.0.0/16 -j ACCEPT', 'iptables -I FORWARD 1 -d 10.244.0.0/16 -j ACCEPT'])
      const pair = report.pairs.find(p => p.from === p1.name && p.to === p2.name)!
      expect(pair.fix.map(f => `${f.node} ${f.command}`)).to.deep.equal(accepts.map(c => `${n1.name} ${c}`))

      // A node port on n1 for p2 on n2: flannel's masquerade (! -s NET -d NET) brings the replies back through n1.
      const nodePort = ['-d', n1.underlayIP, '-p', 'icmp', '-j', 'DNAT', '--to-destination', p2.ip]
      await on(n1.netns, 'iptables', '-t', 'nat', '-I', 'PREROUTING', ...nodePort)
      // what doctor printed before: the node's own subnet; the pods' pings pass, the node port's do not
      const own = [`-s ${n1.subnet}`, `-d ${n1.subnet}`]
      for (const m of own) expect((await on(n1.netns, 'sh', '-c', `iptables -I FORWARD 1 ${m} -j ACCEPT`)).exitCode).to.equal(0)
      expect(await ping(p1.netns, p2.ip), 'pod → pod with the /24 accepts').to.equal(true)
      expect(await ping(p2.netns, p1.ip), 'pod ← pod with the /24 accepts').to.equal(true)
      expect(await ping(n2.netns, n1.underlayIP), 'the node port with the /24 accepts').to.equal(false)
      for (const m of own) await on(n1.netns, 'sh', '-c', `iptables -D FORWARD ${m} -j ACCEPT`)

      for (const c of accepts) expect((await on(n1.netns, 'sh', '-c', c)).exitCode, c).to.equal(0)
      expect(await ping(p1.netns, p2.ip), 'pod → pod').to.equal(true)
      expect(await ping(p2.netns, p1.ip), 'pod ← pod').to.equal(true)
      expect(await ping(n2.netns, n1.underlayIP), 'the node port, to the pod on the other node and back').to.equal(true)
      await on(n1.netns, 'iptables', '-t', 'nat', '-D', 'PREROUTING', ...nodePort)
    })
  })
}
