/**
 * A lab: flannel hosts as network namespaces on this machine. Each node is provisioned by running
 * the real `flannelctl init` inside its namespace; pods are made by the real CNI plugins from the
 * conflist init wrote. Every name carries the prefix `fc-<lab>-`, and `down` removes all of it.
 */
import {join} from 'node:path'
import {cliBin} from '../project-root.js'
import {readFile, readdir, writeFile, mkdir, rm} from 'node:fs/promises'
import {existsSync, statSync} from 'node:fs'
import {userError, FlannelctlError, ExitCode} from '../errors.js'
import {requireRoot} from './context.js'
import {RealRunner, Runner, Command, spawnDetached} from '../adapters/runner.js'
import {CONFLIST_NAME, parseSubnetEnv} from '../core/flannel.js'
import {cidrToString, parseCidr} from '../core/addr.js'
import type {Lease} from '../store/store.js'
import type {Fix} from '../core/trace/types.js'
import {leaseView, type LeaseView} from './lease.js'

export const LAB_ROOT = process.env.FLANNELCTL_LAB_DIR ?? '/run/flannelctl/labs'
export const CNI_BIN_DIR = process.env.CNI_PATH ?? '/usr/lib/cni'
export const POD_NETWORK = '10.244.0.0/16'
const SEGMENT_NET = ['192.168.100', '192.168.200']

export interface LabNode {
  name: string
  netns: string
  segment: number
  underlayIP: string
  subnet?: string
  dir: string
}

export interface LabPod {
  name: string
  netns: string
  node: string
  ip: string
}

export interface LabState {
  name: string
  prefix: string
  backend: string
  directRouting: boolean
  /** flannel's rules as native nftables (EnableNFTables in the net-conf) */
  nftables?: boolean
  segments: number
  store: string
  dir: string
  switches: string[]
  router?: string
  /** the lab's own etcd (lab up --store etcd): its namespace and pid */
  etcd?: {netns: string; pid: number; endpoint: string}
  nodes: LabNode[]
  pods: LabPod[]
}

export interface LabUpOptions {
  name: string
  nodes: number
  backend: 'vxlan' | 'host-gw'
  directRouting?: boolean
  /** "EnableNFTables": true in the lab's net-conf */
  nftables?: boolean
  segments: 1 | 2
  podsPerNode: number
  /** 'file' (default), 'etcd' (the lab runs its own etcd on the first segment), or a store spec */
  store?: string
  progress: (m: string) => void
}

export function labPrefix(name: string): string {
  return `fc-${name}-`
}

export function validateLabName(name: string): void {
  if (!/^[a-z][a-z0-9]{0,9}$/.test(name)) {
    throw userError(`lab name '${name}' is not allowed`, 'use 1-10 lowercase letters and digits, starting with a letter (e.g. demo)')
  }
}

function labDir(name: string): string {
  return join(LAB_ROOT, name)
}

/** A lab's hosts are network namespaces: entering or making one is root's, even to read it. */
export function requireLabRoot(lab: string, doing: string): void {
  requireRoot(`${doing} needs root: lab ${lab}'s hosts are network namespaces`, 'run it with sudo')
}

/** The labs whose lab.json is on this machine, by name. */
async function labsUp(): Promise<string[]> {
  const names = await readdir(LAB_ROOT).catch(() => [] as string[])
  return names.filter(n => existsSync(join(LAB_ROOT, n, 'lab.json'))).sort()
}

/**
 * `namedBy`: how the command being run names a lab, for the hint when none is up by that name: the
 * lab commands take --name (or FLANNELCTL_LAB), trace, doctor, collect and migrate take --lab.
 */
export async function loadLab(name: string, namedBy = '--name or FLANNELCTL_LAB'): Promise<LabState> {
  validateLabName(name)
  const path = join(labDir(name), 'lab.json')
  if (!existsSync(path)) {
    // a name misremembered, or the default taken because FLANNELCTL_LAB is unset: say which are up
    const up = await labsUp()
    const shown = up.length > 8 ? `${up.slice(0, 8).join(', ')}, … (${up.length} in all)` : up.join(', ')
    throw userError(`no lab named '${name}' is up`,
      `${up.length > 0 ? `labs up here: ${shown} (name one with ${namedBy}); or ` : ''}start one with: flannelctl lab up${labNameArg(name)}`)
  }
  const state = JSON.parse(await readFile(path, 'utf8')) as LabState
  // a node moved since lab up (reset --release, init) leases another subnet: its subnet.env says which
  for (const n of state.nodes) n.subnet = await leasedSubnet(n)
  return state
}

