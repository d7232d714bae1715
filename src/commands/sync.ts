import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {nodeFlags, dryRunFlag, jsonFlag, forceFlag, nodeOptions} from '../cli/flags.js'
import {makeContext, type ServiceContext} from '../services/context.js'
import {reconcile, storeOptions, DEFAULT_STATE_FILE, type NodeOptions, type ReconcileResult} from '../services/node.js'
import {claimPidFile} from '../store/file-lock.js'
import {openStore} from '../store/store.js'
import {NodeAgent} from '../services/agent.js'
import {isUserError} from '../errors.js'
import {renderReconcile, reconcileJson} from '../ui/plan.js'
import {StopSignals} from '../adapters/stop-signals.js'
import {RoundLog} from '../core/agent-log.js'

/** --watch's resync interval when none is given: not a flag default, which would make --interval look given to a one-shot sync */
const DEFAULT_INTERVAL_S = 10

export default class Sync extends BaseCommand {
  static override summary = 'Reconcile this host with the store: add new peers, repair drifted ones, remove those that left'
  static override description = `Idempotent: with nothing to do it says "up to date" and changes nothing. Touches only what flannelctl owns (its vxlan device, bridge, recorded routes, its iptables chains or, with EnableNFTables, flanneld's nftables tables); pods' veths left in no bridge (the bridge deleted and made again) are plugged back into it when their pod has an address in this node's subnet (another CNI network's, its bridge deleted, is left alone and named in a warning). A node whose address changed while its bridge still serves its subnet follows the new address, and its lease moves with it (not while another host still answers at the old one: a running clone); a subnet that no longer fits an edited SubnetLen, SubnetMin or SubnetMax is not given up: it is kept, with a warning on every sync, and peers are synced as usual (a subnet outside an edited Network stops sync: the error says why). A change of EnableNFTables in the network config moves the rules on the next sync: the new ones are added before the old ones go, and rules someone else put in flannel's old chains (which go with them) are named in a warning. Needs no flags after init. Warns when a host firewall drops forwarded pod traffic where flannel's accepts cannot overrule it: a native nftables forward chain (nftables.service, firewalld) in either mode, iptables' FORWARD with EnableNFTables. On vxlan it also warns when the firewall on the way in (PREROUTING's raw and mangle tables, INPUT: iptables, a native chain, firewalld's zone) drops the peers' packets to the vxlan UDP port, which cuts every peer off (on a node with no peer yet: where the drop holds for any source, the first to join), naming the rule and the accept that fixes it (iptables -I INPUT -p udp --dport 8472 -j ACCEPT, or firewall-cmd --add-port=8472/udp in firewalld's table, a rich rule accepting the port ahead of a firewalld rich rule that drops it).

With --watch it keeps doing so, like flanneld: within a second of a change in the store (config, a peer's lease, a migration step) when the store can be watched, planning against what it applied last instead of re-reading the host; every --interval it reads the host and the whole store, repairing anything changed by hand; it renews its lease hourly, and always before it expires, whatever its TTL (a lease put back by hand with a short one is renewed at once). It prints a round only when it changed something or says something new (lease, peers, warnings): an idle agent is quiet, but for warnings that still hold (a subnet kept off an edited SubnetLen, a firewall dropping vxlan's port), which a round that read the host prints again once an hour. Each round after the first names what woke it, as in \"sync (store event): …\", \"sync (periodic resync): …\" (one that changed something found the host changed by hand or by another program), \"sync (lease renewal): …\" or \"sync (retry): …\". With --json each round is one object on one line, with \"trigger\": start, store event, periodic resync, lease renewal or retry. While the store cannot be read it leaves the host as it is and retries after 0.5 s, 1 s, 2 s, 4 s, then every 5 s (a first round that fails ends sync with the error): an etcd that goes away breaks the watch, which starts a round at once, and the agent says on stderr, once, that the store cannot be reached and that it keeps the host's network as it is (each retry with --verbose; a new cause again), then when it is in sync again. A flannelctl reset of the host ends it, exit 2. SIGTERM or Ctrl-C stops it between rounds, exit 0, leaving the host's network as it is. --dry-run shows the commands and changes nothing.`

