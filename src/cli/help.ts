/**
 * oclif's help, plus what a newcomer looks for first on `flannelctl --help`: how to get a lab to
 * play with, the three commands that matter, what the exit codes mean and where the docs are.
 */
import {Help} from '@oclif/core'

const GETTING_STARTED: [string, string][] = [
  ['npm run demo -- --keep', 'build a 3-node lab (nodes n1-n3, pods pod-1a … pod-3b) and keep it'],
  ['flannelctl trace pod-1a pod-2a --lab demo', 'one packet, hop by hop, through every host\'s tables'],
  ['flannelctl lab break n1 missing-fdb', 'break it (lab break --list shows every fault), trace again'],
  ['flannelctl doctor --lab demo', 'every pod pair and every host checked at once'],
]

const EXIT_CODES: [string, string][] = [
  ['0', 'ok; trace: delivered; doctor: healthy'],
  ['1', 'trace: not delivered; doctor, status: problems found'],
  ['2', 'bad input or usage: the message says what, the hint what to do'],
  ['3', 'a program flannelctl ran failed (ip, iptables, a CNI plugin), or the store stopped answering a command that changes things (init, sync, peer, backend set, reset --release, migrate): run it again once it answers'],
]

export default class FlannelctlHelp extends Help {
  protected override async showRootHelp(): Promise<void> {
    await super.showRootHelp()
    this.log(this.section('GETTING STARTED', GETTING_STARTED))
    this.log('')
    this.log(this.section('EXIT CODES', EXIT_CODES))
    this.log('')
    this.log(this.section('MORE', this.wrap('Every command takes --help (with examples that run in the lab) and --verbose (the programs it runs); DEBUG=flannelctl* shows more. Colour only on a terminal, never with NO_COLOR. Guides: docs/getting-started.md, docs/troubleshooting.md; reference: docs/commands/.')))
  }
}
