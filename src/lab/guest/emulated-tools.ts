/**
 * Emulated commands that the controller's userland lacks or that this kernel cannot back:
 * - `mount` for the CD drive: no iso9660 driver here, so mounting /dev/sr0 or /dev/cdrom
 *   bind-mounts (read-only) the medium the lab presents; everything else goes to the real mount.
 * - `rpm`, `dnf`, `yum` for RHEL-family guests: the controller has no rpm, so these keep a small
 *   package database of their own and install the lab's emulated .rpm packages.
 */

/** Inside the guest: the presented CD medium and the list of mounts made from it. */
export const GUEST_CD_MEDIA = '/run/pvrun-lab-cd/media';
export const GUEST_CD_MOUNTS = '/run/pvrun-lab-cd/mounts';
/** Inside the guest: a read-only package repository (the "network" for the online path). */
export const GUEST_REPO_DIR = '/run/pvrun-lab-repo';
export const RPM_DB_DIR = '/var/lib/rpm/pvrun-lab';

export function mountWrapper(): string {
  return `#!/bin/sh
# mount (pvrun lab emulation for the CD drive only; everything else runs the real mount).
# This kernel has no iso9660 driver: the lab presents the inserted ISO's content (or, where the
# kernel can, the mounted image) at ${GUEST_CD_MEDIA}, and this bind-mounts it read-only.
REAL=/usr/bin/mount
[ -x "$REAL" ] || REAL=/bin/mount
pos=""; n=0
skip=""
for a in "$@"; do
  if [ -n "$skip" ]; then skip=""; continue; fi
  case "$a" in
    -t|-o|-O|-L|-U|-T|--types|--options) skip=1 ;;
    -*) ;;
    *) n=$((n + 1)); [ $n -eq 1 ] && src=$a; [ $n -eq 2 ] && tgt=$a ;;
  esac
done
if [ $n -eq 2 ]; then
  case "$src" in
    /dev/*)
      dev=$(readlink -f "$src" 2>/dev/null || echo "$src")
      if [ "$dev" = /dev/sr0 ]; then
        if [ ! -e /dev/sr0 ]; then echo "mount: $tgt: special device $src does not exist." >&2; exit 32; fi
        if [ ! -d ${GUEST_CD_MEDIA}/. ] || ! mountpoint -q ${GUEST_CD_MEDIA}; then
          echo "mount: $tgt: no medium found on /dev/sr0." >&2; exit 32
        fi
        if [ ! -d "$tgt" ]; then echo "mount: $tgt: mount point does not exist." >&2; exit 32; fi
        "$REAL" --bind -o ro ${GUEST_CD_MEDIA} "$tgt" || exit 32
        echo "$(cd "$tgt" && pwd -P)" >> ${GUEST_CD_MOUNTS}
        echo "mount: $tgt: WARNING: source write-protected, mounted read-only." >&2
        exit 0
      fi ;;
  esac
fi
exec "$REAL" "$@"
`;
}

