#!/usr/bin/env bash
# A standalone Flink 1.19 cluster on this machine, bound to 127.0.0.1, with the Beam worker pool that runs
# our Python code, a ZooKeeper for JobManager high availability, and a supervisor that restarts whatever
# dies. See docs/flink.md ("The bundled standalone cluster", "Faults").
#
#   deploy/flink/cluster.sh start [--with-job-server] [--taskmanagers N]
#                                                       # start what is not running (all of it the first time)
#   deploy/flink/cluster.sh status                      # what runs, restarts, logs, pipeline options
#   deploy/flink/cluster.sh options                     # the pipeline options, one per line
#   deploy/flink/cluster.sh logs [NAME] [-f]            # NAME: jobmanager|taskmanager|worker-pool|job-server|
#                                                       #       zookeeper|supervisor
#   deploy/flink/cluster.sh restart PART                # PART: jobmanager|taskmanager|worker-pool|job-server|
#                                                       #       zookeeper|supervisor
#   deploy/flink/cluster.sh stop [--no-savepoint]       # savepoint and stop every job, then stop all of it
#
# Flink itself comes from PyPI: apache-flink and apache-flink-libraries $FLINK_VERSION installed with
# --no-deps into a virtualenv of their own ($FLINK_VENV); they pin an old Beam, so never into the project's.
# The worker pool runs `python -m hashwatch.flink.worker_pool` from the project's virtualenv (make venv).
# ZooKeeper is the one inside Flink's own jar (flink-dist), so nothing else is downloaded.
#
# Environment (defaults in brackets); a running cluster keeps the values it was started with:
#   FLINK_CLUSTER_DIR   state: conf/ log/ pid/ tmp/ checkpoints/ savepoints/ ha/ zookeeper/ [<repo>/.cache/flink-cluster]
#   FLINK_VENV          Flink's own virtualenv                [<repo>/.cache/flink-$FLINK_VERSION-venv]
#   FLINK_BIND_HOST     the one address everything binds      [127.0.0.1]
#   FLINK_REST_PORT     REST API and web UI (--flink_master)  [8081]
#   FLINK_RPC_PORT      JobManager RPC                        [6123]
#   ZOOKEEPER_PORT      ZooKeeper client port (FLINK_HA=zookeeper) [2181]
#   WORKER_POOL_PORT    Beam worker pool (--environment_config) [50000]
#   JOB_SERVER_PORT     job server (--job_endpoint), with --with-job-server [8099]
#   JOB_SERVER_ARTIFACT_PORT its artifact staging service    [JOB_SERVER_PORT - 1]
#   FLINK_TASKMANAGERS  how many TaskManagers                 [1]
#   FLINK_TASK_SLOTS    task slots of each TaskManager        [2]
#   FLINK_JM_MEMORY     JobManager process size               [1600m]
#   FLINK_TM_MEMORY     TaskManager process size              [4096m]
#   FLINK_SORT_SHUFFLE_BUFFERS network buffers per blocking result partition [64]
#   FLINK_HA            zookeeper (a lost JobManager's jobs resume) or none [zookeeper]
#   FLINK_CHECKPOINT_DIR where jobs' checkpoints are kept     [$FLINK_CLUSTER_DIR/checkpoints]
#   FLINK_SAVEPOINT_DIR where savepoints go                   [$FLINK_CLUSTER_DIR/savepoints]
#   FLINK_RESTART_ATTEMPTS restarts of a job before it fails (backoff 1 s doubling to 30 s; the count
#                       starts again after 10 min without a failure) [10]
#   FLINK_SUPERVISE     1: a supervisor restarts dead parts; 0: nothing does [1]
#   SUPERVISOR_INTERVAL seconds between two checks            [2]
#   WORKER_POOL_PYTHON  a Python with hashwatch installed     [<repo>/.venv/bin/python]
#   PYTHON              creates Flink's virtualenv            [python3]
#   FLINK_START_TIMEOUT seconds to wait for readiness         [120]
#   FLINK_BEAM_ON_CLASSPATH 1: Beam's runner jars on the cluster's class path and the job server stages
#                       none per job (docs/flink.md, "Where a job's time goes"); 0: every job
#                       uploads them (152 MB) [1 when the job server is fetched]
# Other ports (blob server, TaskManager RPC and data, metrics) are picked free by Flink, on FLINK_BIND_HOST.
set -euo pipefail

