import {BaseCommand, refuseStoreFlagsWithLab} from '../../cli/base.js'
import {chosenStore, storeFlags, jsonFlag, nodeFlags} from '../../cli/flags.js'
import {Flags} from '@oclif/core'
import {leaseView, migrationNote} from '../../services/lease.js'
import {Lab, loadLab} from '../../services/lab.js'
import {leaseTable} from '../../ui/leases.js'

export default class LeaseList extends BaseCommand {
  static override summary = 'The subnet leases in the store'
  static override description = `One row per lease: subnet, public IP, backend, VTEP MAC and expiry, read from the store as flanneld writes it (etcd keys under /coreos.com/network/subnets, or the same layout in a file store). Entries that are not valid leases are listed as skipped (an IPv6-only lease of a dual-stack flanneld among them); leases that no longer fit the network config (a SubnetLen, SubnetMin or SubnetMax edited under the nodes) get a warning: their nodes keep those subnets and go on syncing their peers.

Exit codes: 0 listed (an empty store too: a note on stderr names it; a network config that does not parse too: a warning on stderr says why), 2 bad input, a store that cannot be read, or a file store whose directory does not exist.`
  static override examples = [
    {description: 'The store named by --store or FLANNELCTL_STORE, else the one init recorded on this host', command: '<%= config.bin %> lease list'},
    {description: 'As JSON, with the network config', command: '<%= config.bin %> lease list --json'},
    {description: 'The store of a lab (flannelctl lab up), its own etcd too', command: '<%= config.bin %> lease list --lab demo'},
    {description: 'An etcd store by address: a lab made with --store etcd runs one at 192.168.100.2, reachable from its nodes only (from this machine the address is not the lab\'s)', command: '<%= config.bin %> lab exec --name et n1 -- flannelctl lease list --store etcd://192.168.100.2:2379'},
  ]

  static override flags = {
    lab: Flags.string({char: 'l', description: 'the store of a lab (flannelctl lab up); a lab\'s own etcd is read from inside the lab', helpGroup: 'SOURCE'}),
    ...storeFlags,
    'state-file': nodeFlags['state-file'],
    ...jsonFlag,
  }

  async run(): Promise<void> {
    const {flags, raw} = await this.parse(LeaseList)
    refuseStoreFlagsWithLab(raw, flags.lab, [...Object.keys(storeFlags), 'state-file'], 'read')
    const r = flags.lab === undefined ? await chosenStore(flags).then(({spec, options}) => leaseView(spec, options))
      : await new Lab().leaseView(await loadLab(flags.lab, '--lab'))
    if (r.configProblem) this.err(`warning: ${r.configProblem}`)
    if (r.offConfig) this.err(`warning: ${r.offConfig}`)
    if (r.migration) this.err(`note: ${migrationNote(r.migration)}`)
    if (flags.json) return this.outJson(r)
    this.out(leaseTable(r.leases))
    for (const bad of r.invalid) this.out(`skipped ${bad.key}: ${bad.reason}`)
    // a mistyped --store reads as an empty one: say which store that was
    if (r.network === null && !r.configProblem) this.err(`note: ${r.store} holds no network config: check --store, or create one with flannelctl init --network CIDR`)
  }
}
