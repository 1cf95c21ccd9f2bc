# Sourced by scripts/arc-ce/start and scripts/arc7-ce/start: a throwaway test
# CA, a host certificate for localhost and the test users with RFC 3820
# proxies, all in one state dir, so both CEs trust the same CA and know the
# same user DNs.
#
# The caller defines: state_dir, proxy_hours, users, client_user (may be
# empty), say, die and die_with_log, and has `openssl` and `arcproxy` on its
# PATH (or as shell functions).
# shellcheck shell=bash

# The CA's .signing_policy only admits subjects below this base, and ARC's own
# tools enforce it, so every certificate issued here lives under it.
readonly dn_base=/DC=org/DC=nordugrid/DC=ARC/O=TestCA
readonly ca_dn=$dn_base/CN=arc-ce-test-ca
readonly host_dn=$dn_base/CN=localhost
readonly user1_dn=$dn_base/CN=arc-ce-test-user
readonly user2_dn=$dn_base/CN=arc-ce-test-user2

cert_valid_for() {  # cert_valid_for SECONDS FILE: true if FILE is a cert valid that long
    [ -s "$2" ] && openssl x509 -noout -checkend "$1" -in "$2" >/dev/null 2>&1
}

# issue_cert KEY CERT SUBJECT EXTENSION-LINE...: a fresh 2048-bit key (mode
# 0600 from birth) and a one-year certificate for it, signed by the test CA.
issue_cert() {
    local key=$1 cert=$2 subject=$3
    shift 3
    local csr=$cert.csr ext=$cert.ext
    rm -f "$key" "$cert"
    printf '%s\n' "$@" >"$ext"
    (umask 077 && openssl req -new -newkey rsa:2048 -nodes -keyout "$key" -out "$csr" -subj "$subject" 2>/dev/null)
    openssl x509 -req -sha256 -days 365 -in "$csr" -CA "$state_dir/ca/ca.pem" \
        -CAkey "$state_dir/ca/ca-key.pem" -CAserial "$state_dir/ca/ca.srl" -CAcreateserial \
        -extfile "$ext" -out "$cert" 2>/dev/null
    chmod 600 "$key"
    rm -f "$csr" "$ext"
}

