# The bundled cluster's configuration: conf/config.yaml and conf/zoo.cfg, written by `write_conf HOME` from
# the settings of deploy/flink/cluster.sh (which sources this file; it is not run on its own). What each
# choice is for is said next to it; docs/flink.md ("The bundled standalone cluster", "Faults") says more.
# shellcheck shell=bash disable=SC2154  # the settings are cluster.sh's

ha_conf() {
    [[ "$ha" == zookeeper ]] || return 0
    cat <<EOF
high-availability:
  # A JobManager that dies (and is restarted by the supervisor) takes over the running jobs from here
  # and restores them from their latest checkpoint; without it a lost JobManager loses its jobs.
  type: zookeeper
  storageDir: file://$cluster_dir/ha
  cluster-id: /hashwatch
  jobmanager:
    port: "$rpc_port"
  zookeeper:
    quorum: $bind_host:$zk_port
    client:
      # A killed JobManager's leadership lapses when its ZooKeeper session expires: its replacement waits
      # this long at most (Flink's default is 60 s).
      session-timeout: 10000
      connection-timeout: 5000
EOF
}

# Beam's runner on the cluster's own class path (cluster.sh, prepare_beam_lib): its classes must then
# come from there, not from jars a job still ships (another job server, --flink_job_server_jar), or
# Beam's Flink runner finds itself on a job's class loader and closes the SDK worker environments as soon
# as a stage ends (FlinkExecutableStageContextFactory: release is synchronous unless Beam is loaded by
# Flink's parent class loader), so --environment_cache_millis is ignored.
beam_classloader_conf() {
    ((beam_on_classpath)) || return 0
    cat <<EOF
classloader:
  # Parent-first for everything, not only org.apache.beam.: a job that still ships Beam's jars would
  # otherwise mix the cluster's Beam with its own copies of Beam's dependencies (tried with the pattern
  # alone: "cannot assign instance of org.joda.time.Duration to field ... of type org.joda.time.Duration").
  resolve-order: parent-first
EOF
}

write_conf() {
    local home="$1"
    mkdir -p "$conf_dir" "$log_dir" "$pid_dir" "$tmp_dir" "$checkpoint_dir" "$savepoint_dir"
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
heartbeat:
  # A killed TaskManager is noticed when two heartbeat calls to it fail: 2 s apart here (Flink's default
  # 10 s made a job restart 17-20 s after a kill). An unresponsive but living one gets 30 s (default 50 s).
  interval: 2000
  timeout: 30000
restart-strategy:
  # Flink's default with checkpointing retries for ever; a job that cannot run fails after
  # $restart_attempts restarts in a row (1, 2, 4 ... 30 s apart: about 3 min), and the launcher says why.
  type: exponential-delay
  exponential-delay:
    initial-backoff: 1 s
    max-backoff: 30 s
    backoff-multiplier: 2.0
    jitter-factor: 0.1
    reset-backoff-threshold: 10 min
    attempts-before-reset-backoff: $restart_attempts
state:
  checkpoints:
    # On disk, not in the JobManager's memory: they outlive a JobManager, and a job can be started
    # again from one (--savepoint_path=<checkpoint>/chk-N).
    dir: file://$checkpoint_dir
    num-retained: 2
  savepoints:
    dir: file://$savepoint_dir
$(ha_conf)
rest:
  address: $bind_host
  bind-address: $bind_host
  port: $rest_port
web:
  submit:
    enable: false
$(beam_classloader_conf)
blob:
  server:
    port: "0"
  storage:
    directory: $tmp_dir/blob
io:
  tmp:
    dirs: $tmp_dir
EOF
    if [[ "$ha" == zookeeper ]]; then
        mkdir -p "$cluster_dir/ha" "$cluster_dir/zookeeper"
        # ZooKeeper of flink-dist, standalone (no server.N lines). tickTime 1 s allows Flink's 10 s
        # sessions; the admin web server (port 8080 by default) is off.
        cat >"$conf_dir/zoo.cfg" <<EOF
tickTime=1000
initLimit=10
syncLimit=5
dataDir=$cluster_dir/zookeeper
clientPort=$zk_port
clientPortAddress=$bind_host
admin.enableServer=false
autopurge.purgeInterval=1
EOF
    fi
}
