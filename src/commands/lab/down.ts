import {BaseCommand} from '../../cli/base.js'
import {labNameFlag} from '../../cli/lab-flags.js'
import {Lab} from '../../services/lab.js'

export default class LabDown extends BaseCommand {
  static override summary = 'Remove a lab: its namespaces (and with them every link) and its files'
  static override examples = ['<%= config.bin %> lab down', '<%= config.bin %> lab down --name seg']
  static override flags = {...labNameFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(LabDown)
    const removed = await new Lab().down(flags.name)
    this.out(removed.length ? `lab ${flags.name}: removed ${removed.length} namespaces` : `lab ${flags.name}: nothing to remove`)
  }
}
