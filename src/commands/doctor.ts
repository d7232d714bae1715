import {Flags} from '@oclif/core'
import {BaseCommand, useColor, refuseThisHostFlagsWithHosts} from '../cli/base.js'
import {absolute, jsonFlag, recordedStoreFlags} from '../cli/flags.js'
import {runDoctor} from '../services/doctor.js'
import {commandEcho} from '../services/context.js'
import {labFixLine, renderDoctor} from '../ui/doctor.js'
import {ExitCode} from '../errors.js'

export default class Doctor extends BaseCommand {
  static override summary = 'Trace every pod pair and check each host for the usual flannel faults'
  static override description = `Traces every pair of pods (full-size packets, the pod's MTU, where the pod's namespace was read) and prints a matrix: ok, or a short name for what goes wrong, grouped by cause with the fix for each. Then checks each host: ip_forward; FORWARD policy DROP with nothing accepting pod traffic, or a native nftables forward chain (nftables.service, firewalld) dropping it, which flannel's accepts do not overrule; MTU (flannel.1 = underlay − 50, cni0 no larger); routes, neighbour and fdb entries of peers that are gone; missing peer entries (a subnet the node reaches by its default route is followed through the router, where it was read); duplicate subnets or public IPs (the 10.0.2.15 of every VM, or a node that took another's address); a lease that still names an address its node lost (a renumber), and a node serving a subnet no lease holds (expired or deleted: the peers' next sync drops their routes to it); VTEP MAC drift after a reboot, and a lease that still announces the old MAC; fdb entries pointing at the wrong host; with DirectRouting, peers on the segment still routed through the tunnel (the store's network config says which); a pod of each node reaching the node itself (a host firewall dropping it leaves every pod pair green); where flannel's rules are (iptables, flanneld's nftables table with EnableNFTables, both, an older flanneld's in POSTROUTING/FORWARD, or none), and a masquerade chain flushed or unjumped; that the store's network config parses (every pair looks fine while no node can sync), and which leases no longer fit it (an edited SubnetLen: their nodes keep those subnets). On a node an older flanneld or a hand built, the fixes are the kernel's and flanneld's commands, never flannelctl's.

--ping confirms the matrix with real pings (a lab, or inventory pods with a netns); where they fail although the tables deliver over vxlan, it asks ethtool on the sending node whether UDP checksum offload is on (a known cause below the tables). Progress goes to stderr on a terminal.

Peers are judged against the store's leases and the nodes' static peers (peer add): a lab's store, on this host alone the one init recorded here, with --inventory the one the nodes' records name (each node's stateFile:; read from where doctor runs, so run it where the store answers), in a snapshot what collect saved of it. Without a store read, an entry for a peer no node read accounts for is called stale, and a note says why.

Without --lab, --inventory or --snapshot it reads this host; one that is no flannel node (no pod bridge with a subnet, no vxlan device, no flannelctl record) is refused (exit 2), not called healthy.

A finding about the store rather than a host (NETCONF_INVALID, MIGRATION_UNFINISHED) has the node "store", the store's spec in its evidence. A fix for the whole network (a flannelctl migrate, run from where doctor ran) is printed once, after the findings that share it.

--json prints {source, nodes, pods, sampled, pairs: [{from, to, disposition, node, reason, fix: [{node, command, scope?, sync?, byHand?, recreates?}], warnings, ping}], findings: [{code, severity, node, peer?, peerSubnet?, mac?, message, evidence, fix: [command], fixes: [{node, command, scope?, sync?, byHand?, recreates?}], clusterFixes?}], rules, healthy}; each finding and each pair keeps its own fix there. A finding's fixes are its fix's commands as objects, in the same order (docs/trace.md: where each runs, which sync leads, which commands are that sync's alternative by hand, which pod a fix re-creates); peer and peerSubnet name the peer whose entries it is about, mac the VTEP MAC of the entry it is about (STALE_FDB, WRONG_VTEP_HOST, VTEP_MAC_DRIFT: the neighbour's old one, MISSING_FDB).

Exit codes: 0 healthy (no failing pair, no error finding; warnings such as stale entries may be listed), 1 problems found, 2 bad input or a host that cannot be read.`

  static override examples = [
    {description: 'Every pod pair and every node of the lab', command: '<%= config.bin %> doctor --lab demo'},
    {description: 'And confirm the matrix with real pings between the pods', command: '<%= config.bin %> doctor --lab demo --ping'},
    {description: 'Offline, from a snapshot directory (flannelctl collect wrote it), as JSON', command: '<%= config.bin %> doctor --snapshot ./snap --json'},
    {description: 'Live hosts named in an inventory', command: '<%= config.bin %> doctor --inventory hosts.yaml'},
    {description: 'This host alone, against the leases of the store init recorded here (--state-file says where init kept its record)', command: '<%= config.bin %> lab exec n1 -- flannelctl doctor'},
  ]

  static override flags = {
    lab: Flags.string({char: 'l', description: 'the hosts of a lab (flannelctl lab up)', exclusive: ['inventory', 'snapshot'], helpGroup: 'SOURCE'}),
    inventory: Flags.string({char: 'i', description: 'YAML/JSON inventory of live hosts (local, netns:NAME, ssh:USER@HOST)', exclusive: ['snapshot', 'lab'], helpGroup: 'SOURCE'}),
    snapshot: Flags.string({char: 's', description: 'snapshot directory, offline (written by flannelctl collect)', exclusive: ['inventory', 'lab'], helpGroup: 'SOURCE'}),
    ping: Flags.boolean({description: 'confirm with real pings between pod namespaces'}),
    ...recordedStoreFlags,
    ...jsonFlag,
  }

  async run(): Promise<void> {
    const {flags, raw} = await this.parse(Doctor)
    refuseThisHostFlagsWithHosts(raw, {lab: flags.lab, inventory: flags.inventory, snapshot: flags.snapshot})
    const report = await runDoctor({inventory: flags.inventory, snapshot: flags.snapshot, lab: flags.lab, ping: flags.ping, stateFile: flags['state-file'], etcdPassword: flags['etcd-password'], cniConfDir: absolute(flags['cni-conf-dir']), nodeName: flags['node-name']},
      {progress: this.progress({verbose: flags.verbose}).report, listener: commandEcho(flags.verbose)})
    if (flags.json) this.outJson(report)
    else {
      this.out(renderDoctor(report, {color: useColor()}))
      const closing = flags.lab === undefined ? undefined : labFixLine(report, flags.lab)
      if (closing !== undefined) this.out(`\n${closing}`)
    }
    process.exitCode = report.healthy ? ExitCode.ok : ExitCode.notDelivered
  }
}
