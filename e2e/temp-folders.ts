// Playwright's `globalSetup`: the end-to-end run's temporary folders are checked as the unit
// tests' are (test/temp-folders.ts): a folder of Clickwise's left behind fails the run.
import { folderForRun } from '../test/temp-folders.js';

export default function setup(): () => void {
  return folderForRun('end-to-end', 'throw');
}
