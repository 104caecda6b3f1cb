# A throwaway certificate authority for tests and the demo, made with openssl.
# Source it; needs bash and openssl.
#
#   make_ca DIR          a P-256 CA valid for a day: DIR/ca.pem, DIR/ca.key
#   issue_cert DIR NAME  a server certificate from that CA for localhost and
#                        127.0.0.1: DIR/NAME.pem, DIR/NAME.key

make_ca() {
  local dir=$1
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=vouch throwaway CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
}

issue_cert() {
  local dir=$1 name=$2
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 1 -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
}
