/**
 * What a flannel node looks like, as data: device names, iptables rules, subnet.env, CNI conflist.
 * Kept byte-compatible with flanneld (pkg/trafficmngr/iptables, pkg/backend/vxlan, pkg/subnet).
 */
import {createHash} from 'node:crypto'
import {parseCidr, nthAddress, cidrToString} from './addr.js'
import {podBridgeName} from './inventory.js'
import type {HostSnapshot, Link} from './model.js'

export const KUBE_PROXY_MARK = '0x4000/0x4000'
export const MASQ_CHAIN = 'FLANNEL-POSTRTG'
export const FWD_CHAIN = 'FLANNEL-FWD'
export const MASQ_COMMENT = 'flanneld masq'
export const FWD_COMMENT = 'flanneld forward'
export const MANUAL_MASQ_COMMENT = 'flannelctl manual masq'
export const VXLAN_OVERHEAD = 50
export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env'
export const DEFAULT_CNI_CONF_DIR = '/etc/cni/net.d'
export const CONFLIST_NAME = '10-flannel.conflist'

export function vxlanDeviceName(vni: number): string {
  return `flannel.${vni}`
}

/** Whether a device is named as flanneld names its VTEPs (`flannel.<VNI>`), whatever its VNI. */
export function isVxlanDeviceName(name: string): boolean {
  return /^flannel\.\d+$/.test(name)
}

/** The vxlan device address: the lease's network address as a /32 (e.g. 10.244.1.0/32). */
/** The devices init makes, by flannel's names (flannel.<VNI>, the pod bridge): with no record, reset names them, and leaves them. */
export function flannelLookingDevices(links: readonly Pick<Link, 'name' | 'kind'>[], bridge = 'cni0'): string[] {
  return links.filter(l => (l.kind === 'vxlan' && isVxlanDeviceName(l.name)) || (l.kind === 'bridge' && l.name === bridge)).map(l => l.name)
}

export function vtepAddress(subnet: string): string {
  return nthAddress(parseCidr(subnet), 0)
}

/** The bridge's gateway address: the first host of the lease (e.g. 10.244.1.1). */
export function gatewayAddress(subnet: string): string {
  return nthAddress(parseCidr(subnet), 1)
}

/**
 * A VTEP MAC that survives device re-creation: derived from the public IP and VNI, locally
 * administered and unicast. flanneld's random MAC changes on reboot and leaves peers with stale
 * neighbour and fdb entries; a stable one avoids that whole class of failure.
 */
export function stableVtepMac(publicIP: string, vni: number): string {
  const h = createHash('sha256').update(`flannelctl-vtep:${publicIP}:${vni}`).digest()
  const bytes = [(h[0] & 0xfc) | 0x02, h[1], h[2], h[3], h[4], h[5]]
  return bytes.map(b => b.toString(16).padStart(2, '0')).join(':')
}

/**
 * Where each rule of someone else's in one of flannel's chains belongs when flannel's rules there
 * are rewritten: right after the flannel rule it followed (where that rule is still wanted; else
 * after as many wanted rules as flannel's rules came before it), so a rule an operator put above
 * flannel's (a DROP before its ACCEPTs, a RETURN before its MASQUERADE) stays above them and keeps
 * matching first; their own order is kept too. Per rule of `have`: its slot (0: before flannel's
 * first wanted rule, n: after the n-th), or undefined for one of flannel's own. `wantedIndex` is
 * where a rule of flannel's stands among the wanted ones, -1 when it is not wanted any more.
 */
export function foreignRuleSlots<T>(have: T[], ours: (rule: T) => boolean, wantedIndex: (rule: T) => number, wanted: number): (number | undefined)[] {
  let seen = 0
  let slot = 0
  return have.map(rule => {
    if (!ours(rule)) return slot
    seen++
    const i = wantedIndex(rule)
    slot = Math.max(slot, i >= 0 ? i + 1 : Math.min(seen, wanted))
    return undefined
  })
}

export interface IptRule {
  table: 'nat' | 'filter'
  chain: string
  /** exactly as iptables-save prints it after `-A CHAIN ` */
  spec: string
}

const q = (s: string) => `"${s}"`

