#!/usr/bin/env bash
# Install or upgrade crypto-collector as a systemd service, from this checkout.
#
#   sudo deploy/install.sh             install / upgrade, enable the service (does not start it)
#   sudo deploy/install.sh --start     ... and (re)start it
#   deploy/install.sh --dry-run        print what would be done; change nothing (no root needed)
#
# Safe to run again: the user, directories and venv are reused, the code and the unit are
# refreshed, and the operator's config/production.yaml and .env are never overwritten.
set -euo pipefail

readonly APP_USER=crypto_collector
readonly APP_DIR=/opt/crypto_collector
readonly UNIT_NAME=crypto-collector.service
readonly UNIT_DIR=/etc/systemd/system
readonly MIN_PYTHON=3.11
SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly SOURCE_DIR
PYTHON=python3
DRY_RUN=0
START=0
# Not copied from the checkout: local state and caches at the top level, caches anywhere, and
# what belongs to the operator.
readonly TOP_EXCLUDES=(.git .venv data 'logs/*' .pytest_cache .benchmarks .env config/production.yaml)
readonly ANY_EXCLUDES=(__pycache__ '*.pyc' '*.egg-info')

usage() {
    echo "usage: $0 [--dry-run] [--start] [--python PATH]"
    echo "  --dry-run      print every step instead of running it"
    echo "  --start        start the service after installing (restart it if running)"
    echo "  --python PATH  interpreter for the venv (default: python3, >= $MIN_PYTHON)"
}

say() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

# Run a command, or only print it under --dry-run.
run() {
    printf '+'; printf ' %q' "$@"; printf '\n'
    if (( ! DRY_RUN )); then "$@"; fi
}

parse_args() {
    while (( $# )); do
        case "$1" in
            --dry-run) DRY_RUN=1 ;;
            --start) START=1 ;;
            --python) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; PYTHON="$2"; shift ;;
            -h|--help) usage; exit 0 ;;
            *) echo "install.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
        esac
        shift
    done
}

preflight() {
    (( DRY_RUN )) && say "dry run: nothing will be changed"
    if (( ! DRY_RUN )) && [[ $EUID -ne 0 ]]; then die "run as root (sudo $0), or try --dry-run"; fi
    [[ -f "$SOURCE_DIR/futures_price_collector_v5.py" ]] || die "$SOURCE_DIR is not a collector checkout"
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found; install Python >= $MIN_PYTHON or pass --python"
    "$PYTHON" -c "import sys; sys.exit(sys.version_info < (${MIN_PYTHON/./, }))" \
        || die "$PYTHON is older than $MIN_PYTHON"
    if ! command -v systemctl >/dev/null; then
        (( DRY_RUN )) || die "systemctl not found: this installer needs systemd"
        say "warning: systemctl not found (fine for a dry run)"
    fi
}

create_user() {
    if getent passwd "$APP_USER" >/dev/null; then
        say "system user $APP_USER exists; kept"
        return
    fi
    local group_option=(--user-group)
    getent group "$APP_USER" >/dev/null && group_option=(--gid "$APP_USER")
    run useradd --system "${group_option[@]}" --home-dir "$APP_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "crypto-collector daemon" "$APP_USER"
}

create_directories() {
    # Code is root's and read-only to the service; it writes only logs/ and data/.
    run install -d -m 0755 -o root -g root "$APP_DIR" "$APP_DIR/config"
    run install -d -m 0750 -o "$APP_USER" -g "$APP_USER" "$APP_DIR/logs" "$APP_DIR/data"
}

copy_project() {
    local excludes=(--anchored) pattern
    for pattern in "${TOP_EXCLUDES[@]}"; do excludes+=("--exclude=./$pattern"); done
    excludes+=(--no-anchored)
    for pattern in "${ANY_EXCLUDES[@]}"; do excludes+=("--exclude=$pattern"); done
    say "copy $SOURCE_DIR → $APP_DIR (refreshes the code)"
    printf '+ tar -C %q -cf - . | tar -C %q --no-same-owner -xf -\n' "$SOURCE_DIR" "$APP_DIR"
    if (( ! DRY_RUN )); then
        tar -C "$SOURCE_DIR" "${excludes[@]}" -cf - . | tar -C "$APP_DIR" --no-same-owner -xf -
    fi
}

# Copy a file the operator edits only when it is not there yet.
install_once() {
    local source="$1" target="$2"
    if [[ -e "$target" ]]; then
        say "$target exists; kept"
    elif [[ -f "$source" ]]; then
        run install -m 0640 -o root -g "$APP_USER" "$source" "$target"
    else
        say "warning: $source not found; create $target yourself"
    fi
}

install_operator_files() {
    say "config/production.yaml and .env are copied once and kept if present"
    install_once "$SOURCE_DIR/config/production.yaml" "$APP_DIR/config/production.yaml"
    install_once "$SOURCE_DIR/.env.example" "$APP_DIR/.env"
}

create_venv() {
    local venv="$APP_DIR/.venv"
    if [[ -x "$venv/bin/python" ]]; then
        say "venv $venv exists; kept"
    else
        run "$PYTHON" -m venv "$venv"
    fi
    run "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$APP_DIR/requirements.txt"
    # ProtectSystem=strict leaves the code read-only: compile it now, not at every start.
    run "$venv/bin/python" -m compileall -q "$APP_DIR/collector" "$APP_DIR/config_manager.py" \
        "$APP_DIR/futures_price_collector_v5.py"
}

install_unit() {
    run install -m 0644 -o root -g root "$SOURCE_DIR/deploy/systemd/$UNIT_NAME" "$UNIT_DIR/$UNIT_NAME"
    # Installed, not enabled: one shard per core instead of the single service (README, "Running
    # more than one"): systemctl enable --now crypto-collector@{0..3}.service crypto-collector.target
    run install -m 0644 -o root -g root "$SOURCE_DIR/deploy/systemd/crypto-collector@.service" \
        "$SOURCE_DIR/deploy/systemd/crypto-collector.target" "$UNIT_DIR/"
    run systemctl daemon-reload
    run systemctl enable "$UNIT_NAME"
}

check_config() {
    say "validating config/production.yaml as $APP_USER"
    (( DRY_RUN )) && { echo "+ (cd $APP_DIR && runuser -u $APP_USER -- .venv/bin/python" \
        "futures_price_collector_v5.py --config=./config/production.yaml --validate-config)"; return; }
    if ! (cd "$APP_DIR" && runuser -u "$APP_USER" -- .venv/bin/python futures_price_collector_v5.py \
            --config=./config/production.yaml --validate-config); then
        say "warning: the config does not validate; edit $APP_DIR/config/production.yaml or $APP_DIR/.env"
        say "the service will refuse to start until it does (ExecStartPre runs the same check)"
        return 1
    fi
}

start_or_hint() {
    if (( START )); then
        run systemctl restart "$UNIT_NAME"
    elif command -v systemctl >/dev/null && systemctl is-active --quiet "$UNIT_NAME" 2>/dev/null; then
        say "running the old version: systemctl restart $UNIT_NAME"
    else
        say "start it: systemctl start $UNIT_NAME; follow it: journalctl -u ${UNIT_NAME%.service} -f"
    fi
}

main() {
    parse_args "$@"
    preflight
    create_user
    create_directories
    copy_project
    install_operator_files
    create_venv
    install_unit
    local config_ok=1
    check_config || config_ok=0
    if (( config_ok )); then start_or_hint; fi
    say "done"
}

main "$@"
