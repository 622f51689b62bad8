/** A position in a user's YAML file, 1-based, for `file:line:col` diagnostics. */
export interface SourcePos {
  file: string;
  line: number;
  col: number;
}
