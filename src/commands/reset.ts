import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {nodeFlags, dryRunFlag, jsonFlag, nodeOptions} from '../cli/flags.js'
import {makeContext} from '../services/context.js'
import {resetNode} from '../services/node.js'
import {changeLines} from '../ui/plan.js'

export default class Reset extends BaseCommand {
  static override summary = 'Remove everything flannelctl made on this host, and nothing else'
  static override description = `Deletes the vxlan device (with its neighbour and fdb entries; both devices in a VNI migration stopped midway), the pod bridge, the routes flannelctl recorded, the FLANNEL-* chains and their jumps (on an iptables-nft host, the ip nat or ip filter table too when it holds nothing else, as before init), flanneld's nftables tables (ip flannel-ipv4, ip6 flannel-ipv6: EnableNFTables), subnet.env and the conflist. The lease stays in the store unless --release, so init on this host gets the same subnet back. With --release the lease is released first: when the store cannot be used, nothing on the host is changed and the state file stays, so the same command can be run again. Routes, rules and devices of other software stay as they are; a rule someone put in one of flannel's chains or tables goes with it, and a warning names it. It takes the bridge, files and store init recorded: a --bridge, --iface, --public-ip, --subnet-file or --cni-conf-dir naming others is not used, and a warning says so; with --release, --store and the etcd flags name where the lease is now (as for sync). Pods still on the bridge lose their network with it (reset names their interfaces) until the next init, which plugs their veths into the new bridge; re-create them if it leases another subnet (with --release). net.ipv4.ip_forward goes back to 0 where init switched it on (its record says so), unless another bridge with an address (docker0, virbr0, another CNI's), a tunnel device, routed veths, FORWARD rules of other software (KUBE-FORWARD, DOCKER-USER, a router's ACCEPTs) or a masquerade not flannel's, in iptables or in native nftables (a forward chain that accepts, a nat postrouting chain that masquerades: an nftables-only firewall), still need it: then it stays on and a note names them; switched off, a note gives the way to keep it on (sysctl -w net.ipv4.ip_forward=1); a record of an older flannelctl does not say whether init switched it on, and a note says it stays. --dry-run shows the commands. A host with no record (init never ran here, or a reset already took it apart) has nothing to reset: reset says so and exits 0, so a teardown can run it twice; devices named as flannel's (flannel.<VNI>, cni0) that are there all the same are named in a note and left (a mistyped --state-file).

Exit codes: 0 done, or nothing to reset; 2 bad input; 3 a program failed, or with --release the store stopped answering (nothing was changed: run it again).`

  static override examples = [
    {description: 'Remove flannelctl\'s devices, routes, chains and files from this host', command: '<%= config.bin %> reset'},
    {description: 'See what would be removed', command: '<%= config.bin %> reset --dry-run'},
    {description: 'Also give the subnet back to the store', command: '<%= config.bin %> reset --release'},
  ]

  static override flags = {
    ...nodeFlags,
    ...dryRunFlag,
    ...jsonFlag,
    release: Flags.boolean({description: 'also release the lease in the store, so another host may take the subnet', helpGroup: 'STORE'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Reset)
    const ctx = makeContext({dryRun: flags['dry-run'], verbose: flags.verbose, quiet: flags.json})
    const r = await resetNode(ctx, nodeOptions(flags), {release: flags.release})
    if (r.nothing) return this.nothingToReset(r.nothing, flags.json)
    if (flags.json) return this.outJson({applied: !flags['dry-run'], changes: r.plan, released: r.released ?? null})
    const dryRun = flags['dry-run']
    const release = r.released ? [dryRun ? `would release lease ${r.released} in the store first` : `released lease ${r.released}`] : []
    const plan = r.ops.length === 0 ? ['reset: nothing of flannelctl\'s left on this host to remove']
      : changeLines(r.ops, !dryRun, {appliedHead: 'reset: applied', planHead: 'reset plan'})
    this.out([...plan, ...release].join('\n'))
  }

  /** No record: init never ran here, or a reset already took the host apart; a teardown run twice succeeds. */
  private nothingToReset({path, found}: {path: string; found: string[]}, json: boolean): void {
    const said = `nothing to reset: this host has no flannelctl record at ${path} (init has not run here, or a reset already removed what it made)`
    // a mistyped --state-file lands here too: what it would have removed is named, and left
    const note = found.length === 0 ? undefined
      : `${found.join(' and ')} ${found.length === 1 ? 'is' : 'are'} here all the same, and stay${found.length === 1 ? 's' : ''}: if init made ${found.length === 1 ? 'it' : 'them'} with another --state-file, give reset that one`
    if (json) return this.outJson({applied: false, changes: [], released: null, nothing: said, ...(note ? {note} : {})})
    this.out(`reset: ${said}`)
    if (note) this.err(`note: ${note}`)
  }
}
