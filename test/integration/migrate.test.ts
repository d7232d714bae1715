/**
 * Issue: migrate — change the backend of a running network without losing a packet. Real kernel,
 * real pings every 20 ms between pods on every pair of nodes, strict rp_filter on every node (what
 * makes a careless switch lose packets), and the end state compared with a freshly built lab.
 */
import {expect} from 'chai'
import {execa, type ResultPromise} from 'execa'
import {existsSync} from 'node:fs'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {cli, inNs, outputMatches, uniqueLab, ROOT} from '../helpers/cli.js'

interface LabNode {name: string; netns: string; underlayIP: string; subnet: string; dir: string}
interface LabPod {name: string; ip: string; netns: string; node: string}
interface Lab {name: string; store: string; dir: string; nodes: LabNode[]; pods: LabPod[]}

const KILL_ENV = 'FLANNELCTL_MIGRATE_KILL_AFTER'

async function labUp(name: string, ...args: string[]): Promise<Lab> {
  const r = await cli(['lab', 'up', '--name', name, '--nodes', '3', '--pods', '1', '--json', ...args])
  expect(r.exitCode, r.stderr).to.equal(0)
  return {...JSON.parse(r.stdout), name}
}

const storeDir = (lab: Lab) => lab.store.slice('file:'.length)
const configOf = async (lab: Lab) => JSON.parse(await readFile(join(storeDir(lab), 'coreos.com', 'network', 'config'), 'utf8'))
const leaseOf = async (lab: Lab, n: LabNode) =>
  JSON.parse(await readFile(join(storeDir(lab), 'coreos.com', 'network', 'subnets', n.subnet.replace('/', '-')), 'utf8'))
const migrationRecord = async (lab: Lab) => {
  const path = join(storeDir(lab), 'coreos.com', 'network', 'flannelctl', 'migration')
  return existsSync(path) ? JSON.parse(await readFile(path, 'utf8')) : undefined
}

/** The strictness a careless switch trips over: rp_filter=1 on all, eth0, flannel.1 and cni0. */
async function strictRpFilter(lab: Lab): Promise<void> {
  await Promise.all(lab.nodes.map(async n => {
    const links = JSON.parse(await inNs(n.netns, 'ip', '-j', 'link', 'show')) as {ifname: string}[]
    const devs = ['all', 'eth0', 'cni0', 'flannel/1'].filter(d => d === 'all' || links.some(l => l.ifname === d.replace('/', '.')))
    await inNs(n.netns, 'sysctl', '-q', '-w', ...devs.map(d => `net.ipv4.conf.${d}.rp_filter=1`))
  }))
}

async function rpFilterOf(n: LabNode): Promise<string> {
  return (await inNs(n.netns, 'sysctl', '-n', 'net.ipv4.conf.all.rp_filter', 'net.ipv4.conf.eth0.rp_filter', 'net.ipv4.conf.cni0.rp_filter')).trim().replace(/\s+/g, ' ')
}

interface PingLoss {pair: string; transmitted: number; lost: number[]}

/**
 * One ping every 20 ms from the pod on each node to the pod on every other node. A sequence number
 * with no reply is a lost packet; only the very last one may still be in flight when we stop.
 */
function startPings(lab: Lab): {stop: () => Promise<PingLoss[]>} {
  const pods = lab.nodes.map(n => lab.pods.find(p => p.node === n.name)!)
  const procs: {pair: string; proc: ResultPromise}[] = []
  for (const a of pods) {
    for (const b of pods) {
      if (a === b) continue
      procs.push({pair: `${a.name}→${b.name}`, proc: execa('ip', ['netns', 'exec', a.netns, 'ping', '-n', '-i', '0.02', '-W', '1', '-w', '150', b.ip], {reject: false})})
    }
  }
  return {
    async stop() {
      for (const p of procs) p.proc.kill('SIGINT')
      return Promise.all(procs.map(async ({pair, proc}) => {
        const out = String((await proc).stdout)
        const transmitted = Number(/(\d+) packets transmitted/.exec(out)?.[1] ?? 0)
        const replied = new Set([...out.matchAll(/bytes from .*icmp_seq=(\d+)/g)].map(m => Number(m[1])))
        const lost: number[] = []
        for (let seq = 1; seq < transmitted; seq++) if (!replied.has(seq)) lost.push(seq)
        return {pair, transmitted, lost}
      }))
    },
  }
}

/** Run `fn` under continuous pings; expect every pair to have pinged throughout and lost nothing. */
async function withoutLoss(lab: Lab, fn: () => Promise<void>): Promise<PingLoss[]> {
  const pings = startPings(lab)
  await new Promise(resolve => setTimeout(resolve, 600))
  try {
    await fn()
  } finally {
    await new Promise(resolve => setTimeout(resolve, 600))
  }
  const results = await pings.stop()
  for (const r of results) {
    expect(r.transmitted, `${r.pair} pinged`).to.be.greaterThan(40)
    expect(r.lost, `${r.pair}: lost icmp_seq ${r.lost.join(',')} of ${r.transmitted}`).to.deep.equal([])
  }
  return results
}

/** A `sync --watch` agent on every node (its periodic round once a minute: what it does within a test, the store's watch woke it for). */
function startAgents(lab: Lab) {
  return lab.nodes.map(n => execa('ip', ['netns', 'exec', n.netns, process.execPath, join(ROOT, 'bin', 'run.js'), 'sync', '--watch', '--interval', '60',
    '--store', lab.store, '--subnet-file', join(n.dir, 'subnet.env'), '--cni-conf-dir', join(n.dir, 'cni'), '--state-file', join(n.dir, 'node.json')],
  {reject: false, env: {NO_COLOR: '1'}}))
}

