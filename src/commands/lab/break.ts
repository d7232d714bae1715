import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {labNameFlag} from '../../cli/lab-flags.js'
import {jsonFlag} from '../../cli/flags.js'
import {loadLab} from '../../services/lab.js'
import {FAULTS, breakLab} from '../../services/faults.js'
import {renderTable} from '../../ui/table.js'
import {userError} from '../../errors.js'

export default class LabBreak extends BaseCommand {
  static override summary = 'Inject a named fault into a lab node, to watch trace and doctor find it'
  static override description = `Faults are made with plain ip, bridge, iptables and sysctl commands inside the node's
namespace (some also touch the peer, e.g. stale-vtep-mac recreates the peer's flannel.1).
The output names the pod pair whose trace shows the fault. Repair with
\`flannelctl lab exec NODE -- flannelctl sync\` or with the fix the trace prints.`

  static override examples = [
    '<%= config.bin %> lab break --list',
    '<%= config.bin %> lab break n1 missing-fdb',
    '<%= config.bin %> lab break n1 stale-vtep-mac --peer n2',
    '<%= config.bin %> lab break n1 hostgw-via-router --name seg',
  ]

  static override args = {
    node: Args.string({description: 'lab node to break (n1, n2, …)'}),
    fault: Args.string({description: 'fault name (see --list)'}),
  }

  static override flags = {
    ...labNameFlag,
    peer: Flags.string({description: 'the other node the fault involves [default: the first that fits]'}),
    list: Flags.boolean({description: 'list the faults'}),
    ...jsonFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(LabBreak)
    if (flags.list) {
      if (flags.json) return this.outJson(FAULTS.map(f => ({name: f.name, description: f.description, expectedDisposition: f.expect.disposition, warning: f.expect.warning ?? null, requires: f.requires ?? {}})))
      this.out(renderTable(['FAULT', 'TRACE SHOWS', 'WHAT IT DOES'], FAULTS.map(f => [f.name, f.expect.warning ? `${f.expect.disposition} + ${f.expect.warning}` : f.expect.disposition, f.description])))
      return
    }
    if (!args.node || !args.fault) throw userError('lab break needs a node and a fault', 'e.g. flannelctl lab break n1 missing-fdb (flannelctl lab break --list shows the faults)')
    const state = await loadLab(flags.name)
    const r = await breakLab(state, args.node, args.fault, flags.peer)
    const {src, dst} = r.probe
    const traceCmd = `flannelctl trace ${src.name} ${dst.name} --lab ${state.name}${r.fault.expect.size ? ` --size ${r.fault.expect.size}` : ''}`
    if (flags.json) {
      return this.outJson({fault: r.fault.name, node: r.node.name, peer: r.peer.name, commands: r.commands, probe: {src: src.name, dst: dst.name},
        expectedDisposition: r.fault.expect.disposition, warning: r.fault.expect.warning ?? null, trace: traceCmd})
    }
    this.out(`broke lab ${state.name}: ${r.fault.name} on ${r.node.name} (peer ${r.peer.name})`)
    this.out(`  ${r.fault.description}`)
    for (const c of r.commands) this.out(`  ${c}`)
    const expect = r.fault.expect.warning
      ? `${r.fault.expect.path === 'return' ? 'the reply fails with ' + r.fault.expect.disposition + ', warning ' : 'warning '}${r.fault.expect.warning}`
      : r.fault.expect.disposition
    this.out(`see it:  ${traceCmd}   (expect ${expect})`)
    this.out(`         flannelctl doctor --lab ${state.name}`)
    this.out(`repair:  apply the fix the trace prints, or flannelctl lab exec ${r.node.name} -- flannelctl sync`)
  }
}
