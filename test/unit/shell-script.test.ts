/**
 * The framing a read script and a shell session share (adapters/shell-script.ts): a program's
 * result is taken only once both of its frames are complete, whatever order and pieces the two
 * pipes deliver them in, and its output comes back byte for byte.
 */
import {expect} from 'chai'
import fc from 'fast-check'
import {FrameReader, framedScript, takeFrame, fitsHereDocument, programLine, type ShellCommand} from '../../src/adapters/shell-script.js'

const marker = 'flannelctl-0123456789abcdef01234567'
/** What the shell writes for one program: its output, then the frame (frameEnd's printf lines). */
const framed = (stdout: string, stderr: string, code: number) => ({stdout: `${stdout}\n${marker} ${code}\n`, stderr: `${stderr}\n${marker}\n`})

describe('shell-script framing', () => {
  it('takes a result only when both frames are complete, in any pieces', () => {
    fc.assert(fc.property(fc.string(), fc.string(), fc.integer({min: 0, max: 255}), fc.nat(), fc.nat(), (out, err, code, cutOut, cutErr) => {
      const whole = framed(out, err, code)
      const o = cutOut % (whole.stdout.length + 1)
      const e = cutErr % (whole.stderr.length + 1)
      const partial = takeFrame(whole.stdout.slice(0, o), whole.stderr.slice(0, e), marker)
      if (o < whole.stdout.length || e < whole.stderr.length) expect(partial).to.equal(undefined)
      const frame = takeFrame(whole.stdout + 'next', whole.stderr + 'next-err', marker)
      expect(frame).to.deep.equal({result: {stdout: out, stderr: err, exitCode: code}, stdout: 'next', stderr: 'next-err'})
    }))
  })

  it('reads a frame delivered in any chunks, interleaved, as takeFrame reads all that came so far', () => {
    const cuts = fc.array(fc.nat(), {maxLength: 12})
    fc.assert(fc.property(fc.string(), fc.string(), fc.integer({min: 0, max: 255}), cuts, cuts, fc.array(fc.boolean()), (out, err, code, outCuts, errCuts, order) => {
      const whole = framed(out, err, code)
      const pieces = (text: string, at: number[]) => {
        const points = [...new Set(at.map(n => n % (text.length + 1)))].sort((x, y) => x - y)
        return [...points, text.length].map((p, i) => text.slice(i === 0 ? 0 : points[i - 1], p))
      }
      const outPieces = pieces(whole.stdout + 'next', outCuts)
      const errPieces = pieces(whole.stderr, errCuts)
      const reader = new FrameReader(marker)
      const sent = {stdout: '', stderr: ''}
      for (let i = 0; outPieces.length + errPieces.length > 0; i++) {
        if (errPieces.length === 0 || (outPieces.length > 0 && (order[i] ?? true))) {
          const p = outPieces.shift()!
          reader.addStdout(p)
          sent.stdout += p
        } else {
          const p = errPieces.shift()!
          reader.addStderr(p)
          sent.stderr += p
        }
        expect(reader.take()).to.deep.equal(takeFrame(sent.stdout, sent.stderr, marker))
      }
      expect(reader.take()).to.deep.equal({result: {stdout: out, stderr: err, exitCode: code}, stdout: 'next', stderr: ''})
    }))
  })

  it('finds the stdout frame end where the RegExp it replaced found it, in any text', () => {
    // the frame line in pieces: near misses (no digits, no newline, a letter among the digits, a shorter marker)
    const piece = fc.constantFrom('\n', ' ', '0', '7', '42', '255', 'x', marker, marker.slice(0, -1), `\n${marker} `, `\n${marker}`, `\n${marker} 1`)
    fc.assert(fc.property(fc.array(fc.oneof(piece, fc.string({maxLength: 4})), {maxLength: 14}), pieces => {
      const stdout = pieces.join('')
      const m = new RegExp(`\\n${marker} (\\d+)\\n`).exec(stdout)
      const want = m ? {stdout: stdout.slice(0, m.index), exitCode: Number(m[1]), rest: stdout.slice(m.index + m[0].length)} : undefined
      const got = takeFrame(stdout, `\n${marker}\n`, marker)
      expect(got && {stdout: got.result.stdout, exitCode: got.result.exitCode, rest: got.stdout}, JSON.stringify(stdout)).to.deep.equal(want)
    }), {numRuns: 3000})
  })

  it('quotes every word and feeds input as a here-document ended by the marker', () => {
    const script = framedScript(marker, [['printf', '%s', "it's $(id)"], {words: ['ip', '-batch', '-'], input: 'route show\n'}, ['grep', '', {glob: '/proc/sys/net/ipv4/conf/*/rp_filter'}]])
    expect(script).to.include(`printf '%s' 'it'\\''s $(id)' </dev/null;`)
    expect(script).to.include(`ip -batch - <<'${marker}-in';`)
    expect(script).to.include(`route show\n${marker}-in\n`)
    expect(script).to.include("grep '' /proc/sys/net/ipv4/conf/*/rp_filter </dev/null;")
    expect(() => framedScript(marker, [['grep', {glob: '/proc/$(id)/*'}]])).to.throw(/not a plain glob/)
  })

  it('refuses an input that cannot be a here-document', () => {
    expect(fitsHereDocument('a\n', marker)).to.equal(true)
    expect(fitsHereDocument('no newline at end', marker)).to.equal(false)
    expect(fitsHereDocument(`x\n${marker}-in\ny\n`, marker)).to.equal(false)
    expect(() => framedScript(marker, [{words: ['cat'], input: 'no newline'}])).to.throw(/must end with a newline/)
  })
})

describe('a read script as --verbose shows it (programLine)', () => {
  it('names each program by its words, a batch with its lines, a snippet by its name; globs as written', () => {
    expect([
      ['ip', '-d', '-j', 'link', 'show'],
      {words: ['ip', '-j', '-batch', '-'], input: 'addr show\nrule show\n'},
      {name: 'sysctl read', script: 'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do :; done'},
      ['cat', '--', {glob: '/proc/sys/net/ipv4/conf/*/rp_filter'}],
    ].map(c => programLine(c as ShellCommand))).to.deep.equal([
      'ip -d -j link show', 'ip -j -batch - [addr show | rule show]', 'sysctl read', 'cat -- /proc/sys/net/ipv4/conf/*/rp_filter',
    ])
  })
})
