import {Flags} from '@oclif/core'
import {BaseCommand, useColor} from '../../cli/base.js'
import {labNameFlag} from '../../cli/lab-flags.js'
import {jsonFlag} from '../../cli/flags.js'
import {RealRunner} from '../../adapters/runner.js'
import {commandEcho} from '../../services/context.js'
import {Lab, labPrefix, loadLab, missingLabNamespaces} from '../../services/lab.js'
import {renderLabStatus, renderPingMatrix} from '../../ui/lab.js'

export default class LabStatus extends BaseCommand {
  static override summary = 'Show a lab\'s nodes and pods, and with --ping a real pod-to-pod ping matrix'
  static override description = `The first line: the lab's backend and where flannel's rules are, as the store's network config says now (\`migrate\`, \`backend set\` or an edited EnableNFTables change it), with what \`lab up\` built where that differs. Then one line per node: its namespace, underlay address, segment, leased subnet and pods with their addresses (use them with \`flannelctl lab exec POD -- ping ADDRESS\`). --ping sends one real ICMP echo between every pair of pod namespaces.

A namespace of the lab that is gone (\`ip netns del\`, a reboot) is marked (gone) and named below the table, with the lab down and lab up that build the lab again.

Exit codes: 0 fine (every pair answers with --ping), 1 some pair does not answer or a namespace of the lab is gone, 2 no such lab.`
  static override examples = [
    {description: 'Nodes, subnets and pods of the lab called demo', command: '<%= config.bin %> lab status'},
    {description: 'And whether every pod reaches every other pod, by real pings', command: '<%= config.bin %> lab status --ping'},
    {description: 'Another lab, as JSON (namespaces, addresses, the store)', command: '<%= config.bin %> lab status --name demo --json'},
  ]

  static override flags = {...labNameFlag, ping: Flags.boolean({description: 'ping every pod pair (1 probe, 1 s timeout)'}), ...jsonFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(LabStatus)
    const state = await loadLab(flags.name)
    // a namespace deleted under the lab (ip netns del, a reboot) leaves lab.json naming it: say so, not a table that looks fine
    const missing = missingLabNamespaces(state, await new Lab().namespaces(labPrefix(state.name)))
    if (flags.ping) this.progress({verbose: flags.verbose, quiet: flags.json}).step(`pinging ${state.pods.length * (state.pods.length - 1)} pod pairs`)
    const pings = flags.ping ? await new Lab(new RealRunner({kind: 'local'}, commandEcho(flags.verbose))).pingMatrix(state) : undefined
    // the store says what the network is now; lab.json what lab up built
    const view = await new Lab().storeView(state).catch(() => undefined)
    const now = view?.backend ? {backend: view.backend.type, directRouting: view.backend.directRouting === true, nftables: view.enableNFTables === true} : undefined
    if (missing.length > 0 || pings?.some(p => !p.ok)) process.exitCode = 1
    if (flags.json) return this.outJson({...state, network: now ?? null, pings: pings ?? null, missingNamespaces: missing})
    this.out(renderLabStatus(state, now, missing))
    if (pings) this.out('\n' + renderPingMatrix(state, pings, useColor()))
  }
}
