/**
 * The one place that imports ssh2. It is CommonJS, and Node's ESM loader cannot see its named
 * exports, so they are taken from the module object here. It is loaded at first use, not at
 * start-up: `pvrun --help`, `validate` and runs without SSH hosts never need it (issue 17).
 */
import { createRequire } from 'node:module';
import { withDefaultBudget } from '../../util/v8-budget.js';
import type * as Ssh2 from 'ssh2';

/**
 * The two files of ssh2 that pvrun uses, not its index (lib/index.js, ssh2 1.17.0), which also
 * loads the server, the key generator and the HTTP(S) agents, and with them Node's http, https
 * and tls modules: work every run paid for nothing (issue 17). ssh2 is pinned (package.json) and
 * has no `exports` map, so these paths are part of what it ships; test/connectors/ssh2-paths.test.ts
 * checks that they are the very objects the index exports.
 */
export const SSH2_CLIENT = 'ssh2/lib/client.js';
export const SSH2_KEY_PARSER = 'ssh2/lib/protocol/keyParser.js';

type Ssh2Module = typeof Ssh2;
// In the installed bundle `req(SSH2_CLIENT)` and `req(SSH2_KEY_PARSER)` below become plain
// requires that esbuild compiles into pvrun.cjs (scripts/bundle.mjs, SSH2_REWRITES): keep them
// written exactly so, the build fails otherwise.
const req = createRequire(import.meta.url);
let clientClass: Ssh2Module['Client'] | undefined;
let keyParser: { parseKey: Ssh2Module['utils']['parseKey'] } | undefined;

export type Client = Ssh2.Client;
export function newClient(): Client {
  // (ssh2's client loads Node's crypto, dns, zlib and child_process: with their code cache)
  return new (clientClass ??= withDefaultBudget(() => req(SSH2_CLIENT)) as Ssh2Module['Client'])();
}
export const parseKey: Ssh2Module['utils']['parseKey'] = (...a: Parameters<Ssh2Module['utils']['parseKey']>) =>
  (keyParser ??= withDefaultBudget(() => req(SSH2_KEY_PARSER)) as { parseKey: Ssh2Module['utils']['parseKey'] }).parseKey(...a);
export type { ClientChannel, ConnectConfig } from 'ssh2';

/**
 * Make `ch.destroy()` skip `end()` once the write side has finished. Every exec channel ends up
 * there: at the server's CHANNEL_CLOSE ssh2 ends the write side itself if nobody has
 * (node_modules/ssh2/lib/utils.js:64-66, onCHANNEL_CLOSE, ssh2 1.17.0), and when that finishes
 * the Duplex's autoDestroy calls Channel.destroy (lib/Channel.js:214-218), which is `this.end();
 * this.close();`. On a finished Writable, Node 20's `Writable.prototype.end`
 * (lib/internal/streams/writable.js, `else if (state.finished) err = new
 * ERR_STREAM_ALREADY_FINISHED('end')`) builds an error, stack trace and all, that nobody
 * receives: ~1.5 % of the controller's CPU per exec (issue 17, BENCHMARKS.md). On such a stream
 * `end()` does nothing else, so only `close()` is left (a no-op once the channel is closed).
 */
export function closeWithoutEndOnceFinished(ch: Ssh2.ClientChannel): void {
  const destroy = ch.destroy.bind(ch);
  ch.destroy = function (this: Ssh2.ClientChannel) {
    if (!this.writableFinished) return destroy();
    this.close();
    return this;
  } as typeof ch.destroy;
}