async function migrate(lab: Lab, args: string[], env: Record<string, string> = {}) {
  return cli(['migrate', '--lab', lab.name, ...args], {env})
}

async function expectMigrated(lab: Lab, args: string[]): Promise<void> {
  const r = await migrate(lab, [...args, '--yes'])
  expect(r.exitCode, r.stderr + r.stdout).to.equal(0)
}

/**
 * A node's network as flannelctl leaves it, comparable across labs: routes, links (without pod
 * veths), permanent neighbours and vxlan fdb entries, each node's subnet written as S<index>.
 */
async function stateOf(lab: Lab): Promise<Record<string, string[]>[]> {
  const subnetNames = (text: string) => lab.nodes.reduce((t, m, k) => t.split(m.subnet.replace(/0\/\d+$/, '')).join(`S${k + 1}.`), text)
  const normal = (xs: unknown[]) => xs.map(x => subnetNames(JSON.stringify(x))).sort()
  return Promise.all(lab.nodes.map(async n => {
    const j = async (file: string, ...args: string[]) => JSON.parse(await inNs(n.netns, file, '-j', ...args)) as Record<string, unknown>[]
    const [routes, links, neigh, fdb] = await Promise.all([j('ip', 'route', 'show'), j('ip', '-d', 'link', 'show'),
      j('ip', 'neigh', 'show', 'nud', 'permanent'), j('bridge', 'fdb', 'show')])
    // Pod veths (and their random MACs) are the CNI's, not flannelctl's; eth0 is the lab's underlay.
    const keptLinks = links.filter(l => !String(l.ifname).startsWith('veth')).map(l => {
      const info = l.linkinfo as {info_kind?: string; info_data?: Record<string, unknown>} | undefined
      const vxlan = info?.info_kind === 'vxlan' ? {address: l.address, ...pick(info.info_data ?? {}, ['id', 'local', 'link', 'port', 'learning'])} : {}
      return {ifname: l.ifname, kind: info?.info_kind ?? 'device', mtu: l.mtu, flags: l.flags, ...vxlan}
    })
    const keptFdb = fdb.filter(f => String(f.ifname).startsWith('flannel.')).map(f => pick(f, ['mac', 'ifname', 'dst', 'flags', 'state']))
    return {node: [n.name], routes: normal(routes), links: normal(keptLinks), neigh: normal(neigh), fdb: normal(keptFdb)}
  }))
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter(k => o[k] !== undefined).map(k => [k, o[k]]))
}

async function expectPingMatrixOk(lab: Lab): Promise<void> {
  const r = await cli(['lab', 'status', '--name', lab.name, '--ping', '--json'])
  const pings = JSON.parse(r.stdout).pings as {from: string; to: string; ok: boolean}[]
  expect(pings.filter(p => !p.ok).map(p => `${p.from}→${p.to}`)).to.deep.equal([])
}

/**
 * Another engineer builds `trace`; its verdict is checked once the command exists (and loads:
 * while it is being written its modules may not all be there yet).
 */
async function expectTraceDelivered(lab: Lab): Promise<void> {
  if (!existsSync(join(ROOT, 'src', 'commands', 'trace.ts'))) return
  if ((await cli(['trace', '--help'])).exitCode !== 0) return
  const [a, , c] = lab.nodes.map(n => lab.pods.find(p => p.node === n.name)!)
  const r = await cli(['trace', a.name, c.name, '--lab', lab.name, '--json'])
  expect(JSON.parse(r.stdout).disposition, r.stderr).to.equal('DELIVERED')
}

