import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {expect} from 'chai'
import {parseIpRuleJson, parseIpRuleText, parseRoutes, parseRules} from '../../src/core/parse/index.js'
import {readSnapshotDir, writeSnapshotDir} from '../../src/adapters/snapshot-dir.js'
import {tempDirHooks} from '../helpers/temp-dir.js'

// captured with iproute2 6.1 in a throwaway namespace (prule-x): see the rules' raw lines below
const real = (name: string): string => readFileSync(new URL(`../fixtures/parse/real/${name}`, import.meta.url), 'utf8')

describe('policy rules (ip rule show)', () => {
  let dir = ''
  tempDirHooks('fc-prule-', d => (dir = d))

  it('reads `ip -j rule show` and `ip rule show` into the same rules, raw as ip prints them', () => {
    const json = parseIpRuleJson(real('ip-rule-policy.json'))
    const text = parseIpRuleText(real('ip-rule-policy.txt'))
    expect(json).to.deep.equal(text)
    expect(json.map(r => r.raw)).to.deep.equal(real('ip-rule-policy.txt').trimEnd().split('\n'))
    const by = (p: number) => json.find(r => r.priority === p)!
    expect(by(0)).to.include({action: 'lookup', table: 'local'})
    expect(by(99)).to.include({table: 'main', suppressPrefixlength: 0})
    expect(by(100)).to.include({iif: 'cni0', table: '100'})
    expect(by(101)).to.include({from: '10.10.1.5/32', table: '101'})
    expect(by(102)).to.include({not: true, to: '10.30.0.0/16', fwmark: 0x10, fwmask: 0xff, table: '102'})
    expect(by(103)).to.deep.include({action: 'prohibit', tos: 0x10, oif: 'cni0', ipproto: 'tcp', dport: [80, 80]})
    expect(by(104)).to.include({action: 'goto', goto: 32766, to: '10.40.0.0/16'})
    expect(by(105)).to.include({action: 'unreachable', from: '10.10.1.6/32'})
    expect(by(106)).to.deep.include({action: 'blackhole', sport: [1000, 2000]})
    expect(by(107)).to.include({action: 'nop'})
    expect(by(108)).to.include({table: '100', suppressIfgroup: '3'})
    expect(by(32767)).to.include({table: 'default'})
  })

  it('reads the default rules of a fresh namespace in both forms', () => {
    for (const f of ['ip-rule-default.json', 'ip-rule-default.txt']) {
      expect(parseRules(real(f)).map(r => [r.priority, r.table])).to.deep.equal([[0, 'local'], [32766, 'main'], [32767, 'default']])
    }
  })

  it('keeps a selector it does not know, so the trace can say it cannot decide the rule', () => {
    const [r] = parseRules('1000:\tfrom all uidrange 1000-2000 lookup 100\n')
    expect(r.other).to.deep.equal(['uidrange 1000-2000'])
    expect(() => parseRules('from all lookup 100\n', 'x/ip-rule.txt')).to.throw(/x\/ip-rule.txt/)
  })

  it('reads `ip route show table all` with each route\'s table (main when absent)', () => {
    for (const f of ['ip-route-table-all-policy.json', 'ip-route-table-all-policy.txt']) {
      const routes = parseRoutes(real(f))
      expect(routes.find(r => r.dst === 'default' && r.table === '100')?.type).to.equal('unreachable')
      expect(routes.find(r => r.dst === 'default' && r.table === '101')?.type).to.equal('blackhole')
      expect(routes.find(r => r.dst === '10.10.1.0/24')?.table).to.equal(undefined)
      expect(routes.some(r => r.table === 'local')).to.equal(true)
    }
  })

  it('round-trips ip-rule through a snapshot directory; a host without the file has no rules (unknown)', async () => {
    await writeSnapshotDir(dir, {nodes: [{name: 'a'}, {name: 'b'}]}, [
      {name: 'a', tables: {'ip-rule': {format: 'json', text: real('ip-rule-policy.json')}, 'ip-route': {format: 'txt', text: real('ip-route-table-all-policy.txt')}}},
      {name: 'b', tables: {'ip-route': {format: 'txt', text: real('ip-route-table-all-policy.txt')}}},
    ])
    expect(readFileSync(join(dir, 'a', 'ip-rule.json'), 'utf8')).to.equal(real('ip-rule-policy.json'))
    const snap = await readSnapshotDir(dir)
    const [a, b] = snap.hosts
    expect(a.rules).to.deep.equal(parseIpRuleJson(real('ip-rule-policy.json')))
    expect(b.rules).to.equal(undefined)
    expect('rules' in b).to.equal(false)
  })
})