  static override examples = [
    {description: 'Converge this host with the store', command: '<%= config.bin %> sync'},
    {description: 'See what it would change', command: '<%= config.bin %> sync --dry-run'},
    {description: 'Agent mode, resyncing every 5 s', command: '<%= config.bin %> sync --watch --interval 5'},
    {description: 'In the lab, repair node n1 after lab break', command: '<%= config.bin %> lab exec n1 -- flannelctl sync'},
  ]

  static override flags = {
    ...nodeFlags,
    ...forceFlag,
    ...dryRunFlag,
    ...jsonFlag,
    watch: Flags.boolean({description: 'keep reconciling (agent mode)'}),
    // at most a day: Node's timers take at most 2^31 − 1 ms (~24.8 days) and fire at once beyond, a round a millisecond
    interval: Flags.integer({description: `seconds between resyncs with --watch, at most a day [default: ${DEFAULT_INTERVAL_S}]`, min: 1, max: 86400, dependsOn: ['watch']}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Sync)
    // An agent keeps its next ip/bridge batch started, as flanneld keeps its netlink socket open.
    const ctx = makeContext({dryRun: flags['dry-run'], verbose: flags.verbose, quiet: flags.json, agent: flags.watch})
    const log = new RoundLog()
    const show = (result: ReconcileResult, trigger?: RoundTrigger) => {
      // An agent's log says what changed (RoundLog): what a round says is compared without the
      // changes, so the round after a repair does not print 'up to date', which would read as one
      // more round that found something.
      const said = JSON.stringify(reconcileJson({...result, ops: [], plan: [], applied: false}))
      if (flags.watch && !log.print({said, changed: result.ops.length > 0, warnings: result.warnings.length, periodic: trigger !== 'store event'}, Date.now())) return
      // ...and what woke the round: a periodic resync that changed something found the host
      // changed behind the agent's back (by hand, by another program), a store event did not.
      // An agent's rounds are a stream: one object a line, as log collectors read them.
      if (flags.json && flags.watch) this.outJsonLine({trigger: trigger ?? 'start', ...reconcileJson(result)})
      else if (flags.json) this.outJson(reconcileJson(result))
      else this.out(renderReconcile(result, trigger ? `sync (${trigger})` : 'sync'))
    }
    if (flags.watch) this.signals = new StopSignals(() => this.onStop())
    // The agent's record is made before the first round, which may take long (a store that is slow to
    // answer, a thousand peers): a second agent and reset see it meanwhile. A state directory that
    // does not exist yet cannot hold it: then it is made once the first round is done.
    const claimAgent = flags.watch && !flags['dry-run'] ? () => claimAgentRecord(nodeOptions(flags).stateFile ?? DEFAULT_STATE_FILE) : () => true
    const claimedEarly = claimAgent()
    // The first round is the user's command: a store that cannot be reached fails it (exit code, clear error).
    const first = await reconcile(ctx, {node: nodeOptions(flags), creating: false, what: 'sync'})
    show(first)
    if (!claimedEarly) claimAgent()
    if (flags.watch) await this.watch(ctx, nodeOptions(flags), first, show, (flags.interval ?? DEFAULT_INTERVAL_S) * 1000, flags.verbose)
  }

  /** Ctrl-C or a service manager's SIGTERM ends the agent between rounds (the first included): the host keeps what it has. */
  private signals?: StopSignals
  private onStop = () => {}

  private get stopping(): NodeJS.Signals | undefined {
    return this.signals?.signal
  }

