#!/usr/bin/env bash
# A standalone Flink 1.19 cluster on this machine, bound to 127.0.0.1, with the Beam worker pool that runs
# our Python code. See docs/flink.md.
#
#   deploy/flink/cluster.sh start [--with-job-server]   # JobManager, TaskManager, worker pool (+ job server:
#                                                       # Beam binds it on all interfaces, see docs/flink.md)
#   deploy/flink/cluster.sh status                      # what runs, where the logs are, pipeline options
#   deploy/flink/cluster.sh options                     # the pipeline options, one per line
#   deploy/flink/cluster.sh logs [NAME] [-f]            # NAME: jobmanager|taskmanager|worker-pool|job-server
#   deploy/flink/cluster.sh stop                        # stops all of it; safe to call twice
#
# Flink itself comes from PyPI: apache-flink and apache-flink-libraries $FLINK_VERSION installed with
# --no-deps into a virtualenv of their own ($FLINK_VENV); they pin an old Beam, so never into the project's.
# The worker pool runs `python -m hashwatch.flink_worker_pool` from the project's virtualenv (make venv).
#
# Environment (defaults in brackets):
#   FLINK_CLUSTER_DIR   state: conf/, log/, pid/, tmp/        [<repo>/.cache/flink-cluster]
#   FLINK_VENV          Flink's own virtualenv                [<repo>/.cache/flink-$FLINK_VERSION-venv]
#   FLINK_BIND_HOST     the one address everything binds      [127.0.0.1]
#   FLINK_REST_PORT     REST API and web UI (--flink_master)  [8081]
#   FLINK_RPC_PORT      JobManager RPC                        [6123]
#   WORKER_POOL_PORT    Beam worker pool (--environment_config) [50000]
#   JOB_SERVER_PORT     job server (--job_endpoint), with --with-job-server [8099]
#   JOB_SERVER_ARTIFACT_PORT its artifact staging service    [JOB_SERVER_PORT - 1]
#   FLINK_TASK_SLOTS    task slots of the one TaskManager     [2]
#   FLINK_JM_MEMORY     JobManager process size               [1600m]
#   FLINK_TM_MEMORY     TaskManager process size              [4096m]
#   FLINK_SORT_SHUFFLE_BUFFERS network buffers per blocking result partition [64]
#   WORKER_POOL_PYTHON  a Python with hashwatch installed     [<repo>/.venv/bin/python]
#   PYTHON              creates Flink's virtualenv            [python3]
#   FLINK_START_TIMEOUT seconds to wait for readiness         [120]
# Other ports (blob server, TaskManager RPC and data, metrics) are picked free by Flink, on FLINK_BIND_HOST.
set -euo pipefail

FLINK_VERSION=1.19.3 # must match the Flink minor of deploy/flink/jobserver/pom.xml

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cluster_dir="${FLINK_CLUSTER_DIR:-$repo/.cache/flink-cluster}"
flink_venv="${FLINK_VENV:-$repo/.cache/flink-$FLINK_VERSION-venv}"
bind_host="${FLINK_BIND_HOST:-127.0.0.1}"
rest_port="${FLINK_REST_PORT:-8081}"
rpc_port="${FLINK_RPC_PORT:-6123}"
pool_port="${WORKER_POOL_PORT:-50000}"
job_port="${JOB_SERVER_PORT:-8099}"
artifact_port="${JOB_SERVER_ARTIFACT_PORT:-$((job_port - 1))}"
task_slots="${FLINK_TASK_SLOTS:-2}"
jm_memory="${FLINK_JM_MEMORY:-1600m}"
tm_memory="${FLINK_TM_MEMORY:-4096m}"
sort_shuffle_buffers="${FLINK_SORT_SHUFFLE_BUFFERS:-64}"
pool_python="${WORKER_POOL_PYTHON:-$repo/.venv/bin/python}"
start_timeout="${FLINK_START_TIMEOUT:-120}"

conf_dir="$cluster_dir/conf"
log_dir="$cluster_dir/log"
pid_dir="$cluster_dir/pid"
tmp_dir="$cluster_dir/tmp"

# Flink's daemon scripts read these; FLINK_IDENT_STRING names the pid and log files.
export FLINK_CONF_DIR="$conf_dir" FLINK_LOG_DIR="$log_dir" FLINK_PID_DIR="$pid_dir" FLINK_IDENT_STRING=hashwatch

