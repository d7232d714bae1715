/**
 * Issue: crash safety. `kill -9` at every write: FLANNELCTL_KILL_AT=n SIGKILLs flannelctl right
 * before the n-th write command its host adapter applies (ip/bridge batch, iptables-restore,
 * sysctl, file write or removal). For n = 1, 2, … until a run completes without being killed, the
 * killed run is followed by a plain rerun, and the host must then be exactly what a never-killed
 * run made: same links, addresses, routes, neighbours, fdb, rules (no duplicates), files, state
 * file and store, no lock left behind, and the lease the killed run took kept. migrate (many
 * reconciles on many nodes) is crashed in a chain instead: every run dies before its second write.
 * Concurrency: parallel init against one store, parallel sync on one host, stale locks.
 *
 * Hosts are namespaces `fcr-…` with a veth `eth0`; peers are leases written straight into the
 * store (their underlay addresses are on eth0's segment), so no peer needs to exist.
 */
import {expect} from 'chai'
import {execa} from 'execa'
import {mkdir, readFile, readdir, rm, utimes, writeFile, mkdtemp} from 'node:fs/promises'
import {existsSync} from 'node:fs'
import {createHash} from 'node:crypto'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {BIN, addNodeNamespace, cli, uniqueLab} from '../helpers/cli.js'
import {comparableIptables} from '../helpers/iptables.js'

const KILL_AT = 'FLANNELCTL_KILL_AT'
const HOST_IP = '192.168.181.1'
const NETWORK = '10.244.0.0/16'

interface Run {stdout: string; stderr: string; exitCode?: number; signal?: string}

async function flannelctl(ns: string, args: string[], killAt?: number): Promise<Run> {
  const env: Record<string, string> = {NO_COLOR: '1'}
  if (killAt !== undefined) env[KILL_AT] = String(killAt)
  const r = await execa('ip', ['netns', 'exec', ns, process.execPath, BIN, ...args], {reject: false, env})
  return {stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode, signal: r.signal}
}

