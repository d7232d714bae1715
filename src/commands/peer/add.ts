import {Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {nodeFlags, dryRunFlag, jsonFlag, nodeOptions} from '../../cli/flags.js'
import {makeContext} from '../../services/context.js'
import {changeStaticPeer} from '../../services/node.js'
import {renderReconcile, reconcileJson} from '../../ui/plan.js'

export default class PeerAdd extends BaseCommand {
  static override summary = 'Add a static peer by hand (the hand-run flanneld)'
  static override description = `With --vtep-mac the peer is reached over vxlan (neighbour + fdb + onlink route on flannel.1);
without it, by a plain route via its public IP (host-gw). FORWARD accepts the network's traffic and
pod traffic leaving the network is masqueraded, while pod-to-pod traffic keeps its source address.`

  static override examples = [
    '<%= config.bin %> peer add --subnet 10.244.2.0/24 --public-ip 192.168.100.12',
    '<%= config.bin %> peer add --subnet 10.244.3.0/24 --public-ip 192.168.100.13 --vtep-mac 5a:1f:8e:00:00:03',
  ]

  static override flags = {
    subnet: Flags.string({description: 'the peer\'s pod subnet', required: true}),
    'public-ip': Flags.string({description: 'the peer\'s node address', required: true}),
    'vtep-mac': Flags.string({description: 'the peer\'s flannel.1 MAC (vxlan)'}),
    ...Object.fromEntries(Object.entries(nodeFlags).filter(([k]) => k !== 'public-ip')),
    ...dryRunFlag,
    ...jsonFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(PeerAdd)
    const ctx = makeContext({dryRun: flags['dry-run'], verbose: flags.verbose, quiet: flags.json})
    const result = await changeStaticPeer(ctx, {...nodeOptions(flags), publicIP: undefined},
      {add: {subnet: flags.subnet, publicIP: flags['public-ip'], vtepMAC: flags['vtep-mac']}})
    if (flags.json) this.outJson(reconcileJson(result))
    else this.out(renderReconcile(result, 'peer add'))
  }
}
