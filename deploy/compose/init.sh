#!/bin/sh
# The `init` service of docker-compose.yml: makes the install's secrets once, as the Kubernetes
# install expects them made (deploy/README.md), and gives each container only its own.
#   /store             everything, seen only by this container (the "Secret store")
#   /out/nats          NATS: its TLS certificate and key, the CA, every identity's PUBLIC nkey
#   /out/<identity>    one volume per identity: its nkey seed, the CA (and the applier's
#                      sealing key, the planner's recipient list of public sealing keys)
# Idempotent: a second `up` finds /store/done and changes nothing (`down -v` starts over).
# Runs as root only to hand each file to the service user (uid 10001); everything it writes is
# mode 0400/0444.
set -eu

CLUSTERS="${FLOTILLA_CLUSTERS:-dev,test,uat,prod}"
# The clusters that have an applier in this compose file (bundles for them are sealed).
APPLIER_CLUSTERS="${FLOTILLA_APPLIER_CLUSTERS:-dev}"
cli() { node /app/cli/dist/main.js "$@"; }

if [ -f /store/done ]; then
  echo "init: secrets exist (/store/done); nothing to do"
  exit 0
fi
umask 077
rm -rf /store/tmp && mkdir -p /store/tmp && cd /store/tmp

# 1. NATS TLS: a CA made here (its key is deleted once the server certificate is signed: nothing
# else is ever issued from it) and a server certificate for the names containers and the host
# dial. Clients verify it against ca.crt (FLOTILLA_NATS_TLS_CA_FILE), as in the Kubernetes install.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
  -subj "/CN=Flotilla compose NATS CA" -keyout ca.key -out ca.crt \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=nats" -keyout tls.key -out tls.csr 2>/dev/null
printf 'subjectAltName=DNS:nats,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n' >tls.ext
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
  -extfile tls.ext -out tls.crt 2>/dev/null
rm -f ca.key ca.srl tls.csr tls.ext

# 2. An nkey per identity of the authorization (deploy/kustomize/base/nats/auth.conf, rendered
# with `flotilla nats-auth --nkeys env`): seeds stay here, public keys go to nats-server's
# environment as $FLOTILLA_NATS_NKEY_<USER>.
cli nats nkeys --clusters "$CLUSTERS" --out seeds >nkeys.json
node -e '
  const keys = JSON.parse(require("fs").readFileSync("nkeys.json", "utf8"));
  for (const [user, key] of Object.entries(keys))
    console.log(`FLOTILLA_NATS_NKEY_${user.toUpperCase().replace(/[^A-Z0-9]/g, "_")}=${key}`);
' >nkeys.env

# 3. A bundle sealing key per cluster with an applier: the applier holds the private key, the
# planner seals that cluster's bundles to the public one (bundles.recipients).
mkdir sealing
for cluster in $(echo "$APPLIER_CLUSTERS" | tr , ' '); do
  entry=$(cli seal-key "$cluster" --out "sealing/$cluster.pem")
  printf '%s\n' "${entry#*=}" >"sealing/$cluster.pub"
done

# 4. Hand out: each volume gets only what its container needs, owned by the user reading it.
give() { # give <volume> <owner> <file> [<name>]
  mkdir -p "$(dirname "/out/$1/${4:-$(basename "$3")}")"
  cp "$3" "/out/$1/${4:-$(basename "$3")}"
  chown "$2" "/out/$1/${4:-$(basename "$3")}"
  chmod 0400 "/out/$1/${4:-$(basename "$3")}"
}
for f in tls.crt tls.key ca.crt nkeys.env; do give nats 0:0 "$f"; done
for id in planner git-watcher registry-watcher audit-writer subscriber admin; do
  give "$id" 10001:10001 "seeds/$id.nk" seed.nk
  give "$id" 10001:10001 ca.crt
done
for cluster in $(echo "$APPLIER_CLUSTERS" | tr , ' '); do
  give "applier-$cluster" 10001:10001 "seeds/applier-$cluster.nk" seed.nk
  give "applier-$cluster" 10001:10001 ca.crt
  give "applier-$cluster" 10001:10001 "sealing/$cluster.pem" sealing-key.pem
  give planner 10001:10001 "sealing/$cluster.pub" "sealing/$cluster.pub"
done
# The volumes' roots may be traversed by the service user; the files are its own.
chmod 0755 /out/* /out/planner/sealing

cd /store && rm -rf store.new && mv tmp store.new && rm -rf current && mv store.new current
touch /store/done
echo "init: NATS TLS (CA + server certificate for nats, localhost, 127.0.0.1), nkeys for $CLUSTERS, sealing keys for $APPLIER_CLUSTERS"
