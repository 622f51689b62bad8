/**
 * Emulated systemd pieces for lab guests. A guest's PID 1 is the lab's init script, not
 * systemd, so `systemctl` and `service` are shell programs that manage daemons through pid
 * files, and reboot/shutdown/poweroff ask the lab controller (outside the guest) to power-cycle
 * the VM. Unit files are real systemd unit files; only ExecStartPre= and ExecStart= are used.
 * A SysV script in /etc/init.d without a native unit of the same name (the tools deb ships one)
 * is a unit too, as systemd-sysv-generator makes it (src/sysv-generator/sysv-generator.c: native
 * units win; no `# pidfile:` header → RemainAfterExit=yes, so it stays active after its start
 * action returned, until it is stopped); enable/disable link it in /etc/rc[2-5].d as
 * systemd-sysv-install (update-rc.d) does.
 */

/** Guest-side directory shared with the controller (a bind mount of the guest's control dir). */
export const GUEST_CONTROL_DIR = '/run/pvrun-lab';
export const GUEST_LAB_LIB = '/usr/local/lib/pvrun-lab';

export function systemctlScript(): string {
  return `#!/bin/sh
# systemctl (pvrun lab emulation: this guest runs without systemd; see docs/lab.md)
STATE=/run/pvrun-lab-systemd
WANTS=/etc/systemd/system/multi-user.target.wants
UNIT_DIRS="/etc/systemd/system /run/systemd/system /usr/local/lib/systemd/system /usr/lib/systemd/system /lib/systemd/system"
mkdir -p "$STATE" 2>/dev/null

norm() { case "$1" in *.*) echo "$1" ;; *) echo "$1.service" ;; esac; }
# sh has no local variables: helpers use _-prefixed names so they cannot clobber callers'
unit_file() {
  for _ud in $UNIT_DIRS; do [ -f "$_ud/$1" ] && { echo "$_ud/$1"; return 0; }; done
  sysv_script "$1" >/dev/null && { echo "/run/systemd/generator.late/$1"; return 0; }
  return 1
}
# the init script behind a generated unit (none when a native unit file exists)
sysv_script() {
  case "$1" in *.service) ;; *) return 1 ;; esac
  for _ud in $UNIT_DIRS; do [ -f "$_ud/$1" ] && return 1; done
  _ss="/etc/init.d/\${1%.service}"
  [ -x "$_ss" ] && [ -f "$_ss" ] && { echo "$_ss"; return 0; }
  return 1
}
sysv_active() { [ -f "$STATE/$1.sysv-active" ]; }
exec_lines() { sed -n "s/^$2=[-@+!:]*//p" "$1"; }
main_pid() {
  [ -f "$STATE/$1.pid" ] || return 1
  _mp=$(cat "$STATE/$1.pid" 2>/dev/null)
  [ -n "$_mp" ] && kill -0 "$_mp" 2>/dev/null && { echo "$_mp"; return 0; }
  return 1
}
is_enabled() {
  if sysv_script "$1" >/dev/null; then ls /etc/rc[2345].d/S[0-9][0-9]"\${1%.service}" >/dev/null 2>&1; return; fi
  [ -L "$WANTS/$1" ] || [ -f "$WANTS/$1" ]
}
offline() { [ -n "\${PVRUN_LAB_OFFLINE:-}" ]; }

do_start() {
  u=$(norm "$1")
  f=$(unit_file "$u") || { echo "Failed to start $u: Unit $u not found." >&2; return 5; }
  if offline; then echo "Running in chroot, ignoring command 'start'" >&2; return 0; fi
  if ss=$(sysv_script "$u"); then
    sysv_active "$u" && return 0
    "$ss" start </dev/null >>"$STATE/$u.log" 2>&1 || { echo "Job for $u failed because the control process exited with error code." >&2; return 1; }
    touch "$STATE/$u.sysv-active"; date +%s > "$STATE/$u.since"
    return 0
  fi
  main_pid "$u" >/dev/null && return 0
  exec_lines "$f" ExecStartPre | while IFS= read -r c; do sh -c "$c" </dev/null >>"$STATE/$u.log" 2>&1; done
  c=$(exec_lines "$f" ExecStart | head -n 1)
  [ -n "$c" ] || { echo "Failed to start $u: no ExecStart=" >&2; return 1; }
  # not a process group leader here, so setsid does not fork: $! is the daemon itself
  setsid sh -c "exec $c" </dev/null >>"$STATE/$u.log" 2>&1 &
  echo $! > "$STATE/$u.pid"
  date +%s > "$STATE/$u.since"
  return 0
}
do_stop() {
  u=$(norm "$1")
  unit_file "$u" >/dev/null || { echo "Failed to stop $u: Unit $u not loaded." >&2; return 5; }
  if offline; then echo "Running in chroot, ignoring command 'stop'" >&2; return 0; fi
  if ss=$(sysv_script "$u"); then
    sysv_active "$u" && "$ss" stop </dev/null >>"$STATE/$u.log" 2>&1
    rm -f "$STATE/$u.sysv-active" "$STATE/$u.since"
    return 0
  fi
  if p=$(main_pid "$u"); then
    kill "$p" 2>/dev/null
    n=0
    while kill -0 "$p" 2>/dev/null && [ $n -lt 20 ]; do sleep 0.1; n=$((n + 1)); done
    kill -9 "$p" 2>/dev/null
  fi
  rm -f "$STATE/$u.pid" "$STATE/$u.since"
  return 0
}
do_enable() {
  u=$(norm "$1")
  f=$(unit_file "$u") || { echo "Failed to enable unit: Unit file $u does not exist." >&2; return 1; }
  if ss=$(sysv_script "$u"); then
    n=\${u%.service}
    [ -n "$quiet" ] || echo "Synchronizing state of $u with SysV service script with /lib/systemd/systemd-sysv-install." >&2
    for l in 2 3 4 5; do mkdir -p /etc/rc$l.d; rm -f /etc/rc$l.d/[SK][0-9][0-9]"$n"; ln -s "../init.d/$n" "/etc/rc$l.d/S01$n"; done
    return 0
  fi
  if ! is_enabled "$u"; then
    mkdir -p "$WANTS"
    ln -sf "$f" "$WANTS/$u"
    [ -n "$quiet" ] || echo "Created symlink $WANTS/$u → $f." >&2
  fi
}
do_disable() {
  u=$(norm "$1")
  unit_file "$u" >/dev/null || { echo "Failed to disable unit: Unit file $u does not exist." >&2; return 1; }
  if ss=$(sysv_script "$u"); then
    n=\${u%.service}
    for l in 2 3 4 5; do for k in /etc/rc$l.d/S[0-9][0-9]"$n"; do [ -e "$k" ] || [ -L "$k" ] || continue; mv "$k" "/etc/rc$l.d/K01$n"; done; done
    return 0
  fi
  if is_enabled "$u"; then
    rm -f "$WANTS/$u"
    [ -n "$quiet" ] || echo "Removed \\"$WANTS/$u\\"." >&2
  fi
}
active_state() { if main_pid "$1" >/dev/null || sysv_active "$1"; then echo active; else echo inactive; fi; }
enabled_state() {
  unit_file "$1" >/dev/null || { echo not-found; return; }
  if is_enabled "$1"; then echo enabled; else echo disabled; fi
}
do_status() {
  u=$(norm "$1")
  f=$(unit_file "$u") || { echo "Unit $u could not be found." >&2; return 4; }
  if sysv_script "$u" >/dev/null; then desc="LSB: $(sed -n 's/^# Short-Description: *//p' "$(sysv_script "$u")" | head -n 1)"
  else desc=$(sed -n 's/^Description=//p' "$f" | head -n 1); fi
  echo "● $u - $desc"
  echo "     Loaded: loaded ($f; $(enabled_state "$u"); preset: enabled)"
  if sysv_active "$u"; then
    echo "     Active: active (exited) since $(date -d "@$(cat "$STATE/$u.since" 2>/dev/null || date +%s)")"
    return 0
  fi
  if p=$(main_pid "$u"); then
    echo "     Active: active (running) since $(date -d "@$(cat "$STATE/$u.since" 2>/dev/null || date +%s)")"
    echo "   Main PID: $p"
    return 0
  fi
  echo "     Active: inactive (dead)"
  return 3
}
list_unit_files() {
  echo "UNIT FILE                                  STATE           PRESET"
  n=0
  for d in $UNIT_DIRS; do
    [ -d "$d" ] || continue
    for f in "$d"/*.service; do
      [ -f "$f" ] || continue
      u=$(basename "$f")
      if [ $# -gt 0 ]; then
        m=""
        for pat in "$@"; do case "$u" in $pat|$pat.service) m=1 ;; esac; done
        [ -n "$m" ] || continue
      fi
      printf '%-42s %-15s %s\\n' "$u" "$(enabled_state "$u")" enabled
      n=$((n + 1))
    done
  done | sort -u
  echo
}
list_units() {
  echo "UNIT                         LOAD   ACTIVE SUB     DESCRIPTION"
  for pf in "$STATE"/*.pid; do
    [ -f "$pf" ] || continue
    u=$(basename "$pf" .pid)
    main_pid "$u" >/dev/null || continue
    if [ $# -gt 0 ]; then
      m=""
      for pat in "$@"; do case "$u" in $pat|$pat.service) m=1 ;; esac; done
      [ -n "$m" ] || continue
    fi
    f=$(unit_file "$u")
    printf '%-28s loaded active running %s\\n' "$u" "$(sed -n 's/^Description=//p' "$f" | head -n 1)"
  done
  # units generated from /etc/init.d scripts are listed too, "active exited" while started, as
  # systemd lists what systemd-sysv-generator made (src/sysv-generator/sysv-generator.c)
  for sf in "$STATE"/*.sysv-active; do
    [ -f "$sf" ] || continue
    u=$(basename "$sf" .sysv-active)
    if [ $# -gt 0 ]; then
      m=""
      for pat in "$@"; do case "$u" in $pat|$pat.service) m=1 ;; esac; done
      [ -n "$m" ] || continue
    fi
    printf '%-28s loaded active exited  %s\\n' "$u" "LSB: $(basename "$u" .service)"
  done
}
show_prop() {
  u=$(norm "$1"); prop=$2
  case "$prop" in
    ActiveState) active_state "$u" ;;
    SubState) if main_pid "$u" >/dev/null; then echo running; elif sysv_active "$u"; then echo exited; else echo dead; fi ;;
    UnitFileState) enabled_state "$u" ;;
    LoadState) if unit_file "$u" >/dev/null; then echo loaded; else echo not-found; fi ;;
    MainPID) main_pid "$u" || echo 0 ;;
    FragmentPath) unit_file "$u" || echo ;;
    *) echo ;;
  esac
}

quiet=""; now=""; value=""; props=""; args=""
cmd=""
while [ $# -gt 0 ]; do
  case "$1" in
    -q|--quiet) quiet=1 ;;
    --now) now=1 ;;
    --value) value=1 ;;
    -p|--property) shift; props="$props $(echo "$1" | tr ',' ' ')" ;;
    --property=*) props="$props $(echo "\${1#--property=}" | tr ',' ' ')" ;;
    --type=*|--state=*|--all|-a|--no-pager|--no-legend|--plain|--full|-l|--system|--no-block|--no-ask-password|--force|-f) ;;
    --type|--state) shift ;;
    # end of options, as systemctl's getopt_long reads it (src/systemctl/systemctl.c: systemctl_parse_argv)
    --) shift; for _arg in "$@"; do if [ -z "$cmd" ]; then cmd=$_arg; else args="$args $_arg"; fi; done; break ;;
    -*) echo "systemctl (pvrun lab emulation): unsupported option $1" >&2; exit 1 ;;
    *) if [ -z "$cmd" ]; then cmd=$1; else args="$args $1"; fi ;;
  esac
  shift
done
set -f
# shellcheck disable=SC2086
set -- $args
set +f

rc=0
case "$cmd" in
  start) for u in "$@"; do do_start "$u" || rc=$?; done ;;
  stop) for u in "$@"; do do_stop "$u" || rc=$?; done ;;
  restart|reload-or-restart|try-restart|reload|force-reload)
    for u in "$@"; do
      if [ "$cmd" = try-restart ] && [ "$(active_state "$(norm "$u")")" != active ]; then continue; fi
      do_stop "$u" || rc=$?; do_start "$u" || rc=$?
    done ;;
  enable) for u in "$@"; do do_enable "$u" || rc=$?; [ -n "$now" ] && { do_start "$u" || rc=$?; }; done ;;
  disable) for u in "$@"; do do_disable "$u" || rc=$?; [ -n "$now" ] && { do_stop "$u" || rc=$?; }; done ;;
  is-active)
    rc=3
    for u in "$@"; do
      s=$(active_state "$(norm "$u")")
      [ -n "$quiet" ] || echo "$s"
      [ "$s" = active ] && rc=0
    done ;;
  is-enabled)
    rc=1
    for u in "$@"; do
      s=$(enabled_state "$(norm "$u")")
      if [ "$s" = not-found ]; then
        [ -n "$quiet" ] || echo "Failed to get unit file state for $(norm "$u"): No such file or directory" >&2
        continue
      fi
      [ -n "$quiet" ] || echo "$s"
      [ "$s" = enabled ] && rc=0
    done ;;
  status) for u in "$@"; do do_status "$u"; r=$?; [ $r -gt $rc ] && rc=$r; done ;;
  show)
    for u in "$@"; do
      for p in \${props:-ActiveState SubState UnitFileState LoadState MainPID}; do
        if [ -n "$value" ]; then show_prop "$u" "$p"; else echo "$p=$(show_prop "$u" "$p")"; fi
      done
    done ;;
  list-unit-files) list_unit_files "$@" ;;
  list-units) list_units "$@" ;;
  daemon-reload|daemon-reexec|reset-failed|mask|unmask|preset) ;;
  is-system-running) echo running ;;
  reboot) exec ${GUEST_LAB_LIB}/power reboot ;;
  poweroff|halt) exec ${GUEST_LAB_LIB}/power poweroff ;;
  ""|-h|--help) echo "systemctl (pvrun lab emulation): start|stop|restart|enable|disable|is-active|is-enabled|status|show|list-unit-files|list-units|daemon-reload|reboot|poweroff" ;;
  *) echo "systemctl (pvrun lab emulation): unsupported command '$cmd'" >&2; rc=1 ;;
esac
exit $rc
`;
}