FLINK_VERSION=1.19.3 # must match the Flink minor of deploy/flink/jobserver/pom.xml

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
script="$here/cluster.sh"
# The supervisor is started as `cluster.sh supervise DIR`: DIR is its cluster whatever the environment says.
[[ "${1:-}" == supervise && -n "${2:-}" ]] && FLINK_CLUSTER_DIR="$2"
cluster_dir="${FLINK_CLUSTER_DIR:-$repo/.cache/flink-cluster}"
cluster_dir="$(mkdir -p "$cluster_dir" && cd "$cluster_dir" && pwd)"

settings_from_env() {
    flink_venv="${FLINK_VENV:-$repo/.cache/flink-$FLINK_VERSION-venv}"
    bind_host="${FLINK_BIND_HOST:-127.0.0.1}"
    rest_port="${FLINK_REST_PORT:-8081}"
    rpc_port="${FLINK_RPC_PORT:-6123}"
    zk_port="${ZOOKEEPER_PORT:-2181}"
    pool_port="${WORKER_POOL_PORT:-50000}"
    job_port="${JOB_SERVER_PORT:-8099}"
    artifact_port="${JOB_SERVER_ARTIFACT_PORT:-$((job_port - 1))}"
    taskmanagers="${FLINK_TASKMANAGERS:-1}"
    task_slots="${FLINK_TASK_SLOTS:-2}"
    jm_memory="${FLINK_JM_MEMORY:-1600m}"
    tm_memory="${FLINK_TM_MEMORY:-4096m}"
    sort_shuffle_buffers="${FLINK_SORT_SHUFFLE_BUFFERS:-64}"
    ha="${FLINK_HA:-zookeeper}"
    checkpoint_dir="${FLINK_CHECKPOINT_DIR:-$cluster_dir/checkpoints}"
    savepoint_dir="${FLINK_SAVEPOINT_DIR:-$cluster_dir/savepoints}"
    restart_attempts="${FLINK_RESTART_ATTEMPTS:-10}"
    supervise="${FLINK_SUPERVISE:-1}"
    supervisor_interval="${SUPERVISOR_INTERVAL:-2}"
    pool_python="${WORKER_POOL_PYTHON:-$repo/.venv/bin/python}"
    beam_on_classpath="${FLINK_BEAM_ON_CLASSPATH:-1}"
    with_job_server=0
}
settings_from_env
start_timeout="${FLINK_START_TIMEOUT:-120}"

conf_dir="$cluster_dir/conf"
log_dir="$cluster_dir/log"
pid_dir="$cluster_dir/pid"
tmp_dir="$cluster_dir/tmp"
# The settings a cluster was started with; later commands (start of a missing part, restart, status, the
# supervisor) read them back, so a part started later gets the same ports and folders.
settings_file="$cluster_dir/cluster.env"
# shellcheck disable=SC1090  # written by save_settings below
[[ -f "$settings_file" ]] && source "$settings_file"

