import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {chosenStore, storeFlags, jsonFlag, dryRunFlag, nodeFlags, VNI_BOUNDS, PORT_BOUNDS} from '../../cli/flags.js'
import {setBackend} from '../../services/lease.js'
import {userError} from '../../errors.js'
import {backendWords} from '../../core/netconf.js'

export default class BackendSet extends BaseCommand {
  static override summary = 'Change the network\'s backend in the store (nodes pick it up on their next sync)'
  static override description = `Only the net-conf in the store changes here; each node rebuilds on its next \`flannelctl sync\` (an agent, \`sync --watch\`, within a second), and pods lose traffic while nodes disagree. To switch a running network without losing traffic use \`flannelctl migrate\`, which orders the per-node steps. While a migration is in progress (stopped midway) this is refused: its nodes follow the migration, whose commit would overwrite the change; finish it or roll it back first. A new --vni keeps each node's VTEP MAC (the new device takes the old one's), so one sync per node converges, in any order; but until every node has synced, a node on flannel.<new> and one on flannel.<old> cannot reach each other's pods (a new --port likewise): \`flannelctl migrate --vni N [--port P]\` changes them without loss.`
  static override examples = [
    {description: 'Switch the store\'s network to host-gw', command: '<%= config.bin %> backend set host-gw'},
    {description: 'vxlan with DirectRouting', command: '<%= config.bin %> backend set vxlan --directrouting'},
    {description: 'vxlan on the VNI and port Calico and the Linux default use', command: '<%= config.bin %> backend set vxlan --vni 4096 --port 4789'},
    {description: 'See the net-conf it would write, writing nothing', command: '<%= config.bin %> backend set host-gw --dry-run'},
  ]

  static override args = {type: Args.string({description: 'vxlan or host-gw', required: true, options: ['vxlan', 'host-gw']})}
  static override flags = {
    directrouting: Flags.boolean({description: 'vxlan: plain routes to peers on the same L2 segment [default: as the store has it]', allowNo: true, helpGroup: 'BACKEND'}),
    vni: Flags.integer({description: 'vxlan VNI [default: as the store has it, else 1]', ...VNI_BOUNDS, helpGroup: 'BACKEND'}),
    port: Flags.integer({description: 'vxlan UDP port [default: as the store has it, else 8472]', ...PORT_BOUNDS, helpGroup: 'BACKEND'}),
    ...storeFlags,
    'state-file': nodeFlags['state-file'],
    ...dryRunFlag,
    ...jsonFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(BackendSet)
    const {spec, options} = await chosenStore(flags)
    const vxlanOnly = [['--directrouting', flags.directrouting], ['--vni', flags.vni], ['--port', flags.port]].filter(([, v]) => v !== undefined).map(([n]) => n)
    if (args.type !== 'vxlan' && vxlanOnly.length > 0) {
      throw userError(`${vxlanOnly.join(', ')} ${vxlanOnly.length > 1 ? 'are settings' : 'is a setting'} of the vxlan backend, not of ${args.type}`, `drop ${vxlanOnly.length > 1 ? 'them' : 'it'}, or set vxlan`)
    }
    const dryRun = flags['dry-run']
    const r = await setBackend(spec, options, {type: args.type, directRouting: flags.directrouting, vni: flags.vni, port: flags.port}, {dryRun})
    const changeWarning = vxlanChangeWarning(r.before.backend, r.after.backend, dryRun)
    if (flags.json) return this.outJson({before: r.before.backend, after: r.after.backend, applied: !dryRun && r.changed, changed: r.changed, warnings: changeWarning ? [changeWarning] : [], ...(dryRun ? {config: r.config} : {})})
    const fmt = (b: typeof r.before.backend) => backendWords(b, b.type === 'vxlan' ? ` VNI ${b.vni} port ${b.port}` : '')
    if (!r.changed) return this.out(`backend: the network already uses ${fmt(r.before.backend)}: nothing to change`)
    this.out(dryRun
      ? `backend plan (nothing written — --dry-run): ${fmt(r.before.backend)} → ${fmt(r.after.backend)}\nthe store's net-conf would be: ${r.config}`
      : `backend: ${fmt(r.before.backend)} → ${fmt(r.after.backend)}\nnodes apply it on their next sync (flannelctl sync, or sync --watch)`)
    if (changeWarning) this.out(`warning: ${changeWarning}`)
  }
}

/** A new VNI or port on a vxlan network: each node moves on its own sync, and nodes on either side of it cannot talk meanwhile. */
function vxlanChangeWarning(before: {type: string; vni: number; port: number}, after: {type: string; vni: number; port: number}, dryRun: boolean): string | undefined {
  if (before.type !== 'vxlan' || after.type !== 'vxlan' || (before.vni === after.vni && before.port === after.port)) return undefined
  const side = (b: typeof before) => `flannel.${b.vni}${before.port === after.port ? '' : ` on port ${b.port}`}`
  const what = [before.vni === after.vni ? '' : `VNI ${dryRun ? 'would change' : 'changed'} from ${before.vni} to ${after.vni}`,
    before.port === after.port ? '' : `port ${dryRun ? 'would change' : 'changed'} from ${before.port} to ${after.port}`].filter(Boolean).join(' and the ')
  // two devices of one VNI would have one name: a new port needs a new VNI to be migrated
  const vni = after.vni === before.vni ? (before.vni === 1 ? 2 : before.vni + 1) : after.vni
  const back = [before.vni === after.vni ? '' : `--vni ${before.vni}`, before.port === after.port ? '' : `--port ${before.port}`].filter(Boolean).join(' ')
  return `the ${what}: each node moves to ${side(after)} on its next sync, and until every node has synced `
    + `a node on ${side(after)} and one still on ${side(before)} cannot reach each other's pods. To change it without losing traffic, `
    + `${dryRun ? '' : `set it back (flannelctl backend set vxlan ${back}) and `}let migrate move the nodes: flannelctl migrate --vni ${vni}${before.port === after.port ? '' : ` --port ${after.port}`} --lab NAME (or --inventory FILE) --yes${before.vni === after.vni ? ` (a new port goes with a new VNI: two devices on one VNI would have one name), then back to VNI ${before.vni}: flannelctl migrate --vni ${before.vni} (the port stays ${after.port})` : ''}`
}
