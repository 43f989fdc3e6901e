# Certificates for the local test bed, made with openssl. Source it; do not run it.
# shellcheck shell=bash
#
# certs::generate DIR MEMBERS creates (each file only if missing; everything again if a CA is missing):
#   ca.{crt,key}                  cluster CA: signs every kube-apiserver serving cert, the admin client certs,
#                                 secretfed's serving and client certs (one CA, so one CA file verifies all)
#   front-proxy-ca.{crt,key}      separate CA for the aggregation layer's request-header authentication
#   front-proxy-client.{crt,key}  CN=front-proxy-client (the host kube-apiserver's proxy client cert)
#   apiserver-<c>.{crt,key}       serving cert of cluster c (host, member1, ...): SANs 127.0.0.1, localhost, ::1
#   admin-<c>.{crt,key}           CN=admin, O=system:masters, one per cluster
#   sa-<c>.{key,pub}              service-account signing key pair, one per cluster (tokens do not cross clusters)
#   secretfed-serving.{crt,key}   SANs secretfed-apiserver.secretfed-system.svc(.cluster.local), localhost, 127.0.0.1
#   secretfed-client.{crt,key}    CN=secretfed-apiserver: secretfed's own identity in the host cluster
# Keys are ECDSA P-256 (fast to make; accepted everywhere in Kubernetes, ES256 for service-account tokens).

CERT_DAYS=${CERT_DAYS:-3650}

certs::_key() {
	[[ -f $1 ]] && return 0
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
	chmod 600 "$1"
}

# certs::_ca DIR NAME CN
certs::_ca() {
	local dir=$1 name=$2 cn=$3
	[[ -f $dir/$name.crt && -f $dir/$name.key ]] && return 0
	certs::_key "$dir/$name.key"
	openssl req -x509 -new -key "$dir/$name.key" -sha256 -days "$CERT_DAYS" -subj "/CN=$cn" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
		-out "$dir/$name.crt" 2>/dev/null
}

# certs::_leaf DIR NAME CA SUBJECT EKU [SANS]
certs::_leaf() {
	local dir=$1 name=$2 ca=$3 subj=$4 eku=$5 sans=${6:-}
	[[ -f $dir/$name.crt && -f $dir/$name.key ]] && return 0
	certs::_key "$dir/$name.key"
	local ext
	ext=$(mktemp)
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=$eku"
		echo "subjectKeyIdentifier=hash"
		echo "authorityKeyIdentifier=keyid"
		[[ -n $sans ]] && echo "subjectAltName=$sans"
	} >"$ext"
	openssl req -new -key "$dir/$name.key" -subj "$subj" 2>/dev/null |
		openssl x509 -req -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" -CAcreateserial -sha256 \
			-days "$CERT_DAYS" -extfile "$ext" -out "$dir/$name.crt" 2>/dev/null
	local rc=$?
	rm -f "$ext"
	return $rc
}

certs::_sa() {
	local dir=$1 c=$2
	[[ -f $dir/sa-$c.key && -f $dir/sa-$c.pub ]] && return 0
	rm -f "$dir/sa-$c.key"
	certs::_key "$dir/sa-$c.key"
	openssl pkey -in "$dir/sa-$c.key" -pubout -out "$dir/sa-$c.pub" 2>/dev/null
}

# certs::generate DIR MEMBERS
certs::generate() {
	local dir=$1 members=$2 c i
	command -v openssl >/dev/null || {
		echo "openssl is not installed (apt-get install openssl)" >&2
		return 1
	}
	mkdir -p "$dir"
	chmod 700 "$dir"
	# A new CA invalidates everything it signed.
	if [[ ! -f $dir/ca.crt || ! -f $dir/ca.key ]]; then
		rm -f "$dir"/apiserver-* "$dir"/admin-* "$dir"/secretfed-* "$dir"/ca.*
	fi
	if [[ ! -f $dir/front-proxy-ca.crt || ! -f $dir/front-proxy-ca.key ]]; then
		rm -f "$dir"/front-proxy-*
	fi
	certs::_ca "$dir" ca "secretfed-testbed-ca" || return 1
	certs::_ca "$dir" front-proxy-ca "secretfed-testbed-front-proxy-ca" || return 1
	certs::_leaf "$dir" front-proxy-client front-proxy-ca "/CN=front-proxy-client" clientAuth || return 1

	local -a clusters=(host)
	for ((i = 1; i <= members; i++)); do clusters+=("member$i"); done
	for c in "${clusters[@]}"; do
		certs::_leaf "$dir" "apiserver-$c" ca "/CN=kube-apiserver-$c" serverAuth \
			"DNS:localhost,IP:127.0.0.1,IP:::1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc" || return 1
		certs::_leaf "$dir" "admin-$c" ca "/O=system:masters/CN=admin" clientAuth || return 1
		certs::_sa "$dir" "$c" || return 1
	done
	certs::_leaf "$dir" secretfed-serving ca "/CN=secretfed-apiserver.secretfed-system.svc" serverAuth \
		"DNS:secretfed-apiserver.secretfed-system.svc,DNS:secretfed-apiserver.secretfed-system.svc.cluster.local,DNS:localhost,IP:127.0.0.1" || return 1
	certs::_leaf "$dir" secretfed-client ca "/CN=secretfed-apiserver" clientAuth || return 1
	rm -f "$dir"/*.srl
}
