/**
 * A lightweight SSH endpoint for the 1,000-host scale suite: an ssh2 Server (no containers, no
 * OpenSSH processes) answering every exec at once with exit status 0. Commands wrapped by pvrun
 * get the process-group marker on stderr that a real /bin/sh would print. Node's cluster runs
 * it in a few worker processes sharing one port (all inventory hosts point at that port; one
 * known_hosts entry covers them).
 *
 *   node bench/.build/bench/fake-sshd.js spec.json
 *   spec: { hostKey, clientPub, port, workers }
 * Prints `ready PORT PID PID…` (the primary and its workers) once every worker listens.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import ssh2 from 'ssh2';

interface Spec { hostKey: string; clientPub: string; port: number; workers: number }

const spec = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as Spec;

if (cluster.isPrimary) {
  const pids: number[] = [];
  let listening = 0;
  for (let i = 0; i < spec.workers; i++) {
    const w = cluster.fork();
    if (w.process.pid) pids.push(w.process.pid);
    w.on('listening', () => {
      if (++listening === spec.workers) process.stdout.write(`ready ${spec.port} ${process.pid} ${pids.join(' ')}\n`);
    });
  }
  const stop = () => { for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGKILL'); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  process.on('disconnect', () => process.exit(0));
  const allowed = ssh2.utils.parseKey(readFileSync(spec.clientPub));
  if (allowed instanceof Error) throw allowed;
  const allowedKey = Array.isArray(allowed) ? allowed[0] : allowed;
  const pub = allowedKey.getPublicSSH();
  const server = new ssh2.Server({ hostKeys: [readFileSync(spec.hostKey)] }, (client) => {
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey' || ctx.key.data.length !== pub.length || !timingSafeEqual(ctx.key.data, pub)) {
        ctx.reject(['publickey']);
        return;
      }
      if (ctx.signature && ctx.blob) {
        if (allowedKey.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true) ctx.accept();
        else ctx.reject(['publickey']);
        return;
      }
      ctx.accept(); // the key query before the signature
    });
    client.on('ready', () => {
      client.on('session', (accept) => {
        const session = accept();
        session.on('exec', (acc, _rej, info) => {
          const ch = acc();
          if (info.command.includes('pvrun-pgid')) ch.stderr.write(`\u001epvrun-pgid ${process.pid}\n`);
          ch.exit(0);
          ch.end();
        });
      });
    });
    client.on('error', () => { /* a client that went away */ });
  });
  server.listen(spec.port, '127.0.0.1');
}
