#!/usr/bin/env bash
# Builds the kind node image secretfed/kind-node:v1.37.2 offline (nothing can be pulled on the
# project's machines; see hack/kind/README.md for why and what is in it):
#
#   [kind-node 1/7] rootfs      debootstrap Debian bookworm: systemd, containerd, runc, iptables, ...
#   [kind-node 2/7] kubernetes  one `go build` of kubelet, kubeadm, kubectl, kube-apiserver,
#                               kube-controller-manager, kube-scheduler, kube-proxy and a pause program
#                               (module hack/kind/node, pinned to k8s.io/kubernetes v1.37.2)
#   [kind-node 3/7] etcd        bin/etcd from hack/build-tools.sh (go.etcd.io/etcd/server/v3 v3.7.0)
#   [kind-node 4/7] cni         bridge, host-local, portmap, loopback (github.com/containernetworking/plugins)
#   [kind-node 5/7] images      one image per control-plane component, tagged as kubeadm lists them
#   [kind-node 6/7] assemble    rootfs + kind's node files + binaries; images preloaded into containerd
#   [kind-node 7/7] import      docker import, labelled with the hash of all inputs
#
# Every step keeps its output under _output/kind-node (git-ignored) with a stamp naming its inputs,
# and is skipped when the stamp matches. The whole build is skipped when an image labelled with the
# same input hash exists. A cold build takes tens of minutes (the Kubernetes commands dominate).
#
# Usage: hack/kind/build-node-image.sh [--force] [--print-hash]
# Env:   KIND_NODE_IMAGE (default secretfed/kind-node:v1.37.2), KIND_NODE_DIR (default _output/kind-node),
#        KIND_NODE_GOFLAGS (extra go build flags, e.g. -p=1 when memory is short),
#        DEBIAN_MIRROR (default http://deb.debian.org/debian), DOCKER (default docker),
#        KIND_NODE_ONLY=<step> runs that step alone (rootfs, kubernetes, etcd, cni, images, assemble).
# Logs:  _output/kind-node/logs/<step>.log
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"

IMAGE=${KIND_NODE_IMAGE:-secretfed/kind-node:v1.37.2}
OUT=${KIND_NODE_DIR:-$REPO/_output/kind-node}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOGS=$OUT/logs
DOCKER=${DOCKER:-docker}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
NODE_MOD=$REPO/hack/kind/node
SUITE=bookworm
N=7

# The Debian packages kind's node needs (kind v0.33 images/base/Dockerfile, less what only its
# storage e2e tests use): systemd as init, the container runtime, what kubelet and kube-proxy
# call, and what kind's entrypoint and `kind load` call.
PACKAGES=(
	systemd systemd-sysv dbus
	containerd runc
	conntrack iptables nftables iproute2 ethtool socat util-linux mount kmod
	libseccomp2 pigz fuse-overlayfs
	bash ca-certificates jq procps e2fsprogs
)

# Kubernetes version and the images kubeadm v1.37.2 expects (`kubeadm config images list
# --kubernetes-version v1.37.2`); the assemble step checks this list against the built kubeadm.
K8S_VERSION=v1.37.2
PAUSE_TAG=registry.k8s.io/pause:3.10.2
ETCD_TAG=registry.k8s.io/etcd:3.7.0-0
CNI_MODULE=github.com/containernetworking/plugins
CNI_VERSION=v1.10.0
CNI_PLUGINS=(main/bridge ipam/host-local meta/portmap main/loopback)
KUBE_CMDS=(kubelet kubeadm kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)

FORCE=0
PRINT_HASH=0
for a in "$@"; do
	case $a in
	--force) FORCE=1 ;;
	--print-hash) PRINT_HASH=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "[kind-node] unknown argument $a (try --help)" >&2
		exit 2
		;;
	esac
done

log() { echo "[kind-node] $*"; }
step() { echo "[kind-node $1/$N] ${*:2}"; }
rel() { echo "${1#"$REPO"/}"; }

