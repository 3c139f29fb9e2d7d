package bus

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
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
		opts = append(opts, nats.ClientCert(a.CertFile, a.KeyFile))
	}
	if a.CAFile != "" || a.CertFile != "" {
		// The server must speak TLS: a plaintext one is refused rather
		// than sent credentials in the clear.
		opts = append(opts, nats.Secure())
	}
	switch {
	case a.CredsFile != "":
		if err := readable(a.CredsFile, "creds file"); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(a.CredsFile))
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
