import {BaseCommand} from '../../cli/base.js'
import {nodeFlags, jsonFlag} from '../../cli/flags.js'
import {listLeases} from '../../services/lease.js'
import {DEFAULT_STORE} from '../../store/store.js'
import {leaseTable} from '../../ui/leases.js'

export default class LeaseList extends BaseCommand {
  static override summary = 'The subnet leases in the store'
  static override examples = ['<%= config.bin %> lease list', '<%= config.bin %> lease list --store etcd://10.0.0.5:2379 --json']
  static override flags = {
    store: nodeFlags.store,
    'etcd-prefix': nodeFlags['etcd-prefix'],
    'etcd-cafile': nodeFlags['etcd-cafile'],
    'etcd-certfile': nodeFlags['etcd-certfile'],
    'etcd-keyfile': nodeFlags['etcd-keyfile'],
    ...jsonFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(LeaseList)
    const r = await listLeases(flags.store ?? DEFAULT_STORE, {etcdPrefix: flags['etcd-prefix'], etcdCaFile: flags['etcd-cafile'], etcdCertFile: flags['etcd-certfile'], etcdKeyFile: flags['etcd-keyfile']})
    if (flags.json) return this.outJson({store: r.store, network: r.netConf?.network ?? null, backend: r.netConf?.backend ?? null, leases: r.leases, invalid: r.invalid})
    this.out(leaseTable(r.leases))
    for (const bad of r.invalid) this.out(`skipped ${bad.key}: ${bad.reason}`)
  }
}
