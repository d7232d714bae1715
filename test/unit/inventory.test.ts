import {expect} from 'chai'
import fc from 'fast-check'
import {loadWorld} from '../fixtures/trace/load.js'
import {traceFlow} from '../../src/core/trace/index.js'
import {parseInventory, formatInventory, discoverPods, execProblem, isSafeName, nodesSharingHost, readPlainBlock} from '../../src/core/inventory.js'
import type {HostSnapshot} from '../../src/core/model.js'

function fails(text: string, pattern: RegExp): {message: string; hint: string; exitCode: number} {
  try {
    parseInventory(text, 'hosts.yaml')
  } catch (e) {
    const err = e as {message: string; hint: string; exitCode: number}
    expect(err.message).to.match(pattern)
    expect(err.exitCode).to.equal(2)
    expect(err.message.split('\n')).to.have.length(1)
    expect(err.hint).to.be.a('string').and.not.equal('')
    return err
  }
  throw new Error(`no error matching ${pattern}`)
}

describe('inventory', () => {
  it('reads the YAML of the design, with exec kinds and optional pods', () => {
    const inv = parseInventory(`nodes:
  - name: worker1
    exec: netns:w1
  - name: worker2
    exec: ssh:root@192.0.2.11
  - name: worker3
    exec: local
  - name: worker4
pods:
  - name: pod-a
    ip: 10.244.1.34
    node: worker1
    netns: p1
`)
    expect(inv.nodes).to.deep.equal([
      {name: 'worker1', exec: 'netns:w1'}, {name: 'worker2', exec: 'ssh:root@192.0.2.11'}, {name: 'worker3', exec: 'local'}, {name: 'worker4'}])
    expect(inv.pods).to.deep.equal([{name: 'pod-a', ip: '10.244.1.34', node: 'worker1', netns: 'p1'}])
  })

  it('reads JSON, and leaves pods undefined (discover) when absent', () => {
    const inv = parseInventory('{"nodes": [{"name": "a", "exec": "netns:a"}]}')
    expect(inv).to.deep.equal({nodes: [{name: 'a', exec: 'netns:a'}]})
  })

  it('round-trips through formatInventory', () => {
    const inv = {nodes: [{name: 'n1'}, {name: 'n2'}], pods: [{name: 'p', ip: '10.244.1.2', node: 'n1'}]}
    expect(parseInventory(formatInventory(inv))).to.deep.equal(inv)
  })

  it('reads and writes `partial: true` (the nodes listed are not all the hosts), refuses anything but a boolean', () => {
    const inv = {nodes: [{name: 'n1'}], pods: [{name: 'p', ip: '10.244.1.2', node: 'n1'}], partial: true}
    expect(formatInventory(inv).split('\n')[0]).to.equal('partial: true')
    expect(parseInventory(formatInventory(inv))).to.deep.equal(inv)
    expect(parseInventory('partial: false\nnodes:\n  - name: a\n')).to.deep.equal({nodes: [{name: 'a'}]})
    fails('partial: "yes"\nnodes:\n  - name: a\n', /^hosts\.yaml line 1: `partial:` must be true or false/)
  })

  it('reads and writes `podsDiscovered: true` (collect found the pods, nobody listed them)', () => {
    const inv = {nodes: [{name: 'n1'}], pods: [{name: 'p', ip: '10.244.1.2', node: 'n1'}], partial: true, podsDiscovered: true}
    expect(formatInventory(inv).split('\n').slice(0, 2)).to.deep.equal(['partial: true', 'podsDiscovered: true'])
    expect(parseInventory(formatInventory(inv))).to.deep.equal(inv)
    fails('podsDiscovered: 1\nnodes:\n  - name: a\n', /^hosts\.yaml line 1: `podsDiscovered:` must be true or false/)
  })

  it('reads and writes `unread:` (why collect could not read a node or a pod), on one line however long', () => {
    const why = 'netns:fc-x-n2: Cannot open network namespace "fc-x-n2": No such file or directory'
    const inv = {nodes: [{name: 'n1'}, {name: 'n2', unread: why}], pods: [{name: 'p', ip: '10.244.1.2', node: 'n2', unread: why}]}
    const text = formatInventory(inv)
    expect(text).to.contain(`  - name: n2\n    unread: '${why}'\n`)
    expect(parseInventory(text)).to.deep.equal(inv)
  })

  it('names the line of unparsable YAML', () => {
    const e = fails('nodes:\n  - name: a\n   bad: [\n', /^hosts\.yaml line \d+: not valid YAML or JSON/)
    expect(e.message).to.match(/line 3/)
  })

  it('refuses an unknown exec kind with the line', () => {
    fails('nodes:\n  - name: a\n    exec: docker:abc\n', /^hosts\.yaml line 3: node 'a': exec kind 'docker' is unknown/)
  })

  it('a command line that reaches the host (ip netns exec NS, ssh USER@HOST): refused, naming the exec spec for it', () => {
    const netns = fails('nodes:\n  - name: a\n    exec: ip netns exec fc-lab-n1\n', /^hosts\.yaml line 3: node 'a': 'ip netns exec fc-lab-n1' is a command line, not an exec spec$/)
    expect(netns.hint).to.equal('write exec: netns:fc-lab-n1 (flannelctl runs its programs there itself)')
    expect(fails('nodes:\n  - name: a\n    exec: sudo ssh root@192.0.2.11\n', /is a command line/).hint).to.contain('write exec: ssh:root@192.0.2.11 ')
    // nothing to suggest for a namespace name flannelctl would not use
    expect(fails('nodes:\n  - name: a\n    exec: ip netns exec a;b\n', /exec kind 'ip netns exec a;b' is unknown/).hint).to.equal('write exec: local, netns:NAME or ssh:USER@HOST')
  })

  it('refuses unknown keys with their line: a misspelt exec: would have read the node as this host', () => {
    expect(fails('nodes:\n  - name: n1\n    exce: netns:w1\n', /line 3: node 'n1': unknown key `exce:`/).hint).to.contain('exec:')
    fails('nodes:\n  - name: n1\npods:\n  - name: p\n    ip: 10.244.1.2\n    node: n1\n    nets: p1\n', /line 7: pod 'p': unknown key `nets:`/)
    fails('node:\n  - name: n1\n', /line 1: the inventory: unknown key `node:`/)
    fails('{"nodes": [{"name": "n1", "exec": "local", "labels": {"a": 1}}]}', /node 'n1': unknown key `labels:`/)
  })

  it('reads a node\'s own file paths for migrate (stateFile, subnetFile, cniConfDir), absolute only', () => {
    const inv = parseInventory('nodes:\n  - name: n1\n    exec: netns:h1\n    stateFile: /srv/h1/node.json\n    cniConfDir: /srv/h1/cni\n')
    expect(inv.nodes).to.deep.equal([{name: 'n1', exec: 'netns:h1', stateFile: '/srv/h1/node.json', cniConfDir: '/srv/h1/cni'}])
    expect(parseInventory(formatInventory(inv))).to.deep.equal(inv)
    expect(fails('nodes:\n  - name: n1\n    stateFile: node.json\n', /line 3: node 'n1': `stateFile:` must be an absolute path on the node/).hint).to.contain('/var/lib/flannelctl/n1/node.json')
    fails('nodes:\n  - name: n1\n    subnetFile: --help\n', /`subnetFile:` must be an absolute path/)
  })

  it('finds two nodes of a live inventory that would read the same host', () => {
    expect(nodesSharingHost(parseInventory('nodes:\n  - name: n1\n  - name: n2\n    exec: local\n'))).to.deep.equal({first: 'n1', second: 'n2', exec: 'local'})
    expect(nodesSharingHost(parseInventory('nodes:\n  - name: n1\n    exec: netns:a\n  - name: n2\n    exec: netns:a\n'))?.exec).to.equal('netns:a')
    expect(nodesSharingHost(parseInventory('nodes:\n  - name: n1\n    exec: netns:a\n  - name: n2\n    exec: netns:b\n'))).to.equal(undefined)
  })

  it('refuses duplicate nodes, pods on unknown nodes, duplicate pod IPs', () => {
    fails('nodes:\n  - name: a\n  - name: a\n', /line 3: node 'a' is listed twice/)
    fails('nodes:\n  - name: a\npods:\n  - {name: p, ip: 10.244.1.2, node: b}\n', /line 4: pod 'p' is on node 'b', which the inventory does not list/)
    fails('nodes: [{name: a}]\npods: [{name: p, ip: 10.244.1.2, node: a}, {name: q, ip: 10.244.1.2, node: a}]\n', /both have ip 10\.244\.1\.2 on node 'a'/)
    fails('nodes: [{name: a}]\npods: [{name: p, ip: nope, node: a}]\n', /pod 'p' needs an IPv4 address/)
    // docker hosts number their containers alike: the same address on two nodes is two pods
    expect(parseInventory('nodes: [{name: a}, {name: b}]\npods: [{name: p, ip: 172.17.0.2, node: a}, {name: q, ip: 172.17.0.2, node: b}]\n').pods).to.have.length(2)
    fails('nodes: []\n', /`nodes:` must be a non-empty list/)
    fails('- a\n- b\n', /must be a mapping/)
  })

  for (const bad of ['a b', 'a;rm -rf /', '$(reboot)', '`id`', '-n', 'a\nb', '../etc', '.hidden', '']) {
    it(`refuses the hostile name ${JSON.stringify(bad)}`, () => {
      fails(`nodes:\n  - name: ${JSON.stringify(bad)}\n`, /(is not allowed|has no `name:`)/)
    })
  }

  it('refuses hostile exec values and pod netns names', () => {
    fails('nodes:\n  - name: a\n    exec: "netns:-x"\n', /does not name a namespace/)
    fails('nodes:\n  - name: a\n    exec: "netns:a;id"\n', /does not name a namespace/)
    fails('nodes:\n  - name: a\n    exec: "ssh:-oProxyCommand=id"\n', /is not USER@HOST/)
    fails('nodes:\n  - name: a\n    exec: "ssh:root@h $(id)"\n', /is not USER@HOST/)
    fails('nodes: [{name: a}]\npods: [{name: p, ip: 10.244.1.2, node: a, netns: "p 1"}]\n', /netns 'p 1' is not a name/)
    expect(execProblem('ssh:root@192.0.2.11')).to.equal(undefined)
    expect(execProblem('ssh:[::1]')).to.match(/USER@HOST/)
    expect(isSafeName('worker-1.example_2')).to.equal(true)
  })
})

