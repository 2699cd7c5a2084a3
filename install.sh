#!/bin/sh
# Installs dwf: downloads the release binary for this machine, verifies it against the
# release's SHA256SUMS and moves it into place atomically; or builds it from a checkout.
#
#   curl -fsSL <release>/install.sh | sh            latest release
#   curl -fsSL <release>/install.sh | DWF_VERSION=1.2.0 sh
#   sh install.sh --from-source                     build this checkout with bun
#
# Environment:
#   DWF_VERSION        release to install (default: latest)
#   DWF_INSTALL_DIR    where to put dwf (default: ~/.local/bin)
#   DWF_REPO           GitHub owner/name releases come from (default: set by the release)
#   DWF_DOWNLOAD_BASE  mirror laid out as <base>/v<version>/<asset> and <base>/latest/<asset>
set -eu

# The release workflow replaces the placeholder with package.json's repository.
DWF_REPO_DEFAULT="__DWF_REPOSITORY__"

SUPPORTED="linux-x64, linux-arm64, darwin-x64, darwin-arm64"
tmp=""

say() { printf '%s\n' "$*" >&2; }
die() {
  printf 'dwf install: error: %s\n' "$1" >&2
  if [ $# -gt 1 ]; then printf '  %s\n' "$2" >&2; fi
  exit 1
}
cleanup() { if [ -n "$tmp" ]; then rm -rf "$tmp"; fi; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

usage() {
  cat <<'EOF'
Usage: install.sh [--from-source] [--help]

Installs dwf into $DWF_INSTALL_DIR (default ~/.local/bin).
  --from-source   build the checkout this script sits in with bun (installed via npm if missing)
Environment: DWF_VERSION, DWF_INSTALL_DIR, DWF_REPO, DWF_DOWNLOAD_BASE
EOF
}

# The checkout this script belongs to, if any: next to the script, else the current dir.
checkout_dir() {
  case "$0" in
    */*) d=$(cd "$(dirname "$0")" && pwd) ;;
    *) d="" ;;
  esac
  if [ -n "$d" ] && [ -f "$d/package.json" ] && [ -f "$d/scripts/build.ts" ]; then
    printf '%s\n' "$d"
  elif [ -f ./package.json ] && [ -f ./scripts/build.ts ]; then
    pwd
  fi
}

# owner/name from package.json's repository URL.
repo_from_package_json() {
  sed -n 's#.*github\.com[/:]\([A-Za-z0-9_.-]*/[A-Za-z0-9_.-]*\)".*#\1#p' "$1/package.json" | head -n 1 | sed 's#\.git$##'
}

resolve_repo() {
  if [ -n "${DWF_REPO:-}" ]; then
    printf '%s\n' "$DWF_REPO"
    return
  fi
  case "$DWF_REPO_DEFAULT" in
    __*__)
      src=$(checkout_dir)
      if [ -n "$src" ]; then repo_from_package_json "$src"; fi
      ;;
    *) printf '%s\n' "$DWF_REPO_DEFAULT" ;;
  esac
}

install_dir() {
  if [ -n "${DWF_INSTALL_DIR:-}" ]; then
    printf '%s\n' "$DWF_INSTALL_DIR"
  elif [ -n "${HOME:-}" ]; then
    printf '%s\n' "$HOME/.local/bin"
  else
    die "neither DWF_INSTALL_DIR nor HOME is set." "Set DWF_INSTALL_DIR to the directory dwf should go to."
  fi
}

# Run a command, killing it after 20 s: a broken binary must not hang the install.
run_bounded() {
  if command -v timeout >/dev/null 2>&1; then
    timeout -s KILL 20 "$@"
  else
    "$@" &
    rb_pid=$!
    (sleep 20 && kill -9 "$rb_pid" 2>/dev/null) >/dev/null 2>&1 &
    rb_timer=$!
    rb_status=0
    wait "$rb_pid" || rb_status=$?
    kill "$rb_timer" 2>/dev/null || true
    return "$rb_status"
  fi
}

