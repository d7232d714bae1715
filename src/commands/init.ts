import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {nodeFlags, dryRunFlag, jsonFlag, nodeOptions} from '../cli/flags.js'
import {makeContext} from '../services/context.js'
import {reconcile} from '../services/node.js'
import {renderReconcile, reconcileJson} from '../ui/plan.js'

export default class Init extends BaseCommand {
  static override summary = 'Make this host a flannel node: lease a subnet, build bridge + backend, write subnet.env and the CNI conflist'
  static override description = `Reads (or creates) the network config in the store, leases a subnet for this host (the one it
already holds, else the one in its subnet.env, else a free one), and builds what flanneld would:
the cni0 bridge, the vxlan device flannel.<VNI> or host-gw routes, routes to every known peer, the
FLANNEL-FWD and FLANNEL-POSTRTG iptables chains, subnet.env and 10-flannel.conflist.
Running it again changes nothing when the host is already right.`

  static override examples = [
    '<%= config.bin %> init --network 10.244.0.0/16 --backend vxlan --iface eth0',
    '<%= config.bin %> init --network 10.244.0.0/16 --backend host-gw --dry-run',
    '<%= config.bin %> init --store etcd://10.0.0.5:2379 --iface eth1',
    `<%= config.bin %> init --net-conf '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","DirectRouting":true}}'`,
  ]

  static override flags = {
    network: Flags.string({description: 'pod network CIDR (creates the config when the store has none)', helpGroup: 'NETWORK'}),
    'subnet-len': Flags.integer({description: 'prefix length of each node\'s subnet [default: 24]', helpGroup: 'NETWORK'}),
    'subnet-min': Flags.string({description: 'first subnet to hand out', helpGroup: 'NETWORK'}),
    'subnet-max': Flags.string({description: 'last subnet to hand out', helpGroup: 'NETWORK'}),
    backend: Flags.string({description: 'vxlan or host-gw [default: vxlan]', helpGroup: 'NETWORK'}),
    directrouting: Flags.boolean({description: 'vxlan: plain routes to peers on the same L2 segment', helpGroup: 'NETWORK'}),
    vni: Flags.integer({description: 'vxlan VNI [default: 1]', helpGroup: 'NETWORK'}),
    port: Flags.integer({description: 'vxlan UDP port [default: 8472]', helpGroup: 'NETWORK'}),
    'net-conf': Flags.string({description: 'the whole net-conf JSON, as flannel\'s net-conf.json', helpGroup: 'NETWORK'}),
    ...nodeFlags,
    ...dryRunFlag,
    ...jsonFlag,
    yes: Flags.boolean({char: 'y', description: 'do not ask anything'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Init)
    const ctx = makeContext({dryRun: flags['dry-run'], verbose: flags.verbose, quiet: flags.json})
    const result = await reconcile(ctx, {
      node: nodeOptions(flags),
      network: {
        netConf: flags['net-conf'], network: flags.network, subnetLen: flags['subnet-len'], subnetMin: flags['subnet-min'],
        subnetMax: flags['subnet-max'], backend: flags.backend, directRouting: flags.directrouting, vni: flags.vni, port: flags.port,
      },
      creating: true,
      what: 'init',
    })
    if (flags.json) this.outJson(reconcileJson(result))
    else this.out(renderReconcile(result, 'init'))
  }
}
