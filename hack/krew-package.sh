#!/usr/bin/env bash
# kubectl cri-migrate for krew: builds the plugin archive from this tree and the manifest for it.
#   OUT/cri-migrate-VERSION.tar.gz  package/{bin,dist,playbooks,node_modules,package.json,LICENSE}:
#                                   `npm pack` of the compiled tree plus `npm ci --omit=dev`
#   OUT/cri-migrate.yaml            plugins/cri-migrate.yaml with the archive's uri and sha256
# Usage: krew-package.sh [--out DIR] [--base-url URL]
#   DIR defaults to out/krew. URL is where the archive will be downloaded from (the manifest's uri
#   is URL/cri-migrate-VERSION.tar.gz); without it the uri is the local file, for
#   `kubectl krew install --manifest=OUT/cri-migrate.yaml --archive=OUT/cri-migrate-VERSION.tar.gz`.
# The archive is reproducible for a given tree and package-lock.json: names sorted, times, owners
# and modes normalised, gzip without a timestamp.
source "$(dirname "$0")/lib.sh"

out=$REPO_DIR/out/krew base_url=""
while (($#)); do
  case $1 in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --base-url) base_url=${2:?--base-url needs a URL}; shift 2 ;;
    *) die "usage: krew-package.sh [--out DIR] [--base-url URL]" ;;
  esac
done
version=$(jq -r .version "$REPO_DIR/package.json")
manifest="$REPO_DIR/plugins/cri-migrate.yaml"
grep -qx "  version: v$version" "$manifest" || die "plugins/cri-migrate.yaml: spec.version is not v$version (package.json's version)"
[[ -x $REPO_DIR/node_modules/.bin/tsc ]] || die "run npm ci first (the archive is compiled with this tree's TypeScript)"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# The tree as npm would publish it, compiled apart from the work tree's dist/.
mkdir -p "$stage/tree"
# Not README.md (npm pack would add it): the archive changes only with what it runs.
cp -r "$REPO_DIR"/{package.json,package-lock.json,tsconfig.json,LICENSE,src,bin,playbooks} "$stage/tree/"
ln -s "$REPO_DIR/node_modules" "$stage/tree/node_modules"
(cd "$stage/tree" && ./node_modules/.bin/tsc -p . && npm pack --silent --pack-destination "$stage" >/dev/null)
tar -xzf "$stage/cri-migrator-$version.tgz" -C "$stage"
# Production dependencies only, without install scripts and optional packages (ssh2's native
# crypto and cpu-features; ssh2 falls back to JavaScript): one archive for every platform.
cp "$REPO_DIR/package-lock.json" "$stage/package/"
(cd "$stage/package" && npm ci --omit=dev --omit=optional --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
# krew's extractor handles regular files and directories only: no symlinks (node_modules/.bin
# holds nothing but links to the packages' command-line tools, unused by the plugin).
rm -r "$stage/package/package-lock.json" "$stage/package/node_modules/.bin"
links=$(find "$stage/package" -type l | head -3)
[[ -z $links ]] || die "symlinks in the archive (krew cannot unpack them): $links"
native=$(find "$stage/package" -name '*.node' | head -3)
[[ -z $native ]] || die "native addons in the archive (it would not run on every platform): $native"

mkdir -p "$out"
archive="$out/cri-migrate-$version.tar.gz"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=a+rX,u+w,go-w \
  -C "$stage" -cf - package | gzip -9n > "$archive"
sha=$(sha256sum "$archive" | cut -d' ' -f1)
uri=${base_url:+${base_url%/}/$(basename "$archive")}
uri=${uri:-file://$(cd "$out" && pwd)/$(basename "$archive")}
sed -e "s|\"@ARCHIVE_URI@\"|$uri|" -e "s|\"@ARCHIVE_SHA256@\"|$sha|" "$manifest" > "$out/cri-migrate.yaml"
log "$archive ($(du -h "$archive" | cut -f1), sha256 $sha)"
echo "$out/cri-migrate.yaml"
echo "$archive"
