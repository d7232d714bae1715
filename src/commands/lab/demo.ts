import {Flags} from '@oclif/core'
import {BaseCommand, useColor} from '../../cli/base.js'
import {labBackend, labBackendFlag, labNameFlag} from '../../cli/lab-flags.js'
import {RealRunner} from '../../adapters/runner.js'
import {commandEcho} from '../../services/context.js'
import {runDemo} from '../../services/demo.js'

export default class LabDemo extends BaseCommand {
  static override summary = 'The quick start: build a 3-node lab, show its leases, ping every pod pair, trace one pair'
  static override description = `What \`npm run demo\` runs: \`lab up\`, the leases in the store, a real ping between every pair of pods, and one pod pair traced hop by hop. The lab is removed at the end unless --keep; a lab of the same name left from an earlier run is removed first.

Exit codes: 0 every pair reachable and the trace delivered, 1 otherwise.`
  static override examples = [
    {description: 'vxlan, removed at the end', command: '<%= config.bin %> lab demo'},
    {description: 'The host-gw backend', command: '<%= config.bin %> lab demo --backend host-gw'},
    {description: 'Keep the lab (called demo) to explore it: see docs/getting-started.md', command: '<%= config.bin %> lab demo --keep'},
  ]

  static override flags = {
    ...labNameFlag,
    ...labBackendFlag(),
    nodes: Flags.integer({description: 'number of nodes', default: 3, min: 2, max: 10}),
    store: Flags.string({description: 'file, or etcd (the lab runs its own etcd)', options: ['file', 'etcd'], default: 'file'}),
    keep: Flags.boolean({description: 'leave the lab up to explore (remove it with flannelctl lab down)'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(LabDemo)
    const backend = labBackend(flags.backend)
    const ok = await runDemo({
      name: flags.name, backend, nodes: flags.nodes, store: flags.store, keep: flags.keep, color: useColor(),
      out: s => this.out(s), progress: this.progress({verbose: flags.verbose}).report,
      runner: new RealRunner({kind: 'local'}, commandEcho(flags.verbose)),
    })
    if (!ok) process.exitCode = 1
  }
}
