/**
 * Which store and etcd settings a node command uses: the flags given, else what init recorded.
 * The etcd user stands apart from where etcd is (prefix, TLS files): `--etcd-username ''` forgets a
 * recorded user, say after etcd's authentication was turned off, without losing the rest.
 */
import {expect} from 'chai'
import {storeChoice, type NodeRecord} from '../../src/services/node.js'

const recorded = (etcd: NodeRecord['etcd']) => ({store: 'etcd://10.0.0.5:2379', etcd} as NodeRecord)

describe('storeChoice: the etcd settings of a node command', () => {
  const tls = {prefix: '/my/network', cafile: '/etc/ca.pem', certfile: '/etc/c.pem', keyfile: '/etc/k.pem'}

  it('nothing given: the recorded ones', () => {
    expect(storeChoice({}, recorded({...tls, username: 'fl'}))).to.deep.equal({store: 'etcd://10.0.0.5:2379', etcd: {...tls, username: 'fl'}})
  })

  it("--etcd-username '' forgets the recorded user and keeps the prefix and TLS files", () => {
    expect(storeChoice({etcdUsername: ''}, recorded({...tls, username: 'fl'})).etcd).to.deep.equal({...tls, username: undefined})
  })

  it('a user given alone joins the recorded prefix and TLS files', () => {
    expect(storeChoice({etcdUsername: 'other'}, recorded(tls)).etcd).to.deep.equal({...tls, username: 'other'})
    expect(storeChoice({etcdUsername: 'other'}, undefined).etcd).to.deep.equal({username: 'other'})
  })

  it('a prefix or TLS file given replaces where etcd is, the recorded user stays unless given too', () => {
    expect(storeChoice({etcdPrefix: '/other'}, recorded({...tls, username: 'fl'})).etcd)
      .to.deep.equal({prefix: '/other', cafile: undefined, certfile: undefined, keyfile: undefined, username: 'fl'})
    expect(storeChoice({etcdPrefix: '/other', etcdUsername: ''}, recorded({username: 'fl'})).etcd?.username).to.equal(undefined)
  })

  it('no etcd settings at all stay none', () => {
    expect(storeChoice({}, undefined).etcd).to.equal(undefined)
    expect(storeChoice({}, recorded(undefined)).etcd).to.equal(undefined)
  })
})
