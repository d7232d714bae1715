/**
 * `flannelctl bench`: how close flannelctl runs to what the kernel and the runtime allow. Every row
 * is a ratio against a limit measured in the same run on the same machine (never an absolute time
 * compared across machines), so a noisy 2-core box still gives comparable answers:
 *   sync      reconcile 0 → N peers, the no-change resync, the removal of N/2, in a scratch netns,
 *             against the same ip/bridge lines piped straight to `ip -batch -` / `bridge -batch -`
 *   startup   `flannelctl --version` / `--help` against `node -e 0`
 *   trace     `trace` over a generated 1000-node snapshot (a 1 s budget), `doctor` over 100 nodes
 *   core      parsers and IPAM on a large input against ten times a tenth of it (growth, bench-core.ts)
 *   dataplane iperf3 and ping pod-to-pod on host-gw and on vxlan against node-to-node on the underlay
 * Everything built lives in namespaces called fcbench-* (sync) or fc-b*-* (labs) and is removed
 * at the end, also when a step fails or the run is interrupted.
 */
import {join} from 'node:path'
import {mkdtemp, mkdir, readFile, rm, writeFile, unlink} from 'node:fs/promises'
import {existsSync, rmSync} from 'node:fs'
import {tmpdir, cpus, release, loadavg} from 'node:os'
import {randomBytes} from 'node:crypto'
import {performance} from 'node:perf_hooks'
import {FlannelctlError, ExitCode} from '../errors.js'
import {RealRunner, Runner, Command, CommandResult} from '../adapters/runner.js'
import {batchesOf} from '../adapters/host.js'
import type {Op} from '../core/ops.js'
import {intToIp, ipToInt} from '../core/addr.js'
import {leaseToJson, keyOfSubnet, openStore} from '../store/store.js'
import {reconcile, type NodeOptions} from './node.js'
import {NodeAgent} from './agent.js'
import {commandRunner, requireRoot, type ServiceContext} from './context.js'
import {Lab, type LabState} from './lab.js'
import {benchCore} from './bench-core.js'
import {bundleDir, cliBin} from '../project-root.js'

// ---------------------------------------------------------------------------------------------
// Pure parts: rows, ratios, verdicts (unit-tested)

export type BenchSection = 'sync' | 'startup' | 'trace' | 'core' | 'dataplane'
export const ALL_SECTIONS: BenchSection[] = ['sync', 'startup', 'trace', 'core', 'dataplane']

/** `max`: the ratio must not exceed `value` (costs); `min`: it must reach `value` (throughput). */
export interface Goal {
  kind: 'max' | 'min'
  value: number
}

export type Verdict = 'met' | 'missed' | 'info' | 'n/a'

export interface BenchRow {
  id: string
  section: BenchSection
  what: string
  unit: 'ms' | 'µs' | 'Mbit/s'
  /** median of the samples; null when the row could not be measured */
  measured: number | null
  /** the reference the ratio is taken against, measured in the same run (or a fixed budget) */
  limit: number | null
  limitWhat: string
  ratio: number | null
  goal?: Goal
  verdict: Verdict
  samples?: number[]
  limitSamples?: number[]
  breakdown?: SyncBreakdown
  note?: string
}

export function median(xs: number[]): number {
  return quantile(xs, 0.5)
}

/** The q-quantile (0..1) with linear interpolation between the sorted samples; NaN of none. */
export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const at = (s.length - 1) * q
  const lo = Math.floor(at)
  return lo + 1 < s.length ? s[lo] + (s[lo + 1] - s[lo]) * (at - lo) : s[lo]
}

export function ratioOf(measured: number | null, limit: number | null): number | null {
  if (measured === null || limit === null || !Number.isFinite(measured) || !Number.isFinite(limit) || limit <= 0) return null
  return measured / limit
}

export function verdictOf(ratio: number | null, goal: Goal | undefined): Verdict {
  if (ratio === null) return 'n/a'
  if (!goal) return 'info'
  return (goal.kind === 'max' ? ratio <= goal.value : ratio >= goal.value) ? 'met' : 'missed'
}

export function makeRow(r: Omit<BenchRow, 'ratio' | 'verdict' | 'measured' | 'limit'> & {samples?: number[]; limitSamples?: number[]; measured?: number | null; limit?: number | null}): BenchRow {
  const measured = r.measured !== undefined ? r.measured : r.samples?.length ? median(r.samples) : null
  const limit = r.limit !== undefined ? r.limit : r.limitSamples?.length ? median(r.limitSamples) : null
  const ratio = ratioOf(measured, limit)
  return {...r, measured, limit, ratio, verdict: verdictOf(ratio, r.goal)}
}

/** A row for something that is not there to measure (e.g. a command another engineer has not built yet). */
export function unavailableRow(r: Pick<BenchRow, 'id' | 'section' | 'what' | 'unit' | 'limitWhat' | 'goal'>, note: string): BenchRow {
  return {...r, measured: null, limit: null, ratio: null, verdict: 'n/a', note}
}

/** Where a sync's wall time went (medians, ms): the kernel batches, the record writes, everything else. */
export interface SyncBreakdown {
  apply: number
  record: number
  /** reading the host's tables and files, the store, planning */
  readAndPlan: number
}

export interface ScalePoint {
  backend: string
  peers: number
  /** add, resync, remove: one-shot `sync` (reads the host); agent-add, agent-one, agent-remove: `sync --watch` on a store event */
  step: 'add' | 'resync' | 'remove' | 'agent-add' | 'agent-one' | 'agent-remove'
  breakdown?: SyncBreakdown
  ms: number
  rawMs: number | null
  ratio: number | null
}

export interface BenchReport {
  version: 1
  startedAt: string
  durationMs: number
  /** loadAvg: 1-minute load average when the run started and ended (other work on the machine skews ratios too) */
  machine: {cpus: number; cpuModel: string; kernel: string; node: string; loadAvg?: {start: number; end: number}}
  options: {sections: BenchSection[]; peers: number; reps: number; startupRuns: number; scale: number[]}
  rows: BenchRow[]
  scale: ScalePoint[]
}

// ---------------------------------------------------------------------------------------------
// Running things

export interface BenchOptions {
  sections: BenchSection[]
  peers: number
  reps: number
  startupRuns: number
  /** extra peer counts for the sync growth table (docs/performance.md) */
  scale: number[]
  iperfSeconds: number
  progress: (msg: string) => void
  /** each sample as it is taken (--verbose); the programs themselves are not echoed, as that would be timed too */
  sample?: (msg: string) => void
}

type CleanupFn = () => Promise<void>

/**
 * Cleanups registered while building, run in reverse on success, failure or Ctrl-C. A stop (Ctrl-C,
 * a closed output) runs them while the bench's own work goes on until it fails, and that work's
 * `finally` asks again: every ask waits for the one run, so the process never exits halfway through
 * it, and what is built after the run began is removed at once. A temp directory is removed once
 * more as the process exits: the work still running beside a stop writes into it (lease files,
 * node.json) after rm has been through it, and nothing runs beside a handler of 'exit'.
 */
class Cleanups {
  private readonly fns: CleanupFn[] = []
  private readonly late: Promise<void>[] = []
  private run?: Promise<void>
  private readonly dirs = new Set<string>()
  private readonly removeDirsNow = () => {
    for (const dir of this.dirs) rmSync(dir, {recursive: true, force: true, maxRetries: 5, retryDelay: 20})
  }

