import {Flags} from '@oclif/core'
import {BaseCommand, refuseThisHostFlagsWithHosts} from '../cli/base.js'
import {absolute, jsonFlag, recordedStoreFlags} from '../cli/flags.js'
import {collectToDir, unreadError} from '../services/collect.js'
import {commandEcho} from '../services/context.js'
import {count} from '../core/words.js'

export default class Collect extends BaseCommand {
  static override summary = 'Write the hosts\' tables to a snapshot directory, for offline trace/doctor or a bug report'
  static override description = `Writes DIR/inventory.yaml and, per host, DIR/<host>/ip-addr, ip-link, ip-route (every table: \`ip -4 route show table all\`), ip-route-cache (\`ip -4 route show cache\`: path MTUs the host learned), ip-rule, ip-neigh, bridge-fdb, iptables-save, nft-ruleset (\`nft -j list ruleset\`, or \`nft -a list ruleset\` with --format txt, where nft is installed), tc-qdisc (\`tc -j qdisc show\`: which devices have a clsact or ingress qdisc, where tc filters and BPF programs act), ipset (\`ipset save\`: the sets \`-m set\` rules test, where ipset is installed) and sysctl: as \`ip -j\` JSON (--format json) or as the plain text the commands print (--format txt); a host whose iproute2 predates \`-j\` (CentOS 7, busybox) gives the plain text of those tables instead. Pods whose own namespace is known get DIR/<pod>/ too. Pods an inventory does not list are found from each node's bridge neighbours and host-local's allocations, read where the node's CNI configs say (host-local's dataDir, default /var/lib/cni/networks): an inventory node's cniConfDir: (else the one init recorded in its stateFile:), on this host --cni-conf-dir or the one init recorded, else /etc/cni/net.d. Where the hosts' store is known (a lab's, or the one init recorded on this host), DIR/store.json holds its leases and network config, so \`doctor --snapshot\` checks what \`doctor\` checks live (stale peers, EnableNFTables, DirectRouting). Reads only; changes nothing.

Without --lab or --inventory it reads this host. Then trace or check offline, anywhere: \`flannelctl trace SRC DST --snapshot DIR\`, \`flannelctl doctor --snapshot DIR\`. A snapshot directory may also be filled by hand from pasted output (ip, route -n, arp -n, ifconfig, bridge fdb, iptables-save): see docs/trace.md.

DIR is made when absent; a snapshot collect wrote there before is replaced whole (hosts no longer collected go with it); any other directory that is not empty is refused. A host that cannot be read does not cost the others: they are written, inventory.yaml records it as \`unread:\` with why (trace and doctor --snapshot then say where its tables are missing), and collect exits 2 naming it.`

  static override examples = [
    {description: 'Every node, pod and router of the lab', command: '<%= config.bin %> collect --lab demo --out ./snap'},
    {description: 'Live hosts of an inventory, as plain text', command: '<%= config.bin %> collect --inventory hosts.yaml --out ./snap-txt --format txt'},
    {description: 'This host only, for a bug report', command: '<%= config.bin %> collect --out ./this-host'},
  ]

  static override flags = {
    lab: Flags.string({char: 'l', description: 'the hosts of a lab (flannelctl lab up)', exclusive: ['inventory'], helpGroup: 'SOURCE'}),
    inventory: Flags.string({char: 'i', description: 'YAML/JSON inventory of live hosts (local, netns:NAME, ssh:USER@HOST)', exclusive: ['lab'], helpGroup: 'SOURCE'}),
    out: Flags.string({char: 'o', description: 'directory to write', required: true, helpGroup: 'OUTPUT'}),
    format: Flags.string({description: 'json (ip -j) or txt (plain text as printed)', options: ['json', 'txt'], default: 'json', helpGroup: 'OUTPUT'}),
    ...recordedStoreFlags,
    ...jsonFlag,
  }

  async run(): Promise<void> {
    const {flags, raw} = await this.parse(Collect)
    refuseThisHostFlagsWithHosts(raw, {lab: flags.lab, inventory: flags.inventory})
    const r = await collectToDir({inventory: flags.inventory, lab: flags.lab, stateFile: flags['state-file'], etcdPassword: flags['etcd-password'], cniConfDir: absolute(flags['cni-conf-dir']), nodeName: flags['node-name']}, flags.out,
      {format: flags.format as 'json' | 'txt', progress: this.progress({verbose: flags.verbose, quiet: flags.json}).report, listener: commandEcho(flags.verbose)})
    if (flags.json) this.outJson(r)
    else {
      this.out(`collected ${r.source}: ${count(r.hosts, 'host')}, ${count(r.pods, 'pod')}, ${count(r.files.length, 'file')} in ${r.dir}`)
      this.out(`trace offline with: flannelctl trace ${r.example?.join(' ') ?? 'SRC DST'} --snapshot ${r.dir}   ·   every pod pair and host check: flannelctl doctor --snapshot ${r.dir}`)
    }
    if (r.unread.length > 0) throw unreadError(r)
  }
}
