#!/usr/bin/env bash
# Fetch Beam's Flink job server with Maven and print the path of a jar that `--flink_job_server_jar` accepts.
#
#   deploy/flink/fetch-job-server.sh               # or: make flink-job-server
#   deploy/flink/fetch-job-server.sh --print-path  # where the jar is; exit 1 if not fetched yet; never fetches
#
# Maven Central as reachable here serves no beam-runners-flink-*-job-server jar (docs/flink.md), so
# deploy/flink/jobserver/pom.xml depends on the runner itself; `mvn package` copies the runner and its
# dependencies into $FLINK_JOB_SERVER_DIR/lib/ and writes a launcher jar next to it: no classes, only a
# manifest with Main-Class FlinkJobServerDriver and a Class-Path listing lib/*.jar. Beam runs it with
# `java -jar`. The launcher finds lib/ relative to itself, so keep them together (copy or move the folder).
#
# Idempotent and offline once cached: a second run checks the cache and never calls Maven. The cache is
# rebuilt when pom.xml changes (its sha256 is kept in the stamp) or files are missing.
#
# Environment:
#   FLINK_JOB_SERVER_DIR  cache folder (default: <repo>/.cache/flink-job-server)
#   MVN                   Maven command (default: mvn); MAVEN_ARGS is passed through, e.g. "-o" or "-s settings.xml"
#
# Prints the launcher jar path as the only line on stdout; progress goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
pom="$here/jobserver/pom.xml"
dest="${FLINK_JOB_SERVER_DIR:-$repo/.cache/flink-job-server}"
mvn_cmd="${MVN:-mvn}"

log() { printf 'fetch-job-server: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# The Beam version and Flink minor come from the pom, so the pom is the one place that names them.
pom_property() { sed -n "s:.*<$1>\\(.*\\)</$1>.*:\\1:p" "$pom" | head -n 1; }
beam_version="$(pom_property beam.version)"
flink_minor="$(pom_property flink.minor)"
[[ -n "$beam_version" && -n "$flink_minor" ]] || die "cannot read beam.version / flink.minor from $pom"
jar_name="beam-flink-${flink_minor}-job-server-${beam_version}-launcher.jar"
jar="$dest/$jar_name"
stamp="$dest/.stamp"
pom_sha="$(sha256sum "$pom" | cut -d' ' -f1)"

# A cache is complete when the stamp matches the pom and every Class-Path entry of the launcher exists.
cache_is_complete() {
    [[ -f "$jar" && -f "$stamp" && "$(cat "$stamp")" == "$pom_sha" ]] || return 1
    python3 - "$jar" <<'PY'
import sys, zipfile
from pathlib import Path

jar = Path(sys.argv[1])
with zipfile.ZipFile(jar) as zf:
    manifest = zf.read("META-INF/MANIFEST.MF").decode("utf-8")
# Manifest lines are folded at 72 bytes: a continuation line starts with one space.
text = manifest.replace("\r\n", "\n").replace("\n ", "")
fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
entries = fields.get("Class-Path", "").split()
if fields.get("Main-Class") != "org.apache.beam.runners.flink.FlinkJobServerDriver" or not entries:
    sys.exit(f"{jar}: manifest lacks Main-Class FlinkJobServerDriver or Class-Path")
# The launcher is a manifest only: every class comes from the published jars in lib/ (an older build
# carried a patched Beam class; such a cache is rebuilt).
with zipfile.ZipFile(jar) as zf:
    classes = [name for name in zf.namelist() if name.endswith(".class")]
if classes:
    sys.exit(f"{jar}: carries classes of its own ({classes[0]}, ...): rebuild")
missing = [e for e in entries if not (jar.parent / e).is_file()]
if missing:
    sys.exit(f"{jar}: {len(missing)} Class-Path entries missing, e.g. {missing[0]}")
PY
}

if [[ "${1:-}" == "--print-path" ]]; then
    printf '%s\n' "$jar"
    cache_is_complete 2>/dev/null
    exit
fi

if cache_is_complete 2>/dev/null; then
    log "cached: $jar"
    printf '%s\n' "$jar"
    exit 0
fi

command -v java >/dev/null 2>&1 || die "java not found: Java 17 is needed to run the Flink job server"
command -v "$mvn_cmd" >/dev/null 2>&1 || die "Maven ('$mvn_cmd') not found: it fetches the job server (apt-get install maven)"
command -v python3 >/dev/null 2>&1 || die "python3 not found"

mkdir -p "$(dirname "$dest")"
# One fetch at a time per cache folder (make and pytest may race); flock is in util-linux.
lock="$dest.lock"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$lock"
    flock 9
    if cache_is_complete 2>/dev/null; then # another process finished it while we waited
        log "cached: $jar"
        printf '%s\n' "$jar"
        exit 0
    fi
fi

log "fetching beam-runners-flink-${flink_minor}:${beam_version} and its dependencies with Maven into $dest"
tmp="$(mktemp -d "$dest.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
start=$SECONDS
# shellcheck disable=SC2086  # MAVEN_ARGS is a list of words on purpose
if ! "$mvn_cmd" -B -q -Dstyle.color=never ${MAVEN_ARGS:-} -f "$pom" -Djobserver.outputDir="$tmp" package \
    >"$tmp.mvn.log" 2>&1; then
    grep -v '^\[ERROR\] *$' "$tmp.mvn.log" | tail -n 40 >&2
    rm -f "$tmp.mvn.log"
    die "Maven failed (above). Offline? Run once with network access, or set MAVEN_ARGS='-s settings.xml' for a mirror."
fi
rm -f "$tmp.mvn.log"
rm -rf "$tmp/build"
printf '%s\n' "$pom_sha" >"$tmp/.stamp"

# Replace the old cache only once the new one is complete.
rm -rf "$dest.old"
if [[ -e "$dest" ]]; then mv "$dest" "$dest.old"; fi
mv "$tmp" "$dest"
trap - EXIT
rm -rf "$dest.old"
cache_is_complete || die "the launcher jar in $dest is incomplete (see above)"
log "done in $((SECONDS - start)) s: $(find "$dest/lib" -name '*.jar' | wc -l) jars, $(du -sh "$dest" | cut -f1)"
printf '%s\n' "$jar"
