import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {nodeFlags, dryRunFlag, jsonFlag, nodeOptions} from '../cli/flags.js'
import {makeContext} from '../services/context.js'
import {reconcile} from '../services/node.js'
import {renderReconcile, reconcileJson} from '../ui/plan.js'

export default class Sync extends BaseCommand {
  static override summary = 'Reconcile this host with the store: add new peers, repair drifted ones, remove those that left'
  static override description = `Idempotent: with nothing to do it says "up to date" and changes nothing. Touches only what
flannelctl owns (its vxlan device, bridge, recorded routes, its iptables chains).
With --watch it keeps doing so, like flanneld: renewing the lease and resyncing periodically.`

  static override examples = [
    '<%= config.bin %> sync',
    '<%= config.bin %> sync --dry-run',
    '<%= config.bin %> sync --watch --interval 5',
  ]

  static override flags = {
    ...nodeFlags,
    ...dryRunFlag,
    ...jsonFlag,
    watch: Flags.boolean({description: 'keep reconciling (agent mode)'}),
    interval: Flags.integer({description: 'seconds between resyncs with --watch', default: 10, min: 1}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Sync)
    const ctx = makeContext({dryRun: flags['dry-run'], verbose: flags.verbose, quiet: flags.json})
    const once = async () => {
      const result = await reconcile(ctx, {node: nodeOptions(flags), creating: false, what: 'sync'})
      if (flags.json) this.outJson(reconcileJson(result))
      else this.out(renderReconcile(result, 'sync'))
    }
    await once()
    while (flags.watch) {
      await new Promise(resolve => setTimeout(resolve, flags.interval * 1000))
      await once()
    }
  }
}
