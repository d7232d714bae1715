/**
 * The inventory: which hosts make up the network, how to reach each, and (optionally) which pods
 * live where. YAML or JSON (JSON is YAML). Names end up in argv, file paths and error messages, so
 * anything that could be read as an option, a path or a shell word is refused here, with the line.
 */
import {createRequire} from 'node:module'
import type * as YamlLibrary from 'yaml'
import type {Node as YamlNode} from 'yaml'
import {ParseError} from './parse/errors.js'
import {isIPv4, cidrContainsIp} from './addr.js'
import {isIPv6} from './parse/common.js'
import {isConventionalBridgeName, type HostSnapshot} from './model.js'

let yamlLibrary: typeof YamlLibrary | undefined
/**
 * The yaml library, loaded on first use: loading it costs ~65 ms, and every command imports this
 * module while few read or write an inventory. (yaml is CommonJS under node, so require and import
 * give the same module.)
 */
function yaml(): typeof YamlLibrary {
  return (yamlLibrary ??= createRequire(import.meta.url)('yaml') as typeof YamlLibrary)
}

export interface InventoryNode {
  name: string
  /** local | netns:NAME | ssh:USER@HOST — absent in a snapshot directory's inventory */
  exec?: string
  /**
   * Where flannelctl's files are on this node, for `migrate`, when not where the node flags say:
   * hosts that share a filesystem (network namespaces on one machine) need a state file each.
   * cniConfDir also tells collect, trace and doctor where the conflist says pods' addresses are kept.
   */
  stateFile?: string
  subnetFile?: string
  cniConfDir?: string
  /**
   * Why this host's tables are not there (`collect` could not read it: a node down, its namespace
   * gone): what a trace needs of it is unknown, not empty. Not read when live either.
   */
  unread?: string
}

/** The per-node file keys (what --state-file, --subnet-file and --cni-conf-dir say for every node), by the file name of each. */
const NODE_FILE_KEYS = {stateFile: 'node.json', subnetFile: 'subnet.env', cniConfDir: 'cni'} as const

export interface InventoryPod {
  name: string
  ip: string
  node: string
  /** the pod's own network namespace on its node, to read its routes */
  netns?: string
  /** why the pod's own tables are not there (`collect` could not read its namespace) */
  unread?: string
}

export interface Inventory {
  nodes: InventoryNode[]
  /** absent: discover pods from bridge neighbours / CNI state */
  pods?: InventoryPod[]
  /**
   * `partial: true`: the nodes listed are not all of the network's hosts (`collect` on one host
   * writes it), so where their tables run out a trace says unknown rather than dropped
   */
  partial?: boolean
  /**
   * `podsDiscovered: true`: the pods were found on the nodes, not listed (`collect` writes it), so an
   * idle pod may be missing from them
   */
  podsDiscovered?: boolean
}

/** The inventory's yes/no keys, each with what `true` says. */
const INVENTORY_SWITCHES = {
  partial: 'partial: true says the nodes listed are not all of the network\'s hosts',
  podsDiscovered: 'podsDiscovered: true says the pods were found on the nodes, not listed',
} as const

export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/
const MAX_NAME = 64
/** ssh destinations: [user@]host, host may be a name or an IPv4/IPv6 address */
const SSH_DEST = /^(?:[A-Za-z0-9_][A-Za-z0-9_.-]*@)?[A-Za-z0-9][A-Za-z0-9_.:-]*$/

export function isSafeName(name: string): boolean {
  return name.length <= MAX_NAME && SAFE_NAME.test(name) && name !== '.' && name !== '..'
}

export const NAME_HINT = 'names are letters, digits, ".", "_" and "-", start with a letter or digit, at most 64 characters'

/** Check an exec spec's shape; returns the reason it is wrong, or undefined. */
export function execProblem(spec: string): string | undefined {
  if (spec === 'local') return undefined
  const colon = spec.indexOf(':')
  const kind = colon < 0 ? spec : spec.slice(0, colon)
  const value = colon < 0 ? '' : spec.slice(colon + 1)
  if (kind === 'netns') return isSafeName(value) ? undefined : `'${spec}' does not name a namespace flannelctl will use (${NAME_HINT})`
  if (kind === 'ssh') return SSH_DEST.test(value) && value.length <= 253 ? undefined : `'${spec}' is not USER@HOST`
  if (execSpecOfCommand(spec) !== undefined) return `'${spec}' is a command line, not an exec spec`
  return `exec kind '${kind}' is unknown`
}

