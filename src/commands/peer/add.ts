import {Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {nodeFlags, dryRunFlag, jsonFlag, nodeOptions} from '../../cli/flags.js'
import {makeContext} from '../../services/context.js'
import {changeStaticPeer} from '../../services/node.js'
import {renderReconcile, reconcileJson} from '../../ui/plan.js'

export default class PeerAdd extends BaseCommand {
  static override summary = 'Add a static peer by hand (the hand-run flanneld)'
  static override description = `For hosts without a shared store: tell this host about a peer's pod subnet and address. With --vtep-mac the peer is reached over vxlan (neighbour + fdb + onlink route on flannel.1, in flanneld's order); without it, by a plain route via its public IP (host-gw), which needs the peer on the same L2 segment (one off it is recorded, with a warning, but gets no route). The subnet must lie inside the network. FORWARD accepts the network's traffic, and pod traffic leaving the network is masqueraded while pod-to-pod traffic keeps its source address (the narrowed SNAT rule, not the naive one). --dry-run shows the commands.`

  static override examples = [
    {description: 'A host-gw peer on the same segment', command: '<%= config.bin %> peer add --subnet 10.244.2.0/24 --public-ip 192.168.100.12'},
    {description: 'A vxlan peer, by its flannel.1 MAC', command: '<%= config.bin %> peer add --subnet 10.244.3.0/24 --public-ip 192.168.100.13 --vtep-mac 5a:1f:8e:00:00:03'},
    {description: 'See the commands first', command: '<%= config.bin %> peer add --subnet 10.244.2.0/24 --public-ip 192.168.100.12 --dry-run'},
  ]

  static override flags = {
    subnet: Flags.string({description: 'the peer\'s pod subnet', required: true, helpGroup: 'PEER'}),
    'public-ip': Flags.string({description: 'the peer\'s node address', required: true, helpGroup: 'PEER'}),
    'vtep-mac': Flags.string({description: 'the peer\'s flannel.1 MAC: reach it over vxlan [default: host-gw]', helpGroup: 'PEER'}),
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
