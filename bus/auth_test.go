package bus_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/mcpwatch/mcpwatch/bus"
)

// Tests of the external-NATS security options (--nats-ca, --nats-cert and
// --nats-key, --nats-nkey, --nats-token-file, --nats-creds) against a real
// nats-server configured for each: the Bus connects, publishes and consumes
// through it, a wrong secret is refused, and no error quotes a secret.

// pki is a CA with a server certificate for 127.0.0.1 and a client
// certificate, as PEM files in dir.
type pki struct {
	caFile                     string
	serverCert, serverKey      string
	clientCert, clientKey      string
	serverKeyPEM, clientKeyPEM string
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{}
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p.caFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) (certFile, keyFile, keyPEM string) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
			DNSNames:     []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certFile = writePEM(t, dir, cn+".pem", "CERTIFICATE", der)
		keyFile = writePEM(t, dir, cn+"-key.pem", "PRIVATE KEY", keyDER)
		return certFile, keyFile, readFile(t, keyFile)
	}
	p.serverCert, p.serverKey, p.serverKeyPEM = leaf(2, "server", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.clientCert, p.clientKey, p.clientKeyPEM = leaf(3, "client", x509.ExtKeyUsageClientAuth, nil)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeSecret(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// startTLSServer is a JetStream nats-server on 127.0.0.1 that requires TLS
// with p's server certificate and, with verify, a client certificate
// signed by p's CA.
func startTLSServer(t *testing.T, p *pki, verify bool) *server.Server {
	t.Helper()
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: p.serverCert, KeyFile: p.serverKey, CaFile: p.caFile, Verify: verify})
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		TLS: true, TLSConfig: tc, TLSVerify: verify, TLSTimeout: 2, NoLog: true, NoSigs: true})
}

// connectErr connects with cfg and returns the error; a Bus that connects
// is closed and reported as nil.
func connectErr(t *testing.T, cfg bus.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 2 * time.Second
	}
	b, err := bus.Connect(ctx, cfg)
	if err == nil {
		b.Close()
	}
	return err
}

// roundTrip publishes events through b and consumes them back with a
// durable consumer: every one arrives once.
func roundTrip(t *testing.T, b *bus.Bus) {
	t.Helper()
	r := newRun(t)
	evs := r.events(40)
	publishAll(t, b, evs)
	rec := &recorder{run: r}
	stop := consumeAll(t, b, bus.ConsumerConfig{Durable: r.durable("auth"), StartAt: r.start}, rec)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if d := diffIDs(rec.sorted(), ids(evs)); d != "" {
		t.Error(d)
	}
}

// mustFail wants err non-nil, on one line, starting as Connect's errors do,
// containing every want and none of the secrets.
func mustFail(t *testing.T, what string, err error, secrets []string, want ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: connected", what)
		return
	}
	msg := err.Error()
	t.Logf("%s: %s", what, msg)
	if !strings.HasPrefix(msg, "connect to NATS at ") || strings.Contains(msg, "\n") {
		t.Errorf("%s: error %q: want one line starting %q", what, msg, "connect to NATS at ")
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("%s: error %q does not say %q", what, msg, w)
		}
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, strings.TrimSpace(s)) {
			t.Errorf("%s: error quotes a secret: %q", what, msg)
		}
	}
}

// A server that requires TLS: --nats-ca verifies its certificate, a CA that
// did not sign it fails saying so, and without a CA the system roots do
// not trust it either. The URL may say nats://: the CA makes TLS required.
func TestTLSServerCA(t *testing.T) {
	p := newPKI(t, "good")
	other := newPKI(t, "other")
	s := startTLSServer(t, p, false)
	url := s.ClientURL()
	secrets := []string{p.serverKeyPEM, p.clientKeyPEM}

	for _, u := range []string{url, strings.Replace(url, "nats://", "tls://", 1)} {
		t.Run(u[:strings.Index(u, ":")], func(t *testing.T) {
			b := connect(t, u, func(c *bus.Config) { c.Auth = bus.Auth{CAFile: p.caFile} })
			roundTrip(t, b)
		})
	}
	mustFail(t, "wrong CA", connectErr(t, bus.Config{URL: url, Auth: bus.Auth{CAFile: other.caFile}}), secrets,
		"certificate signed by unknown authority")
	mustFail(t, "no CA", connectErr(t, bus.Config{URL: url}), secrets)
	mustFail(t, "CA file missing", connectErr(t, bus.Config{URL: url, Auth: bus.Auth{CAFile: filepath.Join(t.TempDir(), "nope.pem")}}), secrets,
		"nope.pem")
	notPEM := writeSecret(t, "ca.pem", "not a certificate\n")
	mustFail(t, "CA file not PEM", connectErr(t, bus.Config{URL: url, Auth: bus.Auth{CAFile: notPEM}}), secrets, notPEM)
}

