/**
 * collect → offline trace: a snapshot directory written from a real lab traces exactly like the
 * lab itself, in both the JSON and the plain-text forms; hand-pasted real-world outputs trace too;
 * bad inventories fail with one clear line and exit 2.
 */
import {expect} from 'chai'
import {cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile} from 'node:fs/promises'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {cli, sh, ROOT, uniqueLab} from '../helpers/cli.js'
import {Lab, loadLab, type LabState} from '../../src/services/lab.js'
import {loadSource, readSourceStore} from '../../src/services/collect.js'
import {traceFlow} from '../../src/core/trace/engine.js'
import {isSafeName} from '../../src/core/inventory.js'
import type {Trace, World} from '../../src/core/trace/types.js'

const FIXTURES = join(ROOT, 'test', 'fixtures', 'snapshots')

function summary(t: Trace): string {
  return JSON.stringify({d: t.disposition, tr: t.traceroute, at: t.failure?.node, back: t.returnPath.disposition,
    warn: t.warnings.filter(w => w.code !== 'ASSUMED').map(w => `${w.code}@${w.node}`).sort()})
}

function allPairs(world: World): Map<string, string> {
  const out = new Map<string, string>()
  for (const a of world.pods) for (const b of world.pods) if (a !== b) out.set(`${a.name}→${b.name}`, summary(traceFlow(world, {src: a.name, dst: b.name})))
  return out
}

async function traceJson(args: string[]): Promise<{exitCode: number; trace: Trace; stderr: string}> {
  const r = await cli(['trace', ...args, '--json'])
  return {exitCode: r.exitCode, trace: JSON.parse(r.stdout || 'null') as Trace, stderr: r.stderr}
}

