/**
 * trace against the kernel it models: on real labs (vxlan, host-gw, DirectRouting across a router)
 * every pod pair is DELIVERED and the predicted traceroute is what `traceroute -n` prints between
 * the same pod namespaces. A Calico-style pair of hosts, built here with plain `ip`, traces too.
 */
import {expect} from 'chai'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {cli, sh, inNs, uniqueLab, withoutNudStates} from '../helpers/cli.js'
import {Lab, loadLab, type LabState} from '../../src/services/lab.js'
import {labWorld} from '../../src/services/trace.js'
import {traceFlow} from '../../src/core/trace/engine.js'
import type {Trace, World} from '../../src/core/trace/types.js'

/** What `traceroute -n -q 1` prints, as addresses ('*' for a silent hop), the destination last. */
export async function realTraceroute(netns: string, dst: string, mode: 'icmp' | 'udp'): Promise<string[]> {
  const r = await sh('ip', ['netns', 'exec', netns, 'traceroute', '-n', '-q', '1', '-w', '1', '-m', '6', ...(mode === 'icmp' ? ['-I'] : []), dst])
  const hops: string[] = []
  for (const line of r.stdout.split('\n').slice(1)) {
    const m = /^\s*\d+\s+(\S+)/.exec(line)
    if (m) hops.push(m[1])
  }
  return hops
}

/** Real traceroute in ICMP mode, UDP when ICMP does not reach the destination. */
async function bestTraceroute(netns: string, dst: string): Promise<string[]> {
  const icmp = await realTraceroute(netns, dst, 'icmp')
  if (icmp.at(-1) === dst) return icmp
  return realTraceroute(netns, dst, 'udp')
}

async function eachLimited<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  const queue = [...items]
  await Promise.all(Array.from({length: limit}, async () => {
    for (let x = queue.shift(); x !== undefined; x = queue.shift()) await fn(x)
  }))
}

async function compareAllPairs(world: World, pods: {name: string; ip: string; netns: string}[]): Promise<string[]> {
  const pairs = pods.flatMap(a => pods.filter(b => b !== a).map(b => ({a, b})))
  const problems: string[] = []
  await eachLimited(pairs, 8, async ({a, b}) => {
    const t: Trace = traceFlow(world, {src: a.name, dst: b.name})
    const real = await bestTraceroute(a.netns, b.ip)
    if (t.disposition !== 'DELIVERED') problems.push(`${a.name} → ${b.name}: ${t.disposition} (${t.failure?.reason})`)
    else if (JSON.stringify(t.traceroute) !== JSON.stringify(real)) problems.push(`${a.name} → ${b.name}: trace ${JSON.stringify(t.traceroute)} ≠ traceroute ${JSON.stringify(real)}`)
  })
  expect(pairs.length).to.be.greaterThan(0)
  return problems
}

const LABS = [
  {tag: 'dtv', label: 'vxlan, one segment', args: ['--nodes', '3']},
  {tag: 'dth', label: 'host-gw, one segment', args: ['--nodes', '3', '--backend', 'host-gw']},
  {tag: 'dts', label: 'vxlan DirectRouting, two segments joined by a router', args: ['--nodes', '3', '--segments', '2', '--directrouting']},
]

