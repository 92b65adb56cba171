#!/usr/bin/env bash
# The README's two commands on a fresh Debian 12 root (debootstrap --variant=minbase):
# what a new user's machine has, nothing more.
#
#   tests/fresh_machine.sh [--run-only] [--sudo] [--worktree] [REPO]
#
#   --run-only  only the run command (the README's first ```sh block)
#   --sudo      run the README's commands as an unprivileged user with passwordless
#               sudo, as a person would (default: as root, as CI does)
#   --worktree  copy REPO's working tree (tracked and untracked files, not ignored
#               ones) instead of cloning its committed HEAD: to try uncommitted work
#   REPO        the project checkout (default: the one holding this script)
#
# Inside the root (chroot, private mounts, the host's network):
#   1. the run command runs in the background until `dig @127.0.0.1 -p 5353
#      web.internal.lan A` on the host gets an answer record, then it is stopped;
#   2. unless --run-only, the test command runs to its end.
# Prints the time of each phase and, last, "fresh_machine: run ok|FAILED, test
# ok|FAILED|skipped"; exits 0 only when every phase that ran was ok.
#
# Needs root (chroot, mount) and debootstrap (installed with apt-get when missing).
# The base root is made once and kept; each run works on a copy, removed at the end.
# Nothing on the host may listen on 5353 or 9053 (the example config's management
# port): the root shares the host's network, so that dig on the host can reach it.
# env: FRESH_CACHE   the cached base root (/var/tmp/nanodns-fresh-base; delete it to refresh)
#      FRESH_LOGS    where the logs go (/var/tmp/nanodns-fresh-logs)
#      FRESH_RUN_TIMEOUT   seconds until the server must answer (900)
#      FRESH_TEST_TIMEOUT  seconds for the test command (2400)
set -uo pipefail

usage() { sed -n '5,11p' "$0" | sed 's/^# \{0,1\}//'; }
run_only=0
as_user=0
worktree=0
repo_arg=$(dirname "$0")
while [ $# -gt 0 ]; do
  case $1 in
    --run-only) run_only=1 ;;
    --sudo) as_user=1 ;;
    --worktree) worktree=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; exit 2 ;;
    *) repo_arg=$1 ;;
  esac
  shift
done

say() { echo "fresh_machine: $*"; }
# A failure before the README's commands could run: the setup, not the project.
setup_failed() {
  say "$*"
  say "setup FAILED"
  exit 2
}
phase_start=$SECONDS
phase_done() {
  say "$1 ($((SECONDS - phase_start)) s)"
  phase_start=$SECONDS
}

repo=$(cd "$repo_arg" && git rev-parse --show-toplevel 2>/dev/null) ||
  setup_failed "$repo_arg is not a git checkout"
[ "$(id -u)" -eq 0 ] || setup_failed "needs root (debootstrap, chroot, mount); try sudo $0"
for tool in unshare setsid flock timeout chroot; do
  command -v "$tool" >/dev/null || setup_failed "$tool not found (util-linux, coreutils)"
done
if ! command -v debootstrap >/dev/null; then
  say "installing debootstrap"
  { apt-get install -y -qq debootstrap || { apt-get update -qq && apt-get install -y -qq debootstrap; }; } \
    >/dev/null 2>&1 || setup_failed "could not install debootstrap"
fi