jm_pid_file="$pid_dir/flink-hashwatch-standalonesession.pid"
tm_pid_file="$pid_dir/flink-hashwatch-taskexecutor.pid"
pool_pid_file="$pid_dir/worker-pool.pid"
job_server_pid_file="$pid_dir/job-server.pid"
pool_log="$log_dir/worker-pool.log"
job_server_log="$log_dir/job-server.log"

log() { printf 'flink-cluster: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# --- processes -------------------------------------------------------------------------------------------

# The pids in a pid file that still run a command line containing PATTERN (guards against pid reuse).
live_pids() {
    local file="$1" pattern="$2" pid
    [[ -f "$file" ]] || return 0
    while read -r pid; do
        [[ "$pid" =~ ^[0-9]+$ ]] || continue
        if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern"; then
            echo "$pid"
        fi
    done <"$file"
}

jm_pids() { live_pids "$jm_pid_file" StandaloneSessionClusterEntrypoint; }
tm_pids() { live_pids "$tm_pid_file" TaskManagerRunner; }
pool_pids() { live_pids "$pool_pid_file" hashwatch.flink_worker_pool; }
job_server_pids() { live_pids "$job_server_pid_file" "launcher.jar --flink-master"; }

# The process group of a pid (field 5 of /proc/PID/stat, after the parenthesised command name).
pgid_of() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    # shellcheck disable=SC2086  # split the fields on purpose
    set -- $stat
    echo "$3"
}

# Send a signal to a pid and, when it leads its own process group (started with setsid), to the group.
signal_pid() {
    local sig="$1" pid="$2"
    if [[ "$(pgid_of "$pid")" == "$pid" ]]; then
        kill "-$sig" -- "-$pid" 2>/dev/null || true
    else
        kill "-$sig" "$pid" 2>/dev/null || true
    fi
}

# TERM all the given pids at once, wait up to 15 s for them, then KILL what is left.
stop_pids() {
    local pid waited=0 alive
    for pid in "$@"; do signal_pid TERM "$pid"; done
    while ((waited < 150)); do
        alive=""
        for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
        [[ -z "$alive" ]] && return 0
        sleep 0.1
        waited=$((waited + 1))
    done
    log "still running after 15 s, killing:$alive"
    for pid in $alive; do signal_pid KILL "$pid"; done
}

port_is_free() {
    python3 - "$bind_host" "$1" <<'PY'
import socket, sys
with socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET) as s:
    # As the servers do: a port with only TIME_WAIT connections left is free.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((sys.argv[1], int(sys.argv[2])))
    except OSError:
        sys.exit(1)
PY
}

# --- Flink installation and configuration ----------------------------------------------------------------

flink_home() { find "$flink_venv" -path '*/site-packages/pyflink' -type d -print -quit 2>/dev/null; }

ensure_flink() {
    local stamp="$flink_venv/.installed-$FLINK_VERSION"
    if [[ -f "$stamp" && -n "$(flink_home)" ]]; then return 0; fi
    mkdir -p "$(dirname "$flink_venv")"
    # One installation at a time (two test sessions may start together). The subshell holds the lock, so
    # the daemons started later do not inherit it. flock is in util-linux.
    (
        if command -v flock >/dev/null 2>&1; then
            flock 8
            if [[ -f "$stamp" && -n "$(flink_home)" ]]; then exit 0; fi
        fi
        install_flink
        touch "$stamp"
    ) 8>"$flink_venv.lock"
}

install_flink() {
    local python="${PYTHON:-python3}"
    command -v "$python" >/dev/null 2>&1 || die "$python not found"
    log "installing apache-flink==$FLINK_VERSION and apache-flink-libraries==$FLINK_VERSION (--no-deps) into $flink_venv"
    rm -rf "$flink_venv"
    "$python" -m venv "$flink_venv"
    local site
    site="$("$flink_venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    local pip=("$flink_venv/bin/python" -m pip install -q --no-deps --disable-pip-version-check)
    # Only Flink's jars and shell scripts are used, never its Python code, so any CPython can host them;
    # apache-flink 1.19 has binary wheels for CPython 3.8 to 3.11 only, hence the fixed tags elsewhere.
    if "$flink_venv/bin/python" -c 'import sys; sys.exit(not (3, 8) <= sys.version_info[:2] <= (3, 11))'; then
        "${pip[@]}" "apache-flink==$FLINK_VERSION" "apache-flink-libraries==$FLINK_VERSION"
    else
        "${pip[@]}" --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
            --platform manylinux2014_x86_64 --target "$site" \
            "apache-flink==$FLINK_VERSION" "apache-flink-libraries==$FLINK_VERSION"
    fi
    [[ -n "$(flink_home)" ]] || die "pyflink not found in $flink_venv after pip install"
}