/**
 * The exec spec for a command line that reaches a host, as people type it before theirs
 * (`ip netns exec NS`, `ssh root@HOST`): flannelctl builds that command itself.
 */
export function execSpecOfCommand(command: string): string | undefined {
  const words = command.trim().split(/\s+/)
  if (words[0] === 'sudo') words.shift()
  const spec = words.length === 4 && words[0] === 'ip' && words[1] === 'netns' && words[2] === 'exec' ? `netns:${words[3]}`
    : words.length === 2 && words[0] === 'ssh' ? `ssh:${words[1]}` : undefined
  return spec !== undefined && execProblem(spec) === undefined ? spec : undefined
}

/**
 * An inventory as read, before its checks: what the checks need of a YAML document (maps, lists,
 * plain values, and where each starts, for the line an error names). The line reader below builds
 * it without the yaml library; any other text is the library's document turned into it.
 */
type InvNode = InvMap | InvSeq | InvScalar | InvOther
interface InvMap {kind: 'map'; at?: number; pairs: InvPair[]}
interface InvSeq {kind: 'seq'; at?: number; items: (InvNode | null)[]}
interface InvScalar {kind: 'scalar'; at?: number; value: unknown}
/** an alias, or anything else no check reads as a value */
interface InvOther {kind: 'other'; at?: number}
/** `libraryKey`: a key that is no plain value, as the library read it (an error quotes it) */
interface InvPair {key: InvNode | null; value: InvNode | null; libraryKey?: unknown}

/** A map's entry for `key`, as YAMLMap.get finds it: the first pair whose key is that plain value. */
function pairOf(map: InvMap, key: string): InvPair | undefined {
  return map.pairs.find(p => p.key?.kind === 'scalar' && p.key.value === key)
}

/** The node under `key` (undefined when absent; null when written with no value). */
function nodeAt(map: InvMap, key: string): InvNode | null | undefined {
  return pairOf(map, key)?.value
}

/** The value under `key`, as YAMLMap.get gives it: a scalar's value, else the node; undefined for none. */
function valueAt(map: InvMap, key: string): unknown {
  const node = nodeAt(map, key)
  return (node?.kind === 'scalar' ? node.value : node) ?? undefined
}

/** The yaml library's document as an InvNode. */
function fromLibrary(node: unknown): InvNode | null {
  const Y = yaml()
  if (node === null || node === undefined) return null
  const at = (node as YamlNode).range?.[0]
  if (Y.isMap(node)) {
    return {kind: 'map', at, pairs: node.items.map(p => ({key: fromLibrary(p.key), value: fromLibrary(p.value), ...(Y.isScalar(p.key) ? {} : {libraryKey: p.key})}))}
  }
  if (Y.isSeq(node)) return {kind: 'seq', at, items: node.items.map(fromLibrary)}
  if (Y.isScalar(node)) return {kind: 'scalar', at, value: node.value}
  return {kind: 'other', at}
}

/**
 * The block style flannelctl writes (formatInventory) and most people write, read line by line:
 * composing a thousand-node inventory with the yaml library costs ~200 ms before its code is warm,
 * and loading the library ~45 ms, this a few ms. Only lines of exactly these shapes are taken:
 *
 *     nodes:                 (or pods:, each once, nothing after the colon)
 *       - name: node0        (a list item: "- " at the list's indentation, 0 or 2 spaces)
 *         exec: netns:n0     (more keys of the item, two spaces further in)
 *
 * with lower-case keys and plain values that YAML reads as strings, and full-line comments starting
 * in the first column. Anything else (a comment after a value, quotes, flow style, numbers, empty
 * values or lists, a key twice) is undefined: the yaml library reads it. The checks after reading are the same for both.
 */
