/**
 * The prompt finder runs on every line of every paste: what it looks at of a line is kept small,
 * and must read as the whole line's words would.
 */
import {expect} from 'chai'
import fc from 'fast-check'
import {leadingWordMayEndPrompt, leadingWords, promptCommand, tokens} from '../../src/core/parse/common.js'

describe('parse: pasted prompts', () => {
  it('leadingWords is the first words of tokens, whatever the whitespace', () => {
    const char = fc.constantFrom('a', 'b', '#', '$', '>', '-', ' ', '  ', '\t', '\n', '\u00a0', '\u2003', '❯', '"')
    fc.assert(fc.property(fc.array(char, {maxLength: 40}).map(cs => cs.join('')), fc.integer({min: 0, max: 7}), (text, max) => {
      expect(leadingWords(text, max)).to.deep.equal(tokens(text).slice(0, max))
    }), {numRuns: 2000})
  })

  it('leadingWordMayEndPrompt: one of the first four words of the first 300 characters ends in a prompt character', () => {
    const char = fc.constantFrom('a', '-', '#', '$', '%', '>', '❯', '»', ' ', '\t', '\u00a0', '\u2003', '\n', 'é')
    const line = fc.oneof(fc.array(char, {maxLength: 30}).map(cs => cs.join('')), fc.array(char, {minLength: 290, maxLength: 310}).map(cs => cs.join('')))
    fc.assert(fc.property(line, l => {
      const want = tokens(l.slice(0, 300)).slice(0, 4).some(w => /[#$%>\u0080-\uffff]$/.test(w))
      expect(leadingWordMayEndPrompt(l), JSON.stringify(l)).to.equal(want)
    }), {numRuns: 3000})
  })

  it('reads no kube-proxy rule as a prompt, though its comment holds `->` and its chain names end in no prompt', () => {
    for (const line of [
      '-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp -> 10.244.0.2:53" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-IT2ZTR26TO4XFPTO',
      '-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4',
    ]) expect(promptCommand(line), line).to.equal(undefined)
    expect(promptCommand('core@node1 ~ $ iptables-save')).to.equal('iptables-save')
    expect(promptCommand('(venv) root@n1:~# ip route')).to.equal('ip route')
    expect(promptCommand('node1 ~ #')).to.equal('')
    expect(promptCommand('➜  ~ ip neigh')).to.equal('ip neigh')
  })
})
