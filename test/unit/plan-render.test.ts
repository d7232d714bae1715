import {expect} from 'chai'
import {renderReconcile} from '../../src/ui/plan.js'
import {describePlan, type Op} from '../../src/core/ops.js'
import type {ReconcileResult} from '../../src/services/node.js'

/** What renderReconcile reads of a result: the lease line, and the ops (a chain with its rules is one op). */
function result(ops: Op[], applied: boolean): ReconcileResult {
  return {
    lease: {subnet: '10.244.1.0/24'}, node: {publicIP: '192.168.100.11'}, peers: [], warnings: [],
    netConf: {network: '10.244.0.0/16', backend: {type: 'vxlan', directRouting: false}},
    ops, plan: describePlan(ops), applied,
  } as unknown as ReconcileResult
}

const chain: Op = {tool: 'iptables', table: 'filter', why: 'accept forwarded pod traffic',
  lines: [':FLANNEL-FWD - [0:0]', '-A FLANNEL-FWD -s 10.244.0.0/16 -j ACCEPT', '-A FLANNEL-FWD -d 10.244.0.0/16 -j ACCEPT']}
const mtu: Op = {tool: 'ip', args: ['link', 'set', 'cni0', 'mtu', '1450'], why: 'MTU is 1400, pods need 1450'}

describe('the plan a sync or init prints', () => {
  it('counts the changes and, when a change takes several commands (a chain and its rules), the commands too, each change\'s further commands under its first', () => {
    const text = renderReconcile(result([mtu, chain], false), 'sync').split('\n')
    expect(text.slice(1)).to.deep.equal([
      'plan (2 changes, 4 commands; nothing applied — --dry-run):',
      `  ${'ip link set cni0 mtu 1450'.padEnd(72)}  # MTU is 1400, pods need 1450`,
      `  ${'iptables -t filter -N FLANNEL-FWD || iptables -t filter -F FLANNEL-FWD'.padEnd(72)}  # accept forwarded pod traffic`,
      '    iptables -t filter -A FLANNEL-FWD -s 10.244.0.0/16 -j ACCEPT',
      '    iptables -t filter -A FLANNEL-FWD -d 10.244.0.0/16 -j ACCEPT',
    ])
    expect(renderReconcile(result([mtu, chain], true), 'sync').split('\n')[1]).to.equal('applied 2 changes, 4 commands:')
  })

  it('one command a change: the count alone, as before', () => {
    expect(renderReconcile(result([mtu], true), 'sync').split('\n')[1]).to.equal('applied 1 change:')
    expect(renderReconcile(result([mtu], false), 'init').split('\n')[1]).to.equal('plan (1 change; nothing applied — --dry-run):')
    expect(renderReconcile(result([], false), 'sync').split('\n')[1]).to.equal('up to date: nothing to change')
  })
})