export function readPlainBlock(text: string): InvMap | undefined {
  const root: InvMap = {kind: 'map', at: undefined, pairs: []}
  let list: InvSeq | undefined
  let dash = -1
  let item: InvMap | undefined
  let offset = 0
  for (const line of text.split('\n')) {
    const at = offset
    offset += line.length + 1
    // a full-line comment (collect's first line says what wrote the file) is no entry
    if (line === '' || line.startsWith('#')) continue
    const top = /^(nodes|pods):$/.exec(line)
    if (top) {
      if (pairOf(root, top[1]) !== undefined) return undefined
      list = {kind: 'seq', at, items: []}
      // the library starts a document's map where its first key is
      root.at ??= at
      root.pairs.push({key: plainScalar(top[1], at), value: list})
      dash = -1
      item = undefined
      continue
    }
    const m = /^( *)(- )?([a-z]+): (.*)$/.exec(line)
    if (!m || !list || !isPlainString(m[4])) return undefined
    const indent = m[1].length
    if (m[2] !== undefined) {
      if (dash === -1 && (indent === 0 || indent === 2)) dash = indent
      if (indent !== dash) return undefined
      item = {kind: 'map', at: at + indent + 2, pairs: []}
      list.items.push(item)
    } else if (item === undefined || indent !== dash + 2 || pairOf(item, m[3]) !== undefined) {
      return undefined
    }
    const keyAt = at + indent + (m[2] === undefined ? 0 : 2)
    item!.pairs.push({key: plainScalar(m[3], keyAt), value: plainScalar(m[4], keyAt + m[3].length + 2)})
  }
  // `pods:` with nothing under it is null to YAML, not an empty list
  return root.pairs.every(p => (p.value as InvSeq).items.length > 0) ? root : undefined
}

function plainScalar(value: string, at: number): InvScalar {
  return {kind: 'scalar', at, value}
}

/**
 * A plain value that YAML 1.2's core schema reads as this very string: no indicator first, no
 * `: `, ` #` or trailing colon, not null, a boolean or a number.
 */
function isPlainString(v: string): boolean {
  return /^[A-Za-z0-9_/][A-Za-z0-9_./@:-]*$/.test(v) && !v.endsWith(':')
    && !/^(?:null|Null|NULL|true|True|TRUE|false|False|FALSE)$/.test(v)
    && !/^(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+)$/.test(v)
}

class InventoryReader {
  constructor(private readonly source: string) {}
  private text = ''

  /** Counted only for an error message: the line of a node's first character. */
  lineOf(node: InvNode | null | undefined): number | undefined {
    const offset = node?.at
    if (offset === undefined) return undefined
    let line = 1
    for (let i = this.text.indexOf('\n'); i >= 0 && i < offset; i = this.text.indexOf('\n', i + 1)) line++
    return line
  }

  fail(node: InvNode | null | undefined, detail: string, hint: string): never {
    throw new ParseError(this.source, this.lineOf(node), detail, hint)
  }

  read(text: string, opts: {plainBlock?: boolean} = {}): Inventory {
    this.text = text
    const plain = opts.plainBlock === false ? undefined : readPlainBlock(text)
    if (plain) {
      try {
        return this.check(plain)
      } catch (error) {
        // Errors are worded (and their lines counted) from the yaml library's reading, as for any other text.
        if (!(error instanceof ParseError)) throw error
      }
    }
    const doc = yaml().parseDocument(text, {prettyErrors: true, uniqueKeys: true})
    const first = doc.errors[0]
    if (first) {
      const line = first.linePos?.[0]?.line
      throw new ParseError(this.source, line, `not valid YAML or JSON: ${first.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`,
        'an inventory is a mapping with `nodes:` (a list of {name, exec}) and optional `pods:` (a list of {name, ip, node, netns})')
    }
    return this.check(fromLibrary(doc.contents))
  }

  private check(root: InvNode | null): Inventory {
    if (root?.kind !== 'map') this.fail(root, 'an inventory must be a mapping with a `nodes:` list', 'start the file with `nodes:`')
    this.knownKeys(root, ['nodes', 'pods', ...Object.keys(INVENTORY_SWITCHES)], 'the inventory', 'an inventory has nodes:, pods:, partial: and podsDiscovered:')
    const listed = this.checkLists(root)
    for (const [key, meaning] of Object.entries(INVENTORY_SWITCHES)) {
      const value = valueAt(root, key)
      if (value !== undefined && value !== null && typeof value !== 'boolean') this.fail(nodeAt(root, key), `\`${key}:\` must be true or false`, meaning)
      if (value === true) listed[key as keyof typeof INVENTORY_SWITCHES] = true
    }
    return listed
  }