# Prints the tail of a step's log and a best guess at the cause, then exits.
fail() {
	local name=$1 logf=$2
	echo "---- last 30 lines of $(rel "$logf") ----" >&2
	tail -n 30 "$logf" >&2 || true
	echo "----" >&2
	local cause="unknown: read the log above"
	if grep -qiE 'signal: killed|out of memory|cannot allocate memory' "$logf"; then
		cause="the compiler was killed (out of memory?): the Kubernetes build peaks ~3 GB; retry with KIND_NODE_GOFLAGS=-p=1 or stop other builds"
	elif grep -qi 'no space left on device' "$logf"; then
		cause="disk full: the build needs ~6 GB in $OUT, the Go caches and Docker's storage"
	elif grep -qiE 'missing go.sum entry|updates to go.mod needed' "$logf"; then
		cause="hack/kind/node/go.mod and go.sum disagree: run (cd hack/kind/node && go mod tidy) and commit both"
	elif grep -qiE 'Failed getting release file|Couldn.t download|Temporary failure resolving|Could not resolve' "$logf"; then
		cause="Debian's mirror ($MIRROR) is unreachable: check the network or set DEBIAN_MIRROR"
	elif grep -qiE 'dial tcp|i/o timeout|proxyconnect|TLS handshake timeout|no such host' "$logf"; then
		cause="the Go module proxy is unreachable (GOPROXY=$(go env GOPROXY))"
	elif grep -qiE 'Cannot connect to the Docker daemon|permission denied.*docker.sock' "$logf"; then
		cause="no Docker engine: this image is for kind, which needs one"
	elif grep -qiE 'debootstrap: (command )?not found' "$logf"; then
		cause="debootstrap is missing: apt-get install debootstrap"
	elif grep -qiE 'requires go >=|toolchain not available' "$logf"; then
		cause="the Go toolchain is older than the module requires (have $(go env GOVERSION))"
	fi
	echo "[kind-node] FAILED at $name: likely cause: $cause" >&2
	exit 1
}

# run NAME CMD...: runs CMD (a command or a function of this script) with set -e in a subshell,
# its output in logs/NAME.log; on failure explains and exits. (Backgrounded and waited for: a
# subshell tested by `||` directly would run with set -e ignored.)
run() {
	local name=$1 logf=$LOGS/$1.log t0=$SECONDS rc=0
	shift
	echo "# $(date -u +%FT%TZ) $*" >"$logf"
	(
		set -e
		"$@"
	) >>"$logf" 2>&1 </dev/null &
	wait $! || rc=$?
	echo "# exit $rc after $((SECONDS - t0)) s" >>"$logf"
	[[ $rc == 0 ]] || fail "$name" "$logf"
}

sha() { sha256sum | cut -c1-64; }
# Hash of files' names and contents (sorted), for stamps.
hash_files() { (cd "$REPO" && for f in "$@"; do echo "== $f" && cat "$f"; done) | sha; }
stamp_ok() { [[ $FORCE == 0 && -f $OUT/stamps/$1 && "$(cat "$OUT/stamps/$1")" == "$2" ]]; }
stamp_set() { echo "$2" >"$OUT/stamps/$1"; }

kind_dir() {
	local v
	v=$(awk '$1 == "sigs.k8s.io/kind" {print $2; exit}' "$REPO/hack/tools/go.mod")
	(cd "$REPO/hack/tools" && GOWORK=off go mod download -json "sigs.k8s.io/kind@$v" | jq -r .Dir)
}

