/**
 * What bin/run.js starts oclif from when no stored answer serves (src/cli/fast-start.ts): this
 * module's place in the bundle (src/cli/bundle-build.ts) makes it the same copy of oclif that the
 * bundled commands extend, so a command run loads oclif once. Importing it runs @oclif/core's
 * index, its engine check included: bin/run.js turns that check off around the import.
 */
export {Config, execute, loadHelpClass} from '@oclif/core'