  constructor() {
    process.on('exit', this.removeDirsNow)
  }

  add(fn: CleanupFn): void {
    if (this.run === undefined) this.fns.push(fn)
    else this.late.push(fn().catch(() => {}))
  }

  /** A new directory under the system's temp directory, removed with the rest */
  async tempDir(prefix: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix))
    this.dirs.add(dir)
    // kept in `dirs` after: on a stop, the work beside it may write into it again before the exit
    this.add(() => rm(dir, {recursive: true, force: true, maxRetries: 5, retryDelay: 20}))
    return dir
  }

  async runAll(): Promise<void> {
    this.run ??= (async () => {
      while (this.fns.length) await this.fns.pop()!().catch(() => {})
    })()
    await this.run
    await Promise.all(this.late)
  }

  /** After runAll on the way out of a bench that was not stopped: its directories are gone. */
  dispose(): void {
    process.off('exit', this.removeDirsNow)
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<{ms: number; value: T}> {
  const t0 = performance.now()
  const value = await fn()
  return {ms: performance.now() - t0, value}
}

async function must(runner: Runner, cmd: Command): Promise<CommandResult> {
  const r = await runner.run(cmd)
  if (r.exitCode !== 0) {
    throw new FlannelctlError(`${[cmd.file, ...cmd.args].join(' ')} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' ')}`,
      'bench removes what it built; fix the cause and run it again', ExitCode.failed)
  }
  return r
}

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  if (o.sections.includes('sync') || o.sections.includes('dataplane')) {
    requireRoot('bench must run as root for sync and dataplane: they build network namespaces',
      'run it with sudo (it touches only namespaces named fcbench-* and fc-b*-*), or --only startup,trace,core')
  }
  const started = performance.now()
  const report: BenchReport = {
    version: 1,
    startedAt: new Date().toISOString(),
    durationMs: 0,
    machine: {cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', kernel: release(), node: process.version, loadAvg: {start: loadavg()[0], end: 0}},
    options: {sections: o.sections, peers: o.peers, reps: o.reps, startupRuns: o.startupRuns, scale: o.scale},
    rows: [],
    scale: [],
  }
  const cleanups = new Cleanups()
  const onSignal = () => {
    void cleanups.runAll().finally(() => process.exit(130))
  }
  // `bench | head` closes the pipe under the progress lines: without this the write error would end
  // the process before the namespaces it built are removed.
  const onClosedOutput = (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') void cleanups.runAll().finally(() => process.exit(141))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  process.stdout.on('error', onClosedOutput)
  process.stderr.on('error', onClosedOutput)
  try {
    if (o.sections.includes('sync')) {
      const sizes = [...new Set([o.peers, ...o.scale])].sort((a, b) => a - b)
      for (const backend of ['vxlan', 'host-gw'] as const) {
        for (const n of sizes) {
          // Growth points of 5000 peers and more take seconds per rep: two reps show the trend.
          const reps = n !== o.peers && n >= 5000 ? Math.min(o.reps, 2) : o.reps
          o.progress(`sync: ${backend}, ${n} peers, ${reps} reps`)
          const r = await benchSync(backend, n, reps, n === o.peers, cleanups, o.sample)
          report.scale.push(...r.scale)
          if (n === o.peers) report.rows.push(...r.rows)
        }
      }
    }
    if (o.sections.includes('startup')) {
      o.progress(`startup: ${o.startupRuns} runs each`)
      report.rows.push(...await benchStartup(o.startupRuns, cleanups))
    }
    if (o.sections.includes('trace')) {
      o.progress('trace/doctor')
      report.rows.push(...await benchTrace(o, cleanups))
    }
    if (o.sections.includes('core')) {
      o.progress('core: parsers and IPAM, large inputs against ten tenths')
      report.rows.push(...benchCore())
    }
    if (o.sections.includes('dataplane')) {
      for (const backend of ['host-gw', 'vxlan'] as const) {
        o.progress(`dataplane: ${backend} lab, iperf3 -t ${o.iperfSeconds} and ping`)
        report.rows.push(...await benchDataplane(backend, o, cleanups))
      }
    }
  } finally {
    await cleanups.runAll()
    cleanups.dispose()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    process.stdout.off('error', onClosedOutput)
    process.stderr.off('error', onClosedOutput)
  }
  report.durationMs = performance.now() - started
  report.machine.loadAvg!.end = loadavg()[0]
  return report
}

// ---------------------------------------------------------------------------------------------
// sync: flannelctl's reconcile against raw batches

const BENCH_NETWORK = '10.0.0.0/8'
const UNDERLAY_PREFIX = 16
const NODE_IP = '100.64.0.1'
const PEER_SUBNET_BASE = ipToInt('10.128.0.0')
const PEER_IP_BASE = ipToInt('100.64.0.10')

/** The i-th fake peer: a /24 far from the node's own lease, an underlay address on-link in the /16, a VTEP MAC. */
export function fakePeer(i: number): {subnet: string; publicIP: string; vtepMAC: string} {
  const b = [(i >>> 24) & 255, (i >>> 16) & 255, (i >>> 8) & 255, i & 255].map(x => x.toString(16).padStart(2, '0'))
  return {subnet: `${intToIp(PEER_SUBNET_BASE + i * 256)}/24`, publicIP: intToIp(PEER_IP_BASE + i), vtepMAC: `0e:fc:${b.join(':')}`}
}

/** Times every program a sync runs, so a sync's wall time can be split into apply, record and the rest. */
class TimingRunner implements Runner {
  spans: {cmd: Command; ms: number}[] = []
  constructor(private readonly inner: Runner) {}
  get target() {
    return this.inner.target
  }

  async run(cmd: Command): Promise<CommandResult> {
    const t0 = performance.now()
    try {
      return await this.inner.run(cmd)
    } finally {
      this.spans.push({cmd, ms: performance.now() - t0})
    }
  }

  /** Batches and record writes run one after another, so their times add up along the wall clock. */
  breakdown(totalMs: number): SyncBreakdown {
    const sum = (pred: (c: Command) => boolean) => this.spans.filter(sp => pred(sp.cmd)).reduce((a, sp) => a + sp.ms, 0)
    const apply = sum(c => c.args[0] === '-batch' || c.file === 'iptables-restore' || c.file === 'sysctl')
    const record = sum(c => c.file === 'sh' && c.write === true)
    return {apply, record, readAndPlan: Math.max(0, totalMs - apply - record)}
  }
}

export function medianBreakdown(bs: SyncBreakdown[]): SyncBreakdown | undefined {
  if (bs.length === 0) return undefined
  return {apply: median(bs.map(b => b.apply)), record: median(bs.map(b => b.record)), readAndPlan: median(bs.map(b => b.readAndPlan))}
}

interface SyncNode {
  netns: string
  dir: string
  storeDir: string
  options: NodeOptions
  /** plain program runs: the raw batches (the limit) go this way */
  runner: RealRunner
  /** what one `flannelctl sync` process runs with (commandRunner): a runner of its own, programs through one shell session */
  oneShot: () => {ctx: ServiceContext; timing: TimingRunner; runner: RealRunner}
  /** what `sync --watch` runs with (commandRunner for an agent): batch programs started ahead */
  agentCtx: ServiceContext
  agentTiming: TimingRunner
}

async function makeSyncNode(netns: string, dir: string, backend: 'vxlan' | 'host-gw', cleanups: Cleanups): Promise<SyncNode> {
  const root = new RealRunner()
  await must(root, {file: 'ip', args: ['netns', 'add', netns], write: true})
  cleanups.add(async () => {
    await root.run({file: 'ip', args: ['netns', 'del', netns], write: true})
  })
  for (const args of [
    ['link', 'set', 'lo', 'up'],
    ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p'],
    ['addr', 'add', `${NODE_IP}/${UNDERLAY_PREFIX}`, 'dev', 'eth0'],
    ['link', 'set', 'eth0p', 'up'],
    ['link', 'set', 'eth0', 'up'],
  ]) await must(root, {file: 'ip', args: ['-n', netns, ...args], write: true})
  await mkdir(dir, {recursive: true})
  const storeDir = join(dir, 'store')
  const options: NodeOptions = {
    store: `file:${storeDir}`, iface: 'eth0', subnetFile: join(dir, 'subnet.env'), cniConfDir: join(dir, 'cni'), stateFile: join(dir, 'node.json'),
  }
  const runner = new RealRunner({kind: 'netns', name: netns})
  const oneShot = () => {
    const fresh = commandRunner({kind: 'netns', name: netns})
    const timing = new TimingRunner(fresh)
    return {ctx: {runner: timing, dryRun: false, progress: () => {}}, timing, runner: fresh}
  }
  const agentRunner = commandRunner({kind: 'netns', name: netns}, {agent: true})
  cleanups.add(() => agentRunner.close())
  const agentTiming = new TimingRunner(agentRunner)
  const agentCtx: ServiceContext = {runner: agentTiming, dryRun: false, progress: () => {}}
  await reconcile({runner, dryRun: false, progress: () => {}}, {node: options, network: {network: BENCH_NETWORK, backend}, creating: true, what: 'init'})
  return {netns, dir, storeDir, options, runner, oneShot, agentCtx, agentTiming}
}

function leaseDir(storeDir: string): string {
  return join(storeDir, 'coreos.com', 'network', 'subnets')
}

async function writeLeases(storeDir: string, backend: 'vxlan' | 'host-gw', from: number, to: number): Promise<void> {
  const dir = leaseDir(storeDir)
  await mkdir(dir, {recursive: true})
  const writes: Promise<void>[] = []
  for (let i = from; i < to; i++) {
    const p = fakePeer(i)
    const value = leaseToJson({
      subnet: p.subnet, publicIP: p.publicIP, publicIPv6: null, backendType: backend,
      backendData: backend === 'vxlan' ? {VNI: 1, VtepMAC: p.vtepMAC} : {},
    })
    writes.push(writeFile(join(dir, keyOfSubnet(p.subnet)), value))
  }
  await Promise.all(writes)
}

async function removeLeases(storeDir: string, from: number, to: number): Promise<void> {
  const dir = leaseDir(storeDir)
  await Promise.all(Array.from({length: to - from}, (_, k) => unlink(join(dir, keyOfSubnet(fakePeer(from + k).subnet))).catch(() => {})))
}

/** The kernel-table ops of a plan, as the batches flannelctl itself would pipe. */
function rawBatches(ops: Op[]): Command[] {
  return batchesOf(ops.filter(op => op.tool === 'ip' || op.tool === 'bridge'))
}

async function runRaw(runner: Runner, batches: Command[]): Promise<number> {
  const t0 = performance.now()
  for (const b of batches) await must(runner, b)
  return performance.now() - t0
}

interface SyncResult {
  rows: BenchRow[]
  scale: ScalePoint[]
}

async function benchSync(backend: 'vxlan' | 'host-gw', peers: number, reps: number, withCli: boolean, cleanups: Cleanups, sample?: (msg: string) => void): Promise<SyncResult> {
  const id = `fcbench-${randomBytes(3).toString('hex')}`
  const dir = await cleanups.tempDir(`${id}-`)
  const a = await makeSyncNode(`${id}-a`, join(dir, 'a'), backend, cleanups)
  const b = await makeSyncNode(`${id}-b`, join(dir, 'b'), backend, cleanups)
  const half = Math.floor(peers / 2)
  const sync = async () => {
    const {ctx, timing, runner} = a.oneShot()
    try {
      const r = await timed(() => reconcile(ctx, {node: a.options, creating: false, what: 'sync'}))
      return {ms: r.ms, ops: r.value.ops, breakdown: timing.breakdown(r.ms)}
    } finally {
      // untimed: a process that ends does not wait for its shell to read the end of its stdin
      await runner.close()
    }
  }
  const steps = ['add', 'resync', 'remove', 'agent-add', 'agent-one', 'agent-remove'] as const
  type Step = typeof steps[number]
  const samples = Object.fromEntries(steps.map(k => [k, [] as number[]])) as Record<Step, number[]>
  const spans = Object.fromEntries(steps.map(k => [k, [] as SyncBreakdown[]])) as Record<Step, SyncBreakdown[]>
  const raw = Object.fromEntries(steps.map(k => [k, [] as number[]])) as Record<Step, number[]>
  let opCounts = {add: 0, remove: 0}
  let addBatches: Command[] = []
  // The agent (`sync --watch`) of node A, as the command runs it: its rounds on store events plan
  // against its prediction of the host; the one-shot rows above read the host every time.
  const store = await openStore(a.options.store!)
  cleanups.add(() => store.close())
  // As in `sync --watch`: a round starts when the store's watch says something changed.
  let changed = () => {}
  await store.watch?.(() => changed())
  const storeEvent = () => new Promise<void>(resolve => (changed = resolve))
  const agent = new NodeAgent(a.agentCtx, a.options, store)
  const agentRound = async (event: Promise<void>) => {
    await event
    a.agentTiming.spans = []
    const r = await timed(() => agent.round({periodic: false}))
    if (!r.value) throw new FlannelctlError('bench: the agent saw no change in the store', 'this is a bug in the agent\'s change detection', ExitCode.failed)
    return {ms: r.ms, ops: r.value.ops, breakdown: a.agentTiming.breakdown(r.ms)}
  }
  const measure = async (step: Step, run: () => Promise<{ms: number; ops: Op[]; breakdown: SyncBreakdown}>, batches?: (ops: Op[]) => Command[]) => {
    const r = await run()
    samples[step].push(r.ms)
    spans[step].push(r.breakdown)
    raw[step].push(await runRaw(b.runner, (batches ?? rawBatches)(r.ops)))
    sample?.(`sync ${backend} ${peers} peers rep ${samples[step].length}/${reps} ${step}: ${r.ms.toFixed(1)} ms, raw batch ${raw[step].at(-1)!.toFixed(1)} ms`)
    return r
  }
  for (let rep = 0; rep < reps; rep++) {
    await writeLeases(a.storeDir, backend, 0, peers)
    const add = await measure('add', sync)
    addBatches = rawBatches(add.ops)
    const resync = await measure('resync', sync, () => addBatches)
    if (resync.ops.length) throw new FlannelctlError(`bench: a no-change resync planned ${resync.ops.length} ops`, 'this is a bug in sync\'s idempotence', ExitCode.failed)
    await removeLeases(a.storeDir, 0, half)
    const remove = await measure('remove', sync)
    opCounts = {add: add.ops.length, remove: remove.ops.length}
    // back to no peers for the agent's turn (untimed)
    await removeLeases(a.storeDir, half, peers)
    const rest = await sync()
    await runRaw(b.runner, rawBatches(rest.ops))
    await agent.round({periodic: true})
    let event = storeEvent()
    await writeLeases(a.storeDir, backend, 0, peers)
    await measure('agent-add', () => agentRound(event))
    // a node joining a cluster of `peers`: what a live cluster's agents see most, a change of one lease
    event = storeEvent()
    await writeLeases(a.storeDir, backend, peers, peers + 1)
    await measure('agent-one', () => agentRound(event))
    event = storeEvent()
    await removeLeases(a.storeDir, peers, peers + 1)
    await runRaw(b.runner, rawBatches((await agentRound(event)).ops))
    event = storeEvent()
    await removeLeases(a.storeDir, 0, half)
    await measure('agent-remove', () => agentRound(event))
    // back to no peers for the next rep (untimed)
    event = storeEvent()
    await removeLeases(a.storeDir, half, peers)
    const back = await agentRound(event)
    await runRaw(b.runner, rawBatches(back.ops))
  }
  const label = backend === 'vxlan' ? `${peers} routes + ${peers} neigh + ${peers} fdb` : `${peers} routes`
  const rows: BenchRow[] = [
    makeRow({id: `sync.${backend}.add`, section: 'sync', what: `sync (one-shot) 0 → ${peers} peers (${backend}: ${label})`, unit: 'ms',
      samples: samples.add, limitSamples: raw.add, limitWhat: `the same ${opCounts.add} lines piped to ip/bridge -batch`, goal: {kind: 'max', value: 2},
      breakdown: medianBreakdown(spans.add)}),
    makeRow({id: `sync.${backend}.resync`, section: 'sync', what: `sync (one-shot or periodic), no change, ${peers} peers (${backend})`, unit: 'ms',
      samples: samples.resync, limitSamples: raw.resync, limitWhat: `re-piping the ${opCounts.add} replace lines`, goal: {kind: 'max', value: 2},
      breakdown: medianBreakdown(spans.resync)}),
    makeRow({id: `sync.${backend}.remove`, section: 'sync', what: `sync (one-shot), ${half} of ${peers} peers gone (${backend})`, unit: 'ms',
      samples: samples.remove, limitSamples: raw.remove, limitWhat: `the same ${opCounts.remove} del lines piped to ip/bridge -batch`, goal: {kind: 'max', value: 2},
      breakdown: medianBreakdown(spans.remove)}),
    makeRow({id: `sync.${backend}.agent-add`, section: 'sync', what: `sync --watch, store event: 0 → ${peers} peers (${backend})`, unit: 'ms',
      samples: samples['agent-add'], limitSamples: raw['agent-add'], limitWhat: `the same ${opCounts.add} lines piped to ip/bridge -batch`, goal: {kind: 'max', value: 2},
      breakdown: medianBreakdown(spans['agent-add'])}),
    makeRow({id: `sync.${backend}.agent-one`, section: 'sync', what: `sync --watch, store event: 1 peer joins ${peers} (${backend})`, unit: 'ms',
      samples: samples['agent-one'], limitSamples: raw['agent-one'], limitWhat: `the same ${backend === 'vxlan' ? 3 : 1} line${backend === 'vxlan' ? 's' : ''} piped to ip/bridge -batch`,
      note: 'a change of one lease: the limit is mostly the start of ip -batch, which the agent has done ahead', breakdown: medianBreakdown(spans['agent-one'])}),
    makeRow({id: `sync.${backend}.agent-remove`, section: 'sync', what: `sync --watch, store event: ${half} of ${peers} peers gone (${backend})`, unit: 'ms',
      samples: samples['agent-remove'], limitSamples: raw['agent-remove'], limitWhat: `the same ${opCounts.remove} del lines piped to ip/bridge -batch`, goal: {kind: 'max', value: 2},
      breakdown: medianBreakdown(spans['agent-remove'])}),
  ]
  if (withCli) {
    // What a person running `flannelctl sync` waits for: a fresh process, start-up and cold code included.
    await writeLeases(a.storeDir, backend, 0, peers)
    const args = ['netns', 'exec', a.netns, process.execPath, cliBin(), 'sync', '--json',
      '--store', a.options.store!, '--subnet-file', a.options.subnetFile!, '--cni-conf-dir', a.options.cniConfDir!, '--state-file', a.options.stateFile!]
    const root = new RealRunner()
    const cli = await timed(() => must(root, {file: 'ip', args, write: true}))
    const result = JSON.parse(cli.value.stdout) as {upToDate?: boolean; peers?: unknown[]}
    if (result.upToDate !== false || result.peers?.length !== peers) {
      throw new FlannelctlError(`bench: flannelctl sync did not add ${peers} peers`, 'run it by hand with --verbose to see why', ExitCode.failed)
    }
    rows.push(makeRow({id: `sync.${backend}.add.cli`, section: 'sync', what: `flannelctl sync process 0 → ${peers} (${backend}, incl. start-up)`, unit: 'ms',
      measured: cli.ms, limitSamples: raw.add, limitWhat: 'the same lines piped to ip/bridge -batch',
      note: 'one-shot CLI: includes node + oclif start-up (see startup rows); the goal applies to the rows above'}))
    await runRaw(b.runner, addBatches)
    await removeLeases(a.storeDir, 0, peers)
    const rest = await sync()
    await runRaw(b.runner, rawBatches(rest.ops))
  }
  const scale: ScalePoint[] = steps.map(step => {
    const ms = median(samples[step])
    const rawMs = median(raw[step])
    return {backend, peers, step, ms, rawMs, ratio: ratioOf(ms, rawMs), breakdown: medianBreakdown(spans[step])}
  })
  return {rows, scale}
}

// ---------------------------------------------------------------------------------------------
// startup

async function benchStartup(runs: number, cleanups: Cleanups): Promise<BenchRow[]> {
  const runner = new RealRunner()
  // a command oclif runs, with next to nothing to do: what every command pays to start
  const emptyStore = await cleanups.tempDir('fcbench-store-')
  const cases = {
    node: {file: process.execPath, args: ['-e', '0']},
    version: {file: process.execPath, args: [cliBin(), '--version']},
    help: {file: process.execPath, args: [cliBin(), '--help']},
    command: {file: process.execPath, args: [cliBin(), 'lease', 'list', '--store', `file:${emptyStore}`]},
  }
  const samples: Record<keyof typeof cases, number[]> = {node: [], version: [], help: [], command: []}
  // One untimed round warms the page cache; then the cases take turns so drift hits them alike.
  for (let i = 0; i <= runs; i++) {
    for (const k of Object.keys(cases) as (keyof typeof cases)[]) {
      const r = await timed(() => must(runner, cases[k]))
      if (i > 0) samples[k].push(r.ms)
    }
  }
  return [
    ...(['version', 'help'] as const).map(k => makeRow({
      id: `startup.${k}`, section: 'startup', what: `flannelctl --${k}`, unit: 'ms',
      samples: samples[k], limitSamples: samples.node, limitWhat: 'node -e 0', goal: {kind: 'max', value: 2.5},
    })),
    makeRow({
      id: 'startup.command', section: 'startup', what: 'flannelctl lease list, an empty store (a command through oclif)', unit: 'ms',
      samples: samples.command, limitSamples: samples.node, limitWhat: 'node -e 0', goal: undefined,
    }),
  ]
}

// ---------------------------------------------------------------------------------------------
// trace and doctor over generated snapshot directories

const SNAP_NETWORK = '10.16.0.0/12'
const SNAP_SUBNET_BASE = ipToInt('10.16.0.0')
const SNAP_NODE_IP_BASE = ipToInt('100.64.0.10')

function macOf(prefix: number, i: number): string {
  return [prefix, 0xfc, (i >>> 24) & 255, (i >>> 16) & 255, (i >>> 8) & 255, i & 255].map(x => x.toString(16).padStart(2, '0')).join(':')
}

/** Node i of a generated flannel vxlan cluster: what `ip -j` and iptables-save print on such a node. */
export function snapshotNode(i: number): {name: string; ip: string; subnet: string; vtep: string; vtepMAC: string; gw: string; pod: string; podIP: string} {
  const base = SNAP_SUBNET_BASE + i * 256
  return {
    name: `node${i}`, ip: intToIp(SNAP_NODE_IP_BASE + i), subnet: `${intToIp(base)}/24`, vtep: intToIp(base), vtepMAC: macOf(0x1e, i),
    gw: intToIp(base + 1), pod: `pod${i}`, podIP: intToIp(base + 2),
  }
}

/** The cluster IP of generated service `s` (10.96.0.0/16, as kubeadm's default service CIDR is 10.96.0.0/12). */
export function snapshotServiceIP(s: number): string {
  return intToIp(ipToInt('10.96.0.0') + s)
}

/**
 * kube-proxy's nat rules (iptables mode) for `services` services of port 80, each with two endpoints
 * on port 8080 (the pods of nodes s and s + 1, modulo `count`): a KUBE-SVC chain per service and a
 * KUBE-SEP chain per endpoint, the first picked at random with probability 0.5, as kube-proxy writes
 * them. Chains first, then rules: the lines to put in a `*nat` section before its rules.
 */
function kubeProxyNat(services: number, count: number): {chains: string[]; rules: string[]} {
  const id = (kind: string, n: number) => `${kind}-${n.toString(36).toUpperCase().padStart(16, '0')}`
  const chains = [':KUBE-SERVICES - [0:0]', ':KUBE-MARK-MASQ - [0:0]', ':KUBE-POSTROUTING - [0:0]', ':KUBE-NODEPORTS - [0:0]']
  const rules = [
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
  ]
  for (let s = 0; s < services; s++) {
    const ip = snapshotServiceIP(s)
    const svc = id('KUBE-SVC', s)
    const name = `default/svc${s}:http`
    chains.push(`:${svc} - [0:0]`)
    rules.push(`-A KUBE-SERVICES -d ${ip}/32 -p tcp -m comment --comment "${name} cluster IP" -m tcp --dport 80 -j ${svc}`,
      `-A ${svc} ! -s ${SNAP_NETWORK} -d ${ip}/32 -p tcp -m comment --comment "${name} cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ`)
    for (const k of [0, 1]) {
      const ep = snapshotNode((s + k) % count).podIP
      const sep = id('KUBE-SEP', 2 * s + k)
      chains.push(`:${sep} - [0:0]`)
      rules.push(`-A ${svc} -m comment --comment "${name} -> ${ep}:8080"${k === 0 ? ' -m statistic --mode random --probability 0.50000000000' : ''} -j ${sep}`,
        `-A ${sep} -s ${ep}/32 -m comment --comment "${name}" -j KUBE-MARK-MASQ`,
        `-A ${sep} -p tcp -m comment --comment "${name}" -m tcp -j DNAT --to-destination ${ep}:8080`)
    }
  }
  rules.push('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')
  return {chains, rules}
}

function nodeTables(i: number, count: number, services = 0): Record<string, string> {
  const me = snapshotNode(i)
  const j = (v: unknown) => JSON.stringify(v)
  const links = [
    {ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], mtu: 65536, operstate: 'UNKNOWN', link_type: 'loopback', address: '00:00:00:00:00:00'},
    {ifindex: 2, ifname: 'eth0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500, operstate: 'UP', link_type: 'ether', address: macOf(0x4e, i), linkinfo: {info_kind: 'veth'}},
    {ifindex: 3, ifname: 'cni0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1450, operstate: 'UP', link_type: 'ether', address: macOf(0x52, i), linkinfo: {info_kind: 'bridge', info_data: {stp_state: 0}}},
    {ifindex: 4, ifname: 'flannel.1', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1450, operstate: 'UNKNOWN', link_type: 'ether', address: me.vtepMAC,
      linkinfo: {info_kind: 'vxlan', info_data: {id: 1, local: me.ip, link: 'eth0', port: 8472, learning: false, ttl: 0, ageing: 300, udp_csum: true}}},
    {ifindex: 5, ifname: 'vethpod0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1450, master: 'cni0', operstate: 'UP', link_type: 'ether', address: macOf(0x62, i),
      linkinfo: {info_kind: 'veth', info_slave_kind: 'bridge'}},
  ]
  const addrInfo = (family: string, local: string, prefixlen: number, scope: string, label: string) => ({family, local, prefixlen, scope, label})
  const addrs = [
    {...links[0], addr_info: [addrInfo('inet', '127.0.0.1', 8, 'host', 'lo')]},
    {...links[1], linkinfo: undefined, addr_info: [addrInfo('inet', me.ip, 16, 'global', 'eth0')]},
    {...links[2], linkinfo: undefined, addr_info: [addrInfo('inet', me.gw, 24, 'global', 'cni0')]},
    {...links[3], linkinfo: undefined, addr_info: [addrInfo('inet', me.vtep, 32, 'global', 'flannel.1')]},
    {...links[4], linkinfo: undefined, addr_info: []},
  ]
  const routes: string[] = [j({dst: me.subnet, dev: 'cni0', protocol: 'kernel', scope: 'link', prefsrc: me.gw, flags: []})]
  const neigh: string[] = [j({dst: me.podIP, dev: 'cni0', lladdr: macOf(0x66, i), state: ['REACHABLE']})]
  const fdb: string[] = [j({mac: macOf(0x66, i), ifname: 'vethpod0', flags: [], master: 'cni0', state: ''})]
  for (let k = 0; k < count; k++) {
    if (k === i) continue
    const peer = snapshotNode(k)
    routes.push(j({dst: peer.subnet, gateway: peer.vtep, dev: 'flannel.1', flags: ['onlink']}))
    neigh.push(j({dst: peer.vtep, dev: 'flannel.1', lladdr: peer.vtepMAC, state: ['PERMANENT']}))
    fdb.push(j({mac: peer.vtepMAC, ifname: 'flannel.1', dst: peer.ip, flags: ['self'], state: 'permanent'}))
  }
  routes.push(j({dst: '100.64.0.0/16', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: me.ip, flags: []}))
  const ipt = [
    '*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':FLANNEL-FWD - [0:0]',
    '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
    `-A FLANNEL-FWD -s ${SNAP_NETWORK} -m comment --comment "flanneld forward" -j ACCEPT`,
    `-A FLANNEL-FWD -d ${SNAP_NETWORK} -m comment --comment "flanneld forward" -j ACCEPT`, 'COMMIT',
    '*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', ':FLANNEL-POSTRTG - [0:0]',
    '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
    `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${me.subnet} -d ${SNAP_NETWORK} -m comment --comment "flanneld masq" -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${SNAP_NETWORK} -d ${me.subnet} -m comment --comment "flanneld masq" -j RETURN`,
    `-A FLANNEL-POSTRTG ! -s ${SNAP_NETWORK} -d ${me.subnet} -m comment --comment "flanneld masq" -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${SNAP_NETWORK} ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`,
    `-A FLANNEL-POSTRTG ! -s ${SNAP_NETWORK} -d ${SNAP_NETWORK} -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`, 'COMMIT',
  ]
  if (services > 0) {
    const kube = kubeProxyNat(services, count)
    // the nat section's rules go before its COMMIT (the last line), its chains before its first rule
    const nat = ipt.indexOf('*nat')
    const natRules = ipt.findIndex((line, k) => k > nat && line.startsWith('-A '))
    ipt.splice(ipt.length - 1, 0, ...kube.rules)
    ipt.splice(natRules, 0, ...kube.chains)
  }
  const sysctl: Record<string, string> = {'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.default.rp_filter': '0',
    'net.ipv4.icmp_errors_use_inbound_ifaddr': '0', 'net.ipv4.conf.all.proxy_arp': '0', 'net.bridge.bridge-nf-call-iptables': '1'}
  for (const l of links) Object.assign(sysctl, {[`net.ipv4.conf.${l.ifname}.rp_filter`]: '0', [`net.ipv4.conf.${l.ifname}.proxy_arp`]: '0', [`net.ipv4.conf.${l.ifname}.forwarding`]: '1'})
  return {
    'ip-link.json': j(links) + '\n',
    'ip-addr.json': j(addrs) + '\n',
    'ip-route.json': `[${routes.join(',')}]\n`,
    'ip-neigh.json': `[${neigh.join(',')}]\n`,
    'bridge-fdb.json': `[${fdb.join(',')}]\n`,
    'iptables-save.txt': ipt.join('\n') + '\n',
    // as collect writes it for a node with no native chain (its iptables-nft tables aside): read, and empty
    'nft-ruleset.json': j({nftables: [{metainfo: {version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1}}]}) + '\n',
    'sysctl.json': j(sysctl) + '\n',
  }
}

function podTables(i: number): Record<string, string> {
  const me = snapshotNode(i)
  const j = (v: unknown) => JSON.stringify(v)
  const eth0 = {ifindex: 2, ifname: 'eth0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1450, operstate: 'UP', link_type: 'ether', address: macOf(0x66, i)}
  return {
    'ip-link.json': j([eth0]) + '\n',
    'ip-addr.json': j([{...eth0, addr_info: [{family: 'inet', local: me.podIP, prefixlen: 24, scope: 'global', label: 'eth0'}]}]) + '\n',
    // as the conflist's isDefaultGateway gives a pod: it reaches its node (and, masqueraded, the outside) by the bridge
    'ip-route.json': j([{dst: 'default', gateway: me.gw, dev: 'eth0', flags: []}, {dst: me.subnet, dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: me.podIP, flags: []}]) + '\n',
    'ip-neigh.json': '[]\n',
  }
}

/**
 * DIR/inventory.yaml and DIR/<node>/, DIR/<pod>/ for a healthy `count`-node vxlan cluster, one pod per
 * node; with `services`, every node holds kube-proxy's rules for that many (see kubeProxyNat).
 */
export async function writeClusterSnapshot(dir: string, count: number, services = 0): Promise<void> {
  await mkdir(dir, {recursive: true})
  const inv = ['nodes:', ...Array.from({length: count}, (_, i) => `  - name: node${i}`), 'pods:']
  for (let i = 0; i < count; i++) {
    const me = snapshotNode(i)
    inv.push(`  - name: ${me.pod}`, `    ip: ${me.podIP}`, `    node: ${me.name}`)
    for (const [name, tables] of [[me.name, nodeTables(i, count, services)], [me.pod, podTables(i)]] as const) {
      await mkdir(join(dir, name), {recursive: true})
      await Promise.all(Object.entries(tables).map(([file, text]) => writeFile(join(dir, name, file), text)))
    }
  }
  await writeFile(join(dir, 'inventory.yaml'), inv.join('\n') + '\n')
}

/** Wall time of one CLI run; `timeout` bounds a run that would otherwise hang the bench. */
async function timeCli(args: string[], limitSeconds: number): Promise<{ms: number; result: CommandResult}> {
  const runner = new RealRunner()
  const r = await timed(() => runner.run({file: 'timeout', args: [String(limitSeconds), process.execPath, cliBin(), ...args]}))
  return {ms: r.ms, result: r.value}
}

async function benchTrace(o: BenchOptions, cleanups: Cleanups): Promise<BenchRow[]> {
  // the commands the CLI runs (package.json's oclif.commands): absent before a build
  const commands = join(bundleDir(), 'commands')
  const traceRow = {id: 'trace.1000', section: 'trace' as const, what: 'flannelctl trace pod → pod, 1000-node snapshot', unit: 'ms' as const,
    limitWhat: 'budget 1 s', goal: {kind: 'max' as const, value: 1}}
  const doctorRow = {id: 'doctor.100', section: 'trace' as const, what: 'flannelctl doctor, 100-node snapshot (9,900 pairs)', unit: 'ms' as const,
    limitWhat: 'one trace, same snapshot', goal: undefined}
  const rows: BenchRow[] = []
  const dir = await cleanups.tempDir('fcbench-snap-')
  const runs = 3

  if (existsSync(join(commands, 'trace.js'))) {
    o.progress('trace: generating a 1000-node snapshot')
    await writeClusterSnapshot(join(dir, 'c1000'), 1000)
    const [src, dst] = [snapshotNode(0).pod, snapshotNode(999).pod]
    const samples: number[] = []
    let note: string | undefined
    // The first run reads 300 MB that were just written: untimed, so every timed run finds the page cache warm.
    for (let k = -1; k < runs; k++) {
      const r = await timeCli(['trace', src, dst, '--snapshot', join(dir, 'c1000'), '--json'], 120)
      const disposition = parseDisposition(r.result.stdout)
      if (r.result.exitCode === 124) {
        note = 'timed out after 120 s'
        break
      }
      if (!disposition) {
        note = `trace failed: ${(r.result.stderr || r.result.stdout).trim().split('\n')[0]}`
        break
      }
      if (disposition !== 'DELIVERED') note = `disposition ${disposition} (expected DELIVERED)`
      if (k >= 0) samples.push(r.ms)
      o.sample?.(`trace 1000 nodes run ${k < 0 ? '0 (untimed)' : `${k + 1}/${runs}`}: ${r.ms.toFixed(0)} ms, ${disposition}`)
    }
    rows.push(samples.length ? makeRow({...traceRow, samples, limit: 1000, note}) : unavailableRow(traceRow, `n/a (${note})`))
    await rm(join(dir, 'c1000'), {recursive: true, force: true})
  } else {
    rows.push(unavailableRow(traceRow, 'n/a (not built)'))
  }

  rows.push(await benchKubeProxyTrace(o, dir, commands, runs))

  if (existsSync(join(commands, 'doctor.js'))) {
    o.progress('doctor: generating a 100-node snapshot')
    await writeClusterSnapshot(join(dir, 'c100'), 100)
    // One pair traced on the same snapshot is the unit: doctor traces all 9,900 of them plus host checks.
    const one: number[] = []
    if (existsSync(join(commands, 'trace.js'))) {
      for (let k = -1; k < runs; k++) {
        const t = await timeCli(['trace', snapshotNode(0).pod, snapshotNode(99).pod, '--snapshot', join(dir, 'c100'), '--json'], 120)
        if (k >= 0 && parseDisposition(t.result.stdout)) one.push(t.ms)
      }
    }
    const r = await timeCli(['doctor', '--snapshot', join(dir, 'c100'), '--json'], 300)
    let note: string | undefined
    let healthy: boolean | undefined
    try {
      healthy = (JSON.parse(r.result.stdout) as {healthy?: boolean}).healthy
    } catch {
      note = r.result.exitCode === 124 ? 'timed out after 300 s' : `doctor failed: ${(r.result.stderr || r.result.stdout).trim().split('\n')[0]}`
    }
    if (healthy === false) note = 'doctor reported problems on a healthy generated cluster'
    rows.push(healthy === undefined ? unavailableRow(doctorRow, `n/a (${note})`) : makeRow({...doctorRow, measured: r.ms, limitSamples: one, note}))
  } else {
    rows.push(unavailableRow(doctorRow, 'n/a (not built)'))
  }
  return rows
}

/**
 * A trace to a service through kube-proxy's iptables rules at scale: 5000 services (40,000 nat rules
 * on every node), against the same trace to the endpoint the rules pick on the same nodes without
 * them. Information, no goal: what a big rule set adds to a trace.
 */
async function benchKubeProxyTrace(o: BenchOptions, dir: string, commands: string, runs: number): Promise<BenchRow> {
  const services = 5000
  const row = {id: 'trace.kube-proxy', section: 'trace' as const, what: `flannelctl trace pod → service, 10 nodes, ${services} kube-proxy services (40,000 nat rules each)`,
    unit: 'ms' as const, limitWhat: 'pod → the endpoint, same nodes without those rules', goal: undefined}
  if (!existsSync(join(commands, 'trace.js'))) return unavailableRow(row, 'n/a (not built)')
  o.progress(`trace: generating a 10-node snapshot with ${services} kube-proxy services, and one without`)
  await writeClusterSnapshot(join(dir, 'k10'), 10, services)
  await writeClusterSnapshot(join(dir, 'p10'), 10)
  // service 4321's second endpoint, the one a trace follows, is pod2 (kubeProxyNat)
  const toService = ['trace', snapshotNode(0).pod, snapshotServiceIP(4321), '--proto', 'tcp', '--dport', '80', '--snapshot', join(dir, 'k10'), '--json']
  const toPod = ['trace', snapshotNode(0).pod, snapshotNode(2).pod, '--proto', 'tcp', '--dport', '8080', '--snapshot', join(dir, 'p10'), '--json']
  const samples: number[] = []
  const limitSamples: number[] = []
  let note: string | undefined
  for (let k = -1; k < runs && note === undefined; k++) {
    for (const [args, into] of [[toService, samples], [toPod, limitSamples]] as const) {
      const r = await timeCli(args, 120)
      const disposition = parseDisposition(r.result.stdout)
      if (disposition !== 'DELIVERED') note = r.result.exitCode === 124 ? 'timed out after 120 s' : `trace ${args[2]}: ${disposition ?? (r.result.stderr || r.result.stdout).trim().split('\n')[0]}`
      else if (k >= 0) into.push(r.ms)
    }
  }
  await rm(join(dir, 'k10'), {recursive: true, force: true})
  await rm(join(dir, 'p10'), {recursive: true, force: true})
  return note !== undefined ? unavailableRow(row, `n/a (${note})`) : makeRow({...row, samples, limitSamples})
}

function parseDisposition(stdout: string): string | undefined {
  try {
    return (JSON.parse(stdout) as {disposition?: string}).disposition
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// data plane: iperf3 and ping in a lab, pod-to-pod against node-to-node

/**
 * Counted (underlay, pod) pairs per backend. Both paths are CPU-bound on veths, and on an idle
 * 2-core VM one run differs from the next by 10–14 % (3 s runs no less than 1 s runs), so the
 * ratio comes from many interleaved pairs, not from long runs.
 */
const DATAPLANE_REPS = 9
/** Thrown away first: ARP, the conntrack entries and the CPUs' clocks settle in it. */
const DATAPLANE_WARMUP_PAIRS = 1
/** A run in which tasks waited for a CPU longer than this share of its time shared the CPUs with foreign load. */
const CONTENDED_PRESSURE = 0.05
const MAX_REDOS_PER_PAIR = 3
/** the line rate of the shaped data-plane rows: a common NIC's, well under what the veth paths carry here */
const SHAPED_RATE = '10gbit'
const SHAPED_PAIRS = 3

export function parseIperfJson(text: string): number | undefined {
  try {
    const j = JSON.parse(text) as {end?: {sum_received?: {bits_per_second?: number}}}
    const bps = j.end?.sum_received?.bits_per_second
    return typeof bps === 'number' && bps > 0 ? bps / 1e6 : undefined
  } catch {
    return undefined
  }
}

/** The average round trip in ms from ping's summary line. */
export function parsePingAvg(text: string): number | undefined {
  const m = /(?:rtt|round-trip) min\/avg\/max\/(?:mdev|stddev) = [\d.]+\/([\d.]+)\//.exec(text)
  return m ? Number(m[1]) : undefined
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

async function readProcFile(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch(() => undefined)
}

/** Microseconds some task spent waiting for a CPU since boot (PSI); undefined on kernels without PSI. */
async function cpuPressureMicros(): Promise<number | undefined> {
  const m = /^some .*total=(\d+)/m.exec(await readProcFile('/proc/pressure/cpu') ?? '')
  return m ? Number(m[1]) : undefined
}

/** Share of all CPUs that was busy over the next `ms` milliseconds (/proc/stat). */
async function cpuBusyShare(ms: number): Promise<number> {
  const sample = async () => {
    const f = ((await readProcFile('/proc/stat')) ?? '').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
    return {total: f.reduce((a, b) => a + b, 0), idle: (f[3] ?? 0) + (f[4] ?? 0)}
  }
  const a = await sample()
  await sleep(ms)
  const b = await sample()
  return b.total > a.total ? 1 - (b.idle - a.idle) / (b.total - a.total) : 0
}

/**
 * Other engineers' builds and tests share this machine's two CPUs, and a run that shares them
 * measures the scheduler, not the path: start a pair only once the CPUs are nearly idle (bounded).
 */
async function waitForQuietCpus(maxMs = 15_000): Promise<void> {
  const deadline = performance.now() + maxMs
  while (performance.now() < deadline && await cpuBusyShare(300) > 0.15) { /* keep sampling */ }
}

interface IperfRun {
  mbps: number
  /** share of the run's wall time in which some task waited for a CPU; undefined without PSI */
  pressure?: number
}

/** One bounded iperf3 run: a one-off server in `serverNs`, the client in `clientNs`. Mbit/s received. */
async function iperf(serverNs: string, clientNs: string, dst: string, seconds: number): Promise<IperfRun> {
  const runner = new RealRunner()
  const server = runner.run({file: 'ip', args: ['netns', 'exec', serverNs, 'timeout', String(seconds + 15), 'iperf3', '-s', '-1', '-B', dst]})
  try {
    for (let attempt = 0; ; attempt++) {
      await sleep(attempt === 0 ? 150 : 200)
      const [psi0, t0] = [await cpuPressureMicros(), performance.now()]
      const r = await runner.run({file: 'ip', args: ['netns', 'exec', clientNs, 'iperf3', '-c', dst, '-t', String(seconds), '-J']})
      const [psi1, t1] = [await cpuPressureMicros(), performance.now()]
      const mbps = parseIperfJson(r.stdout)
      if (mbps !== undefined) return {mbps, pressure: psi0 !== undefined && psi1 !== undefined ? (psi1 - psi0) / 1000 / (t1 - t0) : undefined}
      if (attempt >= 10) throw new FlannelctlError(`iperf3 ${clientNs} → ${dst} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(0, 2).join(' ')}`, 'is iperf3 installed? (npm run bootstrap)', ExitCode.failed)
    }
  } finally {
    await server
  }
}

async function pingAvg(fromNs: string, dst: string): Promise<number> {
  const r = await must(new RealRunner(), {file: 'ip', args: ['netns', 'exec', fromNs, 'ping', '-q', '-c', '100', '-i', '0.005', '-W', '1', dst]})
  const avg = parsePingAvg(r.stdout)
  if (avg === undefined) throw new FlannelctlError(`cannot read ping's summary from ${fromNs}: ${r.stdout.trim().split('\n').at(-1)}`, 'is iputils-ping installed?', ExitCode.failed)
  return avg
}

async function benchDataplane(backend: 'vxlan' | 'host-gw', o: BenchOptions, cleanups: Cleanups): Promise<BenchRow[]> {
  const name = `b${backend === 'vxlan' ? 'vx' : 'hg'}${randomBytes(3).toString('hex')}`
  const lab = new Lab()
  cleanups.add(async () => {
    await lab.down(name)
  })
  const state: LabState = await lab.up({name, nodes: 2, backend, segments: 1, podsPerNode: 1, progress: () => {}})
  const [n1, n2] = state.nodes
  const p1 = state.pods.find(p => p.node === n1.name)!
  const p2 = state.pods.find(p => p.node === n2.name)!
  const tput = {pod: [] as number[], underlay: [] as number[]}
  const rtt = {pod: [] as number[], underlay: [] as number[]}
  const pairRatios: number[] = []
  let redone = 0
  let contended = 0
  const endpoints = (path: 'pod' | 'underlay') => path === 'pod' ? [p1.netns, p2.netns, p2.ip] as const : [n1.netns, n2.netns, n2.underlayIP] as const
  // Alternate which path goes first so that drift on a busy machine hits both alike.
  const orderOf = (rep: number) => rep % 2 === 0 ? (['underlay', 'pod'] as const) : (['pod', 'underlay'] as const)
  const iperfOver = (path: 'pod' | 'underlay') => {
    const [from, to, dst] = endpoints(path)
    return iperf(to, from, dst, o.iperfSeconds)
  }
  for (let rep = -DATAPLANE_WARMUP_PAIRS; rep < DATAPLANE_REPS; rep++) {
    const order = orderOf(rep)
    const pair = {pod: 0, underlay: 0}
    for (let attempt = 0; ; attempt++) {
      await waitForQuietCpus()
      let disturbed = false
      for (const path of order) {
        const run = await iperfOver(path)
        pair[path] = run.mbps
        disturbed ||= (run.pressure ?? 0) > CONTENDED_PRESSURE
      }
      if (!disturbed || rep < 0) break
      if (attempt >= MAX_REDOS_PER_PAIR) {
        contended++
        break
      }
      redone++
    }
    if (rep < 0) continue
    tput.pod.push(pair.pod)
    tput.underlay.push(pair.underlay)
    pairRatios.push(pair.pod / pair.underlay)
    o.sample?.(`dataplane ${backend} pair ${rep + 1}/${DATAPLANE_REPS}: pod ${pair.pod.toFixed(0)} Mbit/s, underlay ${pair.underlay.toFixed(0)} Mbit/s (${(pair.pod / pair.underlay).toFixed(2)})`)
    for (const path of order) {
      const [from, , dst] = endpoints(path)
      rtt[path].push(await pingAvg(from, dst) * 1000)
    }
  }
  const pathWhat = `${p1.name} → ${p2.name}`
  const f2 = (x: number) => x.toFixed(2)
  const spread = `${DATAPLANE_REPS} interleaved pairs of ${o.iperfSeconds} s after a warm-up pair; per-pair ratio median ${f2(median(pairRatios))}, ` +
    `quartiles ${f2(quantile(pairRatios, 0.25))}–${f2(quantile(pairRatios, 0.75))}` +
    (redone ? `; ${redone} pair${redone > 1 ? 's' : ''} redone for foreign CPU load` : '') +
    (contended ? `; ${contended} still contended after ${MAX_REDOS_PER_PAIR} redos` : '')
  // The same paths with the underlay at a NIC's line rate: where a real network is bandwidth-bound,
  // does the pod path still fill it? tbf on both nodes' eth0, which both paths leave by.
  const shaped = {pod: [] as number[], underlay: [] as number[]}
  const runner = new RealRunner()
  const shape = (ns: string) => runner.run({file: 'tc', args: ['-n', ns, 'qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', SHAPED_RATE, 'burst', '1mb', 'latency', '10ms'], write: true})
  const shapedOk = (await Promise.all([shape(n1.netns), shape(n2.netns)])).every(r => r.exitCode === 0)
  if (shapedOk) {
    for (let rep = 0; rep < SHAPED_PAIRS; rep++) {
      await waitForQuietCpus()
      for (const path of orderOf(rep)) shaped[path].push((await iperfOver(path)).mbps)
      o.sample?.(`dataplane ${backend} at ${SHAPED_RATE} pair ${rep + 1}/${SHAPED_PAIRS}: pod ${shaped.pod.at(-1)!.toFixed(0)} Mbit/s, underlay ${shaped.underlay.at(-1)!.toFixed(0)} Mbit/s`)
    }
  }
  const shapedRow = {id: `dataplane.${backend}.throughput-shaped`, section: 'dataplane' as const, what: `iperf3 TCP ${pathWhat} (${backend}), underlay at ${SHAPED_RATE}`,
    unit: 'Mbit/s' as const, limitWhat: `node → node, both nodes' eth0 shaped (tbf ${SHAPED_RATE})`, goal: undefined}
  return [
    makeRow({id: `dataplane.${backend}.throughput`, section: 'dataplane', what: `iperf3 TCP ${pathWhat} (${backend})`, unit: 'Mbit/s',
      samples: tput.pod, limitSamples: tput.underlay, limitWhat: 'node → node on the underlay',
      goal: backend === 'host-gw' ? {kind: 'min', value: 0.95} : undefined,
      note: backend === 'vxlan' ? `vxlan pays encapsulation (50 bytes per packet, MTU 1450) and a UDP hop; ${spread}` : spread}),
    makeRow({id: `dataplane.${backend}.latency`, section: 'dataplane', what: `ping RTT ${pathWhat} (${backend})`, unit: 'µs',
      samples: rtt.pod, limitSamples: rtt.underlay, limitWhat: 'node → node on the underlay',
      note: 'RTT ratio: pod paths cross two more veth pairs and a bridge each way'}),
    shapedOk
      ? makeRow({...shapedRow, samples: shaped.pod, limitSamples: shaped.underlay,
        note: `${SHAPED_PAIRS} interleaved pairs of ${o.iperfSeconds} s with a line rate as a real NIC has: bandwidth, not CPU, is the limit`})
      : unavailableRow(shapedRow, 'n/a (tc cannot add a tbf qdisc here)'),
  ]
}
