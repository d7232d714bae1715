import {Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {labNameFlag} from '../../cli/lab-flags.js'
import {jsonFlag} from '../../cli/flags.js'
import {Lab} from '../../services/lab.js'
import {renderLabStatus} from '../../ui/lab.js'

export default class LabUp extends BaseCommand {
  static override summary = 'Build a lab: nodes as network namespaces, provisioned by flannelctl init, pods by the CNI plugins'
  static override description = `Every node is a network namespace plugged into a switch namespace (one L2 segment, or two
joined by a router with --segments 2). Each node runs the real \`flannelctl init\`; each pod is a
namespace wired by the real CNI bridge + host-local plugins from the conflist init wrote.
Nothing outside namespaces named fc-NAME-* is touched.`

  static override examples = [
    '<%= config.bin %> lab up',
    '<%= config.bin %> lab up --nodes 3 --backend host-gw',
    '<%= config.bin %> lab up --name seg --segments 2 --directrouting',
    '<%= config.bin %> lab up --name et --store etcd',
  ]

  static override flags = {
    ...labNameFlag,
    nodes: Flags.integer({description: 'number of nodes', default: 3, min: 1, max: 30}),
    backend: Flags.string({description: 'vxlan or host-gw', options: ['vxlan', 'host-gw'], default: 'vxlan'}),
    directrouting: Flags.boolean({description: 'vxlan with DirectRouting'}),
    segments: Flags.integer({description: 'L2 segments (2 = joined by a router)', options: ['1', '2'], default: 1}),
    pods: Flags.integer({description: 'pods per node', default: 2, min: 0, max: 26}),
    store: Flags.string({description: 'file (a file store in the lab directory), etcd (the lab runs its own etcd at 192.168.100.2:2379), or a store spec', default: 'file'}),
    ...jsonFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(LabUp)
    const state = await new Lab().up({
      name: flags.name, nodes: flags.nodes, backend: flags.backend as 'vxlan' | 'host-gw', directRouting: flags.directrouting,
      segments: flags.segments as 1 | 2, podsPerNode: flags.pods, store: flags.store,
      progress: m => { if (!flags.json) process.stderr.write(m + '\n') },
    })
    if (flags.json) return this.outJson(state)
    this.out(renderLabStatus(state))
  }
}
