package bus

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Auth is how the Bus authenticates to an external NATS server and checks
// its certificate. Secrets are read from files, never taken from the
// command line, and no error or log line quotes them: errors name the file
// and what was wrong with it.
type Auth struct {
	// CAFile is the PEM bundle the server's certificate must chain to;
	// setting it (or CertFile) makes the connection require TLS.
	CAFile string
	// CertFile and KeyFile are a client certificate for servers that
	// verify clients (tls { verify: true }).
	CertFile, KeyFile string
	// CredsFile is a .creds file (user JWT and nkey seed) of a decentralised
	// (operator) setup.
	CredsFile string
	// NKeyFile holds a user's nkey seed (SU…).
	NKeyFile string
	// User and PasswordFile authenticate with a user name and the password
	// in the file (its first line).
	User, PasswordFile string
	// TokenFile holds an authorization token (its first line).
	TokenFile string
}

func (a *Auth) validate() error {
	switch {
	case (a.CertFile == "") != (a.KeyFile == ""):
		return errors.New("bus config: a client certificate needs both a certificate and a key file")
	case a.User != "" && a.PasswordFile == "":
		return fmt.Errorf("bus config: user %q without a password file", a.User)
	case a.PasswordFile != "" && a.User == "":
		return errors.New("bus config: a password file without a user")
	}
	methods := 0
	for _, f := range []string{a.CredsFile, a.NKeyFile, a.PasswordFile, a.TokenFile} {
		if f != "" {
			methods++
		}
	}
	if methods > 1 {
		return errors.New("bus config: give one of a creds file, an nkey seed file, a user and password file, or a token file")
	}
	return nil
}

// options are the nats.Options that carry a.
func (a *Auth) options() ([]nats.Option, error) {
	var opts []nats.Option
	if a.CAFile != "" {
		opts = append(opts, nats.RootCAs(a.CAFile))
	}
	if a.CertFile != "" {
		// Loaded here first so a bad pair is reported with its file names
		// (the client's own error names neither); the client loads it
		// again at each connect, so a renewed certificate is picked up.
		if _, err := tls.LoadX509KeyPair(a.CertFile, a.KeyFile); err != nil {
			return nil, fmt.Errorf("client certificate %s with key %s: %w", a.CertFile, a.KeyFile, err)
		}
		opts = append(opts, nats.ClientCert(a.CertFile, a.KeyFile))
	}
	if a.CAFile != "" || a.CertFile != "" {
		// The server must speak TLS: a plaintext one is refused rather
		// than sent credentials in the clear.
		opts = append(opts, nats.Secure())
	}
	switch {
	case a.CredsFile != "":
		// Not nats.UserCredentials: given a file without the decorated JWT
		// block (a bare nkey seed, the likeliest mix-up) it sends the
		// whole file to the server as the user JWT, seed and all; and it
		// expands $VARS and ~ in the path. The file is checked here and
		// read again at each connect (renewed credentials are picked up).
		path := a.CredsFile
		if _, err := readCreds(path); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserJWT(
			func() (string, error) { return readCreds(path) },
			func(nonce []byte) ([]byte, error) {
				kp, err := credsKey(path)
				if err != nil {
					return nil, err
				}
				defer kp.Wipe()
				return kp.Sign(nonce)
			}))
	case a.NKeyFile != "":
		if err := readable(a.NKeyFile, "nkey seed file"); err != nil {
			return nil, err
		}
		o, err := nats.NkeyOptionFromSeed(a.NKeyFile)
		if err != nil {
			// The nkeys errors say what is wrong with the seed, not the seed.
			return nil, fmt.Errorf("nkey seed file %s: %w", a.NKeyFile, err)
		}
		opts = append(opts, o)
	case a.PasswordFile != "":
		pw, err := firstLine(a.PasswordFile, "password file")
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserInfo(a.User, pw))
	case a.TokenFile != "":
		tok, err := firstLine(a.TokenFile, "token file")
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Token(tok))
	}
	return opts, nil
}

// credsJWTBegin opens the user JWT block of a .creds file.
const credsJWTBegin = "-----BEGIN NATS USER JWT-----"

// readCreds checks the .creds file at path — a decorated user JWT and the
// user's decorated nkey seed, the JWT's subject being that seed's public
// key — and returns the JWT. Errors name the file and never hold its
// content.
func readCreds(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("creds file: %w", err)
	}
	defer wipe(data)
	if !bytes.Contains(data, []byte(credsJWTBegin)) {
		return "", fmt.Errorf("creds file %s: no %s block: not a .creds file (an nkey seed alone is an nkey seed file)", path, credsJWTBegin)
	}
	token, err := nkeys.ParseDecoratedJWT(data)
	if err != nil {
		return "", fmt.Errorf("creds file %s: user JWT: %w", path, err)
	}
	claims, err := jwt.DecodeUserClaims(token)
	if err != nil {
		return "", fmt.Errorf("creds file %s: user JWT does not decode: %w", path, err)
	}
	kp, err := credsKey(path)
	if err != nil {
		return "", err
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil {
		return "", fmt.Errorf("creds file %s: %w", path, err)
	}
	if pub != claims.Subject {
		return "", fmt.Errorf("creds file %s: the seed is not the key of the user JWT (user %s, seed of %s)", path, claims.Subject, pub)
	}
	return token, nil
}

// credsKey is the user nkey of the .creds file at path.
func credsKey(path string) (nkeys.KeyPair, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("creds file: %w", err)
	}
	defer wipe(data)
	kp, err := nkeys.ParseDecoratedNKey(data)
	if err != nil {
		// The nkeys errors say what is wrong with the seed, not the seed.
		return nil, fmt.Errorf("creds file %s: nkey seed: %w", path, err)
	}
	if pub, err := kp.PublicKey(); err != nil || !nkeys.IsValidPublicUserKey(pub) {
		kp.Wipe()
		return nil, fmt.Errorf("creds file %s: the seed is not a user nkey seed", path)
	}
	return kp, nil
}

// wipe overwrites secret bytes once they are no longer needed.
func wipe(b []byte) {
	for i := range b {
		b[i] = 'x'
	}
}

func readable(path, what string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return f.Close()
}

// firstLine reads the secret in the first line of path; errors never hold
// the file's content.
func firstLine(path, what string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimSpace(line)
	if line == "" {
		return "", fmt.Errorf("%s %s: empty first line", what, path)
	}
	return line, nil
}