async function sh(file: string, ...args: string[]): Promise<string> {
  const r = await execa(file, args, {reject: false})
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr}`)
  return String(r.stdout)
}

const inNs = (ns: string, file: string, ...args: string[]) => sh('ip', 'netns', 'exec', ns, file, ...args)

function lease(publicIP: string, mac?: string, type = mac ? 'vxlan' : 'host-gw'): string {
  return JSON.stringify({PublicIP: publicIP, PublicIPv6: null, BackendType: type, ...(mac ? {BackendData: {VNI: 1, VtepMAC: mac}} : {})})
}

/** Peers before and after a change in the store: a moved VTEP, a peer gone, peers new, host-gw peers both ways. */
const PEERS_BEFORE: Record<string, string> = {
  '10.244.200.0-24': lease('192.168.181.2', '02:00:00:00:00:02'),
  '10.244.201.0-24': lease('192.168.181.3', '02:00:00:00:00:03'),
  '10.244.202.0-24': lease('192.168.181.4'),
}
const PEERS_AFTER: Record<string, string> = {
  '10.244.200.0-24': lease('192.168.181.2', '02:00:00:00:00:22'),
  '10.244.203.0-24': lease('192.168.181.5', '02:00:00:00:00:05'),
  '10.244.204.0-24': lease('192.168.181.6'),
}

/** One host namespace and its directory (store, subnet.env, conflist, state file). */
class Host {
  readonly dir: string
  constructor(readonly ns: string, root: string, readonly ip = HOST_IP) {
    this.dir = join(root, ns)
  }

  get storeDir(): string {
    return join(this.dir, 'store')
  }

  get args(): string[] {
    return ['--store', `file:${this.storeDir}`, '--subnet-file', join(this.dir, 'subnet.env'),
      '--cni-conf-dir', join(this.dir, 'cni'), '--state-file', join(this.dir, 'node.json')]
  }

  /** A fresh namespace with eth0 and an empty directory holding a store with the network and `peers`. */
  async fresh(peers: Record<string, string>): Promise<void> {
    await this.destroy()
    await addNodeNamespace(this.ns, `${this.ip}/24`)
    const net = join(this.storeDir, 'coreos.com', 'network')
    await mkdir(join(net, 'subnets'), {recursive: true})
    // A range of 99 subnets: a lease lost by a crash would come back as another one.
    await writeFile(join(net, 'config'), JSON.stringify({Network: NETWORK, SubnetMin: '10.244.1.0', SubnetMax: '10.244.99.0', Backend: {Type: 'vxlan'}}))
    await this.setPeers(peers)
  }

  async setPeers(peers: Record<string, string>): Promise<void> {
    const subnets = join(this.storeDir, 'coreos.com', 'network', 'subnets')
    for (const key of await readdir(subnets)) {
      const value = await readFile(join(subnets, key), 'utf8')
      if (JSON.parse(value).PublicIP !== this.ip) await rm(join(subnets, key))
    }
    for (const [key, value] of Object.entries(peers)) await writeFile(join(subnets, key), value)
  }

  async destroy(): Promise<void> {
    await execa('ip', ['netns', 'del', this.ns], {reject: false})
    await rm(this.dir, {recursive: true, force: true})
  }

  /** This host's lease in the store, if any. */
  async ownLease(): Promise<string[]> {
    const subnets = join(this.storeDir, 'coreos.com', 'network', 'subnets')
    const keys = existsSync(subnets) ? await readdir(subnets) : []
    const mine: string[] = []
    for (const key of keys) if (JSON.parse(await readFile(join(subnets, key), 'utf8')).PublicIP === this.ip) mine.push(key)
    return mine
  }

  async run(args: string[], killAt?: number): Promise<Run> {
    return flannelctl(this.ns, [...args, ...this.args], killAt)
  }

  async mustRun(args: string[]): Promise<Run> {
    const r = await this.run(args)
    expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).to.equal(0)
    return r
  }
}

const sha256 = (t: string) => createHash('sha256').update(t).digest('hex')

async function listTree(dir: string, prefix = ''): Promise<string[]> {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const e of (await readdir(dir, {withFileTypes: true})).sort((a, b) => a.name.localeCompare(b.name))) {
    out.push(prefix + e.name + (e.isDirectory() ? '/' : ''))
    if (e.isDirectory()) out.push(...await listTree(join(dir, e.name), `${prefix}${e.name}/`))
  }
  return out
}

/**
 * Everything flannelctl touches on a host, comparable across runs: this host's own subnet (random
 * within SubnetMin..SubnetMax) reads as 10.244.OWN.*; random MACs of bridges and veths are left out.
 */
async function stateOf(h: Host): Promise<Record<string, unknown>> {
  const [own] = await h.ownLease()
  const prefix = own ? own.replace(/0-24$/, '') : undefined
  const norm = (t: string) => (prefix ? t.split(prefix).join('10.244.OWN.') : t)
  const j = async (file: string, ...args: string[]) => JSON.parse(await inNs(h.ns, file, '-j', ...args)) as Record<string, unknown>[]
  const [links, addrs, routes, neigh, fdb] = await Promise.all([
    j('ip', '-d', 'link', 'show'), j('ip', '-4', 'addr', 'show'), j('ip', '-4', 'route', 'show', 'table', 'all'),
    j('ip', '-4', 'neigh', 'show', 'nud', 'permanent'), j('bridge', 'fdb', 'show'),
  ])
  const save = await inNs(h.ns, 'iptables-save')
  const rules = comparableIptables(save)
  const appended = rules.filter(l => l.startsWith('-A '))
  expect(new Set(appended).size, `duplicate rules:\n${save}`).to.equal(appended.length)
  const file = async (path: string) => (existsSync(path) ? norm(await readFile(path, 'utf8')) : null)
  let record: Record<string, unknown> | null = null
  const recordPath = join(h.dir, 'node.json')
  if (existsSync(recordPath)) {
    record = JSON.parse(await readFile(recordPath, 'utf8'))
    delete record!.lastSync
    // The hashes of the files it wrote depend on the subnet: check them here, compare the rest.
    for (const path of [join(h.dir, 'subnet.env'), join(h.dir, 'cni', '10-flannel.conflist')]) {
      if (existsSync(path)) expect(record!.writtenFiles as string[], `hash of ${path} recorded`).to.include(sha256(await readFile(path, 'utf8')))
    }
    delete record!.writtenFiles
  }
  const subnetsDir = join(h.storeDir, 'coreos.com', 'network', 'subnets')
  const leases: Record<string, string> = {}
  for (const key of existsSync(subnetsDir) ? await readdir(subnetsDir) : []) leases[norm(key)] = norm(await readFile(join(subnetsDir, key), 'utf8'))
  const sorted = (xs: unknown[]) => xs.map(x => norm(JSON.stringify(x))).sort()
  return {
    links: sorted(links.map(l => {
      const info = l.linkinfo as {info_kind?: string; info_data?: Record<string, unknown>} | undefined
      const vxlan = info?.info_kind === 'vxlan'
        ? {address: l.address, id: info.info_data?.id, local: info.info_data?.local, link: info.info_data?.link, port: info.info_data?.port, learning: info.info_data?.learning}
        : {}
      return {ifname: l.ifname, kind: info?.info_kind ?? 'device', mtu: l.mtu, flags: l.flags, master: l.master, ...vxlan}
    })),
    addrs: sorted(addrs.map(a => ({dev: a.ifname, addr: (a.addr_info as {local: string; prefixlen: number}[]).map(x => `${x.local}/${x.prefixlen}`)}))),
    routes: sorted(routes),
    neigh: sorted(neigh),
    fdb: sorted(fdb.filter(f => String(f.ifname).startsWith('flannel.'))),
    iptables: norm(rules.join('\n')),
    // iptables-nft's tables too: iptables-save prints an empty one as it would a missing one
    nftTables: (await inNs(h.ns, 'nft', 'list', 'tables')).split('\n').filter(l => l.trim() !== '').sort(),
    forwarding: (await inNs(h.ns, 'cat', '/proc/sys/net/ipv4/ip_forward')).trim(),
    files: (await listTree(h.dir)).map(norm).sort(),
    subnetEnv: await file(join(h.dir, 'subnet.env')),
    conflist: await file(join(h.dir, 'cni', '10-flannel.conflist')),
    record: record && JSON.parse(norm(JSON.stringify(record))),
    leases,
  }
}

interface Scenario {
  /** builds the starting point, fresh, in the host */
  start: (h: Host) => Promise<void>
  command: string[]
}

/**
 * Reference first (never killed), then for n = 1, 2, …: start, kill at n, rerun, compare. Returns
 * the number of writes the command made (the last n is the first run nothing killed).
 */
async function everyKillPoint(h: Host, s: Scenario): Promise<number> {
  await s.start(h)
  await h.mustRun(s.command)
  const reference = await stateOf(h)
  for (let n = 1; n <= 40; n++) {
    await s.start(h)
    const killed = await h.run(s.command, n)
    if (killed.signal === undefined) {
      expect(killed.exitCode, killed.stderr).to.equal(0)
      expect(await stateOf(h), `${s.command[0]} that reached its end`).to.deep.equal(reference)
      return n - 1
    }
    expect(killed.signal, killed.stderr).to.equal('SIGKILL')
    const leaseAtKill = await h.ownLease()
    const rerun = await h.run(s.command)
    expect(rerun.exitCode, `rerun after a kill at write ${n}: ${rerun.stderr}`).to.equal(0)
    expect(await h.ownLease(), `the lease held when killed at write ${n}`).to.deep.equal(leaseAtKill.length ? leaseAtKill : await h.ownLease())
    expect(await stateOf(h), `${s.command[0]} killed at write ${n}, then rerun`).to.deep.equal(reference)
  }
  throw new Error(`${s.command.join(' ')} was still killed at write 40`)
}

describe('crash safety: kill -9 before every write, then rerun (real kernel)', function () {
  this.timeout(300000)
  const tag = uniqueLab('c')
  let root: string
  const hosts: Host[] = []
  const host = (name: string) => {
    const h = new Host(`fcr-${tag}-${name}`, root)
    hosts.push(h)
    return h
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'fcr-crash-'))
  })
  after(async () => {
    for (const h of hosts) await h.destroy()
    await rm(root, {recursive: true, force: true})
  })

  const init = ['init', '--network', NETWORK, '--iface', 'eth0']
  const initialised = async (h: Host) => {
    await h.fresh(PEERS_BEFORE)
    await h.mustRun(init)
  }

  it('init: every kill point converges to a never-killed init, with the same lease', async () => {
    const h = host('i')
    const writes = await everyKillPoint(h, {start: hh => hh.fresh(PEERS_BEFORE), command: init})
    // state, sysctl, links, fdb, neigh/routes, two iptables tables, two files, state again
    expect(writes).to.be.greaterThanOrEqual(8)
  })

  it('sync after the store changed: peers moved, gone and new, on vxlan and host-gw', async () => {
    const h = host('s')
    const writes = await everyKillPoint(h, {
      start: async hh => {
        await initialised(hh)
        await hh.setPeers(PEERS_AFTER)
      },
      command: ['sync'],
    })
    expect(writes).to.be.greaterThanOrEqual(5)
  })

  it('peer add: the host-gw route is recorded as owned before it is added', async () => {
    const h = host('p')
    const writes = await everyKillPoint(h, {
      start: initialised,
      command: ['peer', 'add', '--subnet', '10.244.210.0/24', '--public-ip', '192.168.181.9'],
    })
    expect(writes).to.be.greaterThanOrEqual(3)
    expect(await inNs(h.ns, 'ip', 'route')).to.contain('10.244.210.0/24 via 192.168.181.9 dev eth0')
  })

  it('reset: every kill point ends as the host was before init', async () => {
    const h = host('r')
    await h.fresh(PEERS_BEFORE)
    const pristine = await stateOf(h)
    const writes = await everyKillPoint(h, {
      start: async hh => {
        await initialised(hh)
        await hh.mustRun(['peer', 'add', '--subnet', '10.244.210.0/24', '--public-ip', '192.168.181.9'])
      },
      command: ['reset'],
    })
    // routes and links in one ip batch, both iptables-nft tables in one nft transaction, three files
    expect(writes).to.be.greaterThanOrEqual(5)
    const after = await stateOf(h)
    // Only the lease stays (reset keeps it unless --release); the rest is as before init.
    expect({...after, leases: undefined, files: undefined, forwarding: undefined}).to.deep.equal({...pristine, leases: undefined, files: undefined, forwarding: undefined})
    // The conflist's directory stays (it is /etc/cni/net.d, shared with other CNI configs).
    expect(after.files).to.deep.equal([...pristine.files as string[], 'cni/', 'store/coreos.com/network/subnets/10.244.OWN.0-24'].sort())
  })
})

describe('crash safety: kill -9 migrate after every write, both directions (2-node lab)', function () {
  this.timeout(300000)
  const name = uniqueLab('r')
  interface LabNode {name: string; netns: string; dir: string}
  let nodes: LabNode[] = []

  before(async () => {
    const r = await cli(['lab', 'up', '--name', name, '--nodes', '2', '--pods', '0', '--json'])
    expect(r.exitCode, r.stderr).to.equal(0)
    nodes = JSON.parse(r.stdout).nodes
  })
  after(async () => {
    await cli(['lab', 'down', '--name', name])
  })

  /** Each node's tables and record; subnets as S1, S2 by node order. */
  async function labState(): Promise<unknown[]> {
    const records = await Promise.all(nodes.map(async n => JSON.parse(await readFile(join(n.dir, 'node.json'), 'utf8'))))
    const subnets = records.map(r => String(r.subnet).replace(/0\/24$/, ''))
    const norm = (t: string) => subnets.reduce((acc, s, i) => acc.split(s).join(`S${i + 1}.`), t)
    return Promise.all(nodes.map(async (n, i) => {
      const j = async (file: string, ...args: string[]) => JSON.parse(await inNs(n.netns, file, '-j', ...args)) as Record<string, unknown>[]
      const [routes, links, neigh, fdb] = await Promise.all([j('ip', '-4', 'route', 'show'), j('ip', '-d', 'link', 'show'),
        j('ip', '-4', 'neigh', 'show', 'nud', 'permanent'), j('bridge', 'fdb', 'show')])
      const rp = await inNs(n.netns, 'sysctl', '-n', 'net.ipv4.conf.all.rp_filter', 'net.ipv4.conf.eth0.rp_filter')
      const record = {...records[i], lastSync: undefined, writtenFiles: undefined}
      const lockLeft = existsSync(join(n.dir, 'node.json.lock'))
      return norm(JSON.stringify({
        routes: routes.map(r => JSON.stringify(r)).sort(),
        links: links.map(l => `${l.ifname} ${(l.linkinfo as {info_kind?: string} | undefined)?.info_kind ?? ''} ${l.mtu} ${String(l.ifname).startsWith('flannel.') ? l.address : ''}`).sort(),
        neigh: neigh.map(x => JSON.stringify(x)).sort(),
        fdb: fdb.filter(f => String(f.ifname).startsWith('flannel.')).map(f => JSON.stringify(f)).sort(),
        iptables: (await inNs(n.netns, 'iptables-save')).split('\n').filter(l => l.startsWith('-A')),
        rp: rp.trim().split(/\s+/),
        record, lockLeft,
      }))
    }))
  }

  const migrate = (target: string[], env: Record<string, string> = {}, ...extra: string[]) =>
    execa(process.execPath, [BIN, 'migrate', '--lab', name, ...target, '--yes', ...extra], {reject: false, env: {NO_COLOR: '1', ...env}})

  /** Write commands in --verbose output: batches, restores, sysctl writes, file writes and removals. */
  const WRITE = /^\+ \[[^\]]+\] (sh -c|ip -batch|bridge -batch|iptables(-nft|-legacy)?-restore|sysctl -q -w|rm -f)/gm

  /** A never-killed migration to `target`: how many writes it made, and the state it left. */
  async function cleanRun(target: string[]): Promise<{writes: number; state: unknown[]}> {
    const r = await migrate(target, {}, '--verbose')
    expect(r.exitCode, String(r.stderr)).to.equal(0)
    return {writes: String(r.stderr).match(WRITE)?.length ?? 0, state: await labState()}
  }

  /** The migration to `target`, each run killed right before its second write, rerun until one completes; the runs killed. */
  async function killedChain(target: string[], writes: number): Promise<number> {
    let kills = 0
    for (;;) {
      const r = await migrate(target, {[KILL_AT]: '2'})
      if (r.signal === undefined) {
        expect(r.exitCode, String(r.stderr)).to.equal(0)
        break
      }
      expect(r.signal, String(r.stderr)).to.equal('SIGKILL')
      expect(++kills, `migrate ${target.join(' ')} still killed after ${kills} runs`).to.be.lessThan(writes + 10)
    }
    // one write per killed run: every write of the migration had a crash right after it
    expect(kills, `kills of migrate ${target.join(' ')} (${writes} writes)`).to.be.greaterThanOrEqual(writes - 1)
    return kills
  }

  /**
   * A migration is many runs of reconcile on many nodes, so it is crashed over and over instead: each
   * run is killed right before its second write, and the next run resumes from what the last one
   * left. The chain crashes the migration after every one of its writes in turn, and must end where
   * a never-killed migration ends.
   */
  it('killed after every write in turn, in both directions, it resumes to the state of a never-killed migration', async () => {
    const clean: Record<string, {writes: number; state: unknown[]}> = {}
    for (const backend of ['host-gw', 'vxlan']) clean[backend] = await cleanRun(['--backend', backend])
    expect(clean['host-gw'].state).to.not.deep.equal(clean.vxlan.state)
    for (const backend of ['host-gw', 'vxlan']) {
      const kills = await killedChain(['--backend', backend], clean[backend].writes)
      expect(await labState(), `migrate to ${backend}, killed ${kills} times`).to.deep.equal(clean[backend].state)
    }
  })

  it('a VNI change killed after every write in turn, both ways, resumes to the state of a never-killed one', async () => {
    const clean = {2: await cleanRun(['--vni', '2']), 1: await cleanRun(['--vni', '1'])}
    expect(clean[2].state).to.not.deep.equal(clean[1].state)
    for (const vni of [2, 1] as const) {
      const kills = await killedChain(['--vni', String(vni)], clean[vni].writes)
      expect(await labState(), `migrate --vni ${vni}, killed ${kills} times`).to.deep.equal(clean[vni].state)
    }
  })
})

describe('concurrency: one store, one state file, stale locks (real kernel)', function () {
  this.timeout(120000)
  const tag = uniqueLab('k')
  let root: string
  let hosts: Host[] = []

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'fcr-lock-'))
  })
  after(async () => {
    for (const h of hosts) await h.destroy()
    await rm(root, {recursive: true, force: true})
  })

  it('parallel init of four hosts on one file store: four distinct leases, all converged', async () => {
    hosts = ['a', 'b', 'c', 'd'].map((n, i) => new Host(`fcr-${tag}-${n}`, root, `192.168.181.${11 + i}`))
    await hosts[0].fresh({})
    const shared = hosts[0].storeDir
    // every host writes its own files but leases from the first host's store
    const args = (h: Host) => ['--store', `file:${shared}`, ...h.args.slice(2)]
    await Promise.all(hosts.slice(1).map(async h => {
      await h.fresh({})
      await rm(h.storeDir, {recursive: true, force: true})
    }))
    const runs = await Promise.all(hosts.map(h => flannelctl(h.ns, ['init', '--network', NETWORK, '--iface', 'eth0', '--json', ...args(h)])))
    for (const r of runs) expect(r.exitCode, r.stderr).to.equal(0)
    const subnets = runs.map(r => JSON.parse(r.stdout).lease.subnet as string)
    expect(new Set(subnets).size).to.equal(4)
    expect((await readdir(join(shared, 'coreos.com', 'network', 'subnets'))).length).to.equal(4)
    expect(existsSync(join(shared, 'flannelctl.lock'))).to.equal(false)
    // every one of them up to date afterwards
    for (const h of hosts) {
      const again = await flannelctl(h.ns, ['sync', '--json', ...args(h)])
      expect(again.exitCode, again.stderr).to.equal(0)
    }
  })

  it('parallel syncs of one host take turns: one repairs, the others find it up to date', async () => {
    const h = hosts[0]
    await inNs(h.ns, 'ip', 'link', 'del', 'flannel.1')
    await inNs(h.ns, 'ip', 'link', 'del', 'cni0')
    const shared = ['--store', `file:${h.storeDir}`, ...h.args.slice(2)]
    const runs = await Promise.all([1, 2, 3, 4].map(() => flannelctl(h.ns, ['sync', '--json', ...shared])))
    for (const r of runs) expect(r.exitCode, r.stderr).to.equal(0)
    const upToDate = runs.map(r => JSON.parse(r.stdout).upToDate as boolean)
    expect(upToDate.filter(u => !u), 'runs that applied changes').to.have.length(1)
    expect(await inNs(h.ns, 'ip', '-o', 'link', 'show')).to.match(/flannel\.1/)
    expect(existsSync(join(h.dir, 'node.json.lock'))).to.equal(false)
  })

  it('a lock held by a live process makes sync wait; locks of dead processes are taken over at once', async () => {
    const h = hosts[0]
    const shared = ['--store', `file:${h.storeDir}`, ...h.args.slice(2)]
    const lockPath = join(h.dir, 'node.json.lock')
    const {hostname} = await import('node:os')
    await writeFile(lockPath, JSON.stringify({pid: process.pid, host: hostname(), time: Date.now(), token: 'test'}))
    const started = Date.now()
    const waiting = flannelctl(h.ns, ['sync', ...shared])
    await new Promise(resolve => setTimeout(resolve, 2000))
    expect(existsSync(lockPath), 'still ours while sync waits').to.equal(true)
    await rm(lockPath)
    const r = await waiting
    expect(r.exitCode, r.stderr).to.equal(0)
    expect(Date.now() - started).to.be.greaterThan(2000)

    const dead = execa('true')
    await dead
    const deadLock = JSON.stringify({pid: dead.pid, host: hostname(), time: Date.now(), token: 'dead'})
    await writeFile(lockPath, deadLock)
    await writeFile(join(h.storeDir, 'flannelctl.lock'), deadLock)
    // leases renewed two hours ago: this sync must renew its own, so it needs the store's lock too
    const subnets = join(h.storeDir, 'coreos.com', 'network', 'subnets')
    const twoHoursAgo = (Date.now() - 2 * 3600_000) / 1000
    for (const f of await readdir(subnets)) await utimes(join(subnets, f), twoHoursAgo, twoHoursAgo)
    const t0 = Date.now()
    const after = await flannelctl(h.ns, ['sync', ...shared])
    expect(after.exitCode, after.stderr).to.equal(0)
    expect(Date.now() - t0, 'no wait for the 30 s staleness limit').to.be.lessThan(15000)
    expect(existsSync(lockPath)).to.equal(false)
    expect(existsSync(join(h.storeDir, 'flannelctl.lock'))).to.equal(false)
  })
})