/**
 * Whether this process reaches the lab's store: a file store always; the lab's own etcd only from
 * inside one of the lab's namespaces (its address is on the lab's switch, not on this machine).
 */
export function reachesLabStore(state: LabState): boolean {
  if (!state.etcd) return true
  const inode = (path: string) => {
    try {
      return statSync(path).ino
    } catch {
      return undefined
    }
  }
  const here = inode('/proc/self/ns/net')
  return [state.etcd.netns, ...state.nodes.map(n => n.netns)].some(ns => inode(join('/run/netns', ns)) === here)
}

async function saveLab(state: LabState): Promise<void> {
  await writeFile(join(state.dir, 'lab.json'), JSON.stringify(state, null, 2) + '\n')
}

/** Whether pid is a live (not zombie) etcd serving this lab's data dir. */
async function isLabEtcd(pid: number, state: LabState): Promise<boolean> {
  if (!pid) return false
  try {
    const [cmdline, stat] = await Promise.all([readFile(`/proc/${pid}/cmdline`, 'utf8'), readFile(`/proc/${pid}/stat`, 'utf8')])
    const args = cmdline.split('\0')
    // stat's third field is the state; the process name before it may hold spaces, hence the last ')'
    const zombie = stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
    return !zombie && args.includes('--data-dir') && args[args.indexOf('--data-dir') + 1] === join(state.dir, 'etcd')
  } catch {
    return false
  }
}

export class Lab {
  constructor(private readonly runner: Runner = new RealRunner()) {}

  private async must(cmd: Command): Promise<string> {
    const r = await this.runner.run(cmd)
    if (r.exitCode !== 0) {
      throw new FlannelctlError(`${[cmd.file, ...cmd.args].join(' ')} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`,
        'the lab is half built: run flannelctl lab down, then try again', ExitCode.failed)
    }
    return r.stdout
  }

  private ip(...args: string[]): Promise<string> {
    return this.must({file: 'ip', args, write: true})
  }

  /** Run a program inside a lab namespace. */
  inNs(netns: string, file: string, args: string[], extra: Partial<Command> = {}): Promise<string> {
    return this.must({file: 'ip', args: ['netns', 'exec', netns, file, ...args], write: true, ...extra})
  }

  async flannelctl(node: LabNode, state: Pick<LabState, 'store'>, args: string[]): Promise<string> {
    return this.inNs(node.netns, process.execPath, [cliBin(), ...args, ...nodeArgs(node, state)])
  }

  /** The store's leases as a node sees them (a lab's etcd is reachable only from inside the lab). */
  async leases(state: LabState): Promise<Lease[]> {
    return (await this.storeView(state)).leases
  }

  /** `lease list --lab`: the lab's store as its nodes see it (its own etcd only from inside the lab, its address being on the lab's switch). */
  async leaseView(state: LabState): Promise<LeaseView> {
    return reachesLabStore(state) ? leaseView(state.store) : this.storeView(state)
  }

  /** The store's leases and the network's backend, read from inside the lab as its nodes read them; a failure is that lease list's own error. */
  async storeView(state: LabState): Promise<LeaseView> {
    const r = await this.runner.run({file: 'ip', args: ['netns', 'exec', state.nodes[0].netns, process.execPath, cliBin(), 'lease', 'list', '--json', '--store', state.store]})
    if (r.exitCode === 0) return JSON.parse(r.stdout) as LeaseView
    const said = (label: string) => new RegExp(`^${label}: (.*)$`, 'm').exec(r.stderr)?.[1]
    throw new FlannelctlError(said('Error') ?? `lease list inside ${state.nodes[0].netns} failed: ${(r.stderr || r.stdout).trim()}`,
      said('Hint') ?? `try it there: flannelctl lab exec${labNameArg(state.name)} ${state.nodes[0].name} -- flannelctl lease list`, r.exitCode === ExitCode.usage ? ExitCode.usage : ExitCode.failed)
  }

