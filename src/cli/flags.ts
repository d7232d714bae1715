/** Flags shared by the node commands (init, sync, reset, status, peer, migrate). Env fallbacks mirror flanneld's. */
import {resolve} from 'node:path'
import {Flags} from '@oclif/core'
import type {NodeOptions} from '../services/node.js'
import {DEFAULT_STORE, type StoreOptions} from '../store/store.js'

const STORE = 'STORE'
const NODE = 'NODE'
const FILES = 'FILES'

/**
 * `init` records every node flag in the state file, so later commands on that host need none; the
 * defaults shown are what `init` uses when nothing is given or recorded.
 */
export const nodeFlags = {
  store: Flags.string({description: 'where config and leases live: file:DIR, etcd://HOST:2379[,HOST:2379] or flanneld\'s http(s)://HOST:2379[,…] [default: $FLANNELD_ETCD_ENDPOINTS, else recorded by init, else file:/var/lib/flannelctl/store]', env: 'FLANNELCTL_STORE', helpGroup: STORE,
    // A host set up for flanneld names its etcd there; without this, init would quietly start a cluster of one in a file store.
    default: async () => process.env.FLANNELD_ETCD_ENDPOINTS || undefined}),
  'etcd-prefix': Flags.string({description: 'etcd key prefix (flanneld --etcd-prefix) [default: /coreos.com/network]', env: 'FLANNELD_ETCD_PREFIX', helpGroup: STORE}),
  'etcd-cafile': Flags.string({description: 'etcd CA certificate (flanneld --etcd-cafile)', env: 'FLANNELD_ETCD_CAFILE', helpGroup: STORE}),
  'etcd-certfile': Flags.string({description: 'etcd client certificate (flanneld --etcd-certfile)', env: 'FLANNELD_ETCD_CERTFILE', helpGroup: STORE}),
  'etcd-keyfile': Flags.string({description: 'etcd client key (flanneld --etcd-keyfile)', env: 'FLANNELD_ETCD_KEYFILE', helpGroup: STORE}),
  'etcd-username': Flags.string({description: 'etcd user (flanneld --etcd-username); init records the name, \'\' forgets it', env: 'FLANNELD_ETCD_USERNAME', helpGroup: STORE}),
  'etcd-password': Flags.string({description: 'that user\'s password (flanneld --etcd-password); never recorded: give it to each command, or set FLANNELD_ETCD_PASSWORD', env: 'FLANNELD_ETCD_PASSWORD', helpGroup: STORE}),
  iface: Flags.string({description: 'interface for node-to-node traffic (flanneld --iface) [default: the default route\'s]', env: 'FLANNELD_IFACE', helpGroup: NODE}),
  'public-ip': Flags.string({description: 'this node\'s address peers send to (flanneld --public-ip) [default: the interface\'s first IPv4]', env: 'FLANNELD_PUBLIC_IP', helpGroup: NODE}),
  bridge: Flags.string({description: 'pod bridge [default: cni0]', helpGroup: NODE}),
  'ip-masq': Flags.boolean({description: 'masquerade pod traffic leaving the network (flanneld --ip-masq) [default: true]', allowNo: true, env: 'FLANNELD_IP_MASQ', helpGroup: NODE}),
  mtu: Flags.integer({description: 'pod MTU, at most what the underlay carries [default: underlay MTU − 50 on vxlan, underlay MTU on host-gw]', min: 576, max: 65535, helpGroup: NODE}),
  'cni-plugin': Flags.string({description: 'conflist style: bridge (standard plugins only) or flannel (needs flannel\'s CNI binary) [default: bridge]', options: ['bridge', 'flannel'], helpGroup: NODE}),
  'subnet-file': Flags.string({description: 'subnet.env path (flanneld --subnet-file) [default: /run/flannel/subnet.env]', env: 'FLANNELD_SUBNET_FILE', helpGroup: FILES}),
  'cni-conf-dir': Flags.string({description: 'directory of 10-flannel.conflist [default: /etc/cni/net.d]', env: 'FLANNELCTL_CNI_CONF_DIR', helpGroup: FILES}),
  'cni-ipam-dir': Flags.string({description: 'host-local\'s dataDir the conflist names, where it records pod addresses (collect finds pods there); \'\' forgets it [default: host-local\'s, /var/lib/cni/networks]', env: 'FLANNELCTL_CNI_IPAM_DIR', helpGroup: FILES}),
  'state-file': Flags.string({description: 'flannelctl\'s record of this host [default: /var/lib/flannelctl/node.json]', env: 'FLANNELCTL_STATE_FILE', helpGroup: FILES}),
}

/**
 * The bounds of vxlan's numbers as the kernel takes them, for every flag that sets one. VNI 0 is a
 * VNI: flanneld uses an explicit "VNI": 0 as given (flannel.0), and so do we.
 */
