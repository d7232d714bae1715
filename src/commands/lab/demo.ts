import {Flags} from '@oclif/core'
import {BaseCommand, useColor} from '../../cli/base.js'
import {labNameFlag} from '../../cli/lab-flags.js'
import {runDemo} from '../../services/demo.js'

export default class LabDemo extends BaseCommand {
  static override summary = 'The quick start: build a 3-node lab, show its leases, ping every pod pair, trace one pair'
  static override description = 'What `npm run demo` runs. The lab is removed at the end unless --keep.'
  static override examples = ['<%= config.bin %> lab demo', '<%= config.bin %> lab demo --backend host-gw', '<%= config.bin %> lab demo --keep']
  static override flags = {
    ...labNameFlag,
    backend: Flags.string({description: 'vxlan or host-gw', options: ['vxlan', 'host-gw'], default: 'vxlan'}),
    nodes: Flags.integer({description: 'number of nodes', default: 3, min: 2, max: 10}),
    store: Flags.string({description: 'file or etcd (the lab runs its own etcd)', options: ['file', 'etcd'], default: 'file'}),
    keep: Flags.boolean({description: 'leave the lab up to explore (remove it with flannelctl lab down)'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(LabDemo)
    const ok = await runDemo({
      name: flags.name, backend: flags.backend as 'vxlan' | 'host-gw', nodes: flags.nodes, store: flags.store, keep: flags.keep, color: useColor(),
      out: s => this.out(s), progress: m => process.stderr.write(m + '\n'),
    })
    if (!ok) process.exitCode = 1
  }
}