write_conf() {
    local home="$1"
    mkdir -p "$conf_dir" "$log_dir" "$pid_dir" "$tmp_dir"
    cp "$home"/conf/log4j*.properties "$home"/conf/logback*.xml "$conf_dir"/
    # Keep the JVM options Flink ships for Java 17 (module opens); everything else is ours.
    local java_opts
    java_opts="$(sed -n 's/^ *all: *//p' "$home/conf/config.yaml" | head -n 1)"
    # Flink 1.19 reads the legacy flat conf/flink-conf.yaml when one exists, otherwise conf/config.yaml
    # (standard YAML, the new default; pyflink ships one). So: only config.yaml in this folder.
    rm -f "$conf_dir/flink-conf.yaml"
    cat >"$conf_dir/config.yaml" <<EOF
# Written by deploy/flink/cluster.sh on each start; edit the script or its environment, not this file.
env:
  java:
    opts:
      all: $java_opts
jobmanager:
  bind-host: $bind_host
  rpc:
    address: $bind_host
    port: $rpc_port
  memory:
    process:
      size: $jm_memory
  execution:
    failover-strategy: region
taskmanager:
  bind-host: $bind_host
  host: $bind_host
  numberOfTaskSlots: $task_slots
  memory:
    process:
      size: $tm_memory
  network:
    sort-shuffle:
      # Beam's batch translation deploys many blocking result partitions at once (the crawl pipeline: one
      # per stage output and side input), and each sort-merge partition takes this many 32 KiB buffers
      # from the TaskManager's network memory. Flink's default, 512 (16 MiB each), exhausts a 4 GiB
      # TaskManager's ~340 MiB of network memory ("Insufficient number of network buffers"); the data of
      # one job here is small. Raise it (and taskmanager.memory.network.*) for large shuffles.
      min-buffers: $sort_shuffle_buffers
parallelism:
  default: 1
rest:
  address: $bind_host
  bind-address: $bind_host
  port: $rest_port
web:
  submit:
    enable: false
blob:
  server:
    port: "0"
  storage:
    directory: $tmp_dir/blob
io:
  tmp:
    dirs: $tmp_dir
EOF
}

# --- readiness --------------------------------------------------------------------------------------------

wait_until_ready() {
    local want_job_server="$1"
    shift
    python3 - "$bind_host" "$rest_port" "$task_slots" "$pool_port" "$start_timeout" "$want_job_server" "$job_port" \
        "$@" <<'PY'
import json, os, socket, sys, time, urllib.request

host, rest_port, slots, pool_port, timeout, want_js, job_port, *pids = sys.argv[1:]
url_host = f"[{host}]" if ":" in host else host
deadline = time.monotonic() + float(timeout)

def port_open(port):
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False

def cluster_ready():
    try:
        with urllib.request.urlopen(f"http://{url_host}:{rest_port}/overview", timeout=2) as r:
            overview = json.load(r)
    except (OSError, ValueError):
        return False
    return overview.get("slots-total", 0) >= int(slots)

def all_alive():
    for pid in pids:
        try:
            os.kill(int(pid), 0)
        except (OSError, ValueError):
            print(f"process {pid} exited during start-up", file=sys.stderr)
            return False
    return True

while time.monotonic() < deadline and all_alive():
    if cluster_ready() and port_open(pool_port) and (want_js != "1" or port_open(job_port)):
        sys.exit(0)
    time.sleep(0.5)
sys.exit(1)
PY
}

# --- commands ---------------------------------------------------------------------------------------------