export function masqRules(network: string, subnet: string): IptRule[] {
  const c = `-m comment --comment ${q(MASQ_COMMENT)}`
  const r = (spec: string): IptRule => ({table: 'nat', chain: MASQ_CHAIN, spec})
  return [
    r(`-m mark --mark ${KUBE_PROXY_MARK} ${c} -j RETURN`),
    r(`-s ${subnet} -d ${network} ${c} -j RETURN`),
    r(`-s ${network} -d ${subnet} ${c} -j RETURN`),
    r(`! -s ${network} -d ${subnet} ${c} -j RETURN`),
    r(`-s ${network} ! -d 224.0.0.0/4 ${c} -j MASQUERADE --random-fully`),
    r(`! -s ${network} -d ${network} ${c} -j MASQUERADE --random-fully`),
  ]
}

/** The hand-run flanneld's SNAT: pod traffic leaving the network is masqueraded, pod-to-pod keeps its source. */
export function manualMasqRule(network: string, subnet: string, bridge: string): IptRule {
  return {table: 'nat', chain: MASQ_CHAIN, spec: `-s ${subnet} ! -d ${network} ! -o ${bridge} -m comment --comment ${q(MANUAL_MASQ_COMMENT)} -j MASQUERADE`}
}

export function masqJump(): IptRule {
  return {table: 'nat', chain: 'POSTROUTING', spec: `-m comment --comment ${q(MASQ_COMMENT)} -j ${MASQ_CHAIN}`}
}

export function forwardRules(network: string): IptRule[] {
  const c = `-m comment --comment ${q(FWD_COMMENT)}`
  return [
    {table: 'filter', chain: FWD_CHAIN, spec: `-s ${network} ${c} -j ACCEPT`},
    {table: 'filter', chain: FWD_CHAIN, spec: `-d ${network} ${c} -j ACCEPT`},
  ]
}

/**
 * What a flanneld before 0.20 wrote where flanneld now has FLANNEL-POSTRTG and FLANNEL-FWD: its
 * masquerade straight into POSTROUTING (0.7 on; `-m comment --comment "flanneld masq"` from 0.17,
 * `--random-fully` from 0.11 where iptables has it), and from 0.10 its two accepts straight into
 * FORWARD (`"flanneld forward"` from 0.17). Read from a host's rules: the network they name, and
 * which of the two are there. The accepts alone count only with their comment: `-s NET -j ACCEPT`
 * uncommented is also what a hand (or doctor's fix for a FORWARD drop) writes.
 */
export interface OlderFlanneldRules {
  network: string
  masquerade: boolean
  forward: boolean
}

const IPV4_CIDR = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\/\d{1,2}$/
const OLD_MASQ = new RegExp(`^-s (\\S+) ! -d 224\\.0\\.0\\.0/4 (?:-m comment --comment "?${MASQ_COMMENT}"? )?-j MASQUERADE(?: --random-fully)?$`)
const oldAccept = (dir: 's' | 'd') => new RegExp(`^-${dir} (\\S+) (-m comment --comment "?${FWD_COMMENT}"? )?-j ACCEPT$`)
const OLD_ACCEPT = {s: oldAccept('s'), d: oldAccept('d')}

export function olderFlanneldRules(rules: readonly {table: string; chain: string; spec: string}[]): OlderFlanneldRules | undefined {
  let masqNet: string | undefined
  const accepts = new Map<string, {s: boolean; d: boolean; commented: boolean}>()
  for (const r of rules) {
    if (r.table === 'nat' && r.chain === 'POSTROUTING') masqNet ??= OLD_MASQ.exec(r.spec)?.[1]
    if (r.table !== 'filter' || r.chain !== 'FORWARD') continue
    for (const dir of ['s', 'd'] as const) {
      const m = OLD_ACCEPT[dir].exec(r.spec)
      if (m === null) continue
      const seen = accepts.get(m[1]) ?? {s: false, d: false, commented: false}
      seen[dir] = true
      seen.commented ||= m[2] !== undefined
      accepts.set(m[1], seen)
    }
  }
  const both = (net: string) => accepts.get(net)?.s === true && accepts.get(net)?.d === true
  if (masqNet !== undefined && IPV4_CIDR.test(masqNet)) return {network: masqNet, masquerade: true, forward: both(masqNet)}
  const commented = [...accepts].find(([net, a]) => a.commented && both(net) && IPV4_CIDR.test(net))
  return commented === undefined ? undefined : {network: commented[0], masquerade: false, forward: true}
}