export function serviceScript(): string {
  return `#!/bin/sh
# service (pvrun lab emulation): forwards to the emulated systemctl
if [ "\${1:-}" = --status-all ]; then exec systemctl list-units; fi
[ $# -ge 2 ] || { echo "Usage: service < option > | --status-all | [ service_name [ command | --full-restart ] ]" >&2; exit 1; }
name=$1; action=$2
case "$action" in
  start|stop|restart|status|reload|force-reload|try-restart) exec systemctl "$action" "$name" ;;
  --full-restart) exec systemctl restart "$name" ;;
  *) echo "service (pvrun lab emulation): unsupported action $action" >&2; exit 1 ;;
esac
`;
}

/**
 * reboot / shutdown / poweroff / halt: write a request into the control directory; the lab
 * controller (on the host) sees it and power-cycles the VM, as the hypervisor does when a guest
 * reboots itself. Returns at once, like the real commands; the connection drops shortly after.
 */
export function powerScript(): string {
  return `#!/bin/sh
# reboot/shutdown/poweroff/halt (pvrun lab emulation: asks the lab controller; see docs/lab.md)
REQ=${GUEST_CONTROL_DIR}/requests
request() {
  if [ -n "\${PVRUN_LAB_OFFLINE:-}" ]; then echo "Running in chroot, ignoring request." >&2; exit 0; fi
  mkdir -p "$REQ" || exit 1
  echo "$1 $(date +%s)" > "$REQ/.$1.$$" && mv "$REQ/.$1.$$" "$REQ/$1"
  exit 0
}
prog=$(basename "$0")
if [ "$prog" = power ]; then prog=$1; shift; fi
case "$prog" in
  reboot) request reboot ;;
  poweroff|halt) request poweroff ;;
  shutdown)
    action=poweroff
    for a in "$@"; do
      case "$a" in
        -r|--reboot) action=reboot ;;
        -h|-P|--poweroff|-H|--halt) action=poweroff ;;
        -c) echo "Shutdown cancelled (pvrun lab: nothing was scheduled)"; exit 0 ;;
        -k) exit 0 ;;
      esac
    done
    request "$action" ;;
  *) echo "$prog: unknown power action" >&2; exit 1 ;;
esac
`;
}