ensure_ca() {
    local ca=$state_dir/ca certs=$state_dir/certificates
    mkdir -p "$ca" "$certs"
    chmod 700 "$ca"
    if ! cert_valid_for 86400 "$ca/ca.pem" || [ ! -s "$ca/ca-key.pem" ]; then
        say "creating test CA $ca_dn"
        # Everything issued by an earlier CA is now worthless.
        rm -rf "${ca:?}"/* "${certs:?}"/* "$state_dir/host" "$state_dir/user" "$state_dir"/user[0-9]* \
            "$state_dir"/proxy*.pem
        (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
            -keyout "$ca/ca-key.pem" -out "$ca/ca.pem" -subj "$ca_dn" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null)
        chmod 600 "$ca/ca-key.pem"
    fi
    # X509_CERT_DIR layout: the CA under its subject hashes (new and old style)
    # plus a Globus signing policy, which A-REX checks (PolicyGlobus).
    if ! cmp -s "$ca/ca.pem" "$certs/arc-ce-test-ca.pem"; then
        cp "$ca/ca.pem" "$certs/arc-ce-test-ca.pem"
        cat >"$certs/arc-ce-test-ca.signing_policy" <<EOF
access_id_CA  X509   '$ca_dn'
pos_rights    globus CA:sign
cond_subjects globus '"$dn_base/*"'
EOF
        local h
        for h in $(openssl x509 -in "$certs/arc-ce-test-ca.pem" -noout -subject_hash -subject_hash_old); do
            ln -sfn arc-ce-test-ca.pem "$certs/$h.0"
            ln -sfn arc-ce-test-ca.signing_policy "$certs/$h.signing_policy"
        done
    fi
    # The CA certificate is public; clients that do not run as root need it.
    chmod 644 "$ca/ca.pem" "$certs/arc-ce-test-ca.pem"
}

ensure_host_cert() {
    local dir=$state_dir/host
    mkdir -p "$dir"
    chmod 700 "$dir"
    cert_valid_for 86400 "$dir/hostcert.pem" && [ -s "$dir/hostkey.pem" ] && return 0
    say "creating host certificate $host_dn"
    issue_cert "$dir/hostkey.pem" "$dir/hostcert.pem" "$host_dn" \
        "basicConstraints=CA:FALSE" \
        "keyUsage=digitalSignature,nonRepudiation,keyEncipherment" \
        "extendedKeyUsage=serverAuth,clientAuth" \
        "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
}

ensure_user() {  # ensure_user SUBDIR DN PROXY-FILE
    local dir=$state_dir/$1 dn=$2 proxy=$state_dir/$3
    mkdir -p "$dir"
    if ! cert_valid_for 86400 "$dir/usercert.pem" || [ ! -s "$dir/userkey.pem" ]; then
        say "creating user certificate $dn"
        rm -f "$proxy"
        issue_cert "$dir/userkey.pem" "$dir/usercert.pem" "$dn" \
            "basicConstraints=CA:FALSE" \
            "keyUsage=digitalSignature,nonRepudiation,keyEncipherment" \
            "extendedKeyUsage=clientAuth"
    fi
    # A proxy is renewed once it has less than an hour left.
    if ! cert_valid_for 3600 "$proxy"; then
        say "creating ${proxy_hours} h RFC 3820 proxy $proxy"
        rm -f "$proxy"
        (umask 077 && arcproxy -C "$dir/usercert.pem" -K "$dir/userkey.pem" -P "$proxy" \
            -T "$state_dir/certificates" -c "validityPeriod=${proxy_hours}h" \
            </dev/null >"$state_dir/log/arcproxy.log" 2>&1) ||
            die_with_log "$state_dir/log/arcproxy.log" 5 "arcproxy could not create $proxy"
    fi
    chmod 600 "$dir/userkey.pem" "$proxy"
    if [ -n "$client_user" ]; then
        chown "$client_user" "$dir" "$dir/userkey.pem" "$dir/usercert.pem" "$proxy"
    fi
}

# user_dn N: the subject of test user N (user 1 has no number, as before).
user_dn() {
    case $1 in
    1) printf '%s\n' "$user1_dn" ;;
    *) printf '%s/CN=arc-ce-test-user%s\n' "$dn_base" "$1" ;;
    esac
}

ensure_credentials() {
    mkdir -p "$state_dir/log"
    ensure_ca
    ensure_host_cert
    ensure_user user "$user1_dn" proxy.pem
    local n
    local -a certs=("$state_dir/host/hostcert.pem" "$state_dir/user/usercert.pem") dns=("$user1_dn")
    for ((n = 2; n <= users; n++)); do
        ensure_user "user$n" "$(user_dn "$n")" "proxy$n.pem"
        certs+=("$state_dir/user$n/usercert.pem")
        dns+=("$(user_dn "$n")")
    done
    openssl verify -CApath "$state_dir/certificates" "${certs[@]}" >/dev/null ||
        die "the certificates in $state_dir do not verify against its CA; run 'ARC_CE_WIPE=1 stop' and start again"
    # Every user belongs to the authgroup that may use the CE. Written on
    # every start so a state dir from an older layout (or a start with a
    # larger ARC_CE_USERS) gains the new users.
    printf '"%s"\n' "${dns[@]}" >"$state_dir/allowed-subjects"
}

# adopt_ca OTHER_STATE_DIR: take the test CA of another CE's state dir (made
# by ensure_ca there), so that one CA, and proxies of the same user DNs,
# serve both CEs. What this state dir issued under a different CA goes.
adopt_ca() {
    local from=$1/ca ca=$state_dir/ca
    [ -s "$from/ca.pem" ] && [ -s "$from/ca-key.pem" ] || die "no test CA in $1 (ca/ca.pem, ca/ca-key.pem)"
    cmp -s "$from/ca.pem" "$ca/ca.pem" && cmp -s "$from/ca-key.pem" "$ca/ca-key.pem" && return 0
    say "adopting the test CA of $1"
    rm -rf "$ca" "$state_dir/host" "$state_dir/user" "$state_dir"/user[0-9]* "$state_dir"/proxy*.pem
    mkdir -p "$ca"
    chmod 700 "$ca"
    cp "$from/ca.pem" "$ca/ca.pem"
    (umask 077 && cp "$from/ca-key.pem" "$ca/ca-key.pem")
}