  private checkLists(root: InvMap): Inventory {
    const nodesNode = nodeAt(root, 'nodes')
    if (nodesNode?.kind !== 'seq' || nodesNode.items.length === 0) {
      this.fail(nodesNode ?? root, '`nodes:` must be a non-empty list', 'e.g. nodes: [{name: worker1, exec: "netns:w1"}]')
    }
    const nodes: InventoryNode[] = []
    // Sets, not scans: a thousand-node inventory would otherwise cost millions of comparisons.
    const nodeNames = new Set<string>()
    for (const entry of nodesNode.items) {
      const item = this.named(entry, 'node')
      const name = this.name(item, 'node')
      // a misspelt `exec:` would read the node as this host
      this.knownKeys(item, ['name', 'exec', 'unread', ...Object.keys(NODE_FILE_KEYS)], `node '${name}'`,
        'a node has name: and exec: (local, netns:NAME or ssh:USER@HOST), optionally cniConfDir: (where its CNI configs are), for migrate stateFile: and subnetFile:, and in a snapshot unread: (why collect could not read it)')
      if (nodeNames.has(name)) this.fail(item, `node '${name}' is listed twice`, 'every node needs its own name')
      const exec = this.optionalString(item, 'exec', `node '${name}'`)
      if (exec !== undefined) {
        const problem = execProblem(exec)
        const meant = execSpecOfCommand(exec)
        if (problem) this.fail(nodeAt(item, 'exec') ?? item, `node '${name}': ${problem}`,
          meant !== undefined ? `write exec: ${meant} (flannelctl runs its programs there itself)` : 'write exec: local, netns:NAME or ssh:USER@HOST')
      }
      const files: Partial<Record<keyof typeof NODE_FILE_KEYS, string>> = {}
      for (const key of Object.keys(NODE_FILE_KEYS) as (keyof typeof NODE_FILE_KEYS)[]) {
        const path = this.optionalString(item, key, `node '${name}'`)
        if (path === undefined) continue
        // a path on the node, read there by cat and written by flannelctl: no option, no relative path
        if (!path.startsWith('/') || /[\0\n]/.test(path)) {
          this.fail(nodeAt(item, key), `node '${name}': \`${key}:\` must be an absolute path on the node ('${path}' is not)`, `e.g. ${key}: /var/lib/flannelctl/${name}/${NODE_FILE_KEYS[key]}`)
        }
        files[key] = path
      }
      const unread = this.optionalString(item, 'unread', `node '${name}'`)
      nodes.push({name, ...(exec === undefined ? {} : {exec}), ...files, ...(unread === undefined ? {} : {unread})})
      nodeNames.add(name)
    }

    const podsNode = nodeAt(root, 'pods')
    if (podsNode === undefined || podsNode === null || (podsNode.kind === 'scalar' && podsNode.value === null)) return {nodes}
    if (podsNode.kind !== 'seq') this.fail(podsNode, '`pods:` must be a list', 'e.g. pods: [{name: pod-a, ip: 10.244.1.34, node: worker1}]')
    const pods: InventoryPod[] = []
    const podNames = new Set<string>()
    const podsByIp = new Map<string, string>()
    for (const entry of podsNode.items) {
      const item = this.named(entry, 'pod')
      const name = this.name(item, 'pod')
      this.knownKeys(item, ['name', 'ip', 'node', 'netns', 'unread'], `pod '${name}'`, 'a pod has name:, ip:, node: and optionally netns: (and in a snapshot unread:)')
      if (podNames.has(name)) this.fail(item, `pod '${name}' is listed twice`, 'every pod needs its own name')
      if (nodeNames.has(name)) this.fail(item, `pod '${name}' has the name of a node`, 'pods and nodes share one namespace of names (a snapshot keeps each in DIR/<name>/)')
      const ip = this.optionalString(item, 'ip', `pod '${name}'`)
      if (ip === undefined || !isIPv4(ip)) {
        // a dual-stack pod listed by its IPv6 address: trace and doctor model IPv4 only
        const why = ip === undefined ? '' : isIPv6(ip) ? ` ('${ip}' is IPv6, which trace and doctor do not model)` : ` ('${ip}' is not one)`
        this.fail(item, `pod '${name}' needs an IPv4 address in \`ip:\`${why}`, isIPv6(ip ?? '') ? 'give the pod\'s IPv4 address (a dual-stack pod has both), e.g. ip: 10.244.1.34' : 'e.g. ip: 10.244.1.34')
      }
      const node = this.optionalString(item, 'node', `pod '${name}'`)
      if (node === undefined) this.fail(item, `pod '${name}' needs \`node:\``, 'name the node it runs on')
      // docker hosts number their containers alike (172.17.0.2 on each): one address per node
      const other = podsByIp.get(`${node}|${ip}`)
      if (other !== undefined) this.fail(item, `pods '${other}' and '${name}' both have ip ${ip} on node '${node}'`, 'a pod IP names one pod on its node')
      if (!nodeNames.has(node)) {
        this.fail(item, `pod '${name}' is on node '${node}', which the inventory does not list`, `known nodes: ${nodes.map(n => n.name).join(', ')}`)
      }
      const netns = this.optionalString(item, 'netns', `pod '${name}'`)
      if (netns !== undefined && !isSafeName(netns)) this.fail(item, `pod '${name}': netns '${netns}' is not a name flannelctl will use`, NAME_HINT)
      const unread = this.optionalString(item, 'unread', `pod '${name}'`)
      pods.push({name, ip, node, ...(netns === undefined ? {} : {netns}), ...(unread === undefined ? {} : {unread})})
      podNames.add(name)
      podsByIp.set(`${node}|${ip}`, name)
    }
    return {nodes, pods}
  }

