import {Args, Flags} from '@oclif/core'
import {BaseCommand, refuseStoreFlagsWithLab} from '../../cli/base.js'
import {chosenStore, storeFlags, storeSpec, jsonFlag, dryRunFlag, nodeFlags, VNI_BOUNDS, PORT_BOUNDS} from '../../cli/flags.js'
import {runInLabStore} from '../../cli/lab-flags.js'
import {loadLab} from '../../services/lab.js'
import {setBackend} from '../../services/lease.js'
import {userError} from '../../errors.js'
import {backendChoiceProblem, backendWords} from '../../core/netconf.js'
import {backendChangeWarning} from '../../core/migrate-plan.js'

export default class BackendSet extends BaseCommand {
  static override summary = 'Change the network\'s backend in the store (nodes pick it up on their next sync)'
  static override description = `Only the net-conf in the store changes here; each node rebuilds on its next \`flannelctl sync\` (an agent, \`sync --watch\`, within a second), and pods lose traffic while nodes disagree. To switch a running network without losing traffic use \`flannelctl migrate\`, which orders the per-node steps. While a migration is in progress (stopped midway) this is refused: its nodes follow the migration, whose commit would overwrite the change; finish it or roll it back first. A new --vni keeps each node's VTEP MAC (the new device takes the old one's), so one sync per node converges, in any order; but until every node has synced, a node on flannel.<new> and one on flannel.<old> cannot reach each other's pods (a new --port likewise): \`flannelctl migrate --vni N [--port P]\` changes them without loss.`
  static override examples = [
    {description: 'Switch the store\'s network to host-gw', command: '<%= config.bin %> backend set host-gw'},
    {description: 'vxlan with DirectRouting', command: '<%= config.bin %> backend set vxlan --directrouting'},
    {description: 'vxlan on the VNI and port Calico and the Linux default use', command: '<%= config.bin %> backend set vxlan --vni 4096 --port 4789'},
    {description: 'See the net-conf it would write, writing nothing', command: '<%= config.bin %> backend set host-gw --dry-run'},
    {description: 'The store of a lab (flannelctl lab up), its own etcd too; its nodes follow on their sync', command: '<%= config.bin %> backend set host-gw --lab demo'},
  ]

  // checked in run(), not by oclif's options: udp and flanneld's other backends get said why they are refused
  static override args = {type: Args.string({description: 'vxlan or host-gw', required: true})}
  static override flags = {
    directrouting: Flags.boolean({description: 'vxlan: plain routes to peers on the same L2 segment [default: as the store has it]', allowNo: true, helpGroup: 'BACKEND'}),
    vni: Flags.integer({description: 'vxlan VNI [default: as the store has it, else 1]', ...VNI_BOUNDS, helpGroup: 'BACKEND'}),
    port: Flags.integer({description: 'vxlan UDP port [default: as the store has it, else 8472]', ...PORT_BOUNDS, helpGroup: 'BACKEND'}),
    lab: Flags.string({char: 'l', description: 'the store of a lab (flannelctl lab up); a lab\'s own etcd is written from inside the lab', helpGroup: 'SOURCE'}),
    ...storeFlags,
    'state-file': nodeFlags['state-file'],
    ...dryRunFlag,
    ...jsonFlag,
  }

  async run(): Promise<void> {
    const {args, flags, raw} = await this.parse(BackendSet)
    const backendProblem = backendChoiceProblem(args.type, t => `flannelctl backend set ${t}`)
    if (backendProblem) throw backendProblem
    refuseStoreFlagsWithLab(raw, flags.lab, [...Object.keys(storeFlags), 'state-file'], 'write')
    const lab = flags.lab === undefined ? undefined : await loadLab(flags.lab, '--lab')
    if (lab) {
      const code = await runInLabStore(lab, this.config.root, ['backend', 'set'], this.argv, flags.verbose)
      if (code !== undefined) {
        process.exitCode = code
        return
      }
    }
    const {spec, options} = lab ? storeSpec({store: lab.store}) : await chosenStore(flags)
    const vxlanOnly = [['--directrouting', flags.directrouting], ['--vni', flags.vni], ['--port', flags.port]].filter(([, v]) => v !== undefined).map(([n]) => n)
    if (args.type !== 'vxlan' && vxlanOnly.length > 0) {
      throw userError(`${vxlanOnly.join(', ')} ${vxlanOnly.length > 1 ? 'are settings' : 'is a setting'} of the vxlan backend, not of ${args.type}`, `drop ${vxlanOnly.length > 1 ? 'them' : 'it'}, or set vxlan`)
    }
    const dryRun = flags['dry-run']
    const r = await setBackend(spec, options, {type: args.type, directRouting: flags.directrouting, vni: flags.vni, port: flags.port}, {dryRun})
    const changeWarning = backendChangeWarning(r.before.backend, r.after.backend, dryRun, lab?.name)
    if (flags.json) return this.outJson({before: r.before.backend, after: r.after.backend, applied: !dryRun && r.changed, changed: r.changed, warnings: changeWarning ? [changeWarning] : [], ...(dryRun ? {config: r.config} : {})})
    const fmt = (b: typeof r.before.backend) => backendWords(b, b.type === 'vxlan' ? ` VNI ${b.vni} port ${b.port}` : '')
    if (!r.changed) return this.out(`backend: the network already uses ${fmt(r.before.backend)}: nothing to change`)
    this.out(dryRun
      ? `backend plan (nothing written — --dry-run): ${fmt(r.before.backend)} → ${fmt(r.after.backend)}\nthe store's net-conf would be: ${r.config}`
      : `backend: ${fmt(r.before.backend)} → ${fmt(r.after.backend)}\nnodes apply it on their next sync (flannelctl sync on each node, or its sync --watch)`)
    if (changeWarning) this.out(`warning: ${changeWarning}`)
  }
}