describe('discoverPods', () => {
  const host: HostSnapshot = {
    name: 'w1',
    links: [
      {name: 'cni0', kind: 'bridge', mtu: 1450, up: true, raw: ''},
      {name: 'eth0', kind: 'ether', mtu: 1500, up: true, raw: ''},
    ],
    addresses: [
      {dev: 'cni0', family: 4, local: '10.244.1.1', prefixlen: 24, raw: ''},
      {dev: 'eth0', family: 4, local: '192.168.1.11', prefixlen: 24, raw: ''},
    ],
    neighbors: [
      {dst: '10.244.1.5', dev: 'cni0', lladdr: '0a:58:0a:f4:01:05', state: ['REACHABLE'], raw: ''},
      {dst: '10.244.1.9', dev: 'cni0', state: ['FAILED'], raw: ''},
      {dst: '192.168.1.12', dev: 'eth0', lladdr: '52:54:00:00:00:12', state: ['STALE'], raw: ''},
    ],
  }

  it('finds pods among the bridge neighbours and the IPAM state, not the underlay', () => {
    expect(discoverPods(host, ['10.244.1.3', '10.244.1.1', '172.16.0.5'])).to.deep.equal([
      {name: '10.244.1.3', ip: '10.244.1.3', node: 'w1'}, {name: '10.244.1.5', ip: '10.244.1.5', node: 'w1'}])
  })

  it('finds Calico-style pods by their host route to a veth of their own', () => {
    const cal1 = loadWorld('calico').hosts.find(h => h.name === 'cal1')!
    expect(discoverPods(cal1)).to.deep.equal([{name: '10.233.64.2', ip: '10.233.64.2', node: 'cal1'}])
    // and a node read alone traces from it
    const t = traceFlow({hosts: [cal1], pods: discoverPods(cal1), partial: true, podsDiscovered: true}, {src: '10.233.64.2', dst: '10.233.64.66'})
    expect(t.src.node).to.equal('cal1')
  })

  it('recognises cni0 by name when only ifconfig was captured', () => {
    const bare: HostSnapshot = {...host, links: [{name: 'cni0', kind: 'ether', mtu: 1450, up: true, raw: ''}]}
    expect(discoverPods(bare).map(p => p.ip)).to.deep.equal(['10.244.1.5'])
  })
})