describe('migrate (3-node labs, real kernel, pings every 20 ms)', function () {
  this.timeout(240000)
  const names = {main: uniqueLab('m'), hostgw: uniqueLab('m'), seg: uniqueLab('m'), segRef: uniqueLab('m'), hostgwSeg: uniqueLab('m')}
  let main: Lab
  let hostgwRef: Lab
  let seg: Lab
  let segRef: Lab
  let hostgwSeg: Lab
  let vxlanState: Awaited<ReturnType<typeof stateOf>>
  let hostgwState: Awaited<ReturnType<typeof stateOf>>

  before(async () => {
    ;[main, hostgwRef, seg, segRef, hostgwSeg] = await Promise.all([
      labUp(names.main),
      labUp(names.hostgw, '--backend', 'host-gw'),
      labUp(names.seg, '--segments', '2'),
      labUp(names.segRef, '--segments', '2', '--directrouting'),
      labUp(names.hostgwSeg, '--backend', 'host-gw', '--segments', '2'),
    ])
    vxlanState = await stateOf(main)
    hostgwState = await stateOf(hostgwRef)
    await strictRpFilter(main)
    await strictRpFilter(seg)
  })
  after(async () => {
    await Promise.all(Object.values(names).map(name => cli(['lab', 'down', '--name', name])))
  })

  it('--plan lists each node\'s steps in the safe order and changes nothing', async () => {
    const before = await stateOf(main)
    const r = await migrate(main, ['--backend', 'host-gw', '--plan'])
    expect(r.exitCode, r.stderr).to.equal(0)
    const order = ['rp_filter → 2', 'peer routes → host-gw', 'net-conf Backend → host-gw', 'remove flannel.1', 'restore rp_filter', 'record the migration as done']
    const at = order.map(s => r.stdout.indexOf(s))
    expect(at.every(i => i >= 0), r.stdout).to.equal(true)
    expect([...at].sort((a, b) => a - b)).to.deep.equal(at)
    for (const n of main.nodes) expect(r.stdout).to.match(new RegExp(`\\d+\\. ${n.name} +peer routes → host-gw`))
    expect(r.stdout).to.include(`ip route replace ${main.nodes[1].subnet} via ${main.nodes[1].underlayIP} dev eth0`)
    expect(await stateOf(main)).to.deep.equal(before)
    expect(await migrationRecord(main)).to.equal(undefined)
    expect((await configOf(main)).Backend.Type).to.equal('vxlan')
  })

  it('--inventory naming each node\'s files (namespaces sharing one filesystem) plans as --lab does; without them it says why not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fcmi-'))
    try {
      const inventory = join(dir, 'nodes.yaml')
      await writeFile(inventory, `nodes:\n${main.nodes.map(n => `  - name: ${n.name}\n    exec: netns:${n.netns}\n    stateFile: ${join(n.dir, 'node.json')}\n    subnetFile: ${join(n.dir, 'subnet.env')}\n    cniConfDir: ${join(n.dir, 'cni')}\n`).join('')}`)
      const viaInventory = await cli(['migrate', '--inventory', inventory, '--store', main.store, '--backend', 'host-gw', '--plan'])
      expect(viaInventory.exitCode, viaInventory.stderr).to.equal(0)
      expect(viaInventory.stdout).to.equal((await migrate(main, ['--backend', 'host-gw', '--plan'])).stdout)
      await writeFile(inventory, `nodes:\n${main.nodes.map(n => `  - name: ${n.name}\n    exec: netns:${n.netns}\n`).join('')}`)
      // one --state-file for all: every node reads the first one's record
      const shared = await cli(['migrate', '--inventory', inventory, '--store', main.store, '--state-file', join(main.nodes[0].dir, 'node.json'), '--backend', 'host-gw', '--plan'])
      expect(shared.exitCode).to.equal(2)
      expect(shared.stderr).to.contain('both have the record of public IP').and.contain('given in the inventory (stateFile:')
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })

  it('vxlan → host-gw loses no ping and leaves each node as a fresh host-gw init does', async () => {
    await withoutLoss(main, () => expectMigrated(main, ['--backend', 'host-gw']))
    expect(await stateOf(main)).to.deep.equal(hostgwState)
    expect((await configOf(main)).Backend.Type).to.equal('host-gw')
    for (const n of main.nodes) {
      expect(await leaseOf(main, n)).to.deep.equal({PublicIP: n.underlayIP, PublicIPv6: null, BackendType: 'host-gw'})
      expect(await rpFilterOf(n), 'rp_filter restored').to.equal('1 1 1')
    }
    await expectPingMatrixOk(main)
    await expectTraceDelivered(main)
  })

  it('host-gw → vxlan loses no ping and leaves each node as a fresh vxlan init does', async () => {
    await strictRpFilter(main)
    await withoutLoss(main, () => expectMigrated(main, ['--backend', 'vxlan']))
    expect(await stateOf(main)).to.deep.equal(vxlanState)
    for (const n of main.nodes) {
      const [dev] = JSON.parse(await inNs(n.netns, 'ip', '-j', 'link', 'show', 'flannel.1'))
      expect(await leaseOf(main, n)).to.deep.equal({PublicIP: n.underlayIP, PublicIPv6: null, BackendType: 'vxlan', BackendData: {VNI: 1, VtepMAC: dev.address}})
      expect(await rpFilterOf(n)).to.equal('1 1 1')
    }
    await expectPingMatrixOk(main)
    await expectTraceDelivered(main)
    // a plain sync afterwards agrees with the migration
    for (const n of main.nodes) {
      const r = await cli(['lab', 'exec', '--name', main.name, n.name, '--', 'flannelctl', 'sync'])
      expect(r.stdout, r.stderr).to.include('up to date')
    }
  })

  it('the measurement sees loss: switching node by node with strict rp_filter (backend set + sync) drops pings', async () => {
    await strictRpFilter(main)
    const pings = startPings(main)
    await new Promise(resolve => setTimeout(resolve, 400))
    expect((await cli(['backend', 'set', 'host-gw', '--store', main.store])).exitCode).to.equal(0)
    for (const n of main.nodes) {
      await cli(['lab', 'exec', '--name', main.name, n.name, '--', 'flannelctl', 'sync'])
      await new Promise(resolve => setTimeout(resolve, 300))
    }
    const results = await pings.stop()
    expect(results.reduce((sum, r) => sum + r.lost.length, 0)).to.be.greaterThan(0)
    expect(await stateOf(main)).to.deep.equal(hostgwState)
  })

  it('killed midway (SIGKILL, twice), a rerun finishes host-gw → vxlan without loss; sync meanwhile keeps the transitional state', async () => {
    await strictRpFilter(main)
    await withoutLoss(main, async () => {
      const first = await migrate(main, ['--backend', 'vxlan', '--yes'], {[KILL_ENV]: '5'})
      expect(first.exitCode).to.not.equal(0)
      let rec = await migrationRecord(main)
      expect(rec.state).to.equal('running')
      expect(rec.done).to.equal(4)
      // an agent's sync while the migration is stopped must not undo it
      const n2 = main.nodes[1]
      const beforeSync = await inNs(n2.netns, 'ip', '-d', 'link', 'show', 'flannel.1')
      const s = await cli(['lab', 'exec', '--name', main.name, n2.name, '--', 'flannelctl', 'sync'])
      expect(s.exitCode, s.stderr).to.equal(0)
      expect(s.stdout).to.include('migration host-gw → vxlan in progress')
      expect(await inNs(n2.netns, 'ip', '-d', 'link', 'show', 'flannel.1')).to.equal(beforeSync)

      const second = await migrate(main, ['--backend', 'vxlan', '--yes'], {[KILL_ENV]: '11'})
      expect(second.exitCode).to.not.equal(0)
      expect(second.stderr).to.include('resuming migration')
      rec = await migrationRecord(main)
      expect(rec.done).to.equal(10)
      // another target while one is in progress is refused
      const other = await migrate(main, ['--backend', 'host-gw', '--yes'])
      expect(other.exitCode).to.equal(2)
      expect(other.stderr).to.include('in progress')
      await expectMigrated(main, ['--backend', 'vxlan'])
    })
    expect((await migrationRecord(main)).state).to.equal('done')
    expect(await stateOf(main)).to.deep.equal(vxlanState)
    for (const n of main.nodes) expect(await rpFilterOf(n)).to.equal('1 1 1')
  })

  it('--rollback of a migration killed halfway returns to the previous backend without loss', async () => {
    await withoutLoss(main, async () => {
      const killed = await migrate(main, ['--backend', 'host-gw', '--yes'], {[KILL_ENV]: '5'})
      expect(killed.exitCode).to.not.equal(0)
      // n1 and n2 route the host-gw way now, n3 still vxlan: a mixed network, still forwarding
      expect(await inNs(main.nodes[1].netns, 'ip', 'route', 'show', main.nodes[2].subnet)).to.include('dev eth0')
      expect(await inNs(main.nodes[2].netns, 'ip', 'route', 'show', main.nodes[0].subnet)).to.include('dev flannel.1')
      // status on a switched node: it routes host-gw, its lease still announces its kept VTEP
      const status = await cli(['lab', 'exec', '--name', main.name, main.nodes[1].name, '--', 'flannelctl', 'status', '--json'])
      const s = JSON.parse(status.stdout) as {backend: string; announced: string; devices: {name: string; present: boolean}[]}
      expect({backend: s.backend, announced: s.announced}).to.deep.equal({backend: 'host-gw', announced: 'vxlan'})
      expect(s.devices.map(d => [d.name, d.present])).to.deep.include(['flannel.1', true])
      await expectMigrated(main, ['--rollback'])
    })
    expect((await configOf(main)).Backend.Type).to.equal('vxlan')
    expect(await stateOf(main)).to.deep.equal(vxlanState)
    for (const n of main.nodes) expect(await rpFilterOf(n), 'the first migration\'s saved values').to.equal('1 1 1')
    await expectPingMatrixOk(main)
  })

  it('with sync --watch agents running on every node: migrate still loses nothing, and a plain backend change reaches them through the store\'s watch', async () => {
    const agents = startAgents(main)
    try {
      await new Promise(resolve => setTimeout(resolve, 1500))
      await withoutLoss(main, () => expectMigrated(main, ['--backend', 'host-gw']))
      expect(await stateOf(main)).to.deep.equal(hostgwState)

      expect((await cli(['backend', 'set', 'vxlan', '--store', main.store])).exitCode).to.equal(0)
      const n1 = main.nodes[0]
      let lease = await leaseOf(main, n1)
      for (let i = 0; i < 300 && lease.BackendType !== 'vxlan'; i++) {
        await new Promise(resolve => setTimeout(resolve, 100))
        lease = await leaseOf(main, n1)
      }
      const [dev] = JSON.parse(await inNs(n1.netns, 'ip', '-j', 'link', 'show', 'flannel.1'))
      expect(lease).to.deep.equal({PublicIP: n1.underlayIP, PublicIPv6: null, BackendType: 'vxlan', BackendData: {VNI: 1, VtepMAC: dev.address}})
    } finally {
      for (const a of agents) a.kill('SIGTERM')
      await Promise.all(agents)
    }
    // the round that moved n1 to vxlan was woken by the store's watch, not by its 60 s timer
    const out = (await agents[0]).stdout
    const last = out.split(/^(?=sync)/m).filter(r => r.startsWith('sync (')).at(-1) ?? ''
    expect(last.split('\n')[0], out).to.match(/^sync \(store event\): lease .* \(vxlan\)/)
  })

  it('two L2 segments: host-gw is refused before anything changes, naming the pairs; vxlan --directrouting works without loss', async () => {
    const before = await stateOf(seg)
    const refused = await migrate(seg, ['--backend', 'host-gw', '--yes'])
    expect(refused.exitCode).to.equal(2)
    const [n1, n2, n3] = seg.nodes
    expect(refused.stderr).to.include(`n1 → n3 (${n3.underlayIP} via`)
    expect(refused.stderr).to.include(`n3 → n2 (${n2.underlayIP} via`)
    expect(refused.stderr).to.not.include(`n1 → n2`)
    expect(refused.stderr).to.include('--backend vxlan --directrouting')
    expect(await stateOf(seg)).to.deep.equal(before)
    expect(await migrationRecord(seg)).to.equal(undefined)
    expect((await configOf(seg)).Backend.Type).to.equal('vxlan')
    for (const n of seg.nodes) expect(await rpFilterOf(n)).to.equal('1 1 1')

    await withoutLoss(seg, () => expectMigrated(seg, ['--backend', 'vxlan', '--directrouting']))
    expect(await stateOf(seg)).to.deep.equal(await stateOf(segRef))
    expect(await inNs(n1.netns, 'ip', 'route', 'show', n2.subnet)).to.include(`via ${n2.underlayIP} dev eth0`)
    expect(await inNs(n1.netns, 'ip', 'route', 'show', n3.subnet)).to.include('dev flannel.1 onlink')
    expect((await configOf(seg)).Backend).to.deep.include({Type: 'vxlan', DirectRouting: true})
    await expectPingMatrixOk(seg)
  })

  it('host-gw built across two segments: each node routes its own segment and says why not the other; doctor\'s fix (migrate) joins them', async () => {
    const [n1, n2, n3] = hostgwSeg.nodes
    const s = await cli(['lab', 'exec', '--name', hostgwSeg.name, n1.name, '--', 'flannelctl', 'sync'])
    expect(s.exitCode, s.stderr).to.equal(0)
    const said = s.stdout + s.stderr
    expect(said).to.include(`peer ${n3.subnet} (${n3.underlayIP}) is not on-link from eth0, so no route to it`)
    expect(said).to.not.include(`(${n2.underlayIP}) is not on-link`)
    expect(await inNs(n1.netns, 'ip', 'route', 'show', n2.subnet)).to.include(`via ${n2.underlayIP} dev eth0`)
    expect(await inNs(n1.netns, 'ip', 'route', 'show', n3.subnet)).to.equal('')
    expect(await inNs(n3.netns, 'ip', 'route', 'show', n1.subnet)).to.equal('')

    const doctor = await cli(['doctor', '--lab', hostgwSeg.name])
    expect(doctor.exitCode).to.equal(1)
    expect(doctor.stdout).to.include(`no route to n3's pod subnet ${n3.subnet}`)
    // run from here on the lab's nodes: inside one node (as the lab's other fixes) it would move that node alone
    expect(doctor.stdout).to.include(`flannelctl migrate --backend vxlan --directrouting --lab ${hostgwSeg.name} --yes`)
    expect(doctor.stdout).to.include('HOST -- COMMAND (a flannelctl migrate from here, as printed)')
    expect(doctor.stdout, 'a route the kernel refuses is no fix').to.not.include(`ip route replace ${n3.subnet} via ${n3.underlayIP} dev eth0`)

    await expectMigrated(hostgwSeg, ['--backend', 'vxlan', '--directrouting'])
    expect(await inNs(n1.netns, 'ip', 'route', 'show', n3.subnet)).to.include('dev flannel.1 onlink')
    await expectPingMatrixOk(hostgwSeg)
  })
})

