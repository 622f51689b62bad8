import { setMaxListeners } from 'node:events';

/**
 * Interrupt state shared by the scheduler and every host run.
 * First SIGINT: start no more hosts; running hosts finish their current step, then roll back
 * per policy and run cleanup. Second SIGINT: abort at once; hosts mid-step are reported.
 */
export class RunControl {
  private readonly abortCtl = (() => {
    const c = new AbortController();
    // every running step listens on it (hundreds of hosts at once): not a leak
    setMaxListeners(0, c.signal);
    return c;
  })();
  stopping = false;

  get aborted(): boolean {
    return this.abortCtl.signal.aborted;
  }

  get abortSignal(): AbortSignal {
    return this.abortCtl.signal;
  }

  /** returns 'stop' on the first call, 'abort' on the second */
  interrupt(): 'stop' | 'abort' {
    if (!this.stopping) {
      this.stopping = true;
      return 'stop';
    }
    this.abortCtl.abort(new Error('aborted by second interrupt'));
    return 'abort';
  }
}