base=${FRESH_CACHE:-/var/tmp/nanodns-fresh-base}
logs=${FRESH_LOGS:-/var/tmp/nanodns-fresh-logs}
run_timeout=${FRESH_RUN_TIMEOUT:-900}
test_timeout=${FRESH_TEST_TIMEOUT:-2400}
mkdir -p "$logs" "$(dirname "$base")" || setup_failed "cannot create $logs"
rm -f "$logs"/*.log

# The root shares the host's network: the run command must be the only one on
# its ports. /proc/net lists this network namespace's sockets (port in hex).
port_users() {
  local hex
  hex=$(printf ':%04X' "$1")
  awk -v p="$hex" 'FNR > 1 && substr($2, length($2) - 4) == p &&
                   (FILENAME ~ /udp/ || $4 == "0A") {print FILENAME " " $2; exit}' \
    /proc/net/udp /proc/net/udp6 /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
for port in 5353 9053; do
  busy=$(port_users "$port")
  [ -z "$busy" ] || setup_failed "something on this host already uses port $port ($busy);" \
    "the README's command must bind it: stop it first (ss -lntup 'sport = :$port')"
done

# The base root: made once (under a lock, so that two runs do not both make it).
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
exec 9>"$base.lock"
flock 9
if [ ! -x "$base/bin/bash" ]; then
  say "making the base root in $base (debootstrap --variant=minbase bookworm $mirror)"
  rm -rf --one-file-system "$base.tmp"
  debootstrap --variant=minbase bookworm "$base.tmp" "$mirror" >"$logs/debootstrap.log" 2>&1 ||
    setup_failed "debootstrap failed, see $logs/debootstrap.log"
  mv "$base.tmp" "$base"
  phase_done "base root made"
else
  phase_done "base root cached in $base"
fi
exec 9>&-

root=$(mktemp -d /var/tmp/nanodns-fresh.XXXXXX) || setup_failed "mktemp failed"
server=""

# Every process whose root is this root, by PID (found through /proc/PID/root).
root_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && echo "${p#/proc/}"
  done
}
# End them: TERM, up to 5 s to go, then KILL.
end_root_processes() {
  local pids
  pids=$(root_pids)
  [ -n "$pids" ] || return 0
  kill -TERM $pids 2>/dev/null
  for _ in $(seq 1 50); do
    [ -n "$(root_pids)" ] || return 0
    sleep 0.1
  done
  pids=$(root_pids)
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
  for _ in $(seq 1 50); do
    [ -n "$(root_pids)" ] || return 0
    sleep 0.1
  done
  say "processes still in $root: $(root_pids)"
}
cleanup() {
  [ -n "$server" ] && kill -KILL -- "-$server" 2>/dev/null
  end_root_processes
  # The mounts live in private mount namespaces, gone with their processes; never
  # delete through one that is still there.
  if awk -v r="$root/" 'index($2, r) == 1 {found = 1} END {exit !found}' /proc/mounts; then
    say "$root still has mounts; left in place"
  else
    rm -rf --one-file-system "$root"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp -a "$base/." "$root/" || setup_failed "cannot copy $base"
# What the machine has besides its packages: the host's apt sources and
# resolver, and an /etc/hosts as the installer writes it.
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/" && rm -f "$root/etc/apt/sources.list"
fi
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null
[ -f "$root/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
  "$(cat "$root/etc/hostname" 2>/dev/null || echo debian)" >"$root/etc/hosts"

# Runs a command in the root, in a private mount namespace (its /proc, /sys,
# /dev/pts and /dev/shm vanish with it; the root's /dev holds debootstrap's
# device nodes, not a bind of the host's /dev), with a clean environment.
enter_root() {
  unshare --mount --propagation private -- /bin/sh -c '
    r=$1; shift
    mount -t proc proc "$r/proc" && mount -t sysfs -o ro sysfs "$r/sys" &&
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$r/dev/pts" &&
    mount -t tmpfs -o mode=1777,nosuid,nodev shm "$r/dev/shm" && exec chroot "$r" "$@"' \
    sh "$root" "$@"
}
root_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
user=dev
if [ $as_user = 1 ]; then
  say "making user $user with passwordless sudo"
  enter_root /usr/bin/env -i "PATH=$root_path" DEBIAN_FRONTEND=noninteractive /bin/bash -c "
    apt-get update -qq && apt-get install -y -qq --no-install-recommends sudo >/dev/null &&
    useradd --create-home --shell /bin/bash $user &&
    echo '$user ALL=(ALL:ALL) NOPASSWD: ALL' >/etc/sudoers.d/$user && chmod 0440 /etc/sudoers.d/$user" \
    >"$logs/setup.log" 2>&1 || setup_failed "could not set up sudo and $user, see $logs/setup.log"
  home=/home/$user
  # setpriv (util-linux, in every root): no PAM, no new session; the user's groups.
  as_them=(/usr/bin/setpriv --reuid="$user" --regid="$user" --init-groups
           /usr/bin/env -i HOME="$home" USER="$user" LOGNAME="$user" SHELL=/bin/bash
           PATH=/usr/local/bin:/usr/bin:/bin)
else
  home=/root
  as_them=(/usr/bin/env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/bash "PATH=$root_path")
fi

project=$home/project
if [ $worktree = 1 ]; then
  mkdir -p "$root$project" &&
    git -C "$repo" ls-files -z -co --exclude-standard |
    (cd "$repo" && tar --null --no-recursion --ignore-failed-read -T - -cf - 2>/dev/null) |
    tar -C "$root$project" -xf - || setup_failed "cannot copy the working tree of $repo"
  say "copied the working tree of $repo"
else
  git clone -q --no-hardlinks "$repo" "$root$project" || setup_failed "cannot clone $repo"
  say "cloned $(git -C "$root$project" log -1 --format='%h %s')"
fi
[ $as_user = 0 ] || enter_root /bin/chown -R "$user:$user" "$project" || setup_failed "chown failed"
phase_done "root ready in $root (as $([ $as_user = 1 ] && echo "$user, through sudo" || echo root))"

block() { awk -v want="$1" '/^```sh/ {n++; if (n == want) {f = 1; next}} /^```/ {if (f) exit} f' "$root$project/README.md"; }
run_cmd=$(block 1)
test_cmd=$(block 2)
[ -n "$run_cmd" ] || setup_failed "no first \`\`\`sh block in README.md"

# -- 1. the run command, until the host gets an answer ------------------------
answer=""
query() {
  if command -v dig >/dev/null; then
    local out
    out=$(dig +time=1 +tries=1 @127.0.0.1 -p 5353 web.internal.lan A 2>/dev/null) || return 1
    grep -q 'status: NOERROR' <<<"$out" && grep -Eq 'ANSWER: [1-9]' <<<"$out" || return 1
    answer=$(awk '/^;; ANSWER SECTION/ {f = 1; next} f && NF == 0 {exit} f' <<<"$out")
  else
    answer=$(python3 - 2>/dev/null <<'PY'
import socket, struct, sys
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x03web\x08internal\x03lan\x00" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
s.sendto(q, ("127.0.0.1", 5353))
r = s.recv(4096)
ok = r[:2] == q[:2] and (r[3] & 15) == 0 and struct.unpack(">H", r[6:8])[0] > 0
print("%d answer record(s)" % struct.unpack(">H", r[6:8])[0] if ok else "")
sys.exit(0 if ok else 1)
PY
    )
  fi
}
say "run command: $run_cmd"
setsid bash -c "$(declare -f enter_root); root='$root'; enter_root \"\$@\"" run \
  "${as_them[@]}" /bin/bash -c "cd ~/project && $run_cmd" >"$logs/run.log" 2>&1 </dev/null &
server=$!
run=FAILED
deadline=$((SECONDS + run_timeout))
while [ $SECONDS -lt $deadline ]; do
  if query; then
    run=ok
    break
  fi
  kill -0 "$server" 2>/dev/null || break
  sleep 1
done
if [ $run = ok ]; then
  phase_done "run command answered"
  echo "$answer" | sed 's/^/  /'
elif kill -0 "$server" 2>/dev/null; then
  phase_done "run command: no answer within ${run_timeout} s"
else
  phase_done "run command ended without answering"
fi
say "run log ($logs/run.log), last lines:"
tail -n 8 "$logs/run.log" | sed 's/^/  /'

# Stop it as a person would (Ctrl-C reaches the whole foreground group), and
# give it 10 s to stop before it is killed.
kill -INT -- "-$server" 2>/dev/null
for _ in $(seq 1 100); do
  kill -0 -- "-$server" 2>/dev/null || break
  sleep 0.1
done
if kill -0 -- "-$server" 2>/dev/null; then
  say "run command still running 10 s after SIGINT: killed"
  kill -KILL -- "-$server" 2>/dev/null
fi
wait "$server" 2>/dev/null
status=$?
server=""
end_root_processes
phase_done "run command stopped (exit status $status)"

# -- 2. the test command ------------------------------------------------------
test=skipped
if [ $run_only = 0 ]; then
  if [ -z "$test_cmd" ]; then
    test=FAILED
    say "no second \`\`\`sh block in README.md"
  else
    say "test command: $test_cmd"
    if timeout -k 10 "$test_timeout" bash -c "$(declare -f enter_root); root='$root'; enter_root \"\$@\"" \
         test "${as_them[@]}" /bin/bash -c "cd ~/project && $test_cmd" >"$logs/test.log" 2>&1 </dev/null; then
      test=ok
    else
      test=FAILED
    fi
    end_root_processes
    phase_done "test command $test"
    say "test log ($logs/test.log), last lines:"
    tail -n 15 "$logs/test.log" | sed 's/^/  /'
  fi
fi

say "run $run, test $test"
[ $run = ok ] && [ $test != FAILED ]
