import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base.js'
import {nodeFlags, dryRunFlag, jsonFlag, forceFlag, nodeOptions, VNI_BOUNDS, PORT_BOUNDS} from '../cli/flags.js'
import {makeContext} from '../services/context.js'
import {netConfArgument, reconcile} from '../services/node.js'
import {renderReconcile, reconcileJson} from '../ui/plan.js'
import {hostInterfaces, existingNetConf} from '../services/wizard.js'
import {askInit, confirmApply} from '../ui/wizard.js'

export default class Init extends BaseCommand {
  static override summary = 'Make this host a flannel node: lease a subnet, build bridge + backend, write subnet.env and the CNI conflist'
  static override description = `Reads (or creates) the network config in the store, leases a subnet for this host (the one it already holds, else the one in its subnet.env, else a free one), and builds what flanneld would: the cni0 bridge, the vxlan device flannel.<VNI> or host-gw routes, routes to every known peer, the FLANNEL-FWD and FLANNEL-POSTRTG iptables chains (with "EnableNFTables": true in the net-conf, flanneld's nftables tables flannel-ipv4 and flannel-ipv6 instead), subnet.env and 10-flannel.conflist. Running it again changes nothing when the host is already right. IPv4 only: a net-conf asking for dual stack (EnableIPv6) is refused; a flanneld dual-stack network in the store is joined for IPv4, with a warning (docs/compatibility.md).

On a terminal without --network, --net-conf or --iface it asks a few questions (store, network, backend, interface), shows the plan and applies it when you confirm. The node flags are recorded in the state file: later commands on this host need none of them. --dry-run shows the commands and changes nothing.

Exit codes: 0 done, 2 bad input (the message names the field), 3 a program failed or the store stopped answering (run it again); a --dry-run, which changes nothing, exits 2 when it cannot read the store or the host.`

  static override examples = [
    {description: 'The first node creates the network config; every node leases a subnet and builds itself', command: '<%= config.bin %> init --network 10.244.0.0/16 --backend vxlan --iface eth0'},
    {description: 'See the plan without changing anything', command: '<%= config.bin %> init --network 10.244.0.0/16 --backend host-gw --dry-run'},
    {description: 'Leases in etcd, with flanneld\'s keys and values', command: '<%= config.bin %> init --store etcd://10.0.0.5:2379 --iface eth1'},
    {description: 'The whole flannel net-conf, as in net-conf.json', command: `<%= config.bin %> init --net-conf '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","DirectRouting":true}}'`},
    {description: 'flannel\'s own net-conf.json, as kube-flannel mounts it for flanneld', command: '<%= config.bin %> init --net-conf /etc/kube-flannel/net-conf.json'},
  ]

  static override flags = {
    network: Flags.string({description: 'pod network CIDR (creates the config when the store has none)', helpGroup: 'NETWORK'}),
    'subnet-len': Flags.integer({description: 'prefix length of each node\'s subnet [default: 24]', min: 1, max: 30, helpGroup: 'NETWORK'}),
    'subnet-min': Flags.string({description: 'first subnet to hand out', helpGroup: 'NETWORK'}),
    'subnet-max': Flags.string({description: 'last subnet to hand out', helpGroup: 'NETWORK'}),
    backend: Flags.string({description: 'vxlan or host-gw [default: vxlan]', helpGroup: 'NETWORK'}),
    directrouting: Flags.boolean({description: 'vxlan: plain routes to peers on the same L2 segment', helpGroup: 'NETWORK'}),
    vni: Flags.integer({description: 'vxlan VNI [default: 1]', ...VNI_BOUNDS, helpGroup: 'NETWORK'}),
    port: Flags.integer({description: 'vxlan UDP port [default: 8472]', ...PORT_BOUNDS, helpGroup: 'NETWORK'}),
    'net-conf': Flags.string({description: 'the whole net-conf JSON, or the path of a net-conf.json, as flanneld reads it (IPv4: "EnableIPv6": true is refused)', helpGroup: 'NETWORK'}),
    ...nodeFlags,
    ...forceFlag,
    ...dryRunFlag,
    ...jsonFlag,
    yes: Flags.boolean({char: 'y', description: 'do not ask anything (no wizard, no confirmation)', helpGroup: 'OUTPUT'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Init)
    const interactive = !flags.yes && !flags.json && !flags['dry-run'] && process.stdin.isTTY && process.stdout.isTTY
      && !flags.network && !flags['net-conf'] && !flags.iface
    if (interactive) return this.wizard(flags)
    const ctx = makeContext({dryRun: flags['dry-run'], verbose: flags.verbose, quiet: flags.json})
    const result = await reconcile(ctx, this.request({...flags, 'net-conf': await netConfArgument(flags['net-conf'])}))
    if (flags.json) this.outJson(reconcileJson(result))
    else this.out(renderReconcile(result, 'init'))
  }

  private request(flags: Record<string, unknown>) {
    return {
      node: nodeOptions(flags),
      network: {
        netConf: flags['net-conf'] as string | undefined, network: flags.network as string | undefined,
        subnetLen: flags['subnet-len'] as number | undefined, subnetMin: flags['subnet-min'] as string | undefined,
        subnetMax: flags['subnet-max'] as string | undefined, backend: flags.backend as string | undefined,
        directRouting: flags.directrouting as boolean | undefined, vni: flags.vni as number | undefined, port: flags.port as number | undefined,
      },
      creating: true,
      what: 'init',
    }
  }

  /** Ask the few questions that matter, show the plan, apply it only when confirmed. */
  private async wizard(flags: Record<string, unknown>): Promise<void> {
    const answers = await askInit({
      store: flags.store as string | undefined,
      interfaces: await hostInterfaces(makeContext({quiet: true})),
      loadNetConf: existingNetConf,
    })
    const request = this.request({...flags, store: answers.store, iface: answers.iface, network: answers.network, backend: answers.backend})
    const plan = await reconcile(makeContext({dryRun: true, verbose: flags.verbose as boolean}), request)
    this.out(renderReconcile(plan, 'init'))
    if (plan.ops.length === 0) return
    if (!(await confirmApply('Apply this plan?'))) {
      this.out('nothing changed')
      return
    }
    const result = await reconcile(makeContext({verbose: flags.verbose as boolean}), request)
    this.out(renderReconcile(result, 'init'))
  }
}
