import {Args, Flags} from '@oclif/core'
import {BaseCommand, useColor} from '../cli/base.js'
import {jsonFlag} from '../cli/flags.js'
import {runTrace} from '../services/trace.js'
import {commandEcho} from '../services/collect.js'
import {renderTrace} from '../ui/trace-render.js'
import {ExitCode} from '../errors.js'

export default class Trace extends BaseCommand {
  static override summary = 'Explain, hop by hop, where a packet from SRC to DST goes and why'
  static override description = `SRC and DST are pod names, pod IPs or node names. The tables come from this host (default:
pods are found from the bridge's neighbours and the CNI host-local state), from live hosts in
an --inventory, from a --snapshot directory (offline, see flannelctl collect), or from a --lab.

Exit codes: 0 delivered, 1 not delivered, 2 usage error or unreachable host.`

  static override examples = [
    '<%= config.bin %> trace pod-1a pod-2a --lab demo',
    '<%= config.bin %> trace 10.244.1.34 10.244.2.7 --inventory hosts.yaml --proto tcp --dport 80',
    '<%= config.bin %> trace pod-a pod-b --snapshot ./snap --size 1450',
    '<%= config.bin %> trace pod-1a pod-2a --lab demo --json',
  ]

  static override args = {
    src: Args.string({description: 'source: pod name, pod IP or node name', required: true}),
    dst: Args.string({description: 'destination: pod name, pod IP, node name or an address', required: true}),
  }

  static override flags = {
    inventory: Flags.string({char: 'i', description: 'YAML/JSON inventory of live hosts (local, netns:NAME, ssh:USER@HOST)', exclusive: ['snapshot', 'lab']}),
    snapshot: Flags.string({char: 's', description: 'snapshot directory (offline; written by flannelctl collect)', exclusive: ['inventory', 'lab']}),
    lab: Flags.string({char: 'l', description: 'a lab\'s name (flannelctl lab up)', exclusive: ['inventory', 'snapshot']}),
    proto: Flags.string({description: 'protocol', options: ['icmp', 'tcp', 'udp'], default: 'icmp'}),
    dport: Flags.integer({description: 'destination port (tcp/udp)'}),
    size: Flags.integer({description: 'IP packet size in bytes, DF set (checks MTU along the path)'}),
    ...jsonFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Trace)
    const {trace} = await runTrace({
      src: args.src, dst: args.dst, inventory: flags.inventory, snapshot: flags.snapshot, lab: flags.lab,
      proto: flags.proto as 'icmp' | 'tcp' | 'udp', dport: flags.dport, size: flags.size,
    }, {progress: m => process.stderr.write(m + '\n'), listener: commandEcho(flags.verbose)})
    if (flags.json) this.outJson(trace)
    else this.out(renderTrace(trace, {color: useColor()}))
    process.exitCode = trace.disposition === 'DELIVERED' ? ExitCode.ok : ExitCode.notDelivered
  }
}

