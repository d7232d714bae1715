import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {nodeFlags, dryRunFlag, jsonFlag, nodeOptions} from '../cli/flags.js'
import {makeContext} from '../services/context.js'
import {reconcile, storeOptions, type ReconcileResult} from '../services/node.js'
import {openStore, type Store} from '../store/store.js'
import {MIGRATION_META_KEY} from '../core/migrate-plan.js'
import {isUserError} from '../errors.js'
import {renderReconcile, reconcileJson} from '../ui/plan.js'

export default class Sync extends BaseCommand {
  static override summary = 'Reconcile this host with the store: add new peers, repair drifted ones, remove those that left'
  static override description = `Idempotent: with nothing to do it says "up to date" and changes nothing. Touches only what
flannelctl owns (its vxlan device, bridge, recorded routes, its iptables chains).
With --watch it keeps doing so, like flanneld: renewing the lease and resyncing periodically, and
within a second of a change in the store (config, a peer's lease, a migration step) when the store
can be watched.`

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
    const once = async (): Promise<ReconcileResult> => {
      const result = await reconcile(ctx, {node: nodeOptions(flags), creating: false, what: 'sync'})
      if (flags.json) this.outJson(reconcileJson(result))
      else this.out(renderReconcile(result, 'sync'))
      return result
    }
    const first = await once()
    if (flags.watch) await this.watch(first, once, flags.interval * 1000)
  }

  /** Agent mode: resync every interval, and at once when the store says something changed. */
  private async watch(first: ReconcileResult, once: () => Promise<unknown>, intervalMs: number): Promise<never> {
    const store = await openStore(first.node.store, storeOptions(first.node))
    let poked = false
    let wake = () => {}
    await store.watch?.(() => {
      poked = true
      wake()
    })
    let seen = await storeFingerprint(store)
    for (;;) {
      let timer: NodeJS.Timeout | undefined
      if (!poked) await new Promise<void>(resolve => {
        wake = resolve
        timer = setTimeout(resolve, intervalMs)
      })
      clearTimeout(timer)
      const periodic = !poked
      poked = false
      try {
        // Our own lease renewal is a store event too: only a real change (or the period) resyncs.
        const now = await storeFingerprint(store)
        if (!periodic && now === seen) continue
        seen = now
        await once()
      } catch (error) {
        // An agent outlives one bad round (store briefly unreachable, a device busy): say so, retry.
        if (!isUserError(error)) throw error
        process.stderr.write(`sync: ${error.message}${error.hint ? ` (${error.hint})` : ''}; retrying\n`)
      }
    }
  }
}

/** What a node's reconcile depends on in the store, without lease lifetimes (they change on every renewal). */
async function storeFingerprint(store: Store): Promise<string> {
  const [config, {leases}, migration] = await Promise.all([store.getConfig(), store.listLeases(), store.getMeta(MIGRATION_META_KEY)])
  return JSON.stringify([config, leases.map(({expiresAt: _ttl, ...l}) => l), migration])
}