/**
 * A host an older flanneld built: its pod subnet on docker0 (handed to docker as `--bip`), a VTEP
 * made with l2miss (before 0.9, which answered the kernel's misses itself), or its rules in
 * POSTROUTING and FORWARD themselves with no FLANNEL-POSTRTG chain (before 0.20). flannelctl keeps
 * no state there, so its commands are no fix on it: the kernel's and that flanneld's are.
 */
export function builtByOlderFlanneld(h: HostSnapshot): boolean {
  return podBridgeName(h) === 'docker0' || (h.links ?? []).some(l => l.kind === 'vxlan' && l.vxlan?.l2miss === true)
    || (h.iptables !== undefined && olderFlanneldRules(h.iptables.rules) !== undefined && !h.iptables.chains.some(c => c.name === MASQ_CHAIN))
}

export function forwardJump(): IptRule {
  return {table: 'filter', chain: 'FORWARD', spec: `-m comment --comment ${q(FWD_COMMENT)} -j ${FWD_CHAIN}`}
}

export function subnetEnv(network: string, subnet: string, mtu: number, ipMasq: boolean): string {
  const s = parseCidr(subnet)
  return [
    `FLANNEL_NETWORK=${cidrToString(parseCidr(network))}`,
    `FLANNEL_SUBNET=${gatewayAddress(subnet)}/${s.prefixlen}`,
    `FLANNEL_MTU=${mtu}`,
    `FLANNEL_IPMASQ=${ipMasq}`,
    '',
  ].join('\n')
}

export function parseSubnetEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z_0-9]+)=(.*)$/.exec(line)
    if (m) out[m[1]] = m[2].trim()
  }
  return out
}

/** The lease this host held before, as written in subnet.env (FLANNEL_SUBNET=10.244.1.1/24 → 10.244.1.0/24). */
/**
 * A subnet.env without the lines flanneld adds on a dual-stack network (FLANNEL_IPV6_NETWORK,
 * FLANNEL_IPV6_SUBNET): what is left is what flannelctl writes for the same IPv4 settings.
 */
export function subnetEnvIPv4Part(text: string): string {
  return text.split('\n').filter(line => !line.startsWith('FLANNEL_IPV6_')).join('\n')
}

export function subnetFromEnv(text: string | undefined): string | undefined {
  if (!text) return undefined
  const v = parseSubnetEnv(text).FLANNEL_SUBNET
  if (!v) return undefined
  try {
    return cidrToString(parseCidr(v))
  } catch {
    return undefined
  }
}

export type CniPlugin = 'bridge' | 'flannel'

/**
 * The conflist; `ipamDataDir` is host-local's dataDir (where it records each pod's address, one file
 * per address under <dataDir>/<network name>), left out for host-local's default /var/lib/cni/networks.
 */
export function cniConflist(opts: {network: string; subnet: string; mtu: number; bridge: string; ipMasq: boolean; plugin: CniPlugin; ipamDataDir?: string}): string {
  const gw = gatewayAddress(opts.subnet)
  const main = opts.plugin === 'flannel'
    ? {type: 'flannel', delegate: {hairpinMode: true, isDefaultGateway: true}}
    : {
        type: 'bridge',
        bridge: opts.bridge,
        isGateway: true,
        // the pods' default route via the bridge, as kube-flannel's delegate asks: without it pods
        // reach only the pod network (not the nodes, the API server, or the masqueraded outside)
        isDefaultGateway: true,
        ipMasq: !opts.ipMasq,
        mtu: opts.mtu,
        hairpinMode: true,
        ipam: {type: 'host-local', ranges: [[{subnet: opts.subnet, gateway: gw}]], routes: [{dst: opts.network}], ...(opts.ipamDataDir ? {dataDir: opts.ipamDataDir} : {})},
      }
  const conf = {
    name: 'cbr0',
    cniVersion: '0.3.1',
    plugins: [main, {type: 'portmap', capabilities: {portMappings: true}}],
  }
  return JSON.stringify(conf, null, 2) + '\n'
}
