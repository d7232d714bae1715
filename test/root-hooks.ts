/**
 * The suite's promise: the root namespace's network is byte-identical before and after.
 * Every test works inside namespaces it made; this hook proves it.
 */
import {execa} from 'execa'

async function rootNetwork(): Promise<string> {
  const run = async (file: string, args: string[]) => {
    const r = await execa(file, args, {reject: false})
    return `$ ${file} ${args.join(' ')}\n${r.stdout}`
  }
  const parts = await Promise.all([
    run('ip', ['-d', 'link', 'show']),
    run('ip', ['addr', 'show']),
    run('ip', ['route', 'show', 'table', 'all']),
    run('ip', ['neigh', 'show', 'nud', 'permanent']),
    run('iptables-save', []),
    run('sysctl', ['net.ipv4.ip_forward', 'net.ipv4.conf.all.rp_filter']),
  ])
  // Counters, timestamps and link statistics change on their own.
  return parts.join('\n').replace(/^# (Generated|Completed).*$/gm, '').replace(/\[\d+:\d+\]/g, '')
}

let before = ''

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(30000)
    before = await rootNetwork()
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(30000)
    const after = await rootNetwork()
    if (after !== before) {
      const a = before.split('\n')
      const b = after.split('\n')
      const diff = [...a.filter(l => !b.includes(l)).map(l => `- ${l}`), ...b.filter(l => !a.includes(l)).map(l => `+ ${l}`)]
      throw new Error(`the root namespace's network changed during the tests:\n${diff.slice(0, 40).join('\n')}`)
    }
  },
}