describe('migrate stopped midway: Ctrl-C, a host joining, backend set', function () {
  this.timeout(120000)
  const name = uniqueLab('mj')
  let lab: Lab
  before(async () => {
    lab = await labUp(name)
  })
  after(async () => {
    await cli(['lab', 'down', '--name', name])
  })

  it('--dry-run is --plan: even beside --yes it prints the steps and changes nothing', async () => {
    const r = await migrate(lab, ['--backend', 'host-gw', '--dry-run', '--yes'])
    expect(r.exitCode, r.stderr).to.equal(0)
    expect(r.stdout).to.include('peer routes → host-gw')
    expect(await migrationRecord(lab)).to.equal(undefined)
    expect((await configOf(lab)).Backend.Type).to.equal('vxlan')
    // to the backend it already has: nothing to do, and the header still counts the nodes it read
    const same = await migrate(lab, ['--backend', 'vxlan', '--plan'])
    expect(same.stdout.split('\n')[0]).to.equal('migrate: vxlan → vxlan (3 nodes)')
    expect(same.stdout).to.include('note: the network already uses vxlan VNI 1 port 8472; `flannelctl sync` on each node converges it')
  })

  it('neither blocks the resume nor the rollback: both go on and name it', async () => {
    const killed = await migrate(lab, ['--backend', 'host-gw', '--yes'], {[KILL_ENV]: '5'})
    expect(killed.exitCode).to.not.equal(0)
    // a host outside the lab leases a subnet meanwhile (as init on a new machine does)
    const lease = join(storeDir(lab), 'coreos.com', 'network', 'subnets', '10.244.250.0-24')
    await writeFile(lease, JSON.stringify({PublicIP: '192.168.100.99', PublicIPv6: null, BackendType: 'vxlan', BackendData: {VNI: 1, VtepMAC: '02:00:00:00:00:99'}}))
    try {
      const fresh = await migrate(lab, ['--backend', 'vxlan', '--directrouting', '--yes'])
      expect(fresh.exitCode, 'another target is still refused').to.equal(2)
      const rollback = await migrate(lab, ['--rollback', '--yes'])
      expect(rollback.exitCode, rollback.stderr).to.equal(0)
      expect(rollback.stderr).to.include('10.244.250.0/24 (192.168.100.99) joined after this migration began and is not part of it')
      const again = await migrate(lab, ['--backend', 'host-gw', '--yes'])
      expect(again.exitCode, 'a new migration still needs every host').to.equal(2)
      expect(again.stderr).to.include('leases of hosts that are not being migrated: 10.244.250.0/24 (192.168.100.99)')
    } finally {
      await rm(lease, {force: true})
    }
    expect((await migrationRecord(lab)).state).to.equal('done')
    expect((await configOf(lab)).Backend.Type).to.equal('vxlan')
  })

  it('Ctrl-C stops between steps with the record saved and says how to resume; the rerun finishes', async () => {
    const run = execa(process.execPath, [join(ROOT, 'bin', 'run.js'), 'migrate', '--lab', lab.name, '--backend', 'vxlan', '--directrouting', '--yes', '--verbose'], {reject: false, env: {NO_COLOR: '1'}})
    await outputMatches(run.stderr!, /\[ ?4\/\d+\]/)
    run.kill('SIGINT')
    const r = await run
    expect(r.exitCode, String(r.stderr)).to.equal(130)
    expect(String(r.stderr)).to.match(/stopped by SIGINT.*; \d+ of \d+ steps are done/).and.include('run the same command again to resume')
    const rec = await migrationRecord(lab)
    expect(rec.state).to.equal('running')
    // the tables forward in the mixed state; the store says the migration is unfinished, and doctor and lease list say so
    const doctor = await cli(['doctor', '--lab', lab.name, '--json'])
    const finding = JSON.parse(doctor.stdout).findings.find((f: {code: string}) => f.code === 'MIGRATION_UNFINISHED')
    // the fix names the nodes doctor read: without them migrate would reconcile the host it runs on only
    expect(finding, doctor.stdout).to.deep.include({severity: 'warning', fix: [`flannelctl migrate --backend vxlan --directrouting --lab ${lab.name} --yes`]})
    // and it runs from here, not inside a lab host (its "node" is the store); an earlier test's
    // leftovers (a lease that joined) may give host fixes of their own
    const human = (await cli(['doctor', '--lab', lab.name])).stdout
    expect(human, human).to.include(`fix from here, once (store MIGRATION_UNFINISHED): flannelctl migrate --backend vxlan --directrouting --lab ${lab.name} --yes`)
    expect(human, human).to.include(`store MIGRATION_UNFINISHED: store ${lab.store}`)
    // the command is printed once, as the fix, not also in the message in a form without the lab
    expect(human.split('flannelctl migrate --backend vxlan --directrouting').length - 1, human).to.equal(1)
    expect(human, human).to.not.match(/lab exec --name \S+ file:/)
    expect(finding.message).to.match(/^a migration vxlan → vxlan \+ DirectRouting stopped after step \d+ of \d+: nodes forward in a mixed state until it finishes$/)
    const list = await cli(['lease', 'list', '--json', '--store', lab.store])
    expect(JSON.parse(list.stdout).migration).to.deep.include({from: 'vxlan', to: 'vxlan + DirectRouting', done: rec.done})
    await expectMigrated(lab, ['--backend', 'vxlan', '--directrouting'])
    expect(JSON.parse((await cli(['lease', 'list', '--json', '--store', lab.store])).stdout).migration).to.equal(null)
    expect((await migrationRecord(lab)).state).to.equal('done')
  })

  it('backend set is refused while a migration is stopped midway (its nodes follow the migration, whose commit would overwrite it)', async () => {
    const killed = await migrate(lab, ['--backend', 'host-gw', '--yes'], {[KILL_ENV]: '5'})
    expect(killed.exitCode).to.not.equal(0)
    const before = await configOf(lab)
    const set = await cli(['backend', 'set', 'vxlan', '--directrouting', '--port', '4789', '--store', lab.store])
    expect(set.exitCode).to.equal(2)
    expect(set.stderr).to.match(/a migration vxlan( \+ DirectRouting)? → host-gw across n1, n2, n3 is in progress/).and.include('finish it first: flannelctl migrate --backend host-gw --yes')
    // migrate on one host, without the nodes: refused, with the command that finishes it and the blank for the nodes
    const n1 = lab.nodes[0]
    const alone = await cli(['migrate', '--backend', 'host-gw', '--yes', '--state-file', join(n1.dir, 'node.json')], {netns: n1.netns})
    expect(alone.exitCode, alone.stderr).to.equal(2)
    expect(alone.stderr).to.include('flannelctl migrate --backend host-gw --lab NAME (or --inventory FILE) --yes; or roll it back: flannelctl migrate --rollback --lab NAME')
    expect(await configOf(lab)).to.deep.equal(before)
    await expectMigrated(lab, ['--backend', 'host-gw'])
    expect((await cli(['backend', 'set', 'vxlan', '--directrouting', '--store', lab.store])).exitCode, 'once it is done').to.equal(0)
  })

  it('a step failing on a node stops it, saying which step, that it is half-way and that the same command resumes; it does', async () => {
    const conflist = join(lab.nodes[1].dir, 'cni', '10-flannel.conflist')
    const ours = await readFile(conflist, 'utf8')
    await writeFile(conflist, '{"cniVersion":"0.3.1","name":"other","plugins":[]}')
    let r
    try {
      r = await migrate(lab, ['--backend', 'host-gw', '--yes'])
    } finally {
      await writeFile(conflist, ours)
    }
    expect(r.exitCode, r.stderr).to.equal(2)
    const [error, hint] = r.stderr.trim().split('\n').slice(-2)
    expect(error).to.match(/^Error: migration \S+ stopped at step (\d+) of \d+ \(n2: [^)]+\): .*10-flannel\.conflist was not written by flannelctl/)
    const step = /stopped at step (\d+)/.exec(error)![1]
    expect(hint).to.include(`move the file away, or pass --force to overwrite it; then run the same command again to resume at step ${step} (${Number(step) - 1} of`)
    const resumed = await migrate(lab, ['--backend', 'host-gw', '--yes'])
    expect(resumed.exitCode, resumed.stderr).to.equal(0)
    expect(resumed.stderr).to.include(`at step ${step} of`)
    expect((await configOf(lab)).Backend.Type).to.equal('host-gw')
  })
})

