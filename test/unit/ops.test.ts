import {expect} from 'chai'
import {opToShell} from '../../src/core/ops.js'

describe('opToShell: how a user would type an op by hand', () => {
  it('an iptables-restore chain line creates or empties the chain; before -X it is a flush', () => {
    expect(opToShell({tool: 'iptables', table: 'nat', lines: [':FLANNEL-POSTRTG - [0:0]', '-A FLANNEL-POSTRTG -j RETURN'], why: ''}))
      .to.deep.equal(['iptables -t nat -N FLANNEL-POSTRTG || iptables -t nat -F FLANNEL-POSTRTG', 'iptables -t nat -A FLANNEL-POSTRTG -j RETURN'])
    expect(opToShell({tool: 'iptables', table: 'filter', lines: ['-D FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD', ':FLANNEL-FWD - [0:0]', '-X FLANNEL-FWD'], why: ''}))
      .to.deep.equal(['iptables -t filter -D FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD', 'iptables -t filter -F FLANNEL-FWD', 'iptables -t filter -X FLANNEL-FWD'])
  })
})
