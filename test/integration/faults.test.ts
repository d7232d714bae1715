/**
 * Every fault `lab break` knows, on a real lab: real ping fails (or, for the naive masquerade, the
 * receiver really sees the node's address), `trace` names the disposition and node the fault
 * implies with a fix, and running that fix in the named namespaces makes ping work again.
 * One lab serves all faults; after each, sync and a baseline restore put it back to green.
 */
import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {cli, sh, uniqueLab} from '../helpers/cli.js'
import {loadLab, type LabState, type LabPod, Lab} from '../../src/services/lab.js'
import {FAULTS, type Fault} from '../../src/services/faults.js'
import type {Trace, Fix} from '../../src/core/trace/types.js'
import type {DoctorReport} from '../../src/services/doctor.js'
import {vtepAddress} from '../../src/core/flannel.js'

async function ping(from: LabPod, to: LabPod, size?: number): Promise<boolean> {
  const sized = size ? ['-M', 'do', '-s', String(size - 28)] : []
  return (await sh('ip', ['netns', 'exec', from.netns, 'ping', '-c', '1', '-W', '1', ...sized, to.ip])).exitCode === 0
}

/** The source address of the first echo request that reaches `pod`, seen by tcpdump inside it. */
async function sourceSeenBy(pod: LabPod, send: () => Promise<unknown>): Promise<string | undefined> {
  const dump = spawn('ip', ['netns', 'exec', pod.netns, 'timeout', '6', 'tcpdump', '-n', '-l', '-i', 'eth0', '-c', '1', 'icmp[icmptype] == icmp-echo'])
  let out = ''
  dump.stdout.on('data', d => { out += String(d) })
  const listening = new Promise<void>(resolve => dump.stderr.on('data', d => { if (String(d).includes('listening')) resolve() }))
  const done = new Promise<void>(resolve => dump.on('close', () => resolve()))
  await Promise.race([listening, new Promise(r => setTimeout(r, 3000))])
  await send()
  await done
  return /IP (\d+\.\d+\.\d+\.\d+) > /.exec(out)?.[1]
}

function nsOf(state: LabState, host: string): string {
  const n = state.nodes.find(x => x.name === host)
  if (n) return n.netns
  const p = state.pods.find(x => x.name === host)
  if (p) return p.netns
  if (host === 'rt' && state.router) return state.router
  throw new Error(`fix names an unknown host ${host}`)
}