# Copy $1 into $2/dwf under a temporary name, prove it runs (and reports version $3 when
# given), then rename: a running dwf keeps its old inode, and a failure leaves the old
# binary as it was.
place_binary() {
  src_bin=$1
  dir=$2
  want=${3:-}
  mkdir -p "$dir" || die "cannot create $dir." "Set DWF_INSTALL_DIR to a directory you can write to."
  [ -w "$dir" ] || die "$dir is not writable." "Set DWF_INSTALL_DIR to a directory you can write to."
  staged="$dir/.dwf.install.$$"
  cp "$src_bin" "$staged" || { rm -f "$staged"; die "could not write $staged."; }
  chmod 755 "$staged"
  if ! version=$(run_bounded "$staged" --version 2>&1); then
    rm -f "$staged"
    die "the new dwf does not run on this machine: $version" "Nothing was installed."
  fi
  case "$version" in
    "dwf "*) ;;
    *)
      rm -f "$staged"
      die "the new dwf answered --version with '$version', not 'dwf <version>'." "Nothing was installed."
      ;;
  esac
  if [ -n "$want" ] && [ "$version" != "dwf $want" ]; then
    rm -f "$staged"
    die "release v$want holds a dwf that reports '$version'." "Nothing was installed; the release is broken or the download was tampered with."
  fi
  mv -f "$staged" "$dir/dwf" || { rm -f "$staged"; die "could not move the new dwf into $dir."; }
  say "installed $version to $dir/dwf"
  case ":${PATH:-}:" in
    *":$dir:"*) ;;
    *)
      say ""
      say "$dir is not on your PATH. Add it, e.g. in ~/.profile:"
      say "  export PATH=\"$dir:\$PATH\""
      ;;
  esac
}

detect_target() {
  os=$(uname -s)
  arch=$(uname -m)
  case "$os" in
    Linux) t_os=linux ;;
    Darwin) t_os=darwin ;;
    *) t_os="" ;;
  esac
  case "$arch" in
    x86_64 | amd64) t_arch=x64 ;;
    aarch64 | arm64) t_arch=arm64 ;;
    *) t_arch="" ;;
  esac
  if [ -z "$t_os" ] || [ -z "$t_arch" ]; then
    die "no dwf release for this platform (uname -s: $os, uname -m: $arch); releases exist for $SUPPORTED." "Build from a checkout instead: sh install.sh --from-source"
  fi
  # An x64 shell under Rosetta 2 on Apple silicon: the arm64 build runs natively.
  if [ "$t_os" = darwin ] && [ "$t_arch" = x64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]; then
    t_arch=arm64
  fi
  suffix=""
  if [ "$t_os" = linux ] && [ "$t_arch" = x64 ] && [ -r /proc/cpuinfo ] && ! grep '^flags' /proc/cpuinfo | grep -qw avx2; then
    suffix="-baseline"
  fi
  printf '%s\n' "$t_os-$t_arch$suffix"
}

# fetch URL FILE: download with curl or wget; on failure report the HTTP status if known.
# Sets fetched_url to where the download ended up after redirects (a "latest" URL lands
# on the tagged one), when the tool says so.
fetch() {
  fetched_url=$1
  if command -v curl >/dev/null 2>&1; then
    got=$(curl -sSL --retry 2 -o "$2" -w '%{http_code} %{url_effective}' "$1" 2>"$tmp/fetch.err") || got=${got:-000}
    code=${got%% *}
    if [ "$code" = 200 ]; then
      fetched_url=${got#* }
      return 0
    fi
    fetch_failed "$1" "$code"
  elif command -v wget >/dev/null 2>&1; then
    if wget -q -S -O "$2" "$1" 2>"$tmp/fetch.err"; then
      loc=$(sed -n 's#^ *[Ll]ocation: *\([^ ]*\).*#\1#p' "$tmp/fetch.err" | tail -n 1)
      loc=${loc%"$(printf '\r')"}
      if [ -n "$loc" ]; then fetched_url=$loc; fi
      return 0
    fi
    code=$(sed -n 's#^ *HTTP/[0-9.]* \([0-9][0-9]*\).*#\1#p' "$tmp/fetch.err" | tail -n 1)
    fetch_failed "$1" "${code:-000}"
  else
    die "neither curl nor wget is installed." "Install one of them and run this script again."
  fi
}

fetch_failed() {
  case "$2" in
    404) die "not found: $1 (HTTP 404)." "$release_hint" ;;
    000) die "could not download $1: $(head -n 1 "$tmp/fetch.err" 2>/dev/null)" "Check the network connection, or set DWF_DOWNLOAD_BASE to a reachable mirror." ;;
    *) die "could not download $1 (HTTP $2)." "$release_hint" ;;
  esac
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  else
    die "neither sha256sum nor shasum is installed, so the download cannot be verified." "Install coreutils (sha256sum) or perl (shasum) and run this script again."
  fi
}

