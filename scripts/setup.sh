#!/usr/bin/env bash
# scripts/setup.sh - install everything weir's build, tests and demo need on
# a Debian bookworm machine (run as root for the apt step). Idempotent: each
# step checks what is already there and skips, so a re-run takes seconds.
#
#   1. apt: C toolchain and libraries, JDK 17, Maven, python3-venv, PostgreSQL
#   2. .venv: Python test readers pinned in scripts/requirements.txt
#      (pip's cache lives in .deps/pip-cache)
#   3. .deps/jars: the Delta jars for PySpark, from Maven Central via Maven
#      (local repository .deps/m2), never through Spark's Ivy at run time
#   4. .deps/duckdb-extensions: DuckDB's delta extension, installed from the
#      duckdb-extension-delta wheel so `LOAD delta` works offline
#   5. verify: scripts/verify_readers.py, inside a network namespace with only
#      loopback when possible (proves nothing is downloaded at run time);
#      remembered until a pin changes (force with --verify)
#   6. .deps/kafka/libs: an Apache Kafka broker (org.apache.kafka:kafka_2.13,
#      KAFKA_VERSION below) and its runtime dependencies from Maven Central via
#      mvn dependency:copy-dependencies on a generated pom (local repository
#      .deps/m2); the integration tests start it on 127.0.0.1
#      (tests/integration/kafka_broker.py). kcat comes from apt (step 1).
#   7. .deps/emulators: the object-store servers the integration tests start
#      on 127.0.0.1: Azurite (Azure Blob) from the npm registry and
#      fake-gcs-server (GCS) built with `go install` from the Go module proxy.
#      The S3 server (moto's server mode) is a Python package in step 2.
#   8. .deps/debezium/libs: Kafka Connect (org.apache.kafka:connect-runtime and
#      connect-json, KAFKA_VERSION) and the Debezium PostgreSQL connector
#      (io.debezium:debezium-connector-postgres, DEBEZIUM_VERSION, with the
#      PostgreSQL JDBC driver) on one class path, from Maven Central via mvn
#      dependency:copy-dependencies on a generated pom (local repository
#      .deps/m2); the CDC tests run it in standalone mode against a PostgreSQL
#      server they start on 127.0.0.1 (tests/integration/debezium_connect.py,
#      tests/integration/postgres_server.py; PostgreSQL itself from step 1).
#
# Options: --verify (re-run step 5), --no-apt (skip step 1); --build-only
# and --runtime-only do step 1 alone, for the packages that build the weir
# binary or that it runs on (no Java, no tests: the container image's two
# stages).
# Full output goes to .deps/setup.log; the terminal gets a short summary.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPS=${WEIR_DEPS_DIR:-$ROOT/.deps}
VENV=$ROOT/.venv
LOG=$DEPS/setup.log
STAMPS=$DEPS/stamps
REQ=$ROOT/scripts/requirements.txt

# Delta jars for PySpark: must match pyspark's minor in requirements.txt.
DELTA_VERSION=4.0.0
SCALA_BINARY=2.13
DELTA_ARTIFACTS=("io.delta:delta-spark_${SCALA_BINARY}:${DELTA_VERSION}" "io.delta:delta-storage:${DELTA_VERSION}")

# Kafka broker for the integration tests: the newest 4.x whose artifacts all
# resolve from Maven Central (4.4.0's pom names kafka-tools-api:4.4.0, which
# Central did not serve when this was pinned). LOG4J_VERSION must equal the
# log4j-core that kafka_2.13 pulls in; log4j-slf4j-impl routes the broker's
# slf4j logging to log4j2 (the broker's tarball ships the same binding).
KAFKA_VERSION=4.3.1
LOG4J_VERSION=2.25.4

# Debezium's PostgreSQL connector for the CDC tests, run by Kafka Connect of
# KAFKA_VERSION: the newest release on Maven Central; 3.7.0.Final is built
# against Kafka 4.3.1 (version.kafka in its debezium-build-parent pom) and
# Java 17, and brings the PostgreSQL JDBC driver (42.7.13).
DEBEZIUM_VERSION=3.7.0.Final

# What the weir binary is built from, and what it runs on (the container
# image installs exactly these: docker/Dockerfile, --build-only and
# --runtime-only).
BUILD_PACKAGES=(build-essential cmake ninja-build pkg-config ca-certificates
    librdkafka-dev libuv1-dev librocksdb-dev libcjson-dev libcurl4-openssl-dev libssl-dev libzstd-dev
    libsnappy-dev zlib1g-dev libsystemd-dev)
RUNTIME_PACKAGES=(ca-certificates curl librdkafka1 libuv1 librocksdb7.8 libcjson1 libcurl4 libssl3 libzstd1
    libsnappy1v5 zlib1g libsystemd0)