  async up(o: LabUpOptions): Promise<LabState> {
    validateLabName(o.name)
    requireLabRoot(o.name, 'lab up')
    if (o.nodes < 1 || o.nodes > 30) throw userError(`--nodes ${o.nodes} is out of range`, 'a lab has 1 to 30 nodes')
    if (o.backend === 'host-gw' && o.segments === 2) {
      o.progress('note: host-gw across two segments cannot reach peers behind the router (that is what this lab shows)')
    }
    const prefix = labPrefix(o.name)
    const existing = await this.namespaces(prefix)
    if (existing.length > 0 || existsSync(labDir(o.name))) {
      throw userError(`lab '${o.name}' already exists (${existing.length} namespaces)`, `remove it with: flannelctl lab down --name ${o.name}`)
    }
    const dir = labDir(o.name)
    await mkdir(dir, {recursive: true})
    const state: LabState = {
      name: o.name, prefix, backend: o.backend, directRouting: Boolean(o.directRouting), ...(o.nftables ? {nftables: true} : {}), segments: o.segments,
      store: o.store === undefined || o.store === 'file' ? `file:${join(dir, 'store')}` : o.store, dir, switches: [], nodes: [], pods: [],
    }
    await saveLab(state)

    o.progress(`lab ${o.name}: ${o.segments} segment${o.segments > 1 ? 's' : ''}, ${o.nodes} nodes`)
    for (let s = 1; s <= o.segments; s++) {
      const sw = `${prefix}sw${s}`
      await this.ip('netns', 'add', sw)
      await this.ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge')
      await this.ip('-n', sw, 'link', 'set', 'br0', 'up')
      state.switches.push(sw)
    }
    if (o.segments === 2) {
      const rt = `${prefix}rt`
      await this.ip('netns', 'add', rt)
      await this.ip('-n', rt, 'link', 'set', 'lo', 'up')
      for (let s = 1; s <= 2; s++) await this.plug(state.switches[s - 1], rt, `rt`, `eth${s}`, `${SEGMENT_NET[s - 1]}.1/24`)
      await this.inNs(rt, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'])
      state.router = rt
    }
    if (o.store === 'etcd') await this.startEtcd(state, o.progress)
    for (let i = 1; i <= o.nodes; i++) {
      const segment = o.segments === 2 && i > Math.ceil(o.nodes / 2) ? 2 : 1
      const node: LabNode = {name: `n${i}`, netns: `${prefix}n${i}`, segment, underlayIP: `${SEGMENT_NET[segment - 1]}.${10 + i}`, dir: join(dir, `n${i}`)}
      await mkdir(node.dir, {recursive: true})
      await this.ip('netns', 'add', node.netns)
      await this.ip('-n', node.netns, 'link', 'set', 'lo', 'up')
      await this.plug(state.switches[segment - 1], node.netns, node.name, 'eth0', `${node.underlayIP}/24`)
      if (o.segments === 2) await this.ip('-n', node.netns, 'route', 'add', 'default', 'via', `${SEGMENT_NET[segment - 1]}.1`)
      state.nodes.push(node)
    }
    await saveLab(state)

    o.progress('provisioning nodes with flannelctl init')
    const network = o.nftables
      ? ['--net-conf', JSON.stringify({Network: POD_NETWORK, Backend: {Type: o.backend, ...(o.directRouting ? {DirectRouting: true} : {})}, EnableNFTables: true})]
      : ['--network', POD_NETWORK, '--backend', o.backend, ...(o.directRouting ? ['--directrouting'] : [])]
    const initArgs = ['init', ...network, '--iface', 'eth0', '--yes']
    await Promise.all(state.nodes.map(n => this.flannelctl(n, state, initArgs)))
    // Nodes that came up before their peers learn of them on the next sync, as flanneld would on a watch event.
    await Promise.all(state.nodes.map(n => this.flannelctl(n, state, ['sync'])))
    for (const n of state.nodes) n.subnet = await leasedSubnet(n)
    await saveLab(state)

    o.progress('creating pods with the CNI bridge and host-local plugins')
    for (const n of state.nodes) {
      for (let p = 0; p < o.podsPerNode; p++) {
        const pod = `pod-${n.name.slice(1)}${String.fromCharCode(97 + p)}`
        const netns = `${prefix}${n.name}-${String.fromCharCode(97 + p)}`
        await this.ip('netns', 'add', netns)
        const ip = await this.cniAdd(n, netns)
        state.pods.push({name: pod, netns, node: n.name, ip})
        await saveLab(state)
      }
    }
    return state
  }

  /** etcd in a namespace of its own on segment 1, reachable from every node at 192.168.100.2:2379. */
  private async startEtcd(state: LabState, progress: (m: string) => void): Promise<void> {
    const netns = `${state.prefix}etcd`
    const ip = `${SEGMENT_NET[0]}.2`
    progress(`starting etcd at ${ip}:2379`)
    await this.ip('netns', 'add', netns)
    await this.ip('-n', netns, 'link', 'set', 'lo', 'up')
    await this.plug(state.switches[0], netns, 'etcd', 'eth0', `${ip}/24`)
    state.etcd = {netns, pid: 0, endpoint: `${ip}:2379`}
    state.store = `etcd://${ip}:2379`
    await this.runEtcd(state)
  }

  /**
   * Stop the lab's etcd (SIGTERM, bounded wait) and keep its namespace and data dir, as when a
   * store host goes down; restartEtcd brings it back. `wipe` also deletes the data: a store lost.
   */
  async stopEtcd(state: LabState, {wipe = false}: {wipe?: boolean} = {}): Promise<void> {
    const etcd = state.etcd
    if (!etcd) throw userError(`lab '${state.name}' has no etcd of its own`, `start one with: flannelctl lab up --name ${state.name} --store etcd`)
    // The pid is ours only while it still runs etcd on this lab's data dir: never signal a recycled pid.
    if (await isLabEtcd(etcd.pid, state)) {
      await this.runner.run({file: 'kill', args: ['-TERM', String(etcd.pid)], write: true})
      for (let i = 0; i < 50 && await isLabEtcd(etcd.pid, state); i++) await new Promise(resolve => setTimeout(resolve, 100))
      if (await isLabEtcd(etcd.pid, state)) await this.runner.run({file: 'kill', args: ['-KILL', String(etcd.pid)], write: true})
    }
    if (wipe) await rm(join(state.dir, 'etcd'), {recursive: true, force: true})
  }

  /** Start the lab's etcd again in its namespace, on the same data dir (empty after a wipe). */
  async restartEtcd(state: LabState): Promise<void> {
    if (!state.etcd) throw userError(`lab '${state.name}' has no etcd of its own`, `start one with: flannelctl lab up --name ${state.name} --store etcd`)
    if (await isLabEtcd(state.etcd.pid, state)) return
    await this.runEtcd(state)
  }

  /** The etcd daemon itself: spawned detached in its namespace, recorded in lab.json, waited for. */
  private async runEtcd(state: LabState): Promise<void> {
    const {netns, endpoint} = state.etcd!
    const ip = endpoint.split(':')[0]
    const dataDir = join(state.dir, 'etcd')
    state.etcd!.pid = spawnDetached({kind: 'netns', name: netns}, 'etcd', ['--name', 'lab', '--data-dir', dataDir,
      '--listen-client-urls', `http://${ip}:2379,http://127.0.0.1:2379`, '--advertise-client-urls', `http://${ip}:2379`,
      '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
      '--initial-cluster', 'lab=http://127.0.0.1:2380', '--log-level', 'warn'], join(state.dir, 'etcd.log'))
    await saveLab(state)
    // Bounded wait for etcd to serve: 50 × 200 ms.
    for (let i = 0; i < 50; i++) {
      const r = await this.runner.run({file: 'ip', args: ['netns', 'exec', netns, 'etcdctl', '--endpoints', 'http://127.0.0.1:2379', 'endpoint', 'health']})
      if (r.exitCode === 0) return
      await new Promise(resolve => setTimeout(resolve, 200))
    }
    throw new FlannelctlError('the lab\'s etcd did not start within 10 s', `see ${join(state.dir, 'etcd.log')}, then flannelctl lab down --name ${state.name}`, ExitCode.failed)
  }

  /** A veth from a switch (or router) namespace into `ns`, named `ifname` there. */
  private async plug(sw: string, ns: string, label: string, ifname: string, cidr: string): Promise<void> {
    const swSide = `p-${label}-${ifname}`.slice(0, 15)
    await this.ip('-n', sw, 'link', 'add', swSide, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns)
    await this.ip('-n', sw, 'link', 'set', swSide, 'master', 'br0')
    await this.ip('-n', sw, 'link', 'set', swSide, 'up')
    await this.ip('-n', ns, 'addr', 'add', cidr, 'dev', ifname)
    await this.ip('-n', ns, 'link', 'set', ifname, 'up')
  }

  /** Run the conflist's plugin chain (ADD) for a pod, as a container runtime would. */
  private async cniAdd(node: LabNode, podNetns: string): Promise<string> {
    let prevResult: unknown
    for (const conf of await this.pluginConfs(node)) {
      const out = await this.cniPlugin(node, podNetns, 'ADD', prevResult ? {...conf, prevResult} : conf)
      prevResult = JSON.parse(out)
    }
    const ips = (prevResult as {ips?: {address: string}[]}).ips ?? []
    if (!ips[0]) throw new FlannelctlError(`CNI gave pod ${podNetns} no address`, 'check the conflist init wrote', ExitCode.failed)
    return ips[0].address.split('/')[0]
  }

  /**
   * The chain's DEL, last plugin first, as a runtime tears a pod down: host-local releases the
   * address it recorded for the pod (whatever range it came from), bridge deletes the pod's veth.
   */
  private async cniDel(node: LabNode, podNetns: string): Promise<void> {
    for (const conf of (await this.pluginConfs(node)).reverse()) await this.cniPlugin(node, podNetns, 'DEL', conf)
  }

  /** Each plugin's network config from the node's conflist, as a runtime hands it over. */
  private async pluginConfs(node: LabNode): Promise<Record<string, unknown>[]> {
    const conflist = JSON.parse(await readFile(join(node.dir, 'cni', CONFLIST_NAME), 'utf8')) as {name: string; cniVersion: string; plugins: Record<string, unknown>[]}
    return conflist.plugins.map(plugin => {
      const conf: Record<string, unknown> = {cniVersion: conflist.cniVersion, name: conflist.name, ...plugin}
      // host-local keeps its allocations on disk; one directory per lab node keeps nodes apart on one machine.
      // init names it in the conflist (--cni-ipam-dir); a conflist written before it did gets it here.
      if (conf.ipam && typeof conf.ipam === 'object') conf.ipam = {dataDir: join(node.dir, 'ipam'), ...conf.ipam as object}
      return conf
    })
  }

  private cniPlugin(node: LabNode, podNetns: string, command: 'ADD' | 'DEL', conf: Record<string, unknown>): Promise<string> {
    return this.inNs(node.netns, join(CNI_BIN_DIR, String(conf.type)), [], {
      input: JSON.stringify(conf),
      env: {CNI_COMMAND: command, CNI_CONTAINERID: podNetns, CNI_NETNS: `/run/netns/${podNetns}`, CNI_IFNAME: 'eth0', CNI_PATH: CNI_BIN_DIR},
    })
  }

  /**
   * Re-create a pod's network as a runtime does when the pod is re-created: CNI DEL, then ADD from
   * the conflist its node has now, so a pod left on the node's old subnet (reset --release, init)
   * gets an address in the new one. The pod's namespace stays; one that is gone is made anew, as a
   * runtime gives a re-created pod a new sandbox. lab.json gets its new address.
   */
  async recreatePod(state: LabState, podName: string): Promise<{pod: LabPod; node: LabNode; oldIP: string; newIP: string; newNamespace: boolean}> {
    requireLabRoot(state.name, 'lab pod recreate')
    const pod = state.pods.find(p => p.name === podName)
    if (pod === undefined) {
      throw userError(`lab '${state.name}' has no pod '${podName}'`, state.pods.length > 0 ? `its pods: ${state.pods.map(p => p.name).join(', ')}` : `it has none: lab up --name ${state.name} --pods N makes them`)
    }
    const node = state.nodes.find(n => n.name === pod.node)!
    if (!existsSync(join(node.dir, 'cni', CONFLIST_NAME))) {
      throw userError(`${node.name} has no CNI conflist: flannelctl is not set up there`, `set it up first: flannelctl lab exec${labNameArg(state.name)} ${node.name} -- flannelctl init --network ${POD_NETWORK} --iface eth0 --yes`)
    }
    const oldIP = pod.ip
    const newNamespace = !(await this.namespaces(pod.netns)).includes(pod.netns)
    try {
      if (newNamespace) await this.ip('netns', 'add', pod.netns)
      await this.cniDel(node, pod.netns)
      pod.ip = await this.cniAdd(node, pod.netns)
    } catch (error) {
      // not a half-built lab (must's hint): the pod is, and DEL and ADD again finish it (a DEL of what is gone succeeds)
      if (!(error instanceof FlannelctlError)) throw error
      throw new FlannelctlError(error.message, `run it again: ${labRecreateCommand(state.name, pod.name)}`, error.exitCode)
    }
    node.subnet = await leasedSubnet(node) ?? node.subnet
    await saveLab(state)
    return {pod, node, oldIP, newIP: pod.ip, newNamespace}
  }

  async namespaces(prefix: string): Promise<string[]> {
    const r = await this.runner.run({file: 'ip', args: ['netns', 'list']})
    return r.stdout.split('\n').map(l => l.split(' ')[0]).filter(n => n.startsWith(prefix))
  }

  /** Remove every namespace with the lab's prefix and the lab's directory; safe to run twice. */
  async down(name: string): Promise<string[]> {
    validateLabName(name)
    requireLabRoot(name, 'lab down')
    const prefix = labPrefix(name)
    const namespaces = await this.namespaces(prefix)
    // Pods first, then nodes, switches and the router: veths vanish with their namespace.
    const order = (n: string) => (/-n\d+-[a-z]$/.test(n) ? 0 : /-n\d+$/.test(n) ? 1 : 2)
    for (const ns of namespaces.sort((a, b) => order(a) - order(b))) {
      // A namespace lives on while a process runs in it (the lab's etcd, a forgotten ping): stop them first.
      const pids = (await this.runner.run({file: 'ip', args: ['netns', 'pids', ns]})).stdout.split('\n').filter(p => /^\d+$/.test(p))
      if (pids.length) await this.runner.run({file: 'kill', args: ['-KILL', ...pids], write: true})
      await this.runner.run({file: 'ip', args: ['netns', 'del', ns], write: true})
    }
    await rm(labDir(name), {recursive: true, force: true})
    return namespaces
  }

  /** Real pings between every pair of pods (bounded: one probe each, 1 s timeout, 8 at a time). */
  async pingMatrix(state: LabState): Promise<{from: string; to: string; ok: boolean}[]> {
    requireLabRoot(state.name, 'a ping between the lab\'s pods')
    const pairs = state.pods.flatMap(a => state.pods.filter(b => b !== a).map(b => ({a, b})))
    const results: {from: string; to: string; ok: boolean}[] = []
    const queue = [...pairs]
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const r = await this.runner.run({file: 'ip', args: ['netns', 'exec', next.a.netns, 'ping', '-c', '1', '-W', '1', '-q', next.b.ip]})
        results.push({from: next.a.name, to: next.b.name, ok: r.exitCode === 0})
      }
    }
    await Promise.all(Array.from({length: 8}, worker))
    return results
  }
}

