import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {nodeFlags, dryRunFlag, jsonFlag, nodeOptions} from '../../cli/flags.js'
import {makeContext} from '../../services/context.js'
import {changeStaticPeer} from '../../services/node.js'
import {renderReconcile, reconcileJson} from '../../ui/plan.js'
import {userError} from '../../errors.js'

export default class PeerRemove extends BaseCommand {
  static override summary = 'Remove a static peer and its route, neighbour and fdb entries'
  static override description = 'Only static peers (added with peer add) are removed this way; peers from the store go when their lease does. --dry-run shows the commands.'
  static override examples = [
    {description: 'Forget the peer with pod subnet 10.244.2.0/24', command: '<%= config.bin %> peer remove 10.244.2.0/24'},
    {description: 'See what would be removed', command: '<%= config.bin %> peer remove 10.244.2.0/24 --dry-run'},
  ]

  static override args = {subnet: Args.string({description: 'the peer\'s pod subnet'})}
  static override flags = {
    // peer add names the subnet with --subnet: the same words remove it
    subnet: Flags.string({description: 'the peer\'s pod subnet, as given to peer add (or as the argument)', helpGroup: 'PEER'}),
    ...nodeFlags, ...dryRunFlag, ...jsonFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(PeerRemove)
    if (args.subnet !== undefined && flags.subnet !== undefined && args.subnet !== flags.subnet) {
      throw userError(`two subnets given: ${args.subnet} and --subnet ${flags.subnet}`, 'name the one peer to remove: flannelctl peer remove SUBNET')
    }
    const subnet = args.subnet ?? flags.subnet
    if (subnet === undefined) throw userError('no subnet given: which static peer to remove?', 'name it: flannelctl peer remove SUBNET (flannelctl peer list shows them)')
    const ctx = makeContext({dryRun: flags['dry-run'], verbose: flags.verbose, quiet: flags.json})
    const result = await changeStaticPeer(ctx, nodeOptions(flags), {remove: subnet})
    if (flags.json) this.outJson(reconcileJson(result))
    else this.out(renderReconcile(result, 'peer remove'))
  }
}
