/**
 * flannelctl as an agent on a real etcd, in a lab: `sync --watch` runs in every node namespace and
 * follows lease events within a second, resyncs periodically, rides out etcd going away (data path
 * untouched, retries with backoff, catches up) and the store being lost, and a store it cannot reach
 * or trust fails clearly and fast without touching the host.
 */
import {expect} from 'chai'
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {BIN, cli, inNs, sh, uniqueLab, type CliResult} from '../helpers/cli.js'
import {Lab, loadLab, nodeArgs, type LabNode, type LabState} from '../../src/services/lab.js'

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** what "fails within seconds" allows: a 3 s deadline, the process's start, and a busy machine */
const FAILS_FAST_MS = 20_000

/** Polls `check` every 100 ms until it holds; the elapsed ms, or an error naming what never happened. */
async function within(ms: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now()
  for (;;) {
    if (await check()) return Date.now() - start
    if (Date.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`)
    await sleep(100)
  }
}

interface PeerEntry {subnet: string; publicIP: string; mac: string}
const vtep = (subnet: string) => subnet.split('/')[0]
const leaseKey = (subnet: string) => `/coreos.com/network/subnets/${subnet.replace('/', '-')}`
const leaseValue = (p: PeerEntry) => JSON.stringify({PublicIP: p.publicIP, PublicIPv6: null, BackendType: 'vxlan', BackendData: {VNI: 1, VtepMAC: p.mac}})

/** Route, neighbour and fdb entry for one vxlan peer on one node, as flanneld writes them. */
async function peerState(node: LabNode, p: PeerEntry): Promise<{route: boolean; neigh: boolean; fdb: boolean; anyNeigh: boolean; anyFdb: boolean}> {
  const [route, neigh, fdb] = await Promise.all([
    inNs(node.netns, 'ip', 'route', 'show', p.subnet),
    inNs(node.netns, 'ip', 'neigh', 'show', 'dev', 'flannel.1'),
    inNs(node.netns, 'bridge', 'fdb', 'show', 'dev', 'flannel.1'),
  ])
  return {
    route: route.includes(`${p.subnet} via ${vtep(p.subnet)} dev flannel.1 onlink`),
    neigh: neigh.includes(`${vtep(p.subnet)} lladdr ${p.mac} PERMANENT`),
    fdb: fdb.includes(`${p.mac} dst ${p.publicIP} self permanent`),
    anyNeigh: neigh.split('\n').some(l => l.startsWith(`${vtep(p.subnet)} `)),
    anyFdb: fdb.includes(` dst ${p.publicIP} `),
  }
}

/** What a node's data path and flannelctl files are: to prove a failed command changed nothing. */
async function hostState(node: LabNode): Promise<string> {
  const parts = await Promise.all([
    inNs(node.netns, 'ip', '-d', 'link', 'show'),
    inNs(node.netns, 'ip', 'addr', 'show'),
    inNs(node.netns, 'ip', 'route', 'show', 'table', 'all'),
    inNs(node.netns, 'ip', 'neigh', 'show', 'nud', 'permanent'),
    inNs(node.netns, 'bridge', 'fdb', 'show'),
    inNs(node.netns, 'iptables-save'),
    ...['node.json', 'subnet.env', 'cni/10-flannel.conflist'].map(f => readFile(join(node.dir, f), 'utf8').catch(() => `(no ${f})`)),
  ])
  // counters and the bridge's timers change on their own
  return parts.join('\n').replace(/^# (Generated|Completed).*$/gm, '').replace(/\[\d+:\d+\]/g, '').replace(/(_timer)\s+[\d.]+/g, '$1')
}

/** The flannel-visible tables only (peer routes, VTEP neighbours, fdb). */
async function peerTables(node: LabNode): Promise<string> {
  return (await Promise.all([
    inNs(node.netns, 'ip', 'route', 'show', 'dev', 'flannel.1'),
    inNs(node.netns, 'ip', 'neigh', 'show', 'dev', 'flannel.1'),
    inNs(node.netns, 'bridge', 'fdb', 'show', 'dev', 'flannel.1'),
  ])).join('\n')
}

/** A `sync --watch` agent inside a node's namespace, bounded by timeout(1), output kept. */
class Agent {
  stdout = ''
  stderr = ''
  private readonly child: ChildProcess
  private readonly exited: Promise<void>
  constructor(readonly node: LabNode, state: LabState, intervalSeconds: number) {
    this.child = spawn('ip', ['netns', 'exec', node.netns, 'timeout', '240', process.execPath, BIN,
      'sync', '--watch', '--interval', String(intervalSeconds), ...nodeArgs(node, state)], {stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, NO_COLOR: '1'}})
    this.child.stdout!.on('data', (b: Buffer) => void (this.stdout += b.toString()))
    this.child.stderr!.on('data', (b: Buffer) => void (this.stderr += b.toString()))
    this.exited = new Promise(resolve => this.child.once('exit', () => resolve()))
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** stderr lines written since `from` (a length of stderr taken earlier) */
  linesSince(from: number, pattern: RegExp): string[] {
    return this.stderr.slice(from).split('\n').filter(l => pattern.test(l))
  }

  async stop(): Promise<void> {
    if (!this.running) return
    // ip netns exec became timeout(1), which passes SIGTERM on to the agent
    this.child.kill('SIGTERM')
    await Promise.race([this.exited, sleep(5000)])
    if (this.running) this.child.kill('SIGKILL')
  }
}

/** an agent's line when its rounds start failing: once, not once a retry */
const FAILING = /^sync: .*; the host keeps its network as it is \(routes, neighbours and fdb\) until a round succeeds, retrying after 0\.5, 1, 2, 4, then every 5 s, and says when it is in sync again; retry 1 in 0\.5 s$/
/** and when a round succeeds again */
const BACK = /^sync: in sync with etcd:\/\/192\.168\.100\.2:2379 again after (\d+) failed rounds \(\d+ s\): the store answers$/

describe('etcd agent: sync --watch on a real etcd (lab, real kernel)', function () {
  this.timeout(180_000)
  const name = uniqueLab('ea')
  const lab = new Lab()
  let state: LabState
  let etcdFrozen = false

  const etcdctl = (...args: string[]) => inNs(state.etcd!.netns, 'etcdctl', '--endpoints', 'http://127.0.0.1:2379', ...args)
  const pods = () => ({a: state.pods.find(p => p.node === 'n1')!, b: state.pods.find(p => p.node === 'n2')!})
  const ping = async () => {
    const {a, b} = pods()
    const [ab, ba] = await Promise.all([
      sh('ip', ['netns', 'exec', a.netns, 'ping', '-c', '1', '-W', '2', '-q', b.ip]),
      sh('ip', ['netns', 'exec', b.netns, 'ping', '-c', '1', '-W', '2', '-q', a.ip]),
    ])
    return ab.exitCode === 0 && ba.exitCode === 0
  }
  /** a flannelctl command inside a node namespace, timed */
  const timed = async (node: LabNode, args: string[]): Promise<CliResult & {ms: number}> => {
    const start = Date.now()
    const r = await cli(args, {netns: node.netns})
    return {...r, ms: Date.now() - start}
  }
  const nodeFiles = (node: LabNode) => ['--subnet-file', join(node.dir, 'subnet.env'), '--cni-conf-dir', join(node.dir, 'cni'), '--state-file', join(node.dir, 'node.json')]

  before(async () => {
    const r = await cli(['lab', 'up', '--name', name, '--nodes', '2', '--pods', '1', '--store', 'etcd'])
    expect(r.exitCode, r.stderr).to.equal(0)
    state = await loadLab(name)
  })

  after(async () => {
    if (etcdFrozen) await sh('kill', ['-CONT', String(state.etcd!.pid)])
    // lab down stops every process left in the lab's namespaces (etcd, agents, pings)
    await cli(['lab', 'down', '--name', name])
  })

  describe('agents with no periodic round in the test\'s time (--interval 3600)', () => {
    const agents: Agent[] = []

    before(async () => {
      agents.push(...state.nodes.map(n => new Agent(n, state, 3600)))
      await within(30_000, 'agents start', async () => agents.every(a => /lease 10\.244\./.test(a.stdout)))
      await sleep(500)
    })

    after(async () => {
      await Promise.all(agents.map(a => a.stop()))
    })

    it('follows a lease added, changed (VtepMAC) and deleted by hand through store events alone', async () => {
      const peer: PeerEntry = {subnet: '10.244.210.0/24', publicIP: '192.168.100.90', mac: '02:aa:00:00:00:01'}
      const everywhere = (want: (s: Awaited<ReturnType<typeof peerState>>) => boolean) =>
        async () => (await Promise.all(state.nodes.map(n => peerState(n, peer)))).every(want)

      await etcdctl('put', leaseKey(peer.subnet), leaseValue(peer))
      await within(20_000, 'route, neigh and fdb of the new lease', everywhere(s => s.route && s.neigh && s.fdb))

      const moved = {...peer, mac: '02:aa:00:00:00:02'}
      await etcdctl('put', leaseKey(peer.subnet), leaseValue(moved))
      await within(20_000, 'neigh and fdb follow the new VtepMAC', async () =>
        (await Promise.all(state.nodes.map(async n => {
          const now = await peerState(n, moved)
          const old = await peerState(n, peer)
          return now.route && now.neigh && now.fdb && !old.fdb
        }))).every(Boolean))

      await etcdctl('del', leaseKey(peer.subnet))
      await within(20_000, 'route, neigh and fdb of the deleted lease removed', everywhere(s => !s.route && !s.anyNeigh && !s.anyFdb))
      // no periodic round ran (--interval 3600): each change came with the store's watch (a round
      // prints once it has recorded its work, a moment after the tables show it)
      const storeEventRounds = (a: Agent) => a.stdout.match(/^sync \(store event\): /gm)?.length ?? 0
      await within(10_000, 'each agent printed its three store-event rounds', async () => agents.every(a => storeEventRounds(a) >= 3))
      for (const a of agents) expect(a.stdout).to.not.match(/^sync \((periodic resync|lease renewal|retry)\)/m)
    })
  })

  describe('agents running in every node', () => {
    const agents: Agent[] = []
    const INTERVAL = 3

    before(async () => {
      agents.push(...state.nodes.map(n => new Agent(n, state, INTERVAL)))
      // both have done their first round and opened their watch
      await within(30_000, 'agents start', async () => agents.every(a => /lease 10\.244\./.test(a.stdout)))
      await sleep(500)
    })

    after(async () => {
      await Promise.all(agents.map(a => a.stop()))
    })

    afterEach(function () {
      if (this.currentTest?.state === 'failed') for (const a of agents) console.log(`--- ${a.node.name} stderr\n${a.stderr.slice(-3000)}`)
    })

    it('resyncs periodically: a peer route removed behind its back (no store event) comes back', async () => {
      const [n1, n2] = state.nodes
      const route = `${n2.subnet} via ${vtep(n2.subnet!)} dev flannel.1 onlink`
      expect(await inNs(n1.netns, 'ip', 'route')).to.contain(route)
      await inNs(n1.netns, 'ip', 'route', 'del', n2.subnet!)
      await within(15_000, 'the periodic resync restores the route', async () => (await inNs(n1.netns, 'ip', 'route')).includes(route))
      // the agent says which round found the host changed by hand (it prints once it has recorded
      // its work, a moment after the route is back)
      const restoredByPeriodicRound = () => agents[0].stdout.split(/^(?=sync)/m).some(r => r.startsWith('sync (periodic resync): ') && r.includes(`route replace ${n2.subnet}`))
      await within(10_000, 'the periodic round that restored the route printed', async () => restoredByPeriodicRound())
      expect(await ping()).to.equal(true)
    })

    it('etcd stopped: says so at once and once, data path untouched, retries with a growing delay, says when it is back', async () => {
      const before = await Promise.all(state.nodes.map(peerTables))
      const marks = agents.map(a => a.stderr.length)
      await lab.stopEtcd(state)

      // before: quiet until a round failed, which with --interval 3600 was the watch's own redial;
      // now the lost watch wakes a round at once, and its failure is said
      await within(10_000, 'every agent says the store is unreachable', async () => agents.every((a, i) => a.linesSince(marks[i], FAILING).length === 1))
      // 0.5 + 1 + 2 + 4 + 5 s of retries, none of them said again
      await sleep(13_000)
      for (const [i, a] of agents.entries()) {
        const said = a.stderr.slice(marks[i]).trim().split('\n')
        expect(said, a.node.name).to.have.length(1)
        expect(said[0]).to.match(FAILING).and.match(/^sync: etcd at 192\.168\.100\.2:2379 is unreachable: connection refused \(ECONNREFUSED\)/)
        expect(a.running).to.equal(true)
      }
      expect(await Promise.all(state.nodes.map(peerTables))).to.deep.equal(before)
      expect(await ping(), 'pods still reach each other with etcd down').to.equal(true)

      await lab.restartEtcd(state)
      // written after the restart: the agents learn of it through their watch, redialled on its own
      const late: PeerEntry = {subnet: '10.244.211.0/24', publicIP: '192.168.100.91', mac: '02:aa:00:00:00:11'}
      await etcdctl('put', leaseKey(late.subnet), leaseValue(late))
      await within(15_000, 'the lease written after the restart reaches both nodes',
        async () => (await Promise.all(state.nodes.map(n => peerState(n, late)))).every(s => s.route && s.neigh && s.fdb))
      // an agent says so once it has recorded the round's work, a moment after the kernel has it
      await within(10_000, 'every agent says it is in sync again', async () => agents.every((a, i) => a.linesSince(marks[i], BACK).length > 0))
      for (const [i, a] of agents.entries()) {
        const back = a.linesSince(marks[i], BACK)
        expect(back, a.node.name).to.have.length(1)
        // the retries went on meanwhile, quietly: 0.5, 1, 2, 4, 5 s and more
        expect(Number(BACK.exec(back[0])![1])).to.be.at.least(5)
      }

      await etcdctl('del', leaseKey(late.subnet))
      await within(5000, 'the late lease removed again', async () =>
        (await Promise.all(state.nodes.map(n => peerState(n, late)))).every(s => !s.route))
    })

    it('store lost (etcd restarted empty): nothing removed meanwhile; once the config is back every node re-leases its own subnet, pods never stop', async () => {
      const config = (await etcdctl('get', '--print-value-only', '/coreos.com/network/config')).trim()
      const subnets = state.nodes.map(n => n.subnet!)
      const before = await Promise.all(state.nodes.map(peerTables))
      const {a, b} = pods()
      // 0.2 s apart for the whole loss and recovery; stopped with SIGINT, which makes ping print its counts
      const pinger = spawn('ip', ['netns', 'exec', a.netns, 'ping', '-i', '0.2', '-W', '1', '-w', '120', '-q', b.ip], {stdio: ['ignore', 'pipe', 'pipe']})
      let pingOut = ''
      pinger.stdout.on('data', (d: Buffer) => void (pingOut += d.toString()))
      const pingDone = new Promise(resolve => pinger.once('exit', resolve))
      try {
        const marks = agents.map(x => x.stderr.length)
        await lab.stopEtcd(state, {wipe: true})
        await lab.restartEtcd(state)
        expect(await etcdctl('get', '--prefix', '/coreos.com/network/')).to.equal('')
        // the operator's part, as with flanneld: the agents wait for a config, they do not invent one
        const waiting = /holds no network config/
        await within(40_000, 'every agent waits for a config', async () => agents.every((x, i) => x.linesSince(marks[i], waiting).length >= 1))
        // ...backing off (0.5, 1, 2, 4 s), saying it once
        await sleep(8000)
        for (const [i, x] of agents.entries()) expect(x.linesSince(marks[i], waiting), x.node.name).to.have.length(1)
        expect(await Promise.all(state.nodes.map(peerTables))).to.deep.equal(before)

        const outMarks = agents.map(x => x.stdout.length)
        await etcdctl('put', '/coreos.com/network/config', config)
        await within(10_000, 'both nodes leased again', async () =>
          (await etcdctl('get', '--prefix', '--keys-only', '/coreos.com/network/subnets/')).split('\n').filter(Boolean).length === 2)
        const stored = (await etcdctl('get', '--prefix', '/coreos.com/network/subnets/')).trim().split('\n')
        const leases: Record<string, string> = {}
        for (let i = 0; i < stored.length; i += 2) leases[stored[i]] = JSON.parse(stored[i + 1]).PublicIP
        // each node holds the subnet it had, under its own address, and nothing else is leased
        expect(leases).to.deep.equal(Object.fromEntries(state.nodes.map(n => [leaseKey(n.subnet!), n.underlayIP])))
        await within(5000, 'every node has its peer again', async () =>
          (await Promise.all(state.nodes.map(peerTables))).every((t, i) => t === before[i]))
        // the agents were in a 4-5 s backoff: their watch, on an etcd whose revision went back to 1,
        // woke them (a backoff round would say "retry")
        expect(agents.some((x, i) => /^sync \(store event\): /m.test(x.stdout.slice(outMarks[i]))), agents.map(x => x.stdout).join('\n')).to.equal(true)
        for (const n of state.nodes) expect(await readFile(join(n.dir, 'subnet.env'), 'utf8')).to.contain(`FLANNEL_SUBNET=${n.subnet!.replace('.0/', '.1/')}`)
        expect(state.nodes.map(n => n.subnet)).to.deep.equal(subnets)
        expect(agents.map(x => x.stdout).join('')).to.contain('the store had no lease for this host')
        await sleep(1000)
      } finally {
        pinger.kill('SIGINT')
        await Promise.race([pingDone, sleep(5000)])
      }
      const counts = /(\d+) packets transmitted, (\d+) received/.exec(pingOut)
      expect(counts, pingOut).to.not.equal(null)
      const [sent, received] = [Number(counts![1]), Number(counts![2])]
      expect(sent).to.be.above(20)
      // one probe may be in flight when SIGINT stops ping
      expect(sent - received, pingOut).to.be.at.most(1)
    })
  })

  describe('an agent whose periodic round is far off', () => {
    it('renews its own lease put back by hand with a short TTL before it expires: peers never lose the route to it', async () => {
      const [n1, n2] = state.nodes
      // n2's agent removes its route to n1 on the event of n1's lease expiring
      const agents = [n1, n2].map(n => new Agent(n, state, 300))
      try {
        await within(30_000, 'the agents start', async () => agents.every(a => /lease 10\.244\./.test(a.stdout)))
        // its first event round runs whatever the store says: let one go by
        await etcdctl('put', leaseKey('10.244.211.0/24'), leaseValue({subnet: '10.244.211.0/24', publicIP: '192.168.100.91', mac: '02:aa:00:00:00:03'}))
        await sleep(1000)
        const created = async () => (JSON.parse(await etcdctl('get', '-w', 'json', leaseKey(n1.subnet!))) as {kvs?: {create_revision: number}[]}).kvs?.[0]?.create_revision
        const createdBefore = await created()
        const value = (await etcdctl('get', '--print-value-only', leaseKey(n1.subnet!))).trim()
        const short = /lease (\w+) granted/.exec(await etcdctl('lease', 'grant', '3'))![1]
        await etcdctl('put', `--lease=${short}`, leaseKey(n1.subnet!), value)
        // past the 3 s TTL, with the periodic round minutes away: n2 keeps its route to n1 all along,
        // and n1's entry is the one put by hand, renewed (the same key, never deleted and leased again)
        const route = `${n1.subnet} via ${vtep(n1.subnet!)} dev flannel.1 onlink`
        for (let i = 0; i < 60; i++) {
          expect(await inNs(n2.netns, 'ip', 'route'), `n2's route to n1 after ${i * 100} ms`).to.contain(route)
          await sleep(100)
        }
        expect(await created()).to.equal(createdBefore)
      } finally {
        await Promise.all(agents.map(a => a.stop()))
        await etcdctl('del', leaseKey('10.244.211.0/24'))
      }
    })
  })

  describe('a store that cannot be reached fails fast and changes nothing', () => {
    // The bound proves the command gives up by itself (a client without a deadline waits until the
    // test's own timeout); it is loose because the suite runs files side by side on a busy machine.
    it('refused, silent and frozen etcd: init and sync fail within seconds, naming the endpoint and the cause', async () => {
      const n1 = state.nodes[0]
      const initArgs = ['init', '--network', '10.244.0.0/16', '--backend', 'vxlan', '--iface', 'eth0', '--yes', ...nodeFiles(n1)]
      const cases: {args: string[]; error: string}[] = [
        {args: ['sync', ...nodeFiles(n1), '--store', 'etcd://192.168.100.2:2399'], error: 'etcd at 192.168.100.2:2399 is unreachable: connection refused (ECONNREFUSED)'},
        // on-link, but nobody answers ARP: the connect would hang until the kernel gives up
        {args: [...initArgs, '--store', 'etcd://192.168.100.250:2379'], error: 'etcd at 192.168.100.250:2379 is unreachable: no answer within 3 s'},
      ]
      const before = await hostState(n1)
      for (const c of cases) {
        const r = await timed(n1, c.args)
        expect(r.exitCode, r.stderr).to.equal(3)
        expect(r.stderr.split('\n')[0]).to.equal(`Error: ${c.error}`)
        expect(r.stderr).to.match(/^Hint: check that etcd runs there/m)
        expect(r.ms, c.args.join(' ')).to.be.below(FAILS_FAST_MS)
      }
      // etcd accepts connections but answers nothing (stopped process, hung host)
      await sh('kill', ['-STOP', String(state.etcd!.pid)])
      etcdFrozen = true
      try {
        for (const args of [['sync', ...nodeFiles(n1)], [...initArgs, '--store', state.store]]) {
          const r = await timed(n1, args)
          expect(r.exitCode, r.stderr).to.equal(3)
          expect(r.stderr.split('\n')[0]).to.equal('Error: etcd at 192.168.100.2:2379 is unreachable: no answer within 3 s')
          expect(r.ms, args.join(' ')).to.be.below(FAILS_FAST_MS)
        }
      } finally {
        await sh('kill', ['-CONT', String(state.etcd!.pid)])
        etcdFrozen = false
      }
      expect(await hostState(n1)).to.equal(before)
      expect(await ping()).to.equal(true)
    })
  })

  describe('etcd over TLS with client certificates', () => {
    let dir: string
    let etcd: ChildProcess | undefined
    let port: number
    const file = (f: string) => join(dir, f)
    const openssl = async (...args: string[]) => {
      const r = await sh('openssl', args)
      if (r.exitCode !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`)
    }
    const tlsFlags = (ca: string, cert = 'client.crt', key = 'client.key') =>
      ['--etcd-cafile', file(ca), ...(cert ? ['--etcd-certfile', file(cert)] : []), ...(key ? ['--etcd-keyfile', file(key)] : [])]
    const inEtcdNs = (args: string[]) => cli(args, {netns: state.etcd!.netns})

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'flannelctl-tls-'))
      await writeFile(file('ext.cnf'), '[server]\nsubjectAltName = IP:127.0.0.1, IP:192.168.100.2\nextendedKeyUsage = serverAuth\n[client]\nextendedKeyUsage = clientAuth\n')
      const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
      // two CAs: "ca" signs etcd's and the client's certificates, "other" signs nothing here
      for (const ca of ['ca', 'other']) await openssl('req', '-x509', ...ec, '-keyout', file(`${ca}.key`), '-out', file(`${ca}.crt`), '-days', '1', '-subj', `/CN=flannelctl test ${ca}`)
      for (const who of ['server', 'client']) {
        await openssl('req', ...ec, '-keyout', file(`${who}.key`), '-out', file(`${who}.csr`), '-subj', `/CN=${who}`)
        await openssl('x509', '-req', '-in', file(`${who}.csr`), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial',
          '-out', file(`${who}.crt`), '-days', '1', '-extfile', file('ext.cnf'), '-extensions', who)
      }
      // a second etcd in the lab's etcd namespace: its ports are free there, whatever runs elsewhere;
      // below the ephemeral range (32768–60999), where the lab etcd's own client connections sit
      port = 10000 + Math.floor(Math.random() * 20000)
      const peer = port + 1
      etcd = spawn('ip', ['netns', 'exec', state.etcd!.netns, 'etcd', '--name', 'tls', '--data-dir', file('data'),
        '--listen-client-urls', `https://127.0.0.1:${port},https://192.168.100.2:${port}`, '--advertise-client-urls', `https://192.168.100.2:${port}`,
        '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
        '--initial-cluster', `tls=http://127.0.0.1:${peer}`, '--log-level', 'warn',
        '--cert-file', file('server.crt'), '--key-file', file('server.key'), '--client-cert-auth', '--trusted-ca-file', file('ca.crt')], {stdio: ['ignore', 'ignore', 'pipe']})
      // what etcd says, so that one that does not come up says why
      let said = ''
      etcd.stderr!.setEncoding('utf8').on('data', (t: string) => (said = (said + t).slice(-2000)))
      await within(20_000, 'TLS etcd serving', async () => {
        if (etcd!.exitCode !== null || etcd!.signalCode !== null) throw new Error(`the TLS etcd ended (${etcd!.exitCode ?? etcd!.signalCode}) on port ${port}: ${said}`)
        return (await sh('ip', ['netns', 'exec', state.etcd!.netns, 'etcdctl', '--endpoints', `https://127.0.0.1:${port}`, '--cacert', file('ca.crt'),
          '--cert', file('client.crt'), '--key', file('client.key'), 'endpoint', 'health'])).exitCode === 0
      }).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}; port ${port}; etcd said: ${said.trim() || '(nothing)'}`)
      })
    })

    after(async () => {
      if (etcd && etcd.exitCode === null && etcd.signalCode === null) {
        const exited = new Promise(resolve => etcd!.once('exit', resolve))
        etcd.kill('SIGTERM')
        await Promise.race([exited, sleep(5000)])
        if (etcd.exitCode === null && etcd.signalCode === null) etcd.kill('SIGKILL')
      }
      if (dir) await rm(dir, {recursive: true, force: true})
    })

    it('lease list works with the right CA, client certificate and key (and prints no warning)', async () => {
      const r = await inEtcdNs(['lease', 'list', '--store', `etcds://127.0.0.1:${port}`, ...tlsFlags('ca.crt')])
      expect(r.exitCode, r.stderr).to.equal(0)
      expect(r.stdout).to.contain('no leases')
      // nothing but the note that this (new) store holds no network config yet; its init names the store given, as init needs it
      expect(r.stderr).to.equal(`note: etcds://127.0.0.1:${port} holds no network config: check --store, or create one with flannelctl init --store etcds://127.0.0.1:${port} `
        + `--etcd-cafile ${file('ca.crt')} --etcd-certfile ${file('client.crt')} --etcd-keyfile ${file('client.key')} --network CIDR`)
    })

    it('a CA that did not sign the server certificate, a missing or mismatched client key: one line, a hint, exit 2, no stack, no key material', async () => {
      const keyBody = (await readFile(file('client.key'), 'utf8')).split('\n').filter(l => l && !l.startsWith('-----'))
      const cases: {flags: string[]; error: RegExp}[] = [
        {flags: tlsFlags('other.crt'), error: new RegExp(`^Error: etcd at 127\\.0\\.0\\.1:${port} presented a server certificate that the CA in --etcd-cafile ${file('other.crt')} does not verify: .+$`)},
        {flags: tlsFlags('ca.crt', '', ''), error: new RegExp(`^Error: etcd at 127\\.0\\.0\\.1:${port} rejected this client's certificate \\(none given\\): .+$`)},
        {flags: tlsFlags('ca.crt', 'client.crt', 'server.key'), error: /^Error: cannot use the etcd TLS files \(.*--etcd-keyfile \/.*server\.key\): key values mismatch$/},
        {flags: tlsFlags('ca.crt', 'client.crt', ''), error: /^Error: etcd client authentication needs both a certificate and its key \(got only --etcd-certfile\)$/},
      ]
      for (const c of cases) {
        const r = await inEtcdNs(['lease', 'list', '--store', `etcds://127.0.0.1:${port}`, ...c.flags])
        expect(r.exitCode, r.stderr).to.equal(2)
        const lines = r.stderr.trimEnd().split('\n')
        expect(lines, r.stderr).to.have.length(2)
        expect(lines[0]).to.match(c.error)
        expect(lines[1]).to.match(/^Hint: .*--etcd-/)
        for (const l of keyBody) expect(r.stderr).to.not.contain(l)
        expect(r.stderr).to.not.match(/BEGIN|    at /)
      }
    })

    it('init on a node with the wrong CA, or TLS towards a plain etcd: exit 2 and the host unchanged', async () => {
      const n1 = state.nodes[0]
      const before = await hostState(n1)
      const init = ['init', '--network', '10.244.0.0/16', '--iface', 'eth0', '--yes', ...nodeFiles(n1)]
      const wrongCa = await timed(n1, [...init, '--store', `etcds://192.168.100.2:${port}`, ...tlsFlags('other.crt')])
      expect(wrongCa.exitCode, wrongCa.stderr).to.equal(2)
      expect(wrongCa.stderr).to.match(new RegExp(`^Error: etcd at 192\\.168\\.100\\.2:${port} presented a server certificate that the CA in --etcd-cafile \\S+other\\.crt does not verify`))
      const plain = await timed(n1, ['sync', ...nodeFiles(n1), '--store', 'etcds://192.168.100.2:2379', ...tlsFlags('ca.crt')])
      expect(plain.exitCode, plain.stderr).to.equal(2)
      expect(plain.stderr).to.match(/^Error: etcd at 192\.168\.100\.2:2379 does not answer TLS/)
      expect(await hostState(n1)).to.equal(before)
      // and with the right files a node reaches it across the lab's underlay
      const ok = await timed(n1, ['lease', 'list', '--store', `etcds://192.168.100.2:${port}`, ...tlsFlags('ca.crt')])
      expect(ok.exitCode, ok.stderr).to.equal(0)
    })
  })
})