export const VNI_BOUNDS = {min: 0, max: 2 ** 24 - 1}
export const PORT_BOUNDS = {min: 1, max: 65535}

/** The store flags alone, for commands that talk to the store but not to this host. */
export const storeFlags = {
  store: nodeFlags.store,
  'etcd-prefix': nodeFlags['etcd-prefix'],
  'etcd-cafile': nodeFlags['etcd-cafile'],
  'etcd-certfile': nodeFlags['etcd-certfile'],
  'etcd-keyfile': nodeFlags['etcd-keyfile'],
  'etcd-username': nodeFlags['etcd-username'],
  'etcd-password': nodeFlags['etcd-password'],
}

/**
 * Commands that read this host's tables (collect, doctor, trace) compare them with the store init
 * recorded here, and find its pods where its conflist says; a host whose state file or conflist
 * is elsewhere (a lab node, several hosts on one filesystem) names it, as the node commands do.
 * They describe this host read alone: typed beside --lab, --inventory or --snapshot they are
 * refused (refuseThisHostFlagsWithHosts).
 */
export const recordedStoreFlags = {
  'state-file': nodeFlags['state-file'],
  'etcd-password': nodeFlags['etcd-password'],
  'cni-conf-dir': nodeFlags['cni-conf-dir'],
  'node-name': Flags.string({description: 'this host\'s name in the report and the snapshot [default: its hostname; in a lab node, set by lab exec]', env: 'FLANNELCTL_NODE_NAME', helpGroup: NODE}),
}

export function storeSpec(f: Record<string, unknown>): {spec: string; options: StoreOptions} {
  return {
    spec: (f.store as string | undefined) ?? DEFAULT_STORE,
    options: {etcdPrefix: f['etcd-prefix'] as string | undefined, etcdCaFile: absolute(f['etcd-cafile']),
      etcdCertFile: absolute(f['etcd-certfile']), etcdKeyFile: absolute(f['etcd-keyfile']),
      etcdUsername: f['etcd-username'] as string | undefined, etcdPassword: f['etcd-password'] as string | undefined},
  }
}

/** The store a command names, else the one `init` recorded on this host, else the default. */
export async function chosenStore(flags: Record<string, unknown>): Promise<{spec: string; options: StoreOptions}> {
  if (flags.store !== undefined) return storeSpec(flags)
  // loaded on use: every command's flags come through this module, even --help's
  const {recordedStore} = await import('../services/lease.js')
  return await recordedStore(flags['state-file'] as string | undefined, flags['etcd-password'] as string | undefined) ?? storeSpec(flags)
}

export const dryRunFlag = {
  'dry-run': Flags.boolean({description: 'print the plan, change nothing', helpGroup: 'OUTPUT'}),
}

export const jsonFlag = {
  json: Flags.boolean({description: 'machine-readable output (JSON on stdout)', helpGroup: 'OUTPUT'}),
}

/** init and sync: a subnet.env or conflist someone else wrote is never overwritten silently. */
export const forceFlag = {
  force: Flags.boolean({description: 'overwrite a subnet.env or CNI conflist that flannelctl did not write', helpGroup: NODE}),
}

/**
 * A path as the state file records it: absolute, so that later commands, run from another
 * directory (a service manager's /), find the files init wrote and not new ones under their cwd.
 */
export function absolute(path: unknown): string | undefined {
  return typeof path === 'string' && path !== '' ? resolve(path) : (path as undefined)
}

export function absoluteStore(spec: unknown): string | undefined {
  if (typeof spec !== 'string' || !spec.startsWith('file:') || spec === 'file:') return spec as string | undefined
  return `file:${resolve(spec.slice('file:'.length))}`
}

export function nodeOptions(f: Record<string, unknown>): NodeOptions {
  return {
    store: absoluteStore(f.store),
    iface: f.iface as string | undefined,
    publicIP: f['public-ip'] as string | undefined,
    bridge: f.bridge as string | undefined,
    subnetFile: absolute(f['subnet-file']),
    cniConfDir: absolute(f['cni-conf-dir']),
    cniIpamDir: absolute(f['cni-ipam-dir']),
    cniPlugin: f['cni-plugin'] as NodeOptions['cniPlugin'],
    stateFile: absolute(f['state-file']),
    ipMasq: f['ip-masq'] as boolean | undefined,
    mtu: f.mtu as number | undefined,
    etcdPrefix: f['etcd-prefix'] as string | undefined,
    etcdCafile: absolute(f['etcd-cafile']),
    etcdCertfile: absolute(f['etcd-certfile']),
    etcdKeyfile: absolute(f['etcd-keyfile']),
    etcdUsername: f['etcd-username'] as string | undefined,
    etcdPassword: f['etcd-password'] as string | undefined,
    force: f.force as boolean | undefined,
  }
}