/** The node's pod subnet as its subnet.env says (init and sync write it), undefined without one. */
async function leasedSubnet(node: LabNode): Promise<string | undefined> {
  const subnet = parseSubnetEnv(await readFile(join(node.dir, 'subnet.env'), 'utf8').catch(() => '')).FLANNEL_SUBNET
  return subnet === undefined ? undefined : cidrToString(parseCidr(subnet))
}

/** The lab a lab command works on when no --name is given (lab-flags.ts). */
export const DEFAULT_LAB = 'demo'

/** What a printed lab command needs to name `lab`: nothing for the default lab, else ` --name LAB`. */
export function labNameArg(lab: string): string {
  return lab === DEFAULT_LAB ? '' : ` --name ${lab}`
}

/** The command that re-creates a lab pod's network, run on this machine (`lab pod recreate`). */
export function labRecreateCommand(lab: string, pod: string): string {
  return `flannelctl lab pod recreate ${pod}${labNameArg(lab)}`
}

/**
 * A lab's fixes: "re-create the pod", which on a real host is the runtime's (kubectl, CNI), is a
 * command of the lab here, run from this machine.
 */
export function withLabCommands(fixes: Fix[], lab: string): Fix[] {
  return fixes.map(f => f.recreates === undefined ? f : {node: f.node, command: labRecreateCommand(lab, f.recreates), scope: 'lab', recreates: f.recreates})
}

