import {BaseCommand} from '../../cli/base.js'
import {nodeFlags, jsonFlag, nodeOptions} from '../../cli/flags.js'
import {makeContext} from '../../services/context.js'
import {listPeers} from '../../services/node.js'
import {peerTable} from '../../ui/peers.js'

export default class PeerList extends BaseCommand {
  static override summary = 'Peers this host routes to, from the store and static, with their state on this host'
  static override description = `One row per peer: its subnet, backend, public IP, VTEP MAC, where it comes from (store lease or static) and its state on this host (in-sync, drifted, missing; off-link: a host-gw peer off this node's segment, which no route can reach). A store peer's backend is the one its lease announces; a static peer's is how this host reaches it: on a host-gw host directly (host-gw, no VTEP MAC), also one added with --vtep-mac, whose MAC is kept for a move back to vxlan. Run on a node; needs no flags after init.

Exit codes: 0 listed, 2 not initialised, bad input or a store that cannot be read.`
  static override examples = [
    {description: 'On a node', command: '<%= config.bin %> peer list'},
    {description: 'As JSON', command: '<%= config.bin %> peer list --json'},
    {description: 'In the lab, on node n2', command: '<%= config.bin %> lab exec n2 -- flannelctl peer list'},
  ]

  static override flags = {...nodeFlags, ...jsonFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(PeerList)
    const rows = await listPeers(makeContext({verbose: flags.verbose, quiet: true}), nodeOptions(flags))
    if (flags.json) return this.outJson(rows)
    if (rows.length === 0) return this.out('no peers')
    this.out(peerTable(rows))
  }
}