# Flink's daemon scripts read these; FLINK_IDENT_STRING names the pid and log files.
export FLINK_CONF_DIR="$conf_dir" FLINK_LOG_DIR="$log_dir" FLINK_PID_DIR="$pid_dir" FLINK_IDENT_STRING=hashwatch
# Flink's lib/ plus Beam's runner jars (prepare_beam_lib); Flink's scripts put FLINK_LIB_DIR's jars on the
# class path of the JobManager and the TaskManagers.
beam_lib_dir="$cluster_dir/lib"
# The job server's launcher jar and lib/ seen through a folder named gradle/wrapper: Beam 2.62's job
# server stages every jar of its own class path with each job (FlinkJobInvoker ->
# PipelineResources.detectClassPathResourcesToStage, no option to change it) except paths containing
# "gradle/wrapper" (PipelineResources.isStageable). With Beam on the cluster's class path nothing needs
# staging; if a later Beam drops that filter the jars are uploaded again: slower, still correct.
job_server_home="$cluster_dir/job-server/gradle/wrapper"
((${beam_on_classpath:-0})) && [[ -d "$beam_lib_dir" ]] && export FLINK_LIB_DIR="$beam_lib_dir"

supervisor_log="$log_dir/supervisor.log"
pool_log="$log_dir/worker-pool.log"
job_server_log="$log_dir/job-server.log"

log() { printf 'flink-cluster: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

save_settings() {
    mkdir -p "$cluster_dir"
    declare -p flink_venv bind_host rest_port rpc_port zk_port pool_port job_port artifact_port taskmanagers \
        task_slots jm_memory tm_memory sort_shuffle_buffers ha checkpoint_dir savepoint_dir restart_attempts \
        supervise supervisor_interval pool_python beam_on_classpath with_job_server | sed 's/^declare -- /declare -g /' \
        >"$settings_file"
}

url_host() { if [[ "$bind_host" == *:* ]]; then echo "[$bind_host]"; else echo "$bind_host"; fi; }

# --- processes -------------------------------------------------------------------------------------------

# The parts of the cluster, in start order. A TaskManager is one part however many run.
all_parts() {
    [[ "$ha" == zookeeper ]] && echo zookeeper
    printf '%s\n' jobmanager taskmanager worker-pool
    ((with_job_server)) && echo job-server
    return 0
}

pid_file_of() {
    case "$1" in
    zookeeper) echo "$pid_dir/flink-hashwatch-zookeeper.pid" ;;
    jobmanager) echo "$pid_dir/flink-hashwatch-standalonesession.pid" ;;
    taskmanager) echo "$pid_dir/flink-hashwatch-taskexecutor.pid" ;;
    worker-pool) echo "$pid_dir/worker-pool.pid" ;;
    job-server) echo "$pid_dir/job-server.pid" ;;
    supervisor) echo "$pid_dir/supervisor.pid" ;;
    *) die "unknown part '$1': zookeeper, jobmanager, taskmanager, worker-pool, job-server or supervisor" ;;
    esac
}

# What the command line of a live process of each part contains: guards against pid reuse, including by
# another cluster's processes (Flink's JVMs name their log file, which is in this cluster's folder).
cmdline_mark_of() {
    case "$1" in
    zookeeper) echo "$log_dir/flink-hashwatch-zookeeper-" ;;
    jobmanager) echo "$log_dir/flink-hashwatch-standalonesession-" ;;
    taskmanager) echo "$log_dir/flink-hashwatch-taskexecutor-" ;;
    # Without the package: a pool started as hashwatch.flink_worker_pool (before the move) is found too.
    worker-pool) echo "worker_pool --host $bind_host --port $pool_port" ;;
    job-server) echo "--job-port=$job_port" ;;
    supervisor) echo "supervise $cluster_dir" ;;
    esac
}

# The pids in a part's pid file that still run that part (one per line; Flink's scripts append a line per
# start, so a file may list dead pids too).
part_pids() {
    local file mark pid
    file="$(pid_file_of "$1")"
    mark="$(cmdline_mark_of "$1")"
    [[ -f "$file" ]] || return 0
    while read -r pid; do
        [[ "$pid" =~ ^[0-9]+$ ]] || continue
        if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$mark"; then
            echo "$pid"
        fi
    done <"$file"
}