// A plaintext server when TLS is asked for (--nats-ca): refused before any
// credentials are sent.
func TestTLSRequiredButServerPlain(t *testing.T) {
	p := newPKI(t, "good")
	const token = "plain-token-0123456789abcdef"
	s := startServer(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		Authorization: token, NoLog: true, NoSigs: true})
	tok := writeSecret(t, "token", token+"\n")
	mustFail(t, "plaintext server", connectErr(t, bus.Config{URL: s.ClientURL(), Auth: bus.Auth{CAFile: p.caFile, TokenFile: tok}}),
		[]string{token}, "secure connection")
}

// A server that verifies client certificates: --nats-cert and --nats-key
// connect; without them, or with a certificate of another CA, the server
// refuses; a key that does not match the certificate fails naming the
// files, not quoting the key.
func TestTLSClientCert(t *testing.T) {
	p := newPKI(t, "good")
	other := newPKI(t, "other")
	s := startTLSServer(t, p, true)
	url := s.ClientURL()
	secrets := []string{p.serverKeyPEM, p.clientKeyPEM, other.clientKeyPEM}

	b := connect(t, url, func(c *bus.Config) {
		c.Auth = bus.Auth{CAFile: p.caFile, CertFile: p.clientCert, KeyFile: p.clientKey}
	})
	roundTrip(t, b)

	mustFail(t, "no client cert", connectErr(t, bus.Config{URL: url, Auth: bus.Auth{CAFile: p.caFile}}), secrets)
	mustFail(t, "client cert of another CA", connectErr(t, bus.Config{URL: url,
		Auth: bus.Auth{CAFile: p.caFile, CertFile: other.clientCert, KeyFile: other.clientKey}}), secrets)
	mustFail(t, "mismatched key", connectErr(t, bus.Config{URL: url,
		Auth: bus.Auth{CAFile: p.caFile, CertFile: p.clientCert, KeyFile: other.clientKey}}), secrets, p.clientCert, other.clientKey)
	mustFail(t, "cert and key swapped", connectErr(t, bus.Config{URL: url,
		Auth: bus.Auth{CAFile: p.caFile, CertFile: p.clientKey, KeyFile: p.clientCert}}), secrets, p.clientKey)
	mustFail(t, "key file missing", connectErr(t, bus.Config{URL: url,
		Auth: bus.Auth{CAFile: p.caFile, CertFile: p.clientCert, KeyFile: filepath.Join(t.TempDir(), "gone-key.pem")}}), secrets, "gone-key.pem")
}

// nkey user authentication: the server knows the user's public key, the
// Bus signs the server's nonce with the seed from --nats-nkey.
func TestNKeyUser(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	stranger, _ := nkeys.CreateUser()
	strangerSeed, _ := stranger.Seed()
	account, _ := nkeys.CreateAccount()
	accountSeed, _ := account.Seed()
	secrets := []string{string(seed), string(strangerSeed), string(accountSeed)}

	s := startServer(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		Nkeys: []*server.NkeyUser{{Nkey: pub}}, NoLog: true, NoSigs: true})
	url := s.ClientURL()

	b := connect(t, url, func(c *bus.Config) { c.Auth = bus.Auth{NKeyFile: writeSecret(t, "user.nk", string(seed)+"\n")} })
	roundTrip(t, b)

	mustFail(t, "unknown nkey", connectErr(t, bus.Config{URL: url, Auth: bus.Auth{NKeyFile: writeSecret(t, "stranger.nk", string(strangerSeed))}}),
		secrets, "uthorization")
	mustFail(t, "account seed", connectErr(t, bus.Config{URL: url, Auth: bus.Auth{NKeyFile: writeSecret(t, "account.nk", string(accountSeed))}}),
		secrets, "account.nk")
	// A seed with one character changed fails its checksum.
	bad := []byte(seed)
	bad[10] ^= 1
	badFile := writeSecret(t, "bad.nk", string(bad))
	mustFail(t, "corrupt seed", connectErr(t, bus.Config{URL: url, Auth: bus.Auth{NKeyFile: badFile}}),
		append(secrets, string(bad)), "bad.nk")
	mustFail(t, "no credentials", connectErr(t, bus.Config{URL: url}), secrets)
}

// An authorization token from --nats-token-file.
func TestTokenFromFile(t *testing.T) {
	const token = "tok-9f3c1e77a2b84d05be61"
	s := startServer(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		Authorization: token, NoLog: true, NoSigs: true})
	url := s.ClientURL()
	b := connect(t, url, func(c *bus.Config) { c.Auth = bus.Auth{TokenFile: writeSecret(t, "token", token+"\r\n# comment\n")} })
	roundTrip(t, b)

	secrets := []string{token, "wrong-" + token}
	mustFail(t, "wrong token", connectErr(t, bus.Config{URL: url, Auth: bus.Auth{TokenFile: writeSecret(t, "wrong", "wrong-"+token)}}),
		secrets, "uthorization")
	mustFail(t, "empty token file", connectErr(t, bus.Config{URL: url, Auth: bus.Auth{TokenFile: writeSecret(t, "empty", "\n"+token)}}),
		secrets, "empty first line")
	mustFail(t, "no token", connectErr(t, bus.Config{URL: url}), secrets)
}

