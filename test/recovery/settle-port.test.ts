/**
 * The guest-port probe of `pvrun rollback` / `resume` (src/recovery/settle.ts) against real
 * loopback servers: every way a port can answer ends the probe. CI 10-1 hung 25 minutes in
 * crash.test.ts because a port that accepted and closed without a word (a guest going down
 * mid-reboot) left the probe waiting for data, an error or a timeout that could no longer come.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { portAnswers } from '../../src/recovery/settle.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function serve(onConn: (c: Socket) => void): Promise<number> {
  const s = createServer(onConn);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as { port: number }).port;
}

/** the probe, or 'hung' if it has not answered after `ms` (far beyond its own limit) */
const within = (p: Promise<boolean>, ms: number): Promise<boolean | 'hung'> =>
  Promise.race([p, new Promise<'hung'>((r) => setTimeout(() => r('hung'), ms).unref())]);

it('accepts and closes at once, without a word (FIN): not answering, at once', async () => {
  const port = await serve((c) => c.end());
  // the probe's own timer is a minute away: an answer within 10 s came from the FIN itself
  expect(await within(portAnswers('127.0.0.1', port, 60_000), 10_000)).toBe(false);
});

it('accepts and resets (RST): not answering', async () => {
  const port = await serve((c) => c.resetAndDestroy());
  expect(await within(portAnswers('127.0.0.1', port, 3000), 10_000)).toBe(false);
});

it('speaks first (an SSH banner): answering', async () => {
  const port = await serve((c) => c.write('SSH-2.0-OpenSSH_9.2p1\r\n'));
  expect(await within(portAnswers('127.0.0.1', port, 3000), 10_000)).toBe(true);
});

it('accepts and says nothing: not answering once its time is up', async () => {
  const held: Socket[] = [];
  const port = await serve((c) => { held.push(c); });
  const t = Date.now();
  expect(await within(portAnswers('127.0.0.1', port, 500), 10_000)).toBe(false);
  expect(Date.now() - t).toBeGreaterThanOrEqual(450);
  for (const c of held) c.destroy();
});

it('nothing listens: not answering', async () => {
  const port = await serve(() => {});
  await new Promise((r) => servers.pop()!.close(r));
  expect(await within(portAnswers('127.0.0.1', port, 3000), 10_000)).toBe(false);
});