count_pids() { part_pids "$1" | grep -c . || true; }

# How many processes of a part should run.
wanted_count() { if [[ "$1" == taskmanager ]]; then echo "$taskmanagers"; else echo 1; fi; }

missing_parts() {
    local part
    for part in $(all_parts); do
        (($(count_pids "$part") < $(wanted_count "$part"))) && echo "$part"
    done
    return 0
}

any_alive() {
    local part
    for part in $(all_parts) supervisor; do
        [[ -n "$(part_pids "$part")" ]] && return 0
    done
    return 1
}

# The process group of a pid (field 5 of /proc/PID/stat, after the parenthesised command name).
pgid_of() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    # shellcheck disable=SC2086  # split the fields on purpose
    set -- $stat
    echo "$3"
}

# Send a signal to a pid and, when it leads its own process group (the worker pool: its SDK workers), to
# the group.
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

# write_conf HOME: conf/config.yaml (and zoo.cfg) from the settings above.
# shellcheck source=deploy/flink/cluster-conf.sh
source "$here/cluster-conf.sh"

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

# Jars of the job server's lib/ that Flink's own flink-dist already holds (Flink itself, the loggers, and
# the libraries it bundles unshaded): the cluster keeps Flink's copies.
beam_jar_is_flinks() {
    case "$1" in
    flink-*.jar | slf4j-*.jar | kryo-*.jar | chill-java-*.jar | minlog-*.jar | objenesis-*.jar | \
        commons-lang3-*.jar | commons-text-*.jar | commons-collections-*.jar | commons-compress-*.jar | \
        commons-math3-*.jar | commons-io-*.jar | snappy-java-*.jar | lz4-java-*.jar) return 0 ;;
    esac
    return 1
}

