import {expect} from 'chai'
import {mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {listLeases} from '../../src/services/lease.js'
import {tempDirHooks} from '../helpers/temp-dir.js'

describe('lease list: a network config edited under its leases', () => {
  let dir: string
  tempDirHooks('fcd-leases-', d => (dir = d), {each: true})

  const store = async (config: object, leases: Record<string, string>) => {
    await mkdir(join(dir, 'coreos.com', 'network', 'subnets'), {recursive: true})
    await writeFile(join(dir, 'coreos.com', 'network', 'config'), JSON.stringify(config))
    for (const [subnet, ip] of Object.entries(leases)) {
      await writeFile(join(dir, 'coreos.com', 'network', 'subnets', subnet.replace('/', '-')), JSON.stringify({PublicIP: ip, PublicIPv6: null, BackendType: 'host-gw'}))
    }
    return listLeases(`file:${dir}`)
  }

  it('a SubnetLen no lease fits is said (doctor: LEASES_OFF_CONFIG), as off-config subnets their nodes keep, not a config no node can sync with', async () => {
    const r = await store({Network: '10.244.0.0/16', SubnetLen: 25, Backend: {Type: 'host-gw'}}, {'10.244.3.0/24': '192.168.1.3', '10.244.9.0/24': '192.168.1.9'})
    expect(r.configProblem).to.equal(undefined)
    expect(r.offConfig).to.equal('no lease fits the network config (10.244.3.0/24: it is a /24, and the network config\'s SubnetLen is 25): their nodes keep these subnets, with their pods, and go on syncing their peers (new nodes lease at the config\'s size); if the config was edited by mistake, put it back; to resize on purpose, move each node (flannelctl reset --release, flannelctl init, re-create its pods)')
    expect(r.leases.map(l => l.subnet)).to.deep.equal(['10.244.3.0/24', '10.244.9.0/24'])
  })

  it('a narrowed SubnetMax names how many leases it leaves out; a widened network is no problem', async () => {
    const narrowed = await store({Network: '10.244.0.0/16', SubnetMax: '10.244.5.0', Backend: {Type: 'host-gw'}}, {'10.244.3.0/24': '192.168.1.3', '10.244.9.0/24': '192.168.1.9'})
    expect(narrowed.offConfig).to.match(/^1 of 2 leases do not fit the network config \(10\.244\.9\.0\/24: it is above SubnetMax 10\.244\.5\.0\)/)
    const widened = await store({Network: '10.244.0.0/15', Backend: {Type: 'host-gw'}}, {})
    expect(widened.configProblem).to.equal(undefined)
    expect(widened.offConfig).to.equal(undefined)
  })
})