// TLS and a token together, as a production server would be set up: the
// token goes only over TLS.
func TestTLSAndToken(t *testing.T) {
	p := newPKI(t, "good")
	const token = "tls-tok-4d2e8a90c1"
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: p.serverCert, KeyFile: p.serverKey})
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		TLS: true, TLSConfig: tc, TLSTimeout: 2, Authorization: token, NoLog: true, NoSigs: true})
	b := connect(t, s.ClientURL(), func(c *bus.Config) {
		c.Auth = bus.Auth{CAFile: p.caFile, TokenFile: writeSecret(t, "token", token)}
	})
	roundTrip(t, b)
}

// operator is a decentralised (JWT) setup: an operator, an account with
// JetStream, and a memory resolver holding the account.
type operator struct {
	opts    *server.Options
	account nkeys.KeyPair
}

func newOperator(t *testing.T) *operator {
	t.Helper()
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "mcpwatch-test"
	ojwt, err := oc.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	ocl, err := jwt.DecodeOperatorClaims(ojwt)
	if err != nil {
		t.Fatal(err)
	}
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	ac := jwt.NewAccountClaims(apub)
	ac.Name = "SENSORS"
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	ajwt, err := ac.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	// JetStream in operator mode needs a system account.
	skp, _ := nkeys.CreateAccount()
	spub, _ := skp.PublicKey()
	sc := jwt.NewAccountClaims(spub)
	sc.Name = "SYS"
	sjwt, err := sc.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	res := &server.MemAccResolver{}
	for pub, j := range map[string]string{apub: ajwt, spub: sjwt} {
		if err := res.Store(pub, j); err != nil {
			t.Fatal(err)
		}
	}
	return &operator{account: akp, opts: &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		TrustedOperators: []*jwt.OperatorClaims{ocl}, AccountResolver: res, SystemAccount: spub, NoLog: true, NoSigs: true}}
}

// creds makes a user of the account (signed by signer, the account's key
// unless another is given) and writes its .creds file.
func (o *operator) creds(t *testing.T, signer nkeys.KeyPair) (path, seed string) {
	t.Helper()
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	useed, _ := ukp.Seed()
	uc := jwt.NewUserClaims(upub)
	uc.Name = "sensor"
	if signer == nil {
		signer = o.account
	}
	ujwt, err := uc.Encode(signer)
	if err != nil {
		t.Fatal(err)
	}
	data, err := jwt.FormatUserConfig(ujwt, useed)
	if err != nil {
		t.Fatal(err)
	}
	return writeSecret(t, "user.creds", string(data)), string(useed)
}

// A .creds file (user JWT and seed) of an operator/JWT setup.
func TestCredsFile(t *testing.T) {
	o := newOperator(t)
	s := startServer(t, o.opts)
	url := s.ClientURL()
	path, seed := o.creds(t, nil)
	b := connect(t, url, func(c *bus.Config) { c.Auth = bus.Auth{CredsFile: path} })
	roundTrip(t, b)

	// A user signed by an account the server does not know.
	rogue, _ := nkeys.CreateAccount()
	rpath, rseed := o.creds(t, rogue)
	secrets := []string{seed, rseed}
	mustFail(t, "unknown account", connectErr(t, bus.Config{URL: url, Auth: bus.Auth{CredsFile: rpath}}), secrets)
	mustFail(t, "no credentials", connectErr(t, bus.Config{URL: url}), secrets)
	mustFail(t, "creds file missing", connectErr(t, bus.Config{URL: url, Auth: bus.Auth{CredsFile: filepath.Join(t.TempDir(), "gone.creds")}}),
		secrets, "gone.creds")
}

// A file that is not a .creds file given as --nats-creds — a bare nkey seed,
// the likeliest mistake — fails before connecting: the NATS client would
// otherwise send the whole file as the user JWT, seed included, to the
// server. A listener that speaks just enough NATS to receive a CONNECT
// checks that nothing reached it.
func TestCredsFileNotCreds(t *testing.T) {
	ukp, _ := nkeys.CreateUser()
	seed, _ := ukp.Seed()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan string, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.Write([]byte(`INFO {"server_id":"fake","version":"2.12.0","proto":1,"max_payload":1048576,"auth_required":true,"nonce":"bm9uY2U"}` + "\r\n"))
				line, _ := bufio.NewReader(c).ReadString('\n')
				got <- line
			}()
		}
	}()
	url := "nats://" + l.Addr().String()
	for _, content := range []string{string(seed) + "\n", "-----BEGIN USER NKEY SEED-----\n" + string(seed) + "\n------END USER NKEY SEED------\n", "not a creds file"} {
		path := writeSecret(t, "sensor.creds", content)
		mustFail(t, "not a creds file", connectErr(t, bus.Config{URL: url, Auth: bus.Auth{CredsFile: path}}), []string{string(seed)}, path)
	}
	select {
	case line := <-got:
		if strings.Contains(line, string(seed)) {
			t.Errorf("the seed was sent to the server: %q", line)
		} else {
			t.Errorf("connected to the server with a bad creds file: %q", line)
		}
	case <-time.After(100 * time.Millisecond):
	}
}
