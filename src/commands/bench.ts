import {Flags} from '@oclif/core'
import {writeFile} from 'node:fs/promises'
import {resolve} from 'node:path'
import {BaseCommand} from '../cli/base.js'
import {jsonFlag} from '../cli/flags.js'
import {userError} from '../errors.js'
import {ALL_SECTIONS, runBench, type BenchSection} from '../services/bench.js'
import {renderBench} from '../ui/bench.js'

export default class Bench extends BaseCommand {
  static override summary = 'Measure flannelctl against the limits of this machine, as ratios taken in one run'
  static override description = `Each row is a ratio against a limit measured in the same run, so the numbers mean the same on a slow or busy machine: sync of N peers in a scratch namespace against the same lines piped to ip/bridge -batch; --version/--help against node -e 0; trace/doctor over generated snapshots against a 1 s budget; iperf3 and ping pod-to-pod against node-to-node in a lab. Needs root; builds only namespaces named fcbench-* and fc-b*-*, and removes them, also on failure or Ctrl-C.

The results also go to a JSON file (--out). --verbose shows every sample as it is taken (not the programs run: echoing them would be timed too).`

  static override examples = [
    '<%= config.bin %> bench',
    '<%= config.bin %> bench --only sync --scale 10,100,1000,5000',
    '<%= config.bin %> bench --only startup,trace,core --out /tmp/bench.json',
  ]

  static override flags = {
    only: Flags.string({description: `comma-separated sections to run: ${ALL_SECTIONS.join(', ')} [default: all]`}),
    peers: Flags.integer({description: 'peers for the sync rows', default: 1000, min: 2, max: 20000}),
    reps: Flags.integer({description: 'repetitions per sync measurement (the median is reported)', default: 5, min: 1, max: 50}),
    runs: Flags.integer({description: 'runs per start-up measurement (the median is reported)', default: 15, min: 1, max: 200}),
    scale: Flags.string({description: 'extra peer counts for the sync growth table, e.g. 10,100,1000,5000'}),
    'iperf-seconds': Flags.integer({description: 'iperf3 -t per data-plane measurement', default: 3, min: 1, max: 10}),
    out: Flags.string({description: 'where to write the JSON results', default: 'bench-results.json'}),
    ...jsonFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Bench)
    const sections = parseList(flags.only, 'only', s => {
      if (!(ALL_SECTIONS as string[]).includes(s)) throw userError(`--only: unknown section '${s}'`, `use some of: ${ALL_SECTIONS.join(', ')}`)
      return s as BenchSection
    }) ?? ALL_SECTIONS
    const scale = parseList(flags.scale, 'scale', s => {
      const n = Number(s)
      if (!Number.isInteger(n) || n < 2 || n > 20000) throw userError(`--scale: '${s}' is not a peer count`, 'use whole numbers from 2 to 20000, e.g. --scale 10,100,1000,5000')
      return n
    }) ?? []
    const progress = this.progress({verbose: flags.verbose, quiet: flags.json})
    const report = await runBench({
      sections, peers: flags.peers, reps: flags.reps, startupRuns: flags.runs, scale, iperfSeconds: flags['iperf-seconds'],
      progress: m => progress.report(`bench: ${m}`),
      sample: flags.verbose ? m => progress.step(`bench: ${m}`) : undefined,
    })
    const out = resolve(flags.out)
    await writeFile(out, JSON.stringify(report, null, 2) + '\n')
    if (flags.json) return this.outJson(report)
    this.out(renderBench(report))
    this.out(`\nresults written to ${out}`)
  }
}

function parseList<T>(value: string | undefined, flag: string, item: (s: string) => T): T[] | undefined {
  if (value === undefined) return undefined
  const parts = value.split(',').map(s => s.trim()).filter(Boolean)
  if (parts.length === 0) throw userError(`--${flag} is empty`, `give a comma-separated list, e.g. --${flag} ${flag === 'only' ? 'sync,startup' : '10,100,1000'}`)
  return parts.map(item)
}
