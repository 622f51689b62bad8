/**
 * The check gate: the one place where a guest transport refuses to change the host. A connector
 * made for a check-mode run (`mode: 'check'`) is wrapped here once, where it is made
 * (connectors/factory.ts, powershell/create.ts), and a step predicted inside a real run
 * (`check_mode: true`) gets the same wrapper over the run's connector (engine/step-context.ts).
 * Behind it, exec() runs only a command whose caller declares `mutates: false` (pvrun's own
 * probes; a user-written command only when the user marks it `check_mode_safe`), and put()
 * never runs. The transports themselves know nothing of check mode.
 */
import { err } from '../util/result.js';
import type { Connector, ExecOptions } from './types.js';

import type { TransportMode } from '../model/transport-mode.js';

export type { TransportMode };

export interface CheckGateOptions {
  /** said in every refusal, e.g. `check mode` or `check mode (step check_mode: true)` */
  why?: string;
  /** the connection is not the gate's to end (a view over the run's shared connector) */
  keepOpen?: boolean;
}

function shortText(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > 80 ? `${one.slice(0, 77)}...` : one;
}

/**
 * `c` behind the check gate. A Proxy, so everything else of the connector (its class, getters,
 * helper methods) stays as it is; exec, put and (with keepOpen) close are the gate's.
 */
export function checkGate<T extends Connector>(c: T, opts: CheckGateOptions = {}): T {
  const why = opts.why ?? 'check mode';
  const exec = (command: string, o?: ExecOptions): ReturnType<Connector['exec']> => {
    if (o?.mutates !== false) {
      return Promise.resolve(err({ kind: 'check-mode-refused', message: `${why}: not running a command that may change the host: ${shortText(command)}` }));
    }
    return c.exec(command, o);
  };
  const put = (_source: string | Buffer, remotePath: string): ReturnType<Connector['put']> =>
    Promise.resolve(err({ kind: 'check-mode-refused', message: `${why}: not uploading ${remotePath}` }));
  const close = (): Promise<void> => Promise.resolve();
  return new Proxy(c, {
    get(target, prop) {
      if (prop === 'exec') return exec;
      if (prop === 'put') return put;
      if (prop === 'close' && opts.keepOpen) return close;
      if (prop === 'checkGated') return true;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** `c` as a transport in `mode`: behind the check gate for a rehearsal, as it is otherwise. */
export function inMode<T extends Connector>(c: T, mode: TransportMode | undefined): T {
  return mode === 'check' ? checkGate(c) : c;
}

/** true for a connector behind the check gate (tests and preflight assert it) */
export function isCheckGated(c: Connector): boolean {
  return (c as unknown as { checkGated?: boolean }).checkGated === true;
}