# The inputs of each step. The image's label is the hash of all of them.
GO_VERSION=$(go env GOVERSION)
NODE_FILES=$(cd "$REPO" && find hack/kind/node -type f ! -name '*.md' | LC_ALL=C sort)
rootfs_key() { printf '%s\n' "$SUITE" "$MIRROR" "${PACKAGES[@]}" "rootfs-v1" | sha; }
kube_key() { printf '%s\n' "$GO_VERSION" "$K8S_VERSION" "${KUBE_CMDS[@]}" "${KIND_NODE_GOFLAGS:-}" "$(hash_files hack/kind/node/go.mod hack/kind/node/go.sum hack/kind/node/pause/main.go)" | sha; }
# The etcd version hack/build-tools.sh builds (the pin, not bin/.stamps: the hash is taken before step 3).
etcd_key() { printf '%s\n' "$GO_VERSION" "$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2; exit}' "$REPO/hack/tools/go.mod")" | sha; }
cni_key() { printf '%s\n' "$GO_VERSION" "$CNI_MODULE@$CNI_VERSION" "${CNI_PLUGINS[@]}" | sha; }
inputs_key() {
	# shellcheck disable=SC2046 # NODE_FILES is a list of paths without spaces
	printf '%s\n' "$(rootfs_key)" "$(kube_key)" "$(etcd_key)" "$(cni_key)" "$(kind_dir)" \
		"$(hash_files hack/kind/build-node-image.sh $(echo "$NODE_FILES"))" | sha
}

step_rootfs() {
	local key
	key=$(rootfs_key)
	if stamp_ok rootfs "$key" && [[ -f $OUT/rootfs.tar ]]; then
		step 1 "rootfs is up to date ($(rel "$OUT/rootfs.tar"))"
		return
	fi
	step 1 "debootstrap $SUITE with ${#PACKAGES[@]} packages (cold: ~1-2 min) log: $(rel "$LOGS/rootfs.log")"
	command -v debootstrap >/dev/null || {
		echo "debootstrap: command not found" >"$LOGS/rootfs.log"
		fail rootfs "$LOGS/rootfs.log"
	}
	local t0=$SECONDS dir=$OUT/rootfs.tmp
	rm -rf "$dir" "$OUT/rootfs.tar"
	run rootfs debootstrap --variant=minbase --include="$(
		IFS=,
		echo "${PACKAGES[*]}"
	)" "$SUITE" "$dir" "$MIRROR"
	run rootfs-clean sh -c "rm -rf '$dir'/var/cache/apt/archives/*.deb '$dir'/var/lib/apt/lists/* '$dir'/var/log/* \
		&& tar -C '$dir' --numeric-owner -cf '$OUT/rootfs.tar.tmp' . && mv '$OUT/rootfs.tar.tmp' '$OUT/rootfs.tar' && rm -rf '$dir'"
	stamp_set rootfs "$key"
	step 1 "rootfs done in $((SECONDS - t0)) s ($(du -h "$OUT/rootfs.tar" | cut -f1))"
}

step_kubernetes() {
	local key
	key=$(kube_key)
	if stamp_ok kubernetes "$key" && [[ -x $OUT/bin/kubelet ]]; then
		step 2 "Kubernetes commands are up to date ($(rel "$OUT/bin"))"
		return
	fi
	step 2 "building ${KUBE_CMDS[*]} and pause in one go build (cold: ~13 min on 2 cores) log: $(rel "$LOGS/kubernetes.log")"
	local t0=$SECONDS flags="-s -w" kv major minor pkgs=()
	major=$(echo "$K8S_VERSION" | cut -d. -f1 | tr -d v)
	minor=$(echo "$K8S_VERSION" | cut -d. -f2)
	for kv in "gitVersion=$K8S_VERSION" "gitMajor=$major" "gitMinor=$minor" "gitTreeState=clean" \
		"buildDate=1970-01-01T00:00:00Z"; do
		flags+=" -X k8s.io/component-base/version.${kv%%=*}=${kv#*=} -X k8s.io/client-go/pkg/version.${kv%%=*}=${kv#*=}"
	done
	for c in "${KUBE_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
	rm -rf "$OUT/bin.tmp" && mkdir -p "$OUT/bin.tmp"
	# shellcheck disable=SC2086 # KIND_NODE_GOFLAGS is a list of flags
	run kubernetes env -C "$NODE_MOD" GOWORK=off CGO_ENABLED=0 go build -trimpath ${KIND_NODE_GOFLAGS:-} \
		-ldflags "$flags" -o "$OUT/bin.tmp/" "${pkgs[@]}" ./pause
	rm -rf "$OUT/bin" && mv "$OUT/bin.tmp" "$OUT/bin"
	stamp_set kubernetes "$key"
	step 2 "Kubernetes commands built in $((SECONDS - t0)) s"
}

