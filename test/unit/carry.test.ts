/**
 * The commands flannelctl prints carry the flags the user typed that they need: a host set up with
 * its own --state-file (several "hosts" on one filesystem) was told `flannelctl init` or
 * `flannelctl sync`, which look for the record at the default path.
 */
import {expect} from 'chai'
import {readFileSync} from 'node:fs'
import {carryFlags, carryFlagsIn, type Carry, type GivenFlag} from '../../src/core/carry.js'
import {inventoryStateFiles, setCarry, withHostStateFiles} from '../../src/ui/carry.js'

const manifest = JSON.parse(readFileSync(new URL('../../oclif.manifest.json', import.meta.url), 'utf8')) as {commands: Record<string, {flags: Record<string, unknown>}>}
const commands = Object.fromEntries(Object.entries(manifest.commands).map(([id, c]) => [id.replace(/:/g, ' '), Object.keys(c.flags)]))
const carry = (...given: GivenFlag[]): Carry => ({given, commands})
const state: GivenFlag = {name: 'state-file', value: '/tmp/h1/node.json'}

describe('carryFlags: printed commands carry the flags they need', () => {
  it('--state-file goes into every command that takes it, right after its name', () => {
    const c = carry(state)
    expect(carryFlags('run flannelctl sync again; if it repeats, check the store', c)).to.equal('run flannelctl sync --state-file /tmp/h1/node.json again; if it repeats, check the store')
    expect(carryFlags('did you mean: flannelctl peer remove 10.1.2.0/24', c)).to.equal('did you mean: flannelctl peer remove --state-file /tmp/h1/node.json 10.1.2.0/24')
    expect(carryFlags('flannelctl reset --release, flannelctl init, re-create its pods', c))
      .to.equal('flannelctl reset --state-file /tmp/h1/node.json --release, flannelctl init --state-file /tmp/h1/node.json, re-create its pods')
    expect(carryFlags('`flannelctl migrate --rollback --yes` returns', c)).to.equal('`flannelctl migrate --state-file /tmp/h1/node.json --rollback --yes` returns')
  })

  it('the files and the store go into init alone, which records them; never the etcd password', () => {
    const c = carry(state, {name: 'subnet-file', value: '/tmp/h1/subnet.env'}, {name: 'cni-conf-dir', value: '/tmp/h1/cni'},
      {name: 'store', value: 'etcd://192.168.77.11:2379'}, {name: 'ip-masq', value: false}, {name: 'etcd-password', value: 'secret'})
    expect(carryFlags('to set it up again: flannelctl init, then flannelctl sync --watch', c)).to.equal('to set it up again: flannelctl init --state-file /tmp/h1/node.json '
      + '--subnet-file /tmp/h1/subnet.env --cni-conf-dir /tmp/h1/cni --store etcd://192.168.77.11:2379 --no-ip-masq, then flannelctl sync --state-file /tmp/h1/node.json --watch')
    // trace and doctor read this host's conflist where --cni-conf-dir says: it goes there too
    expect(carryFlags('flannelctl doctor', c)).to.equal('flannelctl doctor --state-file /tmp/h1/node.json --cni-conf-dir /tmp/h1/cni')
    expect(carryFlags('flannelctl doctor', c)).to.not.contain('secret')
  })

  it('a flag the command names already stays as it is; twice is once', () => {
    const c = carry(state, {name: 'store', value: 'file:/new'})
    const once = carryFlags('to move this host: flannelctl reset --release, then flannelctl init --store etcd://10.0.0.5:2379', c)
    expect(once).to.equal('to move this host: flannelctl reset --state-file /tmp/h1/node.json --release, then flannelctl init --state-file /tmp/h1/node.json --store etcd://10.0.0.5:2379')
    expect(carryFlags(once, c)).to.equal(once)
    expect(carryFlags('flannelctl sync --state-file=/x.json', c)).to.equal('flannelctl sync --state-file=/x.json')
    // a boolean flag named either way, and a longer flag that starts with a carried one's name
    const masq = carry({name: 'ip-masq', value: false}, {name: 'iface', value: 'eth1'})
    expect(carryFlags('flannelctl init --ip-masq', masq)).to.equal('flannelctl init --iface eth1 --ip-masq')
    expect(carryFlags('flannelctl init --no-ip-masq --iface=eth0', masq)).to.equal('flannelctl init --no-ip-masq --iface=eth0')
    expect(carryFlags('flannelctl init --iface-x', masq)).to.equal('flannelctl init --no-ip-masq --iface eth1 --iface-x')
  })

  it('not into a command naming its hosts (--lab, --inventory, --snapshot refuse this host\'s flags), nor one that takes none', () => {
    const c = carry(state)
    expect(carryFlags('a lab: flannelctl doctor --lab NAME; to make this host a node: flannelctl init', c))
      .to.equal('a lab: flannelctl doctor --lab NAME; to make this host a node: flannelctl init --state-file /tmp/h1/node.json')
    expect(carryFlags('flannelctl lab exec n1 -- ip route', c)).to.equal('flannelctl lab exec n1 -- ip route')
    expect(carryFlags('flannelctl migrate --backend vxlan --inventory hosts.yaml --yes', c)).to.equal('flannelctl migrate --backend vxlan --inventory hosts.yaml --yes')
    // another host's command: its files are its own
    expect(carryFlags('it leaves when flannelctl reset --release runs on that host (or its lease expires)', c)).to.equal('it leaves when flannelctl reset --release runs on that host (or its lease expires)')
    expect(carryFlags('flannelctl sync   # publishes the MAC; then flannelctl sync on the peers', c)).to.equal('flannelctl sync --state-file /tmp/h1/node.json   # publishes the MAC; then flannelctl sync on the peers')
  })

  it('prose is left alone: a possessive, a word that is no command, nothing given', () => {
    const c = carry(state)
    expect(carryFlags('flannelctl speaks the etcd v3 API; flannelctl\'s record', c)).to.equal('flannelctl speaks the etcd v3 API; flannelctl\'s record')
    expect(carryFlags('flannelctl init\'s record', c)).to.equal('flannelctl init\'s record')
    // the command as a sentence's subject: status's drift line, a hint's account of what happened
    for (const prose of ['drift     flannelctl sync would change:', 'none: the host is as flannelctl sync leaves it', 'flannelctl init has not run here', 'another flannelctl migrate took this migration over']) {
      expect(carryFlags(prose, c)).to.equal(prose)
    }
    // an adverb after it is no subject: the command is to be run
    expect(carryFlags('run flannelctl init first', c)).to.equal('run flannelctl init --state-file /tmp/h1/node.json first')
    expect(carryFlags('flannelctl sync', carry())).to.equal('flannelctl sync')
  })

  it('a value that needs quoting is quoted for the shell', () => {
    expect(carryFlags('flannelctl status', carry({name: 'state-file', value: '/tmp/my node.json'}))).to.equal('flannelctl status --state-file \'/tmp/my node.json\'')
  })

  it('--json: every string of the answer, objects and arrays walked, other values kept', () => {
    const when = new Date(0)
    const out = carryFlagsIn({fixes: [{node: 'h1', command: 'flannelctl sync'}], n: 1, ok: true, none: null, when}, carry(state))
    expect(out).to.deep.equal({fixes: [{node: 'h1', command: 'flannelctl sync --state-file /tmp/h1/node.json'}], n: 1, ok: true, none: null, when})
    expect(out.when).to.be.instanceOf(Date)
  })

  it('an inventory\'s fixes: each host\'s own stateFile:, not into a fix run from here', () => {
    setCarry(carry())
    try {
      const files = inventoryStateFiles([{name: 'h1', stateFile: '/tmp/nu-h1/node.json'}, {name: 'h3'}])
      const fixes = withHostStateFiles([
        {node: 'h1', command: 'flannelctl sync   # restores the FLANNEL-FWD jump'},
        {node: 'h1', command: 'ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink'},
        {node: 'h3', command: 'flannelctl sync'},
        {node: 'h1', command: 'flannelctl migrate --backend vxlan --directrouting --inventory hosts.yaml --yes', scope: 'network'},
      ], files)
      expect(fixes.map(f => f.command)).to.deep.equal(['flannelctl sync --state-file /tmp/nu-h1/node.json   # restores the FLANNEL-FWD jump',
        'ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink', 'flannelctl sync', 'flannelctl migrate --backend vxlan --directrouting --inventory hosts.yaml --yes'])
    } finally {
      setCarry({given: [], commands: {}})
    }
  })
})