install_release() {
  dest=$(install_dir)
  target=$(detect_target)
  asset="dwf-$target.tar.gz"
  version=${DWF_VERSION:-latest}
  case "$version" in
    latest) tag=latest ;;
    v*) tag=$version ;;
    *) tag="v$version" ;;
  esac
  repo=$(resolve_repo)
  if [ -n "${DWF_DOWNLOAD_BASE:-}" ]; then
    base=${DWF_DOWNLOAD_BASE%/}
    url_dir="$base/$tag"
    release_hint="DWF_DOWNLOAD_BASE is $base; check that it holds $tag/SHA256SUMS and $tag/$asset."
  else
    [ -n "$repo" ] || die "this install.sh does not know which repository releases come from." "Set DWF_REPO=owner/name, or use the install.sh attached to a release."
    if [ "$tag" = latest ]; then
      url_dir="https://github.com/$repo/releases/latest/download"
    else
      url_dir="https://github.com/$repo/releases/download/$tag"
    fi
    release_hint="Releases are listed at https://github.com/$repo/releases (DWF_VERSION picks one)."
  fi

  tmp=$(mktemp -d 2>/dev/null || mktemp -d -t dwf-install)
  say "downloading $url_dir/$asset"
  fetch "$url_dir/SHA256SUMS" "$tmp/SHA256SUMS"
  # The version the binary must report: the one asked for, else the one "latest" led to.
  if [ "$tag" = latest ]; then
    want=$(printf '%s\n' "$fetched_url" | sed -n 's#.*/v\([0-9][^/]*\)/[^/]*$#\1#p')
  else
    want=${tag#v}
  fi
  # The asset's lines, read the way `dwf upgrade` reads them: one digest, or an error.
  expected=$(awk -v f="$asset" '
    { sub(/\r$/, "") }
    $2 == f || $2 == "*" f {
      if (NF != 2 || length($1) != 64 || $1 !~ /^[0-9a-fA-F]+$/) { bad = 1; next }
      h = tolower($1)
      if (!(h in seen)) { seen[h] = 1; n++; digest = h }
    }
    END { if (bad) print "malformed"; else if (n > 1) print "ambiguous"; else if (n == 1) print digest }' "$tmp/SHA256SUMS")
  case "$expected" in
    "") die "SHA256SUMS of $tag has no entry for $asset." "Nothing was installed." ;;
    malformed) die "SHA256SUMS of $tag has a malformed line for $asset." "Nothing was installed." ;;
    ambiguous) die "SHA256SUMS of $tag lists $asset more than once with different checksums." "Nothing was installed; the release is broken or was tampered with." ;;
  esac
  fetch "$url_dir/$asset" "$tmp/$asset"
  actual=$(sha256_of "$tmp/$asset")
  if [ "$expected" != "$actual" ]; then
    die "checksum mismatch for $asset: expected $expected, got $actual." "Nothing was installed; the download may be corrupt or tampered with."
  fi

  mkdir "$tmp/x"
  tar -xzf "$tmp/$asset" -C "$tmp/x" dwf 2>"$tmp/tar.err" || die "could not unpack $asset: $(head -n 1 "$tmp/tar.err")" "Nothing was installed."
  if [ ! -f "$tmp/x/dwf" ] || [ -h "$tmp/x/dwf" ]; then
    die "$asset holds no regular file 'dwf'." "Nothing was installed."
  fi
  place_binary "$tmp/x/dwf" "$dest" "$want"
}

install_from_source() {
  src=$(checkout_dir)
  [ -n "$src" ] || die "--from-source needs a dwf checkout, and none was found next to this script or in $(pwd)." "Clone the repository and run: sh install.sh --from-source"
  if ! command -v bun >/dev/null 2>&1; then
    # bun is one of the checkout's devDependencies: npm puts it into the checkout's own
    # node_modules, which needs no write access outside the checkout (no root, no global prefix).
    if [ ! -x "$src/node_modules/.bin/bun" ] || ! "$src/node_modules/.bin/bun" --version >/dev/null 2>&1; then
      command -v npm >/dev/null 2>&1 || die "building from source needs bun, and npm (to install it) is missing too." "Install Node.js and npm, or bun, and run this script again."
      say "bun not found; installing the checkout's dependencies (bun among them) with: npm install"
      (cd "$src" && npm install >&2) || die "npm install failed in $src." "Install bun yourself (it only has to be on PATH) and run this script again."
    fi
    [ -x "$src/node_modules/.bin/bun" ] || die "npm install did not provide bun in $src/node_modules/.bin." "Install bun yourself (it only has to be on PATH) and run this script again."
    PATH="$src/node_modules/.bin:$PATH"
    say "using bun from $src/node_modules/.bin"
  fi
  say "building dwf in $src"
  (cd "$src" && bun install >&2 && bun run scripts/build.ts >&2) || die "the build failed (see above)." "Nothing was installed."
  dest=$(install_dir)
  place_binary "$src/dist/dwf" "$dest"
}

mode=release
for arg in "$@"; do
  case "$arg" in
    --from-source) mode=source ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$arg'." "See the usage above." ;;
  esac
done

if [ "$mode" = source ]; then install_from_source; else install_release; fi