APT_PACKAGES=("${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}" gcc clang clang-format git iproute2 libcmocka-dev libclang-rt-14-dev
    python3 python3-venv python3-dev maven kcat postgresql systemd)

force_verify=0
do_apt=1
only=
for a in "$@"; do
    case $a in
    --verify) force_verify=1 ;;
    --no-apt) do_apt=0 ;;
    --build-only) only=build ;;
    --runtime-only) only=runtime ;;
    -h | --help)
        sed -n '2,35p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "setup.sh: unknown option $a" >&2
        exit 2
        ;;
    esac
done

mkdir -p "$DEPS" "$STAMPS"
: >"$LOG"
START=$(date +%s)
SUMMARY=()

say() { printf '%s\n' "$*" | tee -a "$LOG"; }
note() { SUMMARY+=("$(printf '%-10s %s' "$1" "$2")"); }
die() {
    say "setup: FAILED at $1 (details in $LOG)"
    tail -n 25 "$LOG" >&2
    exit 1
}
# Run a command with its output only in the log.
quiet() { "$@" >>"$LOG" 2>&1; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# ---- 1. Debian packages ----
step_apt() {
    local missing=() p st
    for p in "${APT_PACKAGES[@]}"; do
        st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [[ $st == "install ok installed" ]] || missing+=("$p")
    done
    # Spark 4 needs Java 17 or newer; use any present one, else install 17.
    local jv=0
    if [[ -n $only ]]; then
        jv=none
    elif command -v java >/dev/null; then
        jv=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
    fi
    if [[ $jv != none && ${jv:-0} -lt 17 ]]; then
        missing+=(openjdk-17-jdk-headless)
    fi
    if [[ ${#missing[@]} -eq 0 ]]; then
        note apt "all ${#APT_PACKAGES[@]} packages present, java ${jv}"
        return
    fi
    if [[ $do_apt -eq 0 ]]; then
        note apt "SKIPPED (--no-apt); missing: ${missing[*]}"
        return
    fi
    if [[ $(id -u) -ne 0 ]]; then
        say "setup: missing Debian packages: ${missing[*]}; run as root or install them."
        exit 1
    fi
    say "apt: installing ${missing[*]}"
    quiet apt-get update || die "apt-get update"
    DEBIAN_FRONTEND=noninteractive quiet apt-get install -y --no-install-recommends "${missing[@]}" ||
        die "apt-get install"
    note apt "installed ${missing[*]}"
}

# ---- 2. Python venv ----
pick_python() {
    # Debian's interpreter first: the same on every fresh bookworm machine.
    local c
    for c in /usr/bin/python3 python3; do
        if command -v "$c" >/dev/null && "$c" -c 'import venv, ensurepip' 2>/dev/null; then
            command -v "$c"
            return
        fi
    done
    return 1
}

step_venv() {
    local py want have
    py=$(pick_python) || die "python3 with venv/ensurepip (apt install python3-venv)"
    want="$(hash_of "$REQ")-$("$py" -c 'import sys; print(sys.version.split()[0])')"
    have=$(cat "$STAMPS/venv" 2>/dev/null || true)
    if [[ -x $VENV/bin/python && $want == "$have" ]] && "$VENV/bin/python" -c 'import pytest, deltalake, duckdb, pyspark, psycopg' 2>/dev/null; then
        note venv "up to date ($VENV)"
        return
    fi
    if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        rm -rf "$VENV"
        quiet "$py" -m venv "$VENV" || die "python -m venv"
    fi
    export PIP_CACHE_DIR=$DEPS/pip-cache PIP_DISABLE_PIP_VERSION_CHECK=1
    say "venv: installing $(grep -cv '^\s*\(#\|$\)' "$REQ") pinned packages (first run downloads ~500 MB)"
    quiet "$VENV/bin/pip" install --upgrade pip || die "pip upgrade"
    quiet "$VENV/bin/pip" install -r "$REQ" || die "pip install -r scripts/requirements.txt"
    echo "$want" >"$STAMPS/venv"
    note venv "installed $(sed -n 's/^\([a-z-]*\)\(\[[a-z,]*\]\)\{0,1\}==\(.*\)/\1 \3/p' "$REQ" | tr '\n' ',' | sed 's/,$//; s/,/, /g')"
}

# ---- 3. Delta jars from Maven Central ----
step_jars() {
    local jars="$DEPS/jars" a missing=() g art v
    mkdir -p "$jars"
    for a in "${DELTA_ARTIFACTS[@]}"; do
        IFS=: read -r g art v <<<"$a"
        [[ -s $jars/$art-$v.jar ]] || missing+=("$a")
    done
    # Jars of other versions would confuse spark.jars: keep only the pinned ones.
    for f in "$jars"/*.jar; do
        [[ -e $f ]] || continue
        local keep=0
        for a in "${DELTA_ARTIFACTS[@]}"; do
            IFS=: read -r g art v <<<"$a"
            [[ $(basename "$f") == "$art-$v.jar" ]] && keep=1
        done
        [[ $keep -eq 1 ]] || rm -f "$f"
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        note jars "present: $(cd "$jars" && ls ./*.jar | sed 's|^\./||' | tr '\n' ' ')"
        return
    fi
    command -v mvn >/dev/null || die "mvn not found (apt install maven)"
    for a in "${missing[@]}"; do
        say "jars: mvn dependency:copy $a"
        quiet mvn -B -q -Dmaven.repo.local="$DEPS/m2" \
            org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy \
            -Dartifact="$a" -DoutputDirectory="$jars" || die "mvn dependency:copy $a"
    done
    note jars "downloaded ${missing[*]}"
}

# ---- 4. DuckDB delta extension ----
step_duckdb_ext() {
    local ver
    ver=$("$VENV/bin/python" -c 'import duckdb; print(duckdb.__version__)') || die "import duckdb"
    local f="$DEPS/duckdb-extensions/v$ver/linux_amd64/delta.duckdb_extension"
    if [[ -s $f ]]; then
        note duckdb "delta extension v$ver present"
        return
    fi
    # readers.duckdb_connect() installs it from the wheel when LOAD fails.
    quiet "$VENV/bin/python" -c '
import sys; sys.path.insert(0, sys.argv[1])
import readers; readers.duckdb_connect().close()' "$ROOT/tests/integration" || die "install DuckDB delta extension"
    note duckdb "delta extension v$ver installed from the wheel"
}

# ---- 5. offline verification ----
step_verify() {
    local want have
    # Re-verify when a pin, the check itself, or the venv (re)install changes.
    want=$(hash_of "$REQ" "$ROOT/scripts/verify_readers.py" "$ROOT/tests/integration/readers.py" "$STAMPS/venv" \
        <(echo "${DELTA_ARTIFACTS[*]}"))
    have=$(cat "$STAMPS/verify" 2>/dev/null || true)
    if [[ $force_verify -eq 0 && $want == "$have" ]]; then
        note verify "readers verified earlier (setup.sh --verify to re-run)"
        return
    fi
    local how="no network namespace (unshare -n unavailable)"
    local cmd=("$VENV/bin/python" "$ROOT/scripts/verify_readers.py")
    if [[ $(id -u) -eq 0 ]] && command -v unshare >/dev/null && command -v ip >/dev/null &&
        unshare -n ip link set lo up 2>/dev/null; then
        how="offline (network namespace, loopback only)"
        cmd=(unshare -n bash -c 'ip link set lo up && exec "$@"' verify "${cmd[@]}")
    fi
    local out
    out=$(mktemp)
    if ! "${cmd[@]}" >"$out" 2>&1; then
        cat "$out" >>"$LOG"
        rm -f "$out"
        die "reader verification"
    fi
    cat "$out" >>"$LOG"
    local lines
    lines=$(grep -E '^(deltalake|duckdb|pyspark) ' "$out" | sed 's/^/           /')
    rm -f "$out"
    echo "$want" >"$STAMPS/verify"
    note verify "$how"$'\n'"$lines"
}

# ---- 6. Apache Kafka broker from Maven Central ----
kafka_pom() {
    cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by scripts/setup.sh: the Kafka broker's runtime class path -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>weir.deps</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_BINARY}</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
EOF
}

# The runtime class path of the pom that function $3 prints, into $2/libs,
# copied into a fresh directory and swapped in, so jars of an older pin never
# linger on the class path and an interrupted run leaves the old set intact.
# $1 names the step in messages; the jars after it must be there afterwards.
maven_libs() {
    local name=$1 dir=$2 pom=$3 j
    shift 3
    command -v mvn >/dev/null || die "mvn not found (apt install maven)"
    mkdir -p "$dir"
    "$pom" >"$dir/pom.xml"
    rm -rf "$dir/libs.new"
    say "$name: mvn dependency:copy-dependencies for $*"
    quiet mvn -B -q -f "$dir/pom.xml" -Dmaven.repo.local="$DEPS/m2" \
        org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$dir/libs.new" || die "$name: mvn copy-dependencies failed"
    for j in "$@"; do
        [[ -s $dir/libs.new/$j ]] || die "$name: $j missing after mvn copy-dependencies"
    done
    rm -rf "$dir/libs"
    mv "$dir/libs.new" "$dir/libs"
}

step_kafka() {
    local dir="$DEPS/kafka" want have main
    main="kafka_${SCALA_BINARY}-${KAFKA_VERSION}.jar"
    want=$(kafka_pom | sha256sum | cut -c1-16)
    have=$(cat "$STAMPS/kafka" 2>/dev/null || true)
    if [[ $want == "$have" && -s $dir/libs/$main ]]; then
        note kafka "broker $KAFKA_VERSION present ($(find "$dir/libs" -name '*.jar' | wc -l) jars in ${dir#"$ROOT"/}/libs)"
        return
    fi
    maven_libs kafka "$dir" kafka_pom "$main"
    echo "$KAFKA_VERSION" >"$dir/VERSION"
    echo "$want" >"$STAMPS/kafka"
    note kafka "broker $KAFKA_VERSION installed ($(find "$dir/libs" -name '*.jar' | wc -l) jars in ${dir#"$ROOT"/}/libs)"
}

# ---- 7. object-store emulators ----
AZURITE_VERSION=3.37.0
FAKE_GCS_VERSION=v1.56.1
step_emulators() {
    local dir="$DEPS/emulators" want have
    want="azurite-$AZURITE_VERSION fake-gcs-server-$FAKE_GCS_VERSION"
    have=$(cat "$STAMPS/emulators" 2>/dev/null || true)
    if [[ $want == "$have" && -x $dir/node_modules/.bin/azurite-blob && -x $dir/bin/fake-gcs-server ]]; then
        note emulators "$want present"
        return
    fi
    mkdir -p "$dir"
    command -v npm >/dev/null || die "npm not found (apt install npm)"
    say "emulators: npm install azurite@$AZURITE_VERSION"
    quiet npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" ||
        die "npm install azurite"
    local go=go
    command -v go >/dev/null || go=/usr/local/go/bin/go
    command -v "$go" >/dev/null || die "go not found (apt install golang-go)"
    say "emulators: go install fake-gcs-server@$FAKE_GCS_VERSION"
    GOBIN="$dir/bin" GOPATH="$DEPS/go" GOFLAGS=-modcacherw quiet "$go" install \
        "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION" || die "go install fake-gcs-server"
    echo "$want" >"$STAMPS/emulators"
    note emulators "installed $want"
}

# ---- 8. Kafka Connect + Debezium PostgreSQL connector from Maven Central ----
debezium_pom() {
    cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by scripts/setup.sh: Kafka Connect standalone + Debezium PostgreSQL, one class path -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>weir.deps</groupId>
  <artifactId>debezium-connect</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>connect-runtime</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>connect-json</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>io.debezium</groupId>
      <artifactId>debezium-connector-postgres</artifactId>
      <version>${DEBEZIUM_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
EOF
}

step_debezium() {
    local dir="$DEPS/debezium" want have main runtime
    main="debezium-connector-postgres-${DEBEZIUM_VERSION}.jar"
    runtime="connect-runtime-${KAFKA_VERSION}.jar"
    want=$(debezium_pom | sha256sum | cut -c1-16)
    have=$(cat "$STAMPS/debezium" 2>/dev/null || true)
    if [[ $want == "$have" && -s $dir/libs/$main && -s $dir/libs/$runtime ]]; then
        note debezium "connector $DEBEZIUM_VERSION, connect $KAFKA_VERSION present ($(find "$dir/libs" -name '*.jar' | wc -l) jars in ${dir#"$ROOT"/}/libs)"
        return
    fi
    maven_libs debezium "$dir" debezium_pom "$main" "$runtime"
    printf 'debezium %s\nkafka-connect %s\n' "$DEBEZIUM_VERSION" "$KAFKA_VERSION" >"$dir/VERSION"
    echo "$want" >"$STAMPS/debezium"
    note debezium "connector $DEBEZIUM_VERSION, connect $KAFKA_VERSION installed ($(find "$dir/libs" -name '*.jar' | wc -l) jars in ${dir#"$ROOT"/}/libs)"
}

case $only in
build) APT_PACKAGES=("${BUILD_PACKAGES[@]}") ;;
runtime) APT_PACKAGES=("${RUNTIME_PACKAGES[@]}") ;;
esac
step_apt
if [[ -n $only ]]; then
    say "setup: $only packages done in $(($(date +%s) - START))s"
    for s in "${SUMMARY[@]}"; do say "  $s"; done
    exit 0
fi
step_venv
step_jars
step_kafka
step_duckdb_ext
step_emulators
step_debezium
step_verify

say "setup: done in $(($(date +%s) - START))s (log: ${LOG#"$ROOT"/})"
for s in "${SUMMARY[@]}"; do say "  $s"; done