step_etcd() {
	step 3 "etcd: hack/build-tools.sh etcd (cold: ~1-5 min; skipped when bin/etcd is current) log: _output/logs/build-etcd.log"
	"$REPO/hack/build-tools.sh" etcd | sed 's/^/           /'
}

step_cni() {
	local key
	key=$(cni_key)
	if stamp_ok cni "$key" && [[ -x $OUT/cni/bridge ]]; then
		step 4 "CNI plugins are up to date ($(rel "$OUT/cni"))"
		return
	fi
	step 4 "building CNI plugins ${CNI_PLUGINS[*]##*/} $CNI_VERSION (cold: ~1 min) log: $(rel "$LOGS/cni.log")"
	local t0=$SECONDS pkgs=() p
	for p in "${CNI_PLUGINS[@]}"; do pkgs+=("$CNI_MODULE/plugins/$p@$CNI_VERSION"); done
	rm -rf "$OUT/cni.tmp" && mkdir -p "$OUT/cni.tmp"
	# `go install pkg@version` builds with the plugins' own go.mod, outside any module of ours.
	run cni env -C "$OUT" GOWORK=off GOFLAGS=-trimpath CGO_ENABLED=0 GOBIN="$OUT/cni.tmp" \
		go install -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_VERSION" "${pkgs[@]}"
	rm -rf "$OUT/cni" && mv "$OUT/cni.tmp" "$OUT/cni"
	stamp_set cni "$key"
	step 4 "CNI plugins built in $((SECONDS - t0)) s"
}