describe('migrate on a lab whose store is its own etcd (it answers only inside the lab)', function () {
  this.timeout(120000)
  const name = uniqueLab('me')
  let lab: Lab
  before(async () => {
    lab = await labUp(name, '--store', 'etcd')
  })
  after(async () => {
    await cli(['lab', 'down', '--name', name])
  })

  it('runs from this machine; a rollback cut short is finished by the same --rollback, not undone', async () => {
    await withoutLoss(lab, async () => {
      await expectMigrated(lab, ['--backend', 'host-gw'])
      const killed = await migrate(lab, ['--rollback', '--yes'], {[KILL_ENV]: '5'})
      expect(killed.exitCode, 'a SIGKILL inside the lab is reported as one').to.equal(137)
      const other = await migrate(lab, ['--backend', 'host-gw', '--yes'])
      expect(other.exitCode).to.equal(2)
      expect(other.stderr).to.include('a rollback host-gw → vxlan is in progress').and.include(`finish it: flannelctl migrate --rollback --lab ${name} --yes`)
      const again = await migrate(lab, ['--rollback', '--yes'])
      expect(again.exitCode, again.stderr).to.equal(0)
      expect(again.stdout).to.include('rollback: back to vxlan').and.include('resumed at step 5')
    })
    const [n1, n2] = lab.nodes
    expect(await inNs(n1.netns, 'ip', 'route', 'show', n2.subnet)).to.include('dev flannel.1 onlink')
    await expectPingMatrixOk(lab)
  })

  it('SIGTERM to the migrate on this machine reaches the run inside the lab, which stops between steps', async () => {
    const run = execa(process.execPath, [join(ROOT, 'bin', 'run.js'), 'migrate', '--lab', lab.name, '--backend', 'host-gw', '--yes', '--verbose'], {reject: false, env: {NO_COLOR: '1'}})
    await outputMatches(run.stderr!, /\[ ?3\/\d+\]/)
    run.kill('SIGTERM')
    const r = await run
    expect(r.exitCode, String(r.stderr)).to.equal(143)
    expect(String(r.stderr)).to.include('stopped by SIGTERM')
    await expectMigrated(lab, ['--backend', 'host-gw'])
    await expectMigrated(lab, ['--backend', 'vxlan'])
  })

  it('SIGINT to the migrate on this machine alone, without a terminal (a script\'s kill -INT), reaches the run inside the lab too', async () => {
    // its own session: no terminal whose Ctrl-C would reach the run inside as well
    const run = execa(process.execPath, [join(ROOT, 'bin', 'run.js'), 'migrate', '--lab', lab.name, '--backend', 'host-gw', '--yes', '--verbose'], {reject: false, detached: true, env: {NO_COLOR: '1'}})
    await outputMatches(run.stderr!, /\[ ?3\/\d+\]/)
    run.kill('SIGINT')
    const r = await run
    expect(r.exitCode, String(r.stderr)).to.equal(130)
    expect(String(r.stderr)).to.match(/stopped by SIGINT; \d+ of \d+ steps are done/)
    await expectMigrated(lab, ['--backend', 'host-gw'])
    await expectMigrated(lab, ['--backend', 'vxlan'])
  })

  it('two runs started at once: one migrates, the other changes nothing or hands over after its step; strict rp_filter is restored, not saved loosened', async () => {
    await strictRpFilter(lab)
    const runs = await withoutLoss(lab, async () => {
      const both = await Promise.all([migrate(lab, ['--backend', 'host-gw', '--yes']), migrate(lab, ['--backend', 'host-gw', '--yes'])])
      // Which of the two documented ways it goes depends on when the later one read the record:
      // before the first run's first write (its own first write fails: exit 2, nothing changed),
      // or after it (it resumes and takes the record over: the first stops after its step, exit 3).
      for (const r of both) {
        if (r.exitCode === 0) continue
        if (r.exitCode === 2) expect(r.stderr).to.include('another flannelctl migrate changed the migration record since this one read it; nothing was changed by this one')
        else expect({exit: r.exitCode, error: r.stderr.split('\n')[0]}).to.deep.equal({exit: 3, error: 'Error: another flannelctl migrate took this migration over while this one ran; this one stopped after its last step'})
      }
      expect(both.filter(r => r.exitCode === 0)).to.not.be.empty
    })
    expect(runs).to.not.be.empty
    for (const n of lab.nodes) expect(await rpFilterOf(n)).to.equal('1 1 1')
    expect(await inNs(lab.nodes[0].netns, 'ip', 'route', 'show', lab.nodes[1].subnet)).to.include(`via ${lab.nodes[1].underlayIP} dev eth0`)
  })
})