describe('inventory: the line reader for plain block style', () => {
  const outcome = (text: string, plainBlock: boolean) => {
    try {
      return {inventory: parseInventory(text, 'hosts.yaml', {plainBlock})}
    } catch (error) {
      return {error: (error as Error).message, hint: (error as {hint?: string}).hint}
    }
  }

  it('takes what formatInventory writes, and reads it as the yaml library does', () => {
    const inv = {
      nodes: Array.from({length: 50}, (_, i) => ({name: `node${i}`})),
      pods: Array.from({length: 50}, (_, i) => ({name: `pod${i}`, ip: `10.16.${i}.2`, node: `node${i}`, netns: `p${i}`})),
    }
    const text = formatInventory(inv)
    expect(readPlainBlock(text)).to.not.equal(undefined)
    expect(parseInventory(text)).to.deep.equal(inv)
    expect(outcome(text, true)).to.deep.equal(outcome(text, false))
  })

  it('reads a full-line comment as nothing, in the line-by-line reader too (collect starts its inventory with one)', () => {
    const text = '# written by flannelctl collect from lab x at 2026-01-01T00:00:00.000Z\nnodes:\n  - name: a\n# between\n  - name: b\n'
    expect(readPlainBlock(text)).to.not.equal(undefined)
    expect(parseInventory(text)).to.deep.equal({nodes: [{name: 'a'}, {name: 'b'}]})
    expect(outcome(text, true)).to.deep.equal(outcome(text, false))
  })

  it('leaves to the yaml library what YAML would read otherwise', () => {
    for (const text of [
      'nodes:\n  - name: 123\n', 'nodes:\n  - name: 1e3\n', 'nodes:\n  - name: 0x1F\n', 'nodes:\n  - name: null\n',
      'nodes:\n  - name: a # comment\n', 'nodes:\n  - name: "a"\n', 'nodes: [{name: a}]\n', 'nodes:\n  - name: a\npods:\n',
      'nodes:\n  - name: a\r\n', 'nodes:\n\t- name: a\n', 'nodes:\n  - name: a\n    name: b\n', 'nodes:\n  - name: a:\n',
      '---\nnodes:\n  - name: a\n', 'nodes:\n  - name: a \n', 'nodes:\n  - name: @a\n',
    ]) {
      expect(readPlainBlock(text), JSON.stringify(text)).to.equal(undefined)
      expect(outcome(text, true), JSON.stringify(text)).to.deep.equal(outcome(text, false))
    }
  })

  it('reads any text of lines as the yaml library does: the same inventory, or the same error', () => {
    const value = fc.constantFrom('node0', 'n1', 'pod-a', '10.244.1.2', '10.244.1.2/24', 'netns:w1', 'ssh:root@192.0.2.1', 'local',
      '123', '1e3', '0x1F', '0o7', 'null', 'True', 'a:b', 'a:', '@x', 'a#b', 'x y', '-n', '.hidden', '~', 'docker:x', '"q"', '')
    const key = fc.constantFrom('name', 'exec', 'ip', 'node', 'netns', 'other', 'Name')
    const line = fc.oneof(
      fc.constantFrom('nodes:', 'pods:', '', 'nodes: []', '# c'),
      fc.record({indent: fc.constantFrom(0, 2, 4, 6), dash: fc.boolean(), key, value}).map(l => `${' '.repeat(l.indent)}${l.dash ? '- ' : ''}${l.key}: ${l.value}`),
    )
    fc.assert(fc.property(fc.array(line, {maxLength: 14}), lines => {
      const text = lines.join('\n') + '\n'
      expect(outcome(text, true)).to.deep.equal(outcome(text, false))
    }), {numRuns: 3000})
  })

  it('reads well-formed inventories of generated names as the yaml library does', () => {
    const name = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,6}$/)
    fc.assert(fc.property(fc.uniqueArray(name, {minLength: 1, maxLength: 8}), fc.constantFrom(0, 2), fc.boolean(), (names, indent, withPods) => {
      const pad = ' '.repeat(indent)
      const lines = ['nodes:', ...names.flatMap(n => [`${pad}- name: ${n}`, `${pad}  exec: netns:${n}`])]
      if (withPods) lines.push('pods:', ...names.flatMap((n, i) => [`${pad}- name: p${n}`, `${pad}  ip: 10.244.${i}.2`, `${pad}  node: ${n}`]))
      const text = lines.join('\n') + '\n'
      expect(outcome(text, true)).to.deep.equal(outcome(text, false))
    }), {numRuns: 500})
  })
})
