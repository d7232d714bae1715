import {Flags} from '@oclif/core'
import {BaseCommand, useColor} from '../../cli/base.js'
import {labNameFlag} from '../../cli/lab-flags.js'
import {jsonFlag} from '../../cli/flags.js'
import {Lab, loadLab} from '../../services/lab.js'
import {renderLabStatus, renderPingMatrix} from '../../ui/lab.js'

export default class LabStatus extends BaseCommand {
  static override summary = 'Show a lab\'s nodes and pods, and with --ping a real pod-to-pod ping matrix'
  static override examples = ['<%= config.bin %> lab status', '<%= config.bin %> lab status --ping']
  static override flags = {...labNameFlag, ping: Flags.boolean({description: 'ping every pod pair (1 probe, 1 s timeout)'}), ...jsonFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(LabStatus)
    const state = await loadLab(flags.name)
    const pings = flags.ping ? await new Lab().pingMatrix(state) : undefined
    if (flags.json) return this.outJson({...state, pings: pings ?? null})
    this.out(renderLabStatus(state))
    if (pings) this.out('\n' + renderPingMatrix(state, pings, useColor()))
    if (pings?.some(p => !p.ok)) process.exitCode = 1
  }
}