describe('migrate --vni (a 3-node vxlan lab, real kernel, strict rp_filter, pings every 20 ms)', function () {
  this.timeout(240000)
  const name = uniqueLab('fcvn')
  let lab: Lab
  let initial: Awaited<ReturnType<typeof stateOf>>
  /** the lab as built, its device on another VNI: the same MACs, addresses, routes and entries */
  const onVni = (vni: number) => JSON.parse(JSON.stringify(initial).replaceAll('flannel.1', `flannel.${vni}`).replaceAll('\\"id\\":1,', `\\"id\\":${vni},`))
  const vxlanDevices = async (n: LabNode) => (JSON.parse(await inNs(n.netns, 'ip', '-j', 'link', 'show', 'type', 'vxlan')) as {ifname: string}[]).map(l => l.ifname).sort()

  before(async () => {
    lab = await labUp(name)
    initial = await stateOf(lab)
    await strictRpFilter(lab)
  })
  after(async () => {
    await cli(['lab', 'down', '--name', name])
  })

  it('the measurement sees loss: backend set --vni, then sync node by node, drops pings; backend set says so and names migrate', async () => {
    const pings = startPings(lab)
    await new Promise(resolve => setTimeout(resolve, 400))
    const set = await cli(['backend', 'set', 'vxlan', '--vni', '2', '--store', lab.store])
    expect(set.exitCode).to.equal(0)
    expect(set.stdout).to.include('warning: the VNI changed from 1 to 2').and.include('flannelctl migrate --vni 2')
    for (const n of lab.nodes) {
      await cli(['lab', 'exec', '--name', lab.name, n.name, '--', 'flannelctl', 'sync'])
      await new Promise(resolve => setTimeout(resolve, 300))
    }
    const results = await pings.stop()
    expect(results.reduce((sum, r) => sum + r.lost.length, 0)).to.be.greaterThan(0)
    expect(await stateOf(lab)).to.deep.equal(onVni(2))
  })

  it('--plan builds flannel.5 beside flannel.2 on every node before the first route moves, and removes flannel.2 last', async () => {
    const r = await migrate(lab, ['--vni', '5', '--plan'])
    expect(r.exitCode, r.stderr).to.equal(0)
    expect(r.stdout).to.include('migrate: vxlan VNI 2 → vxlan VNI 5 (3 nodes)')
    const order = ['n3     create flannel.5 beside flannel.2', 'n1     peer routes → vxlan VNI 5', 'net-conf Backend → vxlan VNI 5', 'n1     remove flannel.2', 'restore rp_filter']
    const at = order.map(s => r.stdout.indexOf(s))
    expect(at.every(i => i >= 0), r.stdout).to.equal(true)
    expect([...at].sort((a, b) => a - b)).to.deep.equal(at)
    expect(await migrationRecord(lab)).to.equal(undefined)
  })

  it('loses no ping and leaves each node as built, on the new VNI: same VTEP MACs, leases announcing it, rp_filter restored', async () => {
    await withoutLoss(lab, () => expectMigrated(lab, ['--vni', '5']))
    expect(await stateOf(lab)).to.deep.equal(onVni(5))
    expect((await configOf(lab)).Backend).to.deep.include({Type: 'vxlan', VNI: 5})
    for (const n of lab.nodes) {
      const [dev] = JSON.parse(await inNs(n.netns, 'ip', '-j', 'link', 'show', 'flannel.5'))
      expect(await leaseOf(lab, n)).to.deep.equal({PublicIP: n.underlayIP, PublicIPv6: null, BackendType: 'vxlan', BackendData: {VNI: 5, VtepMAC: dev.address}})
      expect(await rpFilterOf(n)).to.equal('1 1 1')
      const r = await cli(['lab', 'exec', '--name', lab.name, n.name, '--', 'flannelctl', 'sync'])
      expect(r.stdout, r.stderr).to.include('up to date')
    }
    await expectPingMatrixOk(lab)
  })

  it('killed after a node switched, sync keeps both devices; the rerun finishes without loss', async () => {
    await withoutLoss(lab, async () => {
      // step 11: n2's peer routes moved to flannel.7 (n1 before it; n3 still on flannel.5)
      const first = await migrate(lab, ['--vni', '7', '--yes'], {[KILL_ENV]: '11'})
      expect(first.exitCode).to.not.equal(0)
      const rec = await migrationRecord(lab)
      expect(rec).to.deep.include({state: 'running', done: 10})
      for (const n of lab.nodes) expect(await vxlanDevices(n), n.name).to.deep.equal(['flannel.5', 'flannel.7'])
      const s = await cli(['lab', 'exec', '--name', lab.name, lab.nodes[2].name, '--', 'flannelctl', 'sync'])
      expect(s.stdout, s.stderr).to.include('routes the old way (vxlan VNI 5), keeping flannel.7 for peers that switched').and.include('up to date')
      await expectMigrated(lab, ['--vni', '7'])
    })
    expect(await stateOf(lab)).to.deep.equal(onVni(7))
  })

  it('--rollback of a VNI change killed halfway returns to the old VNI without loss', async () => {
    await withoutLoss(lab, async () => {
      const first = await migrate(lab, ['--vni', '9', '--yes'], {[KILL_ENV]: '11'})
      expect(first.exitCode).to.not.equal(0)
      await expectMigrated(lab, ['--rollback'])
    })
    expect(await stateOf(lab)).to.deep.equal(onVni(7))
    expect((await configOf(lab)).Backend).to.deep.include({VNI: 7})
    for (const n of lab.nodes) expect(await rpFilterOf(n)).to.equal('1 1 1')
  })

  it('with sync --watch agents on every node, woken by the record\'s writes and building the same states: no loss', async () => {
    const agents = startAgents(lab)
    try {
      await new Promise(resolve => setTimeout(resolve, 1500))
      await withoutLoss(lab, () => expectMigrated(lab, ['--vni', '11']))
    } finally {
      for (const a of agents) a.kill('SIGTERM')
      await Promise.all(agents)
    }
    expect(await stateOf(lab)).to.deep.equal(onVni(11))
  })

  it('a new port goes with a new VNI, without loss (alone it is refused: both devices would be one name); rolled back, the old port is back', async () => {
    const alone = await migrate(lab, ['--port', '4789', '--plan'])
    expect(alone.exitCode).to.equal(2)
    expect(alone.stderr).to.include('a new port alone cannot be changed without loss').and.include('migrate --vni 12 --port 4789')
    await withoutLoss(lab, () => expectMigrated(lab, ['--vni', '13', '--port', '4789']))
    expect(await stateOf(lab)).to.deep.equal(JSON.parse(JSON.stringify(onVni(13)).replaceAll('\\"port\\":8472', '\\"port\\":4789')))
    expect((await configOf(lab)).Backend).to.deep.include({VNI: 13, Port: 4789})
    await withoutLoss(lab, () => expectMigrated(lab, ['--rollback']))
    expect(await stateOf(lab)).to.deep.equal(onVni(11))
    expect((await configOf(lab)).Backend).to.deep.include({VNI: 11, Port: 8472})
    // the VNI kept, the port changed: the two migrations the refusal's hint names
    expect(alone.stderr).to.include('to keep VNI 11, migrate back to it after that (flannelctl migrate --vni 11 ...: the port stays 4789)')
    await withoutLoss(lab, () => expectMigrated(lab, ['--vni', '13', '--port', '4789']))
    await withoutLoss(lab, () => expectMigrated(lab, ['--vni', '11']))
    expect(await stateOf(lab)).to.deep.equal(JSON.parse(JSON.stringify(onVni(11)).replaceAll('\\"port\\":8472', '\\"port\\":4789')))
    expect((await configOf(lab)).Backend).to.deep.include({VNI: 11, Port: 4789})
  })
})