/** Runs each fix where it says: a flannelctl command on a node as `lab exec` runs it (flannelctl is no program on the node's PATH), a shell line in the node's namespace. */
async function applyFixes(state: LabState, fixes: Fix[]): Promise<void> {
  for (const f of fixes) {
    const argv = f.command.replace(/#.*$/, '').trim().split(/\s+/)
    const r = argv[0] === 'flannelctl'
      ? await cli(f.scope === 'lab' ? argv.slice(1) : ['lab', 'exec', '--name', state.name, f.node, '--', ...argv])
      : await sh('ip', ['netns', 'exec', nsOf(state, f.node), 'sh', '-c', f.command])
    expect(r.exitCode, `fix on ${f.node} failed: ${f.command}: ${r.stderr}`).to.equal(0)
  }
}

/** Undo what neither a fix nor sync restores (MTUs, sysctls, the FORWARD policy), then sync twice. */
async function repair(state: LabState): Promise<void> {
  const lab = new Lab()
  await Promise.all(state.nodes.map(async n => {
    const run = (...a: string[]) => sh('ip', ['netns', 'exec', n.netns, ...a])
    await run('ip', 'link', 'set', 'eth0', 'mtu', '1500')
    await run('ip', 'link', 'set', 'flannel.1', 'mtu', '1450')
    await run('sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.flannel/1.rp_filter=0')
    await run('iptables', '-w', '-P', 'FORWARD', 'ACCEPT')
    for (const p of state.pods.filter(x => x.node === n.name)) await sh('ip', ['netns', 'exec', p.netns, 'ip', 'link', 'set', 'eth0', 'mtu', '1450'])
  }))
  // Twice: a node that changed (a recreated VTEP) is learnt by the others on their next sync.
  for (let round = 0; round < 2; round++) await Promise.all(state.nodes.map(n => lab.flannelctl(n, state, ['sync'])))
}

/** What doctor must find for a fault (host checks), when it is a host-visible fault. */
const DOCTOR_FINDS: Record<string, string> = {
  'missing-fdb': 'MISSING_FDB', 'missing-neigh': 'MISSING_NEIGH', 'missing-route': 'MISSING_ROUTE', 'forward-drop': 'FORWARD_DROP',
  'forwarding-off': 'FORWARDING_DISABLED', 'stale-vtep-mac': 'VTEP_MAC_DRIFT', 'wrong-vtep-host': 'WRONG_VTEP_HOST',
  'mtu-mismatch': 'MTU_MISMATCH', 'missing-return-route': 'MISSING_ROUTE', 'hostgw-via-router': 'NEXT_HOP_NOT_ONLINK',
}

function faultCase(getState: () => LabState, f: Fault, node = 'n1'): void {
  const label = f.expect.warning && f.expect.path === 'forward'
    ? `${f.name}: delivered with ${f.expect.warning}, the receiver sees the node's address, the fix restores the pod's`
    : `${f.name}: ping fails, trace says ${f.expect.disposition}${f.expect.path === 'return' ? ' on the way back' : ''}, the fix makes ping work`
  it(label, async () => {
    const state = getState()
    const name = state.name
    try {
      const b = await cli(['lab', 'break', node, f.name, '--name', name, '--json'])
      expect(b.exitCode, b.stderr).to.equal(0)
      const info = JSON.parse(b.stdout) as {node: string; peer: string; probe: {src: string; dst: string}; commands: string[]}
      expect(info.commands).to.not.be.empty
      const src = state.pods.find(p => p.name === info.probe.src)!
      const dst = state.pods.find(p => p.name === info.probe.dst)!
      const expectedNode = f.expect.at === 'node' ? info.node : info.peer
      const natted = f.expect.warning === 'SOURCE_NATED'

      if (natted) {
        const seen = await sourceSeenBy(dst, () => ping(src, dst))
        const nodeSubnet = state.nodes.find(n => n.name === info.node)!.subnet!
        expect(seen, 'the receiver should see the node\'s flannel.1 address').to.equal(vtepAddress(nodeSubnet))
      } else {
        expect(await ping(src, dst, f.expect.size), 'real ping should fail').to.equal(false)
      }

      const r = await cli(['trace', src.name, dst.name, '--lab', name, '--json', ...(f.expect.size ? ['--size', String(f.expect.size)] : [])])
      const t = JSON.parse(r.stdout) as Trace
      // the exit code says what ping says: 1 where the ping failed, its request or its reply lost
      expect(r.exitCode, `${r.stderr} (${t.disposition}, back ${t.returnPath.disposition})`).to.equal(natted ? 0 : 1)

      const doc = await cli(['doctor', '--lab', name, '--json'])
      expect(doc.exitCode, `doctor should report the ${f.name} fault`).to.equal(1)
      const report = JSON.parse(doc.stdout) as DoctorReport
      const pair = report.pairs.find(p => p.from === src.name && p.to === dst.name)!
      if (DOCTOR_FINDS[f.name]) {
        expect(report.findings.map(x => `${x.code}@${x.node}`), 'doctor host checks').to.include(`${DOCTOR_FINDS[f.name]}@${f.name === 'missing-return-route' ? info.peer : info.node}`)
      }
      if (f.name === 'stale-vtep-mac') {
        // the root cause is on the peer: its lease still announces the old MAC, which the node's next sync would put back
        expect(report.findings.map(x => `${x.code}@${x.node}`)).to.include(`VTEP_MAC_NOT_PUBLISHED@${info.peer}`)
        const dry = await cli(['lab', 'exec', '--name', name, info.peer, '--', 'flannelctl', 'sync', '--dry-run'])
        expect(dry.stdout, dry.stderr).to.contain('sync would publish')
      }

      let fixes: Fix[]
      if (natted) {
        expect(t.disposition).to.equal('DELIVERED')
        expect(t.warnings.map(w => `${w.code}@${w.node}`)).to.include(`SOURCE_NATED@${expectedNode}`)
        expect(pair.warnings).to.include('SOURCE_NATED')
        fixes = pair.fix
      } else if (f.expect.path === 'return') {
        expect(t.disposition).to.equal('DELIVERED')
        expect(t.returnPath.disposition).to.equal(f.expect.disposition)
        expect(t.returnPath.failure?.node).to.equal(expectedNode)
        expect(t.warnings.map(w => w.code)).to.include('NO_RETURN_ROUTE')
        fixes = t.returnPath.failure!.fix
      } else {
        expect(t.disposition, t.failure?.reason).to.equal(f.expect.disposition)
        expect(t.failure?.node, t.failure?.reason).to.equal(expectedNode)
        expect(t.failure?.evidence).to.be.a('string').and.not.equal('')
        expect(t.failure?.reason).to.be.a('string').and.not.equal('')
        expect(pair.disposition).to.equal(f.expect.disposition)
        fixes = t.failure!.fix
      }
      expect(fixes, 'a fix').to.not.be.empty

      // of fixes that are ways of one choice, the recommended way, as a user runs them
      await applyFixes(state, fixes.filter(x => x.option === undefined || x.option.recommended))
      if (natted) expect(await sourceSeenBy(dst, () => ping(src, dst))).to.equal(src.ip)
      else expect(await ping(src, dst, f.expect.size), `ping after the fix: ${fixes.map(x => `[${x.node}] ${x.command}`).join('; ')}`).to.equal(true)
    } finally {
      await repair(state)
    }
    const pings = await new Lab().pingMatrix(state)
    expect(pings.filter(p => !p.ok).map(p => `${p.from}→${p.to}`), 'the lab is green again after the repair').to.deep.equal([])
  })
}

describe('lab break: every fault is seen by trace and doctor and fixed by the printed fix (real kernel)', function () {
  this.timeout(120000)

  describe('a 3-node vxlan lab', () => {
    const name = uniqueLab('dfv')
    let state: LabState

    before(async function () {
      this.timeout(60000)
      const up = await cli(['lab', 'up', '--name', name, '--nodes', '3', '--pods', '1'])
      if (up.exitCode !== 0) throw new Error(`lab up failed: ${up.stderr}`)
      state = await loadLab(name)
    })

    after(async () => {
      await new Lab().down(name) // the service, not the CLI: a concurrent rebuild of dist must not leave the lab up
    })

    it('a healthy lab: doctor --ping exits 0, trace and ping agree', async () => {
      const r = await cli(['doctor', '--lab', name, '--ping'])
      expect(r.exitCode, r.stdout + r.stderr).to.equal(0)
      expect(r.stdout).to.contain('healthy')
      expect(r.stdout).to.contain('6/6 pod pairs fine')
    })

    it('lab break --list names every fault with what trace shows', async () => {
      const r = await cli(['lab', 'break', '--list'])
      expect(r.exitCode).to.equal(0)
      for (const f of FAULTS) expect(r.stdout).to.contain(f.name)
    })

    it('lab break refuses unknown faults and nodes (exit 2)', async () => {
      const a = await cli(['lab', 'break', 'n1', 'no-such-fault', '--name', name])
      expect(a.exitCode).to.equal(2)
      expect(a.stderr).to.match(/no fault named 'no-such-fault'/)
      const b = await cli(['lab', 'break', 'n9', 'missing-fdb', '--name', name])
      expect(b.exitCode).to.equal(2)
      const c = await cli(['lab', 'break', 'n1', 'hostgw-via-router', '--name', name])
      expect(c.exitCode).to.equal(2)
      expect(c.stderr).to.contain('two segments')
    })

    for (const f of FAULTS.filter(x => x.requires?.segments !== 2)) faultCase(() => state, f)
  })

  describe('a 2-segment lab (nodes behind a router)', () => {
    const name = uniqueLab('dfs')
    let state: LabState

    before(async function () {
      this.timeout(60000)
      const up = await cli(['lab', 'up', '--name', name, '--nodes', '2', '--pods', '1', '--segments', '2'])
      if (up.exitCode !== 0) throw new Error(`lab up failed: ${up.stderr}`)
      state = await loadLab(name)
    })

    after(async () => {
      await new Lab().down(name) // the service, not the CLI: a concurrent rebuild of dist must not leave the lab up
    })

    for (const f of FAULTS.filter(x => x.requires?.segments === 2)) faultCase(() => state, f)
  })
})
