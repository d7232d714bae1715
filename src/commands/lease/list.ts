import {BaseCommand} from '../../cli/base.js'
import {storeFlags, storeSpec, jsonFlag} from '../../cli/flags.js'
import {listLeases} from '../../services/lease.js'
import {leaseTable} from '../../ui/leases.js'

export default class LeaseList extends BaseCommand {
  static override summary = 'The subnet leases in the store'
  static override examples = ['<%= config.bin %> lease list', '<%= config.bin %> lease list --store etcd://10.0.0.5:2379 --json']
  static override flags = {
    ...storeFlags,
    ...jsonFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(LeaseList)
    const {spec, options} = storeSpec(flags)
    const r = await listLeases(spec, options)
    if (flags.json) return this.outJson({store: r.store, network: r.netConf?.network ?? null, backend: r.netConf?.backend ?? null, leases: r.leases, invalid: r.invalid})
    this.out(leaseTable(r.leases))
    for (const bad of r.invalid) this.out(`skipped ${bad.key}: ${bad.reason}`)
  }
}
