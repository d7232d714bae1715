import {Flags} from '@oclif/core'
import {BaseCommand, useColor} from '../cli/base.js'
import {jsonFlag} from '../cli/flags.js'
import {runDoctor} from '../services/doctor.js'
import {commandEcho} from '../services/collect.js'
import {renderDoctor} from '../ui/doctor.js'
import {ExitCode} from '../errors.js'

export default class Doctor extends BaseCommand {
  static override summary = 'Trace every pod pair and check each host for the usual flannel faults'
  static override description = `Host checks: ip_forward, FORWARD policy DROP without an accept for pods, MTU (flannel.1 =
underlay − 50, cni0 no larger), stale neighbour/fdb/route entries of gone peers, missing peer
entries, duplicate subnets, VtepMAC drift, fdb entries pointing at the wrong host.
Pairs are traced with full-size packets (the pod's MTU) where the pod's namespace was read.
--ping confirms the matrix with real pings (lab, or inventory pods with a netns).

Exit codes: 0 healthy, 1 something is wrong, 2 usage error or unreachable host.`

  static override examples = [
    '<%= config.bin %> doctor --lab demo',
    '<%= config.bin %> doctor --lab demo --ping',
    '<%= config.bin %> doctor --snapshot ./snap --json',
  ]

  static override flags = {
    inventory: Flags.string({char: 'i', description: 'YAML/JSON inventory of live hosts', exclusive: ['snapshot', 'lab']}),
    snapshot: Flags.string({char: 's', description: 'snapshot directory (offline)', exclusive: ['inventory', 'lab']}),
    lab: Flags.string({char: 'l', description: 'a lab\'s name', exclusive: ['inventory', 'snapshot']}),
    ping: Flags.boolean({description: 'confirm with real pings between pod namespaces'}),
    ...jsonFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Doctor)
    const report = await runDoctor({inventory: flags.inventory, snapshot: flags.snapshot, lab: flags.lab, ping: flags.ping},
      {progress: m => process.stderr.write(m + '\n'), listener: commandEcho(flags.verbose)})
    if (flags.json) this.outJson(report)
    else this.out(renderDoctor(report, {color: useColor()}))
    process.exitCode = report.healthy ? ExitCode.ok : ExitCode.notDelivered
  }
}
