import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {nodeFlags, jsonFlag, nodeOptions, VNI_BOUNDS, PORT_BOUNDS} from '../cli/flags.js'
import {makeContext} from '../services/context.js'
import {migrate, type MigrateResult} from '../services/migrate.js'
import {renderSteps} from '../core/migrate-plan.js'
import {backendChoiceProblem} from '../core/netconf.js'
import {renderReconcile} from '../ui/plan.js'
import {loadLab} from '../services/lab.js'
import {runInLabStore} from '../cli/lab-flags.js'

export default class Migrate extends BaseCommand {
  static override summary = 'Change the backend (or VNI) of a running network without losing traffic'
  static override description = `With --lab or --inventory the steps run on every node, in the order that loses no packet: rp_filter loose everywhere; for vxlan, every node's VTEP and its peers' entries first; each node's peer routes replaced in place, node by node; then what the old backend alone needed is removed and rp_filter restored. A new --vni is done the same way: flannel.<new> (with the old device's MAC) beside flannel.<old> on every node, routes moved node by node, the old device removed last. host-gw is refused before anything changes when a peer is not on-link (and the refusal names each pair).

With --lab or --inventory the migration is kept in the store: run the same command again to finish one that was interrupted, or --rollback to go back the same way. Without them only this host follows at once, the others on their next sync, and there is no record to roll back: migrate back with --backend OLD. --plan shows the steps and changes nothing; without --yes nothing changes either. Progress (one line per step) goes to stderr. See docs/migrate.md.

Exit codes: 0 done, planned or nothing to do; 2 refused before changing anything; 3 a program failed on a node (run the same command again to resume); 130/143 stopped by Ctrl-C/SIGTERM between steps (likewise).`

  static override examples = [
    {description: 'The steps from vxlan to host-gw in the lab, per node; changes nothing', command: '<%= config.bin %> migrate --backend host-gw --lab demo --plan'},
    {description: 'Run them', command: '<%= config.bin %> migrate --backend host-gw --lab demo --yes'},
    {description: 'vxlan with DirectRouting on the hosts of an inventory', command: '<%= config.bin %> migrate --backend vxlan --directrouting --inventory nodes.yaml --yes'},
    {description: 'Another VNI: flannel.2 beside flannel.1 on every node first, routes moved node by node, flannel.1 removed last', command: '<%= config.bin %> migrate --vni 2 --lab demo --yes'},
    {description: 'Back to where the last migration started', command: '<%= config.bin %> migrate --rollback --lab demo --yes'},
  ]

  static override flags = {
    // checked in run(), not by oclif's options: udp and flanneld's other backends get said why they are refused
    backend: Flags.string({description: 'the backend to move to: host-gw or vxlan', helpGroup: 'MIGRATION'}),
    directrouting: Flags.boolean({description: 'vxlan: plain routes to on-link peers', helpGroup: 'MIGRATION'}),
    vni: Flags.integer({description: 'vxlan: move to this VNI (flannel.<VNI> is built beside the old device, which goes last); alone it keeps the backend as it is', ...VNI_BOUNDS, helpGroup: 'MIGRATION'}),
    port: Flags.integer({description: 'vxlan: move to this UDP port, with a new --vni (the new device listens on it beside the old one)', ...PORT_BOUNDS, helpGroup: 'MIGRATION'}),
    rollback: Flags.boolean({description: 'return to the backend (and VNI) the last migration started from', helpGroup: 'MIGRATION'}),
    plan: Flags.boolean({description: 'print the ordered steps, change nothing (also --dry-run, as on every other command that writes)', aliases: ['dry-run'], helpGroup: 'MIGRATION'}),
    yes: Flags.boolean({char: 'y', description: 'run the steps', helpGroup: 'MIGRATION'}),
    lab: Flags.string({description: 'the nodes of this lab', exclusive: ['inventory'], helpGroup: 'SOURCE'}),
    inventory: Flags.string({description: 'the nodes (YAML/JSON: nodes: [{name, exec}], each optionally with stateFile, subnetFile, cniConfDir)', exclusive: ['lab'], helpGroup: 'SOURCE'}),
    ...nodeFlags,
    ...jsonFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Migrate)
    const backendProblem = flags.backend === undefined ? undefined : backendChoiceProblem(flags.backend, t => `--backend ${t}`)
    if (backendProblem) throw backendProblem
    const lab = flags.lab ? await loadLab(flags.lab, '--lab') : undefined
    if (lab && (flags.store === undefined || flags.store === lab.store)) {
      const code = await runInLabStore(lab, this.config.root, ['migrate'], this.argv, flags.verbose)
      if (code !== undefined) {
        process.exitCode = code
        return
      }
    }
    const ctx = makeContext({verbose: flags.verbose, progress: this.progress({verbose: flags.verbose, quiet: flags.json}).report})
    const result = await migrate(ctx, {
      backend: flags.backend as 'host-gw' | 'vxlan' | undefined, directRouting: flags.directrouting, vni: flags.vni, port: flags.port, rollback: flags.rollback,
      lab: flags.lab, inventory: flags.inventory, node: nodeOptions(flags), apply: flags.yes && !flags.plan, verbose: flags.verbose,
    })
    if (flags.json) return this.outJson(toJson(result))
    this.out(render(result, Boolean(flags.plan)))
  }
}

function toJson(r: MigrateResult) {
  return {
    mode: r.mode, from: r.from, to: r.to, resumed: r.resumed, nothingToDo: r.nothingToDo, applied: r.applied,
    state: r.record?.state ?? null, done: r.record?.done ?? null, id: r.record?.id ?? null,
    steps: r.steps, checks: r.checks, notes: r.notes,
  }
}

function render(r: MigrateResult, planOnly: boolean): string {
  const lines: string[] = []
  const who = r.mode === 'local' ? 'this host' : `${r.nodes?.length ?? r.record?.nodes.length ?? 0} nodes`
  const what = r.record?.rollbackOf ? `rollback: back to ${r.to}` : `${r.from} → ${r.to}`
  lines.push(`migrate: ${what} (${who})${r.resumedAt ? `, ${r.applied ? 'resumed' : 'resuming'} at step ${r.resumedAt}` : ''}`)
  lines.push('preflight:')
  for (const c of r.checks) lines.push(`  ${c.ok ? 'ok  ' : 'WARN'} ${c.node}: ${c.message}`)
  if (!r.nothingToDo) {
    if (r.applied) lines.push(`done: ${r.steps.length} steps${r.record ? ` (migration ${r.record.id})` : ''}`)
    else lines.push(`steps${r.record?.done ? ' (✓ = already done)' : ''}:`, ...renderSteps(r.steps).map(l => `  ${l}`))
  }
  if (r.reconcile) lines.push(renderReconcile(r.reconcile, 'migrate'))
  for (const n of r.notes) lines.push(`note: ${n}`)
  if (!r.applied && !r.nothingToDo && !planOnly) lines.push('nothing changed: add --yes to run these steps')
  return lines.join('\n')
}