  private knownKeys(map: InvMap, allowed: string[], who: string, hint: string): void {
    for (const pair of map.pairs) {
      const key = pair.key?.kind === 'scalar' ? pair.key.value : pair.libraryKey ?? null
      if (typeof key === 'string' && allowed.includes(key)) continue
      this.fail(pair.key?.kind === 'scalar' ? pair.key : map, `${who}: unknown key \`${String(key)}:\``, hint)
    }
  }

  /** A list entry that is a mapping, as every node and pod must be. */
  private named(item: InvNode | null, what: string): InvMap {
    if (item?.kind !== 'map') this.fail(item, `every ${what} must be a mapping with a name`, `e.g. - name: ${what === 'node' ? 'worker1' : 'pod-a'}`)
    return item
  }

  private name(item: InvMap, what: string): string {
    const value = valueAt(item, 'name')
    if (typeof value !== 'string' && typeof value !== 'number') this.fail(item, `a ${what} has no \`name:\``, `give every ${what} a name`)
    const name = String(value)
    if (!isSafeName(name)) this.fail(item, `${what} name ${JSON.stringify(name)} is not allowed`, NAME_HINT)
    return name
  }

  private optionalString(item: InvMap, key: string, who: string): string | undefined {
    const value = valueAt(item, key)
    if (value === undefined || value === null) return undefined
    if (typeof value !== 'string' && typeof value !== 'number') this.fail(nodeAt(item, key), `${who}: \`${key}:\` must be a plain value`, `e.g. ${key}: …`)
    return String(value)
  }
}

/**
 * Two nodes of a live inventory that would read the same host (the same exec; none is local):
 * the trace would see one host's tables twice, under two names.
 */
export function nodesSharingHost(inv: Inventory): {first: string, second: string, exec: string} | undefined {
  const seen = new Map<string, string>()
  for (const node of inv.nodes) {
    const exec = node.exec ?? 'local'
    const first = seen.get(exec)
    if (first !== undefined) return {first, second: node.name, exec}
    seen.set(exec, node.name)
  }
  return undefined
}

/** Parse and validate an inventory; errors are ParseErrors (exit 2) naming the file and line. */
export function parseInventory(text: string, source = 'inventory', opts: {plainBlock?: boolean} = {}): Inventory {
  return new InventoryReader(source).read(text, opts)
}

export function formatInventory(inv: Inventory): string {
  // lineWidth 0: an `unread:` reason stays on one line, as grep and a reader want it
  return yaml().stringify({...(inv.partial ? {partial: true} : {}), ...(inv.podsDiscovered ? {podsDiscovered: true} : {}), nodes: inv.nodes, ...(inv.pods ? {pods: inv.pods} : {})}, {lineWidth: 0})
}

export interface DiscoveredPod {
  name: string
  ip: string
  node: string
}

/**
 * Bridges of a host: by kind when `ip -d link` was captured, else by being some link's master, else
 * by the names CNI plugins and docker give them (ifconfig and `ip addr` do not say what a link is).
 */
export function bridgeNames(host: HostSnapshot): Set<string> {
  const links = host.links ?? []
  const names = new Set(links.filter(l => l.kind === 'bridge').map(l => l.name))
  for (const l of links) if (l.master) names.add(l.master)
  const known = new Map(links.map(l => [l.name, l.kind]))
  for (const dev of new Set([...links.map(l => l.name), ...(host.addresses ?? []).map(a => a.dev)])) {
    const kind = known.get(dev)
    if ((kind === undefined || kind === 'ether' || kind === 'other') && isConventionalBridgeName(dev)) names.add(dev)
  }
  return names
}