export function nodeArgs(node: LabNode, state: Pick<LabState, 'store'>): string[] {
  return ['--store', state.store, '--subnet-file', join(node.dir, 'subnet.env'), '--cni-conf-dir', join(node.dir, 'cni'),
    '--cni-ipam-dir', join(node.dir, 'ipam'), '--state-file', join(node.dir, 'node.json')]
}

/** Environment that lets `flannelctl` run inside a lab node without flags (lab exec). */
export function nodeEnv(node: LabNode, state: Pick<LabState, 'store'>): Record<string, string> {
  return {
    FLANNELCTL_STORE: state.store,
    FLANNELD_SUBNET_FILE: join(node.dir, 'subnet.env'),
    FLANNELCTL_CNI_CONF_DIR: join(node.dir, 'cni'),
    FLANNELCTL_CNI_IPAM_DIR: join(node.dir, 'ipam'),
    FLANNELCTL_STATE_FILE: join(node.dir, 'node.json'),
    // every node shares the machine's hostname: collect and doctor name this one as the lab does
    FLANNELCTL_NODE_NAME: node.name,
    // the underlay lab up ran init on: a node has no default route, so init after a reset found none
    FLANNELD_IFACE: 'eth0',
  }
}

/** The lab up that builds this lab again (after lab down): its topology, backend and store as lab.json keeps them. */
export function labRebuildCommand(state: LabState): string {
  const podsPerNode = Math.max(0, ...state.nodes.map(n => state.pods.filter(p => p.node === n.name).length))
  const store = state.etcd ? ' --store etcd' : state.store === `file:${join(state.dir, 'store')}` ? '' : ` --store ${state.store}`
  return `flannelctl lab down --name ${state.name} && flannelctl lab up --name ${state.name} --nodes ${state.nodes.length} --pods ${podsPerNode}`
    + `${state.segments > 1 ? ` --segments ${state.segments}` : ''}${state.backend === 'vxlan' ? '' : ` --backend ${state.backend}`}`
    + `${state.directRouting ? ' --directrouting' : ''}${state.nftables ? ' --nftables' : ''}${store}`
}

