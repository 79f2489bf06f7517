# Shell functions shared by the lonc and ipsynd init scripts and loncsyn-watchdog(8);
# installed as @LIBDIR@/init-functions and sourced (POSIX sh). One place for the question
# "does this pid file name our running daemon?", so the scripts and the watchdog agree.

# loncsyn_gone PID: true when PID has exited (no such process, or a zombie nobody reaped).
loncsyn_gone() {
  [ -r "/proc/$1/stat" ] || return 0
  case $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) in
    Z | X | x | '') return 0 ;;
  esac
  return 1
}

# loncsyn_is PID BINARY: true when PID is a live process running BINARY. Judged by the name
# of its executable, so a daemon whose binary was upgraded under it (/proc/PID/exe then ends
# in " (deleted)") still counts and a reused pid (another program) does not; the command
# name is the fallback where /proc/PID/exe cannot be read (another user's process).
loncsyn_is() {
  loncsyn_gone "$1" && return 1
  if _exe=$(readlink "/proc/$1/exe" 2>/dev/null); then
    _exe=${_exe% (deleted)}
    [ "${_exe##*/}" = "${2##*/}" ]
  else
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$(printf '%.15s' "${2##*/}")" ]
  fi
}

# loncsyn_live_pid PIDFILE BINARY: prints the pid when PIDFILE names a live BINARY and
# returns 0; returns 1 when PIDFILE exists but names none (dead, zombie, reused, garbage),
# 3 when there is no PIDFILE (the LSB status codes).
loncsyn_live_pid() {
  [ -e "$1" ] || return 3
  _pid=$(head -n 1 "$1" 2>/dev/null | tr -d ' \t\r')
  case $_pid in '' | *[!0-9]*) return 1 ;; esac
  loncsyn_is "$_pid" "$2" || return 1
  echo "$_pid"
}

# loncsyn_as USER COMMAND...: exec COMMAND as USER (with USER's groups and a clean
# environment), or as it is when USER is empty or already us.
loncsyn_as() {
  _u=$1
  shift
  if [ -z "$_u" ] || [ "$_u" = "$(id -un)" ]; then
    exec "$@"
  fi
  _g=$(id -g "$_u") || exit 1
  exec setpriv --reuid="$_u" --regid="$_g" --init-groups --reset-env "$@"
}

# loncsyn_status NAME PIDFILE BINARY: the LSB status action (0 running, 1 dead with a pid
# file, 3 not running), with one line saying which.
loncsyn_status() {
  _pid=$(loncsyn_live_pid "$2" "$3")
  _rc=$?
  if [ $_rc = 0 ]; then
    echo "$1 is running (pid $_pid)"
  elif [ $_rc = 1 ]; then
    echo "$1 is not running (pid file $2 names no live $1)"
  else
    echo "$1 is not running"
  fi
  return $_rc
}

# loncsyn_stop NAME PIDFILE BINARY TIMEOUT: TERM, wait up to TIMEOUT seconds for the process
# to be gone, then KILL (and remove the pid file it could not). Stopping a stopped daemon
# succeeds (LSB).
loncsyn_stop() {
  if ! _pid=$(loncsyn_live_pid "$2" "$3"); then
    echo "$1 is not running"
    return 0
  fi
  kill -TERM "$_pid" 2>/dev/null
  _n=0
  while ! loncsyn_gone "$_pid"; do
    if [ $_n -ge $(($4 * 10)) ]; then
      kill -KILL "$_pid" 2>/dev/null
      echo "$1 (pid $_pid) did not stop within $4 s; killed"
      _n=0
      while ! loncsyn_gone "$_pid" && [ $_n -lt 50 ]; do sleep 0.1; _n=$((_n + 1)); done
      rm -f "$2"
      loncsyn_gone "$_pid"
      return $?
    fi
    sleep 0.1
    _n=$((_n + 1))
  done
  echo "$1 (pid $_pid) stopped"
}

# loncsyn_signal NAME PIDFILE BINARY SIGNAL: send SIGNAL to the running daemon; 7 (LSB: not
# running) when it is not.
loncsyn_signal() {
  if ! _pid=$(loncsyn_live_pid "$2" "$3"); then
    echo "$1 is not running"
    return 7
  fi
  kill -"$4" "$_pid" && echo "$1 (pid $_pid): sent $4"
}