describe('trace on real labs matches the kernel (real kernel)', function () {
  this.timeout(180000)

  for (const l of LABS) {
    describe(l.label, () => {
      const name = uniqueLab(l.tag)
      let state: LabState

      before(async () => {
        const up = await cli(['lab', 'up', '--name', name, ...l.args])
        if (up.exitCode !== 0) throw new Error(`lab up failed: ${up.stderr}`)
        state = await loadLab(name)
      })

      after(async () => {
        await new Lab().down(name) // the service, not the CLI: a concurrent rebuild of dist must not leave the lab up
      })

      it('every pod pair is DELIVERED with the traceroute `traceroute -n` prints', async () => {
        const world = await labWorld(state)
        const problems = await compareAllPairs(world, state.pods)
        expect(problems, problems.join('\n')).to.deep.equal([])
      })

      it('the trace command agrees (--lab, --json, exit 0)', async () => {
        const a = state.pods[0]
        const b = state.pods.at(-1)!
        const r = await cli(['trace', a.name, b.ip, '--lab', name, '--json'])
        expect(r.exitCode, r.stderr).to.equal(0)
        const t = JSON.parse(r.stdout) as Trace
        expect(t.disposition).to.equal('DELIVERED')
        expect(t.traceroute).to.deep.equal(await bestTraceroute(a.netns, b.ip))
        const text = await cli(['trace', a.name, b.name, '--lab', name])
        expect(text.exitCode).to.equal(0)
        expect(text.stdout).to.contain('DELIVERED')
      })
    })
  }

  describe('a dual-stack lab (IPv6 added by hand): IPv4 traced as the kernel forwards it, IPv6 answered plainly', () => {
    const name = uniqueLab('d6')
    let state: LabState
    let dir = ''
    /** pod-<n>a's IPv6 address: fd00:10:244:<node subnet's third octet>::2 */
    const v6 = new Map<string, string>()

    before(async () => {
      const up = await cli(['lab', 'up', '--name', name, '--nodes', '2', '--pods', '1'])
      if (up.exitCode !== 0) throw new Error(`lab up failed: ${up.stderr}`)
      state = await loadLab(name)
      dir = await mkdtemp(join(tmpdir(), 'fc-d6-'))
      const nodes = state.nodes.map((n, i) => ({...n, i: i + 11, octet: n.subnet!.split('.')[2]}))
      for (const n of nodes) {
        const pod = state.pods.find(p => p.node === n.name)!
        const other = nodes.find(o => o !== n)!
        await inNs(n.netns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1')
        await inNs(n.netns, 'ip', 'addr', 'add', `fd00:100::${n.i}/64`, 'dev', 'eth0', 'nodad')
        await inNs(n.netns, 'ip', 'addr', 'add', `fd00:10:244:${n.octet}::1/64`, 'dev', 'cni0', 'nodad')
        await inNs(n.netns, 'ip', 'route', 'add', `fd00:10:244:${other.octet}::/64`, 'via', `fd00:100::${other.i}`, 'dev', 'eth0')
        await inNs(pod.netns, 'ip', 'addr', 'add', `fd00:10:244:${n.octet}::2/64`, 'dev', 'eth0', 'nodad')
        await inNs(pod.netns, 'ip', 'route', 'add', 'default', 'via', `fd00:10:244:${n.octet}::1`)
        v6.set(pod.name, `fd00:10:244:${n.octet}::2`)
      }
      // the neighbour tables then hold IPv6 and fe80:: entries too; a fresh veth's fe80:: is
      // tentative (DAD) for a second or two, and until then neighbour discovery does not answer
      for (const p of state.pods) {
        for (const q of state.pods) {
          if (p === q) continue
          const ping = () => sh('ip', ['netns', 'exec', p.netns, 'ping', '-6', '-c', '1', '-W', '1', v6.get(q.name)!])
          let r = await ping()
          for (let tries = 1; r.exitCode !== 0 && tries < 10; tries++) r = await ping()
          if (r.exitCode !== 0) throw new Error(`IPv6 ping ${p.name} → ${q.name} failed: ${r.stdout}`)
        }
      }
    })

    after(async () => {
      await new Lab().down(name)
      if (dir) await rm(dir, {recursive: true, force: true})
    })

    it('IPv4 between the dual-stack pods is DELIVERED with traceroute -n\'s addresses, live and from a collected snapshot', async () => {
      const problems = await compareAllPairs(await labWorld(state), state.pods)
      expect(problems, problems.join('\n')).to.deep.equal([])
      const [a, b] = state.pods
      const snap = join(dir, 'snap')
      expect((await cli(['collect', '--lab', name, '--out', snap])).exitCode).to.equal(0)
      const live = await cli(['trace', a.name, b.name, '--lab', name, '--json'])
      const offline = await cli(['trace', a.name, b.name, '--snapshot', snap, '--json'])
      expect([live.exitCode, offline.exitCode], live.stderr + offline.stderr).to.deep.equal([0, 0])
      // the neighbour entries may move from DELAY to REACHABLE between the collect and the live read
      expect(JSON.parse(withoutNudStates(offline.stdout))).to.deep.equal(JSON.parse(withoutNudStates(live.stdout)))
    })

    it('an IPv6 address is refused (exit 2, no stack), naming the pod that has it and `ip -6 route get`', async () => {
      const [a, b] = state.pods
      for (const source of [['--lab', name], ['--snapshot', join(dir, 'snap')]]) {
        const r = await cli(['trace', a.name, v6.get(b.name)!, ...source])
        expect(r.exitCode, r.stdout).to.equal(2)
        expect(r.stderr).to.contain(`Error: the destination ${v6.get(b.name)} is an IPv6 address (an address of pod ${b.name}): flannelctl trace models IPv4 forwarding only`)
        expect(r.stderr).to.contain(`Hint: trace ${b.name} by name for its IPv4 path, and follow IPv6 with \`ip -6 route get ${v6.get(b.name)}\` on each host`)
        expect(r.stderr).to.not.match(/^\s+at /m)
      }
    })
  })

  describe('a Calico-style pair of hosts (plain ip: /32 pods, proxy ARP, blackhole block) via an inventory', () => {
    const p = `fcc-${Math.random().toString(36).slice(2, 6)}-`
    const ns = {n1: `${p}n1`, n2: `${p}n2`, p1: `${p}p1`, p2: `${p}p2`}
    let dir = ''

    async function node(n: 'n1' | 'n2', block: string, peerBlock: string, peerIp: string, pod: 'p1' | 'p2', podIp: string): Promise<void> {
      const N = (...a: string[]) => inNs(ns[n], ...(a as [string, ...string[]]))
      await N('sysctl', '-q', '-w', 'net.ipv4.ip_forward=1')
      await N('ip', 'route', 'add', 'default', 'via', '192.168.77.1', 'dev', 'eth0', 'onlink')
      await N('ip', 'route', 'add', 'blackhole', block)
      await N('ip', 'route', 'add', peerBlock, 'via', peerIp, 'dev', 'eth0')
      // The workload: a /32 behind a veth whose host end has no address and answers ARP by proxy.
      const cali = `cali${pod}x`
      await sh('ip', ['-n', ns[n], 'link', 'add', cali, 'address', 'ee:ee:ee:ee:ee:ee', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns[pod]])
      await N('sysctl', '-q', '-w', `net.ipv4.conf.${cali}.proxy_arp=1`, `net.ipv4.neigh.${cali}.proxy_delay=0`)
      await N('ip', 'link', 'set', cali, 'up')
      await N('ip', 'route', 'add', `${podIp}/32`, 'dev', cali, 'scope', 'link')
      const P = (...a: string[]) => inNs(ns[pod], ...(a as [string, ...string[]]))
      await P('ip', 'link', 'set', 'lo', 'up')
      await P('ip', 'addr', 'add', `${podIp}/32`, 'dev', 'eth0')
      await P('ip', 'link', 'set', 'eth0', 'up')
      await P('ip', 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link')
      await P('ip', 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0')
    }

    before(async () => {
      for (const n of Object.values(ns)) await sh('ip', ['netns', 'add', n])
      for (const n of [ns.n1, ns.n2]) await inNs(n, 'ip', 'link', 'set', 'lo', 'up')
      await sh('ip', ['-n', ns.n1, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.n2])
      await inNs(ns.n1, 'ip', 'addr', 'add', '192.168.77.11/24', 'dev', 'eth0')
      await inNs(ns.n2, 'ip', 'addr', 'add', '192.168.77.12/24', 'dev', 'eth0')
      await inNs(ns.n1, 'ip', 'link', 'set', 'eth0', 'up')
      await inNs(ns.n2, 'ip', 'link', 'set', 'eth0', 'up')
      await node('n1', '10.65.1.0/26', '10.65.2.0/26', '192.168.77.12', 'p1', '10.65.1.5')
      await node('n2', '10.65.2.0/26', '10.65.1.0/26', '192.168.77.11', 'p2', '10.65.2.9')
      dir = await mkdtemp(join(tmpdir(), 'fc-calico-'))
      await writeFile(join(dir, 'hosts.yaml'), `nodes:
  - {name: cal1, exec: "netns:${ns.n1}"}
  - {name: cal2, exec: "netns:${ns.n2}"}
pods:
  - {name: web, ip: 10.65.1.5, node: cal1, netns: ${ns.p1}}
  - {name: db, ip: 10.65.2.9, node: cal2, netns: ${ns.p2}}
`)
    })

    after(async () => {
      for (const n of [ns.p1, ns.p2, ns.n1, ns.n2]) await sh('ip', ['netns', 'del', n])
      if (dir) await rm(dir, {recursive: true, force: true})
    })

    it('real ping works both ways (the fixture is a working network)', async () => {
      expect((await sh('ip', ['netns', 'exec', ns.p1, 'ping', '-c', '1', '-W', '2', '10.65.2.9'])).exitCode).to.equal(0)
      expect((await sh('ip', ['netns', 'exec', ns.p2, 'ping', '-c', '1', '-W', '2', '10.65.1.5'])).exitCode).to.equal(0)
    })

    for (const [src, dst, netns, ip] of [['web', 'db', 'p1', '10.65.2.9'], ['db', 'web', 'p2', '10.65.1.5']] as const) {
      it(`trace ${src} → ${dst} --inventory is DELIVERED with traceroute -n's addresses`, async () => {
        const r = await cli(['trace', src, dst, '--inventory', join(dir, 'hosts.yaml'), '--json'])
        expect(r.exitCode, r.stderr + r.stdout.slice(0, 2000)).to.equal(0)
        const t = JSON.parse(r.stdout) as Trace
        expect(t.disposition).to.equal('DELIVERED')
        expect(t.traceroute).to.deep.equal(await bestTraceroute(ns[netns], ip))
      })
    }

    it('the node\'s own block is null-routed (blackhole), not sent on', async () => {
      const r = await cli(['trace', 'web', '10.65.2.33', '--inventory', join(dir, 'hosts.yaml'), '--json'])
      expect(r.exitCode, r.stderr).to.equal(1)
      const t = JSON.parse(r.stdout) as Trace
      expect(t.disposition).to.equal('NULL_ROUTED')
      expect(t.failure?.node).to.equal('cal2')
    })
  })
})