/** The bridge a node's pods hang off: flannel's CNI `cni0` where there is one, else a bridge holding a subnet (docker0, a lab's br0). */
export function podBridgeName(host: HostSnapshot): string | undefined {
  const names = [...bridgeNames(host)]
  const subnets = (host.addresses ?? []).filter(a => a.family === 4 && a.prefixlen < 32)
  return names.find(n => n === 'cni0') ?? names.find(b => subnets.some(a => a.dev === b))
}

/**
 * Pods a host shows without being told: neighbours on a bridge inside the bridge's own subnet
 * (what the bridge has talked to), addresses the CNI IPAM recorded, and host routes to a veth of
 * their own (Calico). Named by their IP.
 */
/** host-local's dataDir when its config names none (containernetworking/plugins, plugins/ipam/host-local/backend/disk). */
export const HOST_LOCAL_DATA_DIR = '/var/lib/cni/networks'

/**
 * Where host-local records a host's pod addresses (one file per address in <dataDir>/<network name>),
 * by the CNI configs of its conf dir (.conflist and .conf texts): each host-local ipam's dataDir (a
 * bridge plugin's, or a delegate's as flannel's plugin hands it over), and the default always, where
 * a config without dataDir keeps them. A text that is not JSON, or a dataDir that is no absolute
 * path, adds nothing; at most `limit` directories are read, however many configs name one.
 */
export function ipamDataDirs(configs: string[], limit = 8): string[] {
  const dirs = new Set([HOST_LOCAL_DATA_DIR])
  for (const text of configs) {
    let conf: {plugins?: unknown} | undefined
    try {
      conf = JSON.parse(text) as typeof conf
    } catch {
      continue
    }
    const plugins: unknown[] = Array.isArray(conf?.plugins) ? conf.plugins : [conf]
    for (const plugin of plugins) {
      const p = plugin as {ipam?: {type?: unknown; dataDir?: unknown}; delegate?: {ipam?: {type?: unknown; dataDir?: unknown}}} | null
      const ipam = p?.ipam ?? p?.delegate?.ipam
      if (ipam?.type !== 'host-local' || typeof ipam.dataDir !== 'string' || !ipam.dataDir.startsWith('/')) continue
      dirs.add(ipam.dataDir.length > 1 ? ipam.dataDir.replace(/\/+$/, '') : ipam.dataDir)
    }
  }
  return [...dirs].slice(0, limit)
}

export function discoverPods(host: HostSnapshot, ipamIps: string[] = []): DiscoveredPod[] {
  const bridges = bridgeNames(host)
  const nets = (host.addresses ?? []).filter(a => a.family === 4 && bridges.has(a.dev) && a.prefixlen < 32)
  const own = new Set((host.addresses ?? []).map(a => a.local))
  const found = new Set<string>()
  const inPodNet = (ip: string) => isIPv4(ip) && nets.some(a => cidrContainsIp(`${a.local}/${a.prefixlen}`, ip))
  for (const n of host.neighbors ?? []) {
    if (!bridges.has(n.dev) || !n.lladdr || own.has(n.dst)) continue
    if (n.state.some(s => s === 'FAILED' || s === 'INCOMPLETE')) continue
    if (inPodNet(n.dst)) found.add(n.dst)
  }
  for (const ip of ipamIps) if (!own.has(ip) && (nets.length === 0 || inPodNet(ip))) found.add(ip)
  // Calico-style pods have no bridge: each sits behind its own veth, reached by a /32 route to it.
  const vethPorts = new Set((host.links ?? []).filter(l => l.kind === 'veth' && !l.master).map(l => l.name))
  for (const r of host.routes ?? []) {
    if (r.type !== 'unicast' || r.gateway !== undefined || r.dev === undefined || !vethPorts.has(r.dev) || !r.dst.endsWith('/32')) continue
    const ip = r.dst.slice(0, -3)
    if (isIPv4(ip) && !own.has(ip)) found.add(ip)
  }
  return [...found].sort((a, b) => a.localeCompare(b, 'en', {numeric: true})).map(ip => ({name: ip, ip, node: host.name}))
}
