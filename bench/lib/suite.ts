/** What every suite gets and gives back. */
export interface SuiteContext {
  quick: boolean;
  /** --runs N: measured runs per contender (after one warm-up) */
  runs?: number;
  /** --sizes: workload sizes as [N, K, F] */
  sizes?: [number, number, number][];
  /** --no-ansible */
  noAnsible: boolean;
  /** --contenders a,b,…: only these workload contenders */
  contenders?: string[];
  /** --baseline PATH: another build of pvrun's main.js, run as contender `pvrun-base` (before/after) */
  baseline?: string;
  log: (line: string) => void;
  /** scratch directory for this bench run (removed at the end) */
  tmp: string;
}

export interface SuiteResult {
  name: string;
  title: string;
  /** Markdown: tables and notes, pasted into BENCHMARKS.md */
  markdown: string;
  data: unknown;
}