print_options() {
    local url_host="$bind_host"
    [[ "$bind_host" == *:* ]] && url_host="[$bind_host]"
    local jar
    jar="$("$here/fetch-job-server.sh" --print-path)" || jar="$jar (not fetched yet: make flink-job-server)"
    echo "--runner=FlinkRunner"
    echo "--flink_master=$url_host:$rest_port"
    if [[ -n "$(job_server_pids)" ]]; then
        echo "--job_endpoint=$url_host:$job_port"
    else
        echo "--flink_job_server_jar=$jar"
    fi
    echo "--environment_type=EXTERNAL"
    echo "--environment_config=$url_host:$pool_port"
    echo "--parallelism=$task_slots"
    # One SDK worker process per slot: with the default of 1, all slots share one Python process (one GIL).
    echo "--sdk_worker_parallelism=$task_slots"
}

cmd_start() {
    local with_job_server=0
    for arg in "$@"; do
        case "$arg" in
        --with-job-server) with_job_server=1 ;;
        *) die "unknown option for start: $arg" ;;
        esac
    done
    if [[ -n "$(jm_pids)$(tm_pids)$(pool_pids)$(job_server_pids)" ]]; then
        log "already running (stop it first to change its settings)"
        cmd_status
        return 0
    fi
    command -v java >/dev/null 2>&1 || die "java not found: Flink 1.19 needs Java 11 or 17"
    "$pool_python" -c 'import apache_beam, hashwatch.flink_worker_pool' 2>/dev/null ||
        die "$pool_python cannot import apache_beam and hashwatch: run 'make venv' or set WORKER_POOL_PYTHON"
    local port
    for port in "$rest_port" "$rpc_port" "$pool_port"; do
        port_is_free "$port" || die "port $bind_host:$port is in use (see FLINK_REST_PORT, FLINK_RPC_PORT, WORKER_POOL_PORT)"
    done
    local jar=""
    if ((with_job_server)); then
        for port in "$job_port" "$artifact_port"; do
            port_is_free "$port" || die "port $port is in use (set JOB_SERVER_PORT, JOB_SERVER_ARTIFACT_PORT)"
        done
        jar="$("$here/fetch-job-server.sh")"
    fi

    ensure_flink
    local home
    home="$(flink_home)"
    write_conf "$home"
    rm -f "$jm_pid_file" "$tm_pid_file" "$pool_pid_file" "$job_server_pid_file"
    local started=$SECONDS
    # If anything below fails, stop what was started.
    trap 'log "start failed; logs in $log_dir"; cmd_stop >/dev/null 2>&1 || true' ERR

    bash "$home/bin/jobmanager.sh" start >&2
    bash "$home/bin/taskmanager.sh" start >&2

    local launcher=()
    command -v setsid >/dev/null 2>&1 && launcher=(setsid)
    # The pool leads its own process group, so stop also ends the SDK workers it started.
    "${launcher[@]}" "$pool_python" -m hashwatch.flink_worker_pool --host "$bind_host" --port "$pool_port" \
        </dev/null >>"$pool_log" 2>&1 &
    echo $! >"$pool_pid_file"

    if ((with_job_server)); then
        # Beam 2.62 binds the job server's gRPC ports on every interface whatever --job-host says, and they
        # have no authentication (docs/flink.md, "What listens where").
        log "note: Beam's job server listens on all interfaces (ports $job_port, $artifact_port), not only" \
            "$bind_host: run --with-job-server only where no one else can reach this machine"
        local url_host="$bind_host"
        [[ "$bind_host" == *:* ]] && url_host="[$bind_host]"
        "${launcher[@]}" java -jar "$jar" --flink-master="$url_host:$rest_port" --job-host="$bind_host" \
            --job-port="$job_port" --artifact-port="$artifact_port" --expansion-port=0 \
            --artifacts-dir="$tmp_dir/artifacts" </dev/null >>"$job_server_log" 2>&1 &
        echo $! >"$job_server_pid_file"
    fi

    # shellcheck disable=SC2046  # one pid per word
    if ! wait_until_ready "$with_job_server" $(jm_pids) $(tm_pids) $(pool_pids) $(job_server_pids); then
        log "not ready after $start_timeout s; last log lines:"
        tail -n 20 "$log_dir"/*.log >&2 || true
        false
    fi
    trap - ERR
    log "ready in $((SECONDS - started)) s"
    cmd_status
}

cmd_stop() {
    local js pool tm jm
    js="$(job_server_pids)"
    pool="$(pool_pids)"
    tm="$(tm_pids)"
    jm="$(jm_pids)"
    if [[ -n "$js$pool$tm$jm" ]]; then
        log "stopping job server [${js//$'\n'/ }] worker pool [${pool//$'\n'/ }] taskmanager [${tm//$'\n'/ }] jobmanager [${jm//$'\n'/ }]"
        # shellcheck disable=SC2086  # one pid per word
        stop_pids $js $pool $tm $jm
        log "stopped"
    else
        log "nothing was running"
    fi
    rm -f "$jm_pid_file" "$tm_pid_file" "$pool_pid_file" "$job_server_pid_file"
    rm -rf "$tmp_dir"
}

component_status() {
    local name="$1" pids="$2" where="$3"
    if [[ -n "$pids" ]]; then
        printf '  %-12s running (pid %s) %s\n' "$name" "$(echo "$pids" | tr '\n' ' ' | sed 's/ $//')" "$where"
    else
        printf '  %-12s stopped\n' "$name"
    fi
}

cmd_status() {
    local url_host="$bind_host"
    [[ "$bind_host" == *:* ]] && url_host="[$bind_host]"
    local jm tm pool js
    jm="$(jm_pids)"
    tm="$(tm_pids)"
    pool="$(pool_pids)"
    js="$(job_server_pids)"
    echo "Flink $FLINK_VERSION standalone cluster ($cluster_dir)"
    component_status jobmanager "$jm" "http://$url_host:$rest_port (web UI and REST), rpc $url_host:$rpc_port"
    component_status taskmanager "$tm" "$task_slots slots"
    component_status worker-pool "$pool" "$url_host:$pool_port ($pool_python)"
    if [[ -n "$js" || -f "$job_server_log" ]]; then
        component_status job-server "$js" "$url_host:$job_port"
    fi
    if [[ -n "$jm" ]]; then
        python3 - "$url_host" "$rest_port" <<'PY' || true
import json, sys, urllib.request
try:
    with urllib.request.urlopen(f"http://{sys.argv[1]}:{sys.argv[2]}/overview", timeout=3) as r:
        o = json.load(r)
    print(f"  overview     {o['taskmanagers']} taskmanager(s), {o['slots-available']}/{o['slots-total']} slots free,"
          f" jobs: {o['jobs-running']} running, {o['jobs-finished']} finished, {o['jobs-failed']} failed")
except (OSError, ValueError, KeyError) as exc:
    print(f"  overview     REST API not answering: {exc}")
PY
    fi
    echo "Logs: $log_dir"
    if [[ -d "$log_dir" ]]; then
        find "$log_dir" -maxdepth 1 -type f \( -name '*.log' -o -name '*.out' \) -printf '  %f\n' | sort
    fi
    if [[ -n "$jm$tm$pool" ]]; then
        echo "Pipeline options:"
        print_options | sed 's/^/  /'
    fi
    [[ -n "$jm" && -n "$tm" && -n "$pool" ]] && return 0
    [[ -z "$jm$tm$pool$js" ]] && return 3
    return 1
}

cmd_logs() {
    local follow=0 name="" files=()
    for arg in "$@"; do
        case "$arg" in
        -f | --follow) follow=1 ;;
        *) name="$arg" ;;
        esac
    done
    case "$name" in
    "") mapfile -t files < <(find "$log_dir" -maxdepth 1 -type f -name '*.log' 2>/dev/null | sort) ;;
    jobmanager) mapfile -t files < <(find "$log_dir" -maxdepth 1 -name 'flink-*-standalonesession-*.log') ;;
    taskmanager) mapfile -t files < <(find "$log_dir" -maxdepth 1 -name 'flink-*-taskexecutor-*.log') ;;
    worker-pool) files=("$pool_log") ;;
    job-server) files=("$job_server_log") ;;
    *) die "unknown log '$name': jobmanager, taskmanager, worker-pool or job-server" ;;
    esac
    ((${#files[@]})) && [[ -f "${files[0]}" ]] || die "no logs in $log_dir yet"
    if ((follow)); then
        tail -n 50 -F "${files[@]}"
    else
        tail -n 50 "${files[@]}"
    fi
}

case "${1:-}" in
start)
    shift
    cmd_start "$@"
    ;;
stop) cmd_stop ;;
status) cmd_status ;;
options) print_options ;;
logs)
    shift
    cmd_logs "$@"
    ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