/** The emulated rpm. Package files are the lab's format: a .tar.gz with PKGINFO, scripts/, files/. */
export function rpmScript(): string {
  return `#!/bin/sh
# rpm (pvrun lab emulation: the controller has no rpm; see docs/lab.md). Understands the lab's
# own package format only, and a subset of options: -i/-U/-F[vh], -e, -q[a|i|l|p] [--qf FMT].
DB=${RPM_DB_DIR}
# queries only read: the database directory is created by the first install
nevra() { (. "$DB/$1.info"; echo "$NAME-$VERSION-$RELEASE.$ARCH"); }
installed() { [ -f "$DB/$1.info" ]; }
fmt() { # fmt INFOFILE FORMAT
  (. "$1"; printf '%s' "$2" | sed -e "s/%{NAME}/$NAME/g; s/%{name}/$NAME/g; s/%{VERSION}/$VERSION/g; s/%{version}/$VERSION/g; s/%{RELEASE}/$RELEASE/g; s/%{release}/$RELEASE/g; s/%{ARCH}/$ARCH/g; s/%{arch}/$ARCH/g; s/\\\\\\\\n/\\\\
/g")
}
unpack() { # unpack FILE DIR
  mkdir -p "$2" && tar -xzf "$1" -C "$2" 2>/dev/null && [ -f "$2/PKGINFO" ] ||
    { echo "error: $1: not an rpm package (or package manifest)" >&2; return 1; }
}
install_one() { # install_one FILE MODE(i|U|F)
  mkdir -p "$DB" || return 1
  t=$(mktemp -d) || return 1
  unpack "$1" "$t" || { rm -rf "$t"; return 1; }
  NAME= ; VERSION= ; RELEASE= ; ARCH=
  . "$t/PKGINFO"
  new="$VERSION-$RELEASE"
  if installed "$NAME"; then
    old=$(. "$DB/$NAME.info"; echo "$VERSION-$RELEASE")
    if [ "$2" = i ] || [ "$old" = "$new" ]; then
      echo "	package $(nevra "$NAME") is already installed" >&2; rm -rf "$t"; return 1
    fi
    if [ "$(printf '%s\\n%s\\n' "$old" "$new" | sort -V | tail -n 1)" = "$old" ]; then
      echo "	package $(nevra "$NAME") (which is newer than $NAME-$new.$ARCH) is already installed" >&2
      rm -rf "$t"; return 1
    fi
  elif [ "$2" = F ]; then rm -rf "$t"; return 0
  fi
  [ -n "$hash" ] && { echo "Verifying...                          ################################# [100%]"; echo "Preparing...                          ################################# [100%]"; echo "Updating / installing..."; echo "   1:$NAME-$new.$ARCH   ################################# [100%]"; }
  (cd "$t/files" 2>/dev/null && find . ! -type d | sed 's#^\\.##') > "$DB/$NAME.files.new"
  # like rpm: follow existing directory symlinks (/lib -> usr/lib), keep existing dirs' metadata
  if [ -d "$t/files" ]; then
    (cd "$t/files" && tar -cf - ./*) | tar -C / --keep-directory-symlink --no-overwrite-dir -xpf - || { rm -rf "$t"; return 1; }
  fi
  mv "$DB/$NAME.files.new" "$DB/$NAME.files"
  cp "$t/PKGINFO" "$DB/$NAME.info"
  rm -f "$DB/$NAME.preun"
  [ -f "$t/scripts/preun" ] && cp "$t/scripts/preun" "$DB/$NAME.preun"
  echo "INSTALLTIME=$(date +%s)" >> "$DB/$NAME.info"
  [ -f "$t/scripts/post" ] && sh "$t/scripts/post" 1 >/dev/null
  rm -rf "$t"
  return 0
}
erase_one() {
  installed "$1" || { echo "error: package $1 is not installed" >&2; return 1; }
  [ -f "$DB/$1.preun" ] && sh "$DB/$1.preun" 0
  while IFS= read -r f; do rm -f "$f"; done < "$DB/$1.files"
  rm -f "$DB/$1.info" "$DB/$1.files" "$DB/$1.preun"
}

mode=""; sub=""; qf=""; hash=""; pkgfile=""
args=""
while [ $# -gt 0 ]; do
  case "$1" in
    --version) echo "RPM version 4.16.1.3 (pvrun lab emulation)"; exit 0 ;;
    --qf|--queryformat) shift; qf=$1 ;;
    --qf=*|--queryformat=*) qf=\${1#*=} ;;
    --nodeps|--force|--quiet|--nosignature|--nodigest|--replacepkgs) ;;
    -q|--query) mode=q ;;
    -qa) mode=q; sub=a ;;
    -qi) mode=q; sub=i ;;
    -ql) mode=q; sub=l ;;
    -qp) mode=q; pkgfile=1 ;;
    -a|--all) sub=a ;;
    -i|--install) mode=\${mode:-i}; [ "$mode" = q ] && sub=i ;;
    -l|--list) sub=l ;;
    -p|--package) pkgfile=1 ;;
    -U|--upgrade) mode=U ;;
    -F|--freshen) mode=F ;;
    -e|--erase) mode=e ;;
    -v|-h|--hash|--verbose) hash=1 ;;
    -ivh|-ihv) mode=i; hash=1 ;;
    -Uvh|-Uhv) mode=U; hash=1 ;;
    -Fvh) mode=F; hash=1 ;;
    # end of options, as rpm's popt parser reads it (popt/popt.c: "--" stops option processing)
    --) shift; for _arg in "$@"; do args="$args
$_arg"; done; break ;;
    -*) echo "rpm (pvrun lab emulation): unsupported option $1" >&2; exit 1 ;;
    *) args="$args
$1" ;;
  esac
  shift
done

rc=0
case "$mode" in
  i|U|F)
    [ -n "$args" ] || { echo "rpm: no packages given for install" >&2; exit 1; }
    for f in $(printf '%s' "$args" | sed '/^$/d'); do install_one "$f" "$mode" || rc=1; done ;;
  e)
    for p in $(printf '%s' "$args" | sed '/^$/d'); do erase_one "$p" || rc=1; done ;;
  q)
    if [ -n "$pkgfile" ]; then
      for f in $(printf '%s' "$args" | sed '/^$/d'); do
        t=$(mktemp -d); unpack "$f" "$t" || { rc=1; rm -rf "$t"; continue; }
        if [ -n "$qf" ]; then fmt "$t/PKGINFO" "$qf"; else (. "$t/PKGINFO"; echo "$NAME-$VERSION-$RELEASE.$ARCH"); fi
        rm -rf "$t"
      done
    elif [ "$sub" = a ]; then
      for i in "$DB"/*.info; do
        [ -f "$i" ] || continue
        n=$(basename "$i" .info)
        pats=$(printf '%s' "$args" | sed '/^$/d')
        if [ -n "$pats" ]; then m=""; for p in $pats; do case "$n" in $p) m=1 ;; esac; done; [ -n "$m" ] || continue; fi
        if [ -n "$qf" ]; then fmt "$i" "$qf"; else nevra "$n"; fi
      done
    else
      [ -n "$args" ] || { echo "rpm: no arguments given for query" >&2; exit 1; }
      for p in $(printf '%s' "$args" | sed '/^$/d'); do
        if ! installed "$p"; then echo "package $p is not installed"; rc=1; continue; fi
        case "$sub" in
          l) cat "$DB/$p.files" ;;
          i) (. "$DB/$p.info"; printf 'Name        : %s\\nVersion     : %s\\nRelease     : %s\\nArchitecture: %s\\nInstall Date: %s\\nSummary     : %s\\n' "$NAME" "$VERSION" "$RELEASE" "$ARCH" "$(date -d "@$INSTALLTIME")" "$SUMMARY") ;;
          *) if [ -n "$qf" ]; then fmt "$DB/$p.info" "$qf"; else nevra "$p"; fi ;;
        esac
      done
    fi ;;
  *) echo "rpm (pvrun lab emulation): nothing to do (use -i, -U, -e or -q)" >&2; exit 1 ;;
esac
exit $rc
`;
}