  /**
   * Agent mode: resync every interval, at once when the store says something changed, and while
   * the store fails, again after a growing delay (RETRY_FIRST_MS doubling up to RETRY_MAX_MS).
   * A failed round changes nothing on the host: it fails reading the store, before any plan.
   */
  private async watch(ctx: ServiceContext, node: NodeOptions, first: ReconcileResult, show: (r: ReconcileResult, trigger: RoundTrigger) => void, intervalMs: number, verbose: boolean): Promise<void> {
    const store = await openStore(first.node.store, storeOptions(first.node, node))
    const agent = new NodeAgent(ctx, node, store)
    agent.adopt(first)
    let poked = false
    let wake = () => {}
    this.onStop = () => wake()
    const poke = () => {
      poked = true
      wake()
    }
    // A watch that loses the store wakes a round at once: it says whether the store answers, instead
    // of a quiet agent until the next --interval (up to a day) finds out.
    await store.watch?.(poke, poke)
    let failures = 0
    let failingSince = 0
    let said = ''
    // After a store loss, peers lease their subnets again one by one: keep the missing ones a while.
    const grace = Math.max(2 * intervalMs, 10_000)
    let keepVanishedUntil = first.leaseRecreated ? Date.now() + grace : 0
    for (;;) {
      let timer: NodeJS.Timeout | undefined
      const renewalDue = agent.renewalDueInMs()
      const renewing = failures === 0 && renewalDue !== undefined && renewalDue < intervalMs
      const delay = failures > 0 ? retryDelayMs(failures) : renewing ? renewalDue : intervalMs
      if (!poked && !this.stopping) await new Promise<void>(resolve => {
        wake = resolve
        timer = setTimeout(resolve, delay)
      })
      clearTimeout(timer)
      if (this.stopping) {
        this.err(`sync: stopped by ${this.stopping}; the host keeps its network as last synced (peers route to it while its lease lasts, 24 h)`)
        // the store's watch and the agent's open ip/bridge batch would keep the process alive
        process.exit(0)
      }
      const periodic = !poked || failures > 0
      const trigger: RoundTrigger = poked ? 'store event' : failures > 0 ? 'retry' : renewing ? 'lease renewal' : 'periodic resync'
      poked = false
      try {
        const result = await agent.round({periodic, keepVanishedPeers: Date.now() < keepVanishedUntil})
        if (result === undefined) continue
        show(result, trigger)
        if (result.leaseRecreated) keepVanishedUntil = Date.now() + grace
        if (failures > 0) this.err(`sync: in sync with ${store.describe()} again after ${failures} failed ${failures === 1 ? 'round' : 'rounds'} (${((Date.now() - failingSince) / 1000).toFixed(0)} s): the store answers`)
        failures = 0
        said = ''
      } catch (error) {
        // An agent outlives a bad round (store unreachable or emptied, a device busy): say so, retry.
        if (!isUserError(error)) throw error
        // `flannelctl reset` ran under it: there is nothing left to keep in sync, and init starts afresh.
        if (error.reason === 'NO_STATE') {
          this.err(`Error: ${error.message}: the host was reset while sync --watch ran; the agent stops\nHint: to set it up again: flannelctl init, then flannelctl sync --watch`)
          process.exit(error.exitCode)
        }
        failures++
        if (failures === 1) failingSince = Date.now()
        const retry = `retry ${failures} in ${(retryDelayMs(failures) / 1000).toFixed(1)} s`
        // Said once while it holds, and again when the failure changes ("etcd at … is unreachable"
        // stays one failure, whatever grpc says of each attempt); each retry with --verbose.
        const failure = error.message.split(': ')[0]
        if (failures === 1) this.err(`sync: ${error.message}${error.hint ? ` (${error.hint})` : ''}; the host keeps its network as it is (routes, neighbours and fdb) until a round succeeds, retrying after 0.5, 1, 2, 4, then every 5 s, and says when it is in sync again; ${retry}`)
        else if (failure !== said) this.err(`sync: still failing, now: ${error.message}; the host keeps its network as it is; ${retry}`)
        else if (verbose) this.err(`sync: ${error.message}; ${retry}`)
        said = failure
      }
    }
  }
}

/** What woke an agent's round: the store's watch, the --interval timer, its lease's renewal, or the backoff after a failed round. */
type RoundTrigger = 'store event' | 'periodic resync' | 'lease renewal' | 'retry'

const RETRY_FIRST_MS = 500
const RETRY_MAX_MS = 5000

/** 0.5 s, 1 s, 2 s, 4 s, then every 5 s: quick after a blip, gentle on a store that is down. */
export function retryDelayMs(failures: number): number {
  return Math.min(RETRY_FIRST_MS * 2 ** Math.min(failures - 1, 16), RETRY_MAX_MS)
}

/**
 * This host's agent record (`<state file>.agent`). Two agents on one host take turns through the
 * state lock and so break nothing, but each round runs twice and every store event wakes both: say
 * so (a unit and a hand-run one, say). True once settled: claimed, or held by another agent.
 */
function claimAgentRecord(statePath: string): boolean {
  const {claimed, holder} = claimPidFile(`${statePath}.agent`, ['sync', '--watch'])
  if (holder) process.stderr.write(`sync: warning: another sync --watch (pid ${holder.pid}, since ${holder.since}) already keeps this host (${statePath}) in sync; both take turns, doing every round twice: stop one of them\n`)
  return claimed || holder !== undefined
}
