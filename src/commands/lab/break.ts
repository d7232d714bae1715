import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {labNameFlag} from '../../cli/lab-flags.js'
import {jsonFlag} from '../../cli/flags.js'
import {labNameArg, loadLab} from '../../services/lab.js'
import {RealRunner} from '../../adapters/runner.js'
import {commandEcho} from '../../services/context.js'
import {FAULTS, breakLab, expectedSighting, repairSyncOrder} from '../../services/faults.js'
import {renderTable} from '../../ui/table.js'
import {wrapWords} from '../../core/words.js'
import {userError} from '../../errors.js'

export default class LabBreak extends BaseCommand {
  static override summary = 'Inject a named fault into a lab node, to watch trace and doctor find it'
  static override description = `Each fault is something that happens to real flannel clusters, made with the plain ip, bridge, iptables and sysctl commands an operator would type, inside the node's namespace (some touch the peer too: stale-vtep-mac re-creates the peer's vxlan device, flannel.<VNI>, as a reboot does). The output lists the commands run, the pod pair whose trace shows the fault, and how to repair it: apply the fix the trace prints (where it offers several ways, one of them), or run \`flannelctl sync\` on the node the fault changed. Where the node has rules of its own that undo the fault (forward-drop after the trace's FORWARD accepts were applied), a note names them and their deletions.

--list shows every fault with the disposition or warning trace reports for it. Some need a particular lab: a vxlan backend, three nodes, or two segments (\`lab up --segments 2\`).`

  static override examples = [
    {description: 'Every fault and what trace shows for it', command: '<%= config.bin %> lab break --list'},
    {description: 'n1 loses its fdb entry for n2\'s VTEP: trace pod-1a pod-2a then says FDB_MISSING', command: '<%= config.bin %> lab break n1 missing-fdb'},
    {description: 'n2 "reboots" and its vxlan device gets a new MAC: n1\'s entries for it are stale', command: '<%= config.bin %> lab break n1 stale-vtep-mac --peer n2'},
    {description: 'A firewall sets FORWARD to DROP on n3', command: '<%= config.bin %> lab break n3 forward-drop'},
    {description: 'host-gw to a peer behind the router (needs lab up --name seg --segments 2)', command: '<%= config.bin %> lab break n1 hostgw-via-router --name seg'},
  ]

  static override args = {
    node: Args.string({description: 'the lab node to break (n1, n2, …)'}),
    fault: Args.string({description: 'the fault (see --list)'}),
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
      // what each does, in lines of its own column: on one line a row ran to 240 characters, wrapped by the terminal across the others
      this.out(renderTable(['FAULT', 'TRACE SHOWS', 'WHAT IT DOES'], FAULTS.map(f => [f.name, `${f.expect.path === 'return' ? 'reply: ' : ''}${f.expect.warning ? `${f.expect.disposition} + ${f.expect.warning}` : f.expect.disposition}`,
        wrapWords(f.description, 60).join('\n')])))
      return
    }
    if (!args.node || !args.fault) throw userError('lab break needs a node and a fault', 'e.g. flannelctl lab break n1 missing-fdb (flannelctl lab break --list shows the faults)')
    const state = await loadLab(flags.name)
    const r = await breakLab(state, args.node, args.fault, flags.peer, new RealRunner({kind: 'local'}, commandEcho(flags.verbose)))
    const {src, dst} = r.probe
    const traceCmd = `flannelctl trace ${src.name} ${dst.name} --lab ${state.name}${r.fault.expect.size ? ` --size ${r.fault.expect.size}` : ''}`
    if (flags.json) {
      return this.outJson({fault: r.fault.name, node: r.node.name, peer: r.peer.name, commands: r.commands, probe: {src: src.name, dst: dst.name},
        expectedDisposition: r.fault.expect.disposition, warning: r.fault.expect.warning ?? null, trace: traceCmd, syncRepairs: r.syncKeeps === undefined, masked: r.masked ?? null})
    }
    this.out(`broke lab ${state.name}: ${r.fault.name} on ${r.node.name} (peer ${r.peer.name})`)
    this.out(`  ${r.fault.description}`)
    for (const c of r.commands) this.out(`  ${c}`)
    this.out(`see it:  ${traceCmd}   (expect ${expectedSighting(r.fault.expect)})`)
    this.out(`         flannelctl doctor --lab ${state.name}`)
    // a fix applied before (trace's own, for this fault) still lets the traffic through
    if (r.masked) this.out(`note:    ${r.masked}`)
    const name = labNameArg(state.name)
    const syncs = repairSyncOrder(state, r).map(n => `flannelctl lab exec${name} ${n} -- flannelctl sync`).join('; ')
    // a fix of several ways (an MTU's) is one of them, not all: the trace marks the recommended one
    const fix = 'apply the fix the trace prints (of ways it offers, one)'
    this.out(r.syncKeeps ? `repair:  ${fix}; ${r.syncKeeps}` : `repair:  ${fix}, or ${syncs}`)
  }
}