/**
 * The lab's namespaces that `ip netns list` (existing) no longer shows, each with what it was: a
 * node's gone (ip netns del, a reboot) takes its links, routes and flannel's state with it, which
 * nothing but building the lab again brings back.
 */
export function missingLabNamespaces(state: LabState, existing: string[]): {what: string; netns: string}[] {
  const have = new Set(existing)
  const all = [
    ...state.nodes.map(n => ({what: `node ${n.name}`, netns: n.netns})),
    ...(state.router ? [{what: 'router rt', netns: state.router}] : []),
    ...state.switches.map(s => ({what: `switch ${s.slice(state.prefix.length)}`, netns: s})),
    ...(state.etcd ? [{what: 'etcd', netns: state.etcd.netns}] : []),
    ...state.pods.map(p => ({what: `pod ${p.name}`, netns: p.netns})),
  ]
  return all.filter(ns => !have.has(ns.netns))
}

/**
 * What brings the lab back when these namespaces are gone: pods alone are re-created one by one
 * (a new namespace and CNI ADD, as a runtime re-creates a pod); a node, switch, router or etcd
 * takes links, routes and flannel's state with it, so the lab is built again.
 */
export function labRepair(state: LabState, goneNetns: string[]): {podsOnly: boolean, command: string} {
  const pods = goneNetns.map(ns => state.pods.find(p => p.netns === ns))
  if (pods.length === 0 || pods.some(p => p === undefined)) return {podsOnly: false, command: labRebuildCommand(state)}
  return {podsOnly: true, command: pods.map(p => labRecreateCommand(state.name, p!.name)).join(' && ')}
}

export function findNamespace(state: LabState, name: string): string {
  const node = state.nodes.find(n => n.name === name)
  if (node) return node.netns
  const pod = state.pods.find(p => p.name === name)
  if (pod) return pod.netns
  if (name === 'rt' && state.router) return state.router
  const sw = state.switches.find(s => s.endsWith(name))
  if (sw) return sw
  throw userError(`lab '${state.name}' has no node or pod '${name}'`,
    `known: ${[...state.nodes.map(n => n.name), ...state.pods.map(p => p.name), ...(state.router ? ['rt'] : [])].join(', ')}`)
}
