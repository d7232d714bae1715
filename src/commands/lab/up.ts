import {Flags} from '@oclif/core'
import {userError} from '../../errors.js'
import {BaseCommand} from '../../cli/base.js'
import {labBackend, labBackendFlag, labNameFlag} from '../../cli/lab-flags.js'
import {jsonFlag} from '../../cli/flags.js'
import {RealRunner} from '../../adapters/runner.js'
import {commandEcho} from '../../services/context.js'
import {Lab, labNameArg} from '../../services/lab.js'
import {renderLabStatus} from '../../ui/lab.js'

export default class LabUp extends BaseCommand {
  static override summary = 'Build a lab: nodes as network namespaces, provisioned by flannelctl init, pods by the CNI plugins'
  static override description = `Every node (n1, n2, …) is a network namespace plugged into a switch namespace: one L2 segment (192.168.100.0/24), or two joined by a router with --segments 2 (192.168.200.0/24 behind it). Each node runs the real \`flannelctl init\` on the pod network 10.244.0.0/16; each pod (pod-1a, pod-1b on n1, pod-2a on n2, …) is a namespace wired by the real CNI bridge + host-local plugins from the conflist init wrote. Subnets are leased at random, as flannel does.

Nothing outside namespaces named fc-NAME-* changes; the lab's files live in /run/flannelctl/labs/NAME. Needs root. Remove it with \`flannelctl lab down\`.`

  static override examples = [
    {description: 'Three vxlan nodes with two pods each, named demo (the name every lab command uses by default)', command: '<%= config.bin %> lab up'},
    {description: 'The host-gw backend', command: '<%= config.bin %> lab up --name gw --backend host-gw'},
    {description: 'Flannel\'s rules in native nftables, as flanneld with "EnableNFTables": true', command: '<%= config.bin %> lab up --name nft --nftables'},
    {description: 'Two L2 segments joined by a router, vxlan with DirectRouting: direct routes to on-link peers, vxlan across the router', command: '<%= config.bin %> lab up --name seg --nodes 4 --segments 2 --directrouting'},
    {description: 'The lab runs its own etcd (192.168.100.2:2379) as the store, with flannel\'s keys', command: '<%= config.bin %> lab up --name et --store etcd'},
  ]

  static override flags = {
    ...labNameFlag,
    nodes: Flags.integer({description: 'number of nodes', default: 3, min: 1, max: 30, helpGroup: 'TOPOLOGY'}),
    pods: Flags.integer({description: 'pods per node', default: 2, min: 0, max: 26, helpGroup: 'TOPOLOGY'}),
    segments: Flags.integer({description: 'L2 segments (2 = joined by a router)', options: ['1', '2'], default: 1, helpGroup: 'TOPOLOGY'}),
    ...labBackendFlag('NETWORK'),
    directrouting: Flags.boolean({description: 'vxlan with DirectRouting (plain routes to peers on the same segment)', helpGroup: 'NETWORK'}),
    nftables: Flags.boolean({description: 'flannel\'s masquerade and forward rules as native nftables ("EnableNFTables": true), not iptables', helpGroup: 'NETWORK'}),
    store: Flags.string({description: 'file (a file store in the lab directory), etcd (the lab runs its own etcd at 192.168.100.2:2379), or a store spec', default: 'file', helpGroup: 'NETWORK'}),
    ...jsonFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(LabUp)
    const backend = labBackend(flags.backend)
    // what init on each node would refuse, said before any namespace is made
    if (flags.directrouting && flags.backend !== 'vxlan') throw userError(`--directrouting is a setting of the vxlan backend, not of ${flags.backend}`, 'drop it, or use --backend vxlan')
    const progress = this.progress({verbose: flags.verbose, quiet: flags.json})
    const state = await new Lab(new RealRunner({kind: 'local'}, commandEcho(flags.verbose))).up({
      name: flags.name, nodes: flags.nodes, backend, directRouting: flags.directrouting, nftables: flags.nftables,
      segments: flags.segments as 1 | 2, podsPerNode: flags.pods, store: flags.store,
      progress: progress.report,
    })
    if (flags.json) return this.outJson(state)
    this.out(renderLabStatus(state))
    const lab = labNameArg(flags.name)
    const pods = state.pods.length >= 2 ? state.pods : undefined
    const far = pods?.find(p => p.node !== pods[0].node)
    this.out(`\nNext: flannelctl lab status${lab} --ping${far ? `   ·   flannelctl trace ${pods![0].name} ${far.name} --lab ${flags.name}` : ''}   ·   flannelctl lab down${lab}`)
  }
}