/**
 * dnf / yum: install from the lab repository (${GUEST_REPO_DIR}/rpm/<repo>/*.rpm) or from files.
 * The "epel" repository is enabled only once epel-release is installed, as on a real RHEL.
 */
export function dnfScript(): string {
  return `#!/bin/sh
# dnf / yum (pvrun lab emulation; see docs/lab.md)
REPOS=${GUEST_REPO_DIR}/rpm
prog=$(basename "$0")
enabled_repos() {
  for r in "$REPOS"/*/; do
    [ -d "$r" ] || continue
    r=$(basename "$r")
    if [ "$r" = epel ] && ! rpm -q epel-release >/dev/null 2>&1; then continue; fi
    echo "$r"
  done
}
find_pkg() {
  for r in $(enabled_repos); do
    for f in "$REPOS/$r"/"$1"-[0-9]*.rpm; do [ -f "$f" ] && { echo "$f"; return 0; }; done
  done
  return 1
}
cmd=""; args=""
while [ $# -gt 0 ]; do
  case "$1" in
    -y|--assumeyes|-q|--quiet|--nogpgcheck|-C|--cacheonly|--refresh) ;;
    --enablerepo=*|--disablerepo=*|--setopt=*) ;;
    # end of options, as dnf's argparse reads it (dnf/cli/option_parser.py is an argparse.ArgumentParser)
    --) shift; for _arg in "$@"; do if [ -z "$cmd" ]; then cmd=$_arg; else args="$args $_arg"; fi; done; break ;;
    -*) echo "$prog (pvrun lab emulation): unsupported option $1" >&2; exit 1 ;;
    *) if [ -z "$cmd" ]; then cmd=$1; else args="$args $1"; fi ;;
  esac
  shift
done
rc=0
case "$cmd" in
  install|reinstall|upgrade|update)
    files=""
    for a in $args; do
      case "$a" in
        *.rpm|/*) files="$files $a" ;;
        *)
          if rpm -q "$a" >/dev/null 2>&1 && [ "$cmd" = install ]; then echo "Package $(rpm -q "$a") is already installed."; continue; fi
          f=$(find_pkg "$a") || { echo "Error: Unable to find a match: $a" >&2; rc=1; continue; }
          files="$files $f" ;;
      esac
    done
    [ $rc -eq 0 ] || exit $rc
    if [ -n "$files" ]; then
      # shellcheck disable=SC2086
      rpm -U $files || exit 1
      echo "Complete!"
    else
      echo "Nothing to do."; echo "Complete!"
    fi ;;
  remove|erase)
    # shellcheck disable=SC2086
    rpm -e $args || exit 1; echo "Complete!" ;;
  makecache|clean) echo "Metadata cache created." ;;
  repolist) echo "repo id"; enabled_repos ;;
  list)
    case "$args" in
      *installed*) rpm -qa --qf '%{NAME}.%{ARCH}  %{VERSION}-%{RELEASE}  @System\\n' ;;
      *) for r in $(enabled_repos); do for f in "$REPOS/$r"/*.rpm; do [ -f "$f" ] && echo "$(rpm -qp "$f") $r"; done; done ;;
    esac ;;
  *) echo "$prog (pvrun lab emulation): unsupported command '$cmd'" >&2; exit 1 ;;
esac
exit $rc
`;
}
