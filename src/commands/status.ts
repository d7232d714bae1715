import {BaseCommand} from '../cli/base.js'
import {nodeFlags, jsonFlag, nodeOptions} from '../cli/flags.js'
import {makeContext} from '../services/context.js'
import {nodeStatus} from '../services/status.js'
import {renderStatus} from '../ui/status.js'

export default class Status extends BaseCommand {
  static override summary = 'This node on one screen: lease, backend, devices, peers in sync or drifted, iptables chains (nftables with EnableNFTables), last sync'
  static override description = `Run on a node (in the lab: \`flannelctl lab exec n1 -- flannelctl status\`). Reads the store, the state file init wrote and the kernel's tables, and says for each peer whether its route, neighbour and fdb entries are as they should be (in-sync), wrong (drifted) or absent (missing); a host-gw peer off this node's segment, which no route can reach, is off-link. Needs no flags after init.

Exit codes: 0 everything in sync, 1 the store lost this host's lease, a peer drifted, a device is missing or down, or anything else \`flannelctl sync\` would change (listed under drift: a FORWARD jump, ip_forward, an MTU, a rule, flanneld's nftables chains), 2 not initialised or the store cannot be read. What sync would warn about (a peer it cannot route to, off-link in the table; peers reached through another interface) is shown as a warning and does not change the exit code.`
  static override examples = [
    {description: 'On a node: lease, devices, peers, chains', command: '<%= config.bin %> status'},
    {description: 'The same as JSON', command: '<%= config.bin %> status --json'},
    {description: 'In the lab, on node n1', command: '<%= config.bin %> lab exec n1 -- flannelctl status'},
  ]

  static override flags = {...nodeFlags, ...jsonFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(Status)
    const s = await nodeStatus(makeContext({verbose: flags.verbose, quiet: true}), nodeOptions(flags))
    if (flags.json) this.outJson(s)
    else this.out(renderStatus(s))
    if (s.leaseInStore.state !== 'held' || s.peers.some(p => p.state !== 'in-sync' && p.state !== 'off-link') || s.devices.some(d => !d.present || !d.up) || s.drift.length > 0) process.exitCode = 1
  }
}
