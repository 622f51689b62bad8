/**
 * The per-host scratch state steps share within a run (a snapshot's token for its undo, the CD
 * drive looked up, the Windows tools release found, "a reboot is required"), with typed keys:
 * each key says the type of its value, so a reader gets what the writer put, without a cast.
 */

/** A key of the per-host state, and the type of the value kept under it. */
export interface StateKey<T> {
  readonly name: string;
  /** the value's type; never set (it only carries T for the compiler) */
  readonly valueType?: T;
}

export function stateKey<T>(name: string): StateKey<T> {
  return { name };
}

export class HostState {
  private readonly values = new Map<string, unknown>();

  get<T>(key: StateKey<T>): T | undefined {
    // only set() writes, under a key of the same T
    return this.values.get(key.name) as T | undefined;
  }

  set<T>(key: StateKey<T>, value: T): void {
    this.values.set(key.name, value);
  }

  has(key: StateKey<unknown>): boolean {
    return this.values.has(key.name);
  }

  delete(key: StateKey<unknown>): void {
    this.values.delete(key.name);
  }

  /** forget everything (tests: a fresh process's state) */
  clear(): void {
    this.values.clear();
  }
}

/** set by a step whose change needs a reboot to take effect; read by `reboot`/`windows-reboot` `when_required` */
export const REBOOT_REQUIRED = stateKey<boolean>('reboot_required');
