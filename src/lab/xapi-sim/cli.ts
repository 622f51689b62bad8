import { readFileSync, writeFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { SimDump } from './model.js';
import type { SimDefinition } from './seed.js';
import { DEMO_DEFINITION } from './seed.js';
import { XapiSimulator } from './server.js';
import { selfSignedCert } from './tls.js';

export interface SimCliIo {
  out(line: string): void;
  err(line: string): void;
}

const USAGE = 'usage: pvrun lab xapi [--port P] [--state FILE] [--save] [--tls]';

/**
 * `pvrun lab xapi [--port P] [--state FILE] [--save] [--tls]`: run the simulator until SIGINT/SIGTERM.
 * FILE is a definition (YAML or JSON: `{pool, username, password, vms: [...], isos: [...]}`) or a
 * dump written by an earlier `--save` run (`{dump: {...}}`). Resolves with the exit code.
 */
export async function runSimulatorCli(args: string[], io: SimCliIo = { out: console.log, err: console.error }): Promise<number> {
  let port = 0;
  let stateFile: string | undefined;
  let save = false;
  let tls = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--port') port = Number(args[++i]);
    else if (a === '--state') stateFile = args[++i];
    else if (a === '--save') save = true;
    else if (a === '--tls') tls = true;
    else if (a === '-h' || a === '--help') {
      io.out(USAGE);
      return 0;
    } else {
      io.err(`unknown argument ${a}\n${USAGE}`);
      return 2;
    }
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    io.err(`--port must be 0..65535`);
    return 2;
  }
  let definition: SimDefinition = DEMO_DEFINITION;
  let dump: SimDump | undefined;
  if (stateFile) {
    try {
      const raw = parseYaml(readFileSync(stateFile, 'utf8')) as Record<string, unknown>;
      if (raw && typeof raw === 'object' && 'dump' in raw) {
        dump = raw.dump as typeof dump;
        definition = { vms: [], ...(raw.definition as object) };
      } else if (raw && Array.isArray(raw.vms)) {
        definition = raw as unknown as SimDefinition;
      } else {
        io.err(`${stateFile}: expected a definition with 'vms' or a saved dump`);
        return 2;
      }
    } catch (e) {
      io.err(`${stateFile}: ${(e as Error).message}`);
      return 2;
    }
  }
  const cert = tls ? selfSignedCert() : undefined;
  const sim = new XapiSimulator({ definition, port, ...(cert ? { tls: cert } : {}) });
  if (dump) sim.model.load(dump);
  await sim.start();
  io.out(`XAPI simulator: master ${sim.url}  member ${sim.memberUrl}`);
  io.out(`login: ${definition.username ?? 'root'} / ${definition.password ?? 'secret'}`);
  if (cert) io.out(`TLS fingerprint (sha256): ${cert.fingerprint256}`);
  for (const [, vm] of sim.model.store.table('VM')) {
    if (vm.is_a_template || vm.is_control_domain || vm.is_a_snapshot) continue;
    io.out(`  VM ${String(vm.name_label)}  ${String(vm.uuid)}  ${String(vm.power_state)}`);
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await sim.stop();
  if (save && stateFile) {
    writeFileSync(stateFile, JSON.stringify({ definition: { ...definition, vms: [] }, dump: sim.model.dump() }, null, 1));
    io.out(`state saved to ${stateFile}`);
  }
  return 0;
}
