/** The quick start itself: `lab demo` on both backends ends with every pod pair reachable, and leaves nothing behind. */
import {expect} from 'chai'
import {cli, sh, uniqueLab} from '../helpers/cli.js'

describe('lab demo (real kernel)', function () {
  this.timeout(180000)
  for (const [backend, store] of [['vxlan', 'file'], ['host-gw', 'file'], ['vxlan', 'etcd']]) {
    it(`${backend} on the ${store} store: prints the lease table and an all-green ping matrix, exits 0, cleans up`, async () => {
      const name = uniqueLab('dm')
      try {
        const r = await cli(['lab', 'demo', '--name', name, '--backend', backend, '--store', store])
        expect(r.exitCode, r.stderr + r.stdout).to.equal(0)
        expect(r.stdout).to.match(/SUBNET\s+PUBLIC IP\s+BACKEND\s+VTEP MAC/)
        expect(r.stdout).to.contain('30/30 pod pairs reachable')
        expect(r.stdout).to.not.contain('FAIL')
        const left = (await sh('ip', ['netns', 'list'])).stdout
        expect(left).to.not.contain(`fc-${name}-`)
        if (store === 'etcd') {
          expect(r.stdout).to.contain('Leases in etcd://192.168.100.2:2379')
          expect((await sh('pgrep', ['-f', `labs/${name}/etcd`])).stdout).to.equal('')
        }
      } finally {
        await cli(['lab', 'down', '--name', name])
      }
    })
  }
})