# lib/: symlinks to Flink's lib/ and to the runner's jars; job-server/gradle/wrapper/: the launcher jar
# and its lib/ (see job_server_home). Fresh starts only; a cluster started without the job server
# fetched runs without (beam_on_classpath=0).
prepare_beam_lib() {
    rm -rf "$beam_lib_dir" "$cluster_dir/job-server"
    ((beam_on_classpath)) || return 0
    local jar home jobserver_lib name jar_file
    if ! jar="$("$here/fetch-job-server.sh" --print-path 2>/dev/null)"; then
        log "job server not fetched (make flink-job-server): jobs will upload Beam's jars each time"
        beam_on_classpath=0
        return 0
    fi
    home="$(flink_home)"
    jobserver_lib="$(dirname "$jar")/lib"
    mkdir -p "$beam_lib_dir" "$job_server_home"
    ln -s "$home"/lib/*.jar "$beam_lib_dir"/
    for jar_file in "$jobserver_lib"/*.jar; do
        name="$(basename "$jar_file")"
        beam_jar_is_flinks "$name" || ln -s "$jar_file" "$beam_lib_dir/$name"
    done
    # Hard links (a copy across file systems), not symlinks: the job server's class-path scan resolves
    # symlinks to their targets, whose paths lack "gradle/wrapper" (tried: all 152 MB were uploaded).
    cp -al "$jar" "$jobserver_lib" "$job_server_home"/ 2>/dev/null ||
        cp -a "$jar" "$jobserver_lib" "$job_server_home"/
    export FLINK_LIB_DIR="$beam_lib_dir"
}

job_server_jar() {
    local jar
    jar="$("$here/fetch-job-server.sh" --print-path)" || return 1
    if ((beam_on_classpath)) && [[ -e "$job_server_home/$(basename "$jar")" ]]; then
        echo "$job_server_home/$(basename "$jar")"
    else
        echo "$jar"
    fi
}

# --- starting parts ---------------------------------------------------------------------------------------

# Start one process of a part, detached in a session of its own (so stopping the supervisor, or a Ctrl-C
# in the terminal that ran `start`, never reaches it). Takes the parts lock's fd 9 away from it.
start_part() {
    local part="$1" home
    home="$(flink_home)"
    [[ -n "$home" ]] || die "Flink is not installed in $flink_venv"
    mkdir -p "$log_dir" "$pid_dir" "$tmp_dir"
    case "$part" in
    zookeeper)
        JVM_ARGS="-Xms32m -Xmx128m -Dzookeeper.jmx.log4j.disable=true" setsid -w bash "$home/bin/flink-daemon.sh" \
            start zookeeper --zkConfigFile "$conf_dir/zoo.cfg" --peerId 1 >&2 9>&-
        ;;
    jobmanager) setsid -w bash "$home/bin/jobmanager.sh" start >&2 9>&- ;;
    taskmanager) setsid -w bash "$home/bin/taskmanager.sh" start >&2 9>&- ;;
    worker-pool)
        # The pool leads its own process group, so stopping it also ends the SDK workers it started.
        setsid "$pool_python" -m hashwatch.flink.worker_pool --host "$bind_host" --port "$pool_port" \
            </dev/null >>"$pool_log" 2>&1 9>&- &
        echo $! >>"$(pid_file_of worker-pool)"
        ;;
    job-server)
        local jar
        jar="$(job_server_jar)" || die "job server not fetched: make flink-job-server"
        # Beam 2.62 binds the job server's gRPC ports on every interface whatever --job-host says, and they
        # have no authentication (docs/flink.md, "What listens where").
        # slf4j-simple (the job server's logger) prints no time unless asked: the timeline in docs/flink.md
        # ("Where a job's time goes") is read from these lines.
        setsid java -Dorg.slf4j.simpleLogger.showDateTime=true \
            -Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd\'T\'HH:mm:ss.SSS \
            -jar "$jar" --flink-master="$(url_host):$rest_port" --job-host="$bind_host" \
            --job-port="$job_port" --artifact-port="$artifact_port" --expansion-port=0 \
            --artifacts-dir="$tmp_dir/artifacts" </dev/null >>"$job_server_log" 2>&1 9>&- &
        echo $! >>"$(pid_file_of job-server)"
        ;;
    esac
}

# Start what is missing of the given parts (all processes of it), under the parts lock.
start_missing() {
    local part n
    for part in "$@"; do
        n=$(($(wanted_count "$part") - $(count_pids "$part")))
        while ((n-- > 0)); do start_part "$part"; done
    done
}

# TERM the supervisor alone (not its process group) and wait for it: bash runs its TERM trap once the part
# it may be starting is started (and in a pid file), so nothing it starts is left behind by a stop.
stop_supervisor() {
    local pid waited=0
    for pid in $(part_pids supervisor); do
        kill -TERM "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null && ((waited++ < 600)); do sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done
    return 0
}

start_supervisor() {
    ((supervise)) || return 0
    [[ -z "$(part_pids supervisor)" ]] || return 0
    setsid bash "$script" supervise "$cluster_dir" </dev/null >>"$supervisor_log" 2>&1 9>&- &
    echo $! >"$(pid_file_of supervisor)"
}

# Run a function while holding the lock on the cluster's parts: start, restart and the supervisor never
# start the same part twice. (The started daemons do not inherit the lock: start_part closes fd 9.)
with_parts_lock() {
    mkdir -p "$pid_dir"
    exec 9>"$pid_dir/parts.lock"
    flock 9
    "$@"
    flock -u 9
}

# --- readiness --------------------------------------------------------------------------------------------

wait_until_ready() {
    python3 - "$bind_host" "$rest_port" "$((task_slots * taskmanagers))" "$pool_port" "$start_timeout" \
        "$with_job_server" "$job_port" "$@" <<'PY'
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

# --- the supervisor ---------------------------------------------------------------------------------------

# cmd_supervise: the loop `start` runs in the background (`cluster.sh supervise DIR`).
# shellcheck source=deploy/flink/cluster-supervisor.sh
source "$here/cluster-supervisor.sh"

# --- commands ---------------------------------------------------------------------------------------------

print_options() {
    local jar
    jar="$("$here/fetch-job-server.sh" --print-path)" || jar="$jar (not fetched yet: make flink-job-server)"
    echo "--runner=FlinkRunner"
    echo "--flink_master=$(url_host):$rest_port"
    if [[ -n "$(part_pids job-server)" ]]; then
        echo "--job_endpoint=$(url_host):$job_port"
    else
        echo "--flink_job_server_jar=$jar"
    fi
    echo "--environment_type=EXTERNAL"
    echo "--environment_config=$(url_host):$pool_port"
    echo "--parallelism=$((task_slots * taskmanagers))"
    # One SDK worker process per slot: with the default of 1, all slots share one Python process (one GIL).
    echo "--sdk_worker_parallelism=$task_slots"
}

check_start_prerequisites() {
    command -v java >/dev/null 2>&1 || die "java not found: Flink 1.19 needs Java 11 or 17"
    command -v setsid >/dev/null 2>&1 || die "setsid not found (util-linux)"
    command -v flock >/dev/null 2>&1 || die "flock not found (util-linux)"
    "$pool_python" -c 'import apache_beam, hashwatch.flink.worker_pool' 2>/dev/null ||
        die "$pool_python cannot import apache_beam and hashwatch: run 'make venv' or set WORKER_POOL_PYTHON"
    [[ "$ha" == zookeeper || "$ha" == none ]] || die "FLINK_HA must be zookeeper or none, not '$ha'"
}

cmd_start() {
    local want_job_server=0
    while (($#)); do
        case "$1" in
        --with-job-server) want_job_server=1 ;;
        # N TaskManagers of FLINK_TASK_SLOTS slots each (docs/scaling.md); the same as FLINK_TASKMANAGERS=N.
        --taskmanagers=*) export FLINK_TASKMANAGERS="${1#*=}" ;;
        --taskmanagers)
            [[ $# -ge 2 ]] || die "--taskmanagers needs a number"
            export FLINK_TASKMANAGERS="$2"
            shift
            ;;
        *) die "unknown option for start: $1" ;;
        esac
        shift
    done
    [[ "${FLINK_TASKMANAGERS:-1}" =~ ^[1-9][0-9]*$ ]] || die "--taskmanagers must be a number >= 1, not '${FLINK_TASKMANAGERS}'"
    local fresh=1
    if any_alive; then
        fresh=0
        if [[ -n "${FLINK_TASKMANAGERS:-}" && "$FLINK_TASKMANAGERS" != "$taskmanagers" ]]; then
            log "running with $taskmanagers TaskManager(s), not $FLINK_TASKMANAGERS: stop it first to change that"
        fi
        if ((want_job_server && !with_job_server)); then
            with_job_server=1
            save_settings
        fi
        local missing
        missing="$(missing_parts | tr '\n' ' ')"
        if [[ -z "$missing" && -n "$(part_pids supervisor)$( ((supervise)) || echo off)" ]]; then
            log "already running (stop it first to change its settings)"
            cmd_status
            return 0
        fi
        log "running already; starting what is missing: ${missing:-supervisor}"
    else
        settings_from_env
        with_job_server=$want_job_server
    fi
    check_start_prerequisites
    if ((fresh)); then
        local port ports=("$rest_port" "$rpc_port" "$pool_port")
        [[ "$ha" == zookeeper ]] && ports+=("$zk_port")
        ((with_job_server)) && ports+=("$job_port" "$artifact_port")
        for port in "${ports[@]}"; do
            port_is_free "$port" || die "port $bind_host:$port is in use (see FLINK_REST_PORT, FLINK_RPC_PORT," \
                "WORKER_POOL_PORT, ZOOKEEPER_PORT, JOB_SERVER_PORT, JOB_SERVER_ARTIFACT_PORT)"
        done
        ensure_flink
        ((with_job_server)) && { "$here/fetch-job-server.sh" >/dev/null || die "could not fetch the job server"; }
        prepare_beam_lib
        write_conf "$(flink_home)"
        local part
        for part in $(all_parts) supervisor; do rm -f "$(pid_file_of "$part")"; done
        save_settings
    fi
    local started=$SECONDS
    # If a fresh start fails, stop what was started.
    ((fresh)) && trap 'log "start failed; logs in $log_dir"; cmd_stop --no-savepoint >/dev/null 2>&1 || true' ERR

    # shellcheck disable=SC2046  # one part per word
    with_parts_lock start_missing $(all_parts)
    start_supervisor
    local pids=() part
    for part in $(all_parts); do mapfile -t -O "${#pids[@]}" pids < <(part_pids "$part"); done
    if ! wait_until_ready "${pids[@]}"; then
        log "not ready after $start_timeout s; last log lines:"
        tail -n 20 "$log_dir"/*.log >&2 || true
        false
    fi
    trap - ERR
    log "ready in $((SECONDS - started)) s"
    if ((with_job_server)); then
        log "note: Beam's job server listens on all interfaces (ports $job_port, $artifact_port), not only" \
            "$bind_host: run --with-job-server only where no one else can reach this machine"
    fi
    cmd_status
}

# Stop every running job of the cluster with a savepoint (printed), cancelling a job whose savepoint fails.
# Succeeds when no job is left running (fails when the JobManager does not answer).
stop_jobs_with_savepoints() {
    python3 "$repo/hashwatch/flink/rest.py" --master "$(url_host):$rest_port" stop-jobs --timeout 120
}

cmd_stop() {
    local savepoint=1
    for arg in "$@"; do
        case "$arg" in
        --no-savepoint) savepoint=0 ;;
        *) die "unknown option for stop: $arg" ;;
        esac
    done
    stop_supervisor
    # A job still in the HA store is taken over at the next start (what --no-savepoint is for). After a
    # clean stop none is left: the store is cleared, else a job stopped just now could come back (the
    # JobManager records a job as done some time after it finished; measured: it had not when stopped
    # right after a savepoint, and the next start ran the job again).
    local clear_ha=0
    if ((savepoint)) && [[ -n "$(part_pids jobmanager)" ]]; then
        if stop_jobs_with_savepoints; then
            clear_ha=1
        else
            log "not every job could be stopped: the HA store is kept, so such a job resumes at the next start"
        fi
    elif ((savepoint)) && compgen -G "$cluster_dir/ha/*/submittedJobGraph*" >/dev/null; then
        log "the JobManager is not running: the jobs in the HA store resume at the next start" \
            "(start, then stop, to savepoint them)"
    fi
    local part pids=() summary=""
    for part in job-server worker-pool taskmanager jobmanager zookeeper; do
        local these
        these="$(part_pids "$part" | tr '\n' ' ')"
        [[ -n "$these" ]] && summary="$summary $part [${these% }]"
        # shellcheck disable=SC2206  # one pid per word
        pids+=($these)
    done
    if ((${#pids[@]})); then
        log "stopping$summary"
        stop_pids "${pids[@]}"
        log "stopped"
    else
        log "nothing was running"
    fi
    for part in $(all_parts) job-server supervisor; do rm -f "$(pid_file_of "$part")"; done
    if ((clear_ha)); then
        rm -rf "$cluster_dir/ha" "$cluster_dir/zookeeper"
    fi
    rm -f "$settings_file"
    rm -rf "$tmp_dir"
}

cmd_restart() {
    local part="${1:-}"
    [[ -n "$part" ]] || die "restart what? jobmanager, taskmanager, worker-pool, job-server, zookeeper or supervisor"
    pid_file_of "$part" >/dev/null
    any_alive || die "the cluster is not running: start it first"
    if [[ "$part" == supervisor ]]; then
        stop_supervisor
        start_supervisor
        log "supervisor restarted: pid $(part_pids supervisor)"
        return 0
    fi
    all_parts | grep -qx -- "$part" || die "$part is not part of this cluster"
    restart_locked() {
        # shellcheck disable=SC2046  # one pid per word
        [[ -z "$(part_pids "$part")" ]] || stop_pids $(part_pids "$part")
        start_missing "$part"
    }
    with_parts_lock restart_locked
    log "$part restarted: pid $(part_pids "$part" | tr '\n' ' ')"
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
    local jm tm pool js zk sup
    jm="$(part_pids jobmanager)"
    tm="$(part_pids taskmanager)"
    pool="$(part_pids worker-pool)"
    js="$(part_pids job-server)"
    zk="$(part_pids zookeeper)"
    sup="$(part_pids supervisor)"
    echo "Flink $FLINK_VERSION standalone cluster ($cluster_dir)"
    [[ "$ha" == zookeeper ]] && component_status zookeeper "$zk" "$(url_host):$zk_port (JobManager HA)"
    component_status jobmanager "$jm" "http://$(url_host):$rest_port (web UI and REST), rpc $(url_host):$rpc_port"
    component_status taskmanager "$tm" "$taskmanagers x $task_slots slots"
    component_status worker-pool "$pool" "$(url_host):$pool_port ($pool_python)"
    if ((with_job_server)) || [[ -n "$js" ]]; then
        component_status job-server "$js" "$(url_host):$job_port"
    fi
    if ((supervise)); then
        component_status supervisor "$sup" "restarts dead parts every $supervisor_interval s ($supervisor_log)"
    fi
    echo "  checkpoints  $checkpoint_dir"
    echo "  savepoints   $savepoint_dir"
    if [[ -n "$jm" ]]; then
        python3 - "$(url_host)" "$rest_port" <<'PY' || true
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
    if [[ -f "$supervisor_log" ]] && grep -q 'restarted, now' "$supervisor_log"; then
        echo "Restarts by the supervisor (last 5):"
        grep 'restarted, now' "$supervisor_log" | tail -n 5 | sed 's/^/  /'
    fi
    echo "Logs: $log_dir"
    if [[ -d "$log_dir" ]]; then
        find "$log_dir" -maxdepth 1 -type f \( -name '*.log' -o -name '*.out' \) -printf '  %f\n' | sort
    fi
    if [[ -n "$jm$tm$pool" ]]; then
        echo "Pipeline options:"
        print_options | sed 's/^/  /'
    fi
    [[ -n "$jm" && -n "$tm" && -n "$pool" && -z "$(missing_parts)" ]] && return 0
    [[ -z "$jm$tm$pool$js$zk" ]] && return 3
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
    jobmanager) mapfile -t files < <(find "$log_dir" -maxdepth 1 -name 'flink-*-standalonesession-*.log' | sort) ;;
    taskmanager) mapfile -t files < <(find "$log_dir" -maxdepth 1 -name 'flink-*-taskexecutor-*.log' | sort) ;;
    zookeeper) mapfile -t files < <(find "$log_dir" -maxdepth 1 -name 'flink-*-zookeeper-*.log' | sort) ;;
    worker-pool) files=("$pool_log") ;;
    job-server) files=("$job_server_log") ;;
    supervisor) files=("$supervisor_log") ;;
    *) die "unknown log '$name': jobmanager, taskmanager, worker-pool, job-server, zookeeper or supervisor" ;;
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
stop)
    shift
    cmd_stop "$@"
    ;;
restart)
    shift
    cmd_restart "$@"
    ;;
status) cmd_status ;;
options) print_options ;;
logs)
    shift
    cmd_logs "$@"
    ;;
supervise) cmd_supervise ;; # started by `start`, with this cluster's folder as its argument
*)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
