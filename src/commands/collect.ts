import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {jsonFlag} from '../cli/flags.js'
import {collectToDir, commandEcho} from '../services/collect.js'

export default class Collect extends BaseCommand {
  static override summary = 'Write the hosts\' tables to a snapshot directory, for offline trace/doctor or a bug report'
  static override description = `Writes DIR/inventory.yaml and DIR/<host>/ip-addr, ip-link, ip-route, ip-neigh, bridge-fdb,
iptables-save and sysctl, as \`ip -j\` JSON (--format json) or as the plain text the commands
print (--format txt). Pods whose own namespace is known get DIR/<pod>/ too.
Then: flannelctl trace SRC DST --snapshot DIR.`

  static override examples = [
    '<%= config.bin %> collect --lab demo --out ./snap',
    '<%= config.bin %> collect --inventory hosts.yaml --out ./snap --format txt',
    '<%= config.bin %> collect --out ./this-host',
  ]

  static override flags = {
    inventory: Flags.string({char: 'i', description: 'YAML/JSON inventory of live hosts', exclusive: ['lab']}),
    lab: Flags.string({char: 'l', description: 'a lab\'s name', exclusive: ['inventory']}),
    out: Flags.string({char: 'o', description: 'directory to write', required: true}),
    format: Flags.string({description: 'json (ip -j) or txt (plain text as printed)', options: ['json', 'txt'], default: 'json'}),
    ...jsonFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Collect)
    const r = await collectToDir({inventory: flags.inventory, lab: flags.lab}, flags.out,
      {format: flags.format as 'json' | 'txt', progress: m => process.stderr.write(m + '\n'), listener: commandEcho(flags.verbose)})
    if (flags.json) return this.outJson(r)
    this.out(`collected ${r.source}: ${r.hosts} hosts, ${r.pods} pods, ${r.files.length} files in ${r.dir}`)
    this.out(`trace offline with: flannelctl trace SRC DST --snapshot ${r.dir}`)
  }
}
