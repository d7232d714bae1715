import {BaseCommand} from '../cli/base.js'
import {nodeFlags, jsonFlag, nodeOptions} from '../cli/flags.js'
import {makeContext} from '../services/context.js'
import {nodeStatus} from '../services/status.js'
import {renderStatus} from '../ui/status.js'

export default class Status extends BaseCommand {
  static override summary = 'This node on one screen: lease, backend, devices, peers in sync or drifted, iptables chains, last sync'
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json']
  static override flags = {...nodeFlags, ...jsonFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(Status)
    const s = await nodeStatus(makeContext({verbose: flags.verbose, quiet: true}), nodeOptions(flags))
    if (flags.json) return this.outJson(s)
    this.out(renderStatus(s))
    if (s.peers.some(p => p.state !== 'in-sync') || s.devices.some(d => !d.present || !d.up)) process.exitCode = 1
  }
}
