# The bundled cluster's supervisor: `cmd_supervise`, the loop that `deploy/flink/cluster.sh start` runs in the
# background as `cluster.sh supervise DIR` (stopped by `stop`). It uses cluster.sh's part helpers
# (missing_parts, start_missing, part_pids ...), so cluster.sh sources this file; it is not run on its own.
# shellcheck shell=bash disable=SC2154  # the settings are cluster.sh's

event() { printf '%s supervisor: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }

# Every SUPERVISOR_INTERVAL seconds: start the parts that are not running (at once: a TaskManager's JVM takes
# 5-10 s to start, the worker pool should not wait for it), one line per restart in supervisor.log. A part
# that dies again within 60 s of its restart waits 2, 4 ... 64 s before the next, so one that cannot start
# does not spin.
cmd_supervise() {
    # On TERM, first let any part being started finish starting (it is in a pid file then, for `stop`).
    trap 'event "stopping (pid $$)"; wait; exit 0' TERM INT
    local -A last_start=() delay=() not_before=() starter=()
    local part now pids
    event "started (pid $$): checks every ${supervisor_interval} s: $(all_parts | tr '\n' ' ')"
    while :; do
        sleep "$supervisor_interval" &
        wait $! || true
        exec 9>"$pid_dir/parts.lock"
        flock 9
        now=$(date +%s)
        starter=()
        for part in $(missing_parts); do
            ((now >= ${not_before[$part]:-0})) || continue
            if ((now - ${last_start[$part]:-0} < 60)); then
                delay[$part]=$((${delay[$part]:-0} == 0 ? 2 : (${delay[$part]} >= 32 ? 64 : ${delay[$part]} * 2)))
            else
                delay[$part]=0
            fi
            event "$part: $(count_pids "$part") of $(wanted_count "$part") running; starting $((\
                $(wanted_count "$part") - $(count_pids "$part")))"
            (start_missing "$part") >>"$supervisor_log" 2>&1 &
            starter[$part]=$!
            last_start[$part]=$now
            not_before[$part]=$((now + ${delay[$part]}))
        done
        for part in "${!starter[@]}"; do
            if wait "${starter[$part]}"; then
                pids="$(part_pids "$part" | tr '\n' ' ')"
                event "$part: restarted, now pid ${pids% }"
            else
                event "$part: could not be started (see its log)"
            fi
            ((delay[$part] == 0)) || event "$part: died again within 60 s of its restart: next try in ${delay[$part]} s or later"
        done
        flock -u 9
    done
}
