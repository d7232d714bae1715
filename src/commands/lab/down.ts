import {BaseCommand} from '../../cli/base.js'
import {labNameFlag} from '../../cli/lab-flags.js'
import {RealRunner} from '../../adapters/runner.js'
import {commandEcho} from '../../services/context.js'
import {Lab} from '../../services/lab.js'

export default class LabDown extends BaseCommand {
  static override summary = 'Remove a lab: its namespaces (and with them every link), its processes and its files'
  static override description = 'Stops what still runs in the lab\'s namespaces (its etcd, a forgotten ping), deletes every namespace named fc-NAME-* and the lab\'s directory. Safe to run twice, and on a lab that is half built.'
  static override examples = [
    {description: 'Remove the lab called demo', command: '<%= config.bin %> lab down'},
    {description: 'Remove another lab', command: '<%= config.bin %> lab down --name seg'},
  ]

  static override flags = {...labNameFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(LabDown)
    this.progress({verbose: flags.verbose}).step(`lab ${flags.name}: removing its namespaces`)
    const removed = await new Lab(new RealRunner({kind: 'local'}, commandEcho(flags.verbose))).down(flags.name)
    this.out(removed.length ? `lab ${flags.name}: removed ${removed.length} namespaces` : `lab ${flags.name}: nothing to remove`)
  }
}