describe('collect and offline trace (real kernel)', function () {
  this.timeout(120000)
  const name = uniqueLab('dcl')
  let state: LabState
  let tmp = ''

  before(async function () {
    this.timeout(60000)
    tmp = await mkdtemp(join(tmpdir(), 'fc-collect-'))
    const up = await cli(['lab', 'up', '--name', name, '--nodes', '3', '--pods', '1'])
    if (up.exitCode !== 0) throw new Error(`lab up failed: ${up.stderr}`)
    state = await loadLab(name)
    // A broken peer entry makes the comparison about more than "everything is delivered".
    const b = await cli(['lab', 'break', 'n1', 'missing-fdb', '--peer', 'n2', '--name', name])
    if (b.exitCode !== 0) throw new Error(`lab break failed: ${b.stderr}`)
  })

  after(async () => {
    await new Lab().down(name) // the service, not the CLI: a concurrent rebuild of dist must not leave the lab up
    if (tmp) await rm(tmp, {recursive: true, force: true})
  })

  it('writes the snapshot layout: inventory.yaml and every table of every node, the router-less lab, each pod', async () => {
    const dir = join(tmp, 'json')
    const r = await cli(['collect', '--lab', name, '--out', dir])
    expect(r.exitCode, r.stderr).to.equal(0)
    // hosts are the nodes; the pods' own namespaces are counted as pods only
    expect(r.stdout).to.contain('collected lab ' + name + ': 3 hosts, 3 pods,')
    // the next step, with names from the snapshot to try it on
    expect(r.stdout).to.contain(`trace offline with: flannelctl trace ${state.pods[0].name} ${state.pods[1].name} --snapshot ${dir}   ·   every pod pair and host check: flannelctl doctor --snapshot ${dir}`)
    const inv = await readFile(join(dir, 'inventory.yaml'), 'utf8')
    for (const n of state.nodes) expect(inv).to.contain(`name: ${n.name}`)
    for (const p of state.pods) expect(inv).to.contain(p.ip)
    expect((await readdir(join(dir, 'n1'))).sort()).to.deep.equal(
      ['bridge-fdb.json', 'ip-addr.json', 'ip-link.json', 'ip-neigh.json', 'ip-route-cache.json', 'ip-route.json', 'ip-rule.json', 'ipset.txt', 'iptables-save.txt', 'nft-ruleset.json', 'sysctl.json', 'tc-qdisc.json'])
    expect(await readdir(join(dir, state.pods[0].name))).to.include.members(['ip-route.json', 'ip-rule.json'])
    // every table (`table all`): the local table too, and the kernel's three rules
    expect(await readFile(join(dir, 'n1', 'ip-route.json'), 'utf8')).to.contain('"table":"local"')
    expect(await readFile(join(dir, 'n1', 'ip-rule.json'), 'utf8')).to.contain('"table":"main"')
    // the ports a client picks its source port from, whole (a shell's read builtin gets only the first digit), a pod's from its own namespace
    for (const host of ['n1', state.pods[0].name]) {
      const sysctls = JSON.parse(await readFile(join(dir, host, 'sysctl.json'), 'utf8')) as Record<string, string>
      expect(sysctls['net.ipv4.ip_local_port_range'], host).to.equal('32768\t60999')
    }
  })

  it('trace --snapshot gives the same disposition, node and traceroute as --lab for every pod pair (JSON and text forms)', async () => {
    const live = allPairs((await loadSource({lab: name})).world)
    expect([...live.values()].some(s => s.includes('FDB_MISSING'))).to.equal(true)
    const json = allPairs((await loadSource({snapshot: join(tmp, 'json')})).world)
    expect(json).to.deep.equal(live)
    const txtDir = join(tmp, 'txt')
    const r = await cli(['collect', '--lab', name, '--out', txtDir, '--format', 'txt'])
    expect(r.exitCode, r.stderr).to.equal(0)
    expect(await readdir(join(txtDir, 'n1'))).to.include('ip-route.txt')
    const txt = allPairs((await loadSource({snapshot: txtDir})).world)
    expect(txt).to.deep.equal(live)
  })

  it('the trace command reads a snapshot offline with the live exit codes', async () => {
    const [a, b] = [state.pods.find(p => p.node === 'n1')!, state.pods.find(p => p.node === 'n2')!]
    const live = await traceJson([a.name, b.name, '--lab', name])
    const off = await traceJson([a.name, b.name, '--snapshot', join(tmp, 'txt')])
    expect(live.exitCode).to.equal(1)
    expect(off.exitCode).to.equal(1)
    expect(summary(off.trace)).to.equal(summary(live.trace))
    expect(off.trace.disposition).to.equal('FDB_MISSING')
    const good = await traceJson([b.name, state.pods.find(p => p.node === 'n3')!.name, '--snapshot', join(tmp, 'json')])
    expect(good.exitCode).to.equal(0)
  })

  it('trace on one node alone (no --lab): that node\'s own fault is found; past its tables the answer is "unknown", never a drop', async () => {
    const onNode = async (node: string, src: string, dst: string) => {
      const r = await cli(['lab', 'exec', '--name', name, node, '--', 'flannelctl', 'trace', src, dst, '--json'])
      return {exitCode: r.exitCode, trace: JSON.parse(r.stdout) as Trace}
    }
    const [a, b, c] = ['n1', 'n2', 'n3'].map(n => state.pods.find(p => p.node === n)!)
    const broken = await onNode('n1', a.ip, b.ip)
    expect(broken.trace.disposition).to.equal('FDB_MISSING')
    const healthy = await onNode('n2', b.ip, c.ip)
    expect(healthy.exitCode).to.equal(1)
    expect(healthy.trace.disposition).to.equal('INSUFFICIENT_INFO')
    expect(healthy.trace.hops[0].in, 'the pod\'s packet enters at the bridge').to.equal('cni0')
    expect(healthy.trace.hops.flatMap(h => h.steps.map(s => s.kind))).to.include('encap')
    expect(healthy.trace.warnings.map(w => w.code)).to.not.include('NO_RETURN_ROUTE')
    // collected there, the snapshot says so (partial: true) and reads back to the same answer
    const dir = join(tmp, 'n2-alone')
    const collected = await cli(['lab', 'exec', '--name', name, 'n2', '--', 'flannelctl', 'collect', '--out', dir])
    expect(collected.exitCode, collected.stderr).to.equal(0)
    // every lab node shares the machine's hostname: lab exec names the node, so snapshots of two nodes do not collide
    expect(await readFile(join(dir, 'inventory.yaml'), 'utf8')).to.match(/^# written by flannelctl collect from this host \(n2\) at .*\npartial: true\n(.*\n)*nodes:\n {2}- name: n2\n/)
    expect(await readdir(dir)).to.include('n2')
    expect(healthy.trace.hops.map(h => h.node)).to.include('n2')
    const off = await traceJson([b.ip, c.ip, '--snapshot', dir])
    expect(summary(off.trace)).to.equal(summary(healthy.trace))
    // the store the node's init recorded (its state file is FLANNELCTL_STATE_FILE there, not the default path) is saved beside it
    expect(JSON.parse(await readFile(join(dir, 'store.json'), 'utf8')).leases).to.have.length(3)
  })

  it('doctor and collect on one node alone read the store recorded in the state file lab exec names: a route of no lease is stale', async () => {
    const n2 = state.nodes.find(n => n.name === 'n2')!
    await sh('ip', ['-n', n2.netns, 'route', 'add', '10.244.250.0/24', 'via', '10.244.250.0', 'dev', 'flannel.1', 'onlink'])
    try {
      const doctor = await cli(['lab', 'exec', '--name', name, 'n2', '--', 'flannelctl', 'doctor', '--json'])
      const findings = (JSON.parse(doctor.stdout) as {findings: {code: string; message: string}[]}).findings
      expect(findings.filter(f => f.code.startsWith('STALE_')).map(f => f.code)).to.deep.equal(['STALE_ROUTE'])
      expect(doctor.stderr).to.not.contain('without a store')
      const dir = join(tmp, 'n2-stale')
      expect((await cli(['lab', 'exec', '--name', name, 'n2', '--', 'flannelctl', 'collect', '--out', dir])).exitCode).to.equal(0)
      const offline = await cli(['doctor', '--snapshot', dir, '--json'])
      expect((JSON.parse(offline.stdout) as {findings: {code: string}[]}).findings.map(f => f.code)).to.include('STALE_ROUTE')
    } finally {
      await sh('ip', ['-n', n2.netns, 'route', 'del', '10.244.250.0/24'])
    }
  })

  it('this host alone: the record init wrote is read once, and the store comes from that reading', async () => {
    const n1 = state.nodes.find(n => n.name === 'n1')!
    const stateFile = join(tmp, 'once.json')
    await cp(join(n1.dir, 'node.json'), stateFile)
    const o = {stateFile, nodeName: 'once'}
    const src = await loadSource(o)
    expect(src.record?.store).to.equal(state.store)
    // gone before the store is read: what loadSource read is what the store comes from
    await rm(stateFile)
    expect((await readSourceStore(src, o))?.store).to.equal(state.store)
  })

  it('idle pods (no neighbour entry) are found where the node\'s conflist keeps host-local\'s allocations (its dataDir): from an inventory naming cniConfDir, and on the node alone', async () => {
    // the lab's conflist names dataDir <node dir>/ipam, not /var/lib/cni/networks: before, 0 pods
    for (const n of state.nodes) {
      expect(await readFile(join(n.dir, 'cni', '10-flannel.conflist'), 'utf8')).to.contain(`"dataDir": "${join(n.dir, 'ipam')}"`)
      await sh('ip', ['-n', n.netns, 'neigh', 'flush', 'dev', 'cni0'])
    }
    const f = join(tmp, 'idle.yaml')
    await writeFile(f, `nodes:\n${state.nodes.map(n => `  - name: ${n.name}\n    exec: netns:${n.netns}\n    cniConfDir: ${join(n.dir, 'cni')}\n`).join('')}`)
    const dir = join(tmp, 'idle')
    const r = await cli(['collect', '--inventory', f, '--out', dir])
    expect(r.exitCode, r.stderr).to.equal(0)
    expect(r.stdout).to.contain(': 3 hosts, 3 pods,')
    const inv = await readFile(join(dir, 'inventory.yaml'), 'utf8')
    for (const p of state.pods) expect(inv).to.contain(`ip: ${p.ip}\n    node: ${p.node}`)
    // an inventory naming each node's stateFile: (as migrate's does) alone: the conf dir init recorded there (before: 0 pods)
    const byState = join(tmp, 'idle-state.yaml')
    await writeFile(byState, `nodes:\n${state.nodes.map(n => `  - name: ${n.name}\n    exec: netns:${n.netns}\n    stateFile: ${join(n.dir, 'node.json')}\n`).join('')}`)
    const fromState = await cli(['collect', '--inventory', byState, '--out', join(tmp, 'idle-state')])
    expect(fromState.stdout, fromState.stderr).to.contain(': 3 hosts, 3 pods,')
    // on one node: the conf dir lab exec names (FLANNELCTL_CNI_CONF_DIR), or the one init recorded in --state-file
    const n1 = state.nodes.find(n => n.name === 'n1')!
    const pod1 = state.pods.find(p => p.node === 'n1')!
    const byEnv = await cli(['lab', 'exec', '--name', name, 'n1', '--', 'flannelctl', 'collect', '--out', join(tmp, 'idle-n1')])
    expect(byEnv.stdout, byEnv.stderr).to.contain(': 1 host, 1 pod,')
    expect(await readFile(join(tmp, 'idle-n1', 'inventory.yaml'), 'utf8')).to.contain(`ip: ${pod1.ip}`)
    const byRecord = await sh('ip', ['netns', 'exec', n1.netns, process.execPath, join(ROOT, 'bin', 'run.js'), 'collect', '--state-file', join(n1.dir, 'node.json'), '--out', join(tmp, 'idle-n1-record')])
    expect(byRecord.stdout).to.contain(': 1 host, 1 pod,')
    // without lab exec's environment a host is its hostname, as on a real host; --node-name names it, and a name no directory can take is refused
    expect(await readdir(join(tmp, 'idle-n1-record'))).to.include(isSafeName(hostname()) ? hostname() : 'local')
    const bad = await cli(['collect', '--node-name', '../n1', '--out', join(tmp, 'bad-name')])
    expect(bad.exitCode).to.equal(2)
    expect(bad.stderr.trim().split('\n')).to.have.length(2)
    expect(bad.stderr).to.contain("--node-name '../n1' is not a name")
  })

  it('the offline trace collect suggests crosses nodes when the pods allow it (two pods of one node meet on its bridge)', async () => {
    const [p1, p2] = ['n1', 'n2'].map(n => state.pods.find(p => p.node === n)!)
    const f = join(tmp, 'two-on-n1.yaml')
    await writeFile(f, `nodes:\n${state.nodes.map(n => `  - name: ${n.name}\n    exec: netns:${n.netns}\n`).join('')}pods:\n`
      + `  - {name: first, ip: ${p1.ip}, node: n1}\n  - {name: second, ip: ${p1.ip.replace(/\.\d+$/, '.250')}, node: n1}\n  - {name: far, ip: ${p2.ip}, node: n2}\n`)
    const r = await cli(['collect', '--inventory', f, '--out', join(tmp, 'two-on-n1'), '--json'])
    expect(r.exitCode, r.stderr).to.equal(0)
    expect(JSON.parse(r.stdout).example).to.deep.equal(['first', 'far'])
  })

  it('a node that cannot be read costs only itself: collect writes the others, records it unread, exits 2 naming it; trace and doctor --snapshot say where its tables are missing', async () => {
    const [a, b, c] = ['n1', 'n2', 'n3'].map(n => state.pods.find(p => p.node === n)!)
    const f = join(tmp, 'n3-down.yaml')
    const netns = (n: string) => state.nodes.find(x => x.name === n)!.netns
    await writeFile(f, `nodes:\n  - name: n1\n    exec: netns:${netns('n1')}\n  - name: n2\n    exec: netns:${netns('n2')}\n  - name: n3\n    exec: netns:fcc-n3-down\n` +
      `pods:\n${[a, b, c].map(p => `  - name: ${p.name}\n    ip: ${p.ip}\n    node: ${p.node}\n`).join('')}`)
    const dir = join(tmp, 'n3-down')
    const r = await cli(['collect', '--inventory', f, '--out', dir])
    expect(r.exitCode, r.stderr).to.equal(2)
    expect(r.stdout).to.contain(': 2 hosts, 3 pods,')
    const [error, hint] = r.stderr.trim().split('\n')
    expect(error).to.match(/^Error: cannot read host 'n3' \(netns:fcc-n3-down: Cannot open network namespace "fcc-n3-down": .*\); .*n3-down holds the other 2 hosts, with n3 recorded as unread: trace and doctor --snapshot say where its tables are missing$/)
    expect(hint).to.match(/^Hint: check the name with `ip netns list`.*; then collect again into .*n3-down \(it replaces the snapshot\)$/)
    expect((await readdir(dir)).sort()).to.deep.equal(['inventory.yaml', 'n1', 'n2'])
    expect(await readFile(join(dir, 'inventory.yaml'), 'utf8')).to.match(/\n {2}- name: n3\n {4}unread: 'netns:fcc-n3-down: Cannot open network namespace/)
    // the nodes read keep their verdicts; a path to n3 ends where the tables do, naming it
    expect((await traceJson([a.name, b.name, '--snapshot', dir])).trace.disposition).to.equal('FDB_MISSING')
    const toN3 = await traceJson([b.name, c.name, '--snapshot', dir])
    expect(toN3.exitCode).to.equal(1)
    expect(toN3.trace.disposition).to.equal('INSUFFICIENT_INFO')
    expect(toN3.trace.failure?.node).to.equal('n2')
    expect(toN3.trace.failure?.reason).to.contain('the tables of node n3 are missing (it could not be read)')
    const fromN3 = await traceJson([c.name, b.name, '--snapshot', dir])
    expect(fromN3.trace.failure?.reason).to.match(/^pod .*'s node n3's tables are missing \(not read: netns:fcc-n3-down: /)
    const doctor = await cli(['doctor', '--snapshot', dir, '--json'])
    expect(doctor.exitCode).to.equal(1)
    const report = JSON.parse(doctor.stdout) as {findings: {code: string; node: string; severity: string}[]}
    expect(report.findings.filter(x => x.code === 'HOST_NOT_READ')).to.deep.equal([{code: 'HOST_NOT_READ', severity: 'error', node: 'n3',
      message: 'n3\'s tables are missing: it could not be read, so nothing of it is checked and a path through it ends where the tables run out',
      evidence: 'unread: netns:fcc-n3-down: Cannot open network namespace "fcc-n3-down": No such file or directory', fix: [], fixes: []}])
    expect(report.findings.map(x => x.code)).to.not.include('STALE_ROUTE')
    // live, the node down stops the trace, and the hint says how to go on without it; so marked, it does
    const live = await cli(['trace', b.name, c.name, '--inventory', f])
    expect(live.exitCode).to.equal(2)
    expect(live.stderr).to.contain(`; to go on without it meanwhile, give node 'n3' the line \`unread: down\` in ${f}`)
    await writeFile(f, (await readFile(f, 'utf8')).replace('    exec: netns:fcc-n3-down\n', '    exec: netns:fcc-n3-down\n    unread: down\n'))
    const marked = await traceJson([b.name, c.name, '--inventory', f])
    expect(marked.trace.failure?.reason).to.contain('the tables of node n3 are missing (it could not be read)')
  })

  it('--out: a snapshot collect wrote is replaced whole (a host no longer collected is gone); a directory of other files is refused and left as it was', async () => {
    const dir = join(tmp, 'again')
    expect((await cli(['collect', '--lab', name, '--out', dir])).exitCode).to.equal(0)
    expect(await readdir(dir)).to.include.members(['n3', 'store.json', state.pods[0].name])
    const f = join(tmp, 'n1-only.yaml')
    await writeFile(f, `nodes:\n  - name: n1\n    exec: netns:${state.nodes[0].netns}\n`)
    const r = await cli(['collect', '--inventory', f, '--out', dir])
    expect(r.exitCode, r.stderr).to.equal(0)
    expect((await readdir(dir)).sort()).to.deep.equal(['inventory.yaml', 'n1'])
    const other = join(tmp, 'mine')
    await mkdir(other)
    await writeFile(join(other, 'notes.txt'), 'mine')
    const refused = await cli(['collect', '--lab', name, '--out', other])
    expect(refused.exitCode).to.equal(2)
    expect(refused.stderr.trim().split('\n')).to.deep.equal([`Error: --out ${other} is not empty and holds no snapshot collect wrote (it holds notes.txt)`,
      `Hint: give a new or empty directory (e.g. --out ${join(other, 'snapshot')}): collect replaces only a snapshot it wrote itself, and would mix its files with these`])
    expect(await readdir(other)).to.deep.equal(['notes.txt'])
  })

  it('an inventory without pods: a pod name it cannot know is refused with pod IPs as the way on, and they work', async () => {
    const f = join(tmp, 'no-pods.yaml')
    await writeFile(f, `nodes:\n${state.nodes.map(n => `  - name: ${n.name}\n    exec: netns:${n.netns}\n`).join('')}`)
    const [b, c] = ['n2', 'n3'].map(n => state.pods.find(p => p.node === n)!)
    const r = await cli(['trace', b.name, c.name, '--inventory', f])
    expect(r.exitCode).to.equal(2)
    expect(r.stderr).to.contain(`Error: unknown source "${b.name}"`)
    expect(r.stderr, r.stderr).to.match(/\nHint: known names: .*give its IP instead, e\.g\. trace \S+ \S+ \(pod subnets: n1 [\d.]+\/24, n2 [\d.]+\/24, n3 [\d.]+\/24\), or list the pods in the inventory \(pods: \[\{name: [^,]+, ip: [\d.]+, node: n1\}\]\)\n?$/)
    const byIp = await traceJson([b.ip, c.ip, '--inventory', f])
    expect(byIp.trace.src).to.deep.include({ip: b.ip, node: 'n2'})
    expect(byIp.trace.hops.map(h => h.node)).to.deep.equal(['n2', 'n3'])
  })

  describe('hand-pasted real-world outputs', () => {
    it('flannel vxlan hosts (ifconfig / ip addr, ip r, arp -n, bridge fdb show dev flannel.1): DELIVERED via the peer\'s flannel.1', async () => {
      const r = await traceJson(['web-7d4b9', 'db-0', '--snapshot', join(FIXTURES, 'vxlan-paste')])
      expect(r.exitCode, r.stderr).to.equal(0)
      expect(r.trace.disposition).to.equal('DELIVERED')
      expect(r.trace.traceroute).to.deep.equal(['10.244.1.1', '10.244.2.0', '10.244.2.7'])
      // Sysctls, iptables and vxlan details were not pasted: the trace says what it assumed.
      expect(r.trace.warnings.some(w => w.code === 'ASSUMED')).to.equal(true)
      const back = await traceJson(['db-0', '10.244.1.34', '--snapshot', join(FIXTURES, 'vxlan-paste')])
      expect(back.trace.traceroute).to.deep.equal(['10.244.2.1', '10.244.1.0', '10.244.1.34'])
    })

    it('the same hosts after worker2 rebooted with a new VtepMAC: STALE_VTEP_MAC at worker1', async () => {
      const dir = join(tmp, 'stale')
      await cp(join(FIXTURES, 'vxlan-paste'), dir, {recursive: true})
      const addr = join(dir, 'worker2', 'ip-addr.txt')
      await writeFile(addr, (await readFile(addr, 'utf8')).replace('link/ether 76:2f:9c:41:d2:22', 'link/ether 76:2f:9c:41:d2:99'))
      const r = await traceJson(['web-7d4b9', 'db-0', '--snapshot', dir])
      expect(r.exitCode).to.equal(1)
      expect(r.trace.disposition).to.equal('STALE_VTEP_MAC')
      expect(r.trace.failure?.node).to.equal('worker1')
      expect(r.trace.failure?.fix.map(f => f.command).join('\n')).to.contain('76:2f:9c:41:d2:99')
      const doc = await cli(['doctor', '--snapshot', dir, '--json'])
      expect(doc.exitCode).to.equal(1)
      expect(JSON.parse(doc.stdout).findings.map((f: {code: string}) => f.code)).to.include('VTEP_MAC_DRIFT')
    })

    it('a host-gw host pasted as route -n: DELIVERED via the peer\'s underlay address', async () => {
      const r = await traceJson(['api-1', 'api-2', '--snapshot', join(FIXTURES, 'hostgw-paste')])
      expect(r.exitCode, r.stderr).to.equal(0)
      expect(r.trace.traceroute).to.deep.equal(['10.244.1.1', '10.0.0.12', '10.244.2.5'])
    })

    it('a snapshot without inventory.yaml: nodes are the directories, pods come from bridge neighbours', async () => {
      const dir = join(tmp, 'noinv')
      await cp(join(FIXTURES, 'hostgw-paste'), dir, {recursive: true})
      await rm(join(dir, 'inventory.yaml'))
      const r = await traceJson(['10.244.1.5', '10.244.2.5', '--snapshot', dir])
      expect(r.exitCode, r.stderr).to.equal(0)
      expect(r.trace.traceroute).to.deep.equal(['10.244.1.1', '10.0.0.12', '10.244.2.5'])
    })
  })

  describe('bad inventories: one clear line, exit 2', () => {
    async function oneLineError(args: string[], pattern: RegExp): Promise<void> {
      const r = await cli(args)
      expect(r.exitCode, r.stdout + r.stderr).to.equal(2)
      const lines = r.stderr.trim().split('\n')
      expect(lines[0]).to.match(/^Error: /)
      expect(lines[0]).to.match(pattern)
      expect(lines.filter(l => l.startsWith('Error:'))).to.have.length(1)
      expect(r.stderr).to.not.match(/\n\s+at /) // no stack
    }

    it('an unknown pod', async () => {
      await oneLineError(['trace', 'nope', 'db-0', '--snapshot', join(FIXTURES, 'vxlan-paste')], /unknown source "nope"/)
    })

    it('a node whose namespace does not exist', async () => {
      const f = join(tmp, 'gone.yaml')
      await writeFile(f, 'nodes:\n  - name: w1\n    exec: netns:fcc-does-not-exist\n')
      await oneLineError(['trace', 'a', 'b', '--inventory', f], /cannot read host 'w1' \(netns:fcc-does-not-exist\)/)
      await oneLineError(['doctor', '--inventory', f], /cannot read host 'w1'/)
      // collect keeps what it can read; of no host, a snapshot is no use
      await oneLineError(['collect', '--inventory', f, '--out', join(tmp, 'none-read')], /cannot read host 'w1' \(netns:fcc-does-not-exist: .*\); no host could be read, so nothing is written to /)
      expect(await readdir(tmp)).to.not.include('none-read')
      // a pod's namespace: named a pod, not a host
      await writeFile(f, `nodes:\n  - name: w1\n    exec: local\npods:\n  - name: db-0\n    ip: 10.244.1.2\n    node: w1\n    netns: fcc-pod-gone\n`)
      await oneLineError(['trace', 'db-0', '10.244.1.3', '--inventory', f], /cannot read pod 'db-0' \(netns:fcc-pod-gone\)/)
    })

    it('an unparsable file names its line', async () => {
      const f = join(tmp, 'broken.yaml')
      await writeFile(f, 'nodes:\n  - name: w1\n    exec: netns:x\n   - name: w2\n')
      await oneLineError(['trace', 'a', 'b', '--inventory', f], /broken\.yaml line 4: not valid YAML or JSON/)
    })

    it('an unknown exec kind, a hostile name, a missing file', async () => {
      const f = join(tmp, 'kind.yaml')
      await writeFile(f, 'nodes:\n  - name: w1\n    exec: docker:w1\n')
      await oneLineError(['doctor', '--inventory', f], /line 3: node 'w1': exec kind 'docker' is unknown/)
      await writeFile(f, 'nodes:\n  - name: "w1; reboot"\n')
      await oneLineError(['collect', '--inventory', f, '--out', join(tmp, 'x')], /node name "w1; reboot" is not allowed/)
      await oneLineError(['trace', 'a', 'b', '--inventory', join(tmp, 'missing.yaml')], /cannot read inventory .*no such file/)
      // before: migrate read it on its own and said Node's "ENOENT: no such file or directory, open '…'"; a directory was "EISDIR: illegal operation on a directory, read" everywhere
      await oneLineError(['migrate', '--backend', 'host-gw', '--plan', '--inventory', join(tmp, 'missing.yaml')], /^Error: cannot read inventory .*missing\.yaml: no such file or directory$/)
      for (const cmd of [['trace', 'a', 'b'], ['migrate', '--backend', 'host-gw', '--plan']]) await oneLineError([...cmd, '--inventory', tmp], /^Error: cannot read inventory .*: is a directory$/)
    })

    it('two sources at once', async () => {
      const r = await cli(['trace', 'a', 'b', '--lab', name, '--snapshot', tmp])
      expect(r.exitCode).to.equal(2)
    })
  })

  it('a lab node\'s static peer (peer add) is its own: doctor --lab and doctor --snapshot call none of its entries stale', async () => {
    // before: STALE_ROUTE, STALE_NEIGH and STALE_FDB on n1 for it, with del fixes that cut the peer off
    const add = await cli(['lab', 'exec', '--name', name, 'n1', '--', 'flannelctl', 'peer', 'add', '--subnet', '10.244.250.0/24', '--public-ip', '192.168.100.60', '--vtep-mac', '02:00:00:00:00:60'])
    expect(add.exitCode, add.stderr).to.equal(0)
    try {
      const stale = (out: string) => (JSON.parse(out).findings as {code: string; node: string}[]).filter(f => f.code.startsWith('STALE_')).map(f => `${f.code} ${f.node}`)
      const live = await cli(['doctor', '--lab', name, '--json'])
      expect(stale(live.stdout), live.stderr).to.deep.equal([])
      const dir = join(tmp, 'static')
      const c = await cli(['collect', '--lab', name, '--out', dir])
      expect(c.exitCode, c.stderr).to.equal(0)
      expect(JSON.parse(await readFile(join(dir, 'store.json'), 'utf8')).staticPeers).to.deep.equal([{subnet: '10.244.250.0/24', publicIP: '192.168.100.60', vtepMAC: '02:00:00:00:00:60', node: 'n1'}])
      const offline = await cli(['doctor', '--snapshot', dir, '--json'])
      expect(stale(offline.stdout), offline.stderr).to.deep.equal([])
    } finally {
      await cli(['lab', 'exec', '--name', name, 'n1', '--', 'flannelctl', 'peer', 'remove', '--subnet', '10.244.250.0/24'])
    }
  })

  // last: it takes a pod's namespace away from the lab
  it('a lab pod\'s namespace gone: trace and doctor --lab say how to re-create the pod, not to fix an inventory there is none of; that brings it back', async () => {
    const gone = state.pods.find(p => p.node === 'n3')!
    await sh('ip', ['netns', 'del', gone.netns])
    for (const args of [['trace', state.pods[0].name, state.pods[1].name, '--lab', name], ['doctor', '--lab', name]]) {
      const r = await cli(args)
      expect(r.exitCode, r.stderr).to.equal(2)
      const [error, hint] = r.stderr.trim().split('\n')
      expect(error).to.equal(`Error: cannot read pod '${gone.name}' (netns:${gone.netns}): Cannot open network namespace "${gone.netns}": No such file or directory`)
      expect(hint).to.equal(`Hint: see \`ip netns list\`: a lab pod whose namespace is gone is re-created with flannelctl lab pod recreate ${gone.name} --name ${name}`)
    }
    const recreated = await cli(['lab', 'pod', 'recreate', gone.name, '--name', name])
    expect(recreated.exitCode, recreated.stderr).to.equal(0)
    expect(recreated.stdout).to.contain(`its namespace ${gone.netns} was gone and is made anew`)
    const again = await cli(['trace', state.pods[0].name, gone.name, '--lab', name])
    expect(again.exitCode, again.stdout + again.stderr).to.equal(0)
  })

  it('leaves no namespace of its own behind (sanity)', async () => {
    const left = (await sh('ip', ['netns', 'list'])).stdout
    expect(left).to.not.contain('fcc-does-not-exist')
  })
})