# copy_with_libs ROOTFS DEST FILE...: copies FILEs (absolute paths inside ROOTFS) into DEST with the
# shared libraries they load, as ldd inside ROOTFS resolves them.
copy_with_libs() {
	local root=$1 dest=$2 f lib
	shift 2
	for f in "$@"; do
		mkdir -p "$dest$(dirname "$f")"
		cp -a "$root$f" "$dest$f"
		for lib in $(chroot "$root" ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib/{print $1}'); do
			mkdir -p "$dest$(dirname "$lib")"
			[[ -e $dest$lib ]] || cp -aL "$root$lib" "$dest$lib"
		done
	done
}

# make_image TAG DIR [CHANGE...]: a one-layer image from DIR, saved for the assemble step.
make_image() {
	local tag=$1 dir=$2 name
	shift 2
	local changes=(-c 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin')
	for c in "$@"; do changes+=(-c "$c"); done
	name=$(echo "${tag#registry.k8s.io/}" | tr '/:' '__')
	tar -C "$dir" --numeric-owner -cf - . | "$DOCKER" import "${changes[@]}" - "$tag" >/dev/null
	"$DOCKER" save -o "$OUT/images/$name.tar" "$tag"
	"$DOCKER" rmi "$tag" >/dev/null
}

build_images() {
	local work=$OUT/images.work c root=$OUT/images.rootfs
	rm -rf "$work" "$root" "$OUT/images" && mkdir -p "$work" "$root" "$OUT/images"
	tar -C "$root" -xf "$OUT/rootfs.tar"
	for c in kube-apiserver kube-controller-manager kube-scheduler; do
		mkdir -p "$work/$c/usr/local/bin" "$work/$c/tmp"
		cp "$OUT/bin/$c" "$work/$c/usr/local/bin/"
		make_image "registry.k8s.io/$c:$K8S_VERSION" "$work/$c" "ENTRYPOINT [\"/usr/local/bin/$c\"]"
	done
	# kube-proxy programs iptables: Debian's iptables (nft and legacy backends) with its libraries,
	# and the iptables-wrapper logic that picks the backend the node already uses.
	local p=$work/kube-proxy
	mkdir -p "$p/usr/local/bin" "$p/tmp" "$p/run" "$p/var/run" "$p/etc"
	cp "$OUT/bin/kube-proxy" "$p/usr/local/bin/"
	copy_with_libs "$root" "$p" /usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi /usr/bin/dash
	ln -sf dash "$p/usr/bin/sh"
	ln -sfn usr/bin "$p/bin"
	mkdir -p "$p/usr/lib/x86_64-linux-gnu"
	cp -a "$root/usr/lib/x86_64-linux-gnu/xtables" "$p/usr/lib/x86_64-linux-gnu/"
	for so in "$p"/usr/lib/x86_64-linux-gnu/xtables/*.so; do
		copy_with_libs "$root" "$p" "${so#"$p"}" 2>/dev/null || true
	done
	cp -a "$root/etc/ethertypes" "$root/etc/protocols" "$root/etc/services" "$p/etc/" 2>/dev/null || true
	[[ -e $root/lib64 && ! -e $p/lib64 ]] && cp -a "$root/lib64" "$p/lib64"
	install -m 0755 "$NODE_MOD/images/iptables-wrapper" "$p/usr/sbin/iptables-wrapper"
	for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
		ln -sf iptables-wrapper "$p/usr/sbin/$t"
		ln -sf xtables-nft-multi "$p/usr/sbin/${t/tables/tables-nft}"
		ln -sf xtables-legacy-multi "$p/usr/sbin/${t/tables/tables-legacy}"
	done
	make_image "registry.k8s.io/kube-proxy:$K8S_VERSION" "$p" 'ENTRYPOINT ["/usr/local/bin/kube-proxy"]'
	# etcd: kubeadm's manifest runs `etcd <flags>` and probes /livez and /readyz on 2381.
	mkdir -p "$work/etcd/usr/local/bin" "$work/etcd/tmp" "$work/etcd/var/lib/etcd"
	cp "$REPO/bin/etcd" "$work/etcd/usr/local/bin/etcd"
	make_image "$ETCD_TAG" "$work/etcd" 'ENTRYPOINT ["/usr/local/bin/etcd"]'
	mkdir -p "$work/pause"
	cp "$OUT/bin/pause" "$work/pause/pause"
	make_image "$PAUSE_TAG" "$work/pause" 'ENTRYPOINT ["/pause"]' 'USER 65535:65535'
	rm -rf "$work" "$root"
}

step_images() {
	local key
	key=$(printf '%s\n' "$(rootfs_key)" "$(kube_key)" "$(etcd_key)" "$(hash_files hack/kind/build-node-image.sh hack/kind/node/images/iptables-wrapper)" | sha)
	if stamp_ok images "$key" && [[ -d $OUT/images ]]; then
		step 5 "control-plane images are up to date ($(rel "$OUT/images"))"
		return
	fi
	step 5 "making the control-plane images (kube-apiserver, -controller-manager, -scheduler, -proxy, etcd, pause) log: $(rel "$LOGS/images.log")"
	local t0=$SECONDS
	run images build_images
	stamp_set images "$key"
	step 5 "images made in $((SECONDS - t0)) s"
}

# preload ROOTFS: imports the saved images into ROOTFS's containerd store (namespace k8s.io, as the
# CRI plugin reads it), running the rootfs's own containerd in a chroot without its CRI plugin.
preload() {
	local root=$1 sock=/run/kind-node-preload.sock pid i
	mkdir -p "$root/proc" "$root/dev" "$root/run" "$root/tmp"
	mount -t proc proc "$root/proc"
	mount --bind /dev "$root/dev"
	mount -t tmpfs tmpfs "$root/run"
	cat >"$root/tmp/preload.toml" <<-EOF
		version = 2
		disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
		[grpc]
		  address = "$sock"
	EOF
	chroot "$root" containerd --config /tmp/preload.toml >"$LOGS/preload-containerd.log" 2>&1 &
	pid=$!
	# shellcheck disable=SC2064 # expand now: these are the paths of this call
	trap "kill $pid 2>/dev/null; wait $pid 2>/dev/null; umount '$root/run' '$root/dev' '$root/proc' 2>/dev/null" RETURN
	for i in $(seq 1 100); do
		chroot "$root" ctr -a "$sock" version >/dev/null 2>&1 && break
		[[ $i == 100 ]] && {
			echo "containerd did not start: $(tail -5 "$LOGS/preload-containerd.log")"
			return 1
		}
		sleep 0.1
	done
	for t in "$OUT"/images/*.tar; do
		cp "$t" "$root/tmp/image.tar"
		chroot "$root" ctr -a "$sock" -n k8s.io images import --no-unpack --all-platforms /tmp/image.tar
		rm -f "$root/tmp/image.tar"
	done
	chroot "$root" ctr -a "$sock" -n k8s.io images ls -q
}

assemble() {
	local root=$OUT/node.rootfs kind f
	rm -rf "$root" && mkdir -p "$root"
	tar -C "$root" -xf "$OUT/rootfs.tar"
	kind=$(kind_dir)
	# kind's own node files (entrypoint, systemd units, sysctls, containerd config, /kind/bin scripts).
	cp -a "$kind/images/base/files/." "$root/"
	chmod -R u+w "$root/kind" "$root/etc" "$root/usr/local/bin" "$root/LICENSES"
	chmod 0755 "$root/usr/local/bin/"* "$root/kind/bin/"*
	# Ours on top: a containerd 1.6 config, the bridge CNI, the entrypoint wrapper, kind's manifests.
	cp -a "$NODE_MOD/rootfs/." "$root/"
	chmod 0755 "$root/usr/local/bin/secretfed-node-entrypoint"
	# kind's containerd config, with the pause image this Kubernetes version's kubeadm lists.
	sed -i "s|sandbox_image = .*|sandbox_image = \"$PAUSE_TAG\"|" "$root/etc/containerd/config.toml"
	grep -q "sandbox_image = \"$PAUSE_TAG\"" "$root/etc/containerd/config.toml"
	# Debian's packages install containerd and runc in /usr/bin and /usr/sbin; kind's unit expects /usr/local/bin.
	ln -sf /usr/bin/containerd "$root/usr/local/bin/containerd"
	install -m 0755 "$OUT"/bin/{kubelet,kubeadm,kubectl} "$root/usr/bin/"
	mkdir -p "$root/opt/cni/bin" "$root/etc/kubernetes/manifests" "$root/var/lib/kubelet"
	install -m 0755 "$OUT"/cni/* "$root/opt/cni/bin/"
	echo "$K8S_VERSION" >"$root/kind/version"
	# What kind's Dockerfile does after installing packages.
	find "$root/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
	rm -f "$root"/lib/systemd/system/multi-user.target.wants/* "$root"/etc/systemd/system/*.wants/* \
		"$root"/lib/systemd/system/local-fs.target.wants/* "$root"/lib/systemd/system/sockets.target.wants/*udev* \
		"$root"/lib/systemd/system/sockets.target.wants/*initctl* "$root"/lib/systemd/system/basic.target.wants/*
	echo "ReadKMsg=no" >>"$root/etc/systemd/journald.conf"
	ln -sf /usr/lib/systemd/systemd "$root/sbin/init"
	chroot "$root" systemctl enable kubelet.service containerd.service undo-mount-hacks.service
	chroot "$root" systemctl mask systemd-binfmt.service
	# kind's containerd config asks for a base OCI spec with its product-files hook.
	chroot "$root" ctr oci spec |
		jq '.hooks.createContainer = [{"path": "/kind/bin/mount-product-files.sh"}]' >"$root/etc/containerd/cri-base.json"
	rm -f "$root/etc/machine-id" && touch "$root/etc/machine-id"
	# The images kubeadm will ask for must be exactly those preloaded.
	local want have
	want=$(chroot "$root" kubeadm config images list --kubernetes-version "$K8S_VERSION" 2>/dev/null | grep -v coredns | sort)
	preload "$root" | tee "$OUT/preloaded.txt"
	have=$(grep -v '^sha256:' "$OUT/preloaded.txt" | sort)
	if [[ $want != "$have" ]]; then
		echo "preloaded images differ from kubeadm config images list (less coredns):"
		diff <(echo "$want") <(echo "$have") || true
		return 1
	fi
	tar -C "$root" --numeric-owner -cf "$OUT/node.tar.tmp" . && mv "$OUT/node.tar.tmp" "$OUT/node.tar"
	rm -rf "$root"
}

step_assemble() {
	step 6 "assembling the node rootfs and preloading the images into its containerd log: $(rel "$LOGS/assemble.log")"
	local t0=$SECONDS
	run assemble assemble
	step 6 "assembled in $((SECONDS - t0)) s ($(du -h "$OUT/node.tar" | cut -f1))"
}

step_import() {
	local hash=$1 t0=$SECONDS
	step 7 "docker import -> $IMAGE log: $(rel "$LOGS/import.log")"
	# kind runs the node with `--entrypoint`-less `docker run <image>`: ENTRYPOINT and CMD come from here.
	run import "$DOCKER" import \
		-c 'ENTRYPOINT ["/usr/local/bin/secretfed-node-entrypoint", "/usr/local/bin/entrypoint", "/sbin/init"]' \
		-c 'ENV container=docker' \
		-c "LABEL io.secretfed.kind.cni=bridge" \
		-c "LABEL io.secretfed.kind.skip-phases=addon/coredns" \
		-c "LABEL io.secretfed.kind.inputs=$hash" \
		-c "LABEL org.opencontainers.image.source=https://github.com/secretfed/secretfed" \
		"$OUT/node.tar" "$IMAGE"
	# Earlier builds' hash tags would keep their ~1 GB images alive.
	"$DOCKER" images --format '{{.Repository}}:{{.Tag}}' "${IMAGE%:*}" | grep ":inputs-" | xargs -r "$DOCKER" rmi >/dev/null 2>&1 || true
	"$DOCKER" tag "$IMAGE" "${IMAGE%:*}:inputs-${hash:0:12}"
	rm -f "$OUT/node.tar"
	step 7 "imported in $((SECONDS - t0)) s"
}

main() {
	mkdir -p "$LOGS" "$OUT/stamps"
	command -v "$DOCKER" >/dev/null || {
		echo "[kind-node] $DOCKER not found: the node image is for kind, which needs a Docker engine" >&2
		exit 1
	}
	[[ $(id -u) == 0 ]] || {
		echo "[kind-node] run as root: debootstrap, chroot and the preload's mounts need it" >&2
		exit 1
	}
	# What the build calls that a fresh machine of this kind may lack, from Debian's packages.
	local -a need=()
	command -v debootstrap >/dev/null || need+=(debootstrap)
	command -v jq >/dev/null || need+=(jq)
	if ((${#need[@]})); then
		if command -v apt-get >/dev/null; then
			log "installing ${need[*]} from Debian's packages (log: $(rel "$LOGS/apt.log"))"
			run apt bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${need[*]}"
		else
			echo "[kind-node] ${need[*]} missing and no apt-get to install them: install them and retry" >&2
			exit 1
		fi
	fi
	if [[ -n ${KIND_NODE_ONLY:-} ]]; then
		# One step, for debugging or to warm a step's cache (e.g. KIND_NODE_ONLY=rootfs).
		"step_$KIND_NODE_ONLY"
		return
	fi
	local hash t0=$SECONDS
	hash=$(inputs_key)
	if [[ $PRINT_HASH == 1 ]]; then
		echo "$hash"
		return
	fi
	local have
	have=$("$DOCKER" image inspect -f '{{index .Config.Labels "io.secretfed.kind.inputs"}}' "$IMAGE" 2>/dev/null || true)
	if [[ $FORCE == 0 && $have == "$hash" ]]; then
		log "$IMAGE is up to date (inputs ${hash:0:12}): nothing to build"
		return
	fi
	log "building $IMAGE (inputs ${hash:0:12}${have:+, the existing image has ${have:0:12}}); logs in $(rel "$LOGS")"
	step_rootfs
	step_kubernetes
	step_etcd
	step_cni
	step_images
	step_assemble
	step_import "$hash"
	log "done in $((SECONDS - t0)) s: $IMAGE ($("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MiB", $1/1048576}'))"
}

main
